//! End to end, through the real engine's gateway: the gallery's examples
//! (`examples/axum_app.rs`, …) run as they are, as their own processes,
//! configured by the `RIVET_*` variables (`Builder::from_env`).

mod e2e_support;

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, ensure};
use e2e_support::{Driver, REQUEST_TIMEOUT, create_actor, engine, expect, request, wait_actor};
use tests::api::{Api, GatewayRequest, Method};
use tests::runner_process::{Profile, RunnerProcess, build_example};

e2e_support::driver_tests!(axum_app_serves_notes_across_sleep);

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
    let program = example(driver, name).await?;
    let engine = engine().await?;
    let runner_name = format!("gallery-{name}-{}", driver.package).replace('_', "-");
    engine.api().configure_runner_name(&runner_name).await?;
    let process = RunnerProcess::builder(program)
        .runner_name(&runner_name)
        .spawn(engine)?;
    Ok((process, engine.api(), runner_name))
}

async fn axum_app_serves_notes_across_sleep(driver: &'static Driver) -> Result<()> {
    let (_runner, api, runner_name) = start(driver, "axum_app").await?;
    let actor = create_actor(&api, &runner_name, "notes").await?;
    // The first request also waits for the runner to connect and the actor
    // to start: a GET, safe to retry.
    let first = GatewayRequest::new(Method::GET, &actor, "/notes").timeout(REQUEST_TIMEOUT);
    let listed = expect(&api, first, 200).await?;
    ensure!(listed.text() == "[]", "a new actor listed {}", listed.text());

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
    wait_actor(&api, &actor, "asleep", |a| a.sleep_ts.is_some()).await?;
    let note = expect(&api, request(Method::GET, &actor, "/notes/2"), 200)
        .await
        .context("the request that wakes the actor")?;
    ensure!(note.text() == "two", "after the wake: {}", note.text());
    Ok(())
}
