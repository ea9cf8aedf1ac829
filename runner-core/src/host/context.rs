//! [`ActorContext`]: what user code holds for one actor generation (KV,
//! sleep, stop, alarms, crash, hibernatable sockets).

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;

use super::calls::{Call, CallTx, Intent};
use super::error::Error;
use super::kv_call::{self, KvCancels};
use crate::protocol::{
    KvDeleteRangeRequest, KvDeleteRequest, KvGetRequest, KvListPrefixQuery, KvListQuery,
    KvListRangeQuery, KvListRequest, KvPutRequest, KvRequestData,
};
use crate::{ActorRef, HibernatedSocket, KvError, KvResponse, RestoreReport};

/// One actor generation, as its code sees it: identity, KV storage, intents
/// and alarms. Cheap to clone; every method goes through the runner's event
/// loop and fails with [`Error::RunnerGone`] once it has ended.
///
/// KV calls past [`Limits::max_pending_kv`](crate::Limits::max_pending_kv)
/// wait in the runner, in call order, and each fails with
/// [`KvError::TimedOut`] `timeouts.kv_request` after it was made. Dropping a
/// KV call's future before it is ready cancels the call: one not sent yet
/// is never sent (a put its caller gave up on does not land later), one
/// already sent has its answer dropped.
///
/// # Examples
///
/// A counter kept in the actor's KV storage; it asks to sleep when idle.
///
/// ```no_run
/// use runner_tokio::{http, ActorContext, Handler, Request, Response};
///
/// struct Counter;
///
/// impl Handler for Counter {
///     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
///         let count = match actor.kv_get_one("count").await {
///             Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).parse().unwrap_or(0),
///             _ => 0u64,
///         } + 1;
///         if actor.kv_put([("count", count.to_string())]).await.is_err() {
///             return http::Response::builder().status(503).body("try again".into()).unwrap();
///         }
///         Response::new(format!("{} (generation {}): {count}", actor.actor_id(), actor.generation()).into())
///     }
/// }
/// ```
#[derive(Clone)]
pub struct ActorContext {
    // One pointer: the runner keeps one context per live actor and clones
    // it for every request.
    shared: Arc<ActorShared>,
}

/// Runs a task on the driver's runtime.
pub(crate) type Spawner = Arc<dyn Fn(BoxFuture<'static, ()>) + Send + Sync>;

impl std::fmt::Debug for ActorContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorContext")
            .field("actor", &self.shared.actor)
            .finish_non_exhaustive()
    }
}

/// What a context holds, once per live actor: kept small, a runner may host
/// a hundred thousand of them. The name is shared between actors of the same
/// name (see `Names`), and the way back to the event loop between all.
struct ActorShared {
    actor: ActorRef,
    name: Arc<str>,
    key: Option<Box<str>>,
    link: Arc<ActorLink>,
    /// The user's state for this generation (see `state.rs`).
    state: StateSlot,
}

/// A generation's state slot: empty until `ActorContext::set_state`, then
/// set for good (the methods are in `state.rs`).
#[derive(Default)]
pub(super) struct StateSlot(pub(super) std::sync::OnceLock<Box<dyn std::any::Any + Send + Sync>>);

/// The event loop's command queue, where KV futures send their cancels,
/// and the runtime's spawner: one for the whole runner.
pub(crate) struct ActorLink {
    pub(crate) tx: CallTx,
    pub(crate) kv_cancels: KvCancels,
    pub(crate) spawner: Spawner,
}

impl ActorContext {
    pub(crate) fn new(
        actor: ActorRef,
        name: Arc<str>,
        key: Option<Box<str>>,
        link: Arc<ActorLink>,
    ) -> Self {
        ActorContext {
            shared: Arc::new(ActorShared {
                actor,
                name,
                key,
                link,
                state: StateSlot::default(),
            }),
        }
    }

    /// This generation's state slot (see `state.rs`).
    pub(super) fn state_slot(&self) -> &StateSlot {
        &self.shared.state
    }

