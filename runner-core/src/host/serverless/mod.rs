//! Serverless runners (feature `serverless`): the engine starts runners on
//! demand by calling an HTTP endpoint, and this module is that endpoint.
//!
//! [`Serverless`] answers `GET <base>/metadata` and `GET <base>/start` as
//! `http::Request` → `http::Response<`[`ServerlessBody`]`>`, so it mounts in
//! any HTTP server (hyper, axum, … on tokio; hyper over async-io on
//! async-std) and, with the `tower` feature, is a `tower::Service`. Each
//! `/start` starts one runner — the same [`Handler`] for all — configured
//! from the request's `x-rivet-*` headers, and answers with a
//! `text/event-stream` that carries the init packet once the runner is
//! connected, then a `ping` every second. The stream ends when its runner
//! ends; a dropped stream shuts its runner down gracefully.
//!
//! * `headers`: the `/start` headers, read strictly;
//! * `body`: the response body and the start stream;
//! * `tracked`: the shared handler, wrapped per runner to learn its id;
//! * `metadata`: the `/metadata` answer;
//! * `error`: why a request was refused, and with which status.
//!
//! # Examples
//!
//! ```
//! use runner_tokio::{http, serde_json, serverless, Body, Handler};
//!
//! struct Counter;
//! impl Handler for Counter {}
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! // Everything but endpoint, namespace, runner name, slots and token (those
//! // come with each /start) is set on the builder as for any runner.
//! let template = runner_tokio::builder().actor_name("counter", serde_json::json!({}));
//! let serverless = serverless::builder(template).max_runners(8).build(Counter)?;
//!
//! let metadata = serverless.call(http::Request::get("/api/rivet/metadata").body(())?);
//! assert_eq!(metadata.status(), 200);
//! let json = Body::new(metadata.into_body()).collect(1 << 20).await?;
//! let json: serde_json::Value = serde_json::from_slice(&json)?;
//! assert_eq!(json["runtime"], "rivetkit");
//! assert!(json["actorNames"]["counter"].is_object());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod body;
mod error;
mod headers;
mod metadata;
#[cfg(feature = "tower")]
mod tower;
mod tracked;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::channel::oneshot;
use http::{HeaderName, HeaderValue, Method, Response, header};

use super::{BuildError, Builder, Handler, RunnerHandle, Runtime};
use crate::ShutdownMode;
use body::{EventStream, RunnerEnd, StreamParts};
use headers::StartHeaders;

pub use body::ServerlessBody;
pub use error::StartError;

/// Settings of a [`Serverless`] endpoint; from [`Serverless::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use runner_tokio::{http, serverless, Handler};
///
/// struct Idle;
/// impl Handler for Idle {}
///
/// let serverless = serverless::builder(runner_tokio::builder())
///     .base_path("/rivet")
///     .max_runners(4)
///     .ping_interval(Duration::from_millis(500))
///     .connect_timeout(Duration::from_secs(10))
///     .shared_secret(http::HeaderName::from_static("x-endpoint-secret"), "s3cret")
///     .build(Idle)?;
/// assert_eq!(serverless.running(), 0);
/// # Ok::<(), runner_tokio::BuildError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ServerlessBuilder<R> {
    template: Builder<R>,
    base_path: String,
    max_runners: usize,
    ping_interval: Duration,
    connect_timeout: Duration,
    secret: Option<(HeaderName, String)>,
    version: String,
}

