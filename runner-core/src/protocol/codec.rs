//! Encoding and decoding of whole messages, for a given protocol version.
//!
//! Decoding treats its input as hostile: it never panics, allocates at most in
//! proportion to the input (every length is checked against the bytes that are
//! actually left before anything is allocated), and rejects trailing bytes,
//! invalid UTF-8, bool/optional bytes other than 0 and 1, repeated map keys and
//! unknown union tags with a [`DecodeError`] that says what and where.
//!
//! Payloads (`data` fields) decode into [`bytes::Bytes`] with exactly one copy
//! out of the frame; encoding copies them once into the frame.
//!
//! One leniency is deliberate: a `uint` (length, count or union tag) written
//! with more bytes than needed is accepted, as the engine's own decoder
//! (`serde_bare`) accepts it, while the TypeScript codec rejects it. Such
//! input is still bounded and never panics; encoding is always minimal.

use std::io;

use serde::Serialize;
use serde::de::DeserializeSeed;
use thiserror::Error;

use super::ProtocolVersion;
use super::kv::KvRequestData;
use super::messages::{ToClient, ToServer, ToServerlessServer};
use super::versioned::{Seed, Versioned};

/// Why bytes could not be decoded.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::{DecodeError, ProtocolVersion, decode_to_client};
///
/// let v5 = ProtocolVersion::V5;
/// let ping = [5, 1, 0, 0, 0, 0, 0, 0, 0]; // ToClient::Ping { ts: 1 }
/// assert!(matches!(
///     decode_to_client(v5, &ping[..4]),
///     Err(DecodeError::UnexpectedEof { message: "ToClient", len: 4, .. })
/// ));
/// assert!(matches!(
///     decode_to_client(v5, &[&ping[..], &[0]].concat()),
///     Err(DecodeError::TrailingBytes { offset: 9, trailing: 1, .. })
/// ));
/// // No `ToClient` variant has tag 9.
/// assert!(matches!(decode_to_client(v5, &[9]), Err(DecodeError::Invalid { .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended inside a value.
    #[error(
        "{message}: input ends early (needed more than the {len} bytes given, at byte {offset})"
    )]
    UnexpectedEof {
        /// Top-level message type being decoded.
        message: &'static str,
        /// Input length.
        len: usize,
        /// Bytes consumed when the input ran out.
        offset: usize,
    },
    /// A whole message was read and bytes were left over.
    #[error("{message}: {trailing} trailing bytes after the message ends at byte {offset}")]
    TrailingBytes {
        /// Top-level message type being decoded.
        message: &'static str,
        /// Where the message ended.
        offset: usize,
        /// How many bytes were left.
        trailing: usize,
    },
    /// The bytes do not follow the schema (bad tag, bool, UTF-8, duplicate key…).
    #[error("{message}: invalid data at or before byte {offset}: {reason}")]
    Invalid {
        /// Top-level message type being decoded.
        message: &'static str,
        /// Bytes consumed when the problem was found.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
}

impl DecodeError {
    /// Byte offset at which decoding stopped.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::protocol::{ProtocolVersion, decode_to_client};
    ///
    /// let mut bytes = vec![5, 1, 0, 0, 0, 0, 0, 0, 0]; // ToClient::Ping { ts: 1 }
    /// bytes.push(0xff);
    /// let err = decode_to_client(ProtocolVersion::V5, &bytes).unwrap_err();
    /// assert_eq!(err.offset(), 9); // where the ping ended
    /// ```
    pub fn offset(&self) -> usize {
        match self {
            DecodeError::UnexpectedEof { offset, .. }
            | DecodeError::TrailingBytes { offset, .. }
            | DecodeError::Invalid { offset, .. } => *offset,
        }
    }
}

