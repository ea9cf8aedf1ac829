//! The user-facing API that every driver crate re-exports whole.
//!
//! A driver crate (`runner-tokio`, `runner-async-std`) does
//! `pub use runner_core::host::api::*;` and adds only its runtime-bound
//! names (`builder()`, `Builder`, `Runner<H>` and the runtime type), so the
//! crates expose the same names by construction and actor code moves between
//! them by changing one `use` line.
//!
//! ```
//! use runner_core::host::api::{ActorContext, Handler, Request, Response};
//!
//! struct Hello;
//!
//! impl Handler for Hello {
//!     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
//!         Response::new(format!("hello from {}", actor.actor_id()).into())
//!     }
//! }
//! ```
//!
//! Everything actor code handles is named here, so it needs no direct
//! dependency on `runner-core`: e.g. what a hibernatable socket persists,
//! and why a call failed.
//!
//! ```
//! use runner_core::host::api::{
//!     BareMap, CallError, Error, GatewayId, HibernatedSocket, RequestId, RequestKey,
//! };
//!
//! let restored = HibernatedSocket {
//!     key: RequestKey::new(GatewayId([1, 2, 3, 4]), RequestId([5, 6, 7, 8])),
//!     last_received_index: 3,
//!     next_sent_index: 2,
//!     path: "/chat".into(),
//!     headers: BareMap::new(),
//! };
//! # let _ = restored;
//! let too_big = |e: &Error| matches!(e, Error::Call(CallError::PayloadTooLarge { .. }));
//! # let _ = too_big;
//! ```

/// The filter directive that keeps the token out of tungstenite's logs.
pub use super::TOKEN_SAFE_LOG_DIRECTIVE;
pub use super::{
    ActorContext, ActorInfo, Body, BodyError, BoxError, BuildError, ClientTls, CloseFrame,
    ENV_VARIABLES, Error, Handler, KvList, Message, Request, Response, RunnerHandle, TlsError,
    WebSocket, WebSocketRequest,
};
pub use super::{Health, INPUT_TIME_BUCKETS, RunnerMetrics};
#[cfg(feature = "metrics")]
pub use super::{Publisher, publish_every};
/// Feature `tower`: an actor's HTTP as any tower `Service` (an axum
/// `Router`).
#[cfg(feature = "tower")]
pub use super::{ServiceHandler, serve};
/// The core's clock ([`Metrics::at`], [`Metrics::last_engine_contact`]
/// are timestamps).
pub use crate::Timestamp;
pub use crate::protocol::{BareMap, GatewayId, MessageIndex, ProtocolVersion, RequestId};
pub use crate::{
    ActorRef, CallError, ConfigError, HibernatedSocket, KvError, Limits, ParseRequestKeyError,
    RequestKey, RestoreReport, ShutdownMode, ShutdownReason, SocketIndices, StopReason, Timeouts,
};
pub use crate::{
    ConnectionState, Disconnects, Histogram, HttpOutcomes, KV_LATENCY_BUCKETS, KvKinds, KvOutcomes,
    Metrics, PayloadRefusals, Stops,
};
/// The `bytes` crate: KV keys and values, bodies and messages are
/// [`Bytes`].
pub use ::bytes::{self, Bytes};
/// The `http` crate: [`Request`] and [`Response`] are its types, and
/// building one (`http::Response::builder()`, `http::StatusCode`) needs it.
/// Re-exported so that a crate depending only on a driver can write
/// `use runner_tokio::http;`.
pub use ::http;
/// `http-body`: [`Body`] implements `http_body::Body`, and [`Body::new`]
/// takes any body that does (an axum or hyper response's).
pub use ::http_body;
/// The TLS library behind `wss://` (feature `tls`), for
/// [`Builder::tls_client_config`](super::Builder::tls_client_config).
#[cfg(feature = "tls")]
pub use ::rustls;
/// `serde_json`: [`Builder::actor_name`](super::Builder::actor_name) and
/// [`Builder::metadata`](super::Builder::metadata) take a `serde_json::Value`.
pub use ::serde_json;
/// `tower-service` (feature `tower`): the `Service` trait that
/// [`ServiceHandler`] and [`serve`] take, for services written by hand.
#[cfg(feature = "tower")]
pub use ::tower_service;

