//! Shared by the core benchmarks (`#[path = "support/mod.rs"] mod support;`):
//! a connected runner with N running actors, draining, and allocation
//! counting through a counting global allocator.
//!
//! Allocation counts are printed next to criterion's timings as
//! `allocs/op`: allocations plus reallocations per operation, measured
//! over a separate run of the same operation after a warm-up.

#![allow(dead_code)]

use std::alloc::System;
use std::hint::black_box;
use std::time::Duration;

use runner_core::protocol::*;
use runner_core::{ActorRef, Config, ConnId, Runner, Timestamp, Transmit};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

pub static GLOBAL_REF: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Live actor counts every core benchmark runs at.
pub const SIZES: [usize; 3] = [10, 10_000, 100_000];

/// Heap allocations (plus reallocations) per call of `op`, over `iters`
/// calls after `iters / 10` unmeasured ones.
pub fn allocs_per_op(iters: u64, mut op: impl FnMut()) -> f64 {
    for _ in 0..iters / 10 {
        op();
    }
    let region = Region::new(GLOBAL);
    for _ in 0..iters {
        op();
    }
    let stats = region.change();
    (stats.allocations + stats.reallocations) as f64 / iters as f64
}

/// Live heap bytes per actor of a runner with `n` running actors (what the
/// core keeps; the driver and user code add their own).
pub fn heap_bytes_per_actor(version: ProtocolVersion, n: usize) -> f64 {
    let empty = Region::new(GLOBAL);
    let base = Setup::new(version, 0);
    let base_bytes = net(empty.change());
    drop(base);
    let region = Region::new(GLOBAL);
    let setup = Setup::new(version, n);
    let bytes = net(region.change());
    drop(setup);
    (bytes - base_bytes) / n as f64
}

/// Bytes still allocated. (`bytes_reallocated` is not added: stats_alloc
/// already counts a realloc's growth in `bytes_allocated` and its shrink in
/// `bytes_deallocated`; adding it counted every growth twice.)
pub fn net(stats: stats_alloc::Stats) -> f64 {
    stats.bytes_allocated as f64 - stats.bytes_deallocated as f64
}

/// Prints one `allocs/op` line in a fixed format (collected by the report).
pub fn report_allocs(group: &str, name: &str, per_op: f64) {
    println!("allocs/op {group}/{name}: {per_op:.2}");
}

/// An actor id of the benchmark's naming.
pub fn actor_id(i: usize) -> String {
    format!("actor-{i:024}")
}

/// Polls out every transmit and event; returns how many there were.
pub fn drain(runner: &mut Runner) -> usize {
    let mut n = 0;
    while let Some(t) = runner.poll_transmit() {
        let _ = black_box(t);
        n += 1;
    }
    while let Some(e) = runner.poll_event() {
        let _ = black_box(e);
        n += 1;
    }
    n
}

/// A start command for generation `actor.generation`, index 0.
pub fn start_command(actor: &ActorRef) -> CommandWrapper {
    CommandWrapper {
        checkpoint: ActorCheckpoint {
            actor_id: actor.actor_id.clone(),
            generation: actor.generation,
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
    }
}

/// A connected runner (protocol `version`) hosting `n` running actors.
pub struct Setup {
    pub runner: Runner,
    pub conn: ConnId,
    pub version: ProtocolVersion,
    pub now: Timestamp,
    pub actors: Vec<ActorRef>,
}

impl Setup {
    pub fn new(version: ProtocolVersion, n: usize) -> Setup {
        Setup::recording(version, n, None)
    }

    /// The same, recording with `options` from the start when given.
    pub fn recording(
        version: ProtocolVersion,
        n: usize,
        options: Option<runner_core::recording::RecordOptions>,
    ) -> Setup {
        let mut config = Config::new("http://127.0.0.1:6420", "bench", "key");
        config.protocol_version = version;
        config.limits.max_actors = config.limits.max_actors.max(n + 10);
        let now = Timestamp::ZERO;
        let mut runner = Runner::new(config, now).expect("valid config");
        if let Some(options) = options {
            runner
                .start_recording(options)
                .expect("before the first input");
        }
        runner.start(now);
        let conn = match runner.poll_transmit() {
            Some(Transmit::Connect { conn, .. }) => conn,
            other => panic!("expected a connect, got {other:?}"),
        };
        runner.handle_connected(now, conn);
        let mut setup = Setup {
            runner,
            conn,
            version,
            now,
            actors: Vec::new(),
        };
        setup.frame(&ToClient::Init(ToClientInit {
            runner_id: "R".into(),
            metadata: ProtocolMetadata {
                runner_lost_threshold: 15_000,
                actor_stop_threshold: (version > ProtocolVersion::V5).then_some(1_800_000),
                serverless_drain_grace_period: None,
            },
        }));
        drain(&mut setup.runner);
        let actors: Vec<ActorRef> = (0..n).map(|i| ActorRef::new(actor_id(i), 0)).collect();
        for chunk in actors.chunks(1000) {
            let commands = chunk.iter().map(start_command).collect();
            setup.frame(&ToClient::Commands(commands));
            drain(&mut setup.runner);
            for actor in chunk {
                setup
                    .runner
                    .actor_started(now, actor, Ok(()))
                    .expect("starting");
            }
            drain(&mut setup.runner);
        }
        assert_eq!(setup.runner.actor_count(), n);
        setup.actors = actors;
        setup
    }

    /// Feeds one engine message.
    pub fn frame(&mut self, msg: &ToClient) {
        let bytes = encode_to_client(self.version, msg).expect("valid message");
        self.runner.handle_frame(self.now, self.conn, &bytes);
    }

    /// Moves the clock a little and runs whatever timer came due.
    pub fn tick(&mut self) {
        self.now += Duration::from_micros(1);
        if self.runner.poll_timeout().is_some_and(|t| t <= self.now) {
            self.runner.handle_timeout(self.now);
        }
    }
}

/// A tunnel message frame from gateway `[1,2,3,4]`, request `request`.
pub fn tunnel_frame(
    version: ProtocolVersion,
    request: [u8; 4],
    index: u16,
    kind: ToClientTunnelMessageKind,
) -> Vec<u8> {
    let msg = ToClient::TunnelMessage(ToClientTunnelMessage {
        message_id: MessageId {
            gateway_id: GatewayId([1, 2, 3, 4]),
            request_id: RequestId(request),
            message_index: index,
        },
        message_kind: kind,
    });
    encode_to_client(version, &msg).expect("valid message")
}
