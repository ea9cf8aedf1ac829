//! The trait actor code implements.

use std::future::Future;

use bytes::Bytes;

use super::body::Body;
use super::context::ActorContext;
use super::runtime::BoxError;
use super::websocket::WebSocketRequest;
use crate::{RequestKey, StopReason};

/// An HTTP request for an actor, as `http` types.
///
/// # Examples
///
/// ```
/// use runner_tokio::{http, Body, Request};
///
/// let request: Request = http::Request::builder()
///     .method("POST")
///     .uri("/counter/increment")
///     .body(Body::from("1"))?;
/// assert_eq!(request.uri().path(), "/counter/increment");
/// # Ok::<(), http::Error>(())
/// ```
pub type Request = http::Request<Body>;
/// An HTTP response.
///
/// # Examples
///
/// ```
/// use runner_tokio::{http, Body, Response};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let response: Response = http::Response::builder()
///     .status(201)
///     .header("content-type", "text/plain")
///     .body(Body::from("created"))?;
/// assert_eq!(response.status(), http::StatusCode::CREATED);
/// assert_eq!(&response.into_body().collect(1024).await?[..], b"created");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub type Response = http::Response<Body>;

/// What the engine said about an actor it starts.
///
/// # Examples
///
/// ```
/// use runner_tokio::{serde_json, ActorInfo};
///
/// /// The room size a chat actor was created with (its input is JSON).
/// fn capacity(info: &ActorInfo) -> u64 {
///     let input: serde_json::Value =
///         serde_json::from_slice(info.input.as_deref().unwrap_or(b"{}")).unwrap_or_default();
///     input["capacity"].as_u64().unwrap_or(10)
/// }
///
/// let info = ActorInfo {
///     name: "chat".into(),
///     key: Some("room-1".into()),
///     create_ts: 1_700_000_000_000,
///     input: Some(r#"{"capacity":50}"#.into()),
///     hibernating: Vec::new(),
/// };
/// assert_eq!(capacity(&info), 50);
/// ```
#[derive(Debug, Clone)]
pub struct ActorInfo {
    /// Actor name.
    pub name: String,
    /// Actor key, if any.
    pub key: Option<String>,
    /// Creation time, Unix epoch milliseconds.
    pub create_ts: i64,
    /// Input given at creation.
    pub input: Option<Bytes>,
    /// Hibernated WebSockets the gateway kept for this actor: restore them
    /// with [`ActorContext::restore_websockets`].
    pub hibernating: Vec<RequestKey>,
}

