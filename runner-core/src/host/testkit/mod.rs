//! A test kit for handlers: runs the user's [`Handler`] on the user's
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
//! Not modelled (use `host::testing::MemoryRuntime` and play the engine
//! for these): hibernating WebSockets across a sleep (a socket's actor that
//! sleeps closes it), KV metadata and the engine's own limits, engine
//! restarts and reconnects, runner protocol versions other than the one
//! the runner asks for (it is answered in that one).
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

mod engine;
mod kv;
mod observed;
mod runtime;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures::future::{Either, FutureExt};

use self::engine::{Answer, Engine, Phase};
pub use self::runtime::KitRuntime;
use super::builder::{BuildError, Builder};
use super::handle::RunnerHandle;
use super::handler::Handler;
use super::runtime::{ConnectRequest, Runtime};
use super::websocket::{CloseFrame, Message};
use crate::protocol::{
    ActorConfig, BareMap, GatewayId, RequestId, ToClientRequestStart, ToClientTunnelMessageKind,
    ToClientWebSocketClose, ToClientWebSocketOpen, ToServerInit, WebSocketMessage,
};
use crate::{RequestKey, ShutdownMode};

/// The longest any wait of the kit lasts, on the runtime's clock, before it
/// panics naming what it waited for.
pub const WAIT_BOUND: Duration = Duration::from_secs(60);

/// Something that happened to an actor, as the engine saw it, in order.
///
/// # Examples
///
/// ```
/// use runner_tokio::testing::LifecycleEvent;
///
/// let started = LifecycleEvent::Started { actor_id: "actor-1".into(), generation: 0 };
/// assert_eq!(started.actor_id(), "actor-1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifecycleEvent {
    /// `on_actor_start` returned `Ok`: the actor runs.
    Started {
        /// Actor id.
        actor_id: String,
        /// Generation (0 first, one more at every wake).
        generation: u32,
    },
    /// The actor stopped; `error` when its start failed or it crashed.
    Stopped {
        /// Actor id.
        actor_id: String,
        /// Generation.
        generation: u32,
        /// The error message of a failed start or a crash.
        error: Option<String>,
    },
    /// The actor asked to sleep ([`ActorContext::sleep`](super::ActorContext::sleep)).
    SleepRequested {
        /// Actor id.
        actor_id: String,
        /// Generation.
        generation: u32,
    },
    /// The actor asked to stop ([`ActorContext::stop`](super::ActorContext::stop)).
    StopRequested {
        /// Actor id.
        actor_id: String,
        /// Generation.
        generation: u32,
    },
    /// The actor set (`Some`, Unix ms) or cleared (`None`) its alarm.
    AlarmSet {
        /// Actor id.
        actor_id: String,
        /// Generation.
        generation: u32,
        /// When the alarm fires, Unix epoch milliseconds.
        at_ms: Option<i64>,
    },
}

impl LifecycleEvent {
    /// The actor it happened to.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::testing::LifecycleEvent;
    ///
    /// let alarm = LifecycleEvent::AlarmSet { actor_id: "a".into(), generation: 0, at_ms: Some(5) };
    /// assert_eq!(alarm.actor_id(), "a");
    /// ```
    pub fn actor_id(&self) -> &str {
        match self {
            LifecycleEvent::Started { actor_id, .. }
            | LifecycleEvent::Stopped { actor_id, .. }
            | LifecycleEvent::SleepRequested { actor_id, .. }
            | LifecycleEvent::StopRequested { actor_id, .. }
            | LifecycleEvent::AlarmSet { actor_id, .. } => actor_id,
        }
    }
}

