//! Our protocol values in the JSON shape of the official TypeScript codec's
//! values, as written by `tests/vectors/generate.mjs`.
//!
//! Comparing in the TypeScript shape (rather than building Rust values from
//! the vector files) means the vectors were written by code that knows nothing
//! about our types: a field we decode into the wrong place, or a tag we map to
//! the wrong variant, shows up as a JSON difference.
//!
//! The shape:
//!
//! | TypeScript | JSON |
//! |---|---|
//! | union `{ tag, val }` | `{"tag": "ToServerPong", "val": ...}`, `val` is `null` for void |
//! | `ArrayBuffer` (`data`, `data[4]`) | `{"hex": "0a0b"}` |
//! | `bigint` (`i64`, `u64`) | decimal string, `"-1"` |
//! | `number` (`u16`, `u32`) | number |
//! | `Map` (`map<str><T>`) | `{"map": [[key, value], ...]}` in wire order |
//! | `T \| null` (`optional<T>`) | the value or `null` |
//! | `StopCode` | `"Ok"` / `"Error"` |
//!
//! The vector files may also describe a large generated buffer as
//! `{"repeat_hex": "3031", "len": N}`; [`expand_generated`] turns that into
//! `{"hex": ...}` so it compares equal to what [`to_server_json`] and
//! [`to_client_json`] produce.

use bytes::Bytes;
use runner_core::protocol::*;
use serde_json::{Map, Value, json};

/// `ToServer` in the TypeScript shape. The JSON does not depend on the version
/// (a `KvDropRequest` is a `KvDropRequest` whatever its tag number).
pub fn to_server_json(msg: &ToServer) -> Value {
    match msg {
        ToServer::Init(m) => tagged("ToServerInit", server_init(m)),
        ToServer::Events(list) => tagged("ToServerEvents", list_of(list, event_wrapper)),
        ToServer::AckCommands(m) => tagged(
            "ToServerAckCommands",
            json!({ "lastCommandCheckpoints": list_of(&m.last_command_checkpoints, checkpoint) }),
        ),
        ToServer::Stopping => tagged("ToServerStopping", Value::Null),
        ToServer::Pong(m) => tagged("ToServerPong", json!({ "ts": m.ts.to_string() })),
        ToServer::KvRequest(m) => tagged("ToServerKvRequest", kv_request(m)),
        ToServer::TunnelMessage(m) => tagged(
            "ToServerTunnelMessage",
            json!({ "messageId": message_id(&m.message_id), "messageKind": server_tunnel_kind(&m.message_kind) }),
        ),
    }
}

/// `ToClient` in the TypeScript shape of `version` (only `ToClientInit`
/// differs: v5 metadata has just `runnerLostThreshold`).
pub fn to_client_json(version: ProtocolVersion, msg: &ToClient) -> Value {
    match msg {
        ToClient::Init(m) => tagged(
            "ToClientInit",
            json!({ "runnerId": &*m.runner_id, "metadata": protocol_metadata(version, &m.metadata) }),
        ),
        ToClient::Commands(list) => tagged("ToClientCommands", list_of(list, command_wrapper)),
        ToClient::AckEvents(m) => tagged(
            "ToClientAckEvents",
            json!({ "lastEventCheckpoints": list_of(&m.last_event_checkpoints, checkpoint) }),
        ),
        ToClient::KvResponse(m) => tagged(
            "ToClientKvResponse",
            json!({ "requestId": m.request_id, "data": kv_response(&m.data) }),
        ),
        ToClient::TunnelMessage(m) => tagged(
            "ToClientTunnelMessage",
            json!({ "messageId": message_id(&m.message_id), "messageKind": client_tunnel_kind(&m.message_kind) }),
        ),
        ToClient::Ping(m) => tagged("ToClientPing", json!({ "ts": m.ts.to_string() })),
    }
}

