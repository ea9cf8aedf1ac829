//! What the flight recorder costs per input: an HTTP request through the
//! core (request start in, response out, as `core_tunnel`) with recording
//! off, on, and on with redaction; the recording is drained as a host
//! does, into a buffer emptied every MiB (the host's writer thread is not
//! part of this figure).
//!
//!     cargo bench -p runner-core --bench core_recording

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use runner_core::protocol::*;
use runner_core::recording::RecordOptions;
use runner_core::{Event, HttpResponse, Timestamp};

#[path = "support/mod.rs"]
mod support;
use support::{Setup, tunnel_frame};

const V: ProtocolVersion = ProtocolVersion::V5;
const ACTORS: usize = 10;

fn http_request(target: &str) -> Vec<u8> {
    let headers = [
        ("host", "127.0.0.1"),
        ("user-agent", "bench"),
        ("accept", "*/*"),
        ("x-rivet-ray-id", "abcdef"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    let start = ToClientRequestStart {
        actor_id: target.into(),
        method: "GET".into(),
        path: "/ping".into(),
        headers,
        body: None,
        stream: false,
    };
    tunnel_frame(
        V,
        [5, 6, 7, 8],
        0,
        ToClientTunnelMessageKind::RequestStart(start),
    )
}

fn bench_recording(c: &mut Criterion) {
    let mut group = c.benchmark_group("recording_http_request");
    group.throughput(Throughput::Elements(1));
    let modes = [
        ("off", None),
        ("on", Some(RecordOptions::new())),
        ("redacted", Some(RecordOptions::new().redact(true))),
    ];
    for (mode, options) in modes {
        let mut s = Setup::recording(V, ACTORS, options);
        let frames: Vec<Vec<u8>> = s.actors.iter().map(|a| http_request(&a.actor_id)).collect();
        let body = Bytes::from_static(
            br#"{"actorId":"0123456789","generation":0,"starts":1,"status":"ok"}"#,
        );
        let mut file = Vec::with_capacity(2 << 20);
        let (mut now, mut i) = (1, 0);
        let mut op = || {
            now += 1;
            i = (i + 1) % frames.len();
            let t = Timestamp::from_millis(now);
            s.runner.handle_frame(t, s.conn, black_box(&frames[i]));
            let Some(Event::HttpRequest(req)) = s.runner.poll_event() else {
                unreachable!()
            };
            let response = HttpResponse::new(200)
                .header("content-type", "application/json")
                .body(body.clone());
            s.runner.respond(t, req.key, response).unwrap();
            black_box(s.runner.poll_transmit());
            s.runner.take_recording(&mut file);
            if file.len() > 1 << 20 {
                file.clear();
            }
        };
        group.bench_with_input(BenchmarkId::from_parameter(mode), &mode, |b, _| {
            b.iter(&mut op)
        });
    }
    group.finish();
}

criterion_group!(benches, bench_recording);
criterion_main!(benches);
