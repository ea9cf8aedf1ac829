//! End to end over TLS: the real engine behind a TLS-terminating proxy of
//! the test's own (a CA and a certificate made at test time), the runner
//! pointed at `https://localhost:PORT`. A runner that trusts the CA
//! (`RIVET_TLS_CA_FILE`) serves HTTP, KV and WebSockets through the gateway
//! and survives an engine restart; one that does not is refused with a
//! certificate error it logs at error level. Both run with trace logging and
//! a distinctive token, which must appear nowhere in their logs.

mod e2e_support;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use e2e_support::{
    Driver, disconnects, get, ping, post, program, request, start_engine, wait_starts, wait_until,
    ws_echo,
};
use tests::api::Method;
use tests::runner_process::{RunnerEvent, RunnerProcess};
use tests::tls_proxy::TlsProxy;
use tokio_tungstenite::tungstenite::Message;

e2e_support::driver_tests!(
    runner_serves_through_a_tls_engine_and_survives_its_restart,
    runner_refuses_an_engine_whose_certificate_it_does_not_trust
);

/// A token to look for in the logs: the engine on loopback has no auth, so
/// any token is accepted, and this one is in no other text.
const TOKEN: &str = "tls-e2e-secret-5d1b9";

/// Bound on the reconnect after the engine is back (backoff grows while
/// it is down: 1 s, 2 s, 4 s, …).
const RECONNECT_BOUND: Duration = Duration::from_secs(45);

async fn runner_serves_through_a_tls_engine_and_survives_its_restart(
    driver: &'static Driver,
) -> Result<()> {
    let mut engine = start_engine().await?;
    let proxy = TlsProxy::start(([127, 0, 0, 1], engine.ports().guard).into()).await?;
    let ca_file = tempfile::NamedTempFile::new()?;
    std::fs::write(ca_file.path(), proxy.ca_pem())?;
    let name = format!("e2e-tls-{}", driver.package);
    let api = engine.api();
    api.configure_runner_name(&name).await?;

    let mut runner = RunnerProcess::builder(program(driver).await?)
        .runner_name(&name)
        .env("RIVET_ENDPOINT", proxy.endpoint())
        .env("RIVET_TOKEN", TOKEN)
        .env("RIVET_TLS_CA_FILE", ca_file.path().display())
        .env("RUST_LOG", "trace")
        .spawn(&engine)?;
    let runner_id = runner.wait_connected(Duration::from_secs(30)).await?;
    ensure!(proxy.handshakes() >= 1, "the runner connected without TLS");

    let actor = api
        .create_actor("tls", Some(&e2e_support::unique_key("tls")), &name)
        .await?;
    wait_starts(&runner, &actor, 1).await?;
    serve_http_kv_and_websocket(&api, &actor).await?;

    engine.kill()?;
    wait_until(&runner, "disconnected", Duration::from_secs(20), |e| {
        disconnects(e) >= 1
    })
    .await?;
    engine.restart().await?;
    wait_until(&runner, "a second connected", RECONNECT_BOUND, |e| {
        RunnerEvent::connected_ids(e).len() >= 2
    })
    .await?;
    ensure!(
        proxy.handshakes() >= 2,
        "the reconnect did not go through TLS"
    );
    let retried = request(Method::GET, &actor, "/kv/greeting")
        .timeout(Duration::from_secs(10))
        .attempts(4);
    let value = api.gateway(retried).await?;
    ensure!(
        value.status == 200 && value.text() == "hello over tls",
        "KV after the restart: {} {}",
        value.status,
        value.text()
    );
    ping(&api, &actor).await?;

    ensure!(runner.sigterm()?, "the runner exited before SIGTERM");
    runner.wait_shutdown(Duration::from_secs(60)).await?;
    let status = runner.wait_exit(Duration::from_secs(10)).await?;
    ensure!(status.success(), "exit status {status}");
    token_is_not_in_the_log(&runner)?;
    eprintln!(
        "runner {runner_id} served over TLS, {} handshakes",
        proxy.handshakes()
    );
    Ok(())
}

/// HTTP, KV and a WebSocket echo through the gateway, to an actor whose
/// runner talks to the engine over TLS.
async fn serve_http_kv_and_websocket(api: &tests::api::Api, actor: &str) -> Result<()> {
    ping(api, actor).await?;
    let echoed = post(api, actor, "/echo", "through the tunnel", 200).await?;
    ensure!(
        echoed.text() == "through the tunnel",
        "echo: {}",
        echoed.text()
    );
    let put = request(Method::PUT, actor, "/kv/greeting").body("hello over tls");
    e2e_support::expect(api, put, 204).await?;
    let value = get(api, actor, "/kv/greeting", 200).await?;
    ensure!(value.text() == "hello over tls", "KV: {}", value.text());
    let mut socket = api.gateway_ws(actor, "/ws").await?;
    ws_echo(&mut socket, Message::text("over tls")).await?;
    ws_echo(&mut socket, Message::binary(vec![1u8, 2, 3])).await
}

async fn runner_refuses_an_engine_whose_certificate_it_does_not_trust(
    driver: &'static Driver,
) -> Result<()> {
    let engine = start_engine().await?;
    let proxy = TlsProxy::start(([127, 0, 0, 1], engine.ports().guard).into()).await?;
    let name = format!("e2e-tls-untrusted-{}", driver.package);
    engine.api().configure_runner_name(&name).await?;

    let mut runner = RunnerProcess::builder(program(driver).await?)
        .runner_name(&name)
        .env("RIVET_ENDPOINT", proxy.endpoint())
        .env("RIVET_TOKEN", TOKEN)
        .env("RUST_LOG", "trace")
        .spawn(&engine)?;
    let log = wait_for_log(&runner, "invalid peer certificate", Duration::from_secs(20)).await?;
    let refusal = log
        .lines()
        .find(|l| l.contains("TLS failed") && l.contains("ERROR"))
        .context("no error-level line says TLS failed")?;
    ensure!(
        refusal.contains("UnknownIssuer"),
        "the error does not say why: {refusal}"
    );
    ensure!(proxy.handshakes() == 0, "a handshake completed");
    ensure!(proxy.refused() >= 1, "the proxy saw no refused handshake");
    ensure!(
        !runner.events().iter().any(RunnerEvent::is_connected),
        "the runner connected to an engine it does not trust"
    );

    ensure!(runner.sigterm()?, "the runner exited before SIGTERM");
    let status = runner.wait_exit(Duration::from_secs(20)).await?;
    ensure!(status.success(), "exit status {status}");
    token_is_not_in_the_log(&runner)
}

/// Waits until the runner's stderr log contains `needle`; returns the log.
async fn wait_for_log(runner: &RunnerProcess, needle: &str, limit: Duration) -> Result<String> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let log = std::fs::read_to_string(runner.stderr_path())?;
        if log.contains(needle) {
            return Ok(log);
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "no {needle:?} in the runner's log within {limit:?} ({})",
            runner.stderr_path().display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn token_is_not_in_the_log(runner: &RunnerProcess) -> Result<()> {
    let log = std::fs::read_to_string(runner.stderr_path())?;
    ensure!(
        log.lines().count() > 20,
        "the trace log is nearly empty: nothing was checked"
    );
    ensure!(
        !log.contains(TOKEN),
        "the token is in the runner's log: {}",
        runner.stderr_path().display()
    );
    Ok(())
}