    /// Runs `task` in the background on the runner's runtime, whichever
    /// driver that is — e.g. work that must happen after a response is sent.
    ///
    /// ```no_run
    /// # async fn f(actor: runner_tokio::ActorContext) {
    /// let later = actor.clone();
    /// actor.spawn(async move {
    ///     let _ = later.sleep().await;
    /// });
    /// # }
    /// ```
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        (self.shared.link.spawner)(Box::pin(task));
    }

    /// The actor id.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, Request, Response};
    ///
    /// struct Counter;
    ///
    /// impl Handler for Counter {
    ///     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
    ///         Response::new(format!("served by actor {}", actor.actor_id()).into())
    ///     }
    /// }
    /// ```
    pub fn actor_id(&self) -> &str {
        &self.shared.actor.actor_id
    }

    /// The generation (one more each time the engine starts the actor again).
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
    ///         if actor.generation() > 0 {
    ///             eprintln!("{} woke up again (generation {})", info.name, actor.generation());
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn generation(&self) -> u32 {
        self.shared.actor.generation
    }

    /// Actor id and generation.
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
    ///         // Id and generation together, e.g. as a log field.
    ///         let actor_ref = actor.actor_ref();
    ///         eprintln!("starting {} generation {}", actor_ref.actor_id, actor_ref.generation);
    ///         let _ = info;
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn actor_ref(&self) -> &ActorRef {
        &self.shared.actor
    }

    /// The actor's name.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, Request, Response};
    ///
    /// struct Counter;
    ///
    /// impl Handler for Counter {
    ///     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
    ///         // One runner may host several actor names.
    ///         match actor.name() {
    ///             "counter" => Response::new("counting".into()),
    ///             other => Response::new(format!("{other} is not served here").into()),
    ///         }
    ///     }
    /// }
    /// ```
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The actor's key, if it was created with one.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, Request, Response};
    ///
    /// struct Counter;
    ///
    /// impl Handler for Counter {
    ///     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
    ///         let room = actor.key().unwrap_or("lobby");
    ///         Response::new(format!("welcome to {room}").into())
    ///     }
    /// }
    /// ```
    pub fn key(&self) -> Option<&str> {
        self.shared.key.as_deref()
    }

    /// One KV call. Dropping the future before it is ready cancels the
    /// call: not sent yet, it never will be (see
    /// [`Runner::cancel_kv`](crate::Runner::cancel_kv)).
    async fn kv(&self, data: KvRequestData) -> Result<KvResponse, Error> {
        use tracing::Instrument;
        let link = &self.shared.link;
        let actor = self.shared.actor.clone();
        let span = super::spans::kv(&data);
        let result = kv_call::call(&link.tx, &link.kv_cancels, actor, data)
            .instrument(span.clone())
            .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(Error::Kv(KvError::TimedOut)) => "timed_out",
            Err(Error::Kv(KvError::Engine(_))) => "error",
            Err(_) => "failed",
        };
        span.record("outcome", outcome);
        tracing::trace!(parent: &span, outcome, "KV call ended");
        result
    }

    /// Values of `keys`, in the same order; `None` where a key is absent.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, Request, Response};
    ///
    /// struct Counter;
    ///
    /// impl Handler for Counter {
    ///     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
    ///         let Ok(values) = actor.kv_get(["first", "last"]).await else {
    ///             return Response::new("storage unavailable".into());
    ///         };
    ///         let found = values.iter().filter(|v| v.is_some()).count();
    ///         Response::new(format!("{found} of 2 names set").into())
    ///     }
    /// }
    /// ```
    pub async fn kv_get<K: Into<Bytes>>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Vec<Option<Bytes>>, Error> {
        let keys = keys.into_iter().map(Into::into).collect();
        match self.kv(KvRequestData::Get(KvGetRequest { keys })).await? {
            KvResponse::Values(values) => Ok(values),
            _ => Err(Error::Kv(KvError::Malformed("expected values"))),
        }
    }

    /// Value of one key.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, Request, Response};
    ///
    /// struct Counter;
    ///
    /// impl Handler for Counter {
    ///     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
    ///         match actor.kv_get_one("greeting").await {
    ///             Ok(Some(greeting)) => Response::new(greeting.into()),
    ///             Ok(None) => Response::new("hello".into()),
    ///             Err(e) => Response::new(format!("storage error: {e}").into()),
    ///         }
    ///     }
    /// }
    /// ```
    pub async fn kv_get_one(&self, key: impl Into<Bytes>) -> Result<Option<Bytes>, Error> {
        Ok(self.kv_get([key.into()]).await?.pop().flatten())
    }

    /// Writes key/value pairs.
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
    ///         // Several pairs in one round trip.
    ///         actor.kv_put([("name", info.name.clone()), ("created", info.create_ts.to_string())]).await?;
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub async fn kv_put<K: Into<Bytes>, V: Into<Bytes>>(
        &self,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), Error> {
        let (keys, values) = entries
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .unzip();
        self.kv(KvRequestData::Put(KvPutRequest { keys, values }))
            .await
            .map(drop)
    }

    /// Deletes keys.
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
    ///         // Drop what only the previous generation needed.
    ///         actor.kv_delete(["lock", "pending"]).await?;
    ///         let _ = info;
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub async fn kv_delete<K: Into<Bytes>>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<(), Error> {
        let keys = keys.into_iter().map(Into::into).collect();
        self.kv(KvRequestData::Delete(KvDeleteRequest { keys }))
            .await
            .map(drop)
    }

    /// Deletes the half-open range `[start, end)` (protocol v7 and later).
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
    ///         // Forget log entries before 2024 (keys are "log/<timestamp>").
    ///         actor.kv_delete_range("log/", "log/2024").await?;
    ///         let _ = info;
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub async fn kv_delete_range(
        &self,
        start: impl Into<Bytes>,
        end: impl Into<Bytes>,
    ) -> Result<(), Error> {
        let range = KvDeleteRangeRequest {
            start: start.into(),
            end: end.into(),
        };
        self.kv(KvRequestData::DeleteRange(range)).await.map(drop)
    }

    /// Deletes every key of the actor.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, Request, Response};
    ///
    /// struct Counter;
    ///
    /// impl Handler for Counter {
    ///     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
    ///         // e.g. behind an authenticated "reset" route
    ///         match actor.kv_drop().await {
    ///             Ok(()) => Response::new("all state deleted".into()),
    ///             Err(e) => Response::new(format!("reset failed: {e}").into()),
    ///         }
    ///     }
    /// }
    /// ```
    pub async fn kv_drop(&self) -> Result<(), Error> {
        self.kv(KvRequestData::Drop).await.map(drop)
    }

    /// Lists key/value pairs in key order.
    ///
    /// ```no_run
    /// # async fn f(actor: runner_tokio::ActorContext) -> Result<(), runner_tokio::Error> {
    /// use runner_tokio::KvList;
    /// let newest_three = actor.kv_list(KvList::prefix("log/").reverse().limit(3)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn kv_list(&self, list: KvList) -> Result<Vec<(Bytes, Bytes)>, Error> {
        match self.kv(KvRequestData::List(list.0)).await? {
            KvResponse::Entries(entries) => Ok(entries),
            _ => Err(Error::Kv(KvError::Malformed("expected entries"))),
        }
    }

    async fn intent(&self, intent: Intent) -> Result<(), Error> {
        let actor = self.shared.actor.clone();
        self.shared
            .link
            .tx
            .call(|reply| Call::Intent {
                actor,
                intent,
                reply,
            })
            .await
    }

    /// Asks the engine to put this actor to sleep (it stops the actor; the
    /// next request or alarm wakes it as a new generation).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, Request, Response};
    ///
    /// struct Counter;
    ///
    /// impl Handler for Counter {
    ///     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
    ///         let response = Response::new("bye for now".into());
    ///         // The engine stops this generation; the next request starts a new one.
    ///         let _ = actor.sleep().await;
    ///         response
    ///     }
    /// }
    /// ```
    pub async fn sleep(&self) -> Result<(), Error> {
        self.intent(Intent::Sleep).await
    }

    /// Asks the engine to stop this actor for good.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, Request, Response};
    ///
    /// struct Counter;
    ///
    /// impl Handler for Counter {
    ///     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
    ///         // e.g. a "close account" route: the actor must not come back.
    ///         let _ = actor.kv_drop().await;
    ///         let _ = actor.stop().await;
    ///         Response::new("closed".into())
    ///     }
    /// }
    /// ```
    pub async fn stop(&self) -> Result<(), Error> {
        self.intent(Intent::Stop).await
    }

    /// Sets the alarm to `unix_ms` (Unix epoch milliseconds); the engine wakes
    /// the actor then if it sleeps.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, Request, Response};
    ///
    /// struct Counter;
    ///
    /// impl Handler for Counter {
    ///     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
    ///         let now_ms = std::time::SystemTime::now()
    ///             .duration_since(std::time::UNIX_EPOCH)
    ///             .map_or(0, |d| d.as_millis() as i64);
    ///         // Wake up in an hour even if no request comes.
    ///         let _ = actor.set_alarm(now_ms + 3_600_000).await;
    ///         Response::new("reminder set".into())
    ///     }
    /// }
    /// ```
    pub async fn set_alarm(&self, unix_ms: i64) -> Result<(), Error> {
        self.intent(Intent::Alarm(Some(unix_ms))).await
    }

    /// Clears the alarm.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, Request, Response};
    ///
    /// struct Counter;
    ///
    /// impl Handler for Counter {
    ///     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
    ///         let _ = actor.clear_alarm().await;
    ///         Response::new("reminder cancelled".into())
    ///     }
    /// }
    /// ```
    pub async fn clear_alarm(&self) -> Result<(), Error> {
        self.intent(Intent::Alarm(None)).await
    }

    /// Reports the actor as crashed: it is stopped and the engine applies its
    /// crash policy.
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
    ///         if actor.kv_get_one("schema").await?.as_deref() == Some(b"v0".as_slice()) {
    ///             // The engine applies its crash policy (e.g. restarts with backoff).
    ///             actor.crash(format!("{}: stored state is too old", info.name)).await?;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub async fn crash(&self, message: impl Into<String>) -> Result<(), Error> {
        self.intent(Intent::Crash(message.into())).await
    }

    /// Restores the hibernated WebSockets the engine listed in
    /// [`ActorInfo::hibernating`](super::ActorInfo::hibernating) from what was
    /// persisted. Call it from `on_actor_start`, before returning. Each restored
    /// socket is handed to `on_websocket` as already open, at once (not
    /// after the start returns, unlike new sockets): give the actor its
    /// state ([`set_state`](Self::set_state)) before calling this.
    ///
    /// The engine's gateway resumes each restored socket on its own, some
    /// time after the actor reports running, and drops what is sent on the
    /// socket before then (engine 2.3.19). A message from the client comes
    /// through a resumed socket: an actor that must not lose what it sends
    /// holds a restored socket's messages until the client has spoken (the
    /// `chat` example does). Replays the gateway sends as it resumes a
    /// socket are acknowledged again for you.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, ActorInfo, BoxError, Handler, HibernatedSocket};
    ///
    /// # fn decode(_: &[u8]) -> Result<HibernatedSocket, BoxError> { unimplemented!() }
    /// struct Counter;
    ///
    /// impl Handler for Counter {
    ///     async fn on_actor_start(&self, actor: ActorContext, info: ActorInfo) -> Result<(), BoxError> {
    ///         let mut persisted = Vec::new();
    ///         for key in &info.hibernating {
    ///             // What `on_websocket` stored for this socket (path, headers, indices).
    ///             if let Some(saved) = actor.kv_get_one(format!("ws/{key}")).await? {
    ///                 persisted.push(decode(&saved)?);
    ///             }
    ///         }
    ///         let report = actor.restore_websockets(persisted).await?;
    ///         eprintln!("{} sockets restored", report.restored.len());
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub async fn restore_websockets(
        &self,
        sockets: Vec<HibernatedSocket>,
    ) -> Result<RestoreReport, Error> {
        let actor = self.shared.actor.clone();
        self.shared
            .link
            .tx
            .call(|reply| Call::Restore {
                actor,
                sockets,
                reply,
            })
            .await
    }
}

