//! A test kit for handlers: runs the user's [`Handler`](crate::host::Handler) on the user's
//! runtime against an in-memory engine (KV included), so that a test is
//! "start an actor, send a request, assert" — no engine, no protocol code.
//!
//! Each driver re-exports it as `testing`, with a `start(handler)` bound to
//! its runtime (`runner_tokio::testing::start`,
//! `runner_async_std::testing::start`). Handlers run as tasks of that
//! runtime, so what works in production works here (a handler that calls
//! `tokio::time::sleep`, `tokio::time::pause` in tests).
//!
//! The engine stores each actor's KV ([`TestKit::kv`]), records lifecycle
//! events ([`TestKit::events`]: starts, stops, sleep and stop requests,
//! alarms), stops an actor that asks to sleep or stop, and wakes a sleeping
//! actor (a new generation) when a request reaches it or its alarm is fired
//! ([`TestKit::fire_alarm`]), as the gateway does.
//!
//! Hibernatable WebSockets outlive a sleep as the gateway keeps them: the
//! next start lists them for the handler to restore, the client's next
//! message wakes a sleeping actor, and what the runner did not acknowledge
//! is sent again after the wake ([`TestSocket::send`]).
//!
//! Not modelled (use `host::testing::MemoryRuntime` and play the engine
//! for these): KV metadata and the engine's own limits, engine restarts
//! and reconnects, the gateway's acknowledgement timeout, runner protocol
//! versions other than the one the runner asks for (it is answered in that
//! one).
//!
//! Every wait of the kit is bounded by [`WAIT_BOUND`] of the runtime's
//! clock and panics, naming what it waited for, past it: a test fails, it
//! never hangs.
//!
//! # Examples
//!
//! ```
//! use runner_tokio::{http, ActorContext, Handler, Request, Response};
//!
//! struct Hello;
//!
//! impl Handler for Hello {
//!     async fn on_request(&self, actor: ActorContext, request: Request) -> Response {
//!         actor.kv_put([("last", request.uri().path().to_owned())]).await.unwrap();
//!         Response::new(format!("hello from {}", actor.name()).into())
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let kit = runner_tokio::testing::start(Hello).await;
//! let actor = kit.start_actor("greeter").await?;
//! let response = kit.request(&actor, http::Request::get("/hi").body("")?).await;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.body(), "hello from greeter");
//! assert_eq!(kit.kv(&actor).get("last".as_bytes()).map(|v| &v[..]), Some(&b"/hi"[..]));
//! kit.shutdown().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod actors;
mod engine;
mod events;
mod http;
mod kit;
mod kv;
mod observed;
mod runtime;
mod socket;

use std::time::Duration;

pub use self::events::LifecycleEvent;
pub use self::kit::TestKit;
pub use self::runtime::KitRuntime;
pub use self::socket::TestSocket;

/// The longest any wait of the kit lasts, on the runtime's clock, before it
/// panics naming what it waited for.
pub const WAIT_BOUND: Duration = Duration::from_secs(60);
