//! The memory of stopped generations ("retired"): a removed generation's
//! unacknowledged events and command watermark, kept until the engine has
//! surely seen them (see the outbox, which retires and resends).

use std::collections::HashMap;

use super::Hasher;
use super::event_log::EventLog;
use crate::Timestamp;
use crate::deadline::{DeadlineQueue, DeadlineToken};
use crate::ids::ConnId;
use crate::protocol::Id;

/// (actor id, generation).
pub(super) type GenKey = (Id, u32);

/// A stopped generation the engine may still ask about.
#[derive(Debug)]
pub(super) struct RetiredGen {
    pub(super) last_command_index: i64,
    pub(super) events: EventLog,
    /// Its one pending retention confirmation: a newer one (after a
    /// reconnect) replaces it, so that a flapping connection cannot pile
    /// confirmations up (at most one per remembered generation).
    confirm: Option<DeadlineToken>,
}

/// Stopped generations. Bounded in number by the runner, which admits a
/// start only while a place is left for it (`Runner::has_retirement_place`).
#[derive(Debug)]
pub(super) struct Retired {
    map: HashMap<GenKey, RetiredGen, Hasher>,
    /// The generations in `map`, per actor: the newest one tells a replayed
    /// start of an older, superseded generation from a new one.
    by_actor: HashMap<Id, Generations, Hasher>,
    confirms: DeadlineQueue<(GenKey, ConnId)>,
}