/// Actor code. Every method has a default, so implement only what you need.
///
/// Many requests of one actor run concurrently, and a panic in one becomes
/// an error for that call only (a 500, a closed socket, a failed start) —
/// the runner carries on.
///
/// # Where handlers run
///
/// `on_request` and `on_websocket` run, by default, on the runner's event
/// loop: its task polls them itself, as the TypeScript runner runs
/// everything on Node's one thread. That is what makes a request or a
/// message cheap (no task to spawn, no other thread to wake), and it means
/// handlers of all actors take turns on one thread: code between two
/// `.await`s holds up every actor and the connection's own work, so it must
/// not block (no blocking I/O, no `std::thread::sleep`, no lock held
/// elsewhere for long) nor compute for long — hand that to
/// `spawn_blocking` or a task of your own
/// ([`ActorContext::spawn`]). A runner whose handlers compute can run each
/// on a task of its own instead, in parallel on a multi-threaded runtime:
/// [`Builder::spawn_handlers`](super::Builder::spawn_handlers).
/// `on_actor_start` and `on_actor_stop` always run as tasks of their own.
///
/// # What runs concurrently, and what does not
///
/// - `on_actor_start` runs alone: the actor's requests and new WebSockets
///   wait until it has returned. State it gives the actor with
///   [`ActorContext::set_state`] is seen by every later call. The one
///   exception: sockets it restores with
///   [`ActorContext::restore_websockets`] reach `on_websocket` at once,
///   while the start is still running — set the state before restoring.
/// - Requests and WebSockets of one actor run concurrently with each other,
///   and so do different actors. KV has no compare-and-swap: a
///   read-modify-write of a key (a counter) loses updates unless a lock
///   serialises it — keep one in the actor's state (an async lock such as
///   `tokio::sync::Mutex` when it is held across an `.await`), as the
///   README's counter does.
/// - `on_actor_stop` starts once the engine stops the actor; requests
///   still running may finish meanwhile (up to the stop timeout). The
///   hooks `on_connected`, `on_disconnected` and `on_shutdown` run on the
///   event loop itself, one at a time.
///
/// # What the protocol cannot carry
///
/// The engine's tunnel is not plain HTTP; two things users reach for do not
/// go through it as they would over a socket:
///
/// - **No response streaming.** The response body is read whole (up to
///   `Limits::max_tunnel_payload`, 20 MiB with the engine's default; past
///   it the client gets a 500) and sent as one message: the gateway ignores
///   chunks, so a body that trickles out (server-sent events, progress)
///   arrives all at once at its end, or times out. Use a WebSocket for data
///   that comes bit by bit; for large downloads, answer with a redirect to
///   where the file is stored.
/// - **One value per header name.** Repeated response headers are joined
///   into one value with `", "` (values that are not UTF-8 are dropped).
///   That is right for most headers but not `Set-Cookie`: two cookies
///   become one header that browsers read as a single broken cookie. Set
///   one cookie per response (e.g. one session cookie holding what you
///   need, or the others on later responses).
///
/// ```
/// use runner_tokio::{http, ActorContext, Handler, Request, Response};
///
/// struct TwoCookies;
///
/// impl Handler for TwoCookies {
///     async fn on_request(&self, _actor: ActorContext, _request: Request) -> Response {
///         http::Response::builder()
///             .header("set-cookie", "a=1")
///             .header("set-cookie", "b=2") // joined with the first: avoid
///             .body("".into())
///             .unwrap()
///     }
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let kit = runner_tokio::testing::start(TwoCookies).await;
/// let actor = kit.start_actor("cookies").await?;
/// let response = kit.request(&actor, http::Request::get("/").body("")?).await;
/// let cookies: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
/// assert_eq!(cookies, ["a=1, b=2"]); // what the client gets: one header
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// # Examples
///
/// ```no_run
/// use runner_tokio::{ActorContext, Handler, Request, Response};
///
/// struct Hello;
///
/// impl Handler for Hello {
///     async fn on_request(&self, actor: ActorContext, request: Request) -> Response {
///         Response::new(format!("hello from {} at {}", actor.actor_id(), request.uri()).into())
///     }
/// }
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Starts an actor. An error (or a panic) stops it with code `ERROR`, so
    /// the engine applies its crash policy. Requests wait until this returns.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, ActorInfo, BoxError, Handler};
    ///
    /// struct Counter;
    ///
    /// impl Handler for Counter {
    ///     async fn on_actor_start(&self, actor: ActorContext, info: ActorInfo) -> Result<(), BoxError> {
    ///         if actor.kv_get_one("input").await?.is_none() {
    ///             // First start: keep what the actor was created with.
    ///             actor.kv_put([("input", info.input.unwrap_or_default())]).await?;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// ```
    fn on_actor_start(
        &self,
        actor: ActorContext,
        info: ActorInfo,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = (actor, info);
        async { Ok(()) }
    }

    /// Stops an actor. After this returns, the actor is reported stopped once
    /// its requests still running are answered and its (not hibernatable)
    /// WebSockets closed; what is left at the stop timeout is cancelled.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, StopReason};
    ///
    /// struct Counter;
    ///
    /// impl Handler for Counter {
    ///     async fn on_actor_stop(&self, actor: ActorContext, reason: StopReason) {
    ///         // Best effort: the actor is stopping whatever happens.
    ///         let _ = actor.kv_put([("last_stop", format!("{reason:?}"))]).await;
    ///     }
    /// }
    /// ```
    fn on_actor_stop(
        &self,
        actor: ActorContext,
        reason: StopReason,
    ) -> impl Future<Output = ()> + Send {
        let _ = (actor, reason);
        async {}
    }

    /// Serves an HTTP request. The response body is read whole before it is
    /// sent (the gateway takes one response message: no streaming), and
    /// repeated response headers become one comma-joined value (so at most
    /// one `Set-Cookie`): see "What the protocol cannot carry" above.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{http, ActorContext, Body, Handler, Request, Response};
    ///
    /// struct Named;
    ///
    /// impl Handler for Named {
    ///     async fn on_request(&self, actor: ActorContext, request: Request) -> Response {
    ///         match request.uri().path() {
    ///             "/name" => Response::new(actor.name().to_owned().into()),
    ///             _ => http::Response::builder().status(404).body(Body::empty()).unwrap(),
    ///         }
    ///     }
    /// }
    /// ```
    fn on_request(
        &self,
        actor: ActorContext,
        request: Request,
    ) -> impl Future<Output = Response> + Send {
        let _ = (actor, request);
        async {
            let mut response = Response::new(Body::from("not found"));
            *response.status_mut() = http::StatusCode::NOT_FOUND;
            response
        }
    }

    /// Handles a WebSocket: accept or reject the request, then talk.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, Message, WebSocketRequest};
    ///
    /// struct Echo;
    ///
    /// impl Handler for Echo {
    ///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
    ///         if socket.path() != "/echo" {
    ///             let _ = socket.reject(1008, "unknown path").await;
    ///             return;
    ///         }
    ///         let Ok(mut ws) = socket.accept(false).await else { return };
    ///         while let Some(Message::Text(text)) = ws.recv().await {
    ///             if ws.send(text).await.is_err() {
    ///                 break;
    ///             }
    ///         }
    ///     }
    /// }
    /// ```
    fn on_websocket(
        &self,
        actor: ActorContext,
        socket: WebSocketRequest,
    ) -> impl Future<Output = ()> + Send {
        let _ = actor;
        async move {
            let _ = socket.reject(1011, "websockets not supported").await;
        }
    }

    /// The engine accepted the runner.
    ///
    /// Runs on the event loop itself: it must return quickly and never
    /// block (no I/O, no waiting on a lock held elsewhere); spawn anything
    /// longer. A panic in it is caught and logged at error level, and the
    /// runner goes on.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::Mutex;
    /// use runner_tokio::Handler;
    ///
    /// #[derive(Default)]
    /// struct Tracked {
    ///     runner_id: Mutex<Option<String>>,
    /// }
    ///
    /// impl Handler for Tracked {
    ///     fn on_connected(&self, runner_id: &str) {
    ///         *self.runner_id.lock().unwrap() = Some(runner_id.to_owned());
    ///     }
    /// }
    /// ```
    fn on_connected(&self, runner_id: &str) {
        let _ = runner_id;
    }

    /// The connection to the engine ended (the runner reconnects by itself).
    /// `code` is the close code received, `None` when the connection ended
    /// without a close frame (WebSocket's 1006, "abnormal closure").
    ///
    /// Runs on the event loop itself: it must return quickly and never
    /// block (no I/O, no waiting on a lock held elsewhere); spawn anything
    /// longer. A panic in it is caught and logged at error level, and the
    /// runner goes on.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use runner_tokio::Handler;
    ///
    /// #[derive(Default)]
    /// struct Tracked {
    ///     disconnections: AtomicU32,
    /// }
    ///
    /// impl Handler for Tracked {
    ///     fn on_disconnected(&self, code: Option<u16>, reason: &str) {
    ///         self.disconnections.fetch_add(1, Ordering::Relaxed);
    ///         eprintln!("engine connection lost ({code:?} {reason}); reconnecting");
    ///     }
    /// }
    /// ```
    fn on_disconnected(&self, code: Option<u16>, reason: &str) {
        let _ = (code, reason);
    }

    /// A connection attempt failed before the WebSocket opened (the engine
    /// unreachable, refused, a TLS failure, no answer within
    /// `timeouts.connect`); the runner retries with backoff. With
    /// [`on_connected`](Self::on_connected) (the engine accepted the
    /// runner) and [`on_disconnected`](Self::on_disconnected) (a connection
    /// that opened ended, a refused handshake included), every attempt's
    /// outcome is reported, the first one's too.
    ///
    /// Runs on the event loop itself: it must return quickly and never
    /// block. A panic in it is caught and logged at error level.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tokio::sync::mpsc;
    /// use runner_tokio::{Handler, ShutdownMode};
    ///
    /// struct Tracked {
    ///     failures: mpsc::UnboundedSender<String>,
    /// }
    ///
    /// impl Handler for Tracked {
    ///     fn on_connect_failed(&self, reason: &str) {
    ///         let _ = self.failures.send(reason.to_owned());
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (failures, mut failed) = mpsc::unbounded_channel();
    /// let runner = runner_tokio::builder()
    ///     .endpoint("http://127.0.0.1:1") // no engine here
    ///     .runner_name("r")
    ///     .handle_signals(false)
    ///     .build(Tracked { failures })?;
    /// let handle = runner.handle();
    /// let running = tokio::spawn(runner.run());
    /// // The first attempt's outcome is reported, too:
    /// let reason = failed.recv().await.unwrap();
    /// assert!(!reason.is_empty());
    /// handle.shutdown(ShutdownMode::Immediate).await;
    /// running.await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    fn on_connect_failed(&self, reason: &str) {
        let _ = reason;
    }

    /// The runner has shut down. It is called last: after every
    /// [`on_actor_stop`](Self::on_actor_stop) has returned (waiting at most
    /// the stop timeout for them), on an immediate shutdown too.
    ///
    /// Runs on the event loop itself: it must return quickly and never
    /// block (no I/O, no waiting on a lock held elsewhere); spawn anything
    /// longer. A panic in it is caught and logged at error level, and the
    /// runner goes on.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use runner_tokio::Handler;
    ///
    /// struct Flag(Arc<AtomicBool>);
    ///
    /// impl Handler for Flag {
    ///     fn on_shutdown(&self) {
    ///         self.0.store(true, Ordering::SeqCst);
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let done = Arc::new(AtomicBool::new(false));
    /// let kit = runner_tokio::testing::start(Flag(done.clone())).await;
    /// kit.shutdown().await;
    /// assert!(done.load(Ordering::SeqCst));
    /// # });
    /// ```
    fn on_shutdown(&self) {}
}

