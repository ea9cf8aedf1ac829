//! The engine's view of each actor: its generation, its lifecycle, and the
//! events it accepted (spec §3.5–§3.7).

use runner_core::protocol::{
    ActorConfig, ActorIntent, ActorState, ActorStateStopped, Event, EventWrapper, Id,
};

/// Where an actor stands, as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorPhase {
    /// Start command stored; no `Running` yet.
    Starting,
    /// The runner reported `Running`.
    Running,
    /// A stop command was sent; no `Stopped` yet.
    Stopping,
    /// Stopped after a sleep intent; can be woken.
    Sleeping,
    /// Stopped for good (or crashed): `Stopped` arrived without a sleep intent.
    Stopped(ActorStateStopped),
    /// Its runner was declared lost.
    Lost,
}

impl ActorPhase {
    /// Whether the actor is allocated to a runner (start sent, no stop report).
    pub fn is_allocated(&self) -> bool {
        matches!(
            self,
            ActorPhase::Starting | ActorPhase::Running | ActorPhase::Stopping
        )
    }
}

/// What the engine must do after accepting an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// Nothing.
    None,
    /// Send the actor a `CommandStopActor`.
    SendStop,
}

/// One actor.
#[derive(Debug, Clone)]
pub struct SimActor {
    /// Its id.
    pub id: Id,
    /// How it was created.
    pub config: ActorConfig,
    /// Current generation (+1 on every wake).
    pub generation: u32,
    /// Lifecycle of the current generation.
    pub phase: ActorPhase,
    /// Runner the current generation is allocated to.
    pub runner_id: Option<Id>,
    /// A sleep intent arrived for the current generation.
    pub sleep_requested: bool,
    /// A stop intent arrived for the current generation.
    pub stop_requested: bool,
    /// Alarm, absolute ms.
    pub alarm_ts: Option<i64>,
    /// Highest accepted event index of the current generation (−1: none).
    pub last_event_idx: i64,
    /// Highest event index acknowledged to the runner (−1: none).
    pub last_ack_idx: i64,
    /// Every accepted event, all generations, in arrival order.
    pub events: Vec<EventWrapper>,
}

impl SimActor {
    /// A new actor allocated to `runner_id`, generation 0.
    pub fn new(id: Id, config: ActorConfig, runner_id: Id) -> Self {
        SimActor {
            id,
            config,
            generation: 0,
            phase: ActorPhase::Starting,
            runner_id: Some(runner_id),
            sleep_requested: false,
            stop_requested: false,
            alarm_ts: None,
            last_event_idx: -1,
            last_ack_idx: -1,
            events: Vec::new(),
        }
    }

    /// Allocates the next generation to `runner_id`.
    pub fn next_generation(&mut self, runner_id: Id) {
        self.generation += 1;
        self.phase = ActorPhase::Starting;
        self.runner_id = Some(runner_id);
        self.sleep_requested = false;
        self.stop_requested = false;
        self.last_event_idx = -1;
        self.last_ack_idx = -1;
    }

    /// Whether an event from `runner` is new: current generation, this
    /// actor's runner, index above the last one seen (the engine's dedup).
    pub fn accepts(&self, runner: &Id, event: &EventWrapper) -> bool {
        event.checkpoint.generation == self.generation
            && self.runner_id.as_ref() == Some(runner)
            && event.checkpoint.index > self.last_event_idx
    }

    /// Applies an accepted event.
    pub fn apply(&mut self, event: &EventWrapper) -> Reaction {
        self.last_event_idx = event.checkpoint.index;
        self.events.push(event.clone());
        match &event.inner {
            Event::StateUpdate(update) => self.on_state(&update.state),
            Event::Intent(intent) => self.on_intent(intent.intent),
            Event::SetAlarm(alarm) => {
                self.alarm_ts = alarm.alarm_ts;
                Reaction::None
            }
        }
    }

    fn on_state(&mut self, state: &ActorState) -> Reaction {
        match state {
            ActorState::Running if self.phase == ActorPhase::Starting => {
                self.phase = ActorPhase::Running;
            }
            ActorState::Running => {}
            ActorState::Stopped(stopped) => {
                self.phase = if self.sleep_requested {
                    ActorPhase::Sleeping
                } else {
                    ActorPhase::Stopped(stopped.clone())
                };
                self.runner_id = None;
            }
        }
        Reaction::None
    }

    /// Each intent kind sends one stop per generation, like the engine's
    /// "if not already sleeping / stopping" checks.
    fn on_intent(&mut self, intent: ActorIntent) -> Reaction {
        if !self.phase.is_allocated() {
            return Reaction::None;
        }
        let already = match intent {
            ActorIntent::Sleep => std::mem::replace(&mut self.sleep_requested, true),
            ActorIntent::Stop => std::mem::replace(&mut self.stop_requested, true),
        };
        if already {
            return Reaction::None;
        }
        self.phase = ActorPhase::Stopping;
        Reaction::SendStop
    }

    /// Whether the engine owes the runner an event acknowledgement: more than
    /// `batch` events since the last one.
    pub fn ack_due(&self, batch: i64) -> bool {
        self.last_event_idx > self.last_ack_idx + batch
    }
}
