//! Events handled per second by the core alone (no socket), with 10, 10 000
//! and 100 000 live actors, and the heap allocations each costs (`allocs/op`
//! lines, from a counting global allocator). The per-event cost must not
//! grow with the number of actors (no O(actors) scan per event,
//! acknowledgement or command).
//!
//! * `alarm_and_ack`: a user call that records an event (set alarm), its
//!   frame, and the engine's `ToClientAckEvents` for it.
//! * `stop_and_start`: the engine stops one actor among N and starts its next
//!   generation: stop command, `ActorStop`, `actor_stopped`, `Stopped` event,
//!   start command, `ActorStart`, `actor_started`, acks.
//!
//! Run with `cargo bench -p runner-core --bench core_events`.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use runner_core::protocol::*;
use runner_core::{ActorRef, Event};

#[path = "support/mod.rs"]
mod support;
use stats_alloc::Region;
use support::{SIZES, Setup, allocs_per_op, drain, report_allocs, start_command};

const V: ProtocolVersion = ProtocolVersion::V7;

/// The shared setup plus the next event index per actor.
struct Events {
    s: Setup,
    /// Next event index per actor (of its current generation).
    next_event: Vec<i64>,
}

impl Events {
    fn new(n: usize) -> Events {
        Events {
            s: Setup::new(V, n),
            next_event: vec![1; n],
        }
    }

    fn alarm_and_ack(&mut self, i: usize) {
        let s = &mut self.s;
        s.tick();
        let actor = &s.actors[i];
        s.runner
            .set_alarm(s.now, actor, Some(1))
            .expect("live actor");
        drain(&mut s.runner);
        let ack = ToClient::AckEvents(ToClientAckEvents {
            last_event_checkpoints: vec![ActorCheckpoint {
                actor_id: actor.actor_id.clone(),
                generation: actor.generation,
                index: self.next_event[i],
            }],
        });
        self.next_event[i] += 1;
        s.frame(&ack);
        drain(&mut s.runner);
    }

    fn stop_and_start(&mut self, i: usize) {
        self.stop(i);
        self.start_next(i);
    }

    /// The engine stops actor `i`; the user reports it stopped.
    fn stop(&mut self, i: usize) {
        let s = &mut self.s;
        s.tick();
        let actor = s.actors[i].clone();
        let stop = CommandWrapper {
            checkpoint: ActorCheckpoint {
                actor_id: actor.actor_id.clone(),
                generation: actor.generation,
                index: 1,
            },
            inner: Command::StopActor,
        };
        s.frame(&ToClient::Commands(vec![stop]));
        let mut stopping = false;
        while let Some(e) = s.runner.poll_event() {
            stopping |= matches!(e, Event::ActorStop { .. });
        }
        assert!(stopping, "the stop reached the user");
        drain(&mut s.runner);
        s.runner.actor_stopped(s.now, &actor).expect("stopping");
        drain(&mut s.runner);
    }

    /// The engine starts actor `i`'s next generation; the user reports it
    /// started.
    fn start_next(&mut self, i: usize) {
        let s = &mut self.s;
        let actor = &s.actors[i];
        let next = ActorRef::new(actor.actor_id.clone(), actor.generation + 1);
        s.frame(&ToClient::Commands(vec![start_command(&next)]));
        drain(&mut s.runner);
        s.runner
            .actor_started(s.now, &next, Ok(()))
            .expect("starting");
        drain(&mut s.runner);
        s.actors[i] = next;
    }

    /// The engine acknowledges every event of every actor's current and
    /// previous generation.
    fn ack_all(&mut self) {
        let s = &mut self.s;
        let checkpoints: Vec<ActorCheckpoint> = s
            .actors
            .iter()
            .flat_map(|actor| {
                let generations = actor.generation.saturating_sub(1)..=actor.generation;
                generations.map(|generation| ActorCheckpoint {
                    actor_id: actor.actor_id.clone(),
                    generation,
                    index: i64::from(u16::MAX),
                })
            })
            .collect();
        for chunk in checkpoints.chunks(1000) {
            s.frame(&ToClient::AckEvents(ToClientAckEvents {
                last_event_checkpoints: chunk.to_vec(),
            }));
            drain(&mut s.runner);
        }
    }
}

/// What stopped generations cost the runner, every event acknowledged:
/// heap growth per actor (1) stopped and not started again, so that its
/// generation is retired (kept until the engine surely saw it stop), and
/// (2) then started again, which makes the runner forget the older stopped
/// generation; with the retired generations kept after each.
fn heap_bytes_per_retired(n: usize) -> [(f64, usize); 2] {
    let mut e = Events::new(n);
    e.ack_all();
    let region = Region::new(support::GLOBAL_REF);
    let grown = || support::net(region.change()) / n as f64;
    for i in 0..n {
        e.stop(i);
    }
    e.ack_all();
    let stopped = (grown(), e.s.runner.retired_generation_count());
    for i in 0..n {
        e.start_next(i);
    }
    e.ack_all();
    let restarted = (grown(), e.s.runner.retired_generation_count());
    [stopped, restarted]
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("core_events");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for n in SIZES {
        println!(
            "heap/actor core_events/{n}: {:.0} B",
            support::heap_bytes_per_actor(V, n)
        );
        let [stopped, restarted] = heap_bytes_per_retired(n);
        println!(
            "heap/stopped actor core_events/{n}: {:.0} B ({} retired generations kept for {n} actors); started again: {:.0} B ({} kept)",
            stopped.0, stopped.1, restarted.0, restarted.1
        );
        let mut e = Events::new(n);
        let mut i = 0;
        // Round robin over every actor: no cache-friendly hot spot.
        let mut op = || {
            i = (i + 7919) % n;
            e.alarm_and_ack(i);
        };
        report_allocs(
            "core_events/alarm_and_ack",
            &n.to_string(),
            allocs_per_op(10_000, &mut op),
        );
        group.bench_function(BenchmarkId::new("alarm_and_ack", n), |b| b.iter(&mut op));
        let mut e = Events::new(n);
        let mut op = || {
            i = (i + 7919) % n;
            e.stop_and_start(i);
        };
        report_allocs(
            "core_events/stop_and_start",
            &n.to_string(),
            allocs_per_op(10_000, &mut op),
        );
        group.bench_function(BenchmarkId::new("stop_and_start", n), |b| b.iter(&mut op));
        assert_eq!(e.s.runner.actor_count(), n);
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
