//! The memory of stopped generations ("retired"): a removed generation's
//! unacknowledged events and command watermark, kept until the engine has
//! surely seen them (see the outbox, which retires and resends).

use std::collections::{BTreeSet, HashMap};

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
    by_actor: HashMap<Id, BTreeSet<u32>, Hasher>,
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
        self.by_actor.get(actor)?.last().copied()
    }

    pub(super) fn insert(&mut self, key: GenKey, last_command_index: i64, events: EventLog) {
        self.by_actor
            .entry(key.0.clone())
            .or_default()
            .insert(key.1);
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
        }
    }

    fn forget_generation(&mut self, (actor, generation): &GenKey) {
        if let Some(gens) = self.by_actor.get_mut(actor) {
            gens.remove(generation);
            if gens.is_empty() {
                self.by_actor.remove(actor);
            }
        }
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
        let Some(gens) = self.by_actor.get_mut(actor) else {
            return;
        };
        let newer = gens.split_off(&generation);
        let older = std::mem::replace(gens, newer);
        if gens.is_empty() {
            self.by_actor.remove(actor);
        }
        for old in older {
            if let Some(retired) = self.map.remove(&(actor.clone(), old)) {
                self.cancel_confirm(retired.confirm);
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
        self.confirms.clear();
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
}
