//! Structural encoding of the core's public values — events, transmits,
//! stop and shutdown reasons, KV results and requests, call errors — in the
//! recording's primitives. The snapshot stores its output queues with it,
//! and the step digest hashes the rare events and every error outcome
//! through it, so that both depend on what a value *is*, never on how a
//! build prints it (`Debug` text may change between builds).
//!
//! Tags are part of the snapshot format: never reuse a number.

use bytes::Bytes;

use super::codec::{Cursor, Malformed, Put};
use super::redact;
use crate::error::CallError;
use crate::ids::{ActorRef, ConnId, KvRequestId, RequestKey};
use crate::kv::{KvError, KvResponse};
use crate::output::{Event, ShutdownReason, StopReason, Transmit};
use crate::protocol::{
    ActorConfig, BareMap, HibernatingRequest, KvRequestData, ProtocolMetadata, ProtocolVersion,
    ToServer, ToServerKvRequest, decode_to_server, encode_to_server,
};
use crate::tunnel::{HttpRequest, WebSocketOpen};
use crate::{Config, Timestamp};

pub(crate) fn put_time(buf: &mut Vec<u8>, at: Timestamp) {
    buf.put_duration(at.as_duration());
}

pub(crate) fn get_time(c: &mut Cursor<'_>) -> Result<Timestamp, Malformed> {
    Ok(Timestamp::from(c.duration()?))
}

pub(crate) fn put_opt_time(buf: &mut Vec<u8>, at: Option<Timestamp>) {
    buf.put_bool(at.is_some());
    if let Some(at) = at {
        put_time(buf, at);
    }
}

pub(crate) fn get_opt_time(c: &mut Cursor<'_>) -> Result<Option<Timestamp>, Malformed> {
    Ok(if c.bool()? { Some(get_time(c)?) } else { None })
}

pub(crate) fn put_actor(buf: &mut Vec<u8>, actor: &ActorRef) {
    buf.put_str(&actor.actor_id);
    buf.put_varint(u64::from(actor.generation));
}

pub(crate) fn get_actor(c: &mut Cursor<'_>) -> Result<ActorRef, Malformed> {
    let id = c.string()?;
    Ok(ActorRef::new(id, c.u32()?))
}

pub(crate) fn put_key(buf: &mut Vec<u8>, key: RequestKey) {
    buf.extend_from_slice(&key.to_bytes());
}

pub(crate) fn get_key(c: &mut Cursor<'_>) -> Result<RequestKey, Malformed> {
    Ok(RequestKey::from_bytes(c.fixed()?))
}

pub(crate) fn put_keys(buf: &mut Vec<u8>, keys: &[RequestKey]) {
    buf.put_varint(keys.len() as u64);
    for key in keys {
        put_key(buf, *key);
    }
}

pub(crate) fn put_headers(buf: &mut Vec<u8>, headers: &BareMap<String>, redact: bool) {
    buf.put_varint(headers.len() as u64);
    for (name, value) in headers.iter() {
        buf.put_str(name);
        if redact {
            buf.put_str(&"*".repeat(value.len()));
        } else {
            buf.put_str(value);
        }
    }
}

pub(crate) fn get_headers(c: &mut Cursor<'_>) -> Result<BareMap<String>, Malformed> {
    let mut headers = BareMap::new();
    for _ in 0..c.count()? {
        headers.0.push((c.string()?, c.string()?));
    }
    Ok(headers)
}

/// Bytes, as zero bytes of the same length when redacting.
pub(crate) fn put_data(buf: &mut Vec<u8>, data: &[u8], redact: bool) {
    if redact {
        buf.put_varint(data.len() as u64);
        buf.resize(buf.len() + data.len(), 0);
    } else {
        buf.put_bytes(data);
    }
}

pub(crate) fn get_data(c: &mut Cursor<'_>) -> Result<Bytes, Malformed> {
    Ok(Bytes::copy_from_slice(c.bytes()?))
}

