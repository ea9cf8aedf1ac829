//! The live actors, found by id.

use std::hash::BuildHasher;

use hashbrown::hash_table::{Entry, HashTable};

use super::Hasher;
use super::actors::ActorSlot;
use crate::protocol::Id;

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
}

fn id_of(slot: &ActorSlot) -> &str {
    &slot.current.actor.actor_id
}

impl ActorTable {
    pub(super) fn new(hasher: Hasher) -> Self {
        ActorTable {
            slots: HashTable::new(),
            hasher,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.slots.len()
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