impl Retired {
    pub(super) fn new(hasher: Hasher) -> Self {
        Retired {
            map: HashMap::with_hasher(hasher.clone()),
            by_actor: HashMap::with_hasher(hasher),
            confirms: DeadlineQueue::default(),
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

    /// Events of stopped generations the engine has not acknowledged
    /// (a pass over the table: for metrics snapshots, not per message).
    pub(super) fn unacked_events(&self) -> usize {
        self.map.values().map(|r| r.events.len()).sum()
    }

    /// The newest generation of `actor` remembered here.
    pub(super) fn newest_generation(&self, actor: &Id) -> Option<u32> {
        self.by_actor.get(actor)?.newest()
    }

    pub(super) fn insert(&mut self, key: GenKey, last_command_index: i64, events: EventLog) {
        self.by_actor
            .entry(key.0.clone())
            .and_modify(|gens| gens.insert(key.1))
            .or_insert(Generations::One(key.1));
        let old = self.map.insert(
            key,
            RetiredGen {
                last_command_index,
                events,
                confirm: None,
            },
        );
        if let Some(old) = old {
            self.cancel_confirm(old.confirm);
        }
    }

    /// Schedules the retention confirmation of `key` (a remembered
    /// generation) at `at` for `conn`, replacing the one pending.
    pub(super) fn confirm(&mut self, key: GenKey, at: Timestamp, conn: ConnId) {
        let Some(retired) = self.map.get_mut(&key) else {
            return;
        };
        if let Some(old) = retired.confirm.take() {
            self.confirms.cancel(old);
        }
        retired.confirm = Some(self.confirms.insert(at, (key, conn)));
    }

    /// The next confirmation due at `now`, no longer pending.
    pub(super) fn pop_due_confirm(&mut self, now: Timestamp) -> Option<(GenKey, ConnId)> {
        let (key, conn) = self.confirms.pop_due(now)?;
        if let Some(retired) = self.map.get_mut(&key) {
            retired.confirm = None;
        }
        Some((key, conn))
    }

    fn cancel_confirm(&mut self, token: Option<DeadlineToken>) {
        if let Some(token) = token {
            self.confirms.cancel(token);
        }
    }

    pub(super) fn remove(&mut self, key: &GenKey) {
        if let Some(retired) = self.map.remove(key) {
            self.cancel_confirm(retired.confirm);
            self.forget_generation(key);
            self.shrink_if_sparse();
        }
    }

    /// Gives the tables' room back once they are mostly empty (after a
    /// mass stop whose generations were then forgotten, a hash table would
    /// keep its peak capacity: ~200 B per actor that once stopped).
    /// Amortised: a table shrinks to twice its length only once it is down
    /// to a quarter of its capacity.
    fn shrink_if_sparse(&mut self) {
        fn shrink<K: Eq + std::hash::Hash, V>(table: &mut HashMap<K, V, Hasher>) {
            if table.capacity() > 64 && table.len() * 4 < table.capacity() {
                table.shrink_to(table.len() * 2);
            }
        }
        shrink(&mut self.map);
        shrink(&mut self.by_actor);
    }

    fn forget_generation(&mut self, (actor, generation): &GenKey) {
        self.drop_generations(actor, |g| g == *generation);
    }

    /// Takes the generations of `actor` that `dropped` picks out of
    /// `by_actor` (and the actor, once none is left); returns them.
    fn drop_generations(&mut self, actor: &Id, dropped: impl Fn(u32) -> bool) -> Vec<u32> {
        let Some(gens) = self.by_actor.get_mut(actor) else {
            return Vec::new();
        };
        let (kept, gone) = gens.split(dropped);
        match kept {
            Some(kept) => *gens = kept,
            None => {
                self.by_actor.remove(actor);
            }
        }
        gone
    }

    /// Forgets every remembered generation of `actor` older than
    /// `generation`, once that newer one is remembered (live, queued or
    /// retired). The engine starts a generation only after it is done with
    /// the older ones, so their events no longer matter, and the newer one
    /// keeps a replayed start of any of them recognised as superseded (see
    /// `commands.rs`). This keeps the table at about one generation per
    /// actor under stop/start churn instead of one per cycle for a whole
    /// `timeouts.retention`.
    pub(super) fn forget_older(&mut self, actor: &Id, generation: u32) {
        for old in self.drop_generations(actor, |g| g < generation) {
            if let Some(retired) = self.map.remove(&(actor.clone(), old)) {
                self.cancel_confirm(retired.confirm);
            }
        }
        self.shrink_if_sparse();
    }

    pub(super) fn sorted_keys(&self) -> Vec<GenKey> {
        let mut keys: Vec<GenKey> = self.map.keys().cloned().collect();
        keys.sort_unstable();
        keys
    }

    pub(super) fn clear(&mut self) {
        self.map.clear();
        self.by_actor.clear();
        self.confirms.clear();
    }
}

/// The generations of one actor remembered here, ascending. Nearly always
/// one (a newer generation makes the older ones forgotten): that one is
/// kept inline, where a `BTreeSet` allocated a node for it.
#[derive(Debug)]
enum Generations {
    One(u32),
    /// Two or more, ascending, no repeats.
    Many(Vec<u32>),
}

impl Generations {
    fn as_slice(&self) -> &[u32] {
        match self {
            Generations::One(generation) => std::slice::from_ref(generation),
            Generations::Many(list) => list,
        }
    }

    fn newest(&self) -> Option<u32> {
        self.as_slice().last().copied()
    }

    fn insert(&mut self, generation: u32) {
        match self {
            Generations::One(one) if *one == generation => {}
            Generations::One(one) => {
                let (low, high) = (generation.min(*one), generation.max(*one));
                *self = Generations::Many(vec![low, high]);
            }
            Generations::Many(list) => {
                if let Err(at) = list.binary_search(&generation) {
                    list.insert(at, generation);
                }
            }
        }
    }

    /// Splits off the generations `dropped` picks: the rest (`None` when
    /// none is left) and those, ascending.
    fn split(&self, dropped: impl Fn(u32) -> bool) -> (Option<Generations>, Vec<u32>) {
        let (gone, kept): (Vec<u32>, Vec<u32>) = self
            .as_slice()
            .iter()
            .partition(|&&generation| dropped(generation));
        let kept = match kept.as_slice() {
            [] => None,
            [one] => Some(Generations::One(*one)),
            _ => Some(Generations::Many(kept)),
        };
        (kept, gone)
    }
}

// The snapshot's part (see `super::snapshot`): the generations by key,
// then the confirmations. `by_actor` is rebuilt from the keys.
impl Retired {
    pub(super) fn save(&self, s: &mut crate::encoding::state::Saver) {
        use crate::encoding::codec::Put;
        let mut keys: Vec<&GenKey> = self.map.keys().collect();
        keys.sort_unstable();
        s.buf.put_varint(keys.len() as u64);
        for key in keys {
            let Some(retired) = self.map.get(key) else {
                continue;
            };
            s.buf.put_str(&key.0);
            s.buf.put_varint(u64::from(key.1));
            s.buf.put_zigzag(retired.last_command_index);
            retired.events.save(s);
            s.opt_token(retired.confirm);
        }
        s.queue(&self.confirms, |s, ((id, generation), conn)| {
            s.buf.put_str(id);
            s.buf.put_varint(u64::from(*generation));
            s.buf.put_varint(conn.0);
        });
    }

    /// Fills this (empty) table.
    pub(super) fn load(
        &mut self,
        c: &mut crate::encoding::codec::Cursor<'_>,
    ) -> Result<(), crate::encoding::codec::Malformed> {
        for _ in 0..c.count()? {
            let key: GenKey = (c.string()?.into(), c.u32()?);
            let last_command_index = c.zigzag()?;
            let events = EventLog::load(c)?;
            let confirm = crate::encoding::state::opt_token(c)?;
            if self.map.contains_key(&key) {
                return Err("a retired generation is listed twice");
            }
            self.insert(key.clone(), last_command_index, events);
            if let Some(retired) = self.map.get_mut(&key) {
                retired.confirm = confirm;
            }
        }
        self.confirms = crate::encoding::state::queue(c, |c| {
            let key: GenKey = (c.string()?.into(), c.u32()?);
            Ok((key, ConnId(crate::encoding::state::counter(c)?)))
        })?;
        Ok(())
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// A flapping connection re-confirms every remembered generation on
    /// each init: one confirmation per generation stays pending, not one
    /// per init.
    #[test]
    fn a_generation_has_at_most_one_pending_confirmation() {
        let mut retired = Retired::new(Hasher::default());
        let key: GenKey = ("A".into(), 0);
        retired.insert(key.clone(), 0, EventLog::default());
        for (i, conn) in [ConnId(1), ConnId(2), ConnId(3)].into_iter().enumerate() {
            retired.confirm(key.clone(), Timestamp::from_millis(10 * i as u64), conn);
        }
        assert_eq!(retired.confirms.len(), 1);
        // Only the newest one (for the newest connection) is left.
        let due = retired.pop_due_confirm(Timestamp::from_millis(1_000));
        assert_eq!(due, Some((key.clone(), ConnId(3))));
        assert_eq!(retired.pop_due_confirm(Timestamp::from_millis(1_000)), None);
        // Forgetting a generation forgets its confirmation.
        retired.confirm(key.clone(), Timestamp::from_millis(2_000), ConnId(4));
        retired.remove(&key);
        assert_eq!(retired.confirms.len(), 0);
    }

    /// An actor's generations stay ascending and unique however they come
    /// and go; the newest is the largest; the actor is forgotten with its
    /// last generation.
    #[test]
    fn generations_per_actor_stay_ordered() {
        let mut retired = Retired::new(Hasher::default());
        let actor: Id = "A".into();
        for generation in [5, 2, 9, 2, 7] {
            retired.insert((actor.clone(), generation), 0, EventLog::default());
        }
        let listed = |r: &Retired| r.by_actor.get(&actor).map(|g| g.as_slice().to_vec());
        assert_eq!(listed(&retired), Some(vec![2, 5, 7, 9]));
        assert_eq!(retired.newest_generation(&actor), Some(9));
        assert_eq!(retired.len(), 4);
        retired.remove(&(actor.clone(), 7));
        assert_eq!(listed(&retired), Some(vec![2, 5, 9]));
        retired.forget_older(&actor, 9);
        assert_eq!(listed(&retired), Some(vec![9]));
        assert!(matches!(
            retired.by_actor.get(&actor),
            Some(Generations::One(9))
        ));
        assert_eq!(retired.len(), 1);
        retired.insert((actor.clone(), 3), 0, EventLog::default());
        assert_eq!(listed(&retired), Some(vec![3, 9]));
        retired.forget_older(&actor, 10);
        assert_eq!(listed(&retired), None);
        assert_eq!(retired.len(), 0);
        assert_eq!(retired.newest_generation(&actor), None);
    }
}
