//! Tunnel throughput through the core alone (no socket): HTTP requests
//! (request start in → response start out) and WebSocket messages (in and
//! out), with 10 and 10 000 live actors.
//!
//!     cargo bench -p runner-core --bench core_tunnel

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use runner_core::protocol::*;
use runner_core::{
    ActorRef, Config, ConnId, Event, HttpResponse, RequestKey, Runner, Timestamp, Transmit,
};

const V: ProtocolVersion = ProtocolVersion::V5;

/// A connected runner with `actors` running actors.
fn runner_with(actors: usize) -> (Runner, ConnId) {
    let mut config = Config::new("http://127.0.0.1:6420", "bench", "key");
    config.limits.max_actors = actors + 10;
    let mut r = Runner::new(config, Timestamp::ZERO).unwrap();
    r.start(Timestamp::ZERO);
    let Some(Transmit::Connect { conn, .. }) = r.poll_transmit() else {
        unreachable!()
    };
    r.handle_connected(Timestamp::ZERO, conn);
    let init = ToClient::Init(ToClientInit {
        runner_id: "R".into(),
        metadata: ProtocolMetadata {
            runner_lost_threshold: 15000,
            actor_stop_threshold: None,
            serverless_drain_grace_period: None,
        },
    });
    r.handle_frame(Timestamp::ZERO, conn, &encode_to_client(V, &init).unwrap());
    let commands = (0..actors)
        .map(|i| CommandWrapper {
            checkpoint: ActorCheckpoint {
                actor_id: actor_id(i).into(),
                generation: 0,
                index: 0,
            },
            inner: Command::StartActor(CommandStartActor {
                config: ActorConfig {
                    name: "bench".into(),
                    key: None,
                    create_ts: 0,
                    input: None,
                },
                hibernating_requests: vec![],
            }),
        })
        .collect();
    r.handle_frame(
        Timestamp::ZERO,
        conn,
        &encode_to_client(V, &ToClient::Commands(commands)).unwrap(),
    );
    drain(&mut r);
    for i in 0..actors {
        r.actor_started(Timestamp::ZERO, &ActorRef::new(actor_id(i), 0), Ok(()))
            .unwrap();
    }
    drain(&mut r);
    (r, conn)
}

fn actor_id(i: usize) -> String {
    format!("actor{i:025}")
}

fn drain(r: &mut Runner) {
    while r.poll_transmit().is_some() {}
    while r.poll_event().is_some() {}
}

fn key() -> RequestKey {
    RequestKey::new(GatewayId([1, 2, 3, 4]), RequestId([5, 6, 7, 8]))
}

fn tunnel_frame(index: u16, kind: ToClientTunnelMessageKind) -> Vec<u8> {
    let msg = ToClient::TunnelMessage(ToClientTunnelMessage {
        message_id: MessageId {
            gateway_id: key().gateway_id,
            request_id: key().request_id,
            message_index: index,
        },
        message_kind: kind,
    });
    encode_to_client(V, &msg).unwrap()
}

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
    for actors in [10, 10_000] {
        let (mut r, conn) = runner_with(actors);
        let frame = http_request(&actor_id(actors / 2));
        let body = Bytes::from_static(br#"{"status":"ok"}"#);
        let mut now = 1;
        group.bench_with_input(BenchmarkId::from_parameter(actors), &actors, |b, _| {
            b.iter(|| {
                now += 1;
                let t = Timestamp::from_millis(now);
                r.handle_frame(t, conn, black_box(&frame));
                let Some(Event::HttpRequest(req)) = r.poll_event() else {
                    unreachable!()
                };
                let response = HttpResponse::new(200)
                    .header("content-type", "application/json")
                    .body(body.clone());
                r.respond(t, req.key, response).unwrap();
                black_box(r.poll_transmit());
            })
        });
    }
    group.finish();
}

fn bench_websocket(c: &mut Criterion) {
    let mut group = c.benchmark_group("tunnel_websocket_message");
    group.throughput(Throughput::Elements(2));
    for actors in [10, 10_000] {
        let (mut r, conn) = runner_with(actors);
        let open = ToClientTunnelMessageKind::WebSocketOpen(ToClientWebSocketOpen {
            actor_id: actor_id(actors / 2).into(),
            path: "/ws".into(),
            headers: BareMap::new(),
        });
        r.handle_frame(Timestamp::ZERO, conn, &tunnel_frame(0, open));
        drain(&mut r);
        r.websocket_accept(Timestamp::ZERO, key(), false).unwrap();
        drain(&mut r);
        // A plain (not hibernatable) socket does not check indices, so one
        // pre-encoded frame can be fed again and again.
        let payload = Bytes::from_static(b"hello, this is a typical small websocket message");
        let message = WebSocketMessage {
            data: payload,
            binary: false,
        };
        let frame = tunnel_frame(1, ToClientTunnelMessageKind::WebSocketMessage(message));
        let mut now = 1;
        group.bench_with_input(BenchmarkId::from_parameter(actors), &actors, |b, _| {
            b.iter(|| {
                now += 1;
                let t = Timestamp::from_millis(now);
                r.handle_frame(t, conn, black_box(&frame));
                let Some(Event::WebSocketMessage { key, data, .. }) = r.poll_event() else {
                    unreachable!()
                };
                r.websocket_send(t, key, data, false).unwrap();
                black_box(r.poll_transmit());
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_http, bench_websocket);
criterion_main!(benches);
