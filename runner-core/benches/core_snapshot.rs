//! What a flight-recorder rotation costs: `Runner::snapshot` and
//! `Runner::from_snapshot` of a connected runner with 10, 1 000 and 10 000
//! running actors (each with its unacknowledged `Running` event, as the
//! engine acknowledges every 250). Prints the snapshot's size for each
//! (`snapshot bytes: …`); the host takes one snapshot per rotated segment,
//! never per input.
//!
//!     cargo bench -p runner-core --bench core_snapshot

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use runner_core::Runner;
use runner_core::protocol::ProtocolVersion;

#[path = "support/mod.rs"]
mod support;
use support::Setup;

fn bench_snapshot(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot");
    for actors in [10, 1_000, 10_000] {
        let s = Setup::new(ProtocolVersion::V5, actors);
        let snapshot = s.runner.snapshot();
        let bytes = snapshot.as_bytes().len();
        println!(
            "snapshot bytes: {actors} actors: {bytes} ({:.0} per actor)",
            bytes as f64 / actors as f64
        );
        group.throughput(Throughput::Elements(actors as u64));
        group.bench_with_input(BenchmarkId::new("take", actors), &s, |b, s| {
            b.iter(|| black_box(s.runner.snapshot()));
        });
        group.bench_with_input(BenchmarkId::new("restore", actors), &snapshot, |b, snap| {
            b.iter(|| black_box(Runner::from_snapshot(snap).unwrap()));
        });
    }
    group.finish();
}

criterion_group!(benches, bench_snapshot);
criterion_main!(benches);
