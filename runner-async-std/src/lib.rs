#![doc = include_str!("../README.md")]
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

#![warn(missing_docs)]

mod runtime;
#[cfg(feature = "serverless")]
pub mod serverless;

pub use runtime::AsyncStd;
runner_core::driver_api!(AsyncStd, "async-std", "async_std::task::block_on");
