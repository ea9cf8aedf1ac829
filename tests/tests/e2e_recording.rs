//! End to end: the flight recorder (`RIVET_FLIGHT_RECORD`) on a real run —
//! requests and KV calls, a hibernatable WebSocket that survives its actor's
//! sleep, an engine crash and restart, then a graceful shutdown — replayed
//! on a fresh core with every step's outputs matching the recorded ones.
//! The test has an engine of its own. A second one caps the recording
//! (`RIVET_FLIGHT_RECORD_MAX_BYTES`) so that it rotates under real traffic:
//! both kept segments replay, each from its snapshot, and the newest holds
//! the last request.

mod e2e_support;

use std::time::Duration;

use anyhow::{Result, ensure};
use e2e_support::{
    Driver, TestRunner, disconnects, engine, expect, ping, post, request, start_engine, wait_actor,
    wait_starts, wait_stops, wait_until, ws_echo,
};
use runner_core::recording::{Input, RecordingReader, Timeline, previous_segment_path, replay};
use tests::api::{GatewayRequest, Method};
use tests::runner_process::RunnerEvent;
use tokio_tungstenite::tungstenite::Message;

e2e_support::driver_tests!(heavy: a_recorded_run_with_a_restart_replays_exactly);
e2e_support::driver_tests!(a_capped_recording_rotates_and_each_segment_replays);

/// Bound on the runner's reconnect after the engine is back.
const RECONNECT_BOUND: Duration = Duration::from_secs(45);
/// Bound on the graceful shutdown: after a crash the engine's old runner
/// workflow ignores the runner for ~30 s (engine.md), and the drain waits.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(150);

async fn a_recorded_run_with_a_restart_replays_exactly(driver: &'static Driver) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("run.rec");
    let mut engine = start_engine().await?;
    let api = engine.api();
    let name = format!("e2e-recording-{}", driver.package);
    let record = path.display().to_string();
    let mut runner = TestRunner::start(driver, &engine, &name, |b| {
        b.env("RIVET_FLIGHT_RECORD", record)
    })
    .await?;
    let actor = runner.actor(&api, "recorded").await?;

    // Traffic: a request with a body, KV calls.
    ping(&api, &actor).await?;
    let echo = request(Method::POST, &actor, "/echo").body("recorded body");
    ensure!(expect(&api, echo, 200).await?.text() == "recorded body");
    expect(&api, request(Method::PUT, &actor, "/kv/k").body("v"), 204).await?;
    ensure!(
        expect(&api, request(Method::GET, &actor, "/kv/k"), 200)
            .await?
            .text()
            == "v"
    );

    // A hibernatable socket survives its actor's sleep.
    let process = &runner.process;
    let mut socket = api.gateway_ws(&actor, "/hws").await?;
    ws_echo(&mut socket, Message::Text("before sleep".into())).await?;
    post(&api, &actor, "/sleep", "", 200).await?;
    ensure!(wait_stops(process, &actor, 1).await? == 0);
    wait_actor(&api, &actor, "asleep", |a| a.sleep_ts.is_some()).await?;
    ws_echo(&mut socket, Message::Text("wakes it".into())).await?;
    ensure!(
        wait_starts(process, &actor, 2).await? == 1,
        "the wake is generation 1"
    );
    drop(socket);

    // The engine crashes and comes back; the runner reconnects.
    engine.kill()?;
    wait_until(process, "disconnected", Duration::from_secs(20), |e| {
        disconnects(e) >= 1
    })
    .await?;
    engine.restart().await?;
    wait_until(process, "a second connected", RECONNECT_BOUND, |e| {
        RunnerEvent::connected_ids(e).len() >= 2
    })
    .await?;
    let again = GatewayRequest::new(Method::GET, &actor, "/ping")
        .timeout(Duration::from_secs(10))
        .attempts(4);
    ensure!(api.gateway(again).await?.status == 200);

    // Graceful shutdown: the recording ends with the close.
    ensure!(
        runner.process.sigterm()?,
        "the runner exited before SIGTERM"
    );
    runner.process.wait_shutdown(SHUTDOWN_BOUND).await?;
    let status = runner.process.wait_exit(Duration::from_secs(10)).await?;
    ensure!(status.success(), "exit status {status}");

    check_replay(&std::fs::read(&path)?, &actor)
}