/// Which keys [`ActorContext::kv_list`] returns.
///
/// # Examples
///
/// ```no_run
/// use runner_tokio::{ActorContext, Handler, KvList, Request, Response};
///
/// struct Log;
///
/// impl Handler for Log {
///     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
///         let latest = actor.kv_list(KvList::prefix("log/").reverse().limit(10)).await;
///         let lines = latest.unwrap_or_default().into_iter().map(|(_, line)| line);
///         let text: Vec<String> = lines.map(|l| String::from_utf8_lossy(&l).into_owned()).collect();
///         Response::new(text.join("\n").into())
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct KvList(KvListRequest);

impl KvList {
    fn new(query: KvListQuery) -> Self {
        KvList(KvListRequest {
            query,
            reverse: None,
            limit: None,
        })
    }

    /// Every key.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::KvList;
    ///
    /// let every_key = KvList::all();
    /// assert!(format!("{every_key:?}").contains("query: All"));
    /// ```
    pub fn all() -> Self {
        Self::new(KvListQuery::All)
    }

    /// Keys starting with `prefix`.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::KvList;
    ///
    /// let users = KvList::prefix("user/");
    /// assert!(format!("{users:?}").contains(r#"Prefix(KvListPrefixQuery { key: b"user/" })"#));
    /// ```
    pub fn prefix(prefix: impl Into<Bytes>) -> Self {
        Self::new(KvListQuery::Prefix(KvListPrefixQuery {
            key: prefix.into(),
        }))
    }

