//! The bodies of the two record kinds: the header (configuration) and a
//! step (an [`Input`]). Layouts are in the module documentation of
//! [`crate::recording`]; this file is the code for them.

use std::borrow::Cow;

use bytes::Bytes;

use crate::encoding::codec::{Cursor, Malformed, Put};
use crate::encoding::values::{decode_kv, encode_kv};
use crate::ids::{ActorRef, ConnId, KvRequestId, RequestKey};
use crate::protocol::BareMap;
use crate::runner::{Input, ShutdownMode, TransportClose};
use crate::tunnel::{HibernatedSocket, HttpResponse};

/// Record kind of the header, always the first record.
pub(crate) const KIND_HEADER: u8 = 0;
/// Record kind of one step (an input and its outputs' digest).
pub(crate) const KIND_STEP: u8 = 1;

/// Record kind of a segment's snapshot, always the second record of a
/// rotated segment (see [`crate::Snapshot`]).
pub(crate) const KIND_SNAPSHOT: u8 = 2;

/// Header flag: the file is a rotated segment, its snapshot record follows.
pub(crate) const FLAG_SEGMENT: u8 = 4;

/// Header flag: bodies, KV values and header values were replaced by
/// `*`/zero bytes of the same length.
pub(crate) const FLAG_REDACTED: u8 = 1;
/// Header flag: the configuration had a token (never recorded itself).
pub(crate) const FLAG_TOKEN: u8 = 2;

// Input tags: stable, part of the format. Never reuse a number.
const START: u8 = 0;
const TIMEOUT: u8 = 1;
const CONNECTED: u8 = 2;
const FRAME: u8 = 3;
const TEXT_FRAME: u8 = 4;
const CLOSED: u8 = 5;
const SHUTDOWN: u8 = 6;
const ACTOR_STARTED: u8 = 7;
const ACTOR_STOPPED: u8 = 8;
const SLEEP_ACTOR: u8 = 9;
const STOP_ACTOR: u8 = 10;
const SET_ALARM: u8 = 11;
const CRASH_ACTOR: u8 = 12;
const KV: u8 = 13;
const CANCEL_KV: u8 = 14;
const WS_ACCEPT: u8 = 15;
const WS_REJECT: u8 = 16;
const WS_SEND: u8 = 17;
const WS_CLOSE: u8 = 18;
const WS_ACK: u8 = 19;
const RESPOND: u8 = 20;
const ABORT_REQUEST: u8 = 21;
const RESTORE_WEBSOCKETS: u8 = 22;

fn put_actor(buf: &mut Vec<u8>, actor: &ActorRef) {
    buf.put_str(&actor.actor_id);
    buf.put_varint(u64::from(actor.generation));
}

fn put_key(buf: &mut Vec<u8>, key: RequestKey) {
    buf.extend_from_slice(&key.to_bytes());
}

fn put_headers(buf: &mut Vec<u8>, headers: &BareMap<String>) {
    buf.put_varint(headers.len() as u64);
    for (name, value) in headers.iter() {
        buf.put_str(name);
        buf.put_str(value);
    }
}

