//! Actors' lifecycles as the test drives them: start, wake (as the
//! gateway does for a request, a message or an alarm), stop, restart.

use bytes::Bytes;

use super::TestKit;
use super::engine::Phase;
use crate::host::runtime::Runtime;
use crate::protocol::ActorConfig;

impl<R: Runtime> TestKit<R> {
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
    pub(super) async fn started(&self, id: &str) -> Result<(), String> {
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
    pub(super) async fn wake(&self, id: &str) -> Result<(), String> {
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
}
