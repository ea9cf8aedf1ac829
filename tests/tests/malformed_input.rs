//! Malformed engine input, str0m-style: a panic means a bug in the runner,
//! never bad input. Every damaged frame either decodes (and is handled) or
//! closes the connection (1011 `runner.invalid_frame`), after which the
//! runner reconnects and works: a ping on the new connection is answered.
//!
//! Also the regressions of what the fuzz targets found (see the report in
//! `fuzz/README.md`); the decode and core bodies themselves run over the
//! committed corpora in `fuzz_bodies.rs`.

use std::path::Path;

use runner_core::Config;
use runner_core::protocol::{
    ProtocolVersion, ToClient, ToClientPing, ToServer, ToServerPong, decode_to_client,
};
use serde_json::Value;
use tests::fuzz_support::Wire;
use tests::ts_json::hex_decode;

/// The engine → runner golden vectors of `version` (small ones only).
fn vectors(version: ProtocolVersion) -> Vec<(String, Vec<u8>)> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("vectors/v{}.json", version.number()));
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("vectors"))
        .expect("vector JSON");
    file["vectors"]
        .as_array()
        .expect("vectors")
        .iter()
        .filter(|v| v["direction"] == "to_client")
        .filter_map(|v| {
            let hex = v["hex"].as_str()?;
            Some((v["name"].as_str()?.to_owned(), hex_decode(hex)))
        })
        .collect()
}

fn config(version: ProtocolVersion) -> Config {
    let mut config = Wire::config();
    config.protocol_version = version;
    config
}

/// Delivers `frame` on a ready connection and checks the outcome: a frame
/// that decodes keeps the connection (unless it is something the runner
/// rejects by itself), one that does not closes it with 1011
/// `runner.invalid_frame`; then the runner still answers pings, on a new
/// connection if the old one was closed.
fn deliver_and_recover(wire: &mut Wire, frame: &[u8], version: ProtocolVersion, what: &str) {
    let decodes = decode_to_client(version, frame).is_ok();
    wire.deliver_bytes(frame);
    let closes = wire.take_closes();
    if !decodes {
        assert!(
            closes
                .iter()
                .any(|(_, code, reason)| *code == 1011 && reason == "runner.invalid_frame"),
            "{what}: an undecodable frame did not close the connection: {closes:?}"
        );
    }
    if !wire.runner.is_connected() {
        wire.reconnect();
    }
    wire.take_frames();
    wire.deliver(&ToClient::Ping(ToClientPing { ts: 4242 }));
    assert!(
        wire.take_frames()
            .contains(&ToServer::Pong(ToServerPong { ts: 4242 })),
        "{what}: no pong after the damaged frame"
    );
}

#[test]
fn every_truncation_of_every_vector_is_handled() {
    for version in ProtocolVersion::ALL {
        let mut wire = Wire::connected(config(version));
        for (name, bytes) in vectors(version) {
            for len in 0..bytes.len() {
                let what = format!("v{} {name} cut to {len}", version.number());
                deliver_and_recover(&mut wire, &bytes[..len], version, &what);
            }
        }
    }
}

#[test]
fn every_single_byte_change_of_every_vector_is_handled() {
    for version in ProtocolVersion::ALL {
        let mut wire = Wire::connected(config(version));
        for (name, bytes) in vectors(version) {
            for at in 0..bytes.len() {
                for replacement in [0x00, 0x01, 0x02, 0x7f, 0x80, 0xff] {
                    let mut damaged = bytes.clone();
                    if damaged[at] == replacement {
                        continue;
                    }
                    damaged[at] = replacement;
                    let what = format!("v{} {name}[{at}] = {replacement:#04x}", version.number());
                    deliver_and_recover(&mut wire, &damaged, version, &what);
                }
            }
        }
    }
}

#[test]
fn trailing_bytes_and_frames_of_another_version_are_refused() {
    // A v6 init carries two more metadata fields than a v5 runner expects.
    let v6_init = vectors(ProtocolVersion::V6)
        .into_iter()
        .find(|(name, _)| name.starts_with("init"))
        .expect("a v6 init vector")
        .1;
    let mut wire = Wire::connected(config(ProtocolVersion::V5));
    deliver_and_recover(&mut wire, &v6_init, ProtocolVersion::V5, "v6 init on v5");
    for (name, bytes) in vectors(ProtocolVersion::V5) {
        let padded = [&bytes[..], &[0]].concat();
        deliver_and_recover(&mut wire, &padded, ProtocolVersion::V5, &name);
    }
}