impl<R: Runtime> ServerlessBuilder<R> {
    /// The path the routes hang under (default `/api/rivet`: the engine's
    /// serverless URL is `http://host:port/api/rivet`). A trailing `/` is
    /// ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{http, serverless, Handler};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// let serverless = serverless::builder(runner_tokio::builder()).base_path("/").build(Idle)?;
    /// let metadata = serverless.call(http::Request::get("/metadata").body(())?);
    /// assert_eq!(metadata.status(), 200);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn base_path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.base_path = path.trim_end_matches('/').to_owned();
        self
    }

    /// At most this many runners at once (default 64); a `/start` past it
    /// is refused with [`StartError::TooManyRunners`] (503) and the engine
    /// retries later. Each runner holds a WebSocket and its actors.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{http, serverless, Handler};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// let serverless = serverless::builder(runner_tokio::builder()).max_runners(1).build(Idle)?;
    /// assert_eq!(serverless.running(), 0);
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// ```
    pub fn max_runners(mut self, max: usize) -> Self {
        self.max_runners = max;
        self
    }

    /// How often a running start stream sends `event: ping` (default 1 s).
    /// The engine ignores pings; they keep proxies from closing an idle
    /// stream, and a write to a gone client is how the server notices it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runner_tokio::{serverless, Handler};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// let serverless = serverless::builder(runner_tokio::builder())
    ///     .ping_interval(Duration::from_secs(5))
    ///     .build(Idle)?;
    /// # let _ = serverless;
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// ```
    pub fn ping_interval(mut self, every: Duration) -> Self {
        self.ping_interval = every;
        self
    }

    /// How long a started runner may take to connect (default 15 s). Past
    /// it the runner is stopped and its stream ends, so an unreachable
    /// endpoint leaves nothing running and the engine retries.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runner_tokio::{serverless, Handler};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// let serverless = serverless::builder(runner_tokio::builder())
    ///     .connect_timeout(Duration::from_secs(30))
    ///     .build(Idle)?;
    /// # let _ = serverless;
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Refuses every request (401) whose header `name` is not `value`: put
    /// the same header in the serverless config's `headers`, which the
    /// engine sends with every call, so that only it can start runners.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{http, serverless, Handler};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// let name = http::HeaderName::from_static("x-endpoint-secret");
    /// let serverless = serverless::builder(runner_tokio::builder())
    ///     .shared_secret(name, "s3cret")
    ///     .build(Idle)?;
    /// let anonymous = serverless.call(http::Request::get("/api/rivet/metadata").body(())?);
    /// assert_eq!(anonymous.status(), 401);
    /// let engine = http::Request::get("/api/rivet/metadata").header("x-endpoint-secret", "s3cret");
    /// assert_eq!(serverless.call(engine.body(())?).status(), 200);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shared_secret(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.secret = Some((name, value.into()));
        self
    }

    /// The `version` the metadata reports (default: this crate's version).
    /// The engine requires a non-empty one.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{http, serverless, Handler};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// let serverless = serverless::builder(runner_tokio::builder()).version("my-app 1.2").build(Idle)?;
    /// # let _ = serverless;
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// ```
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// The endpoint, serving `handler` in every runner it starts.
    ///
    /// The template builder is checked here as a runner would be (with a
    /// placeholder endpoint and runner name), so a bad setting fails now,
    /// not at the first `/start`.
    ///
    /// # Errors
    ///
    /// What [`Builder::build`] refuses in the template; an empty
    /// [`version`](Self::version) is [`BuildError::Config`] with
    /// `ConfigError::Empty("version")`.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{BuildError, Handler, serde_json::json, serverless};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// let bad = runner_tokio::builder().metadata(json!([1]));
    /// let refused = serverless::builder(bad).build(Idle).unwrap_err();
    /// assert_eq!(refused, BuildError::NotAnObject("runner metadata"));
    /// ```
    pub fn build<H: Handler>(self, handler: H) -> Result<Serverless<R, H>, BuildError> {
        if self.version.trim().is_empty() {
            return Err(crate::ConfigError::Empty("version").into());
        }
        struct Check;
        impl Handler for Check {}
        let check = self
            .template
            .clone()
            .endpoint("http://127.0.0.1")
            .runner_name("check");
        drop(check.build(Check)?);
        Ok(Serverless {
            shared: Arc::new(Shared {
                settings: self,
                handler: Arc::new(handler),
                live: Mutex::new(Live::default()),
            }),
        })
    }
}

/// The serverless endpoint: starts one runner per `/start`, answers
/// `/metadata`. Cheap to clone (all clones are the same endpoint).
///
/// Mount it in an HTTP server by handing it each request: [`call`](Self::call)
/// answers at once (the `/start` body then streams as long as its runner
/// runs). The runtime `R` spawns the runners, so the HTTP server may run on
/// any executor. A process shutting down calls [`shutdown`](Self::shutdown).
///
/// The one handler serves every runner: its actor callbacks see the actors
/// of all of them, and `on_connected`, `on_disconnected` and `on_shutdown`
/// come once per runner (with that runner's id, close, end).
///
/// # Examples
///
/// A `/start` starts a runner at once; its body streams the init packet
/// when the runner has connected to the engine (here there is none):
///
/// ```
/// use runner_tokio::{http, serverless, Handler, ShutdownMode};
///
/// struct Idle;
/// impl Handler for Idle {}
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let endpoint = serverless::builder(runner_tokio::builder()).build(Idle)?;
/// let start = http::Request::get("/api/rivet/start")
///     .header("x-rivet-endpoint", "http://127.0.0.1:1/") // no engine here
///     .header("x-rivet-total-slots", "1")
///     .header("x-rivet-runner-name", "counter")
///     .header("x-rivet-namespace-name", "default")
///     .body(())?;
/// let events = endpoint.call(start);
/// assert_eq!(events.status(), 200);
/// assert_eq!(endpoint.running(), 1);
/// endpoint.shutdown(ShutdownMode::Immediate).await;
/// assert_eq!(endpoint.running(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Serverless<R, H> {
    shared: Arc<Shared<R, H>>,
}

