//! Engine frames and user-call arguments built from the fuzzer's bytes.
//!
//! Values are drawn from small pools (four actor ids, two gateways, four
//! request ids, two runner ids, recent KV wire ids) so that a few bytes reach
//! deep states: a start for an actor that a request then targets, an answer
//! to a KV request that was really sent, a message for a socket that is open.

use arbitrary::{Result, Unstructured};
use bytes::Bytes;

use crate::RequestKey;
use crate::protocol::*;

/// Actor ids the engine side uses.
pub(super) const ACTORS: [&str; 4] = ["a0", "a1", "a2", "a3"];
/// Runner ids the engine hands out (a change stops every actor).
const RUNNER_IDS: [&str; 2] = ["r0", "r1"];

/// What the script has seen, to aim frames at things that exist.
#[derive(Debug, Default)]
pub(super) struct Known {
    /// Wire ids of KV requests the runner sent, most recent last.
    pub(super) kv_wire_ids: Vec<u32>,
    /// Command index to use next (commands usually move forward).
    pub(super) next_command_index: i64,
}

pub(super) fn pick<'a, T>(u: &mut Unstructured<'_>, items: &'a [T]) -> Result<&'a T> {
    u.choose(items)
}

fn small_bytes(u: &mut Unstructured<'_>, max: usize) -> Result<Bytes> {
    let len = u.int_in_range(0..=max)?;
    Ok(Bytes::copy_from_slice(u.bytes(len.min(u.len()))?))
}

fn small_text(u: &mut Unstructured<'_>) -> Result<String> {
    let choices = ["", "/", "/ping", "GET", "x", "🦀", "content-type"];
    if u.ratio(1, 4)? {
        let len = u.int_in_range(0..=8)?;
        let raw = u.bytes(len.min(u.len()))?;
        return Ok(String::from_utf8_lossy(raw).into_owned());
    }
    Ok((*pick(u, &choices)?).to_owned())
}

fn actor_id(u: &mut Unstructured<'_>) -> Result<Id> {
    if u.ratio(1, 16)? {
        return Ok(Id::from(small_text(u)?));
    }
    Ok(Id::from(*pick(u, &ACTORS)?))
}

/// A request key from the pool: two gateways, four requests each.
pub(super) fn request_key(u: &mut Unstructured<'_>) -> Result<RequestKey> {
    let gateway = u.int_in_range(0..=1u8)?;
    let request = u.int_in_range(0..=3u8)?;
    Ok(RequestKey::new(
        GatewayId([0, 0, 0, gateway]),
        RequestId([0, 0, 0, request]),
    ))
}

fn headers(u: &mut Unstructured<'_>) -> Result<BareMap<String>> {
    let n = u.int_in_range(0..=2)?;
    let mut map = BareMap::new();
    for _ in 0..n {
        map.insert(small_text(u)?, small_text(u)?);
    }
    Ok(map)
}

fn checkpoint(u: &mut Unstructured<'_>, known: &mut Known) -> Result<ActorCheckpoint> {
    let index = if u.ratio(1, 8)? {
        u.int_in_range(-1..=4)?
    } else {
        known.next_command_index += 1;
        known.next_command_index
    };
    Ok(ActorCheckpoint {
        actor_id: actor_id(u)?,
        generation: u.int_in_range(0..=3)?,
        index,
    })
}

