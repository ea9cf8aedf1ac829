//! Actor key-value storage messages.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::wire::{strict_bool, strict_option, strict_option_bool};

/// Version and update time of one stored value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvMetadata {
    /// Opaque version of the value.
    pub version: Bytes,
    /// Last update, Unix epoch milliseconds.
    pub update_ts: i64,
}

/// Which keys a [`KvListRequest`] covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvListQuery {
    /// Every key of the actor.
    All,
    /// Keys from `start` (inclusive) to `end` (inclusive unless `exclusive`).
    Range(KvListRangeQuery),
    /// Keys that start with the given bytes.
    Prefix(KvListPrefixQuery),
}

/// Bounds of a range listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvListRangeQuery {
    /// First key (inclusive).
    pub start: Bytes,
    /// Last key; inclusive unless `exclusive`.
    pub end: Bytes,
    /// Whether `end` is excluded.
    #[serde(with = "strict_bool")]
    pub exclusive: bool,
}

/// A prefix listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvListPrefixQuery {
    /// The byte prefix.
    pub key: Bytes,
}

/// Reads the values of `keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvGetRequest {
    /// Keys to read.
    pub keys: Vec<Bytes>,
}

/// Lists key/value pairs in key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvListRequest {
    /// The keys to list.
    pub query: KvListQuery,
    /// Descending order when `Some(true)`.
    #[serde(with = "strict_option_bool")]
    pub reverse: Option<bool>,
    /// At most this many pairs (engine default 16384).
    #[serde(with = "strict_option")]
    pub limit: Option<u64>,
}

/// Writes `keys[i] = values[i]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvPutRequest {
    /// Keys to write.
    pub keys: Vec<Bytes>,
    /// Values, one per key.
    pub values: Vec<Bytes>,
}

/// Deletes `keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvDeleteRequest {
    /// Keys to delete.
    pub keys: Vec<Bytes>,
}

/// Deletes the half-open range `[start, end)` (protocol v7 and later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvDeleteRangeRequest {
    /// First key deleted.
    pub start: Bytes,
    /// First key kept.
    pub end: Bytes,
}

/// One KV operation.
///
/// The wire tag of [`KvRequestData::Drop`] depends on the protocol version
/// (4 before v7, 5 from v7 on, where `DeleteRange` takes 4); the codec handles
/// that, so this type is the same for every version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvRequestData {
    /// Read keys.
    Get(KvGetRequest),
    /// List keys.
    List(KvListRequest),
    /// Write keys.
    Put(KvPutRequest),
    /// Delete keys.
    Delete(KvDeleteRequest),
    /// Delete a key range (v7 and later only).
    DeleteRange(KvDeleteRangeRequest),
    /// Delete every key of the actor.
    Drop,
}

/// The engine's answer to a KV request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvResponseData {
    /// The request failed.
    Error(KvErrorResponse),
    /// Values found, in requested order; missing keys are absent.
    Get(KvGetResponse),
    /// Pairs listed.
    List(KvListResponse),
    /// Put done.
    Put,
    /// Delete (or delete-range) done.
    Delete,
    /// Drop done.
    Drop,
}

/// Failure text from the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvErrorResponse {
    /// What went wrong.
    pub message: String,
}

/// Values of the keys that exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvGetResponse {
    /// Keys found.
    pub keys: Vec<Bytes>,
    /// Their values.
    pub values: Vec<Bytes>,
    /// Their metadata.
    pub metadata: Vec<KvMetadata>,
}

/// Pairs of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvListResponse {
    /// Keys in order.
    pub keys: Vec<Bytes>,
    /// Their values.
    pub values: Vec<Bytes>,
    /// Their metadata.
    pub metadata: Vec<KvMetadata>,
}
