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
//!   failing, hanging), and [`TunnelUser`](tunnel_user::TunnelUser): the
//!   user's HTTP and WebSocket handlers, with persisted hibernation state.
//! * The engine's [`gateway`](engine::gateway): clients' HTTP requests and
//!   WebSockets to actors, hibernation included.
//! * [`Sim`]: all of it on one virtual clock, with a
//!   [`Transcript`](transcript::Transcript) of everything and the
//!   [`Invariants`](invariants::Invariants) checked after every input.
//!
//! Runs are reproducible from their seed; set `SIM_SEED=…` to replay one
//! (see [`seed`]).

pub mod engine;
pub mod harness;
pub mod invariants;
pub mod kv_store;
pub mod link;
pub mod ops;
pub mod rng;
pub mod scenario;
pub mod seed;
pub mod transcript;
pub mod tunnel_check;
pub mod tunnel_ops;
pub mod tunnel_scenario;
pub mod tunnel_user;
pub mod user;

pub use engine::{
    ActorPhase, ClientId, ClientRequest, Dispatch, HttpOutcome, SimEngine, SimEngineConfig,
    SocketState,
};
pub use harness::{Sim, SimConfig};
pub use link::{LinkConfig, Packet, Side};
pub use tunnel_user::{HttpPolicy, TunnelPolicy, WsPolicy};
pub use user::{Callback, UserConfig};
