//! End to end, real engine: the engine is SIGKILLed and restarted on the
//! same data ten times in a row while clients keep sending HTTP requests and
//! KV writes to the test runner's actors. After every restart the runner
//! reconnects (same runner id) and every actor answers again; at the end,
//! every KV write that was acknowledged to a client (204) is still there.
//!
//! Requests that reach the engine while it is down or while the runner
//! reconnects can be lost (engine.md): clients use their own timeouts and
//! are not retried during the load; the check is on what was acknowledged.
//! Parameterised by driver; bounded as a whole by [`LIMIT`].

mod e2e_faults_support;
// Its `driver_tests!` bounds tests at 180 s; this one needs longer.
#[allow(unused_macros, unused_imports)]
mod e2e_support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Result, bail, ensure};
use e2e_support::{Driver, Own, disconnects, wait_until};
use tests::api::{Api, GatewayRequest, Method};
use tests::runner_process::RunnerEvent;
use tokio::time::Instant;

/// Bound on the whole test, build of the test runner excluded.
const LIMIT: Duration = Duration::from_secs(480);
const RESTARTS: usize = 10;
const ACTORS: usize = 3;
/// Bound on one client request during the load.
const LOAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on the runner's reconnect once the engine is back (its backoff is
/// capped at a quarter of the runner-lost threshold while reconnecting).
const RECONNECT: Duration = Duration::from_secs(30);
/// Bound on every actor answering again after a reconnect.
const ANSWER_AGAIN: Duration = Duration::from_secs(30);
/// How long the engine stays up, under load, between two kills.
const UP: Duration = Duration::from_secs(3);

macro_rules! per_driver {
    ($($module:ident => $driver:ident),+ $(,)?) => {$(
        mod $module {
            #[test]
            fn engine_killed_ten_times_under_load_loses_no_acknowledged_write() {
                let driver = &crate::e2e_support::$driver;
                crate::e2e_faults_support::run(super::LIMIT, super::ten_restarts(driver));
            }
        }
    )+};
}

per_driver!(runner_tokio => TOKIO, runner_async_std => ASYNC_STD);

/// One acknowledged write.
#[derive(Debug, Clone)]
struct Write {
    actor: String,
    key: String,
    value: String,
}

/// What the load saw.
#[derive(Debug, Default)]
struct Load {
    acknowledged: Mutex<Vec<Write>>,
    pings_ok: AtomicU64,
    pings_failed: AtomicU64,
    writes_failed: AtomicU64,
}

fn once(method: Method, actor: &str, path: &str) -> GatewayRequest {
    GatewayRequest::new(method, actor, path)
        .timeout(LOAD_TIMEOUT)
        .attempts(1)
}

/// Pings the actors in turn until `stop`.
async fn ping_load(api: Api, actors: Vec<String>, load: Arc<Load>, stop: Arc<AtomicBool>) {
    for actor in actors.iter().cycle() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match api.gateway(once(Method::GET, actor, "/ping")).await {
            Ok(r) if r.status == 200 => load.pings_ok.fetch_add(1, Ordering::SeqCst),
            _ => load.pings_failed.fetch_add(1, Ordering::SeqCst),
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes fresh keys to `actor` until `stop`; records the writes answered
/// 204.
async fn kv_load(api: Api, actor: String, load: Arc<Load>, stop: Arc<AtomicBool>) {
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let key = format!("w{n}");
        let value = format!("value-{n}-{}", "x".repeat(n % 64));
        let request = once(Method::PUT, &actor, &format!("/kv/{key}")).body(value.clone());
        match api.gateway(request).await {
            Ok(r) if r.status == 204 => {
                let write = Write {
                    actor: actor.clone(),
                    key,
                    value,
                };
                load.acknowledged
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(write);
            }
            _ => {
                load.writes_failed.fetch_add(1, Ordering::SeqCst);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `GET /ping` on every actor until each has answered 200.
async fn every_actor_answers(api: &Api, actors: &[String]) -> Result<()> {
    let deadline = Instant::now() + ANSWER_AGAIN;
    for actor in actors {
        loop {
            match api.gateway(once(Method::GET, actor, "/ping")).await {
                Ok(r) if r.status == 200 => break,
                other if Instant::now() >= deadline => {
                    bail!("{actor} does not answer again: {other:?}")
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    Ok(())
}

async fn ten_restarts(driver: &'static Driver) -> Result<()> {
    e2e_support::program(driver).await?;
    let name = format!("faults-restart-{}", driver.package);
    let mut own = Own::start(driver, &name).await?;
    let api = own.api();
    let mut actors = Vec::new();
    for n in 0..ACTORS {
        actors.push(own.actor(&format!("restart-{n}")).await?);
    }
    let runner_id = own.runner.id.clone();
    let load = Arc::new(Load::default());
    let stop = Arc::new(AtomicBool::new(false));
    // Two clients pinging the actors in turn, one writer per actor.
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let ping = ping_load(api.clone(), actors.clone(), load.clone(), stop.clone());
        tasks.push(tokio::spawn(ping));
    }
    for actor in &actors {
        let write = kv_load(api.clone(), actor.clone(), load.clone(), stop.clone());
        tasks.push(tokio::spawn(write));
    }
    tokio::time::sleep(UP).await;

    for round in 1..=RESTARTS {
        own.engine.kill()?;
        let killed = Instant::now();
        let runner = &own.runner.process;
        wait_until(runner, "the disconnect", Duration::from_secs(20), |e| {
            disconnects(e) >= round
        })
        .await?;
        own.engine.restart().await?;
        let up = killed.elapsed();
        let events = wait_until(runner, "the reconnect", RECONNECT, |e| {
            RunnerEvent::connected_ids(e).len() > round
        })
        .await?;
        let reconnected = killed.elapsed();
        ensure!(
            RunnerEvent::connected_ids(&events)
                .iter()
                .all(|id| *id == runner_id),
            "round {round}: the engine gave the runner another id: {events:?}"
        );
        every_actor_answers(&api, &actors).await?;
        eprintln!(
            "round {round}: engine back after {up:?}, runner reconnected after {reconnected:?}, \
             every actor answering after {:?}",
            killed.elapsed()
        );
        tokio::time::sleep(UP).await;
    }

    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await?;
    }
    let written = load
        .acknowledged
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    eprintln!(
        "load: {} pings answered, {} lost; {} writes acknowledged, {} failed",
        load.pings_ok.load(Ordering::SeqCst),
        load.pings_failed.load(Ordering::SeqCst),
        written.len(),
        load.writes_failed.load(Ordering::SeqCst)
    );
    ensure!(
        written.len() >= 30,
        "too few writes acknowledged ({}) for the check to mean much",
        written.len()
    );
    for write in &written {
        let request = GatewayRequest::new(Method::GET, &write.actor, &format!("/kv/{}", write.key))
            .timeout(Duration::from_secs(10))
            .attempts(3);
        let found = api.gateway(request).await?;
        ensure!(
            found.status == 200 && found.text() == write.value,
            "acknowledged write {write:?} reads back as {} {:?}",
            found.status,
            found.text()
        );
    }
    every_actor_answers(&api, &actors).await?;
    Ok(())
}
