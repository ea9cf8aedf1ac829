//! A Rivet engine runner on [async-std](async_std): the `runner-core` state
//! machine driven over an `async-tungstenite` WebSocket.
//!
//! The API is [`runner_core::host::api`], re-exported here exactly as
//! `runner-tokio` does; only the runtime differs, so moving actor code
//! between the two is a change of one `use` line (and of the `main`
//! attribute).
//!
//! ```no_run
//! use runner_async_std::{ActorContext, Handler, Request, Response};
//!
//! struct Hello;
//!
//! impl Handler for Hello {
//!     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
//!         Response::new(format!("hello from {}", actor.actor_id()).into())
//!     }
//! }
//!
//! #[async_std::main]
//! async fn main() -> Result<(), runner_async_std::BuildError> {
//!     let runner = runner_async_std::builder()
//!         .endpoint("http://127.0.0.1:6420")
//!         .token("dev")
//!         .runner_name("hello")
//!         .build(Hello)?;
//!     let reason = runner.run().await; // until SIGINT/SIGTERM
//!     println!("shut down: {reason:?}");
//!     Ok(())
//! }
//! ```
//!
//! # One handler, either runtime
//!
//! The handler trait and every type it sees are the same items in both
//! crates, so code written against one compiles against the other:
//!
//! ```
//! use runner_async_std::{ActorContext, Handler, Request, Response};
//!
//! struct Hello;
//!
//! impl Handler for Hello {
//!     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
//!         Response::new(format!("hello from {}", actor.actor_id()).into())
//!     }
//! }
//!
//! /// Builds the same handler on both drivers.
//! fn on_both<H: Handler>(
//!     handler: impl Fn() -> H,
//! ) -> Result<(runner_tokio::Runner<H>, runner_async_std::Runner<H>), runner_tokio::BuildError> {
//!     let on_tokio = runner_tokio::builder()
//!         .endpoint("http://127.0.0.1:6420")
//!         .runner_name("hello")
//!         .build(handler())?;
//!     let on_async_std = runner_async_std::builder()
//!         .endpoint("http://127.0.0.1:6420")
//!         .runner_name("hello")
//!         .build(handler())?;
//!     Ok((on_tokio, on_async_std))
//! }
//!
//! let (on_tokio, on_async_std) = on_both(|| Hello).unwrap();
//! # drop((on_tokio, on_async_std));
//! ```
//!
//! # Signals
//!
//! On Unix the runner shuts down gracefully on SIGTERM or SIGINT (and at
//! once on a second one), through `signal-hook`. async-std has no portable
//! Ctrl-C, so elsewhere use [`RunnerHandle::shutdown`] instead.

#![warn(missing_docs)]

mod runtime;
#[cfg(feature = "serverless")]
pub mod serverless;

pub use runtime::AsyncStd;
runner_core::driver_api!(AsyncStd, "async-std");
