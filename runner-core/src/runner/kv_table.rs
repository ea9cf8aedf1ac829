//! The KV calls not ended yet, and how an answer becomes a result.
//!
//! A call holds one of `limits.max_pending_kv` *slots* from the moment it is
//! sent (or would be, once connected) until its answer or its deadline; the
//! calls made while every slot is taken wait in a bounded queue, in call
//! order, and take the slots as they free up. Every call has one deadline,
//! set when it is made, whether it is queued or in flight.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use crate::Timestamp;
use crate::deadline::{DeadlineQueue, DeadlineToken};
use crate::ids::KvRequestId;
use crate::kv::{KvError, KvResponse, MALFORMED_GET, MALFORMED_KIND, MALFORMED_LIST};
use crate::protocol::{
    Id, KvGetRequest, KvGetResponse, KvListResponse, KvRequestData, KvResponseData,
    ToServerKvRequest,
};

/// What the user asked for.
#[derive(Debug)]
struct Call {
    actor_id: Id,
    data: KvRequestData,
    /// When the call was made: its latency runs from here to the answer.
    made: Timestamp,
}

/// A call holding a slot.
#[derive(Debug)]
struct InFlight {
    wire_id: u32,
    /// `None` once cancelled while on the wire: the engine is still working
    /// on it, so it keeps its slot and wire id until its answer (dropped
    /// silently) or its deadline.
    call: Option<Call>,
    expiry: DeadlineToken,
}

/// A call waiting for a slot: nothing of it has been sent.
#[derive(Debug)]
struct Queued {
    call: Call,
    expiry: DeadlineToken,
}

/// How an answer from the engine matched.
#[derive(Debug)]
pub(super) enum Answer {
    /// To this call: its result, and when the call was made.
    Call(KvRequestId, Result<KvResponse, KvError>, Timestamp),
    /// To a call cancelled while on the wire: dropped.
    Cancelled,
    /// To nothing known (a call that timed out, or garbage).
    Unknown,
}

/// A deadline that passed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Expired {
    /// This call timed out.
    Call(KvRequestId),
    /// A call cancelled while on the wire was never answered: its slot is
    /// free again, nobody is told.
    Cancelled,
}

/// The calls in flight and queued. Ids grow with every call and the queue
/// hands slots out oldest first, so every call in flight is older than every
/// queued one, and requests go out in call order. That order is also the
/// resend order after a reconnect: every v5 KV operation is idempotent when
/// replayed in order, so resending everything unanswered is safe.
#[derive(Debug, Default)]
pub(super) struct KvTable {
    in_flight: BTreeMap<KvRequestId, InFlight>,
    queued: BTreeMap<KvRequestId, Queued>,
    by_wire_id: HashMap<u32, KvRequestId, foldhash::fast::FixedState>,
    /// Entries of `in_flight` whose call was cancelled.
    cancelled: usize,
    next_id: u64,
    next_wire_id: u32,
    expiry: DeadlineQueue<KvRequestId>,
}

impl KvTable {
    /// Calls that will still end with a result: in flight or queued.
    pub(super) fn open(&self) -> usize {
        self.in_flight.len() - self.cancelled + self.queued.len()
    }

    /// Calls waiting for a slot.
    pub(super) fn queued(&self) -> usize {
        self.queued.len()
    }

    /// Slots taken, by calls in flight and by cancelled ones whose answer
    /// is still due.
    pub(super) fn slots_taken(&self) -> usize {
        self.in_flight.len()
    }

    pub(super) fn next_deadline(&self) -> Option<Timestamp> {
        self.expiry.next_deadline()
    }

    /// Queues a new call; [`promote`](Self::promote) gives it a slot.
    pub(super) fn push(
        &mut self,
        actor_id: Id,
        data: KvRequestData,
        made: Timestamp,
        deadline: Timestamp,
    ) -> KvRequestId {
        let id = KvRequestId(self.next_id);
        self.next_id += 1;
        let expiry = self.expiry.insert(deadline, id);
        let call = Call {
            actor_id,
            data,
            made,
        };
        self.queued.insert(id, Queued { call, expiry });
        id
    }

