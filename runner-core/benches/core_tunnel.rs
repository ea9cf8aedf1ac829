//! Tunnel throughput through the core alone (no socket): HTTP requests
//! (request start in → response start out) and WebSocket messages (in and
//! out), with 10, 10 000 and 100 000 live actors, and the heap allocations
//! each costs (`allocs/op` lines, from a counting global allocator).
//!
//!     cargo bench -p runner-core --bench core_tunnel

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use runner_core::protocol::*;
use runner_core::{Event, HttpResponse, RequestKey, Timestamp};

#[path = "support/mod.rs"]
mod support;
use support::{SIZES, Setup, allocs_per_op, drain, report_allocs, tunnel_frame};

const V: ProtocolVersion = ProtocolVersion::V5;
/// Distinct actors the HTTP requests go to, spread over all of them.
const TARGETS: usize = 256;

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
    tunnel_frame(
        V,
        [5, 6, 7, 8],
        0,
        ToClientTunnelMessageKind::RequestStart(ToClientRequestStart {
            actor_id: target.into(),
            method: "GET".into(),
            path: "/ping".into(),
            headers,
            body: None,
            stream: false,
        }),
    )
}

fn bench_http(c: &mut Criterion) {
    let mut group = c.benchmark_group("tunnel_http_request");
    group.throughput(Throughput::Elements(1));
    for actors in SIZES {
        let mut s = Setup::new(V, actors);
        let frames: Vec<Vec<u8>> = (0..TARGETS.min(actors))
            .map(|i| http_request(&s.actors[i * actors / TARGETS.min(actors)].actor_id))
            .collect();
        let body = Bytes::from_static(br#"{"status":"ok"}"#);
        let mut now = 1;
        let mut i = 0;
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
        };
        report_allocs(
            "tunnel_http_request",
            &actors.to_string(),
            allocs_per_op(20_000, &mut op),
        );
        group.bench_with_input(BenchmarkId::from_parameter(actors), &actors, |b, _| {
            b.iter(&mut op)
        });
    }
    group.finish();
}

fn bench_websocket(c: &mut Criterion) {
    let mut group = c.benchmark_group("tunnel_websocket_message");
    // One message in, one out.
    group.throughput(Throughput::Elements(2));
    for actors in SIZES {
        let mut s = Setup::new(V, actors);
        let key = RequestKey::new(GatewayId([1, 2, 3, 4]), RequestId([5, 6, 7, 8]));
        let open = ToClientTunnelMessageKind::WebSocketOpen(ToClientWebSocketOpen {
            actor_id: s.actors[actors / 2].actor_id.clone(),
            path: "/ws".into(),
            headers: BareMap::new(),
        });
        let frame = tunnel_frame(V, [5, 6, 7, 8], 0, open);
        s.runner.handle_frame(Timestamp::ZERO, s.conn, &frame);
        drain(&mut s.runner);
        s.runner
            .websocket_accept(Timestamp::ZERO, key, false)
            .unwrap();
        drain(&mut s.runner);
        // A plain (not hibernatable) socket does not check indices, so one
        // pre-encoded frame can be fed again and again.
        let payload = Bytes::from_static(b"hello, this is a typical small websocket message");
        let message = WebSocketMessage {
            data: payload,
            binary: false,
        };
        let frame = tunnel_frame(
            V,
            [5, 6, 7, 8],
            1,
            ToClientTunnelMessageKind::WebSocketMessage(message),
        );
        let mut now = 1;
        let mut op = || {
            now += 1;
            let t = Timestamp::from_millis(now);
            s.runner.handle_frame(t, s.conn, black_box(&frame));
            let Some(Event::WebSocketMessage { key, data, .. }) = s.runner.poll_event() else {
                unreachable!()
            };
            s.runner.websocket_send(t, key, data, false).unwrap();
            black_box(s.runner.poll_transmit());
        };
        report_allocs(
            "tunnel_websocket_message (in+out)",
            &actors.to_string(),
            allocs_per_op(20_000, &mut op),
        );
        group.bench_with_input(BenchmarkId::from_parameter(actors), &actors, |b, _| {
            b.iter(&mut op)
        });
    }
    group.finish();
}

criterion_group!(benches, bench_http, bench_websocket);
criterion_main!(benches);
