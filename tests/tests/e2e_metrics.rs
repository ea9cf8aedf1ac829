//! End to end: the test runner's `RIVET_METRICS_LISTEN` serves Prometheus
//! text, and after traffic through the real engine's gateway its counters
//! agree with what the test did.

mod e2e_support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use e2e_support::{Driver, TestRunner, engine, expect, get, post, request, wait_stops};
use tests::api::Method;

e2e_support::driver_tests!(counters_agree_with_the_traffic);

/// Bound on waiting for a counter that the runner has surely reached.
const SETTLE: Duration = Duration::from_secs(10);

/// One scrape, as `name{labels}` → value.
type Scrape = HashMap<String, f64>;

async fn scrape(addr: &str) -> Result<Scrape> {
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .context("scraping /metrics")?;
    ensure!(
        response.status() == 200,
        "/metrics answered {}",
        response.status()
    );
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    ensure!(
        content_type.starts_with("text/plain"),
        "content-type {content_type:?}"
    );
    let text = response.text().await?;
    let mut values = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let Some((name, value)) = line.rsplit_once(' ') else {
            bail!("unparsable line {line:?}");
        };
        values.insert(name.to_owned(), value.parse::<f64>().context("a value")?);
    }
    Ok(values)
}

fn value(scrape: &Scrape, name: &str) -> f64 {
    scrape.get(name).copied().unwrap_or(0.0)
}

/// Scrapes until `name` minus its value in `before` is `expected`.
async fn wait_delta(addr: &str, before: &Scrape, name: &str, expected: f64) -> Result<Scrape> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let now = scrape(addr).await?;
        let delta = value(&now, name) - value(before, name);
        if delta == expected {
            return Ok(now);
        }
        if Instant::now() > deadline {
            bail!("{name} grew by {delta}, expected {expected}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

async fn counters_agree_with_the_traffic(driver: &'static Driver) -> Result<()> {
    let engine = engine().await?;
    let addr = format!("127.0.0.1:{}", free_port()?);
    let name = format!("e2e-metrics-{}", driver.package).replace('_', "-");
    let runner = TestRunner::start(driver, engine, &name, |b| {
        b.env("RIVET_METRICS_LISTEN", &addr)
    })
    .await?;
    let api = engine.api();

    let first = scrape(&addr).await?;
    ensure!(value(&first, "rivet_runner_connection_state{state=\"connected\"}") == 1.0);
    ensure!(value(&first, "rivet_runner_connections_total") == 1.0);

    let actor = runner.actor(&api, "metrics").await?;
    // What the actor's start did (the app reads its hibernation state from
    // KV) is the baseline for the traffic below.
    let before = wait_delta(&addr, &first, "rivet_runner_actor_starts_total", 1.0).await?;
    ensure!(value(&before, "rivet_runner_actors") == 1.0);

    const PINGS: usize = 5;
    for _ in 0..PINGS {
        get(&api, &actor, "/ping", 200).await?;
    }
    get(&api, &actor, "/status/404", 404).await?;
    get(&api, &actor, "/status/503", 503).await?;
    expect(&api, request(Method::PUT, &actor, "/kv/a").body("1"), 204).await?;
    get(&api, &actor, "/kv/a", 200).await?;
    expect(&api, request(Method::DELETE, &actor, "/kv/a"), 204).await?;

    let requests = (PINGS + 5) as f64;
    let after = wait_delta(&addr, &before, "rivet_runner_http_requests_total", requests).await?;
    let delta = |name: &str| value(&after, name) - value(&before, name);
    let class = |c: &str| {
        delta(&format!(
            "rivet_runner_http_responses_total{{status_class=\"{c}\"}}"
        ))
    };
    ensure!(
        class("2xx") == (PINGS + 3) as f64,
        "2xx grew by {}",
        class("2xx")
    );
    ensure!(class("4xx") == 1.0, "4xx grew by {}", class("4xx"));
    ensure!(class("5xx") == 1.0, "5xx grew by {}", class("5xx"));
    let kv = |kind: &str| delta(&format!("rivet_runner_kv_calls_total{{kind=\"{kind}\"}}"));
    ensure!(
        (kv("put"), kv("get"), kv("delete")) == (1.0, 1.0, 1.0),
        "KV calls by kind: put {}, get {}, delete {}",
        kv("put"),
        kv("get"),
        kv("delete")
    );
    ensure!(delta("rivet_runner_kv_results_total{outcome=\"ok\"}") == 3.0);
    ensure!(delta("rivet_runner_kv_latency_seconds_count") == 3.0);
    ensure!(value(&after, "rivet_runner_http_open") == 0.0);
    ensure!(value(&after, "rivet_runner_kv_pending") == 0.0);

    // The actor asks to stop: one stop, for the engine's reason.
    post(&api, &actor, "/stop", "", 200).await?;
    wait_stops(&runner.process, &actor, 1).await?;
    let stopped = wait_delta(
        &addr,
        &after,
        "rivet_runner_actor_stops_total{reason=\"engine\"}",
        1.0,
    )
    .await?;
    ensure!(value(&stopped, "rivet_runner_actor_starts_total") == 1.0);
    ensure!(
        value(
            &stopped,
            "rivet_runner_disconnects_total{reason=\"closed\"}"
        ) == 0.0
    );
    Ok(())
}