/// Why a message could not be encoded.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let delete_range = ToServer::KvRequest(ToServerKvRequest {
///     actor_id: "actor".into(),
///     request_id: 1,
///     data: KvRequestData::DeleteRange(KvDeleteRangeRequest { start: "a".into(), end: "b".into() }),
/// });
/// assert_eq!(
///     encode_to_server(ProtocolVersion::V6, &delete_range),
///     Err(EncodeError::NotInVersion { what: "KvDeleteRangeRequest", version: 6 })
/// );
///
/// let metadata = ProtocolMetadata {
///     runner_lost_threshold: 15_000,
///     actor_stop_threshold: None, // required from v6 on
///     serverless_drain_grace_period: None,
/// };
/// let init = ToClient::Init(ToClientInit { runner_id: "runner".into(), metadata });
/// let err = encode_to_client(ProtocolVersion::V6, &init).unwrap_err();
/// assert!(matches!(err, EncodeError::MissingField { version: 6, .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The message uses something the chosen protocol version does not have.
    #[error("{what} is not available in protocol v{version}")]
    NotInVersion {
        /// The missing feature.
        what: &'static str,
        /// The version asked for.
        version: u16,
    },
    /// A field this version requires was `None`.
    #[error("{what} is required in protocol v{version}")]
    MissingField {
        /// The field.
        what: &'static str,
        /// The version asked for.
        version: u16,
    },
}

/// Encodes a runner → engine message.
///
/// ```
/// use runner_core::protocol::{encode_to_server, ProtocolVersion, ToServer, ToServerPong};
/// let bytes = encode_to_server(ProtocolVersion::V5, &ToServer::Pong(ToServerPong { ts: 1 })).unwrap();
/// assert_eq!(bytes, [4, 1, 0, 0, 0, 0, 0, 0, 0]);
/// ```
pub fn encode_to_server(version: ProtocolVersion, msg: &ToServer) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode_to_server_into(version, msg, &mut out)?;
    Ok(out)
}

/// Encodes a runner → engine message, appending to `out` (reuse one buffer to
/// avoid an allocation per message).
///
/// # Examples
///
/// ```
/// use runner_core::protocol::{ProtocolVersion, ToServer, ToServerPong, encode_to_server_into};
///
/// let v5 = ProtocolVersion::V5;
/// let mut out = Vec::new();
/// encode_to_server_into(v5, &ToServer::Stopping, &mut out)?;
/// assert_eq!(out, [3]);
/// encode_to_server_into(v5, &ToServer::Pong(ToServerPong { ts: 1 }), &mut out)?;
/// assert_eq!(out, [3, 4, 1, 0, 0, 0, 0, 0, 0, 0]); // appended
/// out.clear(); // keeps the allocation for the next message
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode_to_server_into(
    version: ProtocolVersion,
    msg: &ToServer,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if let ToServer::KvRequest(kv) = msg {
        if matches!(kv.data, KvRequestData::DeleteRange(_)) && version < ProtocolVersion::V7 {
            return Err(EncodeError::NotInVersion {
                what: "KvDeleteRangeRequest",
                version: version.number(),
            });
        }
    }
    write(out, &Versioned(version, msg));
    Ok(())
}

/// Encodes an engine → runner message (used by simulated engines and tests).
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let ping = ToClient::Ping(ToClientPing { ts: 1 });
/// let bytes = encode_to_client(ProtocolVersion::V5, &ping)?;
/// assert_eq!(bytes, [5, 1, 0, 0, 0, 0, 0, 0, 0]);
/// assert_eq!(decode_to_client(ProtocolVersion::V5, &bytes)?, ping);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode_to_client(version: ProtocolVersion, msg: &ToClient) -> Result<Vec<u8>, EncodeError> {
    if let ToClient::Init(init) = msg {
        if version >= ProtocolVersion::V6 && init.metadata.actor_stop_threshold.is_none() {
            return Err(EncodeError::MissingField {
                what: "ProtocolMetadata.actorStopThreshold",
                version: version.number(),
            });
        }
    }
    let mut out = Vec::new();
    write(&mut out, &Versioned(version, msg));
    Ok(out)
}

