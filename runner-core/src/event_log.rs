//! The events of one actor generation that the engine has not acknowledged.

use std::collections::VecDeque;

use crate::output::ActorRef;
use crate::protocol::{ActorCheckpoint, Event, EventWrapper};

/// Indices start at 0 and increase by one per event; entries leave only when
/// the engine acknowledges them (or the whole log is dropped).
#[derive(Debug, Default)]
pub(crate) struct EventLog {
    next_index: i64,
    unacked: VecDeque<EventWrapper>,
}

impl EventLog {
    /// Appends an event and returns the wire form to send.
    pub(crate) fn push(&mut self, actor: &ActorRef, event: Event) -> EventWrapper {
        let wrapper = EventWrapper {
            checkpoint: ActorCheckpoint {
                actor_id: actor.actor_id.clone(),
                generation: actor.generation,
                index: self.next_index,
            },
            inner: event,
        };
        self.next_index += 1;
        if self.unacked.capacity() == 0 {
            // Most generations keep one event (`Running`) until they stop:
            // room for one, not the four a first push would make.
            self.unacked.reserve_exact(1);
        }
        self.unacked.push_back(wrapper.clone());
        wrapper
    }

    /// Drops every event with an index up to `index`.
    pub(crate) fn ack(&mut self, index: i64) {
        while self
            .unacked
            .front()
            .is_some_and(|e| e.checkpoint.index <= index)
        {
            self.unacked.pop_front();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.unacked.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.unacked.is_empty()
    }

    pub(crate) fn unacked(&self) -> impl Iterator<Item = &EventWrapper> {
        self.unacked.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ActorIntent, EventActorIntent};

    #[test]
    fn indices_increase_and_acks_prune_a_prefix() {
        let mut log = EventLog::default();
        let actor = ActorRef::new("A", 3);
        let sleep = || {
            Event::Intent(EventActorIntent {
                intent: ActorIntent::Sleep,
            })
        };
        let idx: Vec<i64> = (0..4)
            .map(|_| log.push(&actor, sleep()).checkpoint.index)
            .collect();
        assert_eq!(idx, [0, 1, 2, 3]);
        log.ack(1);
        assert_eq!(
            log.unacked()
                .map(|e| e.checkpoint.index)
                .collect::<Vec<_>>(),
            [2, 3]
        );
        log.ack(-1);
        assert_eq!(log.len(), 2);
        log.ack(10);
        assert!(log.is_empty());
        assert_eq!(log.push(&actor, sleep()).checkpoint.index, 4);
    }
}