/// A runner serving a handler against an in-memory engine; see the
/// [module docs](self). Built by a driver's `testing::start`.
///
/// # Examples
///
/// ```
/// use runner_tokio::{ActorContext, ActorInfo, BoxError, Handler};
///
/// struct Refuses;
///
/// impl Handler for Refuses {
///     async fn on_actor_start(&self, _actor: ActorContext, _info: ActorInfo) -> Result<(), BoxError> {
///         Err("no config".into())
///     }
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let kit = runner_tokio::testing::start(Refuses).await;
/// assert_eq!(kit.start_actor("a").await.unwrap_err(), "no config");
/// # });
/// ```
pub struct TestKit<R> {
    rt: R,
    engine: Arc<Mutex<Engine>>,
    handle: RunnerHandle,
}

impl<R> std::fmt::Debug for TestKit<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestKit").finish_non_exhaustive()
    }
}

impl<R: Runtime> TestKit<R> {
    /// Runs `handler` on `runtime` (signals off) and waits until the
    /// runner is connected to the kit's engine. Drivers wrap it as
    /// `testing::start(handler)`.
    ///
    /// # Panics
    ///
    /// When the runner does not connect within [`WAIT_BOUND`].
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::testing::TestKit;
    /// use runner_tokio::{Handler, Tokio};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = TestKit::start(Tokio, Idle).await; // = runner_tokio::testing::start(Idle)
    /// assert!(kit.handle().is_connected());
    /// # });
    /// ```
    pub async fn start<H: Handler>(runtime: R, handler: H) -> Self {
        let kit = Self::start_with(runtime, handler, |builder| builder).await;
        kit.expect("the test kit's configuration is valid")
    }