    /// Gives the oldest queued call a slot, if one of `slots` is free. The
    /// wire id skips ids still in use, so a wrap of the `u32` counter can
    /// never mix two answers up.
    pub(super) fn promote(&mut self, slots: usize) -> Option<KvRequestId> {
        if self.in_flight.len() >= slots {
            return None;
        }
        let (id, Queued { call, expiry }) = self.queued.pop_first()?;
        let mut wire_id = self.next_wire_id;
        while self.by_wire_id.contains_key(&wire_id) {
            wire_id = wire_id.wrapping_add(1);
        }
        self.next_wire_id = wire_id.wrapping_add(1);
        self.by_wire_id.insert(wire_id, id);
        let entry = InFlight {
            wire_id,
            call: Some(call),
            expiry,
        };
        self.in_flight.insert(id, entry);
        Some(id)
    }

    /// The wire message of a call in flight, its data lent out of the table
    /// (a clone would allocate for every call): give it back with
    /// [`KvTable::give_back`] once the message is encoded.
    pub(super) fn lend_message(&mut self, id: KvRequestId) -> Option<ToServerKvRequest> {
        let entry = self.in_flight.get_mut(&id)?;
        let call = entry.call.as_mut()?;
        // An empty `Get` allocates nothing; it stands in only until the
        // data comes back, within the same input.
        let data = std::mem::replace(
            &mut call.data,
            KvRequestData::Get(KvGetRequest { keys: Vec::new() }),
        );
        Some(ToServerKvRequest {
            actor_id: call.actor_id.clone(),
            request_id: entry.wire_id,
            data,
        })
    }

    /// Puts back the data [`KvTable::lend_message`] lent out.
    pub(super) fn give_back(&mut self, id: KvRequestId, data: KvRequestData) {
        if let Some(call) = self.in_flight.get_mut(&id).and_then(|e| e.call.as_mut()) {
            call.data = data;
        }
    }

    /// The wire id and actor of every call in flight (for a timeline that
    /// starts from a snapshot).
    pub(super) fn wire_owners(&self) -> impl Iterator<Item = (u32, &Id)> {
        let live = self.in_flight.values();
        live.filter_map(|e| Some((e.wire_id, &e.call.as_ref()?.actor_id)))
    }

    /// Every call in flight, oldest first (cancelled ones left out).
    pub(super) fn in_flight_ids(&self) -> Vec<KvRequestId> {
        let live = self.in_flight.iter().filter(|(_, e)| e.call.is_some());
        live.map(|(id, _)| *id).collect()
    }

    /// On a new connection: the answers of cancelled calls can no longer
    /// come, so their slots are free.
    pub(super) fn forget_cancelled(&mut self) {
        if self.cancelled == 0 {
            return;
        }
        let by_wire_id = &mut self.by_wire_id;
        let expiry = &mut self.expiry;
        self.in_flight.retain(|_, entry| {
            if entry.call.is_some() {
                return true;
            }
            by_wire_id.remove(&entry.wire_id);
            expiry.cancel(entry.expiry);
            false
        });
        self.cancelled = 0;
    }

    /// Cancels a call that has not ended. A queued call, or one in flight
    /// that is not on the wire (`on_wire` false: disconnected), is removed;
    /// one on the wire keeps its slot until its answer or deadline. `false`
    /// when the call already ended (or never existed).
    pub(super) fn cancel(&mut self, id: KvRequestId, on_wire: bool) -> bool {
        if let Some(queued) = self.queued.remove(&id) {
            self.expiry.cancel(queued.expiry);
            return true;
        }
        let Some(entry) = self.in_flight.get_mut(&id) else {
            return false;
        };
        if entry.call.is_none() {
            return false;
        }
        if on_wire {
            entry.call = None;
            self.cancelled += 1;
        } else if let Some(entry) = self.in_flight.remove(&id) {
            self.by_wire_id.remove(&entry.wire_id);
            self.expiry.cancel(entry.expiry);
        }
        true
    }

