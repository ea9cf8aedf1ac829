//! The event outbox: recording, batching, acknowledgement and resend of actor
//! events, and retiring stopped generations (their memory is in `retired`).
//!
//! The reference runner keeps an actor's unacknowledged events in the actor's
//! record, so the final `Stopped` of an actor removed while disconnected is
//! lost. Here a removed generation is *retired*: its unacknowledged events and
//! its command watermark stay until the engine has surely seen them — they were
//! sent on a connection that then stayed up for `timeouts.retention` — or until
//! they stop mattering (newer generation, new runner id). The engine only
//! acknowledges events every 250, so "until acknowledged" alone would keep the
//! last events of every actor that ever slept forever.

use std::collections::BTreeMap;

use tracing::warn;

use super::Runner;
use super::actor_table::ActorRecord;
use super::event_log::EventLog;
use super::retired::GenKey;
use crate::ids::ConnId;
use crate::protocol::{ActorCheckpoint, ToServer, ToServerAckCommands};

impl Runner {
    /// Number of stopped generations remembered for deduplication and resend
    /// (at most [`Limits::max_retired_generations`](crate::Limits)).
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Config, Timestamp};
    /// # let (mut runner, conn) = testing::connected({ let mut c = Config::new("http://h:1", "r", "k"); c.timeouts.retention = std::time::Duration::from_secs(5); c })?;
    /// # let actor = testing::started_actor(&mut runner, conn, "A")?;
    /// runner.crash_actor(Timestamp::ZERO, &actor, "boom")?;
    /// runner.actor_stopped(Timestamp::ZERO, &actor)?;
    /// assert_eq!(runner.retired_generation_count(), 1);
    /// // Forgotten once its `Stopped` was sent on a connection that stayed up for
    /// // `timeouts.retention` (5 s here).
    /// runner.handle_timeout(Timestamp::from_millis(5_000));
    /// assert_eq!(runner.retired_generation_count(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retired_generation_count(&self) -> usize {
        self.retired.len()
    }

    /// Sends what the current input produced: recorded events (in frames of
    /// at most `events_per_frame`) and command acknowledgements. While not
    /// connected both are dropped here: events stay in their logs and are
    /// resent after the next init, and the engine replays unacknowledged
    /// commands, which are acknowledged again.
    pub(super) fn flush(&mut self) {
        let mut events = std::mem::take(&mut self.outgoing_events);
        let acks = std::mem::take(&mut self.outgoing_acks);
        if !self.is_ready() {
            return;
        }
        let per_frame = self.config.limits.events_per_frame;
        while !events.is_empty() {
            let rest = events.split_off(per_frame.min(events.len()));
            self.send(&ToServer::Events(events));
            events = rest;
        }
        if !acks.is_empty() {
            let last_command_checkpoints = coalesce_acks(acks);
            self.send(&ToServer::AckCommands(ToServerAckCommands {
                last_command_checkpoints,
            }));
        }
    }

    pub(super) fn on_ack_events(&mut self, checkpoints: Vec<ActorCheckpoint>) {
        for cp in checkpoints {
            // Only the same generation's log is pruned: a late ack for an old
            // generation must not drop a newer generation's events.
            if let Some(slot) = self.actors.get_mut(&cp.actor_id) {
                if slot.current.actor.generation == cp.generation {
                    slot.current.events.ack(cp.index);
                    continue;
                }
            }
            if let Some(retired) = self.retired.get_mut(&cp.actor_id, cp.generation) {
                retired.ack(cp.index);
            }
        }
    }

    /// After an init: every unacknowledged event of every live and retired
    /// generation, oldest first within a generation, generations in id order.
    pub(super) fn resend_events(&mut self, conn: ConnId) {
        self.outgoing_events.clear();
        let mut keys: Vec<GenKey> = self
            .actors
            .values()
            .filter(|slot| !slot.current.orphaned)
            .map(|slot| {
                (
                    slot.current.actor.actor_id.clone(),
                    slot.current.actor.generation,
                )
            })
            .collect();
        keys.extend(self.retired.sorted_keys());
        keys.sort_unstable();
        let confirm_at = self.now + self.config.timeouts.retention;
        for key in keys {
            if let Some(retired) = self.retired.get_mut(&key.0, key.1) {
                self.outgoing_events.extend(retired.unacked(&key.0));
                self.retired.confirm(key, confirm_at, conn);
            } else if let Some(slot) = self.actors.get(&key.0) {
                let actor = &slot.current.actor;
                self.outgoing_events.extend(
                    slot.current
                        .events
                        .unacked(&actor.actor_id, actor.generation),
                );
            }
        }
    }

    /// Whether the retired table has a place to spare beyond those held for
    /// the generations that will retire: every live actor and queued start
    /// holds one (counted generously: an orphaned generation never
    /// retires). A start is admitted only then, so a stopped generation
    /// always finds its place and is never forgotten before the engine has
    /// surely seen its last frames: forgetting it early would let a replay
    /// of its start (its acknowledgement lost with a connection) run the
    /// user's start a second time.
    pub(super) fn has_retirement_place(&self) -> bool {
        let held = self.actors.len() + self.actors.queued_count() + self.retired.len();
        held < self.config.limits.max_retired_generations
    }

    /// Keeps a removed generation's watermark and unacknowledged events.
    pub(super) fn retire(&mut self, record: ActorRecord) {
        let key = (record.actor.actor_id, record.actor.generation);
        if self.retired.len() >= self.config.limits.max_retired_generations {
            // Unreachable: every generation that retires held a place.
            warn!(actor = %key.0, generation = key.1, "retired generation limit reached; not remembering it");
            return;
        }
        self.retired
            .insert(key.clone(), record.last_command_index, record.events);
        self.retired.forget_older(&key.0, key.1);
        if let Some(conn) = self.ready_conn() {
            let at = self.now + self.config.timeouts.retention;
            self.retired.confirm(key, at, conn);
        }
    }

    /// The engine has seen a retired generation's last frames if they went
    /// out on the connection that is still the current one.
    pub(super) fn run_retired_confirmations(&mut self) {
        while let Some((key, conn)) = self.retired.pop_due_confirm(self.now) {
            if self.ready_conn() == Some(conn) {
                self.retired.remove(&key);
            }
        }
    }

    /// The engine gave this runner a new id: every actor, event and command
    /// watermark belonged to the old one.
    pub(super) fn forget_previous_runner(&mut self) {
        self.drop_all_requests();
        self.retired.clear();
        self.outgoing_events.clear();
        self.outgoing_acks.clear();
        let mut dropped_queued = 0;
        for slot in self.actors.values_mut() {
            slot.current.orphaned = true;
            slot.current.events = EventLog::default();
            dropped_queued += usize::from(slot.queued.take().is_some());
        }
        self.actors.queue_taken(dropped_queued);
        self.stop_all_actors(crate::output::StopReason::RunnerIdChanged);
    }
}

/// One checkpoint per (actor, generation), with the highest index, in a
/// stable order.
fn coalesce_acks(acks: Vec<ActorCheckpoint>) -> Vec<ActorCheckpoint> {
    let mut best: BTreeMap<GenKey, i64> = BTreeMap::new();
    for cp in acks {
        let slot = best.entry((cp.actor_id, cp.generation)).or_insert(cp.index);
        *slot = (*slot).max(cp.index);
    }
    best.into_iter()
        .map(|((actor_id, generation), index)| ActorCheckpoint {
            actor_id,
            generation,
            index,
        })
        .collect()
}
