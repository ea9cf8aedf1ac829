//! The host's flight recorder (`Builder::record_to`) on the in-memory
//! runtime, the test playing the engine: a run records a file that replays
//! exactly; redaction keeps bodies out of it; a file that cannot be written
//! leaves the runner serving as if it did not record.
//!
//! Waits are for conditions, bounded generously (10 s).

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use futures::FutureExt;
use futures::channel::oneshot;
use futures::executor::block_on;
use runner_core::host::testing::{EngineSocket, MemoryRuntime};
use runner_core::host::{
    ActorContext, ActorInfo, BoxError, Builder, Handler, Request, Response, RunnerHandle,
};
use runner_core::protocol::{
    ActorState, BareMap, Event as WireEvent, ToClientRequestStart, ToClientTunnelMessageKind,
    ToServer, ToServerTunnelMessageKind,
};
use runner_core::recording::{Input, RecordingReader, previous_segment_path, replay};
use runner_core::{ShutdownMode, ShutdownReason, testing};

const BOUND: Duration = Duration::from_secs(10);
const SECRET: &[u8] = b"a secret response body";

struct Answers;

impl Handler for Answers {
    async fn on_actor_start(&self, _actor: ActorContext, _info: ActorInfo) -> Result<(), BoxError> {
        Ok(())
    }

    async fn on_request(&self, _actor: ActorContext, _request: Request) -> Response {
        http::Response::builder()
            .status(200)
            .header("x-secret", "hidden-value")
            .body(SECRET.to_vec().into())
            .unwrap()
    }
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("host-recording-{}-{name}.rec", std::process::id()))
}

/// Runs a runner that starts actor "A" and answers one request with a
/// body, then shuts down; returns why it ended.
fn run(configure: impl FnOnce(Builder<MemoryRuntime>) -> Builder<MemoryRuntime>) -> ShutdownReason {
    run_requests(1, configure)
}

/// [`run`] with `requests` requests, one after the other.
fn run_requests(
    requests: u32,
    configure: impl FnOnce(Builder<MemoryRuntime>) -> Builder<MemoryRuntime>,
) -> ShutdownReason {
    let (handle, running, mut engine) = connected(configure);
    block_on(engine.send_message(&testing::start_command("A", vec![]))).unwrap();
    recv_until(&mut engine, |m| {
        let ToServer::Events(events) = m else {
            return false;
        };
        events.iter().any(|e| {
            matches!(&e.inner, WireEvent::StateUpdate(u) if matches!(u.state, ActorState::Running))
        })
    });
    for n in 1..=requests {
        let request = ToClientRequestStart {
            body: Some(b"a secret request body".to_vec().into()),
            method: "POST".into(),
            headers: [("authorization", "Bearer hidden".to_string())]
                .into_iter()
                .collect::<BareMap<_>>(),
            ..testing::get("A", "/echo")
        };
        let start = ToClientTunnelMessageKind::RequestStart(request);
        let message = testing::tunnel_message(testing::key(n), 0, start);
        block_on(engine.send_message(&message)).unwrap();
        let answered = recv_until(
            &mut engine,
            |m| matches!(m, ToServer::TunnelMessage(t) if matches!(t.message_kind, ToServerTunnelMessageKind::ResponseStart(_))),
        );
        assert!(!answered.is_empty());
    }
    block_on(handle.shutdown(ShutdownMode::Immediate));
    running.join().expect("the runner ends")
}

/// Runs an [`Answers`] runner configured by `configure` on a thread of its
/// own, and accepts its connection as the engine (init answered).
fn connected(
    configure: impl FnOnce(Builder<MemoryRuntime>) -> Builder<MemoryRuntime>,
) -> (RunnerHandle, JoinHandle<ShutdownReason>, EngineSocket) {
    let rt = MemoryRuntime::new();
    let builder = Builder::new(rt.clone())
        .endpoint("http://engine")
        .runner_name("r")
        .handle_signals(false);
    let runner = configure(builder)
        .build(Answers)
        .expect("valid configuration");
    let handle = runner.handle();
    let running = std::thread::spawn(move || block_on(runner.run()));
    let mut engine = block_on(rt.accept());
    block_on(engine.accept_init("R")).expect("init answered");
    (handle, running, engine)
}

fn recv_until(engine: &mut EngineSocket, done: impl Fn(&ToServer) -> bool) -> Vec<ToServer> {
    let mut seen = Vec::new();
    loop {
        let next = block_on(with_bound(engine.recv_message()))
            .unwrap_or_else(|| panic!("the connection ended; seen {seen:?}"));
        let matched = done(&next);
        seen.push(next);
        if matched {
            return seen;
        }
    }
}

