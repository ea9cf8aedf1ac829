//! End to end: `runner-core/examples/blocking_loop.rs`, the core driven
//! by a plain blocking loop (std + tungstenite, no async runtime), against
//! the real engine.
//!
//! Needs the engine binary (fetched with npm on first use, or
//! `RIVET_ENGINE_BIN`); fails, never skips, when it cannot be had.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, ensure};
use tests::api::{GatewayRequest, Method};
use tests::engine::Engine;
use tests::runner_process::{Profile, RunnerEvent, RunnerProcess, build_example};

/// The runner name the example uses unless `RIVET_RUNNER_NAME` says otherwise.
const RUNNER_NAME: &str = "blocking-loop";
/// Bound on each whole test (the first build included), so a hang fails.
const TEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Bound on each awaited runner event.
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on the graceful shutdown: the engine stops every actor first.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);

/// Creates an actor, gets its answers through the gateway, destroys it (the
/// loop acknowledges the stop itself), then shuts the runner down through
/// the example's `POST /shutdown` route: `shutdown` last, exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_loop_serves_stops_and_shuts_down() {
    bounded(async {
        let engine = Engine::start().await?;
        let mut runner = spawn_runner(&engine).await?;
        runner.wait_connected(EVENT_TIMEOUT).await?;

        let api = engine.api();
        let actor = api.create_actor("greeter", Some("a"), RUNNER_NAME).await?;
        runner.wait_actor_start(&actor, EVENT_TIMEOUT).await?;
        assert_hello(&engine, &actor).await?;
        let missing = api.gateway_get(&actor, "/missing").await?;
        ensure!(missing.status == 404, "GET /missing: {}", missing.status);

        api.delete_actor(&actor).await?;
        runner.wait_actor_stop(&actor, EVENT_TIMEOUT).await?;

        let actor = api.create_actor("greeter", Some("b"), RUNNER_NAME).await?;
        runner.wait_actor_start(&actor, EVENT_TIMEOUT).await?;
        let request = GatewayRequest::new(Method::POST, &actor, "/shutdown");
        let answer = api.gateway(request).await?;
        ensure!(answer.status == 200, "POST /shutdown: {}", answer.status);
        runner.wait_actor_stop(&actor, SHUTDOWN_TIMEOUT).await?;
        runner.wait_shutdown(SHUTDOWN_TIMEOUT).await?;
        let status = runner.wait_exit(EVENT_TIMEOUT).await?;
        ensure!(status.success(), "exit status {status}");
        let last = runner.events().pop();
        ensure!(last == Some(RunnerEvent::Shutdown), "last event {last:?}");
        Ok(())
    })
    .await;
}

/// The engine crashes and comes back: the connection ends, the core asks
/// for a new one after its backoff, and the loop serves again.
///
/// The runner serves an actor before the crash: an engine killed right
/// after a runner's first connection may not have stored that runner yet,
/// and then gives it a new id when it comes back (seen once in CI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_loop_reconnects_when_the_engine_restarts() {
    bounded(async {
        let mut engine = Engine::start().await?;
        let mut runner = spawn_runner(&engine).await?;
        let runner_id = runner.wait_connected(EVENT_TIMEOUT).await?;
        let before = engine
            .api()
            .create_actor("greeter", Some("before"), RUNNER_NAME)
            .await?;
        runner.wait_actor_start(&before, EVENT_TIMEOUT).await?;
        assert_hello(&engine, &before).await?;

        engine.restart().await?;
        let disconnected = |e: &RunnerEvent| matches!(e, RunnerEvent::Disconnected { .. });
        runner.wait_for(disconnected, EVENT_TIMEOUT).await?;
        let again = runner.wait_connected(EVENT_TIMEOUT).await?;
        ensure!(again == runner_id, "runner id {runner_id} became {again}");

        let actor = engine
            .api()
            .create_actor("greeter", Some("c"), RUNNER_NAME)
            .await?;
        runner.wait_actor_start(&actor, EVENT_TIMEOUT).await?;
        assert_hello(&engine, &actor).await
    })
    .await;
}

/// Runs a test body within [`TEST_TIMEOUT`], panicking with its error.
async fn bounded(test: impl Future<Output = Result<()>>) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("test timed out")
        .unwrap_or_else(|err| panic!("{err:?}"));
}

/// Builds the example (once per test binary, then cached by cargo) and
/// starts it against `engine` with the default runner name.
async fn spawn_runner(engine: &Engine) -> Result<RunnerProcess> {
    // Declared before the runner connects: otherwise the engine can cache
    // "no runner config" for this name for minutes (see
    // `Api::configure_runner_name`; seen here once under load: every create
    // answered 400 `no_runner_config_configured` for 60 s).
    engine.api().configure_runner_name(RUNNER_NAME).await?;
    let program: PathBuf = tokio::task::spawn_blocking(|| {
        build_example("runner-core", "blocking_loop", Profile::Debug)
    })
    .await??;
    RunnerProcess::builder(program).spawn(engine)
}

/// `GET /` answers 200 with the example's greeting.
async fn assert_hello(engine: &Engine, actor: &str) -> Result<()> {
    let hello = engine.api().gateway_get(actor, "/").await?;
    ensure!(
        hello.status == 200 && hello.text().contains("served by a blocking loop"),
        "GET /: {} {:?}",
        hello.status,
        hello.text()
    );
    Ok(())
}
