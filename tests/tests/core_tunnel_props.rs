//! Property tests of the tunnel: random interleavings of clients' requests,
//! body chunks, aborts, socket opens, messages and closes (both ways),
//! repeated opens, the user's answers at random times (responses, aborts,
//! accepts, refusals, sends, closes, acks, sleeps), actor creation, stops,
//! crashes, failed and hanging starts, wakes, dropped connections, outages,
//! engine restarts and runner-id changes.
//!
//! After every input the simulation checks the tunnel invariants
//! (`runner_core::fuzzing::invariants::tunnel`: no second end on the wire, consecutive
//! indices across the `u16` wrap, no event after an end, the user told
//! exactly once, nothing open in the runner that ended, bounds). At the end
//! of each run, once the user has answered everything it holds and every
//! actor has settled, nothing may be left: no open request in the runner, no
//! buffered message, and every instance ended — except sockets suspended in
//! hibernation and the (counted) runner messages dropped on a full buffer.
//! Then a graceful shutdown ends everything.
//!
//! `CORE_TUNNEL_PROPS_CASES` runs more cases than the default,
//! `CORE_TUNNEL_PROPS_SEED` explores other ones, `SIM_SEED` replays one
//! simulation seed.

use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, RngSeed, TestRunner};
use runner_core::ShutdownMode;
use runner_core::protocol::ProtocolVersion;
use tests::sim::ops::tunnel::{TunnelOp, apply_tunnel, tunnel_op};
use tests::sim::ops::{NAMES, callback, callbacks_by_name};
use tests::sim::{Callback, HttpPolicy, Sim, SimConfig, TunnelPolicy, WsPolicy};

fn rng_seed() -> RngSeed {
    let seed = std::env::var("CORE_TUNNEL_PROPS_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0x7e11);
    RngSeed::Fixed(seed)
}

fn cases() -> u32 {
    std::env::var("CORE_TUNNEL_PROPS_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100)
}

/// Everything random about one run besides its operations.
#[derive(Debug, Clone)]
struct Setup {
    seed: u64,
    version: ProtocolVersion,
    starts: Vec<Callback>,
    stops: Vec<Callback>,
    policy: TunnelPolicy,
    tight: bool,
    max_delay_ms: u64,
}

fn policy() -> impl Strategy<Value = TunnelPolicy> {
    let http = prop_oneof![
        Just(HttpPolicy::Manual),
        (0u64..3000).prop_map(|ms| HttpPolicy::Respond(Duration::from_millis(ms))),
    ];
    let ws = prop_oneof![
        2 => Just(WsPolicy::Manual),
        2 => any::<bool>().prop_map(|hibernate| WsPolicy::Accept { hibernate }),
        1 => Just(WsPolicy::Reject { code: 4000, reason: "no".into() }),
    ];
    (
        http,
        ws,
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.8),
    )
        .prop_map(|(http, ws, echo, ack, restore)| TunnelPolicy {
            http,
            ws,
            echo,
            ack,
            restore,
        })
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        any::<u64>(),
        prop::sample::select(ProtocolVersion::ALL.to_vec()),
        prop::collection::vec(callback(), NAMES.len()),
        prop::collection::vec(callback(), NAMES.len()),
        policy(),
        prop::bool::weighted(0.3),
        prop_oneof![Just(20u64), 1u64..500],
    )
        .prop_map(
            |(seed, version, starts, stops, policy, tight, max_delay_ms)| Setup {
                seed,
                version,
                starts,
                stops,
                policy,
                tight,
                max_delay_ms,
            },
        )
}

fn config_for(setup: &Setup) -> SimConfig {
    let mut config = SimConfig::exact(setup.seed).version(setup.version);
    config.link.max_delay = Duration::from_millis(setup.max_delay_ms);
    // A small payload limit makes oversize responses cheap to produce.
    let limits = &mut config.runner.limits;
    limits.max_tunnel_payload = 64;
    if setup.tight {
        limits.max_request_body = 50;
        limits.max_requests_per_actor = 3;
        limits.max_inbox_messages = 3;
        limits.max_inbox_bytes = 120;
        limits.max_buffered_messages = 4;
        limits.max_buffered_bytes = 150;
    }
    config.user.tunnel = setup.policy.clone();
    callbacks_by_name(&mut config.user, &setup.starts, &setup.stops);
    config
}

/// Stops new traffic, lets every start and stop finish (watchdogs end the
/// hanging ones), reconnects, and has the user answer everything it holds
/// until nothing is left.
fn settle(sim: &mut Sim) {
    sim.link().reachable = true;
    sim.engine_config().gateway.http_attempts = 1;
    let user = sim.user();
    user.on_start = Callback::Immediate;
    user.on_stop = Callback::Immediate;
    user.start_by_name.clear();
    user.stop_by_name.clear();
    sim.run_for(Duration::from_secs(150));
    if sim.runner().is_shut_down() {
        // An eviction (the runner declared lost while reconnecting) ended
        // it: everything was dropped with it.
        return;
    }
    if !sim.runner().is_connected() {
        sim.run_until_connected();
    }
    for _ in 0..30 {
        sim.answer_everything();
        sim.run_for(Duration::from_secs(2));
        let u = sim.tunnel_user();
        if u.requests.is_empty() && u.sockets.is_empty() {
            break;
        }
    }
}

