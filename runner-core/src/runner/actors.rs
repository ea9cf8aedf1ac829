//! Actor lifecycle: starting, running, stopping, and the user calls about it.

use tracing::{debug, info, warn};

use std::borrow::Cow;

use super::actor_table::{ActorRecord, ActorSlot, Phase};
use super::event_log::EventLog;
use super::shutdown_phase::ShutdownPhase;
use super::{Input, Runner};
use crate::error::CallError;
use crate::ids::ActorRef;
use crate::output::{Event, StopReason};
use crate::protocol::{
    self, ActorCheckpoint, ActorIntent, ActorState, ActorStateStopped, CommandStartActor,
    EventActorIntent, EventActorSetAlarm, EventActorStateUpdate, EventWrapper, Id,
};

/// A per-actor deadline: start or stop took too long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Watchdog {
    actor: ActorRef,
    kind: WatchdogKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WatchdogKind {
    Start,
    Stop,
}

impl Runner {
    /// Creates the record, reports `Running` and asks the user to start it.
    pub(super) fn start_actor(&mut self, checkpoint: ActorCheckpoint, command: CommandStartActor) {
        let phase = Phase::Starting {
            stop_after: None,
            restored: false,
        };
        let mut record = self.new_record(checkpoint, phase);
        let actor = record.actor.clone();
        let deadline = self.now + self.config.timeouts.actor_start;
        let watchdog = Watchdog {
            actor: actor.clone(),
            kind: WatchdogKind::Start,
        };
        record.watchdog = Some(self.watchdogs.insert(deadline, watchdog));
        record.push_event(&mut self.outgoing_events, state_event(ActorState::Running));
        info!(?actor, "starting actor");
        self.counters.actor_starts += 1;
        self.retired.forget_older(&actor.actor_id, actor.generation);
        self.actors.insert(Box::new(ActorSlot {
            current: record,
            queued: None,
        }));
        self.register_hibernating(&actor, &command.hibernating_requests);
        self.events.push_back(Event::ActorStart {
            actor,
            config: command.config,
            hibernating: command.hibernating_requests,
        });
    }

    fn new_record(&self, checkpoint: ActorCheckpoint, phase: Phase) -> ActorRecord {
        ActorRecord {
            actor: ActorRef::new(checkpoint.actor_id, checkpoint.generation),
            phase,
            last_command_index: checkpoint.index,
            events: EventLog::default(),
            orphaned: false,
            watchdog: None,
            tunnel: self.tunnel.actor_state(),
        }
    }

    /// Reports a queued generation as stopped without running any user code
    /// (stopped while still queued, or queued when shutdown ended), and
    /// remembers it: a queued start holds a place in the retired table.
    pub(super) fn report_never_started(&mut self, cp: ActorCheckpoint, reason: &StopReason) {
        let record = self.never_started(cp, reason);
        self.retire(record);
    }

    /// Refuses a start (limit reached): reports the generation stopped
    /// without running any user code, and remembers it only if the retired
    /// table has a place to spare — not remembering it is safe: if the
    /// engine replays the start (its acknowledgement was lost, and with it
    /// the `Stopped` sent just before), the start is refused again, or
    /// started for the first time.
    pub(super) fn refuse_start(&mut self, cp: ActorCheckpoint, reason: &StopReason) {
        let record = self.never_started(cp, reason);
        if self.has_retirement_place() {
            self.retire(record);
        } else {
            debug!(actor = ?record.actor, "refused start not remembered: no place to spare");
        }
    }

    fn never_started(&mut self, cp: ActorCheckpoint, reason: &StopReason) -> ActorRecord {
        let phase = Phase::Stopping {
            reason: Box::new(reason.clone()),
            draining: false,
        };
        let mut record = self.new_record(cp, phase);
        record.push_event(&mut self.outgoing_events, stopped_event(reason));
        self.counters.starts_refused += 1;
        record
    }

