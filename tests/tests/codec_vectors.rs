//! Golden vectors from the official TypeScript codec
//! (`tests/vectors/generate.mjs`, one file per protocol version): every vector
//! decodes with our codec to the value the TypeScript side encoded, and our
//! encoder gives back the very same bytes.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::Value;
use tests::ts_json::{
    expand_generated, generated_bytes, hex_decode, to_client_json, to_server_json,
};

use runner_core::protocol::*;

/// Fewer vectors than this in a file means vectors were lost: fail rather than
/// quietly test less. (Counts as generated; raise them when adding vectors.)
fn expected_minimum(version: ProtocolVersion) -> usize {
    match version {
        ProtocolVersion::V5 => 93,
        ProtocolVersion::V6 => 95,
        _ => 97,
    }
}

fn expected_package(version: ProtocolVersion) -> &'static str {
    match version {
        ProtocolVersion::V5 => "@rivetkit/engine-runner-protocol@2.0.33",
        ProtocolVersion::V6 => "@rivetkit/engine-runner-protocol@2.1.5",
        _ => "@rivetkit/engine-runner-protocol@2.2.1",
    }
}

const TO_SERVER_TAGS: [&str; 7] = [
    "ToServerInit",
    "ToServerEvents",
    "ToServerAckCommands",
    "ToServerStopping",
    "ToServerPong",
    "ToServerKvRequest",
    "ToServerTunnelMessage",
];

const TO_CLIENT_TAGS: [&str; 6] = [
    "ToClientInit",
    "ToClientCommands",
    "ToClientAckEvents",
    "ToClientKvResponse",
    "ToClientTunnelMessage",
    "ToClientPing",
];

/// Every tag of every nested union in every version, and the `StopCode` values
/// (`KvDeleteRangeRequest`, v7 only, is checked on its own).
const NESTED_TAGS: [&str; 38] = [
    "EventActorIntent",
    "EventActorStateUpdate",
    "EventActorSetAlarm",
    "ActorIntentSleep",
    "ActorIntentStop",
    "ActorStateRunning",
    "ActorStateStopped",
    "CommandStartActor",
    "CommandStopActor",
    "KvListAllQuery",
    "KvListRangeQuery",
    "KvListPrefixQuery",
    "KvGetRequest",
    "KvListRequest",
    "KvPutRequest",
    "KvDeleteRequest",
    "KvDropRequest",
    "KvErrorResponse",
    "KvGetResponse",
    "KvListResponse",
    "KvPutResponse",
    "KvDeleteResponse",
    "KvDropResponse",
    "ToServerResponseStart",
    "ToServerResponseChunk",
    "ToServerResponseAbort",
    "ToServerWebSocketOpen",
    "ToServerWebSocketMessage",
    "ToServerWebSocketMessageAck",
    "ToServerWebSocketClose",
    "ToClientRequestStart",
    "ToClientRequestChunk",
    "ToClientRequestAbort",
    "ToClientWebSocketOpen",
    "ToClientWebSocketMessage",
    "ToClientWebSocketClose",
    "Ok",
    "Error",
];

#[derive(Debug)]
enum Direction {
    ToServer,
    ToClient,
}

#[derive(Debug)]
struct Vector {
    name: String,
    direction: Direction,
    /// The TypeScript value, generated buffers expanded to hex.
    value: Value,
    bytes: Vec<u8>,
}

/// The vectors of `version`, read and parsed once for all tests of this file
/// (expanding the megabyte bodies is the slow part).
fn vectors(version: ProtocolVersion) -> &'static [Vector] {
    static FILES: [OnceLock<Vec<Vector>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = ProtocolVersion::ALL
        .iter()
        .position(|v| *v == version)
        .expect("a supported version");
    FILES[slot].get_or_init(|| load(version))
}

fn load(version: ProtocolVersion) -> Vec<Vector> {
    let path = format!(
        "{}/vectors/v{}.json",
        env!("CARGO_MANIFEST_DIR"),
        version.number()
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("vector file {path} is missing ({e}): run tests/vectors/generate.mjs")
    });
    let file: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(file["protocol"], version.number(), "{path}: wrong protocol");
    assert_eq!(
        file["package"],
        expected_package(version),
        "{path}: wrong package"
    );
    let vectors: Vec<Vector> = file["vectors"]
        .as_array()
        .unwrap_or_else(|| panic!("{path}: no \"vectors\" list"))
        .iter()
        .map(parse_vector)
        .collect();
    assert!(
        vectors.len() >= expected_minimum(version),
        "{path}: {} vectors, expected at least {}",
        vectors.len(),
        expected_minimum(version)
    );
    vectors
}

fn parse_vector(v: &Value) -> Vector {
    let name = v["name"].as_str().expect("vector has a name").to_string();
    let direction = match v["direction"].as_str() {
        Some("to_server") => Direction::ToServer,
        Some("to_client") => Direction::ToClient,
        other => panic!("{name}: bad direction {other:?}"),
    };
    let bytes = match (v.get("hex"), v.get("hex_parts")) {
        (Some(Value::String(hex)), None) => hex_decode(hex),
        (None, Some(Value::Array(parts))) => parts.iter().flat_map(part_bytes).collect(),
        _ => panic!("{name}: needs exactly one of \"hex\" and \"hex_parts\""),
    };
    Vector {
        value: expand_generated(&v["value"]),
        name,
        direction,
        bytes,
    }
}

fn part_bytes(part: &Value) -> Vec<u8> {
    match part {
        Value::Object(obj) if obj.contains_key("repeat_hex") => generated_bytes(obj),
        Value::Object(obj) => hex_decode(obj["hex"].as_str().expect("hex part is a string")),
        other => panic!("bad hex part {other}"),
    }
}

