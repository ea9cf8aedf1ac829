//! Writing a snapshot: the runner's fields in the order of the format (see
//! the parent module). Each table with private parts writes them itself
//! (`save` next to its type); this file writes the rest and the order.

use super::super::Runner;
use super::super::actor_table::{ActorRecord, ActorSlot, Phase};
use super::super::conn_state::ConnState;
use super::super::shutdown_phase::ShutdownPhase;
use crate::encoding::codec::Put;
use crate::encoding::config::put_config;
use crate::encoding::state::Saver;
use crate::encoding::values::{
    put_actor, put_event, put_metadata, put_shutdown_reason, put_stop_reason, put_time,
    put_transmit,
};

impl Runner {
    pub(super) fn save(&self, s: &mut Saver) {
        put_config(&mut s.buf, &self.config);
        put_time(&mut s.buf, self.now);
        s.buf.put_bool(self.stepped);
        s.buf.extend_from_slice(&self.rng.state().to_le_bytes());
        save_conn(s, self.conn);
        s.buf.put_varint(self.next_conn_id);
        s.buf.put_varint(u64::from(self.backoff_attempt));
        s.buf.put_opt_str(self.runner_id.as_deref());
        s.buf.put_bool(self.metadata.is_some());
        if let Some(metadata) = &self.metadata {
            put_metadata(&mut s.buf, metadata);
        }
        self.timers.save(s);
        save_shutdown(s, &self.shutdown);
        self.save_actors(s);
        s.queue(&self.watchdogs, |s, w| w.save(s));
        self.retired.save(s);
        self.kv.save(s);
        self.tunnel.save(s);
        self.save_outputs(s);
        self.counters.save(s);
    }

    fn save_actors(&self, s: &mut Saver) {
        let mut slots: Vec<&ActorSlot> = self.actors.values().collect();
        slots.sort_unstable_by(|a, b| a.current.actor.actor_id.cmp(&b.current.actor.actor_id));
        s.buf.put_varint(slots.len() as u64);
        for slot in slots {
            save_record(s, &slot.current);
            s.buf.put_bool(slot.queued.is_some());
            if let Some(queued) = &slot.queued {
                s.bare(&queued.checkpoint);
                s.bare(&queued.command);
            }
        }
    }

    fn save_outputs(&self, s: &mut Saver) {
        let redact = s.redact.then_some(s.version);
        s.buf.put_varint(self.transmits.len() as u64);
        for transmit in self.transmits.iter() {
            put_transmit(&mut s.buf, transmit, redact);
        }
        s.buf.put_varint(self.events.len() as u64);
        for event in self.events.iter() {
            put_event(&mut s.buf, event, s.redact);
        }
        s.buf.put_varint(self.outgoing_events.len() as u64);
        for event in &self.outgoing_events {
            s.bare(event);
        }
        s.buf.put_varint(self.outgoing_acks.len() as u64);
        for ack in &self.outgoing_acks {
            s.bare(ack);
        }
        s.buf.put_varint(self.drained.len() as u64);
        for actor in &self.drained {
            put_actor(&mut s.buf, actor);
        }
    }
}

fn save_conn(s: &mut Saver, conn: ConnState) {
    let (tag, id) = match conn {
        ConnState::Idle => (0, None),
        ConnState::Connecting(id) => (1, Some(id)),
        ConnState::AwaitingInit(id) => (2, Some(id)),
        ConnState::Ready(id) => (3, Some(id)),
        ConnState::Backoff => (4, None),
        ConnState::Closing(id) => (5, Some(id)),
        ConnState::Closed => (6, None),
    };
    s.buf.put_u8(tag);
    if let Some(id) = id {
        s.buf.put_varint(id.0);
    }
}

fn save_shutdown(s: &mut Saver, phase: &ShutdownPhase) {
    match phase {
        ShutdownPhase::Running => s.buf.put_u8(0),
        ShutdownPhase::Draining => s.buf.put_u8(1),
        ShutdownPhase::Finishing(reason) => {
            s.buf.put_u8(2);
            put_shutdown_reason(&mut s.buf, reason);
        }
        ShutdownPhase::Complete => s.buf.put_u8(3),
    }
}

fn save_phase(s: &mut Saver, phase: &Phase) {
    match phase {
        Phase::Starting {
            stop_after,
            restored,
        } => {
            s.buf.put_u8(0);
            s.buf.put_bool(*restored);
            s.buf.put_bool(stop_after.is_some());
            if let Some(reason) = stop_after {
                put_stop_reason(&mut s.buf, reason);
            }
        }
        Phase::Running => s.buf.put_u8(1),
        Phase::Stopping { reason, draining } => {
            s.buf.put_u8(2);
            s.buf.put_bool(*draining);
            put_stop_reason(&mut s.buf, reason);
        }
    }
}

fn save_record(s: &mut Saver, record: &ActorRecord) {
    put_actor(&mut s.buf, &record.actor);
    save_phase(s, &record.phase);
    s.buf.put_zigzag(record.last_command_index);
    record.events.save(s);
    s.buf.put_bool(record.orphaned);
    s.opt_token(record.watchdog);
    record.tunnel.save(s);
}
