//! The KV requests awaiting an answer, and how an answer becomes a result.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use crate::Timestamp;
use crate::deadline::{DeadlineQueue, DeadlineToken};
use crate::ids::KvRequestId;
use crate::kv::{KvError, KvResponse};
use crate::protocol::{
    Id, KvGetResponse, KvListResponse, KvRequestData, KvResponseData, ToServerKvRequest,
};

/// One request waiting for its answer.
#[derive(Debug)]
struct Pending {
    id: KvRequestId,
    wire_id: u32,
    actor_id: Id,
    data: KvRequestData,
    expiry: DeadlineToken,
}

/// Requests awaiting answers, in the order they were made. That order is also
/// the resend order after a reconnect: every v5 KV operation is idempotent when
/// replayed in order, so resending everything unanswered is safe.
#[derive(Debug, Default)]
pub(super) struct KvTable {
    pending: BTreeMap<KvRequestId, Pending>,
    by_wire_id: HashMap<u32, KvRequestId, foldhash::fast::FixedState>,
    next_id: u64,
    next_wire_id: u32,
    expiry: DeadlineQueue<KvRequestId>,
}

impl KvTable {
    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }

    pub(super) fn next_deadline(&self) -> Option<Timestamp> {
        self.expiry.next_deadline()
    }

    /// Registers a request; the wire id skips ids still in use, so a wrap of
    /// the `u32` counter can never mix two answers up.
    pub(super) fn insert(
        &mut self,
        actor_id: Id,
        data: KvRequestData,
        deadline: Timestamp,
    ) -> KvRequestId {
        let id = KvRequestId(self.next_id);
        self.next_id += 1;
        let mut wire_id = self.next_wire_id;
        while self.by_wire_id.contains_key(&wire_id) {
            wire_id = wire_id.wrapping_add(1);
        }
        self.next_wire_id = wire_id.wrapping_add(1);
        let expiry = self.expiry.insert(deadline, id);
        self.by_wire_id.insert(wire_id, id);
        self.pending.insert(
            id,
            Pending {
                id,
                wire_id,
                actor_id,
                data,
                expiry,
            },
        );
        id
    }

    /// The wire message for `id`.
    pub(super) fn message(&self, id: KvRequestId) -> Option<ToServerKvRequest> {
        let p = self.pending.get(&id)?;
        Some(ToServerKvRequest {
            actor_id: p.actor_id.clone(),
            request_id: p.wire_id,
            data: p.data.clone(),
        })
    }

    /// Every pending id, oldest first.
    pub(super) fn ids(&self) -> Vec<KvRequestId> {
        self.pending.keys().copied().collect()
    }

    /// Matches an answer to its request. `None` for an unknown wire id (an
    /// answer to a request that already timed out, or garbage).
    pub(super) fn complete(
        &mut self,
        wire_id: u32,
        data: KvResponseData,
    ) -> Option<(KvRequestId, Result<KvResponse, KvError>)> {
        let id = self.by_wire_id.remove(&wire_id)?;
        let p = self.pending.remove(&id)?;
        self.expiry.cancel(p.expiry);
        Some((p.id, interpret(&p.data, data)))
    }

    /// Removes one request whose deadline has passed.
    pub(super) fn pop_expired(&mut self, now: Timestamp) -> Option<KvRequestId> {
        let id = self.expiry.pop_due(now)?;
        if let Some(p) = self.pending.remove(&id) {
            self.by_wire_id.remove(&p.wire_id);
        }
        Some(id)
    }

    /// Removes every request, oldest first.
    pub(super) fn drain(&mut self) -> Vec<KvRequestId> {
        self.by_wire_id.clear();
        self.expiry.clear();
        std::mem::take(&mut self.pending).into_keys().collect()
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
        _ => Err(KvError::Malformed(
            "response kind does not match the request",
        )),
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
        return Err(KvError::Malformed(
            "get response has unequal key and value counts",
        ));
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
        return Err(KvError::Malformed(
            "list response has unequal key and value counts",
        ));
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
        let first = t.insert("A".into(), get(), deadline);
        assert_eq!(t.pending[&first].wire_id, u32::MAX);
        let second = t.insert("A".into(), get(), deadline);
        assert_eq!(t.pending[&second].wire_id, 0);
        t.next_wire_id = u32::MAX;
        let third = t.insert("A".into(), get(), deadline);
        assert_eq!(
            t.pending[&third].wire_id, 1,
            "skips MAX and 0, both pending"
        );
        assert!(t.complete(0, KvResponseData::Put).is_some());
        assert_eq!(t.pop_expired(deadline), Some(first));
        assert_eq!(t.len(), 1);
    }
}
