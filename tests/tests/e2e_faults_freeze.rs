//! End to end, real engine: the runner's connection freezes — TCP stays
//! open, nothing flows (`tests::proxy::Proxy` between runner and engine).
//! The engine would only give up on such a runner after ~29 s, and a runner
//! that waits for a close never finds out; ours notices the silence (no
//! frame for `timeouts.liveness`), closes, and reconnects.
//!
//! 1. Only the open connection freezes (new ones work): the runner is back
//!    within liveness + backoff, with the same runner id, and its actor
//!    answers without having been stopped.
//! 2. (its own test, on both drivers) The same freeze while an actor is
//!    writing: 4 000 KV
//!    puts of 16 KiB made just after the freeze, far more frames than the
//!    socket's buffers hold. The event loop never waits for the socket
//!    (a frame it does not take is held, and the core keeps the rest), so
//!    its timers still run: the puts time out, the dead connection is
//!    noticed within the liveness window (by the silence, or by the socket
//!    taking nothing for that long) and
//!    replaced, and the actor answers on the new one without having been
//!    stopped.
//! 3. A full partition (new connections hang too) longer than the engine's
//!    runner-lost threshold (15 s): at the threshold the runner stops its
//!    actors itself (`StopReason::RunnerLost`, spec §2.10) — the engine has
//!    given them up too — and once the partition heals it reconnects and the
//!    actor, started again by the engine, answers.
//!
//! The runner is built in process with a short liveness timeout (6 s: two
//! engine pings) and connect timeout (5 s); the test-runner contract fixes
//! its configuration through environment variables that have neither.

mod e2e_faults_support;
// For its engine settings and runner-name declaration only.
#[allow(unused_macros, unused_imports)]
mod e2e_support;

use std::time::Duration;

use anyhow::{Result, ensure};
use e2e_faults_support::{InProcess, Note, connections, run, starts};
use runner_tokio::{StopReason, Timeouts};
use tests::api::{Api, GatewayRequest, Method};
use tests::proxy::Proxy;
use tokio::time::Instant;

const LIVENESS: Duration = Duration::from_secs(6);

/// An engine, a proxy in front of it that the test can freeze, and the
/// runner timeouts both freeze tests start from.
async fn frozen_rig() -> Result<(tests::engine::Engine, Proxy, Timeouts)> {
    let engine = e2e_support::start_engine().await?;
    let upstream = format!("127.0.0.1:{}", engine.ports().guard).parse()?;
    let proxy = Proxy::start(upstream).await?;
    let mut timeouts = Timeouts::default();
    timeouts.liveness = LIVENESS;
    timeouts.connect = Duration::from_secs(5);
    Ok((engine, proxy, timeouts))
}
/// The engine's `runnerLostThreshold`.
const RUNNER_LOST: Duration = Duration::from_secs(15);