    /// Moves a generation towards `Stopping`, emitting `ActorStop` exactly once.
    pub(super) fn begin_stop(&mut self, actor_id: &str, reason: StopReason) {
        let Some(slot) = self.actors.get_mut(actor_id) else {
            return;
        };
        let record = &mut slot.current;
        match &mut record.phase {
            Phase::Stopping { .. } => return,
            Phase::Starting { stop_after, .. } if defers_to_start(&reason) => {
                stop_after.get_or_insert_with(|| Box::new(reason));
                return;
            }
            _ => {}
        }
        record.phase = Phase::Stopping {
            reason: Box::new(reason.clone()),
            draining: false,
        };
        if let Some(token) = record.watchdog.take() {
            self.watchdogs.cancel(token);
        }
        let deadline = self.now + self.config.timeouts.actor_stop;
        let watchdog = Watchdog {
            actor: record.actor.clone(),
            kind: WatchdogKind::Stop,
        };
        record.watchdog = Some(self.watchdogs.insert(deadline, watchdog));
        let actor = record.actor.clone();
        info!(?actor, ?reason, "stopping actor");
        self.counters.stopped(&reason);
        self.events.push_back(Event::ActorStop {
            actor: actor.clone(),
            reason,
        });
        // What waited for its start can never be served now.
        self.end_held_requests(&actor);
    }

    /// The generation is gone: report `Stopped`, remember it, start whatever
    /// was queued behind it (or, once shutdown is past its drain, report
    /// that one as never started).
    pub(super) fn remove_actor(&mut self, actor_id: &str, reason: &StopReason) {
        let Some(slot) = self.actors.remove(actor_id) else {
            return;
        };
        let ActorSlot {
            current: mut record,
            queued,
        } = *slot;
        if let Some(token) = record.watchdog.take() {
            self.watchdogs.cancel(token);
        }
        let tunnel = std::mem::replace(&mut record.tunnel, self.tunnel.actor_state());
        self.end_actor_requests(tunnel);
        record.push_event(&mut self.outgoing_events, stopped_event(reason));
        debug!(actor = ?record.actor, ?reason, "actor removed");
        if !record.orphaned {
            self.retire(record);
        }
        if let Some(next) = queued {
            self.actors.queue_taken(1);
            if self.is_finishing_or_done() {
                // Disconnected for good: nothing could stop it again.
                self.report_never_started(next.checkpoint, &StopReason::Shutdown);
            } else {
                self.start_actor(next.checkpoint, next.command);
            }
        }
        self.on_actor_removed();
    }

    /// Stops every actor for `reason`, in id order so the outputs are the same
    /// on every run.
    pub(super) fn stop_all_actors(&mut self, reason: StopReason) {
        for id in self.sorted_actor_ids() {
            self.begin_stop(&id, reason.clone());
        }
    }

    pub(super) fn sorted_actor_ids(&self) -> Vec<Id> {
        let mut ids: Vec<Id> = self.actors.ids().cloned().collect();
        ids.sort_unstable();
        ids
    }

    pub(super) fn on_watchdog(&mut self, watchdog: Watchdog) {
        let Some(record) = self.record(&watchdog.actor) else {
            return;
        };
        match (watchdog.kind, record.phase.clone()) {
            (WatchdogKind::Start, Phase::Starting { .. }) => {
                warn!(actor = ?watchdog.actor, "actor start timed out");
                record.watchdog = None;
                self.begin_stop(&watchdog.actor.actor_id, StopReason::StartTimedOut);
            }
            (WatchdogKind::Stop, Phase::Stopping { reason, draining }) => {
                // Still draining: what is left is aborted (HTTP) or closed.
                warn!(actor = ?watchdog.actor, draining, "actor stop timed out; dropping it");
                record.watchdog = None;
                self.remove_actor(&watchdog.actor.actor_id, &reason);
            }
            _ => {}
        }
    }

