//! Quick start: a real runner serving a real actor through the real engine,
//! in one command.
//!
//! ```sh
//! cargo run -p tests --bin quickstart
//! ```
//!
//! Fetches the pinned Rivet engine from npm (cached under `target/`), builds
//! runner-tokio's `test_runner` example, starts the engine on loopback with
//! telemetry off, starts the runner, creates an actor, talks to it through
//! the engine's gateway over HTTP and WebSocket, and shows the answers; then
//! shuts the runner down with SIGTERM and stops the engine. Needs Rust, Node
//! and npm.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures::{SinkExt, StreamExt};
use tests::api::{Api, GatewayRequest, GatewayResponse, Method};
use tests::engine::{Engine, EngineOptions, engine_binary};
use tests::runner_process::{Profile, RunnerProcess, build_example};
use tokio_tungstenite::tungstenite::Message;

/// The runner name the actor selects.
const RUNNER_NAME: &str = "quickstart";
/// Bound on each step (a first build or download may take minutes).
const SLOW_STEP: Duration = Duration::from_secs(900);
/// Bound on each call to the engine or the actor.
const STEP: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> ExitCode {
    match quickstart().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("\nquickstart failed: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn quickstart() -> Result<()> {
    say("Fetching the Rivet engine (pinned, from npm, cached under target/)");
    let binary = bounded(SLOW_STEP, async {
        tokio::task::spawn_blocking(engine_binary).await?
    })
    .await?;
    show("engine", binary.display());

    say("Building runner-tokio's test_runner example");
    let program = bounded(SLOW_STEP, async {
        tokio::task::spawn_blocking(|| build_example("runner-tokio", "test_runner", Profile::Debug))
            .await?
    })
    .await?;

    say("Starting the engine on loopback, telemetry off");
    let mut engine = bounded(STEP, Engine::start_with(engine_options())).await?;
    show("gateway and API", engine.endpoint());

    say("Declaring the runner name (PUT /runner-configs)");
    let api = engine.api();
    bounded(STEP, api.configure_runner_name(RUNNER_NAME)).await?;
    show(
        "runner name",
        format!("{RUNNER_NAME}: a pool of normal runners"),
    );

    say("Starting the runner");
    let mut runner = RunnerProcess::builder(program)
        .runner_name(RUNNER_NAME)
        .spawn(&engine)?;
    let runner_id = runner.wait_connected(STEP).await?;
    show(
        "runner",
        format!(
            "connected as {runner_id} (logs: {})",
            runner.stderr_path().display()
        ),
    );

    say("Creating an actor");
    let actor = bounded(
        STEP,
        api.create_actor("hello", Some("quickstart"), RUNNER_NAME),
    )
    .await?;
    let generation = runner.wait_actor_start(&actor, STEP).await?;
    show("actor", format!("{actor} (generation {generation})"));

    talk_http(&api, &actor).await?;
    talk_websocket(&api, &actor).await?;

    say("Shutting the runner down (SIGTERM)");
    runner.sigterm()?;
    runner.wait_actor_stop(&actor, STEP).await?;
    runner.wait_shutdown(STEP).await?;
    let status = runner.wait_exit(STEP).await?;
    show(
        "runner",
        format!("stopped the actor, then exited ({status})"),
    );

    say("Stopping the engine");
    let status = engine.stop().await?;
    show("engine", format!("exited ({status})"));
    println!("\nDone.");
    Ok(())
}

/// The harness's loopback, telemetry-off engine, with the workflow
/// worker's load shedding off: by default the engine schedules less and
/// less work as the host's CPU use passes 70 %, and a machine busy with
/// something else would see the actor create stall.
fn engine_options() -> EngineOptions {
    EngineOptions {
        config_patch: Some(serde_json::json!({
            "runtime": { "worker_load_shedding_curve": [[0, 1000], [1000, 999]] }
        })),
        ..EngineOptions::default()
    }
}

/// `GET /ping` and `POST /echo` through the gateway.
async fn talk_http(api: &Api, actor: &str) -> Result<()> {
    say("HTTP through the gateway");
    let ping = request(api, GatewayRequest::new(Method::GET, actor, "/ping")).await?;
    show(
        &format!("GET  {}", api.gateway_url(actor, "/ping")),
        answer(&ping),
    );
    let echo = GatewayRequest::new(Method::POST, actor, "/echo")
        .header("content-type", "text/plain")
        .body("Hello, Rivet!");
    let echo = request(api, echo).await?;
    show(
        &format!("POST {} «Hello, Rivet!»", api.gateway_url(actor, "/echo")),
        answer(&echo),
    );
    Ok(())
}

/// A WebSocket to `/ws`: one echo, then the server's close.
async fn talk_websocket(api: &Api, actor: &str) -> Result<()> {
    say("WebSocket through the gateway");
    let mut socket = api.gateway_ws(actor, "/ws").await?;
    show(
        "connected",
        api.gateway_url(actor, "/ws").replacen("http", "ws", 1),
    );
    for text in ["Hello over WebSocket!", "close"] {
        socket.send(Message::Text(text.into())).await?;
        let reply = bounded(STEP, async {
            loop {
                match socket.next().await {
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(reply) => return Ok(reply?),
                    None => bail!("the socket ended"),
                }
            }
        })
        .await?;
        show(
            &format!("sent «{text}»"),
            format!("got {}", describe(&reply)),
        );
    }
    Ok(())
}

async fn request(api: &Api, request: GatewayRequest) -> Result<GatewayResponse> {
    api.gateway(request.timeout(STEP).attempts(1)).await
}

fn answer(response: &GatewayResponse) -> String {
    let content_type = response.header("content-type").unwrap_or("no content-type");
    format!("{} ({content_type}) {}", response.status, response.text())
}

fn describe(message: &Message) -> String {
    match message {
        Message::Text(text) => format!("text «{text}»"),
        Message::Binary(bytes) => format!("{} bytes", bytes.len()),
        Message::Close(Some(frame)) => {
            format!("close {} «{}»", u16::from(frame.code), frame.reason)
        }
        other => format!("{other:?}"),
    }
}

async fn bounded<T>(limit: Duration, step: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(limit, step)
        .await
        .map_err(|_| anyhow!("timed out after {limit:?}"))?
        .context("step failed")
}

fn say(step: &str) {
    println!("\n== {step}");
}

fn show(what: &str, detail: impl std::fmt::Display) {
    println!("   {what}: {detail}");
}