    /// Matches an answer to its call.
    pub(super) fn complete(&mut self, wire_id: u32, data: KvResponseData) -> Answer {
        let Some(id) = self.by_wire_id.remove(&wire_id) else {
            return Answer::Unknown;
        };
        let Some(entry) = self.in_flight.remove(&id) else {
            return Answer::Unknown;
        };
        self.expiry.cancel(entry.expiry);
        match entry.call {
            Some(call) => Answer::Call(id, interpret(&call.data, data), call.made),
            None => {
                self.cancelled -= 1;
                Answer::Cancelled
            }
        }
    }

    /// Removes one call whose deadline has passed, queued or in flight.
    pub(super) fn pop_expired(&mut self, now: Timestamp) -> Option<Expired> {
        let id = self.expiry.pop_due(now)?;
        if self.queued.remove(&id).is_some() {
            return Some(Expired::Call(id));
        }
        let entry = self.in_flight.remove(&id)?;
        self.by_wire_id.remove(&entry.wire_id);
        if entry.call.is_some() {
            Some(Expired::Call(id))
        } else {
            self.cancelled -= 1;
            Some(Expired::Cancelled)
        }
    }

    /// Removes every call; returns those not cancelled, oldest first.
    pub(super) fn drain(&mut self) -> Vec<KvRequestId> {
        self.by_wire_id.clear();
        self.expiry.clear();
        self.cancelled = 0;
        let in_flight = std::mem::take(&mut self.in_flight);
        let live = in_flight.into_iter().filter(|(_, e)| e.call.is_some());
        let queued = std::mem::take(&mut self.queued).into_keys();
        live.map(|(id, _)| id).chain(queued).collect()
    }
}

// The snapshot's part (see `super::snapshot`): the counters, the calls in
// flight and queued by id, then the deadlines. The wire-id index and the
// cancelled count are rebuilt from the calls in flight.
impl KvTable {
    pub(super) fn save(&self, s: &mut crate::encoding::state::Saver) {
        use crate::encoding::codec::Put;
        s.buf.put_varint(self.next_id);
        s.buf.put_varint(u64::from(self.next_wire_id));
        s.buf.put_varint(self.in_flight.len() as u64);
        for (id, entry) in &self.in_flight {
            s.buf.put_varint(id.0);
            s.buf.put_varint(u64::from(entry.wire_id));
            s.buf.put_bool(entry.call.is_some());
            if let Some(call) = &entry.call {
                call.save(s);
            }
            s.token(entry.expiry);
        }
        s.buf.put_varint(self.queued.len() as u64);
        for (id, queued) in &self.queued {
            s.buf.put_varint(id.0);
            queued.call.save(s);
            s.token(queued.expiry);
        }
        s.queue(&self.expiry, |s, id| s.buf.put_varint(id.0));
    }

    pub(super) fn load(
        c: &mut crate::encoding::codec::Cursor<'_>,
    ) -> Result<Self, crate::encoding::codec::Malformed> {
        use crate::encoding::state::{counter, token};
        let mut table = KvTable {
            next_id: counter(c)?,
            next_wire_id: c.u32()?,
            ..KvTable::default()
        };
        for _ in 0..c.count()? {
            let id = KvRequestId(counter(c)?);
            let wire_id = c.u32()?;
            let call = if c.bool()? {
                Some(Call::load(c)?)
            } else {
                None
            };
            let expiry = token(c)?;
            table.cancelled += usize::from(call.is_none());
            let clash = table.by_wire_id.insert(wire_id, id).is_some();
            let entry = InFlight {
                wire_id,
                call,
                expiry,
            };
            if clash || table.in_flight.insert(id, entry).is_some() {
                return Err("a KV call or wire id is listed twice");
            }
        }
        for _ in 0..c.count()? {
            let id = KvRequestId(counter(c)?);
            let queued = Queued {
                call: Call::load(c)?,
                expiry: token(c)?,
            };
            if table.in_flight.contains_key(&id) || table.queued.insert(id, queued).is_some() {
                return Err("a KV call is listed twice");
            }
        }
        table.expiry = crate::encoding::state::queue(c, |c| Ok(KvRequestId(counter(c)?)))?;
        Ok(table)
    }
}

