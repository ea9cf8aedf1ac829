//! A deterministic simulation of the engine side of the runner protocol, for
//! driving `runner_core::Runner` through scripted and random scenarios
//! without sockets, threads or wall-clock time.
//!
//! * [`SimEngine`]: the engine, sans-IO (init, command
//!   replay, pings, event dedup and acks, KV, intents, drain, eviction,
//!   restart, runner lost).
//! * [`Link`](link::Link): ordered per-connection delivery with seeded delays
//!   and resets.
//! * [`User`](user::User): the start/stop callbacks (immediate, delayed,
//!   failing, hanging), and [`TunnelUser`](user::tunnel::TunnelUser): the
//!   user's HTTP and WebSocket handlers, with persisted hibernation state.
//! * The engine's [`gateway`](engine::gateway): clients' HTTP requests and
//!   WebSockets to actors, hibernation included.
//! * [`Sim`]: all of it on one virtual clock, with a
//!   [`Transcript`](transcript::Transcript) of everything and the
//!   runner's invariants checked after every input
//!   ([`runner_core::fuzzing::Invariants`], the checker the `core` fuzz
//!   target uses too).
//!
//! Runs are reproducible from their seed; set `SIM_SEED=…` to replay one
//! (see [`seed`]).
//!
//! # Layout
//!
//! Modules are grouped by the role they play in a test, and the tunnel is
//! one aspect of each role rather than a role of its own: a test reaches for
//! "the random operations" or "the user" first and only then asks whether it
//! wants the actor part or the tunnel part. So each role is a module with a
//! `tunnel` submodule, as the harness and the engine's gateway already are:
//!
//! | role | actors, KV, connection | tunnel (HTTP, WebSocket) |
//! |---|---|---|
//! | the simulation itself | [`harness`] ([`Sim`]) | `harness/tunnel.rs` (more [`Sim`] methods) |
//! | the engine | [`engine`], [`kv_store`] | [`engine::gateway`] |
//! | the user's callbacks | [`user`] | [`user::tunnel`] |
//! | random operations (property tests) | [`ops`] | [`ops::tunnel`] |
//! | scenario shortcuts | [`scenario`] | [`scenario::tunnel`] |
//!
//! The plumbing ([`link`], [`transcript`], [`rng`], [`seed`]) serves every
//! role.

pub mod engine;
pub mod harness;
pub mod kv_store;
pub mod link;
pub mod ops;
pub mod rng;
pub mod scenario;
pub mod seed;
pub mod transcript;
pub mod user;

pub use engine::{
    ActorPhase, ClientId, ClientRequest, Dispatch, HttpOutcome, SimEngine, SimEngineConfig,
    SocketState,
};
pub use harness::{Sim, SimConfig};
pub use link::{LinkConfig, Packet, Side};
pub use user::tunnel::{HttpPolicy, TunnelPolicy, WsPolicy};
pub use user::{Callback, UserConfig};
