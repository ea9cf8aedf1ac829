//! Recorded runs of the simulation for the flight recorder's property
//! tests (`recording_props`, `snapshot_props`): a random setup (seed,
//! protocol version, user callbacks, tunnel policy, redaction) and random
//! steps (the core proptests' operations: engine frames, garbage, faults,
//! timers, user calls, tunnel traffic), run while recording.

use std::time::Duration;

use proptest::prelude::*;
use runner_core::ShutdownMode;
use runner_core::protocol::ProtocolVersion;
use runner_core::recording::RecordOptions;

use crate::sim::ops::tunnel::{TunnelOp, apply_tunnel, tunnel_op};
use crate::sim::ops::{NAMES, Op, apply, callback, callbacks_by_name, op};
use crate::sim::{Callback, HttpPolicy, Sim, SimConfig, TunnelPolicy, WsPolicy};

/// One step of a run.
#[derive(Debug, Clone)]
pub enum Step {
    /// A core operation.
    Core(Op),
    /// Tunnel traffic.
    Tunnel(TunnelOp),
}

/// How a run is set up.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The simulation's seed.
    pub seed: u64,
    /// The protocol version spoken.
    pub version: ProtocolVersion,
    /// The user's start callbacks, per actor name.
    pub starts: Vec<Callback>,
    /// The user's stop callbacks, per actor name.
    pub stops: Vec<Callback>,
    /// How the user answers tunnel traffic.
    pub policy: TunnelPolicy,
    /// Whether the recording is redacted.
    pub redact: bool,
}

/// A random setup.
pub fn setup() -> impl Strategy<Value = Setup> {
    let http = prop_oneof![
        Just(HttpPolicy::Manual),
        (0u64..3000).prop_map(|ms| HttpPolicy::Respond(Duration::from_millis(ms))),
    ];
    let ws = prop_oneof![
        Just(WsPolicy::Manual),
        any::<bool>().prop_map(|hibernate| WsPolicy::Accept { hibernate }),
    ];
    let policy =
        (http, ws, any::<bool>(), any::<bool>()).prop_map(|(http, ws, echo, ack)| TunnelPolicy {
            http,
            ws,
            echo,
            ack,
            restore: true,
        });
    (
        any::<u64>(),
        prop::sample::select(ProtocolVersion::ALL.to_vec()),
        prop::collection::vec(callback(), NAMES.len()),
        prop::collection::vec(callback(), NAMES.len()),
        policy,
        prop::bool::weighted(0.3),
    )
        .prop_map(|(seed, version, starts, stops, policy, redact)| Setup {
            seed,
            version,
            starts,
            stops,
            policy,
            redact,
        })
}

/// Random steps.
pub fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        2 => op().prop_map(Step::Core),
        1 => tunnel_op().prop_map(Step::Tunnel),
    ];
    prop::collection::vec(step, 1..60)
}

/// Runs the steps with the runner recording, shuts down, and returns the
/// recording.
pub fn record(setup: &Setup, steps: &[Step]) -> Vec<u8> {
    let mut config = SimConfig::new(setup.seed).version(setup.version);
    config.user.tunnel = setup.policy.clone();
    callbacks_by_name(&mut config.user, &setup.starts, &setup.stops);
    let mut sim = Sim::new(config);
    sim.record(RecordOptions::new().redact(setup.redact))
        .expect("recording starts before the first input");
    sim.start();
    sim.run_for(Duration::from_secs(1));
    for step in steps {
        match step {
            Step::Core(op) => apply(&mut sim, op),
            Step::Tunnel(op) => apply_tunnel(&mut sim, op),
        }
    }
    sim.shutdown(ShutdownMode::Graceful);
    sim.run_until(|s| s.runner().is_shut_down(), Duration::from_secs(600));
    if !sim.runner().is_shut_down() {
        sim.shutdown(ShutdownMode::Immediate);
    }
    let mut recording = Vec::new();
    sim.take_recording(&mut recording);
    recording
}
