//! The memory of stopped generations ("retired"): a removed generation's
//! unacknowledged events and command watermark, kept until the engine has
//! surely seen them (see the outbox, which retires and resends).
//!
//! Kept small because every actor that stops leaves one behind for
//! `timeouts.retention`: one table entry per actor (not one per generation
//! plus a per-actor index), the actor's generations inline (nearly always
//! one), and the event log reduced to its next index once every event is
//! acknowledged (the log itself is boxed only while events are pending).

use std::collections::HashMap;

use super::Hasher;
use super::event_log::EventLog;
use crate::Timestamp;
use crate::deadline::{DeadlineQueue, DeadlineToken};
use crate::ids::ConnId;
use crate::protocol::{EventWrapper, Id};

/// (actor id, generation).
pub(super) type GenKey = (Id, u32);

/// A stopped generation the engine may still ask about.
#[derive(Debug)]
pub(super) struct RetiredGen {
    generation: u32,
    pub(super) last_command_index: i64,
    events: RetiredEvents,
    /// Its one pending retention confirmation: a newer one (after a
    /// reconnect) replaces it, so that a flapping connection cannot pile
    /// confirmations up (at most one per remembered generation).
    confirm: Option<DeadlineToken>,
}

/// A retired generation's events: what a snapshot needs of an empty log
/// (its next index) inline, a log with events behind a box (a full
/// `EventLog` inline would cost every retired generation 40 bytes).
#[derive(Debug)]
enum RetiredEvents {
    Acked { next_index: i64 },
    Pending(Box<EventLog>),
}

impl RetiredEvents {
    fn new(events: EventLog) -> Self {
        if events.is_empty() {
            RetiredEvents::Acked {
                next_index: events.next_index(),
            }
        } else {
            RetiredEvents::Pending(Box::new(events))
        }
    }

    fn len(&self) -> usize {
        match self {
            RetiredEvents::Acked { .. } => 0,
            RetiredEvents::Pending(log) => log.len(),
        }
    }
}

impl RetiredGen {
    /// Drops every event with an index up to `index`; the log's box goes
    /// with its last event.
    pub(super) fn ack(&mut self, index: i64) {
        if let RetiredEvents::Pending(log) = &mut self.events {
            log.ack(index);
            if log.is_empty() {
                self.events = RetiredEvents::Acked {
                    next_index: log.next_index(),
                };
            }
        }
    }

    /// The unacknowledged events in wire form, oldest first.
    pub(super) fn unacked<'a>(
        &'a self,
        actor_id: &'a Id,
    ) -> impl Iterator<Item = EventWrapper> + 'a {
        let log = match &self.events {
            RetiredEvents::Acked { .. } => None,
            RetiredEvents::Pending(log) => Some(log.unacked(actor_id, self.generation)),
        };
        log.into_iter().flatten()
    }
}

/// Stopped generations. Bounded in number by the runner, which admits a
/// start only while a place is left for it (`Runner::has_retirement_place`).
#[derive(Debug)]
pub(super) struct Retired {
    /// Per actor, its remembered generations: the newest one tells a
    /// replayed start of an older, superseded generation from a new one.
    by_actor: HashMap<Id, Generations, Hasher>,
    /// Generations remembered, over every actor.
    len: usize,
    confirms: DeadlineQueue<(GenKey, ConnId)>,
}

