//! [`TestKit`] itself: starting a runner against the kit's engine,
//! bounded waits, and what a test reads (connects, init, KV, events,
//! alarms).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use bytes::Bytes;
use futures::future::{Either, FutureExt};

use super::engine::Engine;
use super::{KitRuntime, LifecycleEvent, WAIT_BOUND, observed};
use crate::ShutdownMode;
use crate::host::builder::{BuildError, Builder};
use crate::host::handle::RunnerHandle;
use crate::host::handler::Handler;
use crate::host::runtime::{ConnectRequest, Runtime};
use crate::protocol::ToServerInit;

/// A runner serving a handler against an in-memory engine; see the
/// [module docs](super). Built by a driver's `testing::start`.
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
    pub(super) rt: R,
    pub(super) engine: Arc<Mutex<Engine>>,
    pub(super) handle: RunnerHandle,
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
        let runner = configure(defaults).build(observed::observed(handler, engine.clone()))?;
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
    pub(super) async fn until<T>(
        &self,
        what: &str,
        mut check: impl FnMut(&mut Engine) -> Option<T>,
    ) -> T {
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
    pub(super) async fn bounded<T>(
        &self,
        what: &str,
        wait: impl std::future::Future<Output = T>,
    ) -> T {
        let bound = self.rt.sleep_until(self.rt.now() + WAIT_BOUND);
        match futures::future::select(Box::pin(wait), bound).await {
            Either::Left((found, _)) => found,
            Either::Right(_) => panic!("test kit: waited {WAIT_BOUND:?} for {what}"),
        }
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

    /// Shuts the runner down gracefully (every actor stopped first) and
    /// waits until it has.
    ///
    /// # Examples
    ///
    /// See the [module docs](super).
    pub async fn shutdown(self) {
        self.handle.shutdown(ShutdownMode::Graceful).await;
    }
}