/// Appends `input` (already redacted if the recording is).
pub(crate) fn put_input(buf: &mut Vec<u8>, input: &Input<'_>) {
    match input {
        Input::Start => buf.put_u8(START),
        Input::Timeout => buf.put_u8(TIMEOUT),
        Input::Connected { conn } => {
            buf.put_u8(CONNECTED);
            buf.put_varint(conn.0);
        }
        Input::Frame { conn, frame } => {
            buf.put_u8(FRAME);
            buf.put_varint(conn.0);
            buf.put_bytes(frame);
        }
        Input::TextFrame { conn } => {
            buf.put_u8(TEXT_FRAME);
            buf.put_varint(conn.0);
        }
        Input::Closed { conn, close } => {
            buf.put_u8(CLOSED);
            buf.put_varint(conn.0);
            buf.put_opt_u16(close.code);
            buf.put_str(&close.reason);
            buf.put_opt_u16(close.http_status);
        }
        Input::Shutdown { mode } => {
            buf.put_u8(SHUTDOWN);
            buf.put_bool(matches!(mode, ShutdownMode::Immediate));
        }
        Input::ActorStarted { actor, result } => {
            buf.put_u8(ACTOR_STARTED);
            put_actor(buf, actor);
            buf.put_opt_str(result.as_ref().err().map(String::as_str));
        }
        Input::ActorStopped { actor } => put_actor_call(buf, ACTOR_STOPPED, actor),
        Input::SleepActor { actor } => put_actor_call(buf, SLEEP_ACTOR, actor),
        Input::StopActor { actor } => put_actor_call(buf, STOP_ACTOR, actor),
        Input::SetAlarm { actor, alarm_ts } => {
            put_actor_call(buf, SET_ALARM, actor);
            buf.put_bool(alarm_ts.is_some());
            buf.put_zigzag(alarm_ts.unwrap_or(0));
        }
        Input::CrashActor { actor, message } => {
            put_actor_call(buf, CRASH_ACTOR, actor);
            buf.put_str(message);
        }
        Input::Kv { actor, data } => {
            put_actor_call(buf, KV, actor);
            buf.put_bytes(&encode_kv(data));
        }
        Input::CancelKv { id } => {
            buf.put_u8(CANCEL_KV);
            buf.put_varint(id.0);
        }
        Input::RestoreWebSockets { actor, persisted } => {
            put_actor_call(buf, RESTORE_WEBSOCKETS, actor);
            buf.put_varint(persisted.len() as u64);
            for socket in persisted {
                put_key(buf, socket.key);
                buf.put_varint(u64::from(socket.last_received_index));
                buf.put_varint(u64::from(socket.next_sent_index));
                buf.put_str(&socket.path);
                put_headers(buf, &socket.headers);
            }
        }
        tunnel => put_tunnel_input(buf, tunnel),
    }
}

fn put_actor_call(buf: &mut Vec<u8>, tag: u8, actor: &ActorRef) {
    buf.put_u8(tag);
    put_actor(buf, actor);
}

fn put_tunnel_input(buf: &mut Vec<u8>, input: &Input<'_>) {
    match input {
        Input::WebSocketAccept { key, can_hibernate } => {
            buf.put_u8(WS_ACCEPT);
            put_key(buf, *key);
            buf.put_bool(*can_hibernate);
        }
        Input::WebSocketReject { key, code, reason } => {
            buf.put_u8(WS_REJECT);
            put_key(buf, *key);
            buf.put_varint(u64::from(*code));
            buf.put_str(reason);
        }
        Input::WebSocketSend { key, data, binary } => {
            buf.put_u8(WS_SEND);
            put_key(buf, *key);
            buf.put_bytes(data);
            buf.put_bool(*binary);
        }
        Input::WebSocketClose { key, code, reason } => {
            buf.put_u8(WS_CLOSE);
            put_key(buf, *key);
            buf.put_opt_u16(*code);
            buf.put_opt_str(reason.as_deref());
        }
        Input::WebSocketAck { key, index } => {
            buf.put_u8(WS_ACK);
            put_key(buf, *key);
            buf.put_varint(u64::from(*index));
        }
        Input::Respond { key, response } => {
            buf.put_u8(RESPOND);
            put_key(buf, *key);
            buf.put_varint(u64::from(response.status));
            put_headers(buf, &response.headers);
            buf.put_bytes(&response.body);
        }
        Input::AbortRequest { key } => {
            buf.put_u8(ABORT_REQUEST);
            put_key(buf, *key);
        }
        // `put_input` handled every other kind.
        _ => {}
    }
}