pub(crate) fn put_metadata(buf: &mut Vec<u8>, m: &ProtocolMetadata) {
    buf.put_zigzag(m.runner_lost_threshold);
    for v in [m.actor_stop_threshold, m.serverless_drain_grace_period] {
        buf.put_bool(v.is_some());
        buf.put_zigzag(v.unwrap_or(0));
    }
}

pub(crate) fn get_metadata(c: &mut Cursor<'_>) -> Result<ProtocolMetadata, Malformed> {
    let runner_lost_threshold = c.zigzag()?;
    let mut opt = || -> Result<Option<i64>, Malformed> {
        let set = c.bool()?;
        let v = c.zigzag()?;
        Ok(set.then_some(v))
    };
    Ok(ProtocolMetadata {
        runner_lost_threshold,
        actor_stop_threshold: opt()?,
        serverless_drain_grace_period: opt()?,
    })
}

pub(crate) fn put_stop_reason(buf: &mut Vec<u8>, reason: &StopReason) {
    let (tag, text) = match reason {
        StopReason::Engine => (0, None),
        StopReason::StartFailed(m) => (1, Some(m)),
        StopReason::StartTimedOut => (2, None),
        StopReason::Crashed(m) => (3, Some(m)),
        StopReason::RunnerIdChanged => (4, None),
        StopReason::RunnerLost => (5, None),
        StopReason::Shutdown => (6, None),
        StopReason::Superseded => (7, None),
        StopReason::Capacity => (8, None),
    };
    buf.put_u8(tag);
    if let Some(text) = text {
        buf.put_str(text);
    }
}

pub(crate) fn get_stop_reason(c: &mut Cursor<'_>) -> Result<StopReason, Malformed> {
    Ok(match c.u8()? {
        0 => StopReason::Engine,
        1 => StopReason::StartFailed(c.string()?),
        2 => StopReason::StartTimedOut,
        3 => StopReason::Crashed(c.string()?),
        4 => StopReason::RunnerIdChanged,
        5 => StopReason::RunnerLost,
        6 => StopReason::Shutdown,
        7 => StopReason::Superseded,
        8 => StopReason::Capacity,
        _ => return Err("unknown stop reason"),
    })
}

pub(crate) fn put_shutdown_reason(buf: &mut Vec<u8>, reason: &ShutdownReason) {
    match reason {
        ShutdownReason::Requested => buf.put_u8(0),
        ShutdownReason::Evicted => buf.put_u8(1),
        ShutdownReason::Fatal(m) => {
            buf.put_u8(2);
            buf.put_str(m);
        }
    }
}

pub(crate) fn get_shutdown_reason(c: &mut Cursor<'_>) -> Result<ShutdownReason, Malformed> {
    Ok(match c.u8()? {
        0 => ShutdownReason::Requested,
        1 => ShutdownReason::Evicted,
        2 => ShutdownReason::Fatal(c.string()?),
        _ => return Err("unknown shutdown reason"),
    })
}

/// The texts the core gives [`KvError::Malformed`]: a snapshot stores the
/// text, and reading it back needs the `&'static str` it came from.
use crate::kv::KV_MALFORMED;

pub(crate) fn put_kv_error(buf: &mut Vec<u8>, error: &KvError) {
    match error {
        KvError::Engine(m) => {
            buf.put_u8(0);
            buf.put_str(m);
        }
        KvError::TimedOut => buf.put_u8(1),
        KvError::Shutdown => buf.put_u8(2),
        KvError::RunnerLost => buf.put_u8(3),
        KvError::Malformed(m) => {
            buf.put_u8(4);
            buf.put_str(m);
        }
    }
}

pub(crate) fn get_kv_error(c: &mut Cursor<'_>) -> Result<KvError, Malformed> {
    Ok(match c.u8()? {
        0 => KvError::Engine(c.string()?),
        1 => KvError::TimedOut,
        2 => KvError::Shutdown,
        3 => KvError::RunnerLost,
        4 => {
            let text = c.string()?;
            let known = KV_MALFORMED.iter().find(|m| **m == text);
            KvError::Malformed(known.ok_or("unknown KV malformation text")?)
        }
        _ => return Err("unknown KV error"),
    })
}

