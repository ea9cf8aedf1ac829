//! Shortcuts for scenario tests: common sequences and transcript queries.
//! The tunnel's shortcuts (tunnel events, clients, one request's wire
//! messages) are in [`tunnel`].

pub mod tunnel;

use std::time::Duration;

use runner_core::protocol::{self, EventWrapper, ToServer};
use runner_core::{ActorRef, ConnId, Event, Timestamp, Transmit};

use super::harness::Sim;
use super::transcript::Entry;

/// Longest a shortcut waits for something before failing.
const PATIENCE: Duration = Duration::from_secs(300);

impl Sim {
    /// The engine creates `name`; runs until the runner reported it
    /// running to the engine. Returns generation 0 of it.
    pub fn start_actor(&mut self, name: &str) -> ActorRef {
        let id = self.create_actor(name);
        let actor = ActorRef::new(id.clone(), 0);
        let running = self.run_until(
            |s| {
                s.engine()
                    .actor(&id)
                    .is_some_and(|a| a.phase == super::ActorPhase::Running)
            },
            PATIENCE,
        );
        assert!(running, "{actor:?} did not start");
        actor
    }

    /// Runs until the engine sees actor `id` in `phase`; panics otherwise.
    pub fn run_until_engine_phase(&mut self, id: &str, phase: &super::ActorPhase) {
        let ok = self.run_until(
            |s| s.engine().actor(id).is_some_and(|a| a.phase == *phase),
            PATIENCE,
        );
        assert!(ok, "actor {id} never reached {phase:?} at the engine");
    }

    /// Runs until the runner emits an event matching `pred` (after the
    /// transcript position `since`); returns it with its time.
    pub fn run_until_event(
        &mut self,
        since: usize,
        mut pred: impl FnMut(&Event) -> bool,
    ) -> Option<(Timestamp, Event)> {
        let mut found = None;
        self.run_until(
            |s| {
                found = s.records_since(since).find_map(|(at, e)| match e {
                    Entry::Event(ev) if pred(ev) => Some((at, ev.clone())),
                    _ => None,
                });
                found.is_some()
            },
            PATIENCE,
        );
        found
    }

    /// Runs until the runner is connected again (a new init completed).
    pub fn run_until_connected(&mut self) {
        let since = self.mark();
        let ok = self
            .run_until_event(since, |e| matches!(e, Event::Connected { .. }))
            .is_some();
        assert!(ok, "the runner did not reconnect");
    }

    /// Position in the transcript, for the `*_since` queries.
    pub fn mark(&self) -> usize {
        self.transcript().len()
    }

    /// Records after `since`, with their time.
    pub fn records_since(&self, since: usize) -> impl Iterator<Item = (Timestamp, &Entry)> {
        self.transcript().records()[since..]
            .iter()
            .map(|r| (r.at, &r.entry))
    }

    /// Events emitted after `since`.
    pub fn events_since(&self, since: usize) -> Vec<Event> {
        self.records_since(since)
            .filter_map(|(_, e)| match e {
                Entry::Event(ev) => Some(ev.clone()),
                _ => None,
            })
            .collect()
    }

    /// Transmits emitted after `since`.
    pub fn transmits_since(&self, since: usize) -> Vec<(Timestamp, Transmit)> {
        self.records_since(since)
            .filter_map(|(at, e)| match e {
                Entry::Transmit { transmit, .. } => Some((at, transmit.clone())),
                _ => None,
            })
            .collect()
    }

    /// Frames sent after `since`, decoded.
    pub fn sent_since(&self, since: usize) -> Vec<(Timestamp, ConnId, ToServer)> {
        let at_mark = self.transcript().records()[..since]
            .iter()
            .filter(|r| {
                matches!(
                    r.entry,
                    Entry::Transmit {
                        transmit: Transmit::Frame(_),
                        ..
                    }
                )
            })
            .count();
        self.sent().split_off(at_mark)
    }

    /// Actor events sent after `since`, flattened.
    pub fn events_sent_since(&self, since: usize) -> Vec<EventWrapper> {
        self.sent_since(since)
            .into_iter()
            .filter_map(|(_, _, m)| match m {
                ToServer::Events(e) => Some(e),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// `Connect` transmits so far, with their times.
    pub fn connects(&self) -> Vec<(Timestamp, ConnId)> {
        self.transcript()
            .transmits()
            .into_iter()
            .filter_map(|(at, _, t)| match t {
                Transmit::Connect { conn, .. } => Some((at, conn)),
                _ => None,
            })
            .collect()
    }
}

/// The wire events of `actor` among `events`, by index.
pub fn events_of(events: &[EventWrapper], actor: &ActorRef) -> Vec<(i64, protocol::Event)> {
    events
        .iter()
        .filter(|e| {
            e.checkpoint.actor_id == actor.actor_id && e.checkpoint.generation == actor.generation
        })
        .map(|e| (e.checkpoint.index, e.inner.clone()))
        .collect()
}