    /// Keys from `start` to `end`, both included (see [`exclusive`](Self::exclusive)).
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::KvList;
    ///
    /// let a_to_m = KvList::range("a", "m"); // "m" itself included
    /// assert!(format!("{a_to_m:?}").contains(r#"start: b"a", end: b"m", exclusive: false"#));
    /// ```
    pub fn range(start: impl Into<Bytes>, end: impl Into<Bytes>) -> Self {
        let range = KvListRangeQuery {
            start: start.into(),
            end: end.into(),
            exclusive: false,
        };
        Self::new(KvListQuery::Range(range))
    }

    /// Leaves `end` out of a range.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::KvList;
    ///
    /// let before_m = KvList::range("a", "m").exclusive();
    /// assert!(format!("{before_m:?}").contains("exclusive: true"));
    /// // Only ranges have an end to leave out:
    /// assert!(!format!("{:?}", KvList::prefix("a").exclusive()).contains("exclusive"));
    /// ```
    pub fn exclusive(mut self) -> Self {
        if let KvListQuery::Range(r) = &mut self.0.query {
            r.exclusive = true;
        }
        self
    }

    /// Descending key order.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::KvList;
    ///
    /// let newest_first = KvList::prefix("log/").reverse();
    /// assert!(format!("{newest_first:?}").contains("reverse: Some(true)"));
    /// ```
    pub fn reverse(mut self) -> Self {
        self.0.reverse = Some(true);
        self
    }

    /// At most `n` pairs.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::KvList;
    ///
    /// let first_ten = KvList::all().limit(10);
    /// assert!(format!("{first_ten:?}").contains("limit: Some(10)"));
    /// ```
    pub fn limit(mut self, n: u64) -> Self {
        self.0.limit = Some(n);
        self
    }
}
