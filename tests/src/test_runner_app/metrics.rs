//! `RIVET_METRICS_LISTEN=HOST:PORT`: the runner's metrics as Prometheus
//! text at `GET /metrics`.
//!
//! Served by a small HTTP/1.1 server on a plain thread of its own, which at
//! every scrape asks the runner for a snapshot ([`RunnerHandle::metrics`]),
//! publishes it through the `metrics` facade into a Prometheus recorder of
//! its own (not a global one) and renders that. Why not the exporter's own
//! listener: it brings hyper and a tokio runtime thread, a second runtime
//! inside the async-std test runner, and it renders whatever was last
//! published, so it would need a publishing task on a timer and a scrape
//! could be a period behind; this one is the same code on both drivers,
//! and every scrape is exact as of the moment it is served.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use futures::executor::block_on;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use runner_core::KV_LATENCY_BUCKETS;
use runner_core::host::{INPUT_TIME_BUCKETS, Publisher, RunnerHandle};

/// A scrape that sends nothing for this long is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Request line and headers of a scrape, at most: more is not a scrape.
const MAX_REQUEST: usize = 8 << 10;

/// Binds `addr` (so that a taken port fails before anything connects) and
/// serves `/metrics` for `runner` on a thread of its own, for the life of
/// the process.
pub fn serve(addr: SocketAddr, runner: RunnerHandle) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    let recorder = recorder()?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            let mut publisher = Publisher::default();
            for stream in listener.incoming().flatten() {
                if let Err(e) = scrape(stream, &runner, &recorder, &mut publisher) {
                    tracing::debug!(error = %e, "metrics scrape failed");
                }
            }
        })?;
    tracing::info!(%bound, "serving Prometheus metrics at /metrics");
    Ok(bound)
}

/// A recorder whose histograms have the runner's own buckets, so that
/// bucket counts come out exact.
fn recorder() -> io::Result<PrometheusRecorder> {
    let buckets = |name: &str, bounds: &[f64]| (Matcher::Full(name.to_owned()), bounds.to_vec());
    let mut builder = PrometheusBuilder::new();
    for (matcher, bounds) in [
        buckets("rivet_runner_kv_latency_seconds", &KV_LATENCY_BUCKETS),
        buckets("rivet_runner_input_seconds", &INPUT_TIME_BUCKETS),
    ] {
        builder = builder
            .set_buckets_for_metric(matcher, &bounds)
            .map_err(io::Error::other)?;
    }
    Ok(builder.build_recorder())
}

fn scrape(
    stream: TcpStream,
    runner: &RunnerHandle,
    recorder: &PrometheusRecorder,
    publisher: &mut Publisher,
) -> io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?).take(MAX_REQUEST as u64);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // The headers are read and ignored: nothing in them changes the answer.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next(), parts.next());
    let (status, body) = match (method, path) {
        (Some("GET"), Some("/metrics")) => match block_on(runner.metrics()) {
            Some(snapshot) => {
                metrics::with_local_recorder(recorder, || publisher.publish(&snapshot));
                ("200 OK", recorder.handle().render())
            }
            None => ("503 Service Unavailable", "runner stopped\n".to_owned()),
        },
        _ => ("404 Not Found", "not found\n".to_owned()),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