    /// [`start`](Self::start), with the runner's builder first given to
    /// `configure` (limits, timeouts, protocol version, actor names…), set
    /// to the kit's defaults (endpoint `http://test-kit`, runner name
    /// `test-kit`, no signal handling) first. Whatever the endpoint, the
    /// runner reaches the kit's engine. A configuration that cannot work is
    /// the builder's error. Drivers wrap
    /// it as `testing::start_with(handler, configure)`.
    ///
    /// # Panics
    ///
    /// When the runner does not connect within [`WAIT_BOUND`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runner_tokio::{http, ActorContext, Handler, Request, Response};
    ///
    /// struct Slow;
    ///
    /// impl Handler for Slow {
    ///     async fn on_request(&self, _actor: ActorContext, _request: Request) -> Response {
    ///         tokio::time::sleep(Duration::from_secs(3600)).await;
    ///         Response::new("too late".into())
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let configure = |b: runner_tokio::testing::KitBuilder| b.request_timeout(Duration::from_millis(10));
    /// let kit = runner_tokio::testing::start_with(Slow, configure).await?;
    /// let actor = kit.start_actor("slow").await?;
    /// let response = kit.request(&actor, http::Request::get("/").body("")?).await;
    /// assert_eq!(response.status(), 504);
    /// assert!(kit.connects()[0].url.contains("protocol_version="));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn start_with<H: Handler>(
        runtime: R,
        handler: H,
        configure: impl FnOnce(Builder<KitRuntime<R>>) -> Builder<KitRuntime<R>>,
    ) -> Result<Self, BuildError> {
        let engine = Arc::new(Mutex::new(Engine::default()));
        let kit_runtime = KitRuntime {
            inner: runtime.clone(),
            engine: engine.clone(),
        };
        let defaults = Builder::new(kit_runtime)
            .endpoint("http://test-kit")
            .runner_name("test-kit")
            .handle_signals(false);
        let runner = configure(defaults).build(observed::Observed {
            inner: handler,
            engine: engine.clone(),
        })?;
        let handle = runner.handle();
        runtime.spawn(Box::pin(runner.run().map(drop)));
        let kit = TestKit {
            rt: runtime,
            engine,
            handle,
        };
        // Connected as the runner sees it, so `handle().is_connected()` holds.
        let ready = kit.handle.ready();
        if kit.bounded("the runner to connect", ready).await.is_none() {
            panic!("test kit: the runner shut down before it connected");
        }
        Ok(kit)
    }

    /// Every connect the runner asked for (URL, sub-protocols — the token
    /// among them), in order.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Idle;
    /// # impl Handler for Idle {}
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start_with(Idle, |b| b.namespace("games").token("dev")).await?;
    /// let connect = &kit.connects()[0];
    /// assert!(connect.url.contains("&namespace=games&"));
    /// assert_eq!(connect.subprotocols, ["rivet", "rivet_token.dev"]);
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub fn connects(&self) -> Vec<ConnectRequest> {
        self.engine.lock().unwrap().connects.clone()
    }

    /// The init message of the runner's latest connection (name, version,
    /// slots, metadata, actor names).
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Idle;
    /// # impl Handler for Idle {}
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start_with(Idle, |b| b.total_slots(8).version(3)).await?;
    /// let init = kit.init().unwrap();
    /// assert_eq!((init.total_slots, init.version), (8, 3));
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub fn init(&self) -> Option<ToServerInit> {
        self.engine.lock().unwrap().init.clone()
    }

    /// The runner's handle (state, shutdown).
    ///
    /// # Examples
    ///
    /// See [`start`](Self::start).
    pub fn handle(&self) -> &RunnerHandle {
        &self.handle
    }

    /// Waits until `check` finds what it looks for in the engine's state,
    /// at most [`WAIT_BOUND`].
    async fn until<T>(&self, what: &str, mut check: impl FnMut(&mut Engine) -> Option<T>) -> T {
        let found = futures::future::poll_fn(|cx| {
            let mut engine = self.engine.lock().unwrap();
            match check(&mut engine) {
                Some(found) => Poll::Ready(found),
                None => {
                    engine.wait(cx.waker());
                    Poll::Pending
                }
            }
        });
        self.bounded(what, found).await
    }

    /// `wait`, for at most [`WAIT_BOUND`].
    async fn bounded<T>(&self, what: &str, wait: impl std::future::Future<Output = T>) -> T {
        let bound = self.rt.sleep_until(self.rt.now() + WAIT_BOUND);
        match futures::future::select(Box::pin(wait), bound).await {
            Either::Left((found, _)) => found,
            Either::Right(_) => panic!("test kit: waited {WAIT_BOUND:?} for {what}"),
        }
    }

    /// Starts a new actor named `name` (no key, no input) and waits until
    /// its `on_actor_start` has returned: its id, or the start's error.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_tokio::Handler;
    /// # struct Idle;
    /// # impl Handler for Idle {}
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start(Idle).await;
    /// let actor = kit.start_actor("counter").await.unwrap();
    /// assert_eq!(actor, "actor-1");
    /// # });
    /// ```
    pub async fn start_actor(&self, name: &str) -> Result<String, String> {
        self.start_actor_with(name, None, None).await
    }

    /// [`start_actor`](Self::start_actor) with a key and an input.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{ActorContext, ActorInfo, BoxError, Handler};
    ///
    /// struct KeepsInput;
    ///
    /// impl Handler for KeepsInput {
    ///     async fn on_actor_start(&self, actor: ActorContext, info: ActorInfo) -> Result<(), BoxError> {
    ///         actor.kv_put([("input", info.input.unwrap_or_default())]).await?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start(KeepsInput).await;
    /// let actor = kit.start_actor_with("room", Some("r1"), Some("42".into())).await.unwrap();
    /// assert_eq!(kit.kv(&actor)[&b"input"[..]], "42");
    /// # });
    /// ```
    pub async fn start_actor_with(
        &self,
        name: &str,
        key: Option<&str>,
        input: Option<Bytes>,
    ) -> Result<String, String> {
        let id = {
            let mut engine = self.engine.lock().unwrap();
            let id = format!("actor-{}", engine.actors.len() + 1);
            let config = ActorConfig {
                name: name.into(),
                key: key.map(Into::into),
                create_ts: 0,
                input,
            };
            engine.start(&id, config, 0);
            id
        };
        self.started(&id).await.map(|()| id)
    }

    /// Waits until the current generation of `id` runs or has stopped.
    /// One that started and already asked to sleep (an alarm-driven job
    /// sleeps as soon as its start returns) started: `Ok`.
    async fn started(&self, id: &str) -> Result<(), String> {
        self.until("the actor to start", |e| match &e.actors.get(id)?.phase {
            Phase::Starting => e.actors[id].error.clone().map(Err),
            Phase::Running => Some(Ok(())),
            Phase::Stopping | Phase::Stopped
                if e.actors[id].asleep && e.actors[id].error.is_none() =>
            {
                Some(Ok(()))
            }
            Phase::Stopping | Phase::Stopped => Some(Err(e.actors[id]
                .error
                .clone()
                .unwrap_or_else(|| "stopped".into()))),
        })
        .await
    }

    /// Wakes `id` (a new generation) if it sleeps; waits until it runs.
    async fn wake(&self, id: &str) -> Result<(), String> {
        {
            let mut engine = self.engine.lock().unwrap();
            let Some(actor) = engine.actors.get(id) else {
                return Err(format!("no actor {id}"));
            };
            if actor.phase == Phase::Stopped && actor.asleep {
                let (config, generation) = (actor.config.clone(), actor.generation + 1);
                engine.start(id, config, generation);
            }
        }
        // A sleep asked for but not done yet: wait for the stop first.
        self.until("the actor to finish stopping", |e| {
            (e.actors.get(id)?.phase != Phase::Stopping).then_some(())
        })
        .await;
        let asleep = {
            let engine = self.engine.lock().unwrap();
            engine.actors[id].phase == Phase::Stopped && engine.actors[id].asleep
        };
        if asleep {
            return Box::pin(self.wake(id)).await;
        }
        self.started(id).await
    }

    /// Sends `request` to actor `id` through the kit's gateway and returns
    /// the response, its body read whole. A sleeping actor is woken first;
    /// a request to a stopped one is answered 503, as the gateway would.
    ///
    /// # Panics
    ///
    /// When no response comes within [`WAIT_BOUND`].
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{http, ActorContext, Handler, Request, Response};
    ///
    /// struct Echo;
    ///
    /// impl Handler for Echo {
    ///     async fn on_request(&self, _actor: ActorContext, request: Request) -> Response {
    ///         let body = request.into_body().collect(1 << 20).await.unwrap_or_default();
    ///         Response::new(body.into())
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start(Echo).await;
    /// let actor = kit.start_actor("echo").await?;
    /// let request = http::Request::post("/echo").header("x-id", "7").body("ping")?;
    /// assert_eq!(kit.request(&actor, request).await.body(), "ping");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn request(
        &self,
        id: &str,
        request: http::Request<impl Into<Bytes>>,
    ) -> http::Response<Bytes> {
        if let Err(stopped) = self.wake(id).await {
            let mut refused = http::Response::new(Bytes::from(stopped));
            *refused.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
            return refused;
        }
        let (parts, body) = request.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map_or("/".to_owned(), |p| p.as_str().to_owned());
        let start = ToClientRequestStart {
            actor_id: id.into(),
            method: parts.method.as_str().to_owned(),
            path,
            headers: headers(&parts.headers),
            body: Some(body.into()),
            stream: false,
        };
        let key = self.open(ToClientTunnelMessageKind::RequestStart(start), |e, key| {
            e.answers.insert(key, Answer::Waiting);
        });
        self.until("the response", |e| match e.answers.get(&key)? {
            Answer::Waiting | Answer::Streaming(_) => None,
            Answer::Done(_) | Answer::Aborted => e.answers.remove(&key),
        })
        .await
        .into_response()
    }

    /// Sends the first message of a new tunnelled request; `prepare`
    /// readies the engine for its answer first.
    fn open(
        &self,
        kind: ToClientTunnelMessageKind,
        prepare: impl FnOnce(&mut Engine, RequestKey),
    ) -> RequestKey {
        let mut engine = self.engine.lock().unwrap();
        engine.next_request += 1;
        let key = RequestKey::new(
            GatewayId([7; 4]),
            RequestId(engine.next_request.to_be_bytes()),
        );
        prepare(&mut engine, key);
        engine.send(&crate::testing::tunnel_message(key, 0, kind));
        key
    }

    /// Opens a WebSocket to actor `id` on `path` (waking it if it sleeps)
    /// and waits until the actor accepts it — or refuses it: then the
    /// close it sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{ActorContext, Handler, Message, WebSocketRequest};
    ///
    /// struct Echo;
    ///
    /// impl Handler for Echo {
    ///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
    ///         let Ok(mut ws) = socket.accept(false).await else { return };
    ///         while let Some(Message::Text(text)) = ws.recv().await {
    ///             let _ = ws.send(text).await;
    ///         }
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start(Echo).await;
    /// let actor = kit.start_actor("echo").await.unwrap();
    /// let mut ws = kit.websocket(&actor, "/ws").await.unwrap();
    /// ws.send(Message::Text("hi".into()));
    /// assert_eq!(ws.recv().await, Message::Text("hi".into()));
    /// # });
    /// ```
    pub async fn websocket(&self, id: &str, path: &str) -> Result<TestSocket<'_, R>, CloseFrame> {
        if let Err(stopped) = self.wake(id).await {
            return Err(CloseFrame {
                code: 1011,
                reason: stopped,
            });
        }
        let open = ToClientWebSocketOpen {
            actor_id: id.into(),
            path: path.into(),
            headers: BareMap::new(),
        };
        let key = self.open(ToClientTunnelMessageKind::WebSocketOpen(open), |e, key| {
            e.sockets.insert(key, Default::default());
        });
        let accepted = self
            .until("the socket to be accepted or refused", |e| {
                e.sockets.get(&key)?.accepted
            })
            .await;
        if accepted {
            return Ok(TestSocket { kit: self, key });
        }
        let engine = self.engine.lock().unwrap();
        let (code, reason) = engine.sockets[&key].closed.clone().unwrap_or_default();
        Err(CloseFrame {
            code: code.unwrap_or(1006),
            reason: reason.unwrap_or_default(),
        })
    }

    /// A copy of actor `id`'s KV store, in key order.
    ///
    /// # Examples
    ///
    /// See [`start_actor_with`](Self::start_actor_with).
    pub fn kv(&self, id: &str) -> BTreeMap<Bytes, Bytes> {
        let engine = self.engine.lock().unwrap();
        engine.kv.get(id).cloned().unwrap_or_default()
    }

    /// Every lifecycle event so far, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{ActorContext, Handler, Request, Response};
    /// use runner_tokio::testing::LifecycleEvent;
    ///
    /// struct Sleepy;
    ///
    /// impl Handler for Sleepy {
    ///     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
    ///         let _ = actor.sleep().await;
    ///         Response::new("good night".into())
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start(Sleepy).await;
    /// let actor = kit.start_actor("sleepy").await?;
    /// kit.request(&actor, runner_tokio::http::Request::post("/").body("")?).await;
    /// kit.wait_for(|e| matches!(e, LifecycleEvent::Stopped { .. })).await;
    /// // The next request wakes it: a new generation.
    /// kit.request(&actor, runner_tokio::http::Request::get("/").body("")?).await;
    /// assert_eq!(kit.events()[..3], [
    ///     LifecycleEvent::Started { actor_id: actor.clone(), generation: 0 },
    ///     LifecycleEvent::SleepRequested { actor_id: actor.clone(), generation: 0 },
    ///     LifecycleEvent::Stopped { actor_id: actor.clone(), generation: 0, error: None },
    /// ]);
    /// assert!(kit.events().contains(&LifecycleEvent::Started { actor_id: actor, generation: 1 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn events(&self) -> Vec<LifecycleEvent> {
        self.engine.lock().unwrap().events.clone()
    }

    /// Waits until a lifecycle event matching `wanted` has happened (at
    /// most [`WAIT_BOUND`]) and returns the first such.
    ///
    /// # Examples
    ///
    /// See [`events`](Self::events).
    pub async fn wait_for(
        &self,
        mut wanted: impl FnMut(&LifecycleEvent) -> bool,
    ) -> LifecycleEvent {
        self.until("a lifecycle event", |e| {
            e.events.iter().find(|ev| wanted(ev)).cloned()
        })
        .await
    }

    /// The alarm actor `id` set last (Unix ms), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{ActorContext, Handler, Request, Response};
    ///
    /// struct Reminder;
    ///
    /// impl Handler for Reminder {
    ///     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
    ///         let _ = actor.set_alarm(1_000).await;
    ///         let _ = actor.sleep().await;
    ///         Response::new("see you".into())
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start(Reminder).await;
    /// let actor = kit.start_actor("reminder").await?;
    /// kit.request(&actor, runner_tokio::http::Request::post("/").body("")?).await;
    /// assert_eq!(kit.alarm(&actor), Some(1_000));
    /// kit.fire_alarm(&actor).await?; // wakes it: generation 1 runs
    /// assert_eq!(kit.generation(&actor), Some(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn alarm(&self, id: &str) -> Option<i64> {
        self.engine.lock().unwrap().actors.get(id)?.alarm
    }

    /// The current generation of actor `id`.
    ///
    /// # Examples
    ///
    /// See [`alarm`](Self::alarm).
    pub fn generation(&self, id: &str) -> Option<u32> {
        Some(self.engine.lock().unwrap().actors.get(id)?.generation)
    }

    /// Fires actor `id`'s alarm now, whenever it was set for: the actor
    /// is woken if it sleeps (clearing the alarm); waits until it runs.
    ///
    /// # Examples
    ///
    /// See [`alarm`](Self::alarm).
    pub async fn fire_alarm(&self, id: &str) -> Result<(), String> {
        if let Some(actor) = self.engine.lock().unwrap().actors.get_mut(id) {
            actor.alarm = None;
        }
        self.wake(id).await
    }

    /// Stops actor `id` (as the engine does when it is destroyed) and
    /// waits until its `on_actor_stop` has returned and it is reported
    /// stopped.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{ActorContext, Handler, StopReason};
    ///
    /// struct Tidy;
    ///
    /// impl Handler for Tidy {
    ///     async fn on_actor_stop(&self, actor: ActorContext, _reason: StopReason) {
    ///         let _ = actor.kv_put([("clean", "yes")]).await;
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start(Tidy).await;
    /// let actor = kit.start_actor("tidy").await.unwrap();
    /// kit.stop_actor(&actor).await;
    /// assert_eq!(kit.kv(&actor)[&b"clean"[..]], "yes");
    /// # });
    /// ```
    pub async fn stop_actor(&self, id: &str) {
        self.engine.lock().unwrap().stop(id, false);
        self.until("the actor to stop", |e| {
            (e.actors.get(id)?.phase == Phase::Stopped).then_some(())
        })
        .await;
    }

    /// Stops actor `id` and starts its next generation (as the engine does
    /// when it reschedules an actor), waiting until that one runs: what a
    /// generation keeps in memory is gone, what it put in KV is not.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{ActorContext, ActorInfo, BoxError, Handler};
    ///
    /// struct CountsStarts;
    ///
    /// impl Handler for CountsStarts {
    ///     async fn on_actor_start(&self, actor: ActorContext, _info: ActorInfo) -> Result<(), BoxError> {
    ///         let starts = actor.kv_get_one("starts").await?.map_or(0, |v| v.len());
    ///         actor.kv_put([("starts", vec![b'+'; starts + 1])]).await?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start(CountsStarts).await;
    /// let actor = kit.start_actor("a").await?;
    /// kit.restart_actor(&actor).await?;
    /// assert_eq!(kit.generation(&actor), Some(1));
    /// assert_eq!(kit.kv(&actor)[&b"starts"[..]], "++");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn restart_actor(&self, id: &str) -> Result<(), String> {
        self.stop_actor(id).await;
        {
            let mut engine = self.engine.lock().unwrap();
            let actor = &engine.actors[id];
            let (config, generation) = (actor.config.clone(), actor.generation + 1);
            engine.start(id, config, generation);
        }
        self.started(id).await
    }

    /// Shuts the runner down gracefully (every actor stopped first) and
    /// waits until it has.
    ///
    /// # Examples
    ///
    /// See the [module docs](self).
    pub async fn shutdown(self) {
        self.handle.shutdown(ShutdownMode::Graceful).await;
    }
}

