//! The engine's actor commands (`protocol::Command`): start and stop, deduplicated
//! and acknowledged promptly.
//!
//! The engine stores every command until it is acknowledged and replays all
//! unacknowledged ones after each init, so commands arrive more than once.
//! Each (actor, generation) keeps the highest command index processed — also
//! after the generation stopped (see `outbox`) — and anything at or below it
//! is only acknowledged again. Acknowledgements go out at the end of every
//! `ToClientCommands`, not every five minutes as in the reference runner.

use tracing::{debug, warn};

use super::Runner;
use super::actor_table::{Phase, QueuedStart};
use super::tunnel::reasons::TOO_MANY_REQUESTS;
use crate::output::StopReason;
use crate::protocol::{
    ActorCheckpoint, Command, CommandStartActor, CommandWrapper, MessageId, ToServer,
    ToServerTunnelMessage, ToServerTunnelMessageKind, ToServerWebSocketClose,
};

/// What a start command means given what the runner holds for its actor.
enum StartDisposition {
    /// Nothing known: start it.
    New,
    /// Already seen (same or older generation, or a retired one): ack only.
    Seen,
    /// Newer than the live generation: that one is superseded.
    Newer,
}

impl Runner {
    pub(super) fn on_commands(&mut self, commands: Vec<CommandWrapper>) {
        for CommandWrapper { checkpoint, inner } in commands {
            self.outgoing_acks.push(checkpoint.clone());
            match inner {
                Command::StartActor(start) => self.on_start_command(checkpoint, start),
                Command::StopActor => self.on_stop_command(&checkpoint),
            }
        }
    }

    fn on_start_command(&mut self, cp: ActorCheckpoint, start: CommandStartActor) {
        match self.start_disposition(&cp) {
            StartDisposition::Seen => {
                debug!(actor = %cp.actor_id, generation = cp.generation, "duplicate start ignored")
            }
            StartDisposition::New if self.actors.len() >= self.config.limits.max_actors => {
                warn!(actor = %cp.actor_id, "actor limit reached; refusing start");
                self.refuse_start(cp, &StopReason::Capacity);
            }
            StartDisposition::New if !self.has_retirement_place() => {
                warn!(actor = %cp.actor_id, "retired generation limit reached; refusing start");
                self.refuse_start(cp, &StopReason::Capacity);
            }
            StartDisposition::New => {
                let start = self.limit_hibernating(&cp, start);
                self.start_actor(cp, start)
            }
            StartDisposition::Newer if !self.newer_has_retirement_place(&cp) => {
                warn!(actor = %cp.actor_id, "retired generation limit reached; refusing start");
                self.refuse_start(cp, &StopReason::Capacity);
            }
            StartDisposition::Newer => {
                let start = self.limit_hibernating(&cp, start);
                self.queue_start(cp, start)
            }
        }
    }

    fn start_disposition(&mut self, cp: &ActorCheckpoint) -> StartDisposition {
        if let Some(retired) = self.retired.get_mut(&cp.actor_id, cp.generation) {
            retired.last_command_index = retired.last_command_index.max(cp.index);
            return StartDisposition::Seen;
        }
        // Generations only grow: a start older than one already seen is a
        // replay of a superseded generation (dropped without being retired).
        if self
            .retired
            .newest_generation(&cp.actor_id)
            .is_some_and(|newest| cp.generation < newest)
        {
            return StartDisposition::Seen;
        }
        let Some(slot) = self.actors.get_mut(&cp.actor_id) else {
            return StartDisposition::New;
        };
        let current = &mut slot.current;
        if cp.generation <= current.actor.generation {
            if cp.generation == current.actor.generation {
                current.last_command_index = current.last_command_index.max(cp.index);
            }
            return StartDisposition::Seen;
        }
        match &mut slot.queued {
            Some(q) if q.checkpoint.generation >= cp.generation => {
                if q.checkpoint.generation == cp.generation {
                    q.checkpoint.index = q.checkpoint.index.max(cp.index);
                }
                StartDisposition::Seen
            }
            _ => StartDisposition::Newer,
        }
    }

