//! The events of one actor generation that the engine has not acknowledged.

use std::collections::VecDeque;

use crate::ids::ActorRef;
use crate::protocol::{self, ActorCheckpoint, EventWrapper, Id};

/// Indices start at 0 and increase by one per event; entries leave only when
/// the engine acknowledges them (or the whole log is dropped).
///
/// The log keeps bare events: the actor id and generation are the owner's,
/// and an entry's index follows from its place (indices are contiguous).
/// The engine acknowledges an actor's events only every 250 of them, so most
/// generations hold their `Running` event for life: one event is kept inline,
/// without an allocation.
#[derive(Debug, Default)]
pub(super) struct EventLog {
    next_index: i64,
    unacked: Unacked,
}

#[derive(Debug, Default)]
enum Unacked {
    #[default]
    Empty,
    One(protocol::Event),
    /// Boxed: keeps the log (inline in every actor's slot) at 40 bytes;
    /// the extra allocation is only for generations with several events.
    #[allow(clippy::box_collection)]
    Many(Box<VecDeque<protocol::Event>>),
}

impl EventLog {
    /// Appends an event and returns the wire form to send.
    pub(super) fn push(&mut self, actor: &ActorRef, event: protocol::Event) -> EventWrapper {
        let wrapper = wire(&actor.actor_id, actor.generation, self.next_index, &event);
        self.next_index += 1;
        self.unacked = match std::mem::take(&mut self.unacked) {
            Unacked::Empty => Unacked::One(event),
            Unacked::One(first) => Unacked::Many(Box::new(VecDeque::from([first, event]))),
            Unacked::Many(mut all) => {
                all.push_back(event);
                Unacked::Many(all)
            }
        };
        wrapper
    }

    /// Drops every event with an index up to `index`.
    pub(super) fn ack(&mut self, index: i64) {
        let covered = index.saturating_sub(self.first_index()).saturating_add(1);
        let drop = usize::try_from(covered).unwrap_or(0).min(self.len());
        if drop == self.len() {
            self.unacked = Unacked::Empty;
        } else if let Unacked::Many(all) = &mut self.unacked {
            all.drain(..drop);
            // Back to inline storage: the queue's allocation goes.
            if all.len() == 1 {
                if let Some(last) = all.pop_front() {
                    self.unacked = Unacked::One(last);
                }
            }
        }
    }

    pub(super) fn len(&self) -> usize {
        match &self.unacked {
            Unacked::Empty => 0,
            Unacked::One(_) => 1,
            Unacked::Many(all) => all.len(),
        }
    }

    /// The index the next event would get.
    pub(super) fn next_index(&self) -> i64 {
        self.next_index
    }

    /// An empty log whose events up to `next_index - 1` were acknowledged.
    pub(super) fn acked_to(next_index: i64) -> Self {
        EventLog {
            next_index,
            unacked: Unacked::Empty,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The unacknowledged events in wire form, oldest first.
    pub(super) fn unacked<'a>(
        &'a self,
        actor_id: &'a Id,
        generation: u32,
    ) -> impl Iterator<Item = EventWrapper> + 'a {
        let (one, many) = match &self.unacked {
            Unacked::Empty => (None, None),
            Unacked::One(event) => (Some(event), None),
            Unacked::Many(all) => (None, Some(all.iter())),
        };
        one.into_iter()
            .chain(many.into_iter().flatten())
            .zip(self.first_index()..)
            .map(move |(event, index)| wire(actor_id, generation, index, event))
    }

    /// The index of the oldest unacknowledged event (indices are contiguous).
    fn first_index(&self) -> i64 {
        self.next_index - self.len() as i64
    }
}

// The snapshot's part (see `super::snapshot`): the next index, then the
// unacknowledged events, oldest first.
impl EventLog {
    pub(super) fn save(&self, s: &mut crate::encoding::state::Saver) {
        use crate::encoding::codec::Put;
        s.buf.put_zigzag(self.next_index);
        s.buf.put_varint(self.len() as u64);
        let (one, many) = match &self.unacked {
            Unacked::Empty => (None, None),
            Unacked::One(event) => (Some(event), None),
            Unacked::Many(all) => (None, Some(all.iter())),
        };
        for event in one.into_iter().chain(many.into_iter().flatten()) {
            s.bare(event);
        }
    }