/// Decodes an engine → runner message.
///
/// ```
/// use runner_core::protocol::{decode_to_client, ProtocolVersion, ToClient, ToClientPing};
/// let msg = decode_to_client(ProtocolVersion::V5, &[5, 1, 0, 0, 0, 0, 0, 0, 0]).unwrap();
/// assert_eq!(msg, ToClient::Ping(ToClientPing { ts: 1 }));
/// assert!(decode_to_client(ProtocolVersion::V5, &[5, 1, 0, 0]).is_err());
/// ```
pub fn decode_to_client(version: ProtocolVersion, bytes: &[u8]) -> Result<ToClient, DecodeError> {
    decode("ToClient", bytes, || Seed::<ToClient>::new(version))
}

/// Decodes a runner → engine message (used by simulated engines and tests).
///
/// # Examples
///
/// ```
/// use runner_core::protocol::{ProtocolVersion, ToServer, ToServerPong, decode_to_server};
///
/// let msg = decode_to_server(ProtocolVersion::V5, &[4, 1, 0, 0, 0, 0, 0, 0, 0])?;
/// assert_eq!(msg, ToServer::Pong(ToServerPong { ts: 1 }));
/// // No `ToServer` variant has tag 7.
/// assert!(decode_to_server(ProtocolVersion::V5, &[7]).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn decode_to_server(version: ProtocolVersion, bytes: &[u8]) -> Result<ToServer, DecodeError> {
    decode("ToServer", bytes, || Seed::<ToServer>::new(version))
}

/// Encodes a serverless stream message (no version prefix; see
/// [`serverless_init_packet`](super::serverless_init_packet) for the framed form).
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let msg = ToServerlessServer::Init(ToServerlessServerInit {
///     runner_id: "R".into(),
///     runner_protocol_version: 5,
/// });
/// // Tag 0, the string "R" (length 1), then 5 as a little-endian u16.
/// assert_eq!(encode_to_serverless_server(&msg), [0, 1, b'R', 5, 0]);
/// ```
pub fn encode_to_serverless_server(msg: &ToServerlessServer) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, msg);
    out
}

/// Decodes a serverless stream message (no version prefix).
///
/// # Examples
///
/// ```
/// use runner_core::protocol::{ToServerlessServer, decode_to_serverless_server};
///
/// let ToServerlessServer::Init(init) = decode_to_serverless_server(&[0, 1, b'R', 5, 0])?;
/// assert_eq!((&*init.runner_id, init.runner_protocol_version), ("R", 5));
/// assert!(decode_to_serverless_server(&[0, 1, b'R', 5]).is_err());
/// # Ok::<(), runner_core::protocol::DecodeError>(())
/// ```
pub fn decode_to_serverless_server(bytes: &[u8]) -> Result<ToServerlessServer, DecodeError> {
    decode("ToServerlessServer", bytes, || std::marker::PhantomData)
}

fn write<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    // Writing to a `Vec` cannot fail, and every version-dependent refusal was
    // checked above, so an error here is a bug in this module.
    if let Err(e) = serde_bare::to_writer(&mut *out, value) {
        debug_assert!(false, "encoding cannot fail after validation: {e}");
    }
}

