//! The memory of stopped generations ("retired"): a removed generation's
//! unacknowledged events and command watermark, kept until the engine has
//! surely seen them (see the outbox, which retires and resends).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::Hasher;
use super::event_log::EventLog;
use crate::Timestamp;
use crate::deadline::DeadlineQueue;
use crate::ids::ConnId;
use crate::protocol::Id;

/// (actor id, generation).
pub(super) type GenKey = (Id, u32);

/// A stopped generation the engine may still ask about.
#[derive(Debug)]
pub(super) struct RetiredGen {
    seq: u64,
    pub(super) last_command_index: i64,
    pub(super) events: EventLog,
}

/// Stopped generations, bounded in number (oldest forgotten first).
#[derive(Debug)]
pub(super) struct Retired {
    map: HashMap<GenKey, RetiredGen, Hasher>,
    /// The generations in `map`, per actor: the newest one tells a replayed
    /// start of an older, superseded generation from a new one.
    by_actor: HashMap<Id, BTreeSet<u32>, Hasher>,
    order: BTreeMap<u64, GenKey>,
    pub(super) confirms: DeadlineQueue<(GenKey, ConnId)>,
    next_seq: u64,
}

impl Retired {
    pub(super) fn new(hasher: Hasher) -> Self {
        Retired {
            map: HashMap::with_hasher(hasher.clone()),
            by_actor: HashMap::with_hasher(hasher),
            order: BTreeMap::new(),
            confirms: DeadlineQueue::default(),
            next_seq: 0,
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Timestamp> {
        self.confirms.next_deadline()
    }

    pub(super) fn get_mut(&mut self, key: &GenKey) -> Option<&mut RetiredGen> {
        self.map.get_mut(key)
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// The newest generation of `actor` remembered here.
    pub(super) fn newest_generation(&self, actor: &Id) -> Option<u32> {
        self.by_actor.get(actor)?.last().copied()
    }

    pub(super) fn insert(&mut self, key: GenKey, last_command_index: i64, events: EventLog) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, key.clone());
        self.by_actor
            .entry(key.0.clone())
            .or_default()
            .insert(key.1);
        let old = self.map.insert(
            key,
            RetiredGen {
                seq,
                last_command_index,
                events,
            },
        );
        if let Some(old) = old {
            self.order.remove(&old.seq);
        }
    }

    pub(super) fn remove(&mut self, key: &GenKey) {
        if let Some(retired) = self.map.remove(key) {
            self.order.remove(&retired.seq);
            self.forget_generation(key);
        }
    }

    pub(super) fn pop_oldest(&mut self) -> Option<GenKey> {
        let (_, key) = self.order.pop_first()?;
        self.map.remove(&key);
        self.forget_generation(&key);
        Some(key)
    }

    fn forget_generation(&mut self, (actor, generation): &GenKey) {
        if let Some(gens) = self.by_actor.get_mut(actor) {
            gens.remove(generation);
            if gens.is_empty() {
                self.by_actor.remove(actor);
            }
        }
    }

    pub(super) fn sorted_keys(&self) -> Vec<GenKey> {
        let mut keys: Vec<GenKey> = self.map.keys().cloned().collect();
        keys.sort_unstable();
        keys
    }

    pub(super) fn clear(&mut self) {
        self.map.clear();
        self.by_actor.clear();
        self.order.clear();
        self.confirms.clear();
    }
}