    pub(super) fn load(
        c: &mut crate::encoding::codec::Cursor<'_>,
    ) -> Result<Self, crate::encoding::codec::Malformed> {
        let next_index = c.zigzag()?;
        let mut events = VecDeque::new();
        for _ in 0..c.count()? {
            events.push_back(crate::encoding::state::bare::<protocol::Event>(c)?);
        }
        // Indices stay within 0..=next_index, far from overflowing.
        if !(0..1 << 62).contains(&next_index) || (events.len() as i64) > next_index {
            return Err("event log indices out of range");
        }
        let unacked = match events.len() {
            0 => Unacked::Empty,
            1 => Unacked::One(events.pop_front().ok_or("event log indices out of range")?),
            _ => Unacked::Many(Box::new(events)),
        };
        Ok(EventLog {
            next_index,
            unacked,
        })
    }
}

/// An event in wire form, with its checkpoint.
fn wire(actor_id: &Id, generation: u32, index: i64, event: &protocol::Event) -> EventWrapper {
    EventWrapper {
        checkpoint: ActorCheckpoint {
            actor_id: actor_id.clone(),
            generation,
            index,
        },
        inner: event.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ActorIntent, EventActorIntent, EventActorSetAlarm};

    fn alarm(ts: i64) -> protocol::Event {
        protocol::Event::SetAlarm(EventActorSetAlarm { alarm_ts: Some(ts) })
    }

    fn indices(log: &EventLog, actor: &ActorRef) -> Vec<i64> {
        log.unacked(&actor.actor_id, actor.generation)
            .map(|e| e.checkpoint.index)
            .collect()
    }

    #[test]
    fn indices_increase_and_acks_prune_a_prefix() {
        let mut log = EventLog::default();
        let actor = ActorRef::new("A", 3);
        let sleep = || {
            protocol::Event::Intent(EventActorIntent {
                intent: ActorIntent::Sleep,
            })
        };
        let idx: Vec<i64> = (0..4)
            .map(|_| log.push(&actor, sleep()).checkpoint.index)
            .collect();
        assert_eq!(idx, [0, 1, 2, 3]);
        log.ack(1);
        assert_eq!(indices(&log, &actor), [2, 3]);
        log.ack(-1);
        assert_eq!(log.len(), 2);
        log.ack(10);
        assert!(log.is_empty());
        assert_eq!(log.push(&actor, sleep()).checkpoint.index, 4);
    }

    #[test]
    fn resent_events_are_the_ones_pushed_with_their_checkpoints() {
        let mut log = EventLog::default();
        let actor = ActorRef::new("B", 7);
        let pushed: Vec<EventWrapper> = (0..5).map(|i| log.push(&actor, alarm(i))).collect();
        let resent: Vec<EventWrapper> = log.unacked(&actor.actor_id, 7).collect();
        assert_eq!(resent, pushed);
        // Down to one (inline) and back up to several.
        log.ack(3);
        assert_eq!(
            log.unacked(&actor.actor_id, 7).collect::<Vec<_>>(),
            pushed[4..]
        );
        let more = log.push(&actor, alarm(5));
        assert_eq!(indices(&log, &actor), [4, 5]);
        assert_eq!(log.unacked(&actor.actor_id, 7).last(), Some(more));
    }

    #[test]
    fn acks_far_out_of_range_do_not_overflow() {
        let mut log = EventLog::default();
        let actor = ActorRef::new("C", 0);
        log.push(&actor, alarm(0));
        log.push(&actor, alarm(1));
        log.ack(i64::MIN);
        assert_eq!(log.len(), 2);
        log.ack(i64::MAX);
        assert!(log.is_empty());
    }
}