impl Retired {
    pub(super) fn new(hasher: Hasher) -> Self {
        Retired {
            by_actor: HashMap::with_hasher(hasher),
            len: 0,
            confirms: DeadlineQueue::default(),
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Timestamp> {
        self.confirms.next_deadline()
    }

    pub(super) fn get_mut(&mut self, actor: &Id, generation: u32) -> Option<&mut RetiredGen> {
        self.by_actor.get_mut(actor)?.get_mut(generation)
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Events of stopped generations the engine has not acknowledged
    /// (a pass over the table: for metrics snapshots, not per message).
    pub(super) fn unacked_events(&self) -> usize {
        self.by_actor
            .values()
            .flat_map(Generations::as_slice)
            .map(|retired| retired.events.len())
            .sum()
    }

    /// The newest generation of `actor` remembered here.
    pub(super) fn newest_generation(&self, actor: &Id) -> Option<u32> {
        self.by_actor.get(actor)?.newest()
    }

    pub(super) fn insert(
        &mut self,
        (actor, generation): GenKey,
        last_command_index: i64,
        events: EventLog,
    ) {
        let retired = RetiredGen {
            generation,
            last_command_index,
            events: RetiredEvents::new(events),
            confirm: None,
        };
        let replaced = match self.by_actor.get_mut(&actor) {
            Some(gens) => gens.insert(retired),
            None => {
                self.by_actor.insert(actor, Generations::One(retired));
                None
            }
        };
        match replaced {
            Some(old) => self.cancel_confirm(old.confirm),
            None => self.len += 1,
        }
    }

    /// Schedules the retention confirmation of `key` (a remembered
    /// generation) at `at` for `conn`, replacing the one pending.
    pub(super) fn confirm(&mut self, key: GenKey, at: Timestamp, conn: ConnId) {
        let Some(retired) = self
            .by_actor
            .get_mut(&key.0)
            .and_then(|gens| gens.get_mut(key.1))
        else {
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
        if let Some(retired) = self.get_mut(&key.0, key.1) {
            retired.confirm = None;
        }
        Some((key, conn))
    }

    fn cancel_confirm(&mut self, token: Option<DeadlineToken>) {
        if let Some(token) = token {
            self.confirms.cancel(token);
        }
    }

    pub(super) fn remove(&mut self, (actor, generation): &GenKey) {
        self.drop_generations(actor, |g| g == *generation);
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
        self.drop_generations(actor, |g| g < generation);
    }

    /// Forgets the generations of `actor` that `dropped` picks (and the
    /// actor, once none is left) with their pending confirmations.
    fn drop_generations(&mut self, actor: &Id, dropped: impl Fn(u32) -> bool) {
        let Some(gens) = self.by_actor.get_mut(actor) else {
            return;
        };
        let (len, confirms) = (&mut self.len, &mut self.confirms);
        let any_left = gens.take(dropped, |gone| {
            *len -= 1;
            if let Some(token) = gone.confirm {
                confirms.cancel(token);
            }
        });
        if !any_left {
            self.by_actor.remove(actor);
            self.shrink_if_sparse();
        }
    }

    /// Gives the table's room back once it is mostly empty (after a mass
    /// stop whose generations were then forgotten, a hash table would keep
    /// its peak capacity). Amortised: the table shrinks to twice its length
    /// only once it is down to a quarter of its capacity.
    fn shrink_if_sparse(&mut self) {
        let table = &mut self.by_actor;
        if table.capacity() > 64 && table.len() * 4 < table.capacity() {
            table.shrink_to(table.len() * 2);
        }
    }

    pub(super) fn sorted_keys(&self) -> Vec<GenKey> {
        self.sorted()
            .into_iter()
            .map(|(id, retired)| (id.clone(), retired.generation))
            .collect()
    }

    /// Every remembered generation with its actor, by actor then generation.
    fn sorted(&self) -> Vec<(&Id, &RetiredGen)> {
        let mut all: Vec<(&Id, &RetiredGen)> = self
            .by_actor
            .iter()
            .flat_map(|(id, gens)| gens.as_slice().iter().map(move |r| (id, r)))
            .collect();
        all.sort_unstable_by(|a, b| (a.0, a.1.generation).cmp(&(b.0, b.1.generation)));
        all
    }

    pub(super) fn clear(&mut self) {
        self.by_actor.clear();
        self.len = 0;
        self.confirms.clear();
    }
}

/// The generations of one actor remembered here, ascending. Nearly always
/// one (a newer generation makes the older ones forgotten): that one is
/// kept inline.
#[derive(Debug)]
enum Generations {
    One(RetiredGen),
    /// Two or more, ascending, no repeats (empty only for a moment, while
    /// `take` sorts them out).
    Many(Vec<RetiredGen>),
}

impl Generations {
    fn as_slice(&self) -> &[RetiredGen] {
        match self {
            Generations::One(one) => std::slice::from_ref(one),
            Generations::Many(list) => list,
        }
    }

    fn get_mut(&mut self, generation: u32) -> Option<&mut RetiredGen> {
        let list = match self {
            Generations::One(one) => std::slice::from_mut(one),
            Generations::Many(list) => list.as_mut_slice(),
        };
        let at = list
            .binary_search_by_key(&generation, |r| r.generation)
            .ok()?;
        list.get_mut(at)
    }

    fn newest(&self) -> Option<u32> {
        self.as_slice().last().map(|r| r.generation)
    }

    /// Adds `retired`; returns the one of the same generation it replaces.
    fn insert(&mut self, retired: RetiredGen) -> Option<RetiredGen> {
        if let Some(same) = self.get_mut(retired.generation) {
            return Some(std::mem::replace(same, retired));
        }
        let mut list = match std::mem::replace(self, Generations::Many(Vec::new())) {
            Generations::One(one) => vec![one],
            Generations::Many(list) => list,
        };
        let at = list.partition_point(|r| r.generation < retired.generation);
        list.insert(at, retired);
        *self = Generations::Many(list);
        None
    }

    /// Takes out the generations `dropped` picks, handing each to `gone`;
    /// whether any generation is left.
    fn take(&mut self, dropped: impl Fn(u32) -> bool, mut gone: impl FnMut(RetiredGen)) -> bool {
        let list = match self {
            Generations::One(one) if !dropped(one.generation) => return true,
            Generations::One(_) => {
                if let Generations::One(one) =
                    std::mem::replace(self, Generations::Many(Vec::new()))
                {
                    gone(one);
                }
                return false;
            }
            Generations::Many(list) if !list.iter().any(|r| dropped(r.generation)) => return true,
            Generations::Many(list) => std::mem::take(list),
        };
        let (gone_list, kept): (Vec<_>, Vec<_>) =
            list.into_iter().partition(|r| dropped(r.generation));
        gone_list.into_iter().for_each(&mut gone);
        match Generations::from_list(kept) {
            Some(left) => {
                *self = left;
                true
            }
            None => false,
        }
    }

    /// The generations of `list` (ascending), `None` when it is empty.
    fn from_list(mut list: Vec<RetiredGen>) -> Option<Generations> {
        match list.len() {
            0 | 1 => list.pop().map(Generations::One),
            _ => Some(Generations::Many(list)),
        }
    }
}

// The snapshot's part (see `super::snapshot`): the generations by key,
// then the confirmations. An acknowledged log is saved as the empty log it
// stands for, so the format is the one of a full `EventLog`.
impl Retired {
    pub(super) fn save(&self, s: &mut crate::encoding::state::Saver) {
        use crate::encoding::codec::Put;
        let all = self.sorted();
        s.buf.put_varint(all.len() as u64);
        for (id, retired) in all {
            s.buf.put_str(id);
            s.buf.put_varint(u64::from(retired.generation));
            s.buf.put_zigzag(retired.last_command_index);
            match &retired.events {
                RetiredEvents::Acked { next_index } => EventLog::acked_to(*next_index).save(s),
                RetiredEvents::Pending(log) => log.save(s),
            }
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
            let (actor, generation): GenKey = (c.string()?.into(), c.u32()?);
            let last_command_index = c.zigzag()?;
            let events = EventLog::load(c)?;
            let confirm = crate::encoding::state::opt_token(c)?;
            if self.get_mut(&actor, generation).is_some() {
                return Err("a retired generation is listed twice");
            }
            self.insert((actor.clone(), generation), last_command_index, events);
            if let Some(retired) = self.get_mut(&actor, generation) {
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
        let listed = |r: &Retired| {
            r.by_actor.get(&actor).map(|g| {
                g.as_slice()
                    .iter()
                    .map(|r| r.generation)
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(listed(&retired), Some(vec![2, 5, 7, 9]));
        assert_eq!(retired.newest_generation(&actor), Some(9));
        assert_eq!(retired.len(), 4);
        retired.remove(&(actor.clone(), 7));
        assert_eq!(listed(&retired), Some(vec![2, 5, 9]));
        assert_eq!(retired.len(), 3);
        retired.forget_older(&actor, 9);
        assert_eq!(listed(&retired), Some(vec![9]));
        assert!(matches!(
            retired.by_actor.get(&actor),
            Some(Generations::One(RetiredGen { generation: 9, .. }))
        ));
        assert_eq!(retired.len(), 1);
        retired.insert((actor.clone(), 3), 0, EventLog::default());
        assert_eq!(listed(&retired), Some(vec![3, 9]));
        retired.forget_older(&actor, 10);
        assert_eq!(listed(&retired), None);
        assert_eq!(retired.len(), 0);
        assert_eq!(retired.newest_generation(&actor), None);
    }

    /// A retired generation's log is boxed only while it holds events: the
    /// last acknowledgement leaves its next index inline, and the resend
    /// yields the pending events with their indices until then.
    #[test]
    fn an_acknowledged_log_leaves_only_its_next_index() {
        use crate::protocol::{Event, EventActorSetAlarm};
        let actor = crate::ActorRef {
            actor_id: "A".into(),
            generation: 4,
        };
        let mut log = EventLog::default();
        for ts in [10, 20, 30] {
            log.push(
                &actor,
                Event::SetAlarm(EventActorSetAlarm { alarm_ts: Some(ts) }),
            );
        }
        let mut retired = Retired::new(Hasher::default());
        retired.insert((actor.actor_id.clone(), 4), 7, log);
        assert_eq!(retired.unacked_events(), 3);
        let stopped = retired.get_mut(&actor.actor_id, 4).expect("remembered");
        stopped.ack(0);
        let resent: Vec<i64> = stopped
            .unacked(&actor.actor_id)
            .map(|w| w.checkpoint.index)
            .collect();
        assert_eq!(resent, vec![1, 2]);
        stopped.ack(2);
        assert!(matches!(
            stopped.events,
            RetiredEvents::Acked { next_index: 3 }
        ));
        assert_eq!(stopped.unacked(&actor.actor_id).count(), 0);
        // A late, older acknowledgement changes nothing.
        stopped.ack(1);
        assert!(matches!(
            stopped.events,
            RetiredEvents::Acked { next_index: 3 }
        ));
        assert_eq!(retired.unacked_events(), 0);
        assert_eq!(retired.len(), 1);
    }

    /// The table against a plain model (a sorted map of every remembered
    /// generation) under any sequence of inserts, removals, forgetting,
    /// acknowledgements, confirmations and due confirmations: the same
    /// generations, newest per actor, unacknowledged events, pending
    /// confirmations, and due confirmations in the same order.
    mod model {
        use std::collections::BTreeMap;

        use proptest::prelude::*;

        use super::*;
        use crate::protocol::{Event, EventActorSetAlarm};

        #[derive(Debug, Clone)]
        enum Op {
            Insert {
                actor: u8,
                generation: u32,
                events: u8,
            },
            Remove {
                actor: u8,
                generation: u32,
            },
            ForgetOlder {
                actor: u8,
                generation: u32,
            },
            Ack {
                actor: u8,
                generation: u32,
                index: i64,
            },
            Confirm {
                actor: u8,
                generation: u32,
                at: u64,
                conn: u64,
            },
            PopDue {
                now: u64,
            },
        }

        fn op() -> impl Strategy<Value = Op> {
            let (a, g) = (0u8..4, 0u32..6);
            prop_oneof![
                (a.clone(), g.clone(), 0u8..4).prop_map(|(actor, generation, events)| Op::Insert {
                    actor,
                    generation,
                    events
                }),
                (a.clone(), g.clone())
                    .prop_map(|(actor, generation)| Op::Remove { actor, generation }),
                (a.clone(), g.clone())
                    .prop_map(|(actor, generation)| Op::ForgetOlder { actor, generation }),
                (a.clone(), g.clone(), -1i64..4).prop_map(|(actor, generation, index)| Op::Ack {
                    actor,
                    generation,
                    index
                }),
                (a, g, 0u64..50, 0u64..3).prop_map(|(actor, generation, at, conn)| Op::Confirm {
                    actor,
                    generation,
                    at,
                    conn
                }),
                (0u64..60).prop_map(|now| Op::PopDue { now }),
            ]
        }

        /// A generation in the model: its next event index, its pending
        /// events, and its pending confirmation (at, order, conn).
        #[derive(Debug, Clone, Copy)]
        struct Remembered {
            next_index: i64,
            pending: i64,
            confirm: Option<(u64, u64, u64)>,
        }

        fn id(actor: u8) -> Id {
            format!("actor-{actor}").into()
        }

        fn log(actor: &Id, generation: u32, events: u8) -> EventLog {
            let actor = crate::ActorRef {
                actor_id: actor.clone(),
                generation,
            };
            let mut log = EventLog::default();
            for ts in 0..i64::from(events) {
                log.push(
                    &actor,
                    Event::SetAlarm(EventActorSetAlarm { alarm_ts: Some(ts) }),
                );
            }
            log
        }

        proptest! {
            #[test]
            fn the_table_behaves_as_its_model(ops in proptest::collection::vec(op(), 1..60)) {
                let mut retired = Retired::new(Hasher::default());
                let mut model: BTreeMap<(Id, u32), Remembered> = BTreeMap::new();
                let mut order = 0u64;
                for op in ops {
                    match op {
                        Op::Insert { actor, generation, events } => {
                            let actor = id(actor);
                            retired.insert((actor.clone(), generation), 0, log(&actor, generation, events));
                            let events = i64::from(events);
                            model.insert((actor, generation), Remembered { next_index: events, pending: events, confirm: None });
                        }
                        Op::Remove { actor, generation } => {
                            retired.remove(&(id(actor), generation));
                            model.remove(&(id(actor), generation));
                        }
                        Op::ForgetOlder { actor, generation } => {
                            retired.forget_older(&id(actor), generation);
                            model.retain(|(a, g), _| *a != id(actor) || *g >= generation);
                        }
                        Op::Ack { actor, generation, index } => {
                            if let Some(stopped) = retired.get_mut(&id(actor), generation) {
                                stopped.ack(index);
                            }
                            if let Some(m) = model.get_mut(&(id(actor), generation)) {
                                m.pending = m.pending.min((m.next_index - 1 - index).max(0));
                            }
                        }
                        Op::Confirm { actor, generation, at, conn } => {
                            retired.confirm((id(actor), generation), Timestamp::from_millis(at), ConnId(conn));
                            if let Some(m) = model.get_mut(&(id(actor), generation)) {
                                m.confirm = Some((at, order, conn));
                                order += 1;
                            }
                        }
                        Op::PopDue { now } => {
                            let due = model
                                .iter()
                                .filter_map(|(key, m)| m.confirm.map(|c| (c, key.clone())))
                                .filter(|((at, _, _), _)| *at <= now)
                                .min();
                            if let Some((_, key)) = &due {
                                if let Some(m) = model.get_mut(key) {
                                    m.confirm = None;
                                }
                            }
                            let expected = due.map(|((_, _, conn), key)| (key, ConnId(conn)));
                            prop_assert_eq!(retired.pop_due_confirm(Timestamp::from_millis(now)), expected);
                        }
                    }
                    let keys: Vec<GenKey> = model.keys().cloned().collect();
                    prop_assert_eq!(retired.sorted_keys(), keys);
                    prop_assert_eq!(retired.len(), model.len());
                    let pending: i64 = model.values().map(|m| m.pending).sum();
                    prop_assert_eq!(retired.unacked_events() as i64, pending);
                    let confirms = model.values().filter(|m| m.confirm.is_some()).count();
                    prop_assert_eq!(retired.confirms.len(), confirms);
                    for actor in 0..4 {
                        let newest = model.keys().filter(|(a, _)| *a == id(actor)).map(|(_, g)| *g).max();
                        prop_assert_eq!(retired.newest_generation(&id(actor)), newest);
                    }
                    for ((actor, generation), m) in &model {
                        let resent: Vec<i64> = match retired.get_mut(actor, *generation) {
                            Some(stopped) => stopped.unacked(actor).map(|w| w.checkpoint.index).collect(),
                            None => return Err(TestCaseError::fail("a remembered generation is missing")),
                        };
                        let expected: Vec<i64> = (m.next_index - m.pending..m.next_index).collect();
                        prop_assert_eq!(resent, expected);
                    }
                }
            }
        }
    }
}