impl Answer {
    fn into_response(self) -> http::Response<Bytes> {
        match self {
            Answer::Done(response) => response,
            // The runner gave up on the response: the gateway answers 502.
            _ => {
                let mut aborted = http::Response::new(Bytes::from_static(b"response aborted"));
                *aborted.status_mut() = http::StatusCode::BAD_GATEWAY;
                aborted
            }
        }
    }
}

/// Request headers as the gateway sends them: one value per name, repeated
/// ones joined with `, `.
fn headers(map: &http::HeaderMap) -> BareMap<String> {
    let mut joined: Vec<(String, String)> = Vec::new();
    for (name, value) in map {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match joined.iter_mut().find(|(n, _)| n == name.as_str()) {
            Some((_, v)) => {
                v.push_str(", ");
                v.push_str(&value);
            }
            None => joined.push((name.as_str().to_owned(), value)),
        }
    }
    BareMap(joined)
}

/// A WebSocket the test opened to an actor, from the client's side.
///
/// # Examples
///
/// See [`TestKit::websocket`].
pub struct TestSocket<'k, R> {
    kit: &'k TestKit<R>,
    key: RequestKey,
}

impl<R> std::fmt::Debug for TestSocket<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSocket")
            .field("key", &self.key)
            .finish()
    }
}

