//! `runner-core`: the sans-IO heart of a Rivet engine runner.
//!
//! The crate is a pure, deterministic state machine: it takes inbound frames,
//! timer ticks and user calls, and emits outbound frames and effects. It owns no
//! socket, reads no clock and draws no randomness of its own, so the same inputs
//! always give the same outputs. Driver crates (`runner-tokio`,
//! `runner-async-std`) wire it to a runtime and a WebSocket.

#![warn(missing_docs, unreachable_pub)]

pub mod protocol;
