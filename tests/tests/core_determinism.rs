//! Same seed and same inputs give byte-identical outputs: a long random run
//! (actors, KV, faults, restarts, mutated frames) is played twice and the
//! full transcripts — every frame's bytes, every event, every delivery — are
//! compared.

use std::time::Duration;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config as ProptestConfig, RngSeed, TestRunner};
use runner_core::protocol::ProtocolVersion;
use tests::sim::ops::{Op, op, run_then_shut_down};
use tests::sim::seed::seed_or_env;
use tests::sim::{Callback, Sim, SimConfig};

/// A fixed list of operations, drawn once from a fixed proptest seed.
fn operations(seed: u64, count: usize) -> Vec<Op> {
    let config = ProptestConfig {
        rng_seed: RngSeed::Fixed(seed),
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    // No shutdown in the middle: the run is meant to be long.
    let op = op().prop_filter("no shutdown", |op| !matches!(op, Op::Shutdown(_)));
    proptest::collection::vec(op, count)
        .new_tree(&mut runner)
        .expect("a value")
        .current()
}

fn play(seed: u64, version: ProtocolVersion, ops: &[Op]) -> String {
    // The seed is the point here: `SIM_SEED` must not override it.
    let mut config = SimConfig::exact(seed).version(version);
    config.engine.event_ack_batch = 2;
    config.link.max_delay = Duration::from_millis(800);
    config
        .user
        .start_by_name
        .insert("b".into(), Callback::After(Duration::from_millis(1500)));
    config
        .user
        .stop_by_name
        .insert("c".into(), Callback::After(Duration::from_millis(700)));
    let mut sim = Sim::new(config);
    run_then_shut_down(&mut sim, ops);
    sim.transcript().to_text()
}

#[test]
fn same_seed_same_inputs_same_transcript() {
    let seed = seed_or_env(2024);
    let ops = operations(seed, 400);
    for version in ProtocolVersion::ALL {
        let first = play(seed, version, &ops);
        let second = play(seed, version, &ops);
        assert!(
            first.lines().count() > 1000,
            "a long run: {}",
            first.lines().count()
        );
        assert!(first == second, "{version}: the transcripts differ");
    }
}

#[test]
fn another_seed_gives_another_transcript() {
    // Guards the test above against comparing something seed-independent.
    let ops = operations(7, 100);
    assert_ne!(
        play(7, ProtocolVersion::V5, &ops),
        play(8, ProtocolVersion::V5, &ops)
    );
}