fn put_kv_result(buf: &mut Vec<u8>, result: &Result<KvResponse, KvError>, redact: bool) {
    match result {
        Ok(KvResponse::Values(values)) => {
            buf.put_u8(0);
            buf.put_varint(values.len() as u64);
            for value in values {
                buf.put_bool(value.is_some());
                if let Some(value) = value {
                    put_data(buf, value, redact);
                }
            }
        }
        Ok(KvResponse::Entries(entries)) => {
            buf.put_u8(1);
            buf.put_varint(entries.len() as u64);
            for (key, value) in entries {
                buf.put_bytes(key);
                put_data(buf, value, redact);
            }
        }
        Ok(KvResponse::Done) => buf.put_u8(2),
        Err(e) => {
            buf.put_u8(3);
            put_kv_error(buf, e);
        }
    }
}

fn get_kv_result(c: &mut Cursor<'_>) -> Result<Result<KvResponse, KvError>, Malformed> {
    Ok(match c.u8()? {
        0 => {
            let mut values = Vec::new();
            for _ in 0..c.count()? {
                values.push(if c.bool()? { Some(get_data(c)?) } else { None });
            }
            Ok(KvResponse::Values(values))
        }
        1 => {
            let mut entries = Vec::new();
            for _ in 0..c.count()? {
                entries.push((get_data(c)?, get_data(c)?));
            }
            Ok(KvResponse::Entries(entries))
        }
        2 => Ok(KvResponse::Done),
        3 => Err(get_kv_error(c)?),
        _ => return Err("unknown KV result"),
    })
}

fn put_actor_config(buf: &mut Vec<u8>, config: &ActorConfig) {
    buf.put_str(&config.name);
    buf.put_opt_str(config.key.as_deref());
    buf.put_zigzag(config.create_ts);
    buf.put_bool(config.input.is_some());
    if let Some(input) = &config.input {
        buf.put_bytes(input);
    }
}

fn get_actor_config(c: &mut Cursor<'_>) -> Result<ActorConfig, Malformed> {
    Ok(ActorConfig {
        name: c.string()?,
        key: c.opt_string()?,
        create_ts: c.zigzag()?,
        input: if c.bool()? { Some(get_data(c)?) } else { None },
    })
}

/// An event; with `redact`, its bodies, messages, KV values and header
/// values as placeholders of the same length.
pub(crate) fn put_event(buf: &mut Vec<u8>, event: &Event, redact: bool) {
    match event {
        Event::Connected {
            runner_id,
            metadata,
        } => {
            buf.put_u8(0);
            buf.put_str(runner_id);
            put_metadata(buf, metadata);
        }
        Event::Disconnected { code, reason } => {
            buf.put_u8(1);
            buf.put_opt_u16(*code);
            buf.put_str(reason);
        }
        Event::ActorStart {
            actor,
            config,
            hibernating,
        } => {
            buf.put_u8(2);
            put_actor(buf, actor);
            put_actor_config(buf, config);
            let keys: Vec<RequestKey> = hibernating.iter().map(|h| RequestKey::from(*h)).collect();
            put_keys(buf, &keys);
        }
        Event::ActorStop { actor, reason } => {
            buf.put_u8(3);
            put_actor(buf, actor);
            put_stop_reason(buf, reason);
        }
        Event::KvResult { id, result } => {
            buf.put_u8(4);
            buf.put_varint(id.0);
            put_kv_result(buf, result, redact);
        }
        Event::HttpRequest(request) => {
            buf.put_u8(5);
            put_key(buf, request.key);
            put_actor(buf, &request.actor);
            buf.put_str(&request.method);
            buf.put_str(&request.path);
            put_headers(buf, &request.headers, redact);
            put_data(buf, &request.body, redact);
            buf.put_bool(request.streamed);
        }
        Event::HttpRequestChunk { key, data, finish } => {
            buf.put_u8(6);
            put_key(buf, *key);
            put_data(buf, data, redact);
            buf.put_bool(*finish);
        }
        Event::HttpRequestAborted { key } => {
            buf.put_u8(7);
            put_key(buf, *key);
        }
        Event::WebSocketOpen(open) => {
            buf.put_u8(8);
            put_key(buf, open.key);
            put_actor(buf, &open.actor);
            buf.put_str(&open.path);
            put_headers(buf, &open.headers, redact);
        }
        Event::WebSocketMessage {
            key,
            data,
            binary,
            index,
        } => {
            buf.put_u8(9);
            put_key(buf, *key);
            put_data(buf, data, redact);
            buf.put_bool(*binary);
            buf.put_varint(u64::from(*index));
        }
        Event::WebSocketClosed { key, code, reason } => {
            buf.put_u8(10);
            put_key(buf, *key);
            buf.put_opt_u16(*code);
            buf.put_opt_str(reason.as_deref());
        }
        Event::WebSocketHibernated { key } => {
            buf.put_u8(11);
            put_key(buf, *key);
        }
        Event::ShutdownComplete { reason } => {
            buf.put_u8(12);
            put_shutdown_reason(buf, reason);
        }
    }
}