/// `/ok` until it answers 200 (requests around a reconnect can be lost);
/// returns the generation that answered.
async fn ok_generation(api: &Api, actor: &str, within: Duration) -> Result<u32> {
    let deadline = Instant::now() + within;
    loop {
        let request = GatewayRequest::new(Method::GET, actor, "/ok")
            .timeout(Duration::from_secs(10))
            .attempts(1);
        match api.gateway(request).await {
            Ok(r) if r.status == 200 => {
                let text = r.text();
                let generation = text.rsplit(' ').next().unwrap_or_default().parse()?;
                return Ok(generation);
            }
            Ok(r) if Instant::now() >= deadline => {
                anyhow::bail!("/ok still answers {}: {}", r.status, r.text())
            }
            Err(e) if Instant::now() >= deadline => return Err(e),
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

fn disconnects(notes: &[Note]) -> Vec<(Option<u16>, String)> {
    notes
        .iter()
        .filter_map(|n| match n {
            Note::Disconnected(code, reason) => Some((*code, reason.clone())),
            _ => None,
        })
        .collect()
}

/// The first disconnect `runner` reports, waited for one liveness window
/// and some.
async fn first_disconnect(runner: &InProcess) -> Result<(Option<u16>, String)> {
    let notes = runner
        .wait("a disconnect", LIVENESS + Duration::from_secs(5), |n| {
            !disconnects(n).is_empty()
        })
        .await?;
    Ok(disconnects(&notes)[0].clone())
}

/// After a short freeze: the runner is back (as `again`) with the same
/// runner id, and its actor answers without having been stopped.
async fn kept_through_a_short_freeze(
    api: &Api,
    runner: &InProcess,
    actor: &str,
    runner_id: &str,
    again: &str,
) -> Result<()> {
    ensure!(again == runner_id, "a new runner id after a short freeze");
    ensure!(ok_generation(api, actor, Duration::from_secs(30)).await? == 0);
    ensure!(
        !runner.notes().iter().any(|n| matches!(n, Note::Stop(..))),
        "the actor was stopped by a short freeze: {:?}",
        runner.notes()
    );
    Ok(())
}

#[test]
fn a_frozen_connection_is_noticed_and_replaced() {
    run(Duration::from_secs(300), async {
        let (engine, proxy, timeouts) = frozen_rig().await?;
        let api = engine.api();
        api.configure_runner_name("faults-freeze").await?;
        let runner =
            InProcess::spawn(&proxy.endpoint(), "faults-freeze", |b| b.timeouts(timeouts))?;
        let runner_id = runner.connected(1, Duration::from_secs(20)).await?;
        let actor = api
            .create_actor("frozen", Some("frozen-1"), "faults-freeze")
            .await?;
        ensure!(ok_generation(&api, &actor, Duration::from_secs(20)).await? == 0);

        // 1. The open connection freezes; new ones work.
        let frozen = Instant::now();
        proxy.freeze_existing();
        let (code, reason) = first_disconnect(&runner).await?;
        let noticed = frozen.elapsed();
        ensure!(
            code == Some(1011) && reason.starts_with("runner.liveness_timeout"),
            "disconnected with {code:?} {reason:?}"
        );
        ensure!(
            noticed >= LIVENESS - Duration::from_secs(4),
            "noticed after only {noticed:?}"
        );
        let again = runner.connected(2, Duration::from_secs(15)).await?;
        let back = frozen.elapsed();
        kept_through_a_short_freeze(&api, &runner, &actor, &runner_id, &again).await?;
        eprintln!("freeze 1: noticed after {noticed:?}, reconnected after {back:?}");

        // 3. A full partition, longer than the runner-lost threshold.
        let cut = Instant::now();
        proxy.freeze_all();
        let lost = runner
            .wait(
                "the runner-lost stop",
                LIVENESS + RUNNER_LOST + Duration::from_secs(10),
                |n| {
                    n.iter().any(
                        |n| matches!(n, Note::Stop(id, 0, StopReason::RunnerLost) if *id == actor),
                    )
                },
            )
            .await?;
        let stopped_after = cut.elapsed();
        ensure!(
            stopped_after >= RUNNER_LOST,
            "actors stopped {stopped_after:?} into the partition, before the threshold"
        );
        ensure!(
            connections(&lost).len() == 2,
            "connected through a partition: {lost:?}"
        );
        proxy.thaw();
        let healed = Instant::now();
        let third = runner.connected(3, Duration::from_secs(30)).await?;
        let reconnected = healed.elapsed();
        let generation = ok_generation(&api, &actor, Duration::from_secs(60)).await?;
        let answered = healed.elapsed();
        ensure!(
            generation >= 1,
            "the actor answers from generation {generation}"
        );
        ensure!(starts(&runner.notes(), &actor).contains(&generation));
        eprintln!(
            "partition: actors stopped (RunnerLost) {stopped_after:?} into it; after it healed: \
             reconnected in {reconnected:?} (runner id {}), the actor (generation {generation}) \
             answered in {answered:?}; proxy accepted {} connections",
            if third == runner_id { "kept" } else { "new" },
            proxy.accepted()
        );
        runner.stop().await?;
        Ok(())
    });
}

/// Spawns the fault runner on one driver, with these timeouts.
type Spawn = fn(&str, &str, Timeouts) -> Result<InProcess>;

#[test]
fn a_frozen_connection_with_a_full_writer_is_noticed_and_replaced() {
    full_writer(|endpoint, name, timeouts| {
        InProcess::spawn(endpoint, name, |b| b.timeouts(timeouts))
    });
}

#[test]
fn a_frozen_connection_with_a_full_writer_is_noticed_and_replaced_async_std() {
    full_writer(|endpoint, name, timeouts| {
        InProcess::spawn_async_std(endpoint, name, |b| b.timeouts(timeouts))
    });
}

fn full_writer(spawn: Spawn) {
    run(Duration::from_secs(300), async {
        let (engine, proxy, mut timeouts) = frozen_rig().await?;
        let api = engine.api();
        // The flood's puts time out (a timer that must run while the writer
        // is full) before the new connection, which need not carry them.
        timeouts.kv_request = Duration::from_secs(3);
        api.configure_runner_name("faults-freeze-flood").await?;
        let runner = spawn(&proxy.endpoint(), "faults-freeze-flood", timeouts)?;
        let runner_id = runner.connected(1, Duration::from_secs(20)).await?;
        let actor = api
            .create_actor("flooding", Some("flooding-1"), "faults-freeze-flood")
            .await?;
        ensure!(ok_generation(&api, &actor, Duration::from_secs(20)).await? == 0);
        let armed = GatewayRequest::new(Method::GET, &actor, "/kv-flood").attempts(1);
        let armed = api.gateway(armed).await?;
        ensure!(armed.status == 200, "/kv-flood answered {}", armed.status);

        let frozen = Instant::now();
        proxy.freeze_existing();
        runner.flood.notify_one();
        // The writer fills up at once; the liveness window still ends.
        let (code, reason) = first_disconnect(&runner).await?;
        let noticed = frozen.elapsed();
        ensure!(
            reason.starts_with("runner.liveness_timeout") || reason == "write stalled",
            "disconnected with {code:?} {reason:?}"
        );
        let again = runner
            .connected(2, LIVENESS + Duration::from_secs(15))
            .await?;
        let back = frozen.elapsed();
        kept_through_a_short_freeze(&api, &runner, &actor, &runner_id, &again).await?;
        eprintln!(
            "freeze with a full writer: noticed after {noticed:?} ({reason}), \
             reconnected after {back:?}"
        );
        runner.stop().await?;
        Ok(())
    });
}
