//! Handles user code holds: [`ActorContext`] for one actor generation and
//! [`RunnerHandle`] for the whole runner.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;

use super::command::{Command, CommandTx, Intent};
use super::error::Error;
use crate::protocol::{
    KvDeleteRangeRequest, KvDeleteRequest, KvGetRequest, KvListPrefixQuery, KvListQuery,
    KvListRangeQuery, KvListRequest, KvPutRequest, KvRequestData,
};
use crate::{ActorRef, HibernatedSocket, KvError, KvResponse, RestoreReport, ShutdownMode};

/// One actor generation, as its code sees it: identity, KV storage, intents
/// and alarms. Cheap to clone; every method goes through the runner's event
/// loop and fails with [`Error::RunnerGone`] once it has ended.
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
}

/// The event loop's command queue and the runtime's spawner, one for the
/// whole runner.
pub(crate) struct ActorLink {
    pub(crate) tx: CommandTx,
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
            }),
        }
    }

    /// Runs `task` in the background on the runner's runtime, whichever
    /// driver that is — e.g. work that must happen after a response is sent.
    ///
    /// ```no_run
    /// # async fn f(actor: runner_core::driver::ActorContext) {
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
    pub fn actor_id(&self) -> &str {
        &self.shared.actor.actor_id
    }

    /// The generation (one more each time the engine starts the actor again).
    pub fn generation(&self) -> u32 {
        self.shared.actor.generation
    }

    /// Actor id and generation.
    pub fn actor_ref(&self) -> &ActorRef {
        &self.shared.actor
    }

    /// The actor's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The actor's key, if it was created with one.
    pub fn key(&self) -> Option<&str> {
        self.shared.key.as_deref()
    }

    async fn kv(&self, data: KvRequestData) -> Result<KvResponse, Error> {
        let actor = self.shared.actor.clone();
        self.shared
            .link
            .tx
            .call(|reply| Command::Kv { actor, data, reply })
            .await
    }

    /// Values of `keys`, in the same order; `None` where a key is absent.
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
    pub async fn kv_get_one(&self, key: impl Into<Bytes>) -> Result<Option<Bytes>, Error> {
        Ok(self.kv_get([key.into()]).await?.pop().flatten())
    }

    /// Writes key/value pairs.
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
    pub async fn kv_drop(&self) -> Result<(), Error> {
        self.kv(KvRequestData::Drop).await.map(drop)
    }

    /// Lists key/value pairs in key order.
    ///
    /// ```no_run
    /// # async fn f(actor: runner_core::driver::ActorContext) -> Result<(), runner_core::driver::Error> {
    /// use runner_core::driver::KvList;
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
            .call(|reply| Command::Intent {
                actor,
                intent,
                reply,
            })
            .await
    }

    /// Asks the engine to put this actor to sleep (it stops the actor; the
    /// next request or alarm wakes it as a new generation).
    pub async fn sleep(&self) -> Result<(), Error> {
        self.intent(Intent::Sleep).await
    }

    /// Asks the engine to stop this actor for good.
    pub async fn stop(&self) -> Result<(), Error> {
        self.intent(Intent::Stop).await
    }

    /// Sets the alarm to `unix_ms` (Unix epoch milliseconds); the engine wakes
    /// the actor then if it sleeps.
    pub async fn set_alarm(&self, unix_ms: i64) -> Result<(), Error> {
        self.intent(Intent::Alarm(Some(unix_ms))).await
    }

    /// Clears the alarm.
    pub async fn clear_alarm(&self) -> Result<(), Error> {
        self.intent(Intent::Alarm(None)).await
    }

    /// Reports the actor as crashed: it is stopped and the engine applies its
    /// crash policy.
    pub async fn crash(&self, message: impl Into<String>) -> Result<(), Error> {
        self.intent(Intent::Crash(message.into())).await
    }

    /// Restores the hibernated WebSockets the engine listed in
    /// [`ActorInfo::hibernating`](super::ActorInfo::hibernating) from what was
    /// persisted. Call it from `on_actor_start`, before returning. Each restored
    /// socket is handed to `on_websocket` as already open.
    pub async fn restore_websockets(
        &self,
        sockets: Vec<HibernatedSocket>,
    ) -> Result<RestoreReport, Error> {
        let actor = self.shared.actor.clone();
        self.shared
            .link
            .tx
            .call(|reply| Command::Restore {
                actor,
                sockets,
                reply,
            })
            .await
    }
}

/// Which keys [`ActorContext::kv_list`] returns.
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
    pub fn all() -> Self {
        Self::new(KvListQuery::All)
    }

    /// Keys starting with `prefix`.
    pub fn prefix(prefix: impl Into<Bytes>) -> Self {
        Self::new(KvListQuery::Prefix(KvListPrefixQuery {
            key: prefix.into(),
        }))
    }

    /// Keys from `start` to `end`, both included (see [`exclusive`](Self::exclusive)).
    pub fn range(start: impl Into<Bytes>, end: impl Into<Bytes>) -> Self {
        let range = KvListRangeQuery {
            start: start.into(),
            end: end.into(),
            exclusive: false,
        };
        Self::new(KvListQuery::Range(range))
    }

    /// Leaves `end` out of a range.
    pub fn exclusive(mut self) -> Self {
        if let KvListQuery::Range(r) = &mut self.0.query {
            r.exclusive = true;
        }
        self
    }

    /// Descending key order.
    pub fn reverse(mut self) -> Self {
        self.0.reverse = Some(true);
        self
    }

    /// At most `n` pairs.
    pub fn limit(mut self, n: u64) -> Self {
        self.0.limit = Some(n);
        self
    }
}

/// State the event loop publishes for handles.
#[derive(Debug, Default)]
pub(crate) struct Published {
    pub(crate) runner_id: Option<String>,
    pub(crate) connected: bool,
    pub(crate) shut_down: bool,
}

/// Controls the whole runner. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RunnerHandle {
    tx: CommandTx,
    published: Arc<Mutex<Published>>,
}

impl RunnerHandle {
    pub(crate) fn new(tx: CommandTx, published: Arc<Mutex<Published>>) -> Self {
        RunnerHandle { tx, published }
    }

    /// Shuts the runner down and waits until it has. A graceful shutdown
    /// while one is under way escalates to immediate.
    pub async fn shutdown(&self, mode: ShutdownMode) {
        let (done, finished) = futures::channel::oneshot::channel();
        if self.tx.send(Command::Shutdown { mode, done }).await.is_ok() {
            let _ = finished.await;
        }
    }

    /// Whether the engine has accepted the current connection.
    pub fn is_connected(&self) -> bool {
        self.published.lock().map(|p| p.connected).unwrap_or(false)
    }

    /// The runner id the engine assigned, once connected.
    pub fn runner_id(&self) -> Option<String> {
        self.published.lock().ok().and_then(|p| p.runner_id.clone())
    }

    /// Whether the runner has shut down.
    pub fn is_shut_down(&self) -> bool {
        self.published.lock().map(|p| p.shut_down).unwrap_or(true)
    }
}