fn get_actor(c: &mut Cursor<'_>) -> Result<Cow<'static, ActorRef>, Malformed> {
    let id = c.string()?;
    Ok(Cow::Owned(ActorRef::new(id, c.u32()?)))
}

fn get_key(c: &mut Cursor<'_>) -> Result<RequestKey, Malformed> {
    Ok(RequestKey::from_bytes(c.fixed()?))
}

fn get_headers(c: &mut Cursor<'_>) -> Result<BareMap<String>, Malformed> {
    let mut headers = BareMap::new();
    for _ in 0..c.count()? {
        headers.0.push((c.string()?, c.string()?));
    }
    Ok(headers)
}

fn get_conn(c: &mut Cursor<'_>) -> Result<ConnId, Malformed> {
    Ok(ConnId(c.varint()?))
}

/// Reads one input, owning its data.
pub(crate) fn get_input(c: &mut Cursor<'_>) -> Result<Input<'static>, Malformed> {
    Ok(match c.u8()? {
        START => Input::Start,
        TIMEOUT => Input::Timeout,
        CONNECTED => Input::Connected { conn: get_conn(c)? },
        FRAME => Input::Frame {
            conn: get_conn(c)?,
            frame: Cow::Owned(c.bytes()?.to_vec()),
        },
        TEXT_FRAME => Input::TextFrame { conn: get_conn(c)? },
        CLOSED => Input::Closed {
            conn: get_conn(c)?,
            close: TransportClose {
                code: c.opt_u16()?,
                reason: c.string()?,
                http_status: c.opt_u16()?,
            },
        },
        SHUTDOWN => Input::Shutdown {
            mode: if c.bool()? {
                ShutdownMode::Immediate
            } else {
                ShutdownMode::Graceful
            },
        },
        ACTOR_STARTED => Input::ActorStarted {
            actor: get_actor(c)?,
            result: c.opt_string()?.map_or(Ok(()), Err),
        },
        ACTOR_STOPPED => Input::ActorStopped {
            actor: get_actor(c)?,
        },
        SLEEP_ACTOR => Input::SleepActor {
            actor: get_actor(c)?,
        },
        STOP_ACTOR => Input::StopActor {
            actor: get_actor(c)?,
        },
        SET_ALARM => {
            let actor = get_actor(c)?;
            let set = c.bool()?;
            let ts = c.zigzag()?;
            Input::SetAlarm {
                actor,
                alarm_ts: set.then_some(ts),
            }
        }
        CRASH_ACTOR => Input::CrashActor {
            actor: get_actor(c)?,
            message: c.string()?,
        },
        KV => Input::Kv {
            actor: get_actor(c)?,
            data: decode_kv(c.bytes()?)?,
        },
        CANCEL_KV => Input::CancelKv {
            id: KvRequestId(c.varint()?),
        },
        RESTORE_WEBSOCKETS => get_restore(c)?,
        tag => get_tunnel_input(c, tag)?,
    })
}

fn get_restore(c: &mut Cursor<'_>) -> Result<Input<'static>, Malformed> {
    let actor = get_actor(c)?;
    let mut persisted = Vec::new();
    for _ in 0..c.count()? {
        persisted.push(HibernatedSocket {
            key: get_key(c)?,
            last_received_index: c.u16()?,
            next_sent_index: c.u16()?,
            path: c.string()?,
            headers: get_headers(c)?,
        });
    }
    Ok(Input::RestoreWebSockets { actor, persisted })
}

fn get_tunnel_input(c: &mut Cursor<'_>, tag: u8) -> Result<Input<'static>, Malformed> {
    Ok(match tag {
        WS_ACCEPT => Input::WebSocketAccept {
            key: get_key(c)?,
            can_hibernate: c.bool()?,
        },
        WS_REJECT => Input::WebSocketReject {
            key: get_key(c)?,
            code: c.u16()?,
            reason: Cow::Owned(c.string()?),
        },
        WS_SEND => Input::WebSocketSend {
            key: get_key(c)?,
            data: Bytes::copy_from_slice(c.bytes()?),
            binary: c.bool()?,
        },
        WS_CLOSE => Input::WebSocketClose {
            key: get_key(c)?,
            code: c.opt_u16()?,
            reason: c.opt_string()?.map(Cow::Owned),
        },
        WS_ACK => Input::WebSocketAck {
            key: get_key(c)?,
            index: c.u16()?,
        },
        RESPOND => Input::Respond {
            key: get_key(c)?,
            response: HttpResponse {
                status: c.u16()?,
                headers: get_headers(c)?,
                body: Bytes::copy_from_slice(c.bytes()?),
            },
        },
        ABORT_REQUEST => Input::AbortRequest { key: get_key(c)? },
        _ => return Err("unknown input kind"),
    })
}
