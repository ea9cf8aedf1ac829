//! [`Builder`]: configuration with validation, for user code.

use std::collections::BTreeMap;
use std::time::Duration;

use thiserror::Error;

use super::event_loop::{AsyncRunner, HostSettings};
use super::handler::Handler;
use super::runtime::Runtime;
use super::tls::{ClientTls, TlsError, TlsSettings, is_tls_endpoint};
use crate::protocol::ProtocolVersion;
use crate::{Config, ConfigError, Limits, Timeouts, Token};

/// Builds a runner.
///
/// ```
/// use runner_tokio::Handler;
///
/// struct Nothing;
/// impl Handler for Nothing {}
///
/// let err = runner_tokio::builder().runner_name("r").build(Nothing).unwrap_err();
/// assert_eq!(err.to_string(), "endpoint is required");
/// let runner = runner_tokio::builder()
///     .endpoint("http://127.0.0.1:6420")
///     .token("dev")
///     .runner_name("my-runner")
///     .build(Nothing)
///     .unwrap();
/// # drop(runner);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Builder<R> {
    runtime: R,
    /// The core's configuration, set field by field and validated once, by
    /// [`Runner::new`](crate::Runner::new) in [`build`](Self::build). An
    /// empty endpoint or runner name means "not set".
    config: Config,
    /// `None`: a random key, drawn at `build`.
    runner_key: Option<String>,
    /// Setter inputs that cannot work (metadata that is not a JSON object,
    /// an unknown protocol version), by what they set: setting it again
    /// with a good value withdraws the refusal, as if the bad value had been
    /// overwritten. `build` reports the first.
    refused: BTreeMap<String, BuildError>,
    request_timeout: Duration,
    handle_signals: bool,
    spawn_handlers: bool,
    max_message_size: usize,
    tls: TlsSettings,
    /// The flight recorder's file (see [`super::recording`]).
    pub(super) recording: Option<super::recording::RecordSettings>,
}