fn command(u: &mut Unstructured<'_>, known: &mut Known) -> Result<CommandWrapper> {
    let checkpoint = checkpoint(u, known)?;
    let inner = if u.ratio(3, 5)? {
        let hibernating = (0..u.int_in_range(0..=3)?)
            .map(|_| {
                request_key(u).map(|k| HibernatingRequest {
                    gateway_id: k.gateway_id,
                    request_id: k.request_id,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Command::StartActor(CommandStartActor {
            config: ActorConfig {
                name: small_text(u)?,
                key: None,
                create_ts: 0,
                input: None,
            },
            hibernating_requests: hibernating,
        })
    } else {
        Command::StopActor
    };
    Ok(CommandWrapper { checkpoint, inner })
}

fn init(u: &mut Unstructured<'_>, version: ProtocolVersion) -> Result<ToClient> {
    let runner_lost_threshold = *pick(u, &[15_000, 0, -1, 1, i64::MAX, i64::MIN])?;
    let v6 = version >= ProtocolVersion::V6;
    Ok(ToClient::Init(ToClientInit {
        runner_id: Id::from(*pick(u, &RUNNER_IDS)?),
        metadata: ProtocolMetadata {
            runner_lost_threshold,
            actor_stop_threshold: v6.then_some(30_000),
            serverless_drain_grace_period: None,
        },
    }))
}

fn kv_response(u: &mut Unstructured<'_>, known: &Known) -> Result<ToClient> {
    let request_id = match known.kv_wire_ids.last() {
        Some(_) if u.ratio(7, 8)? => *pick(u, &known.kv_wire_ids)?,
        _ => u.arbitrary()?,
    };
    let pairs = |u: &mut Unstructured<'_>| -> Result<(Vec<Bytes>, Vec<Bytes>)> {
        let n = u.int_in_range(0..=3)?;
        let keys = (0..n).map(|_| small_bytes(u, 4)).collect::<Result<_>>()?;
        let m = if u.ratio(1, 8)? { n + 1 } else { n };
        let values = (0..m).map(|_| small_bytes(u, 4)).collect::<Result<_>>()?;
        Ok((keys, values))
    };
    let data = match u.int_in_range(0..=5)? {
        0 => KvResponseData::Error(KvErrorResponse {
            message: small_text(u)?,
        }),
        1 => {
            let (keys, values) = pairs(u)?;
            KvResponseData::Get(KvGetResponse {
                keys,
                values,
                metadata: Vec::new(),
            })
        }
        2 => {
            let (keys, values) = pairs(u)?;
            KvResponseData::List(KvListResponse {
                keys,
                values,
                metadata: Vec::new(),
            })
        }
        3 => KvResponseData::Put,
        4 => KvResponseData::Delete,
        _ => KvResponseData::Drop,
    };
    Ok(ToClient::KvResponse(ToClientKvResponse {
        request_id,
        data,
    }))
}

fn tunnel(u: &mut Unstructured<'_>) -> Result<ToClient> {
    use ToClientTunnelMessageKind as K;
    let key = request_key(u)?;
    let message_index = if u.ratio(1, 4)? {
        u.arbitrary()?
    } else {
        u.int_in_range(0..=4)?
    };
    let message_kind = match u.int_in_range(0..=5)? {
        0 => K::RequestStart(ToClientRequestStart {
            actor_id: actor_id(u)?,
            method: small_text(u)?,
            path: small_text(u)?,
            headers: headers(u)?,
            body: if u.arbitrary()? {
                Some(small_bytes(u, 300)?)
            } else {
                None
            },
            stream: u.arbitrary()?,
        }),
        1 => K::RequestChunk(ToClientRequestChunk {
            body: small_bytes(u, 300)?,
            finish: u.arbitrary()?,
        }),
        2 => K::RequestAbort,
        3 => K::WebSocketOpen(ToClientWebSocketOpen {
            actor_id: actor_id(u)?,
            path: small_text(u)?,
            headers: headers(u)?,
        }),
        4 => K::WebSocketMessage(WebSocketMessage {
            data: small_bytes(u, 300)?,
            binary: u.arbitrary()?,
        }),
        _ => K::WebSocketClose(ToClientWebSocketClose {
            code: u.arbitrary()?,
            reason: None,
        }),
    };
    Ok(ToClient::TunnelMessage(ToClientTunnelMessage {
        message_id: MessageId {
            gateway_id: key.gateway_id,
            request_id: key.request_id,
            message_index,
        },
        message_kind,
    }))
}

/// A well-formed engine → runner message aimed at the pools.
pub(super) fn to_client(
    u: &mut Unstructured<'_>,
    version: ProtocolVersion,
    known: &mut Known,
) -> Result<ToClient> {
    Ok(match u.int_in_range(0..=6)? {
        0 => init(u, version)?,
        1 | 2 => {
            let n = u.int_in_range(1..=3)?;
            ToClient::Commands((0..n).map(|_| command(u, known)).collect::<Result<_>>()?)
        }
        3 => {
            let n = u.int_in_range(1..=3)?;
            let last_event_checkpoints = (0..n)
                .map(|_| {
                    Ok(ActorCheckpoint {
                        actor_id: actor_id(u)?,
                        generation: u.int_in_range(0..=3)?,
                        index: u.int_in_range(-1..=8)?,
                    })
                })
                .collect::<Result<_>>()?;
            ToClient::AckEvents(ToClientAckEvents {
                last_event_checkpoints,
            })
        }
        4 => kv_response(u, known)?,
        5 => tunnel(u)?,
        _ => ToClient::Ping(ToClientPing { ts: u.arbitrary()? }),
    })
}

/// A KV operation (delete-range too, which the runner refuses before v7).
pub(super) fn kv_request(u: &mut Unstructured<'_>) -> Result<KvRequestData> {
    let keys = |u: &mut Unstructured<'_>| -> Result<Vec<Bytes>> {
        (0..u.int_in_range(0..=3)?)
            .map(|_| small_bytes(u, 4))
            .collect()
    };
    Ok(match u.int_in_range(0..=5)? {
        0 => KvRequestData::Get(KvGetRequest { keys: keys(u)? }),
        1 => KvRequestData::List(KvListRequest {
            query: KvListQuery::All,
            reverse: u.arbitrary()?,
            limit: u.arbitrary()?,
        }),
        2 => {
            let keys = keys(u)?;
            let values = keys
                .iter()
                .map(|_| small_bytes(u, 64))
                .collect::<Result<_>>()?;
            KvRequestData::Put(KvPutRequest { keys, values })
        }
        3 => KvRequestData::Delete(KvDeleteRequest { keys: keys(u)? }),
        4 => KvRequestData::DeleteRange(KvDeleteRangeRequest {
            start: small_bytes(u, 2)?,
            end: small_bytes(u, 2)?,
        }),
        _ => KvRequestData::Drop,
    })
}

/// Damages an encoded frame: flips, truncates, extends or overwrites bytes.
pub(super) fn mutate(u: &mut Unstructured<'_>, frame: &mut Vec<u8>) -> Result<()> {
    for _ in 0..u.int_in_range(1..=3)? {
        let at = if frame.is_empty() {
            0
        } else {
            u.choose_index(frame.len())?
        };
        match u.int_in_range(0..=4)? {
            0 if !frame.is_empty() => frame[at] ^= u.int_in_range(1..=255)?,
            1 => frame.truncate(at),
            2 => frame.insert(at, u.arbitrary()?),
            3 if !frame.is_empty() => frame[at] = *pick(u, &[0, 1, 2, 0x7f, 0x80, 0xff])?,
            _ => {
                let len = u.int_in_range(0..=4usize)?.min(u.len());
                frame.extend_from_slice(u.bytes(len)?);
            }
        }
    }
    Ok(())
}

/// Raw bytes for a frame: garbage, or a whole frame from a seed. The length
/// is two bytes, big-endian, modulo 4096 (see [`core_seed`](super::core_seed)).
pub(super) fn raw(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let len = usize::from(u.int_in_range(0..=RAW_MAX)?);
    Ok(u.bytes(len.min(u.len()))?.to_vec())
}

/// Longest raw frame.
pub(super) const RAW_MAX: u16 = 4095;

/// Text usable as a close reason or crash message.
pub(super) fn text(u: &mut Unstructured<'_>) -> Result<String> {
    small_text(u)
}

/// Bytes usable as a payload, up to `max`.
pub(super) fn payload(u: &mut Unstructured<'_>, max: usize) -> Result<Bytes> {
    small_bytes(u, max)
}