/// Replaces every `{"repeat_hex": unit, "len": n}` in `value` by the `{"hex": ...}`
/// of `n` bytes of `unit` repeated.
///
/// # Panics
/// If a pattern is malformed (bad hex, empty unit, missing `len`): the vector
/// file is broken and the test using it must fail.
pub fn expand_generated(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(expand_generated).collect()),
        Value::Object(obj) if obj.contains_key("repeat_hex") => {
            json!({ "hex": hex_encode(&generated_bytes(obj)) })
        }
        Value::Object(obj) => Value::Object(
            obj.iter()
                .map(|(k, v)| (k.clone(), expand_generated(v)))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

/// The bytes a `{"repeat_hex": unit, "len": n}` object stands for.
///
/// # Panics
/// If the object is malformed.
pub fn generated_bytes(obj: &Map<String, Value>) -> Vec<u8> {
    let unit = hex_decode(obj["repeat_hex"].as_str().expect("repeat_hex is a string"));
    assert!(!unit.is_empty(), "repeat_hex must not be empty");
    let len = obj["len"].as_u64().expect("len is a number") as usize;
    unit.iter().copied().cycle().take(len).collect()
}

/// Lower-case hex of `bytes`.
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    // Byte-wise table lookup: vectors carry megabyte bodies and tests run
    // unoptimised, where `write!` per byte takes seconds.
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
    String::from_utf8(out).expect("hex digits are ASCII")
}

/// Bytes of a hex string (either case, no separators).
///
/// # Panics
/// If `hex` has odd length or a character that is not a hex digit.
pub fn hex_decode(hex: &str) -> Vec<u8> {
    let digits = hex.as_bytes();
    assert!(digits.len() % 2 == 0, "odd-length hex: {hex:.40}");
    digits
        .chunks_exact(2)
        .map(|pair| nibble(pair[0], hex) << 4 | nibble(pair[1], hex))
        .collect()
}

fn nibble(digit: u8, hex: &str) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => panic!("not a hex digit {:?} in {hex:.40}", char::from(digit)),
    }
}

// ---------------------------------------------------------------- helpers

fn tagged(tag: &str, val: Value) -> Value {
    json!({ "tag": tag, "val": val })
}

fn list_of<T>(items: &[T], f: impl Fn(&T) -> Value) -> Value {
    Value::Array(items.iter().map(f).collect())
}

fn data(bytes: &Bytes) -> Value {
    json!({ "hex": hex_encode(bytes) })
}

fn data_list(items: &[Bytes]) -> Value {
    list_of(items, data)
}

fn opt<T>(value: &Option<T>, f: impl Fn(&T) -> Value) -> Value {
    value.as_ref().map_or(Value::Null, f)
}

fn i64_json(v: &i64) -> Value {
    Value::String(v.to_string())
}

fn map_json<V>(map: &BareMap<V>, f: impl Fn(&V) -> Value) -> Value {
    let pairs: Vec<Value> = map.iter().map(|(k, v)| json!([k, f(v)])).collect();
    json!({ "map": pairs })
}

// ---------------------------------------------------------------- actors

fn server_init(m: &ToServerInit) -> Value {
    json!({
        "name": m.name,
        "version": m.version,
        "totalSlots": m.total_slots,
        "prepopulateActorNames": opt(&m.prepopulate_actor_names, |names| {
            map_json(names, |n| json!({ "metadata": n.metadata }))
        }),
        "metadata": opt(&m.metadata, |s| json!(s)),
    })
}

fn checkpoint(c: &ActorCheckpoint) -> Value {
    json!({ "actorId": &*c.actor_id, "generation": c.generation, "index": c.index.to_string() })
}

fn event_wrapper(w: &EventWrapper) -> Value {
    json!({ "checkpoint": checkpoint(&w.checkpoint), "inner": event(&w.inner) })
}

fn event(e: &Event) -> Value {
    match e {
        Event::Intent(i) => tagged("EventActorIntent", json!({ "intent": intent(i.intent) })),
        Event::StateUpdate(s) => tagged(
            "EventActorStateUpdate",
            json!({ "state": actor_state(&s.state) }),
        ),
        Event::SetAlarm(a) => tagged(
            "EventActorSetAlarm",
            json!({ "alarmTs": opt(&a.alarm_ts, i64_json) }),
        ),
    }
}

