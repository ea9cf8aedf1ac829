//! Events handled per second by the core alone (no socket), with 10, 10 000
//! and 100 000 live actors. The per-event cost must not grow with the number
//! of actors (no O(actors) scan per event, acknowledgement or command).
//!
//! * `alarm_and_ack`: a user call that records an event (set alarm), its
//!   frame, and the engine's `ToClientAckEvents` for it.
//! * `stop_and_start`: the engine stops one actor among N and starts its next
//!   generation: stop command, `ActorStop`, `actor_stopped`, `Stopped` event,
//!   start command, `ActorStart`, `actor_started`, acks.
//!
//! Run with `cargo bench -p runner-core --bench core_events`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use runner_core::protocol::*;
use runner_core::{ActorRef, Config, ConnId, Event, Runner, Timestamp, Transmit};

const V: ProtocolVersion = ProtocolVersion::V7;
const SIZES: [usize; 3] = [10, 10_000, 100_000];

/// A connected runner hosting `n` running actors, and what the bench needs
/// to address them.
struct Setup {
    runner: Runner,
    conn: ConnId,
    now: Timestamp,
    actors: Vec<ActorRef>,
    /// Next event index per actor (of its current generation).
    next_event: Vec<i64>,
}

fn drain(runner: &mut Runner) -> usize {
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

fn frame(runner: &mut Runner, now: Timestamp, conn: ConnId, msg: &ToClient) {
    let bytes = encode_to_client(V, msg).expect("valid message");
    runner.handle_frame(now, conn, &bytes);
}

fn start_command(actor: &ActorRef) -> CommandWrapper {
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

fn setup(n: usize) -> Setup {
    let mut config = Config::new("http://127.0.0.1:6420", "bench", "key");
    config.protocol_version = V;
    let now = Timestamp::ZERO;
    let mut runner = Runner::new(config, now).expect("valid config");
    runner.start(now);
    let conn = match runner.poll_transmit() {
        Some(Transmit::Connect { conn, .. }) => conn,
        other => panic!("expected a connect, got {other:?}"),
    };
    runner.handle_connected(now, conn);
    let init = ToClient::Init(ToClientInit {
        runner_id: "R".into(),
        metadata: ProtocolMetadata {
            runner_lost_threshold: 15_000,
            actor_stop_threshold: Some(1_800_000),
            serverless_drain_grace_period: None,
        },
    });
    frame(&mut runner, now, conn, &init);
    drain(&mut runner);
    let actors: Vec<ActorRef> = (0..n)
        .map(|i| ActorRef::new(format!("actor-{i:06}"), 0))
        .collect();
    for chunk in actors.chunks(1000) {
        let commands = chunk.iter().map(start_command).collect();
        frame(&mut runner, now, conn, &ToClient::Commands(commands));
        drain(&mut runner);
        for actor in chunk {
            runner.actor_started(now, actor, Ok(())).expect("starting");
        }
        drain(&mut runner);
    }
    assert_eq!(runner.actor_count(), n);
    Setup {
        runner,
        conn,
        now,
        next_event: vec![1; n],
        actors,
    }
}

impl Setup {
    /// Moves the clock a little and runs whatever timer came due.
    fn tick(&mut self) {
        self.now += Duration::from_micros(1);
        if self.runner.poll_timeout().is_some_and(|t| t <= self.now) {
            self.runner.handle_timeout(self.now);
        }
    }

    fn alarm_and_ack(&mut self, i: usize) {
        self.tick();
        let actor = &self.actors[i];
        self.runner
            .set_alarm(self.now, actor, Some(1))
            .expect("live actor");
        drain(&mut self.runner);
        let ack = ToClient::AckEvents(ToClientAckEvents {
            last_event_checkpoints: vec![ActorCheckpoint {
                actor_id: actor.actor_id.clone(),
                generation: actor.generation,
                index: self.next_event[i],
            }],
        });
        self.next_event[i] += 1;
        frame(&mut self.runner, self.now, self.conn, &ack);
        drain(&mut self.runner);
    }

    fn stop_and_start(&mut self, i: usize) {
        self.tick();
        let actor = self.actors[i].clone();
        let stop = CommandWrapper {
            checkpoint: ActorCheckpoint {
                actor_id: actor.actor_id.clone(),
                generation: actor.generation,
                index: 1,
            },
            inner: Command::StopActor,
        };
        frame(
            &mut self.runner,
            self.now,
            self.conn,
            &ToClient::Commands(vec![stop]),
        );
        let mut stopping = false;
        while let Some(e) = self.runner.poll_event() {
            stopping |= matches!(e, Event::ActorStop { .. });
        }
        assert!(stopping, "the stop reached the user");
        drain(&mut self.runner);
        self.runner
            .actor_stopped(self.now, &actor)
            .expect("stopping");
        drain(&mut self.runner);
        let next = ActorRef::new(actor.actor_id.clone(), actor.generation + 1);
        let start = ToClient::Commands(vec![start_command(&next)]);
        frame(&mut self.runner, self.now, self.conn, &start);
        drain(&mut self.runner);
        self.runner
            .actor_started(self.now, &next, Ok(()))
            .expect("starting");
        drain(&mut self.runner);
        self.actors[i] = next;
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("core_events");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for n in SIZES {
        let mut s = setup(n);
        let mut i = 0;
        group.bench_function(BenchmarkId::new("alarm_and_ack", n), |b| {
            b.iter(|| {
                // Round robin over every actor: no cache-friendly hot spot.
                i = (i + 7919) % n;
                s.alarm_and_ack(i);
            })
        });
        let mut s = setup(n);
        group.bench_function(BenchmarkId::new("stop_and_start", n), |b| {
            b.iter(|| {
                i = (i + 7919) % n;
                s.stop_and_start(i);
            })
        });
        assert_eq!(s.runner.actor_count(), n);
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
