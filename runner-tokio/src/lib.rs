//! A Rivet engine runner on [tokio]: the `runner-core` state machine driven
//! over a `tokio-tungstenite` WebSocket.
//!
//! The API is [`runner_core::host::api`], re-exported here; only the
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
#[cfg(feature = "serverless")]
pub mod serverless;

pub use runtime::Tokio;
runner_core::driver_api!(Tokio, "tokio");