    /// The live record of exactly this generation.
    pub(super) fn record(&mut self, actor: &ActorRef) -> Option<&mut ActorRecord> {
        self.actors
            .get_mut(&actor.actor_id)
            .map(|slot| &mut slot.current)
            .filter(|r| r.actor.generation == actor.generation)
    }

    fn live_record(&mut self, actor: &ActorRef) -> Result<&mut ActorRecord, CallError> {
        if self.shutdown == ShutdownPhase::Complete {
            return Err(CallError::Shutdown);
        }
        self.record(actor)
            .ok_or_else(|| CallError::ActorNotFound(actor.clone()))
    }

    /// The user's start callback finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, CallError, Event, Timestamp};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # let actor = testing::start_actor(&mut runner, conn, "A")?;
    /// # testing::drain(&mut runner);
    /// # let key = testing::http_request(&mut runner, conn, 2, testing::get("A", "/ping"))?;
    /// # while runner.poll_transmit().is_some() {}
    /// // A request that arrived while the actor was starting waits for it...
    /// assert_eq!(runner.poll_event(), None);
    /// runner.actor_started(Timestamp::ZERO, &actor, Ok(()))?;
    /// // ...and is delivered once it has started.
    /// assert!(matches!(runner.poll_event(), Some(Event::HttpRequest(_))));
    /// // Reporting the start twice is refused.
    /// let again = runner.actor_started(Timestamp::ZERO, &actor, Ok(()));
    /// assert!(matches!(again, Err(CallError::WrongState { state: "running", .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn actor_started(
        &mut self,
        now: crate::Timestamp,
        actor: &ActorRef,
        result: Result<(), String>,
    ) -> Result<(), CallError> {
        let actor = Cow::Borrowed(actor);
        self.step(now, Input::ActorStarted { actor, result })
            .into_call()
    }

    pub(super) fn on_actor_started(
        &mut self,
        actor: &ActorRef,
        result: Result<(), String>,
    ) -> Result<(), CallError> {
        let record = self.live_record(actor)?;
        let Phase::Starting { stop_after, .. } = record.phase.clone() else {
            return Err(wrong_state(record, "actor_started"));
        };
        let token = record.watchdog.take();
        record.phase = Phase::Running;
        if let Some(token) = token {
            self.watchdogs.cancel(token);
        }
        match (result, stop_after) {
            (Err(message), _) => self.begin_stop(&actor.actor_id, StopReason::StartFailed(message)),
            (Ok(()), stop_after) => {
                self.release_inbox(actor);
                if let Some(reason) = stop_after {
                    self.begin_stop(&actor.actor_id, *reason);
                }
            }
        }
        Ok(())
    }

    /// The user's stop callback finished. Its WebSockets end at once (spec
    /// §6.7): hibernatable ones go back to the gateway, plain ones are
    /// closed 1000 `actor.stopped` (a client could keep one open forever).
    /// The actor is reported stopped (and gone) once its open HTTP requests
    /// are answered; until then it drains, still within the stop timeout
    /// (`timeouts.actor_stop`, counted from its `ActorStop`), which aborts
    /// what is left. No drain once the engine has given the actor up
    /// (runner lost, new runner id) or shutdown is disconnected for good.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Event, StopReason, Timestamp, Transmit, protocol};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # let actor = testing::started_actor(&mut runner, conn, "A")?;
    /// # let checkpoint = ActorCheckpoint { actor_id: "A".into(), generation: 0, index: 1 };
    /// let stop = ToClient::Commands(vec![CommandWrapper { checkpoint, inner: Command::StopActor }]);
    /// runner.handle_frame(Timestamp::ZERO, conn, &encode_to_client(ProtocolVersion::V5, &stop)?);
    /// let reason = StopReason::Engine;
    /// assert_eq!(runner.poll_event(), Some(Event::ActorStop { actor: actor.clone(), reason }));
    /// # while runner.poll_transmit().is_some() {}
    /// runner.actor_stopped(Timestamp::ZERO, &actor)?;
    /// let Some(Transmit::Frame(frame)) = runner.poll_transmit() else { panic!() };
    /// let ToServer::Events(events) = decode_to_server(ProtocolVersion::V5, &frame)? else { panic!() };
    /// let stopped = ActorState::Stopped(ActorStateStopped { code: StopCode::Ok, message: None });
    /// assert_eq!(events[0].inner, protocol::Event::StateUpdate(EventActorStateUpdate { state: stopped }));
    /// assert_eq!(runner.actor_count(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn actor_stopped(
        &mut self,
        now: crate::Timestamp,
        actor: &ActorRef,
    ) -> Result<(), CallError> {
        let actor = Cow::Borrowed(actor);
        self.step(now, Input::ActorStopped { actor }).into_call()
    }

    pub(super) fn on_actor_stopped(&mut self, actor: &ActorRef) -> Result<(), CallError> {
        let record = self.live_record(actor)?;
        let Phase::Stopping {
            reason,
            draining: false,
        } = record.phase.clone()
        else {
            return Err(wrong_state(record, "actor_stopped"));
        };
        // Once disconnected for good, or once the engine has given the
        // actor up, nothing it answers can reach anyone: no drain.
        let given_up = record.orphaned
            || matches!(
                *reason,
                StopReason::RunnerLost | StopReason::RunnerIdChanged
            );
        if given_up || self.is_finishing_or_done() {
            self.remove_actor(&actor.actor_id, &reason);
            return Ok(());
        }
        // Sockets do not hold the stop (spec §6.7): a hibernatable one goes
        // back to the gateway, a plain one is closed 1000 `actor.stopped`
        // at once — a client would keep it open for as long as it likes.
        // HTTP requests are answered or, at the stop timeout, aborted.
        self.end_sockets_of_stopped(actor);
        let Some(record) = self.record(actor) else {
            return Ok(());
        };
        if record.tunnel.request_count() == 0 {
            self.remove_actor(&actor.actor_id, &reason);
        } else {
            debug!(
                ?actor,
                open = record.tunnel.request_count(),
                "stopped; draining its requests"
            );
            record.phase = Phase::Stopping {
                reason,
                draining: true,
            };
        }
        Ok(())
    }

    /// Removes the actors whose last HTTP request ended during this
    /// input while they were draining (deferred to the input's end, so that
    /// the answer that ended it goes out before the actor's `Stopped`).
    pub(super) fn remove_drained_actors(&mut self) {
        if self.drained.is_empty() || self.shutdown == ShutdownPhase::Complete {
            self.drained.clear();
            return;
        }
        for actor in std::mem::take(&mut self.drained) {
            let Some(record) = self.record(&actor) else {
                continue;
            };
            if let Phase::Stopping {
                reason,
                draining: true,
            } = record.phase.clone()
            {
                if record.tunnel.request_count() == 0 {
                    self.remove_actor(&actor.actor_id, &reason);
                }
            }
        }
    }

    /// Asks the engine to put the actor to sleep; the engine answers with a stop.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Event, Timestamp, Transmit, protocol};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # let actor = testing::started_actor(&mut runner, conn, "A")?;
    /// runner.sleep_actor(Timestamp::ZERO, &actor)?;
    /// let Some(Transmit::Frame(frame)) = runner.poll_transmit() else { panic!() };
    /// let ToServer::Events(events) = decode_to_server(ProtocolVersion::V5, &frame)? else { panic!() };
    /// let sleep = protocol::Event::Intent(EventActorIntent { intent: ActorIntent::Sleep });
    /// assert_eq!(events[0].inner, sleep);
    /// // The actor keeps running until the engine's stop command comes.
    /// assert_eq!(runner.actor_count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sleep_actor(
        &mut self,
        now: crate::Timestamp,
        actor: &ActorRef,
    ) -> Result<(), CallError> {
        let actor = Cow::Borrowed(actor);
        self.step(now, Input::SleepActor { actor }).into_call()
    }

    /// Asks the engine to stop the actor (with crash policy `sleep`, a clean
    /// stop destroys it); the engine answers with a stop.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Event, Timestamp, Transmit, protocol};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # let actor = testing::started_actor(&mut runner, conn, "A")?;
    /// runner.stop_actor(Timestamp::ZERO, &actor)?;
    /// let Some(Transmit::Frame(frame)) = runner.poll_transmit() else { panic!() };
    /// let ToServer::Events(events) = decode_to_server(ProtocolVersion::V5, &frame)? else { panic!() };
    /// let stop = protocol::Event::Intent(EventActorIntent { intent: ActorIntent::Stop });
    /// assert_eq!(events[0].inner, stop);
    /// assert_eq!(runner.actor_count(), 1); // until the engine's stop command
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stop_actor(&mut self, now: crate::Timestamp, actor: &ActorRef) -> Result<(), CallError> {
        let actor = Cow::Borrowed(actor);
        self.step(now, Input::StopActor { actor }).into_call()
    }

    /// Sets (`Some`, absolute Unix epoch ms) or clears (`None`) the actor's
    /// alarm; the engine wakes a sleeping actor when it comes due.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Event, Timestamp, Transmit, protocol};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # let actor = testing::started_actor(&mut runner, conn, "A")?;
    /// runner.set_alarm(Timestamp::ZERO, &actor, Some(1_700_000_000_000))?;
    /// let Some(Transmit::Frame(frame)) = runner.poll_transmit() else { panic!() };
    /// let ToServer::Events(events) = decode_to_server(ProtocolVersion::V5, &frame)? else { panic!() };
    /// let alarm = EventActorSetAlarm { alarm_ts: Some(1_700_000_000_000) };
    /// assert_eq!(events[0].inner, protocol::Event::SetAlarm(alarm));
    /// runner.set_alarm(Timestamp::ZERO, &actor, None)?; // clears it
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_alarm(
        &mut self,
        now: crate::Timestamp,
        actor: &ActorRef,
        alarm_ts: Option<i64>,
    ) -> Result<(), CallError> {
        let actor = Cow::Borrowed(actor);
        self.step(now, Input::SetAlarm { actor, alarm_ts })
            .into_call()
    }

    /// The actor failed: it is stopped (the user gets `ActorStop`) and
    /// reported with code `ERROR`, so the engine applies its crash policy.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Event, Runner, StopReason, Timestamp, protocol};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # let actor = testing::started_actor(&mut runner, conn, "A")?;
    /// # let sent = |r: &mut Runner| testing::sent(r).unwrap();
    /// runner.crash_actor(Timestamp::ZERO, &actor, "out of memory")?;
    /// let reason = StopReason::Crashed("out of memory".into());
    /// assert_eq!(runner.poll_event(), Some(Event::ActorStop { actor: actor.clone(), reason }));
    /// runner.actor_stopped(Timestamp::ZERO, &actor)?;
    /// let Some(ToServer::Events(events)) = sent(&mut runner).pop() else { panic!() };
    /// let message = Some("out of memory".into());
    /// let stopped = ActorState::Stopped(ActorStateStopped { code: StopCode::Error, message });
    /// assert_eq!(events[0].inner, protocol::Event::StateUpdate(EventActorStateUpdate { state: stopped }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn crash_actor(
        &mut self,
        now: crate::Timestamp,
        actor: &ActorRef,
        message: impl Into<String>,
    ) -> Result<(), CallError> {
        let (actor, message) = (Cow::Borrowed(actor), message.into());
        self.step(now, Input::CrashActor { actor, message })
            .into_call()
    }

    pub(super) fn on_crash_actor(
        &mut self,
        actor: &ActorRef,
        message: String,
    ) -> Result<(), CallError> {
        self.live_record(actor)?;
        self.begin_stop(&actor.actor_id, StopReason::Crashed(message));
        Ok(())
    }

    /// Asks the engine to put the actor to sleep (`sleep`) or to stop it.
    pub(super) fn user_intent(&mut self, actor: &ActorRef, sleep: bool) -> Result<(), CallError> {
        let wanted = if sleep {
            ActorIntent::Sleep
        } else {
            ActorIntent::Stop
        };
        self.user_event(actor, intent(wanted))
    }

    /// Sets or clears the actor's alarm.
    pub(super) fn user_alarm(
        &mut self,
        actor: &ActorRef,
        alarm_ts: Option<i64>,
    ) -> Result<(), CallError> {
        let alarm = protocol::Event::SetAlarm(EventActorSetAlarm { alarm_ts });
        self.user_event(actor, alarm)
    }

    /// Records an event the user asked for (an intent, an alarm).
    fn user_event(&mut self, actor: &ActorRef, event: protocol::Event) -> Result<(), CallError> {
        let limit = self.config.limits.max_unacked_events_per_actor;
        let (record, outgoing) = self.live_record_split(actor)?;
        if record.events.len() >= limit {
            return Err(CallError::EventBacklogFull {
                actor: actor.clone(),
                limit,
            });
        }
        record.push_event(outgoing, event);
        Ok(())
    }

    /// Like `live_record`, also lending the outgoing event buffer (a disjoint
    /// field) so an event can be recorded without a second lookup.
    fn live_record_split(
        &mut self,
        actor: &ActorRef,
    ) -> Result<(&mut ActorRecord, &mut Vec<EventWrapper>), CallError> {
        if self.shutdown == ShutdownPhase::Complete {
            return Err(CallError::Shutdown);
        }
        let record = self
            .actors
            .get_mut(&actor.actor_id)
            .map(|slot| &mut slot.current)
            .filter(|r| r.actor.generation == actor.generation)
            .ok_or_else(|| CallError::ActorNotFound(actor.clone()))?;
        Ok((record, &mut self.outgoing_events))
    }
}

