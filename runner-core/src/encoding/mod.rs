//! The byte encodings the flight recorder ([`crate::recording`]) and the
//! runner's snapshot ([`crate::Snapshot`]) share: the primitives (varints,
//! length-prefixed bytes, the record frame and its CRC), the configuration,
//! the core's public values (events, transmits, reasons, KV results),
//! redaction, and the helpers the runner's tables write a snapshot with. It depends on neither: both build on it.

pub(crate) mod codec;
pub(crate) mod config;
pub(crate) mod redact;
pub(crate) mod state;
pub(crate) mod values;
