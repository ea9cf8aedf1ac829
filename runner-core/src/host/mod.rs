//! The runtime-neutral async host that the driver crates share (feature `host`).
//!
//! Everything a driver needs that is *not* tied to one async runtime: the
//! user-facing API ([`Builder`], [`Handler`], [`ActorContext`],
//! [`RunnerHandle`], [`WebSocket`], [`Body`]) and the event loop
//! ([`AsyncRunner`]) that connects it to the state machine
//! ([`crate::Runner`]). A driver crate only
//! implements [`Runtime`] — a clock, a timer, a spawner, a WebSocket client
//! and signals — and re-exports [`api`], so `runner-tokio` and
//! `runner-async-std` offer the same API and switching between them is a
//! one-line change.
//!
//! The state machine never uses this module; it stays pure.

pub mod api;
mod body;
mod builder;
mod calls;
mod context;
mod env;
mod error;
mod event_loop;
mod forward;
mod graceful;
mod handle;
mod handler;
mod health;
mod http;
mod kv_call;
mod metrics;
mod names;
#[cfg(feature = "metrics")]
mod publish;
mod record_options;
mod recording;
mod runtime;
#[cfg(feature = "serverless")]
pub mod serverless;
mod spans;
mod state;
pub mod testing;
pub mod testkit;
mod tls;
#[cfg(feature = "tower")]
mod tower;
#[cfg(feature = "tungstenite")]
pub mod tungstenite;
mod websocket;

pub use body::{Body, BodyError};
pub use builder::{BuildError, Builder};
pub use context::{ActorContext, KvList};
pub use env::ENV_VARIABLES;
pub use error::Error;
pub use event_loop::AsyncRunner;
pub use handle::RunnerHandle;
pub use handler::{ActorInfo, Handler, Request, Response};
pub use health::Health;
pub use metrics::{INPUT_TIME_BUCKETS, RunnerMetrics};
#[cfg(feature = "metrics")]
pub use publish::{Publisher, publish_every};
pub use runtime::{BoxError, ConnectRequest, Inbound, Outbound, Runtime, Socket};
pub use tls::{ClientTls, TlsError};
#[cfg(feature = "tower")]
pub use tower::{ServiceHandler, serve};

/// A `tracing-subscriber` filter directive to add to any filter a runner
/// logs with: tungstenite logs its whole WebSocket handshake request at
/// trace level, and the request carries the token (as the `rivet_token.`
/// sub-protocol). The runner's own logs never show the token; this keeps
/// tungstenite's from showing it too.
///
/// # Examples
///
/// ```
/// use runner_tokio::TOKEN_SAFE_LOG_DIRECTIVE;
///
/// // e.g. EnvFilter::from_default_env().add_directive(TOKEN_SAFE_LOG_DIRECTIVE.parse()?)
/// assert_eq!(TOKEN_SAFE_LOG_DIRECTIVE, "tungstenite::handshake::client=debug");
/// ```
pub const TOKEN_SAFE_LOG_DIRECTIVE: &str = "tungstenite::handshake::client=debug";
pub use websocket::{CloseFrame, Message, WebSocket, WebSocketRequest};