#[cfg(test)]
mod tests {
    /// The hooks (`fn name`) defined in the first `header { … }` block of
    /// `source`, doc comments skipped.
    fn hooks_in(source: &str, header: &str) -> Vec<String> {
        let start = source.find(header).expect("block present");
        let mut names = Vec::new();
        for line in source[start..].lines().skip(1) {
            if line == "}" {
                break;
            }
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if let Some(rest) = code.strip_prefix("fn ") {
                names.push(rest.split(['(', '<']).next().unwrap_or("").to_owned());
            }
        }
        names.sort();
        names
    }

    /// The host's wrapper around a user's handler (`Forward`, behind the
    /// serverless endpoint's `Tracked` and the test kit's `Observed`) must
    /// forward every hook: a default method it does not override silently
    /// swallows the user's (a hand-written wrapper once dropped
    /// `on_connect_failed`, added after it). A hook added to `Handler`
    /// fails this test until `Forward` forwards it, and the two users of
    /// `Forward` may not wrap a handler by hand again.
    #[test]
    fn the_wrapper_forwards_every_handler_hook() {
        let hooks = hooks_in(include_str!("handler.rs"), "pub trait Handler");
        assert!(hooks.len() >= 8, "hooks found: {hooks:?}");
        let header = "impl<H: Handler, O: Observer> Handler for";
        let forwarded = hooks_in(include_str!("forward.rs"), header);
        assert_eq!(
            forwarded, hooks,
            "forward.rs does not forward every Handler hook"
        );
        let users = [
            include_str!("serverless/tracked.rs"),
            include_str!("testkit/observed.rs"),
        ];
        for source in users {
            assert!(
                !source.contains("Handler for"),
                "a hand-written wrapper again"
            );
        }
    }
}
