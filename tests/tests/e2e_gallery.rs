//! End to end, through the real engine's gateway: the gallery's examples
//! (`examples/axum_app.rs`, …) run as they are, as their own processes,
//! configured by the `RIVET_*` variables (`Builder::from_env`).

mod e2e_support;

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, ensure};
use e2e_support::{
    Driver, REQUEST_TIMEOUT, WS_TIMEOUT, create_actor, engine, expect, request, wait_actor,
    ws_next, ws_send,
};
use tests::api::{Api, GatewayRequest, Method};
use tests::runner_process::{Profile, RunnerBuilder, RunnerEvent, RunnerProcess, build_example};
use tokio_tungstenite::tungstenite::Message;

e2e_support::driver_tests!(axum_app_serves_notes_across_sleep, alarm_job_across_sleeps);

// The chat room across a sleep (#15). It was flaky: after the wake the
// room sent a restored member a line before the engine's gateway had
// resumed that member's connection, and the gateway dropped it (its log:
// "message handler channel closed"); and a message that came as the room
// began to stop was answered to nobody before the room slept. The room now
// holds a restored member's lines until the member's client has spoken
// since the wake, answers the speaker before acknowledging, and sends each
// member the lines of the history it has not heard.
#[test]
fn chat_room_across_sleep_tokio() {
    e2e_support::run(&e2e_support::TOKIO, chat_room_across_sleep);
}

#[test]
fn chat_room_across_sleep_async_std() {
    e2e_support::run(&e2e_support::ASYNC_STD, chat_room_across_sleep);
}

/// Waits until the engine has `actor` asleep: not only marked so
/// (`sleep_ts`, set as the sleep begins) but stopped (`connectable_ts`
/// cleared). A socket message sent to an actor still stopping was seen not
/// to wake it (the async-std chat run waited 10 s for a wake that never
/// came); once it is stopped, a message wakes it.
async fn asleep(api: &Api, actor: &str) -> Result<()> {
    let stopped = |a: &tests::api::Actor| a.sleep_ts.is_some() && a.connectable_ts.is_none();
    wait_actor(api, actor, "asleep", stopped).await?;
    Ok(())
}

/// Builds `example` of `driver`'s package (once per binary and example:
/// cargo does nothing the second time).
async fn example(driver: &'static Driver, example: &'static str) -> Result<PathBuf> {
    let build = move || build_example(driver.package, example, Profile::Debug);
    tokio::task::spawn_blocking(build)
        .await
        .map_err(|e| anyhow!("the build task failed: {e}"))?
}

/// Starts `driver`'s `example` as a runner named after both, on the shared
/// engine; returns the process (killed on drop), the API and the name.
async fn start(
    driver: &'static Driver,
    name: &'static str,
) -> Result<(RunnerProcess, Api, String)> {
    start_with(driver, name, |b| b).await
}

/// [`start`], the process configured further by `configure`.
async fn start_with(
    driver: &'static Driver,
    name: &'static str,
    configure: impl FnOnce(RunnerBuilder) -> RunnerBuilder,
) -> Result<(RunnerProcess, Api, String)> {
    let program = example(driver, name).await?;
    let engine = engine().await?;
    let runner_name = format!("gallery-{name}-{}", driver.package).replace('_', "-");
    engine.api().configure_runner_name(&runner_name).await?;
    let builder = RunnerProcess::builder(program).runner_name(&runner_name);
    let process = configure(builder).spawn(engine)?;
    Ok((process, engine.api(), runner_name))
}