pub(crate) fn get_event(c: &mut Cursor<'_>) -> Result<Event, Malformed> {
    Ok(match c.u8()? {
        0 => Event::Connected {
            runner_id: c.string()?.into(),
            metadata: get_metadata(c)?,
        },
        1 => Event::Disconnected {
            code: c.opt_u16()?,
            reason: c.string()?,
        },
        2 => Event::ActorStart {
            actor: get_actor(c)?,
            config: get_actor_config(c)?,
            hibernating: (0..c.count()?)
                .map(|_| {
                    get_key(c).map(|k| HibernatingRequest {
                        gateway_id: k.gateway_id,
                        request_id: k.request_id,
                    })
                })
                .collect::<Result<_, _>>()?,
        },
        3 => Event::ActorStop {
            actor: get_actor(c)?,
            reason: get_stop_reason(c)?,
        },
        4 => Event::KvResult {
            id: KvRequestId(c.varint()?),
            result: get_kv_result(c)?,
        },
        5 => Event::HttpRequest(HttpRequest {
            key: get_key(c)?,
            actor: get_actor(c)?,
            method: c.string()?,
            path: c.string()?,
            headers: get_headers(c)?,
            body: get_data(c)?,
            streamed: c.bool()?,
        }),
        6 => Event::HttpRequestChunk {
            key: get_key(c)?,
            data: get_data(c)?,
            finish: c.bool()?,
        },
        7 => Event::HttpRequestAborted { key: get_key(c)? },
        8 => Event::WebSocketOpen(WebSocketOpen {
            key: get_key(c)?,
            actor: get_actor(c)?,
            path: c.string()?,
            headers: get_headers(c)?,
        }),
        9 => Event::WebSocketMessage {
            key: get_key(c)?,
            data: get_data(c)?,
            binary: c.bool()?,
            index: c.u16()?,
        },
        10 => Event::WebSocketClosed {
            key: get_key(c)?,
            code: c.opt_u16()?,
            reason: c.opt_string()?,
        },
        11 => Event::WebSocketHibernated { key: get_key(c)? },
        12 => Event::ShutdownComplete {
            reason: get_shutdown_reason(c)?,
        },
        _ => return Err("unknown event"),
    })
}

/// A transmit. A connect's sub-protocols are left out (they hold the
/// token): they are the configuration's, rebuilt when read. A frame is
/// redacted through the protocol `version` it was encoded with.
pub(crate) fn put_transmit(
    buf: &mut Vec<u8>,
    transmit: &Transmit,
    redact: Option<ProtocolVersion>,
) {
    match transmit {
        Transmit::Connect { conn, url, .. } => {
            buf.put_u8(0);
            buf.put_varint(conn.0);
            buf.put_str(url);
        }
        Transmit::Frame(frame) => {
            buf.put_u8(1);
            match redact.and_then(|v| redacted_frame(v, frame)) {
                Some(redacted) => buf.put_bytes(&redacted),
                None => buf.put_bytes(frame),
            }
        }
        Transmit::Close { conn, code, reason } => {
            buf.put_u8(2);
            buf.put_varint(conn.0);
            buf.put_varint(u64::from(*code));
            buf.put_str(reason);
        }
    }
}