#[test]
fn huge_lengths_are_refused_without_allocating_them() {
    // ToClientCommands (tag 1) claiming 2^63 commands, then a string
    // claiming 2^62 bytes: both end early.
    let mut wire = Wire::connected(config(ProtocolVersion::V5));
    let count = [
        1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
    ];
    deliver_and_recover(&mut wire, &count, ProtocolVersion::V5, "2^63 commands");
    let long_id = [1, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40];
    deliver_and_recover(&mut wire, &long_id, ProtocolVersion::V5, "2^62-byte id");
    let overlong_tag = [0xff; 16];
    deliver_and_recover(
        &mut wire,
        &overlong_tag,
        ProtocolVersion::V5,
        "overlong tag",
    );
}

#[test]
fn a_text_frame_closes_the_connection_and_the_runner_reconnects() {
    let mut wire = Wire::connected(config(ProtocolVersion::V7));
    let conn = wire.conn;
    wire.runner.handle_text_frame(wire.now, conn);
    wire.drain();
    let closes = wire.take_closes();
    assert_eq!(closes.len(), 1);
    assert_eq!(
        (closes[0].1, closes[0].2.as_str()),
        (1011, "runner.invalid_frame")
    );
    let took = wire.reconnect();
    assert!(took <= std::time::Duration::from_millis(1250), "{took:?}");
}

/// Found by the `core` fuzz target within a minute: a start command listing
/// more hibernated sockets than `max_requests_per_actor` made the actor hold
/// that many (one start could list any number). The excess is now closed.
/// (`limits::hibernated_sockets_past_the_per_actor_limit_are_closed_at_start`
/// checks the reaction in detail.)
#[test]
fn regression_a_start_listing_many_hibernated_sockets_stays_within_the_limit() {
    let mut config = config(ProtocolVersion::V5);
    config.limits.max_requests_per_actor = 1;
    let mut wire = Wire::connected(config);
    let listed = (0..50).map(tests::fuzz_support::key).collect();
    wire.start_command("a", 0, listed);
    assert!(wire.runner.open_request_count() <= 1);
    let closes = wire
        .take_frames()
        .into_iter()
        .filter(|f| matches!(f, ToServer::TunnelMessage(_)))
        .count();
    assert_eq!(closes, 49);
}

/// Found by the `core` fuzz target after ~700 000 runs: generation 2 of an
/// actor is superseded by generation 3 (so it is dropped without being
/// remembered), generation 3 stops, and then the engine replays the start of
/// generation 2 — as it replays every command whose acknowledgement it did
/// not get, e.g. because the connection dropped. The runner started the old
/// generation again. A start older than a generation the runner has already
/// seen for that actor is stale: it is only acknowledged.
#[test]
fn regression_a_replayed_start_of_a_superseded_generation_is_not_run_again() {
    let mut wire = Wire::connected(config(ProtocolVersion::V7));
    let old = wire.start_command("a", 2, Vec::new());
    let new = wire.start_command("a", 3, Vec::new());
    wire.runner.actor_started(wire.now, &old, Ok(())).unwrap();
    wire.runner.actor_stopped(wire.now, &old).unwrap();
    wire.runner.actor_started(wire.now, &new, Ok(())).unwrap();
    wire.runner.crash_actor(wire.now, &new, "gone").unwrap();
    wire.runner.actor_stopped(wire.now, &new).unwrap();
    wire.drain();
    wire.take_events();
    wire.take_frames();
    assert_eq!(wire.runner.actor_count(), 0);

    wire.start_command("a", 2, Vec::new());
    let started: Vec<_> = wire
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, runner_core::Event::ActorStart { .. }))
        .collect();
    assert!(
        started.is_empty(),
        "a stale generation started again: {started:?}"
    );
    assert!(
        wire.take_frames()
            .iter()
            .any(|f| matches!(f, ToServer::AckCommands(_)))
    );
    assert_eq!(wire.runner.actor_count(), 0);
}
