//! The `read_recording` fuzz target: a flight recording
//! ([`crate::recording`]) from hostile bytes, read and replayed.

use bytes::Bytes;

use crate::protocol::{
    ProtocolMetadata, ProtocolVersion, ToClient, ToClientInit, encode_to_client,
};
use crate::recording::{RecordOptions, RecordingReader, ReplayError, replay};
use crate::testing;

type Error = Box<dyn std::error::Error>;
use crate::{HttpResponse, Runner, ShutdownMode, Timestamp, Transmit};

/// Reads every step and replays the file: no panic, and the replay agrees
/// with the reader (it replays exactly the steps that read, or diverges at
/// one of them).
pub fn read_recording(data: &[u8]) {
    let Ok(mut reader) = RecordingReader::new(data) else {
        return;
    };
    let mut readable = 0u64;
    while let Ok(Some(step)) = reader.next_step() {
        assert!(step.offset < data.len(), "a step beyond the file's end");
        readable += 1;
    }
    match replay(data, |_| {}) {
        Ok(summary) => assert_eq!(summary.steps, readable, "replay and reader disagree"),
        Err(ReplayError::Diverged(at)) => assert!(at.step < readable),
        Err(_) => {}
    }
}

/// Small real recordings, the seeds of the target's corpus (written to
/// `fuzz/corpus/read_recording/` by `tests/tests/fuzz_bodies.rs`): a
/// runner that connects, starts an actor, answers a request and shuts
/// down, in every protocol version, plain and redacted, whole and as the
/// rotated segment that starts (with a snapshot) after the actor started.
///
/// # Panics
///
/// Never for the fixed script it runs (it would be a bug of the core).
pub fn recording_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for version in ProtocolVersion::ALL {
        for redact in [false, true] {
            let name = format!(
                "seed-v{}-{}",
                version.number(),
                if redact { "redacted" } else { "plain" }
            );
            let data = seed(version, redact, false).unwrap_or_else(|e| panic!("{name}: {e}"));
            seeds.push((name.clone(), data));
            let segment = seed(version, redact, true).unwrap_or_else(|e| panic!("{name}: {e}"));
            seeds.push((format!("{name}-segment"), segment));
        }
    }
    seeds
}

/// The run; with `segment`, the rotated segment that starts once the actor
/// has started (its snapshot holds the actor).
fn seed(version: ProtocolVersion, redact: bool, segment: bool) -> Result<Vec<u8>, Error> {
    let mut config = testing::config();
    config.protocol_version = version;
    let mut runner = Runner::new(config, Timestamp::ZERO)?;
    runner.start_recording(RecordOptions::new().redact(redact))?;
    let at = Timestamp::from_millis;
    runner.start(at(1));
    let Some(Transmit::Connect { conn, .. }) = runner.poll_transmit() else {
        return Err("the started runner did not ask to connect".into());
    };
    runner.handle_connected(at(2), conn);
    let metadata = ProtocolMetadata {
        runner_lost_threshold: 15_000,
        actor_stop_threshold: (version >= ProtocolVersion::V6).then_some(30_000),
        serverless_drain_grace_period: None,
    };
    let init = ToClient::Init(ToClientInit {
        runner_id: "R".into(),
        metadata,
    });
    runner.handle_frame(at(3), conn, &encode_to_client(version, &init)?);
    let actor = testing::start_actor(&mut runner, conn, "A")?;
    runner.actor_started(at(4), &actor, Ok(()))?;
    if segment {
        testing::drain(&mut runner);
        runner.rotate_recording()?;
    }
    let key = testing::http_request(&mut runner, conn, 1, testing::get("A", "/ping"))?;
    let answer = HttpResponse::new(200)
        .header("content-type", "text/plain")
        .body(Bytes::from_static(b"pong"));
    runner.respond(at(5), key, answer)?;
    runner.handle_timeout(at(20_000));
    runner.shutdown(at(20_001), ShutdownMode::Immediate);
    testing::drain(&mut runner);
    let mut out = Vec::new();
    runner.take_recording(&mut out);
    Ok(out)
}
