//! Actor key-value storage messages.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::wire::{strict_bool, strict_option, strict_option_bool};

/// Version and update time of one stored value.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let meta = KvMetadata { version: "v2".into(), update_ts: 1_700_000_000_000 };
/// let data = KvResponseData::Get(KvGetResponse {
///     keys: vec!["k".into()],
///     values: vec!["value".into()],
///     metadata: vec![meta.clone()], // one per key, in the same order
/// });
/// let msg = ToClient::KvResponse(ToClientKvResponse { request_id: 1, data });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_client(v5, &encode_to_client(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvMetadata {
    /// Opaque version of the value.
    pub version: Bytes,
    /// Last update, Unix epoch milliseconds.
    pub update_ts: i64,
}

/// Which keys a [`KvListRequest`] covers.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let queries = [
///     KvListQuery::All,
///     KvListQuery::Range(KvListRangeQuery { start: "a".into(), end: "m".into(), exclusive: true }),
///     KvListQuery::Prefix(KvListPrefixQuery { key: "user/".into() }),
/// ];
/// let v5 = ProtocolVersion::V5;
/// for query in queries {
///     let msg = ToServer::KvRequest(ToServerKvRequest {
///         actor_id: "actor".into(),
///         request_id: 1,
///         data: KvRequestData::List(KvListRequest { query, reverse: None, limit: None }),
///     });
///     assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// // Keys from "a" up to, but not including, "c".
/// let query = KvListQuery::Range(KvListRangeQuery { start: "a".into(), end: "c".into(), exclusive: true });
/// let msg = ToServer::KvRequest(ToServerKvRequest {
///     actor_id: "actor".into(),
///     request_id: 1,
///     data: KvRequestData::List(KvListRequest { query, reverse: None, limit: None }),
/// });
/// let v5 = ProtocolVersion::V5;
/// let mut bytes = encode_to_server(v5, &msg)?;
/// let exclusive = bytes.len() - 3; // followed by the absent `reverse` and `limit`
/// assert_eq!(bytes[exclusive], 1);
/// bytes[exclusive] = 2; // a bool must be exactly 0 or 1
/// assert!(decode_to_server(v5, &bytes).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use runner_core::protocol::*;
///
/// // Prefixes are raw bytes, not necessarily UTF-8.
/// let query = KvListQuery::Prefix(KvListPrefixQuery { key: Bytes::from_static(&[0x01, 0xff]) });
/// let msg = ToServer::KvRequest(ToServerKvRequest {
///     actor_id: "actor".into(),
///     request_id: 1,
///     data: KvRequestData::List(KvListRequest { query, reverse: None, limit: None }),
/// });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvListPrefixQuery {
    /// The byte prefix.
    pub key: Bytes,
}

/// Reads the values of `keys`.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let msg = ToServer::KvRequest(ToServerKvRequest {
///     actor_id: "actor".into(),
///     request_id: 1,
///     data: KvRequestData::Get(KvGetRequest { keys: vec!["a".into(), "b".into()] }),
/// });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvGetRequest {
    /// Keys to read.
    pub keys: Vec<Bytes>,
}

/// Lists key/value pairs in key order.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// // The last ten keys, newest first.
/// let list = KvListRequest { query: KvListQuery::All, reverse: Some(true), limit: Some(10) };
/// let msg = ToServer::KvRequest(ToServerKvRequest {
///     actor_id: "actor".into(),
///     request_id: 2,
///     data: KvRequestData::List(list),
/// });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let put = KvPutRequest {
///     keys: vec!["a".into(), "b".into()],
///     values: vec!["1".into(), "2".into()], // a = 1, b = 2
/// };
/// let msg = ToServer::KvRequest(ToServerKvRequest {
///     actor_id: "actor".into(),
///     request_id: 3,
///     data: KvRequestData::Put(put),
/// });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvPutRequest {
    /// Keys to write.
    pub keys: Vec<Bytes>,
    /// Values, one per key.
    pub values: Vec<Bytes>,
}

/// Deletes `keys`.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let msg = ToServer::KvRequest(ToServerKvRequest {
///     actor_id: "actor".into(),
///     request_id: 4,
///     data: KvRequestData::Delete(KvDeleteRequest { keys: vec!["a".into()] }),
/// });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvDeleteRequest {
    /// Keys to delete.
    pub keys: Vec<Bytes>,
}

/// Deletes the half-open range `[start, end)` (protocol v7 and later).
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// // Deletes "a", "ab", "b"…, keeps "c".
/// let range = KvDeleteRangeRequest { start: "a".into(), end: "c".into() };
/// let msg = ToServer::KvRequest(ToServerKvRequest {
///     actor_id: "actor".into(),
///     request_id: 5,
///     data: KvRequestData::DeleteRange(range),
/// });
/// let v7 = ProtocolVersion::V7;
/// assert_eq!(decode_to_server(v7, &encode_to_server(v7, &msg)?)?, msg);
/// assert!(encode_to_server(ProtocolVersion::V6, &msg).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let msg = ToServer::KvRequest(ToServerKvRequest {
///     actor_id: "actor".into(),
///     request_id: 6,
///     data: KvRequestData::Drop,
/// });
/// // `Drop` ends the message, and its tag depends on the version.
/// let v6_bytes = encode_to_server(ProtocolVersion::V6, &msg)?;
/// let v7_bytes = encode_to_server(ProtocolVersion::V7, &msg)?;
/// assert_eq!((v6_bytes.last(), v7_bytes.last()), (Some(&4), Some(&5)));
/// assert_eq!(decode_to_server(ProtocolVersion::V7, &v7_bytes)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let error = KvResponseData::Error(KvErrorResponse { message: "too large".into() });
/// let msg = ToClient::KvResponse(ToClientKvResponse { request_id: 7, data: error });
/// let v5 = ProtocolVersion::V5;
/// let ToClient::KvResponse(response) = decode_to_client(v5, &encode_to_client(v5, &msg)?)? else {
///     panic!("not a KV response");
/// };
/// match response.data {
///     KvResponseData::Error(e) => assert_eq!(e.message, "too large"),
///     other => panic!("expected an error, got {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let data = KvResponseData::Error(KvErrorResponse { message: "key too long".into() });
/// let msg = ToClient::KvResponse(ToClientKvResponse { request_id: 8, data });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_client(v5, &encode_to_client(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvErrorResponse {
    /// What went wrong.
    pub message: String,
}

/// Values of the keys that exist.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// // Asked for "a" and "b"; only "a" exists, so "b" is simply absent.
/// let found = KvGetResponse {
///     keys: vec!["a".into()],
///     values: vec!["1".into()],
///     metadata: vec![KvMetadata { version: "v1".into(), update_ts: 1_700_000_000_000 }],
/// };
/// let msg = ToClient::KvResponse(ToClientKvResponse { request_id: 1, data: KvResponseData::Get(found) });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_client(v5, &encode_to_client(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let meta = KvMetadata { version: "v1".into(), update_ts: 1_700_000_000_000 };
/// let listed = KvListResponse {
///     keys: vec!["a".into(), "b".into()], // in key order
///     values: vec!["1".into(), "2".into()],
///     metadata: vec![meta.clone(), meta],
/// };
/// let msg = ToClient::KvResponse(ToClientKvResponse { request_id: 2, data: KvResponseData::List(listed) });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_client(v5, &encode_to_client(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvListResponse {
    /// Keys in order.
    pub keys: Vec<Bytes>,
    /// Their values.
    pub values: Vec<Bytes>,
    /// Their metadata.
    pub metadata: Vec<KvMetadata>,
}