/// Engine-requested and runner-wide stops wait for a start in progress;
/// start failures and timeouts are about the start itself and act at once.
// The snapshot's part (see `super::snapshot`): the actor, then 0 for a
// start deadline, 1 for a stop deadline.
impl Watchdog {
    pub(super) fn save(&self, s: &mut crate::encoding::state::Saver) {
        use crate::encoding::codec::Put;
        crate::encoding::values::put_actor(&mut s.buf, &self.actor);
        s.buf.put_u8(match self.kind {
            WatchdogKind::Start => 0,
            WatchdogKind::Stop => 1,
        });
    }

    pub(super) fn load(
        c: &mut crate::encoding::codec::Cursor<'_>,
    ) -> Result<Self, crate::encoding::codec::Malformed> {
        let actor = crate::encoding::values::get_actor(c)?;
        let kind = match c.u8()? {
            0 => WatchdogKind::Start,
            1 => WatchdogKind::Stop,
            _ => return Err("unknown watchdog kind"),
        };
        Ok(Watchdog { actor, kind })
    }
}

fn defers_to_start(reason: &StopReason) -> bool {
    !matches!(
        reason,
        StopReason::StartFailed(_) | StopReason::StartTimedOut
    )
}

fn wrong_state(record: &ActorRecord, call: &'static str) -> CallError {
    CallError::WrongState {
        actor: record.actor.clone(),
        state: record.phase.name(),
        call,
    }
}

fn stopped_event(reason: &StopReason) -> protocol::Event {
    let stopped = ActorStateStopped {
        code: reason.code(),
        message: reason.message(),
    };
    state_event(ActorState::Stopped(stopped))
}

fn state_event(state: ActorState) -> protocol::Event {
    protocol::Event::StateUpdate(EventActorStateUpdate { state })
}

fn intent(intent: ActorIntent) -> protocol::Event {
    protocol::Event::Intent(EventActorIntent { intent })
}