fn redacted_frame(version: ProtocolVersion, frame: &[u8]) -> Option<Vec<u8>> {
    let mut message = decode_to_server(version, frame).ok()?;
    redact::to_server(&mut message);
    encode_to_server(version, &message).ok()
}

pub(crate) fn get_transmit(c: &mut Cursor<'_>, config: &Config) -> Result<Transmit, Malformed> {
    Ok(match c.u8()? {
        0 => Transmit::Connect {
            conn: ConnId(c.varint()?),
            url: c.string()?,
            subprotocols: config.subprotocols(),
        },
        1 => Transmit::Frame(get_data(c)?),
        2 => Transmit::Close {
            conn: ConnId(c.varint()?),
            code: c.u16()?,
            reason: c.string()?,
        },
        _ => return Err("unknown transmit"),
    })
}

/// A call error, field by field (for the step digest).
pub(crate) fn put_call_error(buf: &mut Vec<u8>, error: &CallError) {
    match error {
        CallError::Shutdown => buf.put_u8(0),
        CallError::ActorNotFound(actor) => {
            buf.put_u8(1);
            put_actor(buf, actor);
        }
        CallError::WrongState { actor, state, call } => {
            buf.put_u8(2);
            put_actor(buf, actor);
            buf.put_str(state);
            buf.put_str(call);
        }
        CallError::KvQueueFull { limit } => {
            buf.put_u8(3);
            buf.put_varint(*limit as u64);
        }
        CallError::EventBacklogFull { actor, limit } => {
            buf.put_u8(4);
            put_actor(buf, actor);
            buf.put_varint(*limit as u64);
        }
        CallError::RequestNotFound(key) => {
            buf.put_u8(5);
            put_key(buf, *key);
        }
        CallError::WrongRequestState { key, state, call } => {
            buf.put_u8(6);
            put_key(buf, *key);
            buf.put_str(state);
            buf.put_str(call);
        }
        CallError::PayloadTooLarge { size, limit } => {
            buf.put_u8(7);
            buf.put_varint(*size as u64);
            buf.put_varint(*limit as u64);
        }
        CallError::TunnelBufferFull { messages, bytes } => {
            buf.put_u8(8);
            buf.put_varint(*messages as u64);
            buf.put_varint(*bytes as u64);
        }
        CallError::InvalidCloseCode(code) => {
            buf.put_u8(9);
            buf.put_varint(u64::from(*code));
        }
        CallError::Unsupported {
            what,
            needs,
            speaking,
        } => {
            buf.put_u8(10);
            buf.put_str(what);
            buf.put_varint(u64::from(*needs));
            buf.put_varint(u64::from(*speaking));
        }
    }
}

/// A KV request as the engine would receive it: a protocol v7
/// `ToServerKvRequest` (v7 has every request kind), actor id empty.
pub(crate) fn encode_kv(data: &KvRequestData) -> Vec<u8> {
    let request = ToServer::KvRequest(ToServerKvRequest {
        actor_id: "".into(),
        request_id: 0,
        data: data.clone(),
    });
    encode_to_server(ProtocolVersion::V7, &request).unwrap_or_default()
}

pub(crate) fn decode_kv(bytes: &[u8]) -> Result<KvRequestData, Malformed> {
    match decode_to_server(ProtocolVersion::V7, bytes) {
        Ok(ToServer::KvRequest(request)) => Ok(request.data),
        _ => Err("KV request does not decode"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kv_malformation_the_core_makes_reads_back() {
        for text in KV_MALFORMED {
            let mut buf = Vec::new();
            put_kv_error(&mut buf, &KvError::Malformed(text));
            let read = get_kv_error(&mut Cursor::new(&buf));
            assert_eq!(read, Ok(KvError::Malformed(text)));
        }
        let mut buf = Vec::new();
        put_kv_error(&mut buf, &KvError::Malformed("something else"));
        assert!(get_kv_error(&mut Cursor::new(&buf)).is_err());
    }
}
