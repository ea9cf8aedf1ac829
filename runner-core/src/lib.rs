//! `runner-core`: the sans-IO heart of a Rivet engine runner.
//!
//! The crate is a pure, deterministic state machine: it takes inbound frames,
//! timer ticks and user calls, and emits outbound frames and effects. It owns no
//! socket, reads no clock and draws no randomness of its own, so the same inputs
//! always give the same outputs. Driver crates (`runner-tokio`,
//! `runner-async-std`) wire it to a runtime and a WebSocket; anything else that
//! can move bytes and keep time can drive it too.
//!
//! Start with [`Runner`]: its documentation states the drain contract every
//! driver follows.
//!
//! # Layout
//!
//! One rule decides where a type lives. The crate root's modules hold what a
//! user of the crate sees (identities in `ids`, [`Config`], the outputs
//! [`Transmit`] and [`Event`], the KV and tunnel value types, errors,
//! [`Timestamp`]) and generic building blocks that know nothing of the runner
//! (a deadline queue, the seeded RNG, URL building). `runner/` is the state
//! machine: one chapter per concern, each an `impl Runner` block, and the
//! private tables those chapters keep (actors, KV requests, event logs,
//! tunnel entries). Chapters import tables, never each other's types.
//! `host/` (feature `host`) is the runtime-neutral async host the driver
//! crates share: the user API ([`host::Builder`], [`host::Handler`]…) and
//! the event loop ([`host::AsyncRunner`]) that pumps bytes, timers and user
//! calls through the state machine.

#![warn(missing_docs, unreachable_pub)]

mod config;
mod deadline;
mod encoding;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
#[cfg(feature = "host")]
pub mod host;
mod ids;
mod kv;
mod output;
pub mod protocol;
pub mod recording;
mod rng;
mod runner;
mod secret;
pub mod testing;
mod time;
mod tunnel;
mod url;

pub use config::{Backoff, Config, ConfigError, Limits, Timeouts};
pub use error::CallError;
pub use ids::{ActorRef, ConnId, KvRequestId, ParseRequestKeyError, RequestKey};
pub use kv::{KvError, KvResponse};
pub use output::{Event, ShutdownReason, StopReason, Transmit};
pub use runner::{
    ConnectionState, Disconnects, Histogram, HttpOutcomes, Input, KV_LATENCY_BUCKETS, KvKinds,
    KvOutcomes, Metrics, Outcome, PayloadRefusals, Runner, SNAPSHOT_MAGIC, SNAPSHOT_VERSION,
    ShutdownMode, Snapshot, SnapshotError, Stops, TransportClose,
};
pub(crate) use secret::RedactedSubprotocols;
pub use secret::Token;
pub use time::Timestamp;
pub use tunnel::{
    HibernatedSocket, HttpRequest, HttpResponse, RestoreReport, SocketIndices, WebSocketOpen,
    tunnel_index_after,
};