/// Decodes, compares with the TypeScript value, re-encodes; `Err` says how
/// the vector failed.
fn check(version: ProtocolVersion, v: &Vector) -> Result<(), String> {
    let (json, encoded) = match v.direction {
        Direction::ToServer => {
            let msg = decode_to_server(version, &v.bytes).map_err(|e| format!("decode: {e}"))?;
            let encoded = encode_to_server(version, &msg).map_err(|e| format!("encode: {e}"))?;
            (to_server_json(&msg), encoded)
        }
        Direction::ToClient => {
            let msg = decode_to_client(version, &v.bytes).map_err(|e| format!("decode: {e}"))?;
            let encoded = encode_to_client(version, &msg).map_err(|e| format!("encode: {e}"))?;
            (to_client_json(version, &msg), encoded)
        }
    };
    if json != v.value {
        return Err(format!(
            "decoded value differs: {}",
            first_difference("$", &v.value, &json)
        ));
    }
    if encoded != v.bytes {
        let at = encoded.iter().zip(&v.bytes).position(|(a, b)| a != b);
        return Err(format!(
            "re-encoding differs (ours {} bytes, theirs {} bytes, first difference at {at:?})",
            encoded.len(),
            v.bytes.len()
        ));
    }
    Ok(())
}

/// Path and short excerpts of the first place where two JSON values differ
/// (whole values could be megabytes of hex).
fn first_difference(path: &str, expected: &Value, actual: &Value) -> String {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let keys: BTreeSet<&String> = e.keys().chain(a.keys()).collect();
            for k in keys {
                let (ev, av) = (
                    e.get(k).unwrap_or(&Value::Null),
                    a.get(k).unwrap_or(&Value::Null),
                );
                if e.contains_key(k) != a.contains_key(k) || ev != av {
                    return first_difference(&format!("{path}.{k}"), ev, av);
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                if ev != av {
                    return first_difference(&format!("{path}[{i}]"), ev, av);
                }
            }
        }
        _ => {}
    }
    format!(
        "at {path}: expected {:.200}, got {:.200}",
        expected.to_string(),
        actual.to_string()
    )
}

fn check_version(version: ProtocolVersion) {
    let vectors = vectors(version);
    let failures: Vec<String> = vectors
        .iter()
        .filter_map(|v| {
            check(version, v)
                .err()
                .map(|e| format!("{:?}/{}: {e}", v.direction, v.name))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{version}: {} of {} vectors failed:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
}

#[test]
fn v5_vectors_decode_and_reencode() {
    check_version(ProtocolVersion::V5);
}

#[test]
fn v6_vectors_decode_and_reencode() {
    check_version(ProtocolVersion::V6);
}

#[test]
fn v7_vectors_decode_and_reencode() {
    check_version(ProtocolVersion::V7);
}

/// Union tags and `StopCode` values (the only string-valued `code`) in `value`.
fn collect_tags(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(obj) => {
            if let Some(Value::String(tag)) = obj.get("tag") {
                out.insert(tag.clone());
            }
            if let Some(Value::String(code)) = obj.get("code") {
                out.insert(code.clone());
            }
            obj.values().for_each(|v| collect_tags(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_tags(v, out)),
        _ => {}
    }
}

fn top_level_tags(vectors: &[Vector], direction: fn(&Direction) -> bool) -> BTreeSet<String> {
    vectors
        .iter()
        .filter(|v| direction(&v.direction))
        .map(|v| v.value["tag"].as_str().expect("top-level tag").to_string())
        .collect()
}

#[test]
fn every_version_covers_every_variant() {
    for version in ProtocolVersion::ALL {
        let vectors = vectors(version);
        let to_server = top_level_tags(vectors, |d| matches!(d, Direction::ToServer));
        let to_client = top_level_tags(vectors, |d| matches!(d, Direction::ToClient));
        assert_eq!(
            to_server,
            TO_SERVER_TAGS.map(String::from).into(),
            "{version} ToServer"
        );
        assert_eq!(
            to_client,
            TO_CLIENT_TAGS.map(String::from).into(),
            "{version} ToClient"
        );

        let mut found = BTreeSet::new();
        vectors
            .iter()
            .for_each(|v| collect_tags(&v.value, &mut found));
        for tag in NESTED_TAGS {
            assert!(found.contains(tag), "{version}: no vector has {tag}");
        }
        assert_eq!(
            found.contains("KvDeleteRangeRequest"),
            version.has_kv_delete_range(),
            "{version}: KvDeleteRangeRequest exists from v7 on, and must be covered there"
        );
    }
}

#[test]
fn v6_and_v7_cover_drain_grace_period_present_and_absent() {
    for version in [ProtocolVersion::V6, ProtocolVersion::V7] {
        let graces: BTreeSet<bool> = vectors(version)
            .iter()
            .filter(|v| v.value["tag"] == "ToClientInit")
            .map(|v| !v.value["val"]["metadata"]["serverlessDrainGracePeriod"].is_null())
            .collect();
        assert_eq!(graces, [false, true].into(), "{version}");
    }
}

#[test]
fn kv_drop_tag_moves_in_v7() {
    // The same TypeScript value, encoded by each version's package.
    for version in ProtocolVersion::ALL {
        let drop = vectors(version)
            .iter()
            .find(|v| v.name == "kv_drop")
            .expect("kv_drop vector");
        let tag = drop.bytes.last().copied();
        let expected = if version.has_kv_delete_range() { 5 } else { 4 };
        assert_eq!(tag, Some(expected), "{version}");
    }
}
