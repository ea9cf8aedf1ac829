//! Smoke test of the real-engine harness: no runner involved.
//!
//! Needs the engine binary (fetched with npm on first use, or
//! `RIVET_ENGINE_BIN`); fails, never skips, when it cannot be had.

use std::time::{Duration, Instant};

use tests::api::Api;
use tests::engine::{Engine, engine_binary};

/// Bound on the whole test, so a hung engine fails instead of hanging CI.
const TEST_TIMEOUT: Duration = Duration::from_secs(300);
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_starts_restarts_and_runs_side_by_side() {
    tokio::time::timeout(TEST_TIMEOUT, scenario())
        .await
        .expect("engine smoke test timed out")
        .unwrap_or_else(|err| panic!("{err:?}"));
}

async fn scenario() -> anyhow::Result<()> {
    let fetch = Instant::now();
    let binary = tokio::task::spawn_blocking(engine_binary).await??;
    eprintln!("engine binary {} ({:?})", binary.display(), fetch.elapsed());

    let start = Instant::now();
    let mut engine = Engine::start().await?;
    eprintln!(
        "engine ready at {} in {:?} (pid {:?}, data {})",
        engine.endpoint(),
        start.elapsed(),
        engine.pid(),
        engine.data_dir().display()
    );
    assert_ready(&engine.api()).await?;
    assert_on_loopback_ports(&engine);

    let ports = engine.ports();
    engine.kill()?;
    assert!(!engine.is_running(), "engine still running after kill()");
    assert!(
        engine.api().health(PROBE_TIMEOUT).await.is_err(),
        "health answered although the engine was killed"
    );
    let restart = Instant::now();
    engine.restart().await?;
    eprintln!("engine restarted in {:?}", restart.elapsed());
    assert_eq!(engine.ports(), ports, "restart must keep the ports");
    assert_ready(&engine.api()).await?;

    let mut other = Engine::start().await?;
    eprintln!("second engine ready at {}", other.endpoint());
    assert_ne!(engine.endpoint(), other.endpoint());
    assert_ready(&engine.api()).await?;
    assert_ready(&other.api()).await?;

    let stop = Instant::now();
    let status = other.stop().await?;
    eprintln!("second engine stopped in {:?} ({status})", stop.elapsed());
    assert!(
        engine.is_running(),
        "stopping one engine affected the other"
    );
    Ok(())
}

/// `/health` says ok and the `default` namespace exists.
async fn assert_ready(api: &Api) -> anyhow::Result<()> {
    let health = api.health(PROBE_TIMEOUT).await?;
    assert_eq!(health["status"], "ok", "health: {health}");
    assert!(
        api.namespace_exists("default", PROBE_TIMEOUT).await?,
        "namespace `default` missing at {}",
        api.endpoint()
    );
    Ok(())
}

fn assert_on_loopback_ports(engine: &Engine) {
    let ports = engine.ports();
    let all = [ports.guard, ports.api_peer, ports.metrics];
    for default_port in [6420, 6421, 6430] {
        assert!(!all.contains(&default_port), "default port used: {all:?}");
    }
    assert_eq!(
        engine.endpoint(),
        format!("http://127.0.0.1:{}", ports.guard)
    );
}