/// A configuration that cannot work, with the reason.
///
/// # Examples
///
/// ```
/// # use runner_tokio::Handler;
/// # struct Nothing;
/// # impl Handler for Nothing {}
/// use runner_tokio::BuildError;
///
/// let no_endpoint = runner_tokio::builder().runner_name("r").build(Nothing).unwrap_err();
/// assert_eq!(no_endpoint, BuildError::MissingEndpoint);
/// let old = runner_tokio::builder().endpoint("http://127.0.0.1:6420").runner_name("r").protocol_version(4);
/// let err = old.build(Nothing).unwrap_err();
/// assert_eq!(err, BuildError::UnsupportedVersion(4));
/// assert_eq!(err.to_string(), "protocol version 4 is not supported (supported: 5, 6, 7)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No endpoint was set.
    #[error("endpoint is required")]
    MissingEndpoint,
    /// No runner name was set.
    #[error("runner name is required")]
    MissingRunnerName,
    /// The protocol version is not one this crate speaks.
    #[error("protocol version {0} is not supported (supported: 5, 6, 7)")]
    UnsupportedVersion(u16),
    /// Metadata must be a JSON object.
    #[error("{0} must be a JSON object")]
    NotAnObject(&'static str),
    /// A timeout that must be positive is zero.
    #[error("request timeout must be greater than zero")]
    ZeroRequestTimeout,
    /// The core refused the configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The endpoint is `https://`/`wss://` (or TLS settings were given) but
    /// this build has no TLS support.
    #[error(
        "TLS is needed for {0} but this build has no TLS support: enable the `tls` feature \
         of the driver crate (runner-tokio, runner-async-std; on by default) or runner-core"
    )]
    TlsNotCompiled(String),
    /// The TLS settings cannot be used.
    #[error("TLS settings: {0}")]
    Tls(#[from] TlsError),
    /// An environment variable read by
    /// [`from_env`](Builder::from_env) has a value that cannot work.
    #[error("{variable}: {reason}")]
    Env {
        /// The variable, e.g. `RIVET_TOTAL_SLOTS`.
        variable: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
}

impl<R: Runtime> Builder<R> {
    /// A builder with defaults: namespace `default`, version 1, 1000 slots,
    /// protocol v5, a random runner key, signal handling on.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{Builder, Handler, Tokio};
    ///
    /// struct Nothing;
    /// impl Handler for Nothing {}
    ///
    /// // What `runner_tokio::builder()` returns:
    /// let builder = Builder::new(Tokio).endpoint("http://127.0.0.1:6420").runner_name("r");
    /// # drop(builder);
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// // The defaults, as the test kit's engine sees them (its runner is built from `Builder::new`):
    /// let kit = runner_tokio::testing::start(Nothing).await;
    /// assert!(kit.connects()[0].url.contains("?protocol_version=5&namespace=default&runner_key="));
    /// let init = kit.init().unwrap();
    /// assert_eq!((init.version, init.total_slots), (1, 1000));
    /// # });
    /// ```
    pub fn new(runtime: R) -> Self {
        Builder {
            runtime,
            config: Config::new("", "", ""),
            runner_key: None,
            refused: BTreeMap::new(),
            request_timeout: Duration::from_secs(300),
            handle_signals: true,
            spawn_handlers: false,
            max_message_size: 64 << 20,
            tls: TlsSettings::default(),
            recording: None,
        }
    }

    /// Records what setting `what` came to: a good value withdraws an
    /// earlier refusal of the same setting.
    pub(super) fn settle(mut self, what: String, outcome: Result<(), BuildError>) -> Self {
        match outcome {
            Ok(()) => self.refused.remove(&what),
            Err(refused) => self.refused.insert(what, refused),
        };
        self
    }

    /// Engine endpoint (`http(s)://` or `ws(s)://`).
    ///
    /// # Examples
    ///
    /// `http(s)` becomes `ws(s)`, and the path is kept:
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Nothing;
    /// # impl Handler for Nothing {}
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start_with(Nothing, |b| {
    ///     b.endpoint("https://rivet.example/api").runner_name("r")
    /// }).await?;
    /// let request = &kit.connects()[0];
    /// assert!(request.url.starts_with("wss://rivet.example/api/runners/connect?"));
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.config.endpoint = endpoint.into();
        self
    }

    /// Auth token.
    ///
    /// # Examples
    ///
    /// The token goes in the WebSocket sub-protocols, not in the URL:
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Nothing;
    /// # impl Handler for Nothing {}
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start_with(Nothing, |b| {
    ///     b.endpoint("http://127.0.0.1:6420").runner_name("r").token("dev")
    /// }).await?;
    /// let request = &kit.connects()[0];
    /// assert_eq!(request.subprotocols, ["rivet", "rivet_token.dev"]);
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub fn token(mut self, token: impl Into<Token>) -> Self {
        self.config.token = Some(token.into());
        self
    }

    /// Namespace (default `default`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Nothing;
    /// # impl Handler for Nothing {}
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start_with(Nothing, |b| {
    ///     b.endpoint("http://127.0.0.1:6420").runner_name("r").namespace("games")
    /// }).await?;
    /// let request = &kit.connects()[0];
    /// assert!(request.url.contains("&namespace=games&"));
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.config.namespace = namespace.into();
        self
    }

    /// Runner name; actors select runners by it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Nothing;
    /// # impl Handler for Nothing {}
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start_with(Nothing, |b| b.endpoint("http://127.0.0.1:6420").runner_name("chat")).await?;
    /// let init = kit.init().unwrap();
    /// assert_eq!(init.name, "chat");
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub fn runner_name(mut self, name: impl Into<String>) -> Self {
        self.config.runner_name = name.into();
        self
    }

    /// Runner key (default: random per process). Two live runners must not share one.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Nothing;
    /// # impl Handler for Nothing {}
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start_with(Nothing, |b| {
    ///     b.endpoint("http://127.0.0.1:6420").runner_name("r").runner_key("host-1")
    /// }).await?;
    /// let request = &kit.connects()[0];
    /// assert!(request.url.ends_with("&runner_key=host-1"));
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub fn runner_key(mut self, key: impl Into<String>) -> Self {
        self.runner_key = Some(key.into());
        self
    }

    /// Runner version (default 1).
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Nothing;
    /// # impl Handler for Nothing {}
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start_with(Nothing, |b| {
    ///     b.endpoint("http://127.0.0.1:6420").runner_name("r").version(3)
    /// }).await?;
    /// let init = kit.init().unwrap();
    /// assert_eq!(init.version, 3);
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub fn version(mut self, version: u32) -> Self {
        self.config.version = version;
        // Withdraws a bad `RIVET_RUNNER_VERSION` (see `from_env`).
        self.settle("version".into(), Ok(()))
    }

    /// How many actors the engine may place here (default 1000).
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Nothing;
    /// # impl Handler for Nothing {}
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start_with(Nothing, |b| {
    ///     b.endpoint("http://127.0.0.1:6420").runner_name("r").total_slots(50)
    /// }).await?;
    /// let init = kit.init().unwrap();
    /// assert_eq!(init.total_slots, 50);
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub fn total_slots(mut self, slots: u32) -> Self {
        self.config.total_slots = slots;
        // Withdraws a bad `RIVET_TOTAL_SLOTS` (see `from_env`).
        self.settle("total_slots".into(), Ok(()))
    }

    /// Declares an actor name this runner hosts, with metadata (a JSON object).
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Nothing;
    /// # impl Handler for Nothing {}
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use runner_tokio::serde_json::json;
    ///
    /// let kit = runner_tokio::testing::start_with(Nothing, |b| {
    ///     b
    ///     .endpoint("http://127.0.0.1:6420")
    ///     .runner_name("r")
    ///     .actor_name("counter", json!({ "icon": "hash" }))
    /// }).await?;
    /// let init = kit.init().unwrap();
    /// let names = init.prepopulate_actor_names.unwrap();
    /// assert_eq!(names.get("counter").unwrap().metadata, r#"{"icon":"hash"}"#);
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub fn actor_name(mut self, name: impl Into<String>, metadata: serde_json::Value) -> Self {
        let name = name.into();
        let outcome = json_object(metadata, "actor name metadata").map(|metadata| {
            self.config
                .prepopulate_actor_names
                .insert(name.clone(), metadata);
        });
        self.settle(format!("actor_name {name}"), outcome)
    }

    /// Runner metadata (a JSON object).
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Nothing;
    /// # impl Handler for Nothing {}
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use runner_tokio::serde_json::json;
    ///
    /// let kit = runner_tokio::testing::start_with(Nothing, |b| {
    ///     b.endpoint("http://127.0.0.1:6420").runner_name("r").metadata(json!({ "region": "eu" }))
    /// }).await?;
    /// let init = kit.init().unwrap();
    /// assert_eq!(init.metadata.as_deref(), Some(r#"{"region":"eu"}"#));
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub fn metadata(mut self, metadata: serde_json::Value) -> Self {
        let outcome = json_object(metadata, "runner metadata").map(|metadata| {
            self.config.metadata = Some(metadata);
        });
        self.settle("metadata".into(), outcome)
    }

    /// Runner protocol version: 5 (default), 6 or 7.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Nothing;
    /// # impl Handler for Nothing {}
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start_with(Nothing, |b| {
    ///     b.endpoint("http://127.0.0.1:6420").runner_name("r").protocol_version(7)
    /// }).await?;
    /// let request = &kit.connects()[0];
    /// assert!(request.url.contains("?protocol_version=7&"));
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub fn protocol_version(mut self, version: u16) -> Self {
        let outcome = match ProtocolVersion::new(version) {
            Ok(version) => {
                self.config.protocol_version = version;
                Ok(())
            }
            Err(e) => Err(BuildError::UnsupportedVersion(e.0)),
        };
        self.settle("protocol_version".into(), outcome)
    }

    /// Every core timeout at once.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Nothing;
    /// # impl Handler for Nothing {}
    /// use std::time::Duration;
    /// use runner_tokio::{BuildError, ConfigError, Timeouts};
    ///
    /// let builder = runner_tokio::builder().endpoint("http://127.0.0.1:6420").runner_name("r");
    /// let mut timeouts = Timeouts::default();
    /// timeouts.connect = Duration::from_secs(5);
    /// assert!(builder.clone().timeouts(timeouts.clone()).build(Nothing).is_ok());
    /// timeouts.connect = Duration::ZERO;
    /// let err = builder.timeouts(timeouts).build(Nothing).unwrap_err();
    /// assert_eq!(err, BuildError::Config(ConfigError::ZeroTimeout("connect")));
    /// ```
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.config.timeouts = timeouts;
        self
    }

    /// Every core limit at once.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Nothing;
    /// # impl Handler for Nothing {}
    /// use runner_tokio::{BuildError, ConfigError, Limits};
    ///
    /// let builder = runner_tokio::builder().endpoint("http://127.0.0.1:6420").runner_name("r");
    /// let mut limits = Limits::default();
    /// limits.max_actors = 10;
    /// assert!(builder.clone().limits(limits.clone()).build(Nothing).is_ok());
    /// limits.max_actors = 0;
    /// let err = builder.limits(limits).build(Nothing).unwrap_err();
    /// assert_eq!(err, BuildError::Config(ConfigError::ZeroLimit("max_actors")));
    /// ```
    pub fn limits(mut self, limits: Limits) -> Self {
        self.config.limits = limits;
        self
    }

    /// Longest an `on_actor_start` may run before the actor is stopped with an error.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Nothing;
    /// # impl Handler for Nothing {}
    /// use std::time::Duration;
    /// use runner_tokio::{BuildError, ConfigError};
    ///
    /// let builder = runner_tokio::builder().endpoint("http://127.0.0.1:6420").runner_name("r");
    /// assert!(builder.clone().actor_start_timeout(Duration::from_secs(30)).build(Nothing).is_ok());
    /// let err = builder.actor_start_timeout(Duration::ZERO).build(Nothing).unwrap_err();
    /// assert_eq!(err, BuildError::Config(ConfigError::ZeroTimeout("actor_start")));
    /// ```
    pub fn actor_start_timeout(mut self, timeout: Duration) -> Self {
        self.config.timeouts.actor_start = timeout;
        self
    }

    /// Longest an `on_actor_stop` may run before the actor is dropped anyway.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Nothing;
    /// # impl Handler for Nothing {}
    /// use std::time::Duration;
    /// use runner_tokio::{BuildError, ConfigError};
    ///
    /// let builder = runner_tokio::builder().endpoint("http://127.0.0.1:6420").runner_name("r");
    /// assert!(builder.clone().actor_stop_timeout(Duration::from_secs(30)).build(Nothing).is_ok());
    /// let err = builder.actor_stop_timeout(Duration::ZERO).build(Nothing).unwrap_err();
    /// assert_eq!(err, BuildError::Config(ConfigError::ZeroTimeout("actor_stop")));
    /// ```
    pub fn actor_stop_timeout(mut self, timeout: Duration) -> Self {
        self.config.timeouts.actor_stop = timeout;
        self
    }

    /// Longest a graceful shutdown waits for the engine to stop every actor.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Nothing;
    /// # impl Handler for Nothing {}
    /// use std::time::Duration;
    /// use runner_tokio::{BuildError, ConfigError};
    ///
    /// let builder = runner_tokio::builder().endpoint("http://127.0.0.1:6420").runner_name("r");
    /// assert!(builder.clone().shutdown_timeout(Duration::from_secs(30)).build(Nothing).is_ok());
    /// let err = builder.shutdown_timeout(Duration::ZERO).build(Nothing).unwrap_err();
    /// assert_eq!(err, BuildError::Config(ConfigError::ZeroTimeout("shutdown_drain")));
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.timeouts.shutdown_drain = timeout;
        self
    }

    /// Longest an `on_request` may run, its response body read included,
    /// before the client gets a 504 (default 300 s).
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Nothing;
    /// # impl Handler for Nothing {}
    /// use std::time::Duration;
    /// use runner_tokio::{BuildError, ConfigError};
    ///
    /// let builder = runner_tokio::builder().endpoint("http://127.0.0.1:6420").runner_name("r");
    /// assert!(builder.clone().request_timeout(Duration::from_secs(10)).build(Nothing).is_ok());
    /// let err = builder.clone().request_timeout(Duration::ZERO).build(Nothing).unwrap_err();
    /// assert_eq!(err, BuildError::ZeroRequestTimeout);
    /// // At most `Timeouts::MAX` (a year): `Duration::MAX` would overflow the clock.
    /// let err = builder.request_timeout(Duration::MAX).build(Nothing).unwrap_err();
    /// assert_eq!(err, BuildError::Config(ConfigError::TooLong("request_timeout")));
    /// ```
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Whether SIGINT/SIGTERM trigger a graceful shutdown, and a second one
    /// an immediate one (default on).
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{Handler, ShutdownMode, ShutdownReason};
    ///
    /// struct Nothing;
    /// impl Handler for Nothing {}
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// // The application listens to signals itself and shuts the runner
    /// // down through its handle:
    /// let runner = runner_tokio::builder()
    ///     .endpoint("http://127.0.0.1:1") // no engine here
    ///     .runner_name("r")
    ///     .handle_signals(false)
    ///     .build(Nothing)?;
    /// let handle = runner.handle();
    /// let running = tokio::spawn(runner.run());
    /// handle.shutdown(ShutdownMode::Immediate).await;
    /// assert_eq!(running.await?, ShutdownReason::Requested);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.handle_signals = on;
        self
    }

    /// Whether each request's and WebSocket's handler runs as a task of its
    /// own on the runtime (default off).
    ///
    /// Off, the runner's event loop polls the handlers itself, as the
    /// TypeScript runner runs everything on Node's one thread: no task, and
    /// no wake-up of another thread, per request or message — the fastest
    /// way by far (half the CPU per request, or less). Handlers of all
    /// actors then take turns on one thread: they run concurrently, not in
    /// parallel, and code between two `.await`s holds up every actor, so it
    /// must not block or compute for long (move that work to
    /// `spawn_blocking` or a task of your own). The whole runner is then
    /// one task, which more executor threads can only pass between them:
    /// under load it costs least on one (a current-thread tokio runtime,
    /// `ASYNC_STD_THREAD_COUNT=1`); the README's "Which runtime flavour"
    /// has the figures, and the one case where tokio's multi-thread
    /// runtime costs less (a peer that sends one message at a time).
    ///
    /// On, handlers run in parallel on a multi-threaded runtime, at the cost
    /// of a task and two cross-thread wake-ups per request or message; a
    /// handler that answers without waiting is still answered on the loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{http, ActorContext, Handler, Request, Response};
    ///
    /// // Handlers that compute: each request on a worker thread of its own.
    /// struct Hashes;
    /// impl Handler for Hashes {
    ///     async fn on_request(&self, _actor: ActorContext, request: Request) -> Response {
    ///         let body = request.into_body().collect(1 << 20).await.unwrap_or_default();
    ///         let sum = body.iter().fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(*b));
    ///         http::Response::new(sum.to_string().into())
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let runner = runner_tokio::builder()
    ///     .endpoint("http://127.0.0.1:6420")
    ///     .runner_name("hashes")
    ///     .spawn_handlers(true)
    ///     .build(Hashes)?;
    /// # drop(runner);
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub fn spawn_handlers(mut self, on: bool) -> Self {
        self.spawn_handlers = on;
        self
    }

    /// Trusts the certificates of a PEM text (one or more `CERTIFICATE`
    /// blocks) as roots for `wss://`, besides Mozilla's roots: for an engine
    /// behind a private certificate authority. May be called more than once.
    /// Read at [`build`](Self::build), which fails on a text with no
    /// certificate.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{BuildError, Handler, TlsError};
    ///
    /// struct Nothing;
    /// impl Handler for Nothing {}
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let builder = runner_tokio::builder().endpoint("https://engine.internal:6420").runner_name("r");
    /// // In a real program: std::fs::read("internal-ca.pem")?
    /// let not_pem = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    /// let err = builder.tls_root_certificates_pem(not_pem).build(Nothing).unwrap_err();
    /// # #[cfg(feature = "tls")]
    /// assert_eq!(err, BuildError::Tls(TlsError::NoCertificate));
    /// # Ok(()) }
    /// ```
    pub fn tls_root_certificates_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.tls.roots_pem.push(pem.as_ref().to_vec());
        self
    }

    /// Whether Mozilla's roots (compiled in, from webpki-roots) are trusted
    /// for `wss://` (default on). Turn them off to trust only the roots given
    /// to [`tls_root_certificates_pem`](Self::tls_root_certificates_pem).
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::Handler;
    ///
    /// struct Nothing;
    /// impl Handler for Nothing {}
    ///
    /// let builder = runner_tokio::builder().endpoint("https://engine.internal").runner_name("r");
    /// let only_mine = builder.tls_builtin_roots(false);
    /// # #[cfg(feature = "tls")]
    /// assert!(only_mine.build(Nothing).is_ok());
    /// ```
    pub fn tls_builtin_roots(mut self, on: bool) -> Self {
        self.tls.no_builtin_roots = !on;
        self
    }

    /// **For tests only**: accepts a server that presents exactly this
    /// certificate (PEM), e.g. a self-signed one made by the test, without
    /// checking its issuer, validity dates or host names. The server must
    /// still prove it holds the certificate's key. Replaces every root of
    /// trust: no other certificate is accepted.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{BuildError, Handler, TlsError};
    ///
    /// struct Nothing;
    /// impl Handler for Nothing {}
    ///
    /// let builder = runner_tokio::builder().endpoint("https://127.0.0.1:8443").runner_name("r");
    /// let err = builder.danger_accept_self_signed("").build(Nothing).unwrap_err();
    /// # #[cfg(feature = "tls")]
    /// assert_eq!(err, BuildError::Tls(TlsError::NoCertificate));
    /// ```
    pub fn danger_accept_self_signed(mut self, certificate_pem: impl AsRef<[u8]>) -> Self {
        self.tls.accept_pem.push(certificate_pem.as_ref().to_vec());
        self
    }

    /// A whole rustls configuration for `wss://` (client certificates,
    /// another crypto provider, the platform's verifier…); the other `tls_*`
    /// settings are then unused.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runner_tokio::Handler;
    /// use runner_tokio::rustls::{ClientConfig, RootCertStore, crypto::ring};
    ///
    /// struct Nothing;
    /// impl Handler for Nothing {}
    ///
    ///
    /// let roots = RootCertStore::empty(); // yours
    /// let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
    ///     .with_safe_default_protocol_versions()?
    ///     .with_root_certificates(roots)
    ///     .with_no_client_auth();
    /// let builder = runner_tokio::builder().endpoint("https://rivet.example").runner_name("r");
    /// let runner = builder.tls_client_config(Arc::new(config)).build(Nothing)?;
    /// # drop(runner);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls_client_config(mut self, config: std::sync::Arc<rustls::ClientConfig>) -> Self {
        self.tls.client = Some(ClientTls::from(config));
        self
    }

    /// Validates the configuration and creates the runner (not yet running).
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Nothing;
    /// # impl Handler for Nothing {}
    /// use runner_tokio::BuildError;
    /// use runner_tokio::serde_json::json;
    ///
    /// let builder = runner_tokio::builder().endpoint("http://127.0.0.1:6420").runner_name("r");
    /// let runner = builder.clone().build(Nothing)?;
    /// assert!(!runner.handle().is_shut_down()); // built, not running
    /// let err = builder.metadata(json!(["not", "an", "object"])).build(Nothing).unwrap_err();
    /// assert_eq!(err, BuildError::NotAnObject("runner metadata"));
    /// # Ok::<(), BuildError>(())
    /// ```
    pub fn build<H: Handler>(self, handler: H) -> Result<AsyncRunner<R, H>, BuildError> {
        let config = self.core_config()?;
        let runtime = self.runtime.clone();
        // The one validation of the core's configuration.
        let mut core = crate::Runner::new(config, crate::Timestamp::ZERO)?;
        if let Some(recording) = &self.recording {
            // A fresh core has had no input: this cannot be refused.
            let _ = core.start_recording(recording.options());
        }
        let settings = self.host_settings()?;
        Ok(AsyncRunner::new(runtime, core, handler, settings))
    }

    fn host_settings(self) -> Result<HostSettings, BuildError> {
        Ok(HostSettings {
            request_timeout: self.request_timeout,
            handle_signals: self.handle_signals,
            max_message_size: self.max_message_size,
            tls: client_tls(&self.tls, &self.config.endpoint)?,
            recording: self.recording,
            spawn_handlers: self.spawn_handlers,
        })
    }

    /// The core's configuration, complete but not validated (that is
    /// [`Runner::new`](crate::Runner::new)'s): what only the builder knows
    /// is checked here.
    fn core_config(&self) -> Result<Config, BuildError> {
        if self.config.endpoint.is_empty() {
            return Err(BuildError::MissingEndpoint);
        }
        if self.config.runner_name.is_empty() {
            return Err(BuildError::MissingRunnerName);
        }
        if let Some(refused) = self.refused.values().next() {
            return Err(refused.clone());
        }
        if self.request_timeout.is_zero() {
            return Err(BuildError::ZeroRequestTimeout);
        }
        if self.request_timeout > Timeouts::MAX {
            return Err(ConfigError::TooLong("request_timeout").into());
        }
        let mut config = self.config.clone();
        config.runner_key = match &self.runner_key {
            Some(key) => key.clone(),
            None => random_key(&self.runtime),
        };
        config.rng_seed = self.runtime.random_u64();
        Ok(config)
    }
}

/// The TLS configuration for a `wss://` endpoint, read and checked now so
/// that a setting that cannot work fails here, not at every connect.
/// What the serverless endpoint reads of its template builder.
#[cfg(feature = "serverless")]
impl<R> Builder<R> {
    pub(crate) fn template_config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn template_runtime(&self) -> &R {
        &self.runtime
    }
}

fn client_tls(tls: &TlsSettings, endpoint: &str) -> Result<Option<ClientTls>, BuildError> {
    if !is_tls_endpoint(endpoint) && !tls.is_set() {
        return Ok(None);
    }
    #[cfg(feature = "tls")]
    return Ok(Some(super::tls::client_tls(tls, endpoint)?));
    #[cfg(not(feature = "tls"))]
    return Err(BuildError::TlsNotCompiled(endpoint.to_owned()));
}

fn json_object(value: serde_json::Value, what: &'static str) -> Result<String, BuildError> {
    if !value.is_object() {
        return Err(BuildError::NotAnObject(what));
    }
    Ok(value.to_string())
}

/// A random runner key: 128 bits as hex.
fn random_key(runtime: &impl Runtime) -> String {
    format!("{:016x}{:016x}", runtime.random_u64(), runtime.random_u64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::testing::NoEngine;

    struct Nothing;
    impl Handler for Nothing {}

    fn builder() -> Builder<NoEngine> {
        Builder::new(NoEngine)
            .endpoint("http://127.0.0.1:6420")
            .runner_name("r")
    }

    /// With signal handling on, a signal shuts the runner down by itself;
    /// off, the runtime's signals are not even listened to (was the
    /// `handle_signals` doc example, which now runs on a real driver).
    #[test]
    fn signals_shut_the_runner_down_unless_signal_handling_is_off() {
        use crate::host::testing::MemoryRuntime;
        use crate::{ShutdownReason, TransportClose};
        use futures::executor::block_on;
        let runtime = || {
            MemoryRuntime::new()
                .signals(1)
                .refuse_connects(TransportClose::error("no engine here"))
        };
        let on = Builder::new(runtime())
            .endpoint("http://127.0.0.1:6420")
            .runner_name("r");
        assert_eq!(
            block_on(on.build(Nothing).unwrap().run()),
            ShutdownReason::Requested
        );

        let rt = runtime();
        let off = Builder::new(rt.clone())
            .endpoint("http://127.0.0.1:6420")
            .runner_name("r")
            .handle_signals(false);
        let runner = off.build(Nothing).unwrap();
        let handle = runner.handle();
        let running = std::thread::spawn(move || block_on(runner.run()));
        block_on(handle.shutdown(crate::ShutdownMode::Immediate));
        running.join().unwrap();
        assert_eq!(rt.signal_streams(), 0);
    }

    /// The builder keeps a `Config`; what it did with separate fields still
    /// holds: the last value set wins, bad values are reported by `build`.
    #[test]
    fn a_setting_set_again_replaces_the_earlier_value_good_or_bad() {
        let object = serde_json::json!({ "a": 1 });
        let list = serde_json::json!([1]);
        assert!(
            builder()
                .metadata(list.clone())
                .metadata(object.clone())
                .build(Nothing)
                .is_ok()
        );
        let err = builder()
            .metadata(object.clone())
            .metadata(list.clone())
            .build(Nothing);
        assert_eq!(err.unwrap_err(), BuildError::NotAnObject("runner metadata"));
        let names = builder()
            .actor_name("n", list.clone())
            .actor_name("n", object);
        assert!(names.build(Nothing).is_ok());
        let names = builder().actor_name("m", list);
        let err = names.build(Nothing).unwrap_err();
        assert_eq!(err, BuildError::NotAnObject("actor name metadata"));
        assert!(
            builder()
                .protocol_version(4)
                .protocol_version(6)
                .build(Nothing)
                .is_ok()
        );
        let err = builder().runner_key("").build(Nothing).unwrap_err();
        assert_eq!(err, BuildError::Config(ConfigError::Empty("runner_key")));
    }
}