async fn with_bound<T>(future: impl std::future::Future<Output = Option<T>>) -> Option<T> {
    let (tx, rx) = oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(BOUND);
        let _ = tx.send(());
    });
    futures::select! {
        out = future.fuse() => out,
        _ = rx.fuse() => None,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Asserts that no secret of the run (the bodies, the header values) is in
/// `data`, a redacted recording (`what` in the message), and that it replays
/// to its end.
#[track_caller]
fn assert_redacted_and_replays(data: &[u8], what: &str) {
    for secret in [
        SECRET,
        b"a secret request body",
        b"hidden-value",
        b"Bearer hidden",
    ] {
        assert!(
            !contains(data, secret),
            "{:?} is in {what}",
            String::from_utf8_lossy(secret)
        );
    }
    let summary = replay(data, |_| {}).unwrap_or_else(|e| panic!("{e}"));
    assert!(summary.redacted && !summary.cut);
}

#[test]
fn a_recorded_host_run_replays_exactly() {
    let path = scratch("plain");
    let previous = previous_segment_path(&path);
    std::fs::write(&previous, b"a stale segment of an earlier run").unwrap();
    assert_eq!(run(|b| b.record_to(&path)), ShutdownReason::Requested);
    assert!(!previous.exists(), "a stale previous segment is removed");
    let data = std::fs::read(&path).expect("the recording was written");
    let _ = std::fs::remove_file(&path);
    let mut responds = 0;
    let summary = replay(&data, |step| {
        responds += usize::from(matches!(step.input, Input::Respond { .. }));
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!summary.cut, "the run ended: the file is complete");
    assert_eq!(responds, 1, "the handler's answer is a recorded input");
    assert!(
        contains(&data, SECRET),
        "not redacted: the body is in the file"
    );
}

#[test]
fn a_redacted_recording_keeps_bodies_and_header_values_out_and_still_replays() {
    let path = scratch("redacted");
    let reason = run(|b| b.record_to(&path).record_redacted(true));
    assert_eq!(reason, ShutdownReason::Requested);
    let data = std::fs::read(&path).expect("the recording was written");
    let _ = std::fs::remove_file(&path);
    assert_redacted_and_replays(&data, "the file");
}

/// A small cap: the recording rotates several times, the two segments on
/// disk stay within the cap together, both replay from their snapshots,
/// and the newest one holds the last request: the newest inputs are kept.
#[test]
fn a_capped_recording_rotates_and_keeps_the_newest_inputs() {
    const CAP: u64 = 8 * 1024;
    let path = scratch("rotated");
    let previous = previous_segment_path(&path);
    std::fs::write(&previous, b"a stale segment of an earlier run").unwrap();
    let reason = run_requests(60, |b| b.record_to(&path).record_max_bytes(CAP));
    assert_eq!(reason, ShutdownReason::Requested);
    let newest = std::fs::read(&path).expect("the current segment was written");
    let older = std::fs::read(&previous).expect("the previous segment was written");
    let _ = (std::fs::remove_file(&path), std::fs::remove_file(&previous));
    assert!(
        (newest.len() + older.len()) as u64 <= CAP,
        "{} + {} bytes on disk",
        newest.len(),
        older.len()
    );
    let mut last_key = None;
    let summary = replay(&newest, |step| {
        if let Input::Respond { key, .. } = step.input {
            last_key = Some(*key);
        }
    })
    .unwrap_or_else(|e| panic!("newest segment: {e}"));
    assert!(summary.from_snapshot && !summary.cut);
    assert_eq!(last_key, Some(testing::key(60)), "the last answer is kept");
    // The older one is a rotated segment too: it rotated at least twice.
    let summary = replay(&older, |_| {}).unwrap_or_else(|e| panic!("older segment: {e}"));
    assert!(summary.from_snapshot && !summary.cut);
    let first = RecordingReader::new(&older).unwrap();
    assert!(first.header().segment && first.snapshot().is_some());
}

/// Redacted and rotated: no secret in either segment (their snapshots
/// included), and both still replay.
#[test]
fn a_redacted_rotated_recording_keeps_secrets_out_of_every_segment() {
    let path = scratch("rotated-redacted");
    let reason = run_requests(60, |b| {
        b.record_to(&path)
            .record_max_bytes(8 * 1024)
            .record_redacted(true)
    });
    assert_eq!(reason, ShutdownReason::Requested);
    let previous = previous_segment_path(&path);
    let segments = [std::fs::read(&previous), std::fs::read(&path)];
    let _ = (std::fs::remove_file(&path), std::fs::remove_file(&previous));
    for segment in segments {
        let data = segment.expect("both segments were written");
        assert_redacted_and_replays(&data, "a segment");
    }
}

#[test]
fn a_file_that_cannot_be_written_leaves_the_runner_serving() {
    let path = std::env::temp_dir().join("no-such-directory-for-recordings/run.rec");
    // The run answers its request and shuts down as usual.
    assert_eq!(run(|b| b.record_to(&path)), ShutdownReason::Requested);
    assert!(!path.exists());
}

/// A full disk: every write fails (ENOSPC). The recording stops with a
/// warning; the runner neither stalls nor panics.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_stops_the_recording_not_the_runner() {
    assert_eq!(run(|b| b.record_to("/dev/full")), ShutdownReason::Requested);
}

/// An idle runner's recording reaches the file while it runs (not only at
/// its end): a crash then loses at most the last moments.
#[test]
fn an_idle_runners_recording_is_on_disk_while_it_runs() {
    let path = scratch("idle");
    let (handle, running, _engine) = connected(|b| b.record_to(&path));
    let steps_on_disk = || {
        let data = std::fs::read(&path).unwrap_or_default();
        replay(&data, |_| {}).map_or(0, |summary| summary.steps)
    };
    let deadline = std::time::Instant::now() + BOUND;
    // The start, the open transport and the engine's init.
    while steps_on_disk() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let on_disk = steps_on_disk();
    block_on(handle.shutdown(ShutdownMode::Immediate));
    running.join().expect("the runner ends");
    let _ = std::fs::remove_file(&path);
    assert!(
        on_disk >= 3,
        "only {on_disk} steps on disk while the runner idled"
    );
}
