//! The engine's actor KV storage: an ordered in-memory map per actor with the
//! engine's limits and error messages (spec §4.2).

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;
use runner_core::protocol::{
    KvErrorResponse, KvGetResponse, KvListQuery, KvListResponse, KvMetadata, KvRequestData,
    KvResponseData,
};

/// Most keys in one request.
pub const MAX_KEYS: usize = 128;
/// Longest key, in bytes.
pub const MAX_KEY_SIZE: usize = 2048;
/// Largest value, in bytes.
pub const MAX_VALUE_SIZE: usize = 128 * 1024;
/// Largest put payload (keys plus values), in bytes.
pub const MAX_PUT_PAYLOAD_SIZE: usize = 976 * 1024;
/// Pairs a listing returns when the request gives no limit.
pub const DEFAULT_LIST_LIMIT: u64 = 16384;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    value: Bytes,
    version: u64,
    update_ts: i64,
}

/// One actor's keys, in byte order (the engine's FoundationDB order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvStore {
    entries: BTreeMap<Bytes, Entry>,
    next_version: u64,
}

impl KvStore {
    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Bytes> {
        self.entries.get(key).map(|e| &e.value)
    }

    /// Every key/value pair, in key order.
    pub fn pairs(&self) -> Vec<(Bytes, Bytes)> {
        self.entries
            .iter()
            .map(|(k, e)| (k.clone(), e.value.clone()))
            .collect()
    }

    /// Runs one request the way the engine does, at `now_ms`.
    pub fn apply(&mut self, request: &KvRequestData, now_ms: i64) -> KvResponseData {
        match self.try_apply(request, now_ms) {
            Ok(response) => response,
            Err(message) => KvResponseData::Error(KvErrorResponse { message }),
        }
    }

    fn try_apply(
        &mut self,
        request: &KvRequestData,
        now_ms: i64,
    ) -> Result<KvResponseData, String> {
        match request {
            KvRequestData::Get(get) => {
                validate_keys(&get.keys)?;
                Ok(KvResponseData::Get(self.read(&get.keys)))
            }
            KvRequestData::List(list) => {
                let limit = list.limit.unwrap_or(DEFAULT_LIST_LIMIT);
                let reverse = list.reverse == Some(true);
                Ok(KvResponseData::List(self.list(&list.query, reverse, limit)))
            }
            KvRequestData::Put(put) => {
                validate_put(&put.keys, &put.values)?;
                for (key, value) in put.keys.iter().zip(&put.values) {
                    self.write(key.clone(), value.clone(), now_ms);
                }
                Ok(KvResponseData::Put)
            }
            KvRequestData::Delete(delete) => {
                validate_keys(&delete.keys)?;
                for key in &delete.keys {
                    self.entries.remove(key);
                }
                Ok(KvResponseData::Delete)
            }
            KvRequestData::DeleteRange(range) => {
                // Half-open `[start, end)`; an empty or inverted range is a no-op.
                if range.start < range.end {
                    let doomed: Vec<Bytes> = self
                        .entries
                        .range(range.start.clone()..range.end.clone())
                        .map(|(k, _)| k.clone())
                        .collect();
                    for key in doomed {
                        self.entries.remove(&key);
                    }
                }
                Ok(KvResponseData::Delete)
            }
            KvRequestData::Drop => {
                self.entries.clear();
                Ok(KvResponseData::Drop)
            }
        }
    }

    fn write(&mut self, key: Bytes, value: Bytes, now_ms: i64) {
        self.next_version += 1;
        let entry = Entry {
            value,
            version: self.next_version,
            update_ts: now_ms,
        };
        self.entries.insert(key, entry);
    }

    /// Found keys only, in request order.
    fn read(&self, keys: &[Bytes]) -> KvGetResponse {
        let mut out = KvGetResponse {
            keys: vec![],
            values: vec![],
            metadata: vec![],
        };
        for key in keys {
            if let Some(entry) = self.entries.get(key) {
                push_pair(
                    &mut out.keys,
                    &mut out.values,
                    &mut out.metadata,
                    key,
                    entry,
                );
            }
        }
        out
    }

    fn list(&self, query: &KvListQuery, reverse: bool, limit: u64) -> KvListResponse {
        let matching: Box<dyn DoubleEndedIterator<Item = (&Bytes, &Entry)>> = match query {
            KvListQuery::All => Box::new(self.entries.iter()),
            KvListQuery::Range(r) => {
                let end = if r.exclusive {
                    Bound::Excluded(r.end.clone())
                } else {
                    Bound::Included(r.end.clone())
                };
                if r.start > r.end || (r.start == r.end && r.exclusive) {
                    Box::new(std::iter::empty())
                } else {
                    Box::new(self.entries.range((Bound::Included(r.start.clone()), end)))
                }
            }
            KvListQuery::Prefix(p) => {
                let end = prefix_end(&p.key).map_or(Bound::Unbounded, Bound::Excluded);
                Box::new(self.entries.range((Bound::Included(p.key.clone()), end)))
            }
        };
        let ordered: Box<dyn Iterator<Item = (&Bytes, &Entry)>> = if reverse {
            Box::new(matching.rev())
        } else {
            matching
        };
        let mut out = KvListResponse {
            keys: vec![],
            values: vec![],
            metadata: vec![],
        };
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        for (key, entry) in ordered.take(limit) {
            push_pair(
                &mut out.keys,
                &mut out.values,
                &mut out.metadata,
                key,
                entry,
            );
        }
        out
    }
}

/// The first key after every key starting with `prefix`, if any.
fn prefix_end(prefix: &[u8]) -> Option<Bytes> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(Bytes::from(end));
        }
    }
    None
}

fn push_pair(
    keys: &mut Vec<Bytes>,
    values: &mut Vec<Bytes>,
    metadata: &mut Vec<KvMetadata>,
    key: &Bytes,
    entry: &Entry,
) {
    keys.push(key.clone());
    values.push(entry.value.clone());
    metadata.push(KvMetadata {
        version: Bytes::copy_from_slice(&entry.version.to_be_bytes()),
        update_ts: entry.update_ts,
    });
}

fn validate_keys(keys: &[Bytes]) -> Result<(), String> {
    if keys.len() > MAX_KEYS {
        return Err(format!("a maximum of {MAX_KEYS} keys is allowed"));
    }
    if keys.iter().any(|k| k.len() > MAX_KEY_SIZE) {
        return Err(format!("key is too long (max {MAX_KEY_SIZE} bytes)"));
    }
    Ok(())
}

fn validate_put(keys: &[Bytes], values: &[Bytes]) -> Result<(), String> {
    validate_keys(keys)?;
    if keys.len() != values.len() {
        return Err("Keys list length != values list length".into());
    }
    if values.iter().any(|v| v.len() > MAX_VALUE_SIZE) {
        return Err(format!(
            "value is too large (max {} KiB)",
            MAX_VALUE_SIZE / 1024
        ));
    }
    let payload: usize = keys.iter().chain(values).map(Bytes::len).sum();
    if payload > MAX_PUT_PAYLOAD_SIZE {
        return Err(format!(
            "payload is too large (max {} KiB)",
            MAX_PUT_PAYLOAD_SIZE / 1024
        ));
    }
    Ok(())
}