impl Call {
    fn save(&self, s: &mut crate::encoding::state::Saver) {
        use crate::encoding::codec::Put;
        s.buf.put_str(&self.actor_id);
        let encode = crate::encoding::values::encode_kv;
        if s.redact {
            let mut data = self.data.clone();
            crate::encoding::redact::kv_request(&mut data);
            s.buf.put_bytes(&encode(&data));
        } else {
            s.buf.put_bytes(&encode(&self.data));
        }
        crate::encoding::values::put_time(&mut s.buf, self.made);
    }

    fn load(
        c: &mut crate::encoding::codec::Cursor<'_>,
    ) -> Result<Self, crate::encoding::codec::Malformed> {
        Ok(Call {
            actor_id: c.string()?.into(),
            data: crate::encoding::values::decode_kv(c.bytes()?)?,
            made: crate::encoding::values::get_time(c)?,
        })
    }
}

fn interpret(request: &KvRequestData, response: KvResponseData) -> Result<KvResponse, KvError> {
    match (request, response) {
        (_, KvResponseData::Error(e)) => Err(KvError::Engine(if e.message.is_empty() {
            "unknown KV error".into()
        } else {
            e.message
        })),
        (KvRequestData::Get(get), KvResponseData::Get(found)) => {
            values_in_request_order(&get.keys, found).map(KvResponse::Values)
        }
        (KvRequestData::List(_), KvResponseData::List(list)) => {
            entries(list).map(KvResponse::Entries)
        }
        (KvRequestData::Put(_), KvResponseData::Put)
        | (KvRequestData::Delete(_) | KvRequestData::DeleteRange(_), KvResponseData::Delete)
        | (KvRequestData::Drop, KvResponseData::Drop) => Ok(KvResponse::Done),
        _ => Err(KvError::Malformed(MALFORMED_KIND)),
    }
}

/// The engine returns only the keys it found. Each requested key (repeats
/// included) is looked up among them: a scan for small answers, a table for
/// large ones, so the cost stays linear.
fn values_in_request_order(
    requested: &[Bytes],
    found: KvGetResponse,
) -> Result<Vec<Option<Bytes>>, KvError> {
    if found.keys.len() != found.values.len() {
        return Err(KvError::Malformed(MALFORMED_GET));
    }
    let pairs = || found.keys.iter().zip(&found.values);
    if found.keys.len() <= 8 {
        let lookup = |k: &Bytes| pairs().find(|(fk, _)| *fk == k).map(|(_, v)| v.clone());
        return Ok(requested.iter().map(lookup).collect());
    }
    let table: HashMap<&Bytes, &Bytes> = pairs().collect();
    Ok(requested
        .iter()
        .map(|k| table.get(k).map(|v| (*v).clone()))
        .collect())
}