fn intent(i: ActorIntent) -> Value {
    match i {
        ActorIntent::Sleep => tagged("ActorIntentSleep", Value::Null),
        ActorIntent::Stop => tagged("ActorIntentStop", Value::Null),
    }
}

fn actor_state(s: &ActorState) -> Value {
    match s {
        ActorState::Running => tagged("ActorStateRunning", Value::Null),
        ActorState::Stopped(st) => tagged(
            "ActorStateStopped",
            json!({ "code": stop_code(st.code), "message": opt(&st.message, |s| json!(s)) }),
        ),
    }
}

fn stop_code(c: StopCode) -> &'static str {
    match c {
        StopCode::Ok => "Ok",
        StopCode::Error => "Error",
    }
}

fn command_wrapper(w: &CommandWrapper) -> Value {
    json!({ "checkpoint": checkpoint(&w.checkpoint), "inner": command(&w.inner) })
}

fn command(c: &Command) -> Value {
    match c {
        Command::StartActor(s) => tagged(
            "CommandStartActor",
            json!({
                "config": actor_config(&s.config),
                "hibernatingRequests": list_of(&s.hibernating_requests, hibernating_request),
            }),
        ),
        Command::StopActor => tagged("CommandStopActor", Value::Null),
    }
}

fn actor_config(c: &ActorConfig) -> Value {
    json!({
        "name": c.name,
        "key": opt(&c.key, |s| json!(s)),
        "createTs": c.create_ts.to_string(),
        "input": opt(&c.input, data),
    })
}

fn hibernating_request(h: &HibernatingRequest) -> Value {
    json!({ "gatewayId": fixed(&h.gateway_id.0), "requestId": fixed(&h.request_id.0) })
}

fn protocol_metadata(version: ProtocolVersion, m: &ProtocolMetadata) -> Value {
    let lost = m.runner_lost_threshold.to_string();
    if version < ProtocolVersion::V6 {
        return json!({ "runnerLostThreshold": lost });
    }
    json!({
        "runnerLostThreshold": lost,
        "actorStopThreshold": opt(&m.actor_stop_threshold, i64_json),
        "serverlessDrainGracePeriod": opt(&m.serverless_drain_grace_period, i64_json),
    })
}

// ---------------------------------------------------------------- kv

fn kv_request(m: &ToServerKvRequest) -> Value {
    json!({ "actorId": &*m.actor_id, "requestId": m.request_id, "data": kv_request_data(&m.data) })
}

fn kv_request_data(d: &KvRequestData) -> Value {
    match d {
        KvRequestData::Get(g) => tagged("KvGetRequest", json!({ "keys": data_list(&g.keys) })),
        KvRequestData::List(l) => tagged(
            "KvListRequest",
            json!({
                "query": kv_list_query(&l.query),
                "reverse": opt(&l.reverse, |b| json!(b)),
                "limit": opt(&l.limit, |n| json!(n.to_string())),
            }),
        ),
        KvRequestData::Put(p) => tagged(
            "KvPutRequest",
            json!({ "keys": data_list(&p.keys), "values": data_list(&p.values) }),
        ),
        KvRequestData::Delete(d) => {
            tagged("KvDeleteRequest", json!({ "keys": data_list(&d.keys) }))
        }
        KvRequestData::DeleteRange(r) => tagged(
            "KvDeleteRangeRequest",
            json!({ "start": data(&r.start), "end": data(&r.end) }),
        ),
        KvRequestData::Drop => tagged("KvDropRequest", Value::Null),
    }
}

fn kv_list_query(q: &KvListQuery) -> Value {
    match q {
        KvListQuery::All => tagged("KvListAllQuery", Value::Null),
        KvListQuery::Range(r) => tagged(
            "KvListRangeQuery",
            json!({ "start": data(&r.start), "end": data(&r.end), "exclusive": r.exclusive }),
        ),
        KvListQuery::Prefix(p) => tagged("KvListPrefixQuery", json!({ "key": data(&p.key) })),
    }
}

