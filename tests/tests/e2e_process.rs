//! End to end: the test runner as a process — graceful shutdown on SIGTERM
//! against the real engine, a second signal, a hibernatable socket handed
//! to the next runner process, and bad configuration. Each test has
//! runners of its own (on the binary's engine).

mod e2e_support;

use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use e2e_support::{
    Driver, TestRunner, engine, ping, program, stops, wait_actor, wait_starts, ws_echo,
};
use tests::runner_process::{RunnerEvent, RunnerProcess};
use tokio_tungstenite::tungstenite::Message;

e2e_support::driver_tests!(
    sigterm_stops_every_actor_then_shuts_down,
    two_sigints_exit_cleanly,
    hibernatable_socket_moves_to_the_next_runner,
    bad_configuration_fails_before_connecting,
);

/// Bound on a graceful shutdown with a few actors (the engine stops them in
/// milliseconds; the runner waits at most 120 s by default).
const GRACEFUL_BOUND: Duration = Duration::from_secs(20);

async fn sigterm_stops_every_actor_then_shuts_down(driver: &'static Driver) -> Result<()> {
    let engine = engine().await?;
    let api = engine.api();
    let name = format!("e2e-sigterm-{}", driver.package);
    let mut runner = TestRunner::start(driver, engine, &name, |b| b).await?;
    let mut actors = Vec::new();
    for _ in 0..3 {
        actors.push(runner.actor(&api, "drained").await?);
    }
    let signalled = Instant::now();
    ensure!(
        runner.process.sigterm()?,
        "the runner exited before SIGTERM"
    );
    runner.process.wait_shutdown(GRACEFUL_BOUND).await?;
    let status = runner.process.wait_exit(Duration::from_secs(5)).await?;
    let took = signalled.elapsed();
    ensure!(status.success(), "exit status {status}");
    ensure!(took < GRACEFUL_BOUND, "the shutdown took {took:?}");

    let events = runner.events();
    ensure!(
        events.last() == Some(&RunnerEvent::Shutdown),
        "shutdown is not the last line: {events:?}"
    );
    for actor in &actors {
        ensure!(
            stops(&events, actor) == [0],
            "{actor} was not stopped once: {events:?}"
        );
    }
    // The engine put them to sleep, it did not destroy them.
    for actor in &actors {
        let drained = wait_actor(&api, actor, "asleep", |a| a.sleep_ts.is_some()).await?;
        ensure!(
            drained.destroy_ts.is_none(),
            "{actor} was destroyed: {drained:?}"
        );
    }
    eprintln!(
        "graceful shutdown with {} actors took {took:?}",
        actors.len()
    );
    Ok(())
}

async fn two_sigints_exit_cleanly(driver: &'static Driver) -> Result<()> {
    let engine = engine().await?;
    let api = engine.api();
    let name = format!("e2e-sigint-{}", driver.package);
    let mut runner = TestRunner::start(driver, engine, &name, |b| b).await?;
    runner.actor(&api, "interrupted").await?;
    let signalled = Instant::now();
    ensure!(runner.process.sigint()?, "the runner exited before SIGINT");
    // The second one may find the graceful shutdown over already (the one
    // that must cut a slow drain short is in e2e_restart.rs).
    let second = runner.process.sigint()?;
    runner.process.wait_shutdown(GRACEFUL_BOUND).await?;
    let status = runner.process.wait_exit(Duration::from_secs(5)).await?;
    ensure!(status.success(), "exit status {status}");
    eprintln!(
        "two SIGINTs (second delivered: {second}): exit after {:?}",
        signalled.elapsed()
    );
    Ok(())
}

async fn hibernatable_socket_moves_to_the_next_runner(driver: &'static Driver) -> Result<()> {
    let engine = engine().await?;
    let api = engine.api();
    let name = format!("e2e-handover-{}", driver.package);
    let mut first = TestRunner::start(driver, engine, &name, |b| b).await?;
    let actor = first.actor(&api, "handover").await?;
    let mut socket = api.gateway_ws(&actor, "/hws").await?;
    ws_echo(&mut socket, text("to the first runner")).await?;
    ensure!(
        first.process.sigterm()?,
        "the first runner exited before SIGTERM"
    );
    first.process.wait_shutdown(GRACEFUL_BOUND).await?;
    wait_actor(&api, &actor, "asleep", |a| a.sleep_ts.is_some()).await?;

    // Another process of the same runner name: the next message wakes the
    // actor there, which restores the socket from what the first persisted.
    let second = TestRunner::start(driver, engine, &name, |b| b).await?;
    ws_echo(&mut socket, text("to the second runner")).await?;
    ensure!(
        wait_starts(&second.process, &actor, 1).await? == 1,
        "the wake is generation 1"
    );
    ws_echo(&mut socket, text("and again")).await?;
    let awake = ping(&api, &actor).await?;
    ensure!((awake.generation, awake.starts) == (1, 1), "{awake:?}");
    Ok(())
}

fn text(text: &str) -> Message {
    Message::Text(text.into())
}

async fn bad_configuration_fails_before_connecting(driver: &'static Driver) -> Result<()> {
    let program = program(driver).await?;
    let logs = tempfile::tempdir()?;
    let cases = [
        ("RIVET_ENDPOINT", "not a url"),
        ("RIVET_TOTAL_SLOTS", "many"),
        ("RIVET_RUNNER_VERSION", "1.5"),
        ("RIVET_PROTOCOL_VERSION", "99"),
    ];
    for (n, (variable, value)) in cases.into_iter().enumerate() {
        let stderr = logs.path().join(format!("{n}.log"));
        // An endpoint nothing listens on: a connection attempt would hang
        // in reconnects instead of exiting.
        let mut runner = RunnerProcess::builder(&program)
            .env(variable, value)
            .stderr_log(&stderr)
            .spawn_with_endpoint("http://127.0.0.1:9")?;
        let started = Instant::now();
        let status = runner.wait_exit(Duration::from_secs(10)).await?;
        ensure!(
            status.code() == Some(2),
            "{variable}={value:?}: exit status {status}"
        );
        ensure!(
            runner.events().is_empty(),
            "{variable}: {:?}",
            runner.events()
        );
        let text = std::fs::read_to_string(&stderr)?;
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        match lines.as_slice() {
            [line] if line.contains(variable) => {
                eprintln!("{variable}={value:?} → {line:?} in {:?}", started.elapsed())
            }
            _ => bail!("{variable}={value:?}: stderr is not one clear line: {text:?}"),
        }
    }
    Ok(())
}
