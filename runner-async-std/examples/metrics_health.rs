//! Metrics and health next to the runner, on async-std: every actor
//! answers `hello`, and `http://127.0.0.1:9464` serves
//!
//! * `GET /metrics`: the runner's metrics (the table in the README,
//!   "Metrics and health") as Prometheus text, next to any metric of your
//!   own recorded through the `metrics` facade;
//! * `GET /health`: 200 when ready (connected, not shutting down), else
//!   503 — a readiness probe; the JSON body says why;
//! * `GET /health/live`: 200 while the event loop answers and the engine
//!   was heard from within a minute — a liveness probe.
//!
//! Run it:
//!
//! ```text
//! RIVET_ENDPOINT=http://127.0.0.1:6420 cargo run -p runner-async-std --example metrics_health
//! curl -s 127.0.0.1:9464/metrics | grep rivet_runner_actors
//! ```
//!
//! In your own crate: `runner-async-std = { features = ["metrics"] }`, plus
//! the exporter you like (here `metrics-exporter-prometheus`). The three
//! routes are answered over async-std's own TCP sockets, as
//! `runner-tokio/examples/metrics_health.rs` does over tokio's: a probe
//! needs no HTTP framework (put them in your server's router if you have
//! one).
//!
//! Each scrape asks the runner for a fresh snapshot and publishes it into
//! the global Prometheus recorder; with a push-based exporter, spawn
//! `runner_async_std::publish_every(AsyncStd, handle, interval)` instead.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_std::io::BufReader;
use async_std::net::{TcpListener, TcpStream};
use async_std::prelude::*;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use runner_async_std::{
    ActorContext, Handler, INPUT_TIME_BUCKETS, KV_LATENCY_BUCKETS, Publisher, Request, Response,
    RunnerHandle,
};

/// Where `/metrics` and `/health` are served.
const LISTEN: &str = "127.0.0.1:9464";
/// A probe that the event loop does not answer within this is failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Liveness: the engine pings every few seconds; silence past this is death.
const MAX_CONTACT_AGE: Duration = Duration::from_secs(60);

struct Hello;

impl Handler for Hello {
    async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
        // Your own metrics go through the same facade and the same exporter.
        metrics::counter!("hello_answers_total").increment(1);
        Response::new(format!("hello from {}\n", actor.actor_id()).into())
    }
}

/// What the HTTP side shares: the exporter, the runner, and the publisher
/// that turns runner snapshots into facade values.
struct Observed {
    prometheus: PrometheusHandle,
    runner: RunnerHandle,
    publisher: Mutex<Publisher>,
}

#[async_std::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    // The runner's histograms keep fixed buckets: give the exporter the same.
    let prometheus = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("rivet_runner_kv_latency_seconds".into()),
            &KV_LATENCY_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full("rivet_runner_input_seconds".into()),
            &INPUT_TIME_BUCKETS,
        )?
        .install_recorder()?;
    let endpoint =
        std::env::var("RIVET_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:6420".into());
    let runner = runner_async_std::builder()
        .endpoint(endpoint)
        .token("dev")
        .runner_name("metrics-health")
        .build(Hello)?;
    let observed = Arc::new(Observed {
        prometheus,
        runner: runner.handle(),
        publisher: Mutex::new(Publisher::default()),
    });
    let listener = TcpListener::bind(LISTEN).await?;
    eprintln!("serving /metrics and /health on http://{LISTEN}");
    async_std::task::spawn(accept(listener, observed));
    let reason = runner.run().await;
    eprintln!("shut down: {reason:?}");
    Ok(())
}

/// Answers every connection to `listener`, one request each.
async fn accept(listener: TcpListener, observed: Arc<Observed>) {
    while let Ok((stream, _)) = listener.accept().await {
        async_std::task::spawn(serve(stream, observed.clone()));
    }
}

