//! KV round trips per second through the core alone (no socket), with 10,
//! 10 000 and 100 000 live actors, and the heap allocations each costs
//! (`allocs/op` lines, from a counting global allocator): a user KV call
//! (get of one key, put of one key), its request frame, the engine's
//! response frame, and the result event.
//!
//!     cargo bench -p runner-core --bench core_kv

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use runner_core::protocol::*;
use runner_core::{Event, KvRequestId, Transmit};

#[path = "support/mod.rs"]
mod support;
use support::{SIZES, Setup, allocs_per_op, report_allocs};

const V: ProtocolVersion = ProtocolVersion::V5;

/// The request id on the wire of the request just sent, read straight from
/// the frame (tag, actor id, then the `u32`): decoding the whole request
/// would be engine work, not the runner's.
fn sent_request_id(s: &mut Setup) -> u32 {
    let Some(Transmit::Frame(frame)) = s.runner.poll_transmit() else {
        unreachable!("a KV request frame")
    };
    let (mut pos, mut len, mut shift) = (1, 0usize, 0);
    loop {
        let byte = frame[pos];
        pos += 1;
        len |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    pos += len;
    let id = u32::from_le_bytes(frame[pos..pos + 4].try_into().expect("4 bytes"));
    debug_assert!(matches!(
        decode_to_server(V, &frame),
        Ok(ToServer::KvRequest(r)) if r.request_id == id
    ));
    id
}

/// One round trip; `response` is the engine's answer, pre-encoded, whose
/// request id (bytes 1..5: the union tag, then the `u32`) is patched in.
fn round_trip(s: &mut Setup, i: usize, request: KvRequestData, response: &mut [u8]) {
    s.tick();
    let actor = s.actors[i].clone();
    let id: KvRequestId = s.runner.kv(s.now, &actor, request).expect("kv call");
    let wire_id = sent_request_id(s);
    response[1..5].copy_from_slice(&wire_id.to_le_bytes());
    s.runner.handle_frame(s.now, s.conn, response);
    match s.runner.poll_event() {
        Some(Event::KvResult { id: done, result }) => {
            assert_eq!(done, id);
            black_box(result).expect("kv ok");
        }
        other => unreachable!("expected the KV result, got {other:?}"),
    }
}

/// The engine's answer to request 0.
fn response_frame(data: KvResponseData) -> Vec<u8> {
    let frame = encode_to_client(
        V,
        &ToClient::KvResponse(ToClientKvResponse {
            request_id: 0,
            data,
        }),
    )
    .expect("valid response");
    assert_eq!(frame[1..5], [0, 0, 0, 0]);
    frame
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("core_kv");
    group.throughput(Throughput::Elements(1));
    let key = Bytes::from_static(b"kv/counter");
    let value = Bytes::from_static(b"a value of 24 bytes long");
    let mut get_answer = response_frame(KvResponseData::Get(KvGetResponse {
        keys: vec![key.clone()],
        values: vec![value.clone()],
        metadata: vec![KvMetadata {
            version: Bytes::from_static(b"\x01"),
            update_ts: 1,
        }],
    }));
    let mut put_answer = response_frame(KvResponseData::Put);
    for n in SIZES {
        let mut s = Setup::new(V, n);
        let mut i = 0;
        let mut get = || {
            i = (i + 7919) % n;
            let request = KvRequestData::Get(KvGetRequest {
                keys: vec![key.clone()],
            });
            round_trip(&mut s, i, request, &mut get_answer);
        };
        report_allocs(
            "core_kv/get",
            &n.to_string(),
            allocs_per_op(10_000, &mut get),
        );
        group.bench_function(BenchmarkId::new("get", n), |b| b.iter(&mut get));
        let mut put = || {
            i = (i + 7919) % n;
            let request = KvRequestData::Put(KvPutRequest {
                keys: vec![key.clone()],
                values: vec![value.clone()],
            });
            round_trip(&mut s, i, request, &mut put_answer);
        };
        report_allocs(
            "core_kv/put",
            &n.to_string(),
            allocs_per_op(10_000, &mut put),
        );
        group.bench_function(BenchmarkId::new("put", n), |b| b.iter(&mut put));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
