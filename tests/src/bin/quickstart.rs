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
//!
//! ```sh
//! cargo run -p tests --bin quickstart -- --serverless
//! ```
//!
//! The same with a serverless runner: the test runner serves the serverless
//! endpoint, a serverless runner config points the engine at it, the engine
//! starts a runner through `/start` when the actor is created; then the actor
//! sleeps, every runner ends (scaled to zero: a 5 s lifespan) and the next
//! request wakes it on a fresh runner (a cold start, timed).

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures::{SinkExt, StreamExt};
use tests::api::{Api, GatewayRequest, GatewayResponse, Method};
use tests::engine::{Engine, EngineOptions, engine_binary};
use tests::runner_process::{Profile, RunnerEvent, RunnerProcess, build_example};
use tokio_tungstenite::tungstenite::Message;

/// The runner name the actor selects.
const RUNNER_NAME: &str = "quickstart";
/// Bound on each step (a first build or download may take minutes).
const SLOW_STEP: Duration = Duration::from_secs(900);
/// Bound on each call to the engine or the actor.
const STEP: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = if std::env::args().any(|arg| arg == "--serverless") {
        quickstart_serverless().await
    } else {
        quickstart().await
    };
    match outcome {
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

/// The serverless walk-through (`--serverless`).
async fn quickstart_serverless() -> Result<()> {
    say("Fetching the Rivet engine (pinned, from npm, cached under target/)");
    bounded(SLOW_STEP, async {
        tokio::task::spawn_blocking(engine_binary).await?
    })
    .await?;
    say("Building runner-tokio's test_runner example");
    let program = bounded(SLOW_STEP, async {
        tokio::task::spawn_blocking(|| build_example("runner-tokio", "test_runner", Profile::Debug))
            .await?
    })
    .await?;

    say("Starting the engine on loopback (serverless drains 1 s before a runner's lifespan ends)");
    let mut options = engine_options();
    if let Some(patch) = options
        .config_patch
        .as_mut()
        .and_then(|p| p.as_object_mut())
    {
        let drain = serde_json::json!({ "serverless_drain_grace_period": 1000 });
        patch.insert("pegboard".into(), drain);
    }
    let mut engine = bounded(STEP, Engine::start_with(options)).await?;
    show("gateway and API", engine.endpoint());

    say("Starting the runner in serverless mode (RIVET_SERVERLESS_LISTEN)");
    let mut runner = RunnerProcess::builder(program)
        .env("RIVET_SERVERLESS_LISTEN", "127.0.0.1:0")
        .spawn(&engine)?;
    let listening = runner
        .wait_for(|e| matches!(e, RunnerEvent::Listening { .. }), STEP)
        .await?;
    let RunnerEvent::Listening { addr } = listening else {
        bail!("unexpected event {listening:?}");
    };
    let url = format!("http://{addr}/api/rivet");
    show("serverless endpoint", &url);

    say("Pointing a serverless runner config at it (PUT /runner-configs)");
    let api = engine.api();
    bounded(STEP, put_serverless_config(&api, &url)).await?;
    show(
        "runner name",
        format!("{RUNNER_NAME}: serverless, 5 s lifespan, 1 slot per runner"),
    );

    say("Creating an actor: the engine calls /start, a runner starts and connects");
    let actor = bounded(
        STEP,
        api.create_actor("hello", Some("quickstart"), RUNNER_NAME),
    )
    .await?;
    let ping = request(&api, GatewayRequest::new(Method::GET, &actor, "/ping")).await?;
    show(
        &format!("GET  {}", api.gateway_url(&actor, "/ping")),
        answer(&ping),
    );
    let runner_id = runner.wait_connected(STEP).await?;
    show("runner", format!("{runner_id}, started by the engine"));
    let put = GatewayRequest::new(Method::PUT, &actor, "/kv/greeting").body("kept across wakes");
    let put = request(&api, put).await?;
    show(
        &format!("PUT  {}", api.gateway_url(&actor, "/kv/greeting")),
        answer(&put),
    );

    say("Scaling to zero: the actor sleeps and every runner's lifespan runs out");
    request(&api, GatewayRequest::new(Method::POST, &actor, "/sleep")).await?;
    runner.wait_actor_stop(&actor, STEP).await?;
    bounded(STEP, async {
        loop {
            let events = runner.events();
            let connected = RunnerEvent::connected_ids(&events).len();
            let ended = events
                .iter()
                .filter(|e| matches!(e, RunnerEvent::Disconnected { .. }))
                .count();
            if connected == ended {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await?;
    show("runners", "none left");

    say("A request wakes the actor on a fresh runner (cold start)");
    let sent = std::time::Instant::now();
    let ping = request(&api, GatewayRequest::new(Method::GET, &actor, "/ping")).await?;
    let cold = sent.elapsed();
    show(
        &format!("GET  {}", api.gateway_url(&actor, "/ping")),
        answer(&ping),
    );
    show(
        "cold start",
        format!("{} ms, request sent to answer", cold.as_millis()),
    );
    let kept = request(
        &api,
        GatewayRequest::new(Method::GET, &actor, "/kv/greeting"),
    )
    .await?;
    show(
        &format!("GET  {}", api.gateway_url(&actor, "/kv/greeting")),
        answer(&kept),
    );

    say("Shutting the runner down (SIGTERM: every runner drains)");
    runner.sigterm()?;
    runner.wait_shutdown(STEP).await?;
    let status = runner.wait_exit(STEP).await?;
    show("runner", format!("exited ({status})"));
    say("Stopping the engine");
    let status = engine.stop().await?;
    show("engine", format!("exited ({status})"));
    println!("\nDone.");
    Ok(())
}

/// `PUT /runner-configs/<name>`: serverless at `url`. The engine requires
/// `drain_grace_period` below `request_lifespan`.
async fn put_serverless_config(api: &Api, url: &str) -> Result<()> {
    let body = serde_json::json!({"datacenters": {"default": {"serverless": {
        "url": url, "headers": {}, "request_lifespan": 5, "drain_grace_period": 1,
        "slots_per_runner": 1, "min_runners": 0, "max_runners": 10, "runners_margin": 0,
    }}}});
    let response = reqwest::Client::new()
        .put(format!("{}/runner-configs/{RUNNER_NAME}", api.endpoint()))
        .query(&[("namespace", api.namespace())])
        .bearer_auth("dev")
        .json(&body)
        .timeout(STEP)
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("PUT /runner-configs/{RUNNER_NAME} answered {status}: {text}");
    }
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
