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
//! # Reading the shared items' docs
//!
//! The items re-exported from `runner_core::host::api` (the [`Handler`]
//! hooks, [`ActorContext`], the [`Builder`] settings, [`WebSocket`], …)
//! show examples written for `runner-tokio`: with this crate, write
//! `runner_async_std` for `runner_tokio`, `#[async_std::main]` or
//! `async_std::task::block_on` for tokio's runtime, and `async_std::task`,
//! `async_std::future::timeout` for `tokio::spawn`, `tokio::time::timeout`.
//! The main entry points, on async-std:
//!
//! A handler with per-actor state, KV and a WebSocket, tested on the kit
//! (in your tests, `#[async_std::test]`):
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use runner_async_std::{
//!     http, ActorContext, ActorInfo, BoxError, Handler, Message, Request, Response,
//!     WebSocketRequest,
//! };
//!
//! /// Counts each actor's requests (in its state, and in KV) and echoes
//! /// WebSocket text.
//! struct Counter;
//! struct Count(AtomicU64);
//!
//! impl Handler for Counter {
//!     async fn on_actor_start(&self, actor: ActorContext, _info: ActorInfo) -> Result<(), BoxError> {
//!         let _ = actor.set_state(Count(AtomicU64::new(0)));
//!         Ok(())
//!     }
//!
//!     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
//!         let n = actor.state::<Count>().map_or(0, |c| c.0.fetch_add(1, Ordering::SeqCst) + 1);
//!         if let Err(e) = actor.kv_put([("count", n.to_string())]).await {
//!             return Response::new(format!("KV failed: {e}").into());
//!         }
//!         Response::new(n.to_string().into())
//!     }
//!
//!     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
//!         let Ok(mut ws) = socket.accept(false).await else { return };
//!         while let Some(Message::Text(text)) = ws.recv().await {
//!             let _ = ws.send(text).await;
//!         }
//!     }
//! }
//!
//! async_std::task::block_on(async {
//!     let kit = runner_async_std::testing::start(Counter).await;
//!     let actor = kit.start_actor("counter").await?;
//!     kit.request(&actor, http::Request::post("/").body("")?).await;
//!     let second = kit.request(&actor, http::Request::post("/").body("")?).await;
//!     assert_eq!(second.body(), "2");
//!     assert_eq!(kit.kv(&actor)[&b"count"[..]], "2");
//!     let mut ws = kit.websocket(&actor, "/echo").await.expect("accepted");
//!     ws.send(Message::Text("hi".into()));
//!     assert_eq!(ws.recv().await, Message::Text("hi".into()));
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A runner run as a task, asked for its health and shut down through its
//! [`RunnerHandle`] (signals left to the application):
//!
//! ```
//! use runner_async_std::{Handler, ShutdownMode, ShutdownReason};
//!
//! struct Idle;
//! impl Handler for Idle {}
//!
//! async_std::task::block_on(async {
//!     let runner = runner_async_std::builder()
//!         .endpoint("http://127.0.0.1:1") // no engine here
//!         .runner_name("idle")
//!         .handle_signals(false)
//!         .build(Idle)?;
//!     let handle = runner.handle();
//!     let running = async_std::task::spawn(runner.run());
//!     assert!(!handle.health().await.ready);
//!     handle.shutdown(ShutdownMode::Immediate).await;
//!     assert_eq!(running.await, ShutdownReason::Requested);
//!     Ok::<(), runner_async_std::BuildError>(())
//! })?;
//! # Ok::<(), runner_async_std::BuildError>(())
//! ```
//!

#![warn(missing_docs)]

mod runtime;
#[cfg(feature = "serverless")]
pub mod serverless;

pub use runtime::AsyncStd;
runner_core::driver_api!(AsyncStd, "async-std", "async_std::task::block_on");