/// One HTTP/1.1 request, answered and closed.
async fn serve(stream: TcpStream, observed: Arc<Observed>) {
    let mut reader = BufReader::new(stream.clone());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).await.is_err() {
        return;
    }
    let mut header = String::new();
    while matches!(reader.read_line(&mut header).await, Ok(n) if n > 2) {
        header.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let (status, content_type, body) = match path {
        "/metrics" => metrics(&observed).await,
        "/health" | "/health/live" => health(&observed, path == "/health/live").await,
        _ => (404, "text/plain", "not found\n".to_owned()),
    };
    let head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        if status < 300 { "OK" } else { "Not OK" },
        body.len()
    );
    let mut stream = stream;
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
}

async fn metrics(observed: &Observed) -> (u16, &'static str, String) {
    let snapshot = async_std::future::timeout(PROBE_TIMEOUT, observed.runner.metrics()).await;
    if let Ok(Some(snapshot)) = snapshot {
        if let Ok(mut publisher) = observed.publisher.lock() {
            publisher.publish(&snapshot);
        }
    }
    (
        200,
        "text/plain; version=0.0.4",
        observed.prometheus.render(),
    )
}

async fn health(observed: &Observed, liveness: bool) -> (u16, &'static str, String) {
    let probe = async_std::future::timeout(PROBE_TIMEOUT, observed.runner.health());
    let Ok(health) = probe.await else {
        return (
            503,
            "application/json",
            "{\"live\":false,\"why\":\"event loop busy\"}\n".into(),
        );
    };
    let live = health.is_live(MAX_CONTACT_AGE);
    let ok = if liveness { live } else { health.ready };
    let body = format!(
        "{{\"ready\":{},\"live\":{live},\"connection\":\"{}\",\"shuttingDown\":{},\"engineContactAgeSeconds\":{}}}\n",
        health.ready,
        health.connection.as_str(),
        health.shutting_down,
        health
            .engine_contact_age
            .map_or("null".to_owned(), |age| format!("{:.3}", age.as_secs_f64())),
    );
    (if ok { 200 } else { 503 }, "application/json", body)
}

// The example ends above; its tests run the probes' HTTP side over a real
// socket against a runner on the test kit.
#[cfg(test)]
mod tests {
    use super::*;
    use runner_async_std::{ShutdownMode, http};

    /// Serves the probes of `runner` on a free port; returns its address.
    async fn probes(runner: RunnerHandle) -> std::net::SocketAddr {
        let observed = Arc::new(Observed {
            prometheus: PrometheusBuilder::new().install_recorder().unwrap(),
            runner,
            publisher: Mutex::new(Publisher::default()),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        async_std::task::spawn(accept(listener, observed));
        address
    }

    /// `GET path`: the status line and the body.
    async fn get(address: std::net::SocketAddr, path: &str) -> (String, String) {
        let mut stream = TcpStream::connect(address).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nhost: probe\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        (head.lines().next().unwrap().to_owned(), body.to_owned())
    }

    // One test: the Prometheus recorder is the process's global one.
    #[async_std::test]
    async fn probes_and_metrics_follow_the_runner() {
        let kit = runner_async_std::testing::start(Hello).await;
        let address = probes(kit.handle().clone()).await;

        let (status, body) = get(address, "/health").await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(body.contains("\"ready\":true"), "{body}");
        assert_eq!(get(address, "/health/live").await.0, "HTTP/1.1 200 OK");

        let actor = kit.start_actor("hello").await.unwrap();
        let hello = kit
            .request(&actor, http::Request::get("/").body("").unwrap())
            .await;
        assert_eq!(hello.body(), "hello from actor-1\n");
        let (status, text) = get(address, "/metrics").await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(text.contains("rivet_runner_actors 1"), "{text}");
        assert!(text.contains("hello_answers_total 1"), "{text}");
        assert_eq!(get(address, "/other").await.0, "HTTP/1.1 404 Not OK");

        // Shut down: not ready, not live.
        kit.handle().shutdown(ShutdownMode::Immediate).await;
        assert_eq!(get(address, "/health").await.0, "HTTP/1.1 503 Not OK");
        assert_eq!(get(address, "/health/live").await.0, "HTTP/1.1 503 Not OK");
    }
}