    /// Keeps at most `max_requests_per_actor` of the hibernated sockets a
    /// start lists (they count as the actor's open sockets); the rest are
    /// closed at once (1011 `runner.too_many_requests`), as a new socket
    /// past the limit would be.
    fn limit_hibernating(
        &mut self,
        cp: &ActorCheckpoint,
        mut start: CommandStartActor,
    ) -> CommandStartActor {
        let limit = self.config.limits.max_requests_per_actor;
        if start.hibernating_requests.len() <= limit {
            return start;
        }
        let excess = start.hibernating_requests.split_off(limit);
        warn!(actor = %cp.actor_id, listed = limit + excess.len(), limit, "too many hibernated sockets; closing the rest");
        for request in excess {
            let close = ToServerWebSocketClose {
                code: Some(1011),
                reason: Some(TOO_MANY_REQUESTS.to_owned()),
                hibernate: false,
            };
            let message_id = MessageId {
                gateway_id: request.gateway_id,
                request_id: request.request_id,
                message_index: 0,
            };
            // Commands only arrive on a ready connection, so this is sent.
            self.send(&ToServer::TunnelMessage(ToServerTunnelMessage {
                message_id,
                message_kind: ToServerTunnelMessageKind::WebSocketClose(close),
            }));
        }
        start
    }

    /// Whether a newer generation queued behind the live one has a place
    /// in the retired table: it takes over the place of the generation it
    /// supersedes (which, orphaned, never retires) or of the older start it
    /// replaces in the queue; otherwise it needs a free one.
    fn newer_has_retirement_place(&self, cp: &ActorCheckpoint) -> bool {
        let takes_over = self
            .actors
            .get(&cp.actor_id)
            .is_some_and(|slot| !slot.current.orphaned || slot.queued.is_some());
        takes_over || self.has_retirement_place()
    }

    /// The engine moved on to a newer generation: the live one is stopped
    /// (its events no longer matter) and the new one starts after it.
    fn queue_start(&mut self, cp: ActorCheckpoint, command: CommandStartActor) {
        let Some(slot) = self.actors.get_mut(&cp.actor_id) else {
            return;
        };
        debug!(actor = %cp.actor_id, generation = cp.generation, "newer generation queued behind the live one");
        slot.current.orphaned = true;
        self.retired.forget_older(&cp.actor_id, cp.generation);
        let replaced = slot.queued.replace(Box::new(QueuedStart {
            checkpoint: cp.clone(),
            command,
        }));
        if replaced.is_none() {
            self.actors.queue_added();
        }
        self.begin_stop(&cp.actor_id, StopReason::Superseded);
    }

    fn on_stop_command(&mut self, cp: &ActorCheckpoint) {
        if let Some(retired) = self.retired.get_mut(&cp.actor_id, cp.generation) {
            retired.last_command_index = retired.last_command_index.max(cp.index);
            return;
        }
        let Some(slot) = self.actors.get_mut(&cp.actor_id) else {
            return debug!(actor = %cp.actor_id, "stop for an unknown actor ignored");
        };
        if slot
            .queued
            .as_ref()
            .is_some_and(|q| q.checkpoint.generation == cp.generation)
        {
            // Stopped before it ever started: it never will.
            if let Some(queued) = slot.queued.take() {
                self.actors.queue_taken(1);
                let mut queued_cp = queued.checkpoint;
                queued_cp.index = queued_cp.index.max(cp.index);
                self.report_never_started(queued_cp, &StopReason::Engine);
            }
            return;
        }
        let current = &mut slot.current;
        if current.actor.generation != cp.generation || cp.index <= current.last_command_index {
            return;
        }
        current.last_command_index = cp.index;
        if !matches!(current.phase, Phase::Stopping { .. }) {
            self.begin_stop(&cp.actor_id, StopReason::Engine);
        }
    }
}