impl<R: Runtime> TestSocket<'_, R> {
    /// Sends the actor a message (text or binary; a `Close` closes).
    ///
    /// # Examples
    ///
    /// See [`TestKit::websocket`].
    pub fn send(&mut self, message: Message) {
        let mut engine = self.kit.engine.lock().unwrap();
        let Some(socket) = engine.sockets.get_mut(&self.key) else {
            return;
        };
        socket.next_index = socket.next_index.wrapping_add(1);
        let index = socket.next_index;
        let kind = match message {
            Message::Text(text) => ToClientTunnelMessageKind::WebSocketMessage(WebSocketMessage {
                data: text.into(),
                binary: false,
            }),
            Message::Binary(data) => {
                ToClientTunnelMessageKind::WebSocketMessage(WebSocketMessage { data, binary: true })
            }
            Message::Close(frame) => {
                ToClientTunnelMessageKind::WebSocketClose(ToClientWebSocketClose {
                    code: frame.as_ref().map(|f| f.code),
                    reason: frame.map(|f| f.reason),
                })
            }
        };
        engine.send(&crate::testing::tunnel_message(self.key, index, kind));
    }

    /// The next message the actor sent; a `Close` once it closed the socket.
    ///
    /// # Panics
    ///
    /// When nothing comes within [`WAIT_BOUND`].
    ///
    /// # Examples
    ///
    /// See [`TestKit::websocket`].
    pub async fn recv(&mut self) -> Message {
        let key = self.key;
        self.kit
            .until("a WebSocket message", |e| {
                let socket = e.sockets.get_mut(&key)?;
                if let Some(message) = socket.inbox.pop_front() {
                    return Some(message);
                }
                let (code, reason) = socket.closed.clone()?;
                Some(Message::Close(code.map(|code| CloseFrame {
                    code,
                    reason: reason.unwrap_or_default(),
                })))
            })
            .await
    }
}
