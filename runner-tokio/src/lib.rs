//! A Rivet engine runner on [tokio]: the `runner-core` state machine driven
//! over a `tokio-tungstenite` WebSocket.
//!
//! The API is the one of [`runner_core::driver`], re-exported here; only the
//! runtime differs from `runner-async-std`, so moving actor code between the
//! two is a change of one `use` line.
//!
//! ```no_run
//! use runner_tokio::{ActorContext, Handler, Request, Response};
//!
//! struct Hello;
//!
//! impl Handler for Hello {
//!     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
//!         Response::new(format!("hello from {}", actor.actor_id()).into())
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), runner_tokio::BuildError> {
//!     let runner = runner_tokio::builder()
//!         .endpoint("http://127.0.0.1:6420")
//!         .token("dev")
//!         .runner_name("hello")
//!         .build(Hello)?;
//!     let reason = runner.run().await; // until SIGINT/SIGTERM
//!     println!("shut down: {reason:?}");
//!     Ok(())
//! }
//! ```

#![warn(missing_docs)]

mod runtime;

pub use runner_core::driver::{
    ActorContext, ActorInfo, Body, BodyError, BoxError, BuildError, CloseFrame, Error, Handler,
    KvList, Message, Request, Response, RunnerHandle, WebSocket, WebSocketRequest,
};
pub use runner_core::protocol::MessageIndex;
pub use runner_core::{
    HibernatedSocket, KvError, Limits, RequestKey, RestoreReport, ShutdownMode, ShutdownReason,
    SocketIndices, StopReason, Timeouts,
};
pub use runtime::Tokio;

/// Builds a runner on tokio.
pub type Builder = runner_core::driver::Builder<Tokio>;

/// A runner on tokio; [`run`](runner_core::driver::Runner::run) it.
pub type Runner<H> = runner_core::driver::Runner<Tokio, H>;

/// Starts building a runner on tokio.
pub fn builder() -> Builder {
    Builder::new(Tokio)
}

/// The README's example, compiled as a doc test so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