fn entries(list: KvListResponse) -> Result<Vec<(Bytes, Bytes)>, KvError> {
    if list.keys.len() != list.values.len() {
        return Err(KvError::Malformed(MALFORMED_LIST));
    }
    Ok(list.keys.into_iter().zip(list.values).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::KvGetRequest;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn get_answers_map_back_to_request_order() {
        let found = KvGetResponse {
            keys: vec![b("a"), b("c")],
            values: vec![b("1"), b("3")],
            metadata: vec![],
        };
        let out = values_in_request_order(&[b("a"), b("b"), b("c")], found).unwrap();
        assert_eq!(out, vec![Some(b("1")), None, Some(b("3"))]);
        let found = KvGetResponse {
            keys: vec![b("a")],
            values: vec![b("1")],
            metadata: vec![],
        };
        let out = values_in_request_order(&[b("a"), b("a")], found).unwrap();
        assert_eq!(out, vec![Some(b("1")), Some(b("1"))]);
    }

    #[test]
    fn wire_ids_wrap_and_skip_ids_in_use() {
        let mut t = KvTable {
            next_wire_id: u32::MAX,
            ..KvTable::default()
        };
        let get = || KvRequestData::Get(KvGetRequest { keys: vec![] });
        let deadline = Timestamp::from_millis(10);
        let call = |t: &mut KvTable| {
            t.push("A".into(), get(), Timestamp::ZERO, deadline);
            t.promote(usize::MAX).unwrap()
        };
        let first = call(&mut t);
        assert_eq!(t.in_flight[&first].wire_id, u32::MAX);
        let second = call(&mut t);
        assert_eq!(t.in_flight[&second].wire_id, 0);
        t.next_wire_id = u32::MAX;
        let third = call(&mut t);
        assert_eq!(
            t.in_flight[&third].wire_id, 1,
            "skips MAX and 0, both pending"
        );
        assert!(
            matches!(t.complete(0, KvResponseData::Put), Answer::Call(id, _, _) if id == second)
        );
        assert_eq!(t.pop_expired(deadline), Some(Expired::Call(first)));
        assert_eq!(t.open(), 1);
    }

    #[test]
    fn queued_calls_take_free_slots_oldest_first_and_keep_their_deadline() {
        let mut t = KvTable::default();
        let at = Timestamp::from_millis;
        let a = t.push("A".into(), KvRequestData::Drop, Timestamp::ZERO, at(10));
        let b = t.push("A".into(), KvRequestData::Drop, Timestamp::ZERO, at(20));
        let c = t.push("A".into(), KvRequestData::Drop, Timestamp::ZERO, at(30));
        assert_eq!(t.promote(1), Some(a));
        assert_eq!(t.promote(1), None, "one slot");
        assert_eq!((t.open(), t.queued(), t.slots_taken()), (3, 2, 1));
        assert!(t.cancel(b, true), "queued: removed");
        assert!(!t.cancel(b, true), "already cancelled");
        assert_eq!(t.pop_expired(at(10)), Some(Expired::Call(a)));
        assert_eq!(t.promote(1), Some(c));
        assert_eq!(
            t.next_deadline(),
            Some(at(30)),
            "c's deadline from its call"
        );
        assert_eq!(t.drain(), [c]);
    }

    #[test]
    fn a_call_cancelled_on_the_wire_keeps_its_slot_until_its_answer() {
        let mut t = KvTable::default();
        let a = t.push(
            "A".into(),
            KvRequestData::Drop,
            Timestamp::ZERO,
            Timestamp::from_millis(10),
        );
        t.promote(1);
        let wire_id = t.in_flight[&a].wire_id;
        assert!(t.cancel(a, true));
        assert_eq!((t.open(), t.slots_taken()), (0, 1));
        assert_eq!(t.lend_message(a), None, "never resent");
        assert!(t.in_flight_ids().is_empty());
        assert!(matches!(
            t.complete(wire_id, KvResponseData::Drop),
            Answer::Cancelled
        ));
        assert_eq!(t.slots_taken(), 0);
        assert!(matches!(
            t.complete(wire_id, KvResponseData::Drop),
            Answer::Unknown
        ));
        // Off the wire (disconnected), it is removed at once.
        let b = t.push(
            "A".into(),
            KvRequestData::Drop,
            Timestamp::ZERO,
            Timestamp::from_millis(10),
        );
        t.promote(1);
        assert!(t.cancel(b, false));
        assert_eq!((t.slots_taken(), t.next_deadline()), (0, None));
    }

    #[test]
    fn a_new_connection_frees_the_slots_of_cancelled_calls() {
        let mut t = KvTable::default();
        let deadline = Timestamp::from_millis(10);
        let a = t.push("A".into(), KvRequestData::Drop, Timestamp::ZERO, deadline);
        let b = t.push("A".into(), KvRequestData::Drop, Timestamp::ZERO, deadline);
        t.promote(2);
        t.promote(2);
        assert!(t.cancel(a, true));
        t.forget_cancelled();
        assert_eq!((t.slots_taken(), t.in_flight_ids()), (1, vec![b]));
        assert_eq!(t.pop_expired(deadline), Some(Expired::Call(b)));
        assert_eq!(t.pop_expired(deadline), None, "a's deadline went with it");
    }
}
