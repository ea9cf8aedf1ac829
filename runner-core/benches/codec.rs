//! Encode and decode throughput of the runner protocol codec, for typical small
//! tunnel messages and for 1 MiB bodies, with a plain copy of the same number
//! of bytes as the floor to compare against.
//!
//! Run with `cargo bench -p runner-core --bench codec`.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use runner_core::protocol::*;

const V: ProtocolVersion = ProtocolVersion::LATEST;
const MIB: usize = 1024 * 1024;

fn message_id() -> MessageId {
    MessageId {
        gateway_id: GatewayId([1, 2, 3, 4]),
        request_id: RequestId([5, 6, 7, 8]),
        message_index: 0,
    }
}

/// A GET as a browser sends it: eight headers, no body.
fn request_start(body: Option<Bytes>) -> ToClient {
    let headers: BareMap<String> = [
        ("host", "actor.example"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0",
        ),
        (
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("accept-encoding", "gzip, deflate, br"),
        ("accept-language", "en-US,en;q=0.5"),
        ("x-rivet-target", "actor"),
        ("x-request-id", "c0ffee00-1234-5678-9abc-def012345678"),
        ("cookie", "session=abc123; theme=dark"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    ToClient::TunnelMessage(ToClientTunnelMessage {
        message_id: message_id(),
        message_kind: ToClientTunnelMessageKind::RequestStart(ToClientRequestStart {
            actor_id: "01234567890123456789abcdefghij".into(),
            method: if body.is_some() { "POST" } else { "GET" }.into(),
            path: "/api/items?limit=10".into(),
            headers,
            body,
            stream: false,
        }),
    })
}

/// A 200 response with two headers and `body`.
fn response_start(body: Bytes) -> ToServer {
    let headers: BareMap<String> = [
        ("content-type", "application/json"),
        ("content-length", &body.len().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    ToServer::TunnelMessage(ToServerTunnelMessage {
        message_id: message_id(),
        message_kind: ToServerTunnelMessageKind::ResponseStart(ToServerResponseStart {
            status: 200,
            headers,
            body: Some(body),
            stream: false,
        }),
    })
}

fn body(len: usize) -> Bytes {
    (0..len)
        .map(|i| b"0123456789"[i % 10])
        .collect::<Vec<u8>>()
        .into()
}

fn bench_to_client(group: &mut BenchmarkGroup<'_, WallTime>, msg: &ToClient) {
    let bytes = encode_to_client(V, msg).unwrap();
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode", |b| b.iter(|| encode_to_client(V, black_box(msg))));
    group.bench_function("decode", |b| {
        b.iter(|| decode_to_client(V, black_box(&bytes)))
    });
}

fn bench_to_server(group: &mut BenchmarkGroup<'_, WallTime>, msg: &ToServer) {
    let bytes = encode_to_server(V, msg).unwrap();
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode", |b| b.iter(|| encode_to_server(V, black_box(msg))));
    group.bench_function("decode", |b| {
        b.iter(|| decode_to_server(V, black_box(&bytes)))
    });
}

fn small(c: &mut Criterion) {
    let mut group = c.benchmark_group("request_start_get_8_headers");
    bench_to_client(&mut group, &request_start(None));
    group.finish();

    let mut group = c.benchmark_group("response_start_200_body_100b");
    bench_to_server(&mut group, &response_start(body(100)));
    group.finish();
}

fn large(c: &mut Criterion) {
    let mut group = c.benchmark_group("request_start_body_1mib");
    group.sample_size(30);
    bench_to_client(&mut group, &request_start(Some(body(MIB))));
    group.finish();

    let mut group = c.benchmark_group("response_start_body_1mib");
    group.sample_size(30);
    bench_to_server(&mut group, &response_start(body(MIB)));
    group.finish();

    // The floor: what one copy of the body into a fresh allocation costs.
    let mut group = c.benchmark_group("memcpy_1mib");
    group.sample_size(30);
    group.throughput(Throughput::Bytes(MIB as u64));
    let src = body(MIB);
    group.bench_function("to_vec", |b| b.iter(|| black_box(&src[..]).to_vec()));
    group.finish();
}

fn config() -> Criterion {
    // Short runs: the machine is shared, and these numbers are stable enough.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = small, large
}
criterion_main!(benches);
