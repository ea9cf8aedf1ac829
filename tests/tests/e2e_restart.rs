//! End to end: the engine crashes (SIGKILL) and comes back on the same data
//! and ports; the runner reconnects by itself and its actors answer again;
//! then a second SIGTERM cuts the (slow) graceful shutdown short. The test
//! has an engine of its own.

mod e2e_support;

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use e2e_support::{Driver, Own, disconnects, ping, wait_until};
use tests::api::{GatewayRequest, Method};
use tests::runner_process::{RunnerEvent, RunnerProcess};

e2e_support::driver_tests!(engine_killed_and_restarted_runner_reconnects);

/// Bound on the runner's reconnect after the engine is back (its backoff
/// grows while the engine is down: 1 s, 2 s, 4 s, …).
const RECONNECT_BOUND: Duration = Duration::from_secs(45);

async fn engine_killed_and_restarted_runner_reconnects(driver: &'static Driver) -> Result<()> {
    let name = format!("e2e-restart-{}", driver.package);
    let mut own = Own::start(driver, &name).await?;
    let api = own.api();
    let runner = &own.runner.process;
    let actor = own.actor("survivor").await?;
    ensure!(ping(&api, &actor).await?.generation == 0);

    own.engine.kill()?;
    wait_until(runner, "disconnected", Duration::from_secs(20), |e| {
        disconnects(e) >= 1
    })
    .await?;
    let down = Instant::now();
    own.engine.restart().await?;
    let events = wait_until(runner, "a second connected", RECONNECT_BOUND, |e| {
        RunnerEvent::connected_ids(e).len() >= 2
    })
    .await?;
    eprintln!("runner reconnected {:?} after the kill", down.elapsed());
    ensure!(
        RunnerEvent::connected_ids(&events) == [own.runner.id.clone(), own.runner.id.clone()],
        "the engine gave the runner another id: {events:?}"
    );
    // The killed engine sent no close frame: the contract's code for that
    // is 1006 (it was `null`).
    let codes: Vec<Option<u16>> = events
        .iter()
        .filter_map(|e| match e {
            RunnerEvent::Disconnected { code, .. } => Some(*code),
            _ => None,
        })
        .collect();
    ensure!(
        codes.first() == Some(&Some(1006)),
        "a disconnect without a close frame is not reported as 1006: {codes:?}"
    );
    let order: Vec<&str> = events.iter().filter_map(connection_line).collect();
    ensure!(
        order.starts_with(&["connected", "disconnected", "connected"]),
        "connection lines out of order: {order:?}"
    );

    // Requests racing the reconnect can be lost inside the engine: retry.
    let again = GatewayRequest::new(Method::GET, &actor, "/ping")
        .timeout(Duration::from_secs(10))
        .attempts(4);
    let answer = api.gateway(again).await?;
    ensure!(answer.status == 200, "after the restart: {}", answer.text());
    let after = ping(&api, &actor).await?;
    eprintln!("the actor answers again: {after:?}");
    // And the engine places new actors on the runner.
    let fresh = own.actor("after-restart").await?;
    ping(&api, &fresh).await?;
    second_signal_cuts_a_slow_drain_short(&mut own.runner.process).await
}

/// After a crash the engine's old runner workflow ignores signals for a
/// while (~30 s, engine.md), so a graceful shutdown waits on it; a second
/// SIGTERM must end the runner at once, cleanly.
async fn second_signal_cuts_a_slow_drain_short(runner: &mut RunnerProcess) -> Result<()> {
    let signalled = Instant::now();
    ensure!(runner.sigterm()?, "the runner exited before SIGTERM");
    let drained = runner.wait_shutdown(Duration::from_secs(2)).await.is_ok();
    if !drained {
        ensure!(
            runner.sigterm()?,
            "the runner exited before the second SIGTERM"
        );
        runner.wait_shutdown(Duration::from_secs(5)).await?;
    }
    let status = runner.wait_exit(Duration::from_secs(5)).await?;
    ensure!(status.success(), "exit status {status}");
    eprintln!(
        "shutdown after the restart: {} in {:?}",
        if drained {
            "graceful drain finished"
        } else {
            "second SIGTERM"
        },
        signalled.elapsed()
    );
    Ok(())
}

fn connection_line(event: &RunnerEvent) -> Option<&'static str> {
    match event {
        RunnerEvent::Connected { .. } => Some("connected"),
        RunnerEvent::Disconnected { .. } => Some("disconnected"),
        _ => None,
    }
}