impl<R, H> Clone for Serverless<R, H> {
    fn clone(&self) -> Self {
        Serverless {
            shared: self.shared.clone(),
        }
    }
}

impl<R, H> std::fmt::Debug for Serverless<R, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serverless")
            .field("base_path", &self.shared.settings.base_path)
            .field("max_runners", &self.shared.settings.max_runners)
            .finish_non_exhaustive()
    }
}

struct Shared<R, H> {
    settings: ServerlessBuilder<R>,
    handler: Arc<H>,
    live: Mutex<Live>,
}

/// The runners running, bounded by `max_runners`.
#[derive(Default)]
struct Live {
    next_id: u64,
    runners: HashMap<u64, RunnerHandle>,
    closed: bool,
    /// Told when the last runner ended (for [`Serverless::shutdown`]).
    idle: Vec<oneshot::Sender<()>>,
}

impl<R: Runtime> Serverless<R, ()> {
    /// Settings for an endpoint whose runners are built from `template`:
    /// every setting of the template applies to each runner (timeouts,
    /// limits, actor names, protocol version, a token for when the engine
    /// sends none), except endpoint, namespace, runner name, total slots and
    /// token, which each `/start` brings, and signals, which the runners
    /// leave to the process (see [`shutdown`](Serverless::shutdown)).
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{http, serverless, Handler};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// let template = runner_tokio::builder().token("dev").version(2);
    /// let serverless = serverless::builder(template).build(Idle)?;
    /// # let _ = serverless;
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// ```
    pub fn builder(template: Builder<R>) -> ServerlessBuilder<R> {
        ServerlessBuilder {
            template,
            base_path: "/api/rivet".into(),
            max_runners: 64,
            ping_interval: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(15),
            secret: None,
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

impl<R: Runtime, H: Handler> Serverless<R, H> {
    /// Answers one request; the body of a `/start` answer streams for as
    /// long as its runner runs. The request's body is not read.
    ///
    /// | request | answer |
    /// |---|---|
    /// | `GET <base>/metadata` | 200 JSON |
    /// | `GET <base>/start` | 200 `text/event-stream`, a runner started |
    /// | refused (see [`StartError`]) | its status, the reason as text |
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{http, serverless, Handler};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// let serverless = serverless::builder(runner_tokio::builder()).build(Idle)?;
    /// let call = |method: &str, path: &str| {
    ///     let request = http::Request::builder().method(method).uri(path).body(()).unwrap();
    ///     serverless.call(request).status().as_u16()
    /// };
    /// assert_eq!(call("GET", "/api/rivet/metadata"), 200);
    /// assert_eq!(call("POST", "/api/rivet/start"), 405);
    /// assert_eq!(call("GET", "/api/rivet/other"), 404);
    /// assert_eq!(call("GET", "/api/rivet/start"), 400); // no x-rivet-* headers
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// ```
    pub fn call<B>(&self, request: http::Request<B>) -> Response<ServerlessBody> {
        match self.route(request.method(), request.uri().path(), request.headers()) {
            Ok(response) => response,
            Err(refused) => {
                tracing::info!(%refused, "serverless request refused");
                refusal(&refused)
            }
        }
    }

    /// How many runners are running.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{http, serverless, Handler};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// let serverless = serverless::builder(runner_tokio::builder()).build(Idle)?;
    /// assert_eq!(serverless.running(), 0);
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// ```
    pub fn running(&self) -> usize {
        self.live().runners.len()
    }

    /// Refuses new `/start`s (503 [`StartError::ShuttingDown`]), shuts every
    /// runner down in `mode` and returns once all of them have ended; their
    /// streams then end. For a process's SIGTERM: `Graceful`.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{http, serverless, Handler, ShutdownMode};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let serverless = serverless::builder(runner_tokio::builder()).build(Idle)?;
    /// serverless.shutdown(ShutdownMode::Graceful).await;
    /// let start = serverless.call(http::Request::get("/api/rivet/start").body(())?);
    /// assert_eq!(start.status(), 503);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn shutdown(&self, mode: ShutdownMode) {
        let handles: Vec<RunnerHandle> = {
            let mut live = self.live();
            live.closed = true;
            live.runners.values().cloned().collect()
        };
        futures::future::join_all(handles.iter().map(|h| h.shutdown(mode))).await;
        let idle = {
            let mut live = self.live();
            if live.runners.is_empty() {
                return;
            }
            let (tx, rx) = oneshot::channel();
            live.idle.push(tx);
            rx
        };
        let _ = idle.await;
    }

    fn live(&self) -> MutexGuard<'_, Live> {
        // A panic while holding it leaves consistent data: keep going.
        self.shared.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn route(
        &self,
        method: &Method,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Result<Response<ServerlessBody>, StartError> {
        let settings = &self.shared.settings;
        let route = path
            .strip_prefix(settings.base_path.as_str())
            .ok_or(StartError::NotFound)?;
        if route != "/start" && route != "/metadata" {
            return Err(StartError::NotFound);
        }
        if method != Method::GET {
            return Err(StartError::MethodNotAllowed);
        }
        self.authorize(headers)?;
        if route == "/metadata" {
            return Ok(self.metadata());
        }
        if self.live().closed {
            return Err(StartError::ShuttingDown);
        }
        self.start(StartHeaders::parse(headers)?)
    }

    fn authorize(&self, headers: &http::HeaderMap) -> Result<(), StartError> {
        let Some((name, expected)) = &self.shared.settings.secret else {
            return Ok(());
        };
        let given = headers.get(name).map(HeaderValue::as_bytes).unwrap_or(b"");
        if !constant_time_eq(given, expected.as_bytes()) {
            return Err(StartError::Unauthorized);
        }
        Ok(())
    }

    fn metadata(&self) -> Response<ServerlessBody> {
        let settings = &self.shared.settings;
        let config = settings.template.template_config();
        let json = metadata::metadata_json(
            &settings.version,
            config.version,
            &config.prepopulate_actor_names,
        );
        let mut response = Response::new(ServerlessBody::whole(json));
        let content_type = HeaderValue::from_static("application/json");
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
        response
    }

    /// Builds the runner, takes a place under the bound, spawns it and
    /// answers with its stream.
    fn start(&self, start: StartHeaders) -> Result<Response<ServerlessBody>, StartError> {
        let settings = &self.shared.settings;
        let rt = settings.template.template_runtime().clone();
        let version = settings.template.template_config().protocol_version;
        let (handler, connected) = tracked::tracked(self.shared.handler.clone());
        let mut builder = settings
            .template
            .clone()
            .endpoint(start.endpoint)
            .namespace(start.namespace)
            .runner_name(start.runner_name)
            .total_slots(start.total_slots)
            .handle_signals(false);
        if let Some(token) = start.token {
            builder = builder.token(token);
        }
        let runner = builder.build(handler).map_err(StartError::Config)?;
        let handle = runner.handle();
        let id = self.admit(handle.clone())?;
        let (stream, end) = EventStream::new(StreamParts {
            runtime: rt.clone(),
            handle,
            version,
            ping_interval: settings.ping_interval,
            connect_timeout: settings.connect_timeout,
            connected,
        });
        let this = self.clone();
        rt.spawn(Box::pin(async move {
            let reason = runner.run().await;
            tracing::info!(?reason, "serverless runner ended");
            this.release(id, end);
        }));
        Ok(event_stream_response(stream))
    }

    /// Registers a runner if the bound allows it.
    fn admit(&self, handle: RunnerHandle) -> Result<u64, StartError> {
        let max = self.shared.settings.max_runners;
        let mut live = self.live();
        if live.closed {
            return Err(StartError::ShuttingDown);
        }
        if live.runners.len() >= max {
            return Err(StartError::TooManyRunners { max });
        }
        let id = live.next_id;
        live.next_id += 1;
        live.runners.insert(id, handle);
        Ok(id)
    }

    /// A runner ended: its place is free, its stream ends.
    fn release(&self, id: u64, end: RunnerEnd) {
        let idle = {
            let mut live = self.live();
            live.runners.remove(&id);
            if live.runners.is_empty() {
                std::mem::take(&mut live.idle)
            } else {
                Vec::new()
            }
        };
        end.finish();
        for tx in idle {
            let _ = tx.send(());
        }
    }
}

fn event_stream_response(stream: EventStream) -> Response<ServerlessBody> {
    let mut response = Response::new(ServerlessBody::events(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn refusal(refused: &StartError) -> Response<ServerlessBody> {
    let mut response = Response::new(ServerlessBody::whole(refused.to_string()));
    *response.status_mut() = refused.status();
    let content_type = HeaderValue::from_static("text/plain; charset=utf-8");
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
}

/// Compares without stopping at the first difference, so the time taken
/// does not tell how much of a guessed secret was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