async fn axum_app_serves_notes_across_sleep(driver: &'static Driver) -> Result<()> {
    let (_runner, api, runner_name) = start(driver, "axum_app").await?;
    let actor = create_actor(&api, &runner_name, "notes").await?;
    // The first request also waits for the runner to connect and the actor
    // to start: a GET, safe to retry.
    let first = GatewayRequest::new(Method::GET, &actor, "/notes").timeout(REQUEST_TIMEOUT);
    let listed = expect(&api, first, 200).await?;
    ensure!(
        listed.text() == "[]",
        "a new actor listed {}",
        listed.text()
    );

    for (id, text) in [(2, "two"), (1, "one")] {
        let add = request(Method::POST, &actor, "/notes")
            .header("content-type", "application/json")
            .body(format!(r#"{{"id":{id},"text":"{text}"}}"#));
        expect(&api, add, 201).await?;
    }
    let listed = expect(&api, request(Method::GET, &actor, "/notes?limit=1"), 200).await?;
    ensure!(
        listed.text() == r#"[{"id":1,"text":"one"}]"#,
        "listed {}",
        listed.text()
    );
    let empty = request(Method::POST, &actor, "/notes")
        .header("content-type", "application/json")
        .body(r#"{"id":3,"text":""}"#);
    expect(&api, empty, 422).await?;
    expect(&api, request(Method::GET, &actor, "/notes/9"), 404).await?;

    // Asleep and woken by the next request: a new generation's router, the
    // same KV.
    expect(&api, request(Method::POST, &actor, "/sleep"), 200).await?;
    asleep(&api, &actor).await?;
    let note = expect(&api, request(Method::GET, &actor, "/notes/2"), 200)
        .await
        .context("the request that wakes the actor")?;
    ensure!(note.text() == "two", "after the wake: {}", note.text());
    Ok(())
}

/// The room's next message on `socket`, which must be `expected`.
async fn next_line(socket: &mut tests::api::GatewaySocket, expected: &str) -> Result<()> {
    match ws_next(socket, WS_TIMEOUT).await? {
        Some(Message::Text(line)) if line.as_str() == expected => Ok(()),
        other => Err(anyhow!("expected {expected:?}, got {other:?}")),
    }
}

async fn chat_room_across_sleep(driver: &'static Driver) -> Result<()> {
    let (_runner, api, runner_name) = start(driver, "chat").await?;
    let room = create_actor(&api, &runner_name, "room").await?;
    let first = GatewayRequest::new(Method::GET, &room, "/messages").timeout(REQUEST_TIMEOUT);
    ensure!(expect(&api, first, 200).await?.text() == "[]");

    // Each member hears its own message first: then it is surely in the
    // room (the gateway may open a socket before the actor has accepted it).
    let mut ann = api.gateway_ws(&room, "/ws").await?;
    ws_send(&mut ann, Message::Text("hello".into())).await?;
    next_line(&mut ann, "1: hello")
        .await
        .context("ann waits for 1: hello")?;
    let mut bob = api.gateway_ws(&room, "/ws").await?;
    ws_send(&mut bob, Message::Text("hi ann".into())).await?;
    next_line(&mut bob, "2: hi ann")
        .await
        .context("bob waits for 2: hi ann")?;
    next_line(&mut ann, "2: hi ann")
        .await
        .context("ann waits for 2: hi ann")?;

    // The room sleeps; the gateway keeps both clients connected, and the
    // next message wakes the room, which restores both sockets.
    expect(&api, request(Method::POST, &room, "/sleep"), 200).await?;
    asleep(&api, &room).await?;
    ws_send(&mut bob, Message::Text("still here".into())).await?;
    next_line(&mut bob, "3: still here")
        .await
        .context("bob waits for 3: still here")?;
    // Ann hears every line, in order, once she has spoken since the wake:
    // the gateway resumes her connection on its own after the wake and
    // drops what the room sends before then, so the room holds her lines
    // until a message of hers shows her connection resumed. (Bob's message
    // may also have come as the room was still stopping: then it was
    // answered and the room slept again, and Ann's message wakes it.)
    ws_send(&mut ann, Message::Text("and me".into())).await?;
    next_line(&mut ann, "3: still here")
        .await
        .context("ann waits for 3: still here")?;
    next_line(&mut ann, "4: and me")
        .await
        .context("ann waits for 4: and me")?;
    // Bob speaks again: whichever wake resumed his connection, he hears
    // Ann's line, then his own.
    ws_send(&mut bob, Message::Text("bye".into())).await?;
    next_line(&mut bob, "4: and me")
        .await
        .context("bob waits for 4: and me")?;
    next_line(&mut bob, "5: bye")
        .await
        .context("bob waits for 5: bye")?;
    next_line(&mut ann, "5: bye")
        .await
        .context("ann waits for 5: bye")?;

    let history = expect(&api, request(Method::GET, &room, "/messages"), 200).await?;
    let expected = r#"["1: hello","2: hi ann","3: still here","4: and me","5: bye"]"#;
    ensure!(history.text() == expected, "history {}", history.text());
    Ok(())
}

/// How long the job may take for its runs (a period is a second).
const JOB_BOUND: std::time::Duration = std::time::Duration::from_secs(60);

/// The generations in which the job printed its runs so far, in order.
fn job_runs(runner: &RunnerProcess, job: &str) -> Vec<u32> {
    let of_job = format!(" of {job} in generation ");
    runner
        .events()
        .into_iter()
        .filter_map(|event| match event {
            RunnerEvent::Invalid { line, .. } => Some(line),
            _ => None,
        })
        .filter_map(|line| line.split_once(&of_job)?.1.trim().parse().ok())
        .collect()
}

async fn alarm_job_across_sleeps(driver: &'static Driver) -> Result<()> {
    let (runner, api, runner_name) =
        start_with(driver, "alarm_job", |b| b.env("JOB_EVERY_MS", 1000)).await?;
    let job = create_actor(&api, &runner_name, "job").await?;
    let deadline = tokio::time::Instant::now() + JOB_BOUND;
    let runs = loop {
        let runs = job_runs(&runner, &job);
        if runs.len() >= 2 {
            break runs;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "runs so far within {JOB_BOUND:?}: {runs:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    // Each run in a generation of its own: the job slept between them and
    // its alarm woke it.
    ensure!(
        runs[0] >= 1 && runs[1] > runs[0],
        "runs in generations {runs:?}"
    );
    wait_actor(&api, &job, "asleep again", |a| a.sleep_ts.is_some()).await?;
    Ok(())
}
