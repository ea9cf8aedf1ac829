//! Per-actor state: a value the user's `on_actor_start` creates and every
//! later call of that actor generation (requests, WebSockets, the stop)
//! borrows from its [`ActorContext`], with no map of actors to keep.
//!
//! Why a slot in the context rather than a `type State` on [`Handler`]:
//! an associated type cannot have a default on stable Rust, so adding one
//! would break every existing `impl Handler`; a slot is additive. Each
//! generation's context is one shared allocation that every call of that
//! generation clones, so the slot is found without a lookup, and the value
//! is dropped with the generation (once its last call has returned).
//!
//! [`Handler`]: super::Handler

use super::context::ActorContext;

impl ActorContext {
    /// Gives this actor generation its state: call it in `on_actor_start`
    /// (requests, WebSockets and the stop of the actor wait until that has
    /// returned, so they all see it), then borrow it with
    /// [`state`](Self::state) in every later call. Set once per generation:
    /// a second call hands the value back. The state lives until the
    /// generation stops (its last call returned); a woken actor is a new
    /// generation and starts without state.
    ///
    /// Calls of one actor run concurrently (see [`Handler`](super::Handler)):
    /// state they change needs a lock — an async one (e.g.
    /// `tokio::sync::Mutex`) when it is held across an `.await`, such as a
    /// KV read-modify-write.
    ///
    /// # Examples
    ///
    /// A counter that never loses an update: the count is read from KV once,
    /// at start, and every increment holds the lock across its write.
    ///
    /// ```
    /// use runner_tokio::{http, ActorContext, ActorInfo, BoxError, Handler, Request, Response};
    /// use tokio::sync::Mutex;
    ///
    /// struct Counter;
    ///
    /// impl Handler for Counter {
    ///     async fn on_actor_start(&self, actor: ActorContext, _info: ActorInfo) -> Result<(), BoxError> {
    ///         let stored = actor.kv_get_one("hits").await?;
    ///         let hits: u64 = stored.map_or(Ok(0), |v| String::from_utf8_lossy(&v).parse())?;
    ///         let _ = actor.set_state(Mutex::new(hits));
    ///         Ok(())
    ///     }
    ///
    ///     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
    ///         let Some(hits) = actor.state::<Mutex<u64>>() else {
    ///             return http::Response::builder().status(500).body("no state".into()).unwrap();
    ///         };
    ///         let mut hits = hits.lock().await; // one increment at a time
    ///         if actor.kv_put([("hits", (*hits + 1).to_string())]).await.is_err() {
    ///             return http::Response::builder().status(503).body("try again".into()).unwrap();
    ///         }
    ///         *hits += 1;
    ///         Response::new(format!("hit {hits}").into())
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start(Counter).await;
    /// let actor = kit.start_actor("counter").await?;
    /// let post = || kit.request(&actor, http::Request::post("/").body("").unwrap());
    /// let (a, b, c) = tokio::join!(post(), post(), post()); // concurrent POSTs
    /// let mut bodies = [a.into_body(), b.into_body(), c.into_body()];
    /// bodies.sort();
    /// assert_eq!(bodies, ["hit 1", "hit 2", "hit 3"]);
    /// assert_eq!(kit.kv(&actor)[&b"hits"[..]], "3");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn set_state<T: Send + Sync + 'static>(&self, state: T) -> Result<(), T> {
        let mut offered = Some(state);
        self.state_slot().0.get_or_init(|| match offered.take() {
            Some(state) => Box::new(state),
            None => unreachable!("the slot is filled once, from `offered`"),
        });
        match offered {
            None => Ok(()),
            Some(refused) => Err(refused),
        }
    }

    /// This actor generation's state, if [`set_state`](Self::set_state)
    /// gave it one of type `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use runner_tokio::{http, ActorContext, ActorInfo, BoxError, Handler, Request, Response};
    ///
    /// /// What each actor keeps in memory between its calls.
    /// #[derive(Default)]
    /// struct Session {
    ///     requests: AtomicU32,
    /// }
    ///
    /// struct Sessions;
    ///
    /// impl Handler for Sessions {
    ///     async fn on_actor_start(&self, actor: ActorContext, _info: ActorInfo) -> Result<(), BoxError> {
    ///         actor.set_state(Session::default()).map_err(|_| "state set twice")?;
    ///         Ok(())
    ///     }
    ///
    ///     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
    ///         let session = actor.state::<Session>().expect("set at start");
    ///         let n = session.requests.fetch_add(1, Ordering::SeqCst) + 1;
    ///         assert!(actor.state::<String>().is_none()); // another type: none
    ///         Response::new(format!("request {n}").into())
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start(Sessions).await;
    /// let actor = kit.start_actor("session").await?;
    /// kit.request(&actor, http::Request::get("/").body("")?).await;
    /// let second = kit.request(&actor, http::Request::get("/").body("")?).await;
    /// assert_eq!(second.body(), "request 2");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.state_slot().0.get()?.downcast_ref()
    }
}
