//! The live actors, found by id, and what the runner holds for each.

use std::hash::BuildHasher;

use hashbrown::hash_table::{Entry, HashTable};

use super::Hasher;
use super::event_log::EventLog;
use super::tunnel::actor_tunnel::ActorTunnel;
use crate::deadline::DeadlineToken;
use crate::ids::ActorRef;
use crate::output::StopReason;
use crate::protocol::{self, ActorCheckpoint, CommandStartActor, EventWrapper, Id};

/// Everything the runner holds for one actor id.
#[derive(Debug)]
pub(super) struct ActorSlot {
    pub(super) current: ActorRecord,
    /// A newer generation the engine started while `current` was still
    /// present; it starts once `current` is gone. Boxed: rare, and large
    /// enough to make every slot of the actor map 60 % bigger if inline.
    pub(super) queued: Option<Box<QueuedStart>>,
}

/// One live generation.
#[derive(Debug)]
pub(super) struct ActorRecord {
    pub(super) actor: ActorRef,
    pub(super) phase: Phase,
    /// Highest command index processed for this generation.
    pub(super) last_command_index: i64,
    pub(super) events: EventLog,
    /// The engine no longer cares about this generation (runner id changed,
    /// or a newer generation exists): its events are neither kept nor sent.
    pub(super) orphaned: bool,
    /// The start or stop deadline running for it, if any.
    pub(super) watchdog: Option<DeadlineToken>,
    /// Its requests and sockets, and what waits for its start.
    pub(super) tunnel: ActorTunnel,
}

/// Where a generation is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
///
/// Reasons are boxed: they are rare (or brief) and a reason inline would
/// add 24 bytes to every actor's slot.
pub(super) enum Phase {
    /// `ActorStart` emitted; waiting for `actor_started`. A stop that arrives
    /// meanwhile waits for the start to finish, so the user's start and stop
    /// never run at the same time.
    Starting {
        stop_after: Option<Box<StopReason>>,
        /// `restore_websockets` was called (it may be, once, while starting).
        restored: bool,
    },
    /// Started.
    Running,
    /// `ActorStop` emitted (exactly once); waiting for `actor_stopped`
    /// and then, `draining`, for its open HTTP requests to end
    /// (all within the stop timeout) before it is reported stopped.
    Stopping {
        reason: Box<StopReason>,
        draining: bool,
    },
}

impl Phase {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Phase::Starting { .. } => "starting",
            Phase::Running => "running",
            Phase::Stopping {
                draining: false, ..
            } => "stopping",
            Phase::Stopping { draining: true, .. } => "draining",
        }
    }
}

/// A start command waiting for the previous generation to go.
#[derive(Debug)]
pub(super) struct QueuedStart {
    pub(super) checkpoint: ActorCheckpoint,
    pub(super) command: CommandStartActor,
}

impl ActorRecord {
    /// Records an event in the generation's log and queues it for sending at
    /// the end of the current input. Orphaned generations record nothing: the
    /// engine ignores their events.
    pub(super) fn push_event(&mut self, outgoing: &mut Vec<EventWrapper>, event: protocol::Event) {
        if self.orphaned {
            return;
        }
        outgoing.push(self.events.push(&self.actor, event));
    }
}

/// A hash table of boxed slots keyed by the id inside each slot.
///
/// This table is most of a big runner's memory, and a hash table keeps 15–55 %
/// of its buckets empty: a bucket here is one pointer, where a map of id to
/// slot would spend the id (16 bytes) and the slot itself (136 bytes) on
/// every bucket, empty ones included.
#[derive(Debug)]
pub(super) struct ActorTable {
    slots: HashTable<Box<ActorSlot>>,
    hasher: Hasher,
    /// Slots holding a queued start, kept up to date by whoever sets or
    /// takes one ([`queue_added`](Self::queue_added),
    /// [`queue_taken`](Self::queue_taken)): each will retire a generation.
    queued: usize,
}

fn id_of(slot: &ActorSlot) -> &str {
    &slot.current.actor.actor_id
}

impl ActorTable {
    pub(super) fn new(hasher: Hasher) -> Self {
        ActorTable {
            slots: HashTable::new(),
            hasher,
            queued: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Slots holding a queued start.
    pub(super) fn queued_count(&self) -> usize {
        self.queued
    }

    /// A slot's `queued` went from `None` to `Some`.
    pub(super) fn queue_added(&mut self) {
        self.queued += 1;
    }

    /// `count` slots' `queued` went from `Some` to `None`.
    pub(super) fn queue_taken(&mut self, count: usize) {
        self.queued = self.queued.saturating_sub(count);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub(super) fn get(&self, id: &str) -> Option<&ActorSlot> {
        let hash = self.hasher.hash_one(id);
        self.slots.find(hash, |s| id_of(s) == id).map(|s| &**s)
    }

    pub(super) fn get_mut(&mut self, id: &str) -> Option<&mut ActorSlot> {
        let hash = self.hasher.hash_one(id);
        self.slots
            .find_mut(hash, |s| id_of(s) == id)
            .map(|s| &mut **s)
    }

    /// Adds a slot under its actor's id; returns the slot it replaces.
    pub(super) fn insert(&mut self, slot: Box<ActorSlot>) -> Option<Box<ActorSlot>> {
        let hasher = &self.hasher;
        let hash = hasher.hash_one(id_of(&slot));
        let entry = self.slots.entry(
            hash,
            |s| id_of(s) == id_of(&slot),
            |s| hasher.hash_one(id_of(s)),
        );
        match entry {
            Entry::Occupied(mut old) => Some(std::mem::replace(old.get_mut(), slot)),
            Entry::Vacant(place) => {
                place.insert(slot);
                None
            }
        }
    }

    pub(super) fn remove(&mut self, id: &str) -> Option<Box<ActorSlot>> {
        let hash = self.hasher.hash_one(id);
        let found = self.slots.find_entry(hash, |s| id_of(s) == id).ok()?;
        Some(found.remove().0)
    }

    pub(super) fn ids(&self) -> impl Iterator<Item = &Id> {
        self.slots.iter().map(|s| &s.current.actor.actor_id)
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &ActorSlot> {
        self.slots.iter().map(|s| &**s)
    }

    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut ActorSlot> {
        self.slots.iter_mut().map(|s| &mut **s)
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod layout {
    /// A boxed slot is one allocation per actor: at 136 bytes it takes a
    /// 144-byte chunk of the usual allocators, 16 bytes less than at 144–152.
    /// Grow it only knowingly (rare fields go behind a box, like `queued`).
    #[test]
    fn an_actor_slot_stays_within_136_bytes() {
        assert!(std::mem::size_of::<super::ActorSlot>() <= 136);
    }
}
