//! What the kit's engine records about actors: [`LifecycleEvent`].

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
    /// The actor asked to sleep ([`ActorContext::sleep`](crate::host::ActorContext::sleep)).
    SleepRequested {
        /// Actor id.
        actor_id: String,
        /// Generation.
        generation: u32,
    },
    /// The actor asked to stop ([`ActorContext::stop`](crate::host::ActorContext::stop)).
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