fn kv_response(d: &KvResponseData) -> Value {
    match d {
        KvResponseData::Error(e) => tagged("KvErrorResponse", json!({ "message": e.message })),
        KvResponseData::Get(g) => {
            tagged("KvGetResponse", kv_pairs(&g.keys, &g.values, &g.metadata))
        }
        KvResponseData::List(l) => {
            tagged("KvListResponse", kv_pairs(&l.keys, &l.values, &l.metadata))
        }
        KvResponseData::Put => tagged("KvPutResponse", Value::Null),
        KvResponseData::Delete => tagged("KvDeleteResponse", Value::Null),
        KvResponseData::Drop => tagged("KvDropResponse", Value::Null),
    }
}

fn kv_pairs(keys: &[Bytes], values: &[Bytes], metadata: &[KvMetadata]) -> Value {
    json!({
        "keys": data_list(keys),
        "values": data_list(values),
        "metadata": list_of(metadata, |m| {
            json!({ "version": data(&m.version), "updateTs": m.update_ts.to_string() })
        }),
    })
}

// ---------------------------------------------------------------- tunnel

fn fixed(bytes: &[u8; 4]) -> Value {
    json!({ "hex": hex_encode(bytes) })
}

fn message_id(m: &MessageId) -> Value {
    json!({
        "gatewayId": fixed(&m.gateway_id.0),
        "requestId": fixed(&m.request_id.0),
        "messageIndex": m.message_index,
    })
}

fn headers(h: &BareMap<String>) -> Value {
    map_json(h, |v| Value::String(v.clone()))
}

fn ws_message(m: &WebSocketMessage) -> Value {
    json!({ "data": data(&m.data), "binary": m.binary })
}

fn server_tunnel_kind(k: &ToServerTunnelMessageKind) -> Value {
    use ToServerTunnelMessageKind as K;
    match k {
        K::ResponseStart(s) => tagged(
            "ToServerResponseStart",
            json!({
                "status": s.status,
                "headers": headers(&s.headers),
                "body": opt(&s.body, data),
                "stream": s.stream,
            }),
        ),
        K::ResponseChunk(c) => tagged(
            "ToServerResponseChunk",
            json!({ "body": data(&c.body), "finish": c.finish }),
        ),
        K::ResponseAbort => tagged("ToServerResponseAbort", Value::Null),
        K::WebSocketOpen(o) => tagged(
            "ToServerWebSocketOpen",
            json!({ "canHibernate": o.can_hibernate }),
        ),
        K::WebSocketMessage(m) => tagged("ToServerWebSocketMessage", ws_message(m)),
        K::WebSocketMessageAck(a) => {
            tagged("ToServerWebSocketMessageAck", json!({ "index": a.index }))
        }
        K::WebSocketClose(c) => tagged(
            "ToServerWebSocketClose",
            json!({
                "code": opt(&c.code, |n| json!(n)),
                "reason": opt(&c.reason, |s| json!(s)),
                "hibernate": c.hibernate,
            }),
        ),
    }
}

fn client_tunnel_kind(k: &ToClientTunnelMessageKind) -> Value {
    use ToClientTunnelMessageKind as K;
    match k {
        K::RequestStart(s) => tagged(
            "ToClientRequestStart",
            json!({
                "actorId": &*s.actor_id,
                "method": s.method,
                "path": s.path,
                "headers": headers(&s.headers),
                "body": opt(&s.body, data),
                "stream": s.stream,
            }),
        ),
        K::RequestChunk(c) => tagged(
            "ToClientRequestChunk",
            json!({ "body": data(&c.body), "finish": c.finish }),
        ),
        K::RequestAbort => tagged("ToClientRequestAbort", Value::Null),
        K::WebSocketOpen(o) => tagged(
            "ToClientWebSocketOpen",
            json!({ "actorId": &*o.actor_id, "path": o.path, "headers": headers(&o.headers) }),
        ),
        K::WebSocketMessage(m) => tagged("ToClientWebSocketMessage", ws_message(m)),
        K::WebSocketClose(c) => tagged(
            "ToClientWebSocketClose",
            json!({ "code": opt(&c.code, |n| json!(n)), "reason": opt(&c.reason, |s| json!(s)) }),
        ),
    }
}
