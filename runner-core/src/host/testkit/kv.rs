//! The test kit's KV store: one ordered map per actor, answering the
//! runner's KV requests as the engine does.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;

use crate::protocol::{
    KvGetResponse, KvListQuery, KvListRequest, KvListResponse, KvRequestData, KvResponseData,
};

/// One actor's keys and values, in key order.
pub(super) type Store = BTreeMap<Bytes, Bytes>;

/// Applies `request` to `store` and returns the engine's answer.
pub(super) fn apply(store: &mut Store, request: KvRequestData) -> KvResponseData {
    match request {
        KvRequestData::Get(get) => {
            let found: Vec<(Bytes, Bytes)> = get
                .keys
                .into_iter()
                .filter_map(|k| store.get(&k).map(|v| (k, v.clone())))
                .collect();
            let (keys, values) = found.into_iter().unzip();
            KvResponseData::Get(KvGetResponse {
                keys,
                values,
                metadata: Vec::new(),
            })
        }
        KvRequestData::List(list) => {
            let (keys, values) = listed(store, list).into_iter().unzip();
            KvResponseData::List(KvListResponse {
                keys,
                values,
                metadata: Vec::new(),
            })
        }
        KvRequestData::Put(put) => {
            store.extend(put.keys.into_iter().zip(put.values));
            KvResponseData::Put
        }
        KvRequestData::Delete(delete) => {
            for key in delete.keys {
                store.remove(&key);
            }
            KvResponseData::Delete
        }
        KvRequestData::DeleteRange(range) => {
            store.retain(|k, _| !(*k >= range.start && *k < range.end));
            KvResponseData::Delete
        }
        KvRequestData::Drop => {
            store.clear();
            KvResponseData::Drop
        }
    }
}

/// The pairs a list request selects, in the order asked, up to its limit.
fn listed(store: &Store, list: KvListRequest) -> Vec<(Bytes, Bytes)> {
    let from =
        |start: &Bytes| store.range::<Bytes, _>((Bound::Included(start.clone()), Bound::Unbounded));
    let mut pairs: Vec<(&Bytes, &Bytes)> = match &list.query {
        KvListQuery::All => store.iter().collect(),
        KvListQuery::Prefix(prefix) => from(&prefix.key)
            .take_while(|(k, _)| k.starts_with(&prefix.key))
            .collect(),
        KvListQuery::Range(range) => from(&range.start)
            .take_while(|(k, _)| **k < range.end || (!range.exclusive && **k == range.end))
            .collect(),
    };
    if list.reverse == Some(true) {
        pairs.reverse();
    }
    let limit = list
        .limit
        .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    pairs
        .into_iter()
        .take(limit)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