/// Declares a driver crate's public API: re-exports [`api`](self) whole and
/// defines the names bound to the crate's runtime — `Builder`, `Runner<H>`
/// and `builder()` — so that every driver offers the same names.
///
/// `$runtime` is the driver's [`Runtime`](super::Runtime), a unit struct in
/// scope; `$name` names the runtime in the generated docs; `$block_on` is
/// how the generated examples run a future on it. A driver's
/// `lib.rs` is then its docs, its runtime module and this one line (as
/// `runner-tokio/src/lib.rs` has it, compiled there):
///
/// ```text
/// mod runtime;
/// pub use runtime::Tokio;
/// runner_core::driver_api!(Tokio, "tokio", "tokio::runtime::Runtime::new().unwrap().block_on");
/// ```
#[macro_export]
macro_rules! driver_api {
    ($runtime:ident, $name:literal, $block_on:literal) => {
        #[doc(inline)]
        pub use $crate::host::api::*;

        #[doc = concat!("Builds a runner on ", $name, ".")]
        #[doc = ""]
        #[doc = "# Examples"]
        #[doc = ""]
        #[doc = "```"]
        #[doc = concat!("use ", env!("CARGO_CRATE_NAME"), "::{BuildError, Builder, Handler, ", stringify!($runtime), "};")]
        #[doc = ""]
        #[doc = "struct Idle;"]
        #[doc = "impl Handler for Idle {}"]
        #[doc = ""]
        #[doc = concat!("let builder = Builder::new(", stringify!($runtime), ").endpoint(\"http://127.0.0.1:6420\");")]
        #[doc = "assert_eq!(builder.clone().build(Idle).unwrap_err(), BuildError::MissingRunnerName);"]
        #[doc = "assert!(builder.runner_name(\"hello\").build(Idle).is_ok());"]
        #[doc = "```"]
        pub type Builder = $crate::host::Builder<$runtime>;

        #[doc = concat!("A runner on ", $name, ": [`run`](Runner::run) it.")]
        #[doc = ""]
        #[doc = "# Examples"]
        #[doc = ""]
        #[doc = "```"]
        #[doc = concat!("use ", env!("CARGO_CRATE_NAME"), "::{Handler, Runner, ShutdownReason};")]
        #[doc = ""]
        #[doc = "struct Idle;"]
        #[doc = "impl Handler for Idle {}"]
        #[doc = ""]
        #[doc = "/// Serves until a signal or a `RunnerHandle::shutdown`."]
        #[doc = "async fn serve(runner: Runner<Idle>) -> ShutdownReason {"]
        #[doc = "    runner.run().await"]
        #[doc = "}"]
        #[doc = ""]
        #[doc = concat!("let runner: Runner<Idle> = ", env!("CARGO_CRATE_NAME"), "::builder()")]
        #[doc = "    .endpoint(\"http://127.0.0.1:6420\")"]
        #[doc = "    .runner_name(\"hello\")"]
        #[doc = "    .build(Idle)?;"]
        #[doc = "assert!(!runner.handle().is_connected()); // not running yet"]
        #[doc = "# drop(serve(runner));"]
        #[doc = concat!("# Ok::<(), ", env!("CARGO_CRATE_NAME"), "::BuildError>(())")]
        #[doc = "```"]
        pub type Runner<H> = $crate::host::AsyncRunner<$runtime, H>;

        #[doc = concat!("Starts building a runner on ", $name, ".")]
        #[doc = ""]
        #[doc = "# Examples"]
        #[doc = ""]
        #[doc = "```"]
        #[doc = concat!("use ", env!("CARGO_CRATE_NAME"), "::{BuildError, Handler};")]
        #[doc = ""]
        #[doc = "struct Idle;"]
        #[doc = "impl Handler for Idle {}"]
        #[doc = ""]
        #[doc = concat!("let runner = ", env!("CARGO_CRATE_NAME"), "::builder()")]
        #[doc = "    .endpoint(\"http://127.0.0.1:6420\")"]
        #[doc = "    .token(\"dev\")"]
        #[doc = "    .runner_name(\"hello\")"]
        #[doc = "    .build(Idle)?;"]
        #[doc = "assert!(!runner.handle().is_shut_down());"]
        #[doc = "# Ok::<(), BuildError>(())"]
        #[doc = "```"]
        pub fn builder() -> Builder {
            Builder::new($runtime)
        }

        #[doc = concat!("Tests for handlers without an engine: [`testing::start`] runs a handler on ", $name, " against an in-memory engine.")]
        #[doc = ""]
        #[doc = "See [`TestKit`](testing::TestKit) for what a test can do and assert."]
        pub mod testing {
            #[doc(inline)]
            pub use $crate::host::testkit::{LifecycleEvent, TestSocket, WAIT_BOUND};

            #[doc = concat!("The test kit (`runner_core::host::testkit::TestKit`) on ", $name, ".")]
            pub type TestKit = $crate::host::testkit::TestKit<super::$runtime>;

            #[doc = "The builder [`start_with`] hands to its `configure`."]
            pub type KitBuilder = $crate::host::Builder<$crate::host::testkit::KitRuntime<super::$runtime>>;

            #[doc = "[`start`] with the runner's builder first given to `configure` (limits, timeouts, protocol version…); see `TestKit::start_with`."]
            #[doc = ""]
            #[doc = "# Examples"]
            #[doc = ""]
            #[doc = "```"]
            #[doc = concat!("use ", env!("CARGO_CRATE_NAME"), "::Handler;")]
            #[doc = ""]
            #[doc = "struct Idle;"]
            #[doc = "impl Handler for Idle {}"]
            #[doc = ""]
            #[doc = concat!("# ", $block_on, "(async {")]
            #[doc = concat!("let kit = ", env!("CARGO_CRATE_NAME"), "::testing::start_with(Idle, |b| b.protocol_version(7)).await?;")]
            #[doc = "assert!(kit.connects()[0].url.contains(\"protocol_version=7\"));"]
            #[doc = concat!("# Ok::<(), ", env!("CARGO_CRATE_NAME"), "::BuildError>(())")]
            #[doc = "# }).unwrap();"]
            #[doc = "```"]
            pub async fn start_with<H: $crate::host::Handler>(
                handler: H,
                configure: impl FnOnce(KitBuilder) -> KitBuilder,
            ) -> Result<TestKit, $crate::host::BuildError> {
                TestKit::start_with(super::$runtime, handler, configure).await
            }

            #[doc = concat!("Runs `handler` on ", $name, " against an in-memory engine (KV included) and waits until it is connected: a test then starts actors and sends them requests.")]
            #[doc = ""]
            #[doc = "# Examples"]
            #[doc = ""]
            #[doc = "```"]
            #[doc = concat!("use ", env!("CARGO_CRATE_NAME"), "::{http, ActorContext, Handler, Request, Response};")]
            #[doc = ""]
            #[doc = "struct Hello;"]
            #[doc = ""]
            #[doc = "impl Handler for Hello {"]
            #[doc = "    async fn on_request(&self, _actor: ActorContext, _request: Request) -> Response {"]
            #[doc = "        Response::new(\"hello\".into())"]
            #[doc = "    }"]
            #[doc = "}"]
            #[doc = ""]
            #[doc = concat!("# ", $block_on, "(async {")]
            #[doc = concat!("let kit = ", env!("CARGO_CRATE_NAME"), "::testing::start(Hello).await;")]
            #[doc = "let actor = kit.start_actor(\"hello\").await?;"]
            #[doc = "let response = kit.request(&actor, http::Request::get(\"/\").body(\"\")?).await;"]
            #[doc = "assert_eq!(response.body(), \"hello\");"]
            #[doc = "# Ok::<(), Box<dyn std::error::Error>>(())"]
            #[doc = "# }).unwrap();"]
            #[doc = "```"]
            pub async fn start<H: $crate::host::Handler>(handler: H) -> TestKit {
                TestKit::start(super::$runtime, handler).await
            }
        }
    };
}