/// The recording replays to its end, every step matching, and holds what
/// the run did.
fn check_replay(data: &[u8], actor: &str) -> Result<()> {
    let reader = RecordingReader::new(data)?;
    let mut timeline = Timeline::new(reader.header());
    let (mut closes, mut restores, mut shutdowns, mut acks) = (0, 0, 0, 0);
    let summary = replay(data, |step| {
        timeline.add(step);
        match step.input {
            Input::Closed { .. } => closes += 1,
            Input::RestoreWebSockets { .. } => restores += 1,
            Input::Shutdown { .. } => shutdowns += 1,
            Input::WebSocketAck { .. } => acks += 1,
            _ => {}
        }
    })?;
    eprintln!(
        "replayed {} steps of {} bytes: {closes} transport closes, {restores} socket restores, {acks} acks",
        summary.steps,
        data.len()
    );
    ensure!(
        !summary.cut,
        "the recording was cut: the runner did not finish it"
    );
    ensure!(
        closes >= 2,
        "the engine crash and the final close: {closes} closes"
    );
    ensure!(
        restores >= 1 && acks >= 1,
        "the hibernatable socket: {restores} restores, {acks} acks"
    );
    ensure!(shutdowns >= 1, "the graceful shutdown is an input");
    let text = timeline.render();
    ensure!(
        text.contains(&format!("== actor {actor} ==")),
        "no section for the actor:\n{text}"
    );
    Ok(())
}

/// The cap of the rotating recording: segments of 16 KiB.
const SMALL_CAP: u64 = 32 * 1024;

async fn a_capped_recording_rotates_and_each_segment_replays(
    driver: &'static Driver,
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("capped.rec");
    let engine = engine().await?;
    let api = engine.api();
    let name = format!("e2e-recording-capped-{}", driver.package);
    let record = path.display().to_string();
    let mut runner = TestRunner::start(driver, engine, &name, |b| {
        b.env("RIVET_FLIGHT_RECORD", record)
            .env("RIVET_FLIGHT_RECORD_MAX_BYTES", SMALL_CAP.to_string())
    })
    .await?;
    let actor = runner.actor(&api, "capped").await?;

    // ~1 KiB recorded per request (its body and the answer's frame): the
    // recording fills several 16 KiB segments.
    let body = "r".repeat(900);
    for i in 0..80 {
        let echo = request(Method::POST, &actor, "/echo").body(format!("{i}:{body}"));
        ensure!(
            expect(&api, echo, 200)
                .await?
                .text()
                .starts_with(&format!("{i}:"))
        );
    }
    let last = request(Method::POST, &actor, "/echo").body("the last request");
    ensure!(expect(&api, last, 200).await?.text() == "the last request");

    ensure!(
        runner.process.sigterm()?,
        "the runner exited before SIGTERM"
    );
    runner
        .process
        .wait_shutdown(Duration::from_secs(60))
        .await?;
    let status = runner.process.wait_exit(Duration::from_secs(10)).await?;
    ensure!(status.success(), "exit status {status}");

    let current = std::fs::read(&path)?;
    let previous = std::fs::read(previous_segment_path(&path))?;
    ensure!(
        (current.len() + previous.len()) as u64 <= SMALL_CAP,
        "the segments hold {} + {} bytes, over the {SMALL_CAP} cap",
        previous.len(),
        current.len()
    );
    for (label, segment) in [("previous", &previous), ("current", &current)] {
        let reader = RecordingReader::new(segment)?;
        ensure!(
            reader.snapshot().is_some(),
            "the {label} segment starts without a snapshot: it did not rotate twice"
        );
        let summary = replay(segment, |_| {})?;
        ensure!(
            summary.from_snapshot && !summary.cut,
            "{label}: {summary:?}"
        );
    }
    // The newest inputs are kept: the last request's body is in the
    // current segment (the recording is not redacted).
    ensure!(
        current.windows(16).any(|w| w == b"the last request"),
        "the last request is not in the current segment"
    );
    Ok(())
}