/// A reader over the frame that remembers how far decoding got.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl io::Read for Cursor<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(out.len());
        out[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// Decodes one whole message.
///
/// The fast path reads straight from the slice: `serde_bare`'s `SliceRead`
/// checks every length against the bytes left before allocating and copies
/// each payload once into an exactly sized buffer. (Its `IoRead`, used by
/// [`decode_counted`], grows each payload's `Vec` by doubling from 4 KiB: a
/// 1 MiB body peaked at 3 MiB and kept a 2 MiB allocation alive inside the
/// decoded `Bytes`, and decoding took about twice as long.)
///
/// `SliceRead` cannot say where it stopped, so the fast path only answers when
/// the message decoded and nothing is left over; every other case is decoded
/// again by [`decode_counted`], which reports the place. Both passes run the
/// same deserializer, so they agree on every input; a bad frame costs two
/// passes, and its transient allocations stay bounded by a few times its size.
fn decode<'de, S: DeserializeSeed<'de>>(
    message: &'static str,
    bytes: &[u8],
    seed: impl Fn() -> S,
) -> Result<S::Value, DecodeError> {
    if bytes.len() <= SMALL_FRAME {
        // Read through `&[u8]`, which shows what is left without an error
        // (probing past the end boxes one: an allocation per frame).
        let mut rest = bytes;
        let mut de = serde_bare::de::Deserializer::from_reader(&mut rest);
        if let Ok(value) = seed().deserialize(&mut de) {
            if rest.is_empty() {
                return Ok(value);
            }
        }
    } else {
        // `SliceRead` hands each field's bytes over in one allocation, where
        // a reader grows them from 4 KiB; a large frame pays one boxed error
        // for the probe instead.
        let mut de = serde_bare::de::Deserializer::new(serde_bare::de::SliceRead::new(bytes));
        if let Ok(value) = seed().deserialize(&mut de) {
            // Reading one more byte fails exactly when the input is used up.
            if <u8 as serde::Deserialize>::deserialize(&mut de).is_err() {
                return Ok(value);
            }
        }
    }
    decode_counted(message, bytes, seed())
}

/// Frames up to this size decode through a reader: no field of theirs is
/// longer than the 4 KiB `serde_bare` reserves for a field read that way.
const SMALL_FRAME: usize = 4096;

/// Decodes through a counting reader, for errors with byte offsets.
fn decode_counted<'de, S: DeserializeSeed<'de>>(
    message: &'static str,
    bytes: &[u8],
    seed: S,
) -> Result<S::Value, DecodeError> {
    let mut cursor = Cursor { bytes, pos: 0 };
    let mut de = serde_bare::de::Deserializer::from_reader(&mut cursor);
    let result = seed.deserialize(&mut de);
    let offset = cursor.pos;
    match result {
        Ok(value) if offset == bytes.len() => Ok(value),
        Ok(_) => Err(DecodeError::TrailingBytes {
            message,
            offset,
            trailing: bytes.len() - offset,
        }),
        // The cursor never fails, so an I/O error can only be the end of input.
        Err(e) if e.classify().is_io() || e.classify().is_eof() => {
            Err(DecodeError::UnexpectedEof {
                message,
                len: bytes.len(),
                offset,
            })
        }
        Err(e) => Err(DecodeError::Invalid {
            message,
            offset,
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::protocol::{KvPutRequest, ToServerKvRequest};

    fn put(value_len: usize) -> ToServer {
        ToServer::KvRequest(ToServerKvRequest {
            actor_id: "actor".into(),
            request_id: 1,
            data: KvRequestData::Put(KvPutRequest {
                keys: vec![Bytes::from_static(b"k")],
                values: vec![Bytes::from(vec![7; value_len])],
            }),
        })
    }

    /// Small frames decode through a reader and large ones from the slice:
    /// on both sides of the line, the same answers.
    #[test]
    fn frames_either_side_of_the_small_frame_size_decode_alike() {
        let v = ProtocolVersion::V7;
        for value_len in [
            0,
            100,
            SMALL_FRAME - 40,
            SMALL_FRAME,
            SMALL_FRAME + 1,
            70_000,
        ] {
            let msg = put(value_len);
            let frame = encode_to_server(v, &msg).unwrap();
            assert_eq!(
                decode_to_server(v, &frame).as_ref(),
                Ok(&msg),
                "{value_len}"
            );
            let mut longer = frame.clone();
            longer.push(0);
            assert_eq!(
                decode_to_server(v, &longer),
                Err(DecodeError::TrailingBytes {
                    message: "ToServer",
                    offset: frame.len(),
                    trailing: 1,
                }),
                "{value_len}"
            );
            let short = &frame[..frame.len() - 1];
            assert!(
                matches!(
                    decode_to_server(v, short),
                    Err(DecodeError::UnexpectedEof { len, .. }) if len == short.len()
                ),
                "{value_len}"
            );
        }
    }
}