/// Nothing left in flight: see the module documentation.
fn assert_nothing_left(sim: &Sim) {
    let runner = sim.runner();
    assert_eq!(
        runner.buffered_tunnel_messages(),
        0,
        "buffered messages left"
    );
    assert_eq!(runner.open_request_count(), 0, "open requests left");
    let unexplained = sim
        .invariants()
        .expect("invariants on")
        .tunnel
        .open_instances();
    assert!(
        unexplained.len() as u64 <= runner.dropped_tunnel_messages(),
        "instances that never ended: {unexplained:?} (dropped: {})",
        runner.dropped_tunnel_messages()
    );
}

fn run(setup: &Setup, ops: &[TunnelOp]) -> Sim {
    let mut sim = Sim::connected(config_for(setup));
    for name in &NAMES[..3] {
        sim.create_actor(name);
    }
    sim.run_for(Duration::from_secs(1));
    for op in ops {
        apply_tunnel(&mut sim, op);
    }
    settle(&mut sim);
    assert_nothing_left(&sim);
    if !sim.runner().is_shut_down() {
        sim.shutdown(ShutdownMode::Graceful);
    }
    let done = sim.run_until(|s| s.runner().is_shut_down(), Duration::from_secs(600));
    assert!(done, "shutdown did not complete");
    assert_eq!(sim.runner().open_request_count(), 0);
    assert_eq!(sim.runner().buffered_tunnel_messages(), 0);
    let open = sim.invariants().unwrap().tunnel.open_instances();
    assert!(open.is_empty(), "open after shutdown: {open:?}");
    sim
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        rng_seed: rng_seed(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_request_and_socket_ends_exactly_once(
        setup in setup(),
        ops in prop::collection::vec(tunnel_op(), 1..200),
    ) {
        run(&setup, &ops);
    }
}

/// The runs above must exercise the tunnel, not just pass.
#[test]
fn random_runs_carry_real_tunnel_traffic() {
    let mut runner = TestRunner::new(ProptestConfig {
        rng_seed: RngSeed::Fixed(11),
        ..ProptestConfig::default()
    });
    let mut totals = runner_core::fuzzing::invariants::tunnel::TunnelStats::default();
    for _ in 0..6 {
        let setup = setup().new_tree(&mut runner).unwrap().current();
        let ops = prop::collection::vec(tunnel_op(), 150)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let sim = run(&setup, &ops);
        let s = sim.invariants().unwrap().tunnel.stats();
        totals.http += s.http;
        totals.sockets += s.sockets;
        totals.resumed += s.resumed;
        totals.sent += s.sent;
        totals.gateway_ends += s.gateway_ends;
        totals.runner_ends += s.runner_ends;
    }
    assert!(
        totals.http >= 60 && totals.sockets >= 30 && totals.sent >= 150,
        "{totals:?}"
    );
    assert!(
        totals.gateway_ends > 0 && totals.runner_ends > 0,
        "{totals:?}"
    );
}

/// Same seed and same operations, tunnel traffic included: byte-identical
/// transcripts (and another seed gives another one).
#[test]
fn tunnel_runs_are_deterministic() {
    let mut runner = TestRunner::new(ProptestConfig {
        rng_seed: RngSeed::Fixed(2024),
        ..ProptestConfig::default()
    });
    let setup = Setup {
        seed: 2024,
        version: ProtocolVersion::V5,
        starts: vec![
            Callback::Immediate,
            Callback::After(Duration::from_millis(700)),
        ]
        .into_iter()
        .cycle()
        .take(NAMES.len())
        .collect(),
        stops: vec![Callback::Immediate; NAMES.len()],
        policy: TunnelPolicy {
            http: HttpPolicy::Respond(Duration::from_millis(10)),
            ws: WsPolicy::Accept { hibernate: true },
            echo: true,
            ack: true,
            restore: true,
        },
        tight: false,
        max_delay_ms: 300,
    };
    // No eviction: the run is meant to be long.
    let op = tunnel_op().prop_filter("no eviction", |op| {
        !matches!(op, TunnelOp::Core(tests::sim::ops::Op::DeclareLost))
    });
    let ops = prop::collection::vec(op, 300)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    let first = run(&setup, &ops).transcript().to_text();
    let second = run(&setup, &ops).transcript().to_text();
    assert!(first.lines().count() > 1000, "{}", first.lines().count());
    assert!(
        first.contains("WebSocketMessage"),
        "tunnel traffic in the transcript"
    );
    assert!(first == second, "the transcripts differ");
    let other = Setup {
        seed: 2025,
        ..setup
    };
    assert_ne!(run(&other, &ops).transcript().to_text(), first);
}
