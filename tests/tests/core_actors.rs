//! Scenarios of actors: start, stop, failures, timeouts, generations, event
//! indices and acknowledgements, retention of removed actors' events,
//! intents, alarms and crashes.

use std::time::Duration;

use runner_core::protocol::{
    self, ActorCheckpoint, ActorIntent, ActorState, ActorStateStopped, EventActorIntent,
    EventActorStateUpdate, StopCode, ToClient, ToClientAckEvents,
};
use runner_core::{ActorRef, CallError, Event, StopReason, Transmit};
use tests::sim::scenario::events_of;
use tests::sim::transcript::Entry;
use tests::sim::{ActorPhase, Callback, Sim, SimConfig};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn running() -> protocol::Event {
    protocol::Event::StateUpdate(EventActorStateUpdate {
        state: ActorState::Running,
    })
}

fn stopped(code: StopCode, message: Option<&str>) -> protocol::Event {
    protocol::Event::StateUpdate(EventActorStateUpdate {
        state: ActorState::Stopped(ActorStateStopped {
            code,
            message: message.map(str::to_owned),
        }),
    })
}

fn intent(intent: ActorIntent) -> protocol::Event {
    protocol::Event::Intent(EventActorIntent { intent })
}

/// The engine's record of the events it accepted for `actor`.
fn engine_events(sim: &Sim, actor: &ActorRef) -> Vec<(i64, protocol::Event)> {
    let a = sim.engine().actor(&actor.actor_id).expect("known actor");
    events_of(&a.events, actor)
}

fn stops_of(sim: &Sim, since: usize) -> Vec<(ActorRef, StopReason)> {
    sim.events_since(since)
        .into_iter()
        .filter_map(|e| match e {
            Event::ActorStop { actor, reason } => Some((actor, reason)),
            _ => None,
        })
        .collect()
}

#[test]
fn start_reports_running_first_then_asks_the_user() {
    let mut sim = Sim::connected(SimConfig::new(100));
    let since = sim.mark();
    let actor = sim.start_actor("a");
    let records: Vec<_> = sim.records_since(since).collect();
    let running_frame = records
        .iter()
        .position(|(_, e)| {
            matches!(
                e,
                Entry::Transmit {
                    transmit: Transmit::Frame(_),
                    ..
                }
            )
        })
        .unwrap();
    let start_event = records
        .iter()
        .position(|(_, e)| matches!(e, Entry::Event(Event::ActorStart { .. })))
        .unwrap();
    assert!(running_frame < start_event);
    assert_eq!(engine_events(&sim, &actor), [(0, running())]);
}

#[test]
fn a_failed_start_stops_the_actor_with_error_and_the_message() {
    let mut config = SimConfig::new(101);
    config.user.on_start = Callback::Fail(Duration::from_millis(50), "boom".into());
    let mut sim = Sim::connected(config);
    let since = sim.mark();
    let id = sim.create_actor("a");
    sim.run_for(secs(2));
    let actor = ActorRef::new(id.clone(), 0);
    assert_eq!(
        stops_of(&sim, since),
        [(actor.clone(), StopReason::StartFailed("boom".into()))]
    );
    assert_eq!(
        engine_events(&sim, &actor),
        [
            (0, running()),
            (1, stopped(StopCode::Error, Some("start failed: boom")))
        ]
    );
    assert!(matches!(
        sim.engine().actor(&id).unwrap().phase,
        ActorPhase::Stopped(ActorStateStopped {
            code: StopCode::Error,
            ..
        })
    ));
}

#[test]
fn a_start_that_never_completes_times_out() {
    let mut config = SimConfig::new(102);
    config.user.on_start = Callback::Hang;
    let mut sim = Sim::connected(config);
    let since = sim.mark();
    let id = sim.create_actor("a");
    let (started_at, _) = sim
        .run_until_event(since, |e| matches!(e, Event::ActorStart { .. }))
        .unwrap();
    let (stop_at, stop) = sim
        .run_until_event(since, |e| matches!(e, Event::ActorStop { .. }))
        .unwrap();
    assert_eq!(stop_at, started_at + secs(60));
    let actor = ActorRef::new(id, 0);
    assert_eq!(
        stop,
        Event::ActorStop {
            actor: actor.clone(),
            reason: StopReason::StartTimedOut
        }
    );
    sim.run_for(secs(1));
    assert_eq!(
        engine_events(&sim, &actor)[1],
        (1, stopped(StopCode::Error, Some("start timed out")))
    );
}

#[test]
fn a_stop_that_never_completes_is_reported_after_the_stop_timeout() {
    let mut config = SimConfig::new(103);
    config.user.on_stop = Callback::Hang;
    let mut sim = Sim::connected(config);
    let actor = sim.start_actor("a");
    let since = sim.mark();
    sim.engine_do(|e, now| e.stop_actor(now, &actor.actor_id));
    let (stop_at, _) = sim
        .run_until_event(since, |e| matches!(e, Event::ActorStop { .. }))
        .unwrap();
    sim.run_until(|s| s.runner().actor_count() == 0, secs(120));
    assert_eq!(sim.now(), stop_at + secs(60));
    sim.run_for(secs(1));
    assert_eq!(
        engine_events(&sim, &actor).last(),
        Some(&(1, stopped(StopCode::Ok, None)))
    );
}

#[test]
fn a_stop_during_start_waits_for_the_start() {
    let mut config = SimConfig::new(104);
    config.user.on_start = Callback::After(secs(5));
    let mut sim = Sim::connected(config);
    let since = sim.mark();
    let id = sim.create_actor("a");
    sim.run_for(secs(1));
    sim.engine_do(|e, now| e.stop_actor(now, &id));
    sim.run_for(secs(2));
    assert!(stops_of(&sim, since).is_empty(), "start still running");
    let (at, _) = sim
        .run_until_event(since, |e| matches!(e, Event::ActorStop { .. }))
        .unwrap();
    let started_call = sim
        .records_since(since)
        .find(|(_, e)| matches!(e, Entry::Call(c) if c.starts_with("actor_started")))
        .unwrap()
        .0;
    assert_eq!(at, started_call, "the stop follows the start at once");
    assert_eq!(
        stops_of(&sim, since),
        [(ActorRef::new(id, 0), StopReason::Engine)]
    );
}

#[test]
fn a_second_stop_command_does_not_stop_twice() {
    let mut config = SimConfig::new(105);
    config.user.on_stop = Callback::After(secs(3));
    let mut sim = Sim::connected(config);
    let actor = sim.start_actor("a");
    let since = sim.mark();
    sim.sleep_actor(&actor).unwrap();
    sim.run_for(secs(1));
    // Engine-side stop too (e.g. destroy): a second stop command, index 2.
    sim.engine_do(|e, now| {
        e.stop_actor(now, &actor.actor_id);
    });
    sim.run_for(secs(5));
    let stop_commands = sim
        .engine()
        .log()
        .sent
        .iter()
        .filter(|(at, _, m)| {
            *at >= sim.transcript().records()[since].at
                && matches!(m, ToClient::Commands(c) if c.iter().any(|c| matches!(c.inner, runner_core::protocol::Command::StopActor)))
        })
        .count();
    assert_eq!(stop_commands, 2);
    assert_eq!(stops_of(&sim, since), [(actor.clone(), StopReason::Engine)]);
    assert!(sim.engine().commands().is_empty(), "both acknowledged");
    assert_eq!(
        sim.engine().actor(&actor.actor_id).unwrap().phase,
        ActorPhase::Sleeping
    );
}

#[test]
fn calls_are_checked_against_the_generation() {
    let mut sim = Sim::connected(SimConfig::new(106));
    let gen0 = sim.start_actor("a");
    sim.sleep_actor(&gen0).unwrap();
    sim.run_until_engine_phase(&gen0.actor_id, &ActorPhase::Sleeping);
    sim.engine_do(|e, now| e.wake_actor(now, &gen0.actor_id));
    sim.run_until(|s| s.runner().actor_count() == 1, secs(10));
    sim.run_for(secs(1));
    let gen1 = ActorRef::new(gen0.actor_id.clone(), 1);
    let not_found = Err(CallError::ActorNotFound(gen0.clone()));
    assert_eq!(sim.sleep_actor(&gen0), not_found);
    assert_eq!(sim.stop_intent(&gen0), not_found);
    assert_eq!(sim.set_alarm(&gen0, Some(1)), not_found);
    assert_eq!(sim.crash_actor(&gen0, "x"), not_found);
    assert_eq!(sim.actor_stopped(&gen0), not_found);
    assert_eq!(sim.actor_started(&gen0, Ok(())), not_found);
    let get = runner_core::protocol::KvRequestData::Drop;
    assert_eq!(
        sim.kv(&gen0, get),
        Err(CallError::ActorNotFound(gen0.clone()))
    );
    let future = ActorRef::new(gen0.actor_id.clone(), 2);
    assert!(sim.set_alarm(&future, None).is_err());
    assert_eq!(sim.set_alarm(&gen1, Some(5)), Ok(()));
    assert!(matches!(
        sim.actor_started(&gen1, Ok(())),
        Err(CallError::WrongState { .. })
    ));
}

#[test]
fn event_indices_restart_at_zero_per_generation() {
    let mut sim = Sim::connected(SimConfig::new(107));
    let gen0 = sim.start_actor("a");
    sim.set_alarm(&gen0, Some(1000)).unwrap();
    sim.sleep_actor(&gen0).unwrap();
    sim.run_until_engine_phase(&gen0.actor_id, &ActorPhase::Sleeping);
    sim.engine_do(|e, now| e.wake_actor(now, &gen0.actor_id));
    sim.run_for(secs(2));
    let gen1 = ActorRef::new(gen0.actor_id.clone(), 1);
    sim.sleep_actor(&gen1).unwrap();
    sim.run_for(secs(2));
    let alarm = protocol::Event::SetAlarm(runner_core::protocol::EventActorSetAlarm {
        alarm_ts: Some(1000),
    });
    assert_eq!(
        engine_events(&sim, &gen0),
        [
            (0, running()),
            (1, alarm),
            (2, intent(ActorIntent::Sleep)),
            (3, stopped(StopCode::Ok, None))
        ]
    );
    assert_eq!(
        engine_events(&sim, &gen1),
        [
            (0, running()),
            (1, intent(ActorIntent::Sleep)),
            (2, stopped(StopCode::Ok, None))
        ]
    );
    assert_eq!(sim.engine().log().ignored_events, 0);
}

#[test]
fn engine_acks_prune_the_log_so_acked_events_are_not_resent() {
    let mut config = SimConfig::new(108);
    config.engine.event_ack_batch = 2;
    let mut sim = Sim::connected(config);
    let actor = sim.start_actor("a");
    for ts in 0..4 {
        sim.set_alarm(&actor, Some(ts)).unwrap();
    }
    sim.run_for(secs(1));
    // Running (0) and alarms 1..=4, one frame each: the engine acks once
    // more than 2 arrived since its last ack, i.e. at index 2.
    let acked = sim.engine().actor(&actor.actor_id).unwrap().last_ack_idx;
    assert_eq!(acked, 2);
    let since = sim.mark();
    sim.drop_connection();
    sim.run_until_connected();
    let resent: Vec<i64> = sim
        .events_sent_since(since)
        .iter()
        .map(|e| e.checkpoint.index)
        .collect();
    assert_eq!(resent, [3, 4]);
}

#[test]
fn an_ack_for_another_generation_prunes_nothing() {
    let mut sim = Sim::connected(SimConfig::new(109));
    let gen0 = sim.start_actor("a");
    sim.sleep_actor(&gen0).unwrap();
    sim.run_until_engine_phase(&gen0.actor_id, &ActorPhase::Sleeping);
    sim.engine_do(|e, now| e.wake_actor(now, &gen0.actor_id));
    sim.run_for(secs(2));
    let gen1 = ActorRef::new(gen0.actor_id.clone(), 1);
    sim.set_alarm(&gen1, Some(7)).unwrap();
    // A late ack for generation 0 with an index covering gen 1's events.
    let late = ToClient::AckEvents(ToClientAckEvents {
        last_event_checkpoints: vec![ActorCheckpoint {
            actor_id: gen0.actor_id.clone(),
            generation: 0,
            index: 100,
        }],
    });
    sim.engine_do(|e, now| e.send_to_runner(now, late));
    sim.run_for(secs(1));
    let since = sim.mark();
    sim.drop_connection();
    sim.run_until_connected();
    let resent = events_of(&sim.events_sent_since(since), &gen1);
    let indices: Vec<i64> = resent.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        indices,
        [0, 1],
        "generation 1 keeps its unacknowledged events"
    );
}

#[test]
fn the_stopped_event_of_an_actor_removed_while_disconnected_is_resent() {
    let mut config = SimConfig::new(110);
    config.user.on_stop = Callback::After(secs(3));
    let mut sim = Sim::connected(config);
    let actor = sim.start_actor("a");
    sim.engine_do(|e, now| e.stop_actor(now, &actor.actor_id));
    let since = sim.mark();
    sim.run_until_event(since, |e| matches!(e, Event::ActorStop { .. }));
    sim.link().reachable = false;
    sim.drop_connection();
    sim.run_for(secs(5));
    assert_eq!(sim.runner().actor_count(), 0, "removed while disconnected");
    sim.link().reachable = true;
    sim.run_until_connected();
    sim.run_for(secs(1));
    assert_eq!(
        engine_events(&sim, &actor).last(),
        Some(&(1, stopped(StopCode::Ok, None)))
    );
    assert!(matches!(
        sim.engine().actor(&actor.actor_id).unwrap().phase,
        ActorPhase::Stopped(_)
    ));
}

#[test]
fn a_removed_actors_events_are_resent_until_a_connection_stays_up_for_the_retention() {
    let mut config = SimConfig::new(111);
    config.user.on_stop = Callback::Immediate;
    let mut sim = Sim::connected(config);
    let actor = sim.start_actor("a");
    sim.engine_do(|e, now| e.stop_actor(now, &actor.actor_id));
    sim.run_until(|s| s.runner().actor_count() == 0, secs(10));
    // The connection dies 1 s later: the engine may not have the Stopped.
    sim.run_for(secs(1));
    let since = sim.mark();
    sim.drop_connection();
    sim.run_until_connected();
    let resent = events_of(&sim.events_sent_since(since), &actor);
    assert_eq!(resent.len(), 2, "running and stopped, both unacknowledged");
    // This connection stays up past the retention (30 s): forgotten.
    sim.run_for(secs(31));
    let since = sim.mark();
    sim.drop_connection();
    sim.run_until_connected();
    assert!(events_of(&sim.events_sent_since(since), &actor).is_empty());
    assert_eq!(sim.runner().retired_generation_count(), 0);
}

#[test]
fn sleep_intent_leads_to_a_stop_and_a_sleeping_actor_that_can_wake() {
    let mut sim = Sim::connected(SimConfig::new(112));
    let actor = sim.start_actor("a");
    let since = sim.mark();
    sim.sleep_actor(&actor).unwrap();
    sim.run_for(secs(2));
    assert_eq!(stops_of(&sim, since), [(actor.clone(), StopReason::Engine)]);
    assert_eq!(
        sim.engine().actor(&actor.actor_id).unwrap().phase,
        ActorPhase::Sleeping
    );
    assert_eq!(
        engine_events(&sim, &actor)[1..],
        [
            (1, intent(ActorIntent::Sleep)),
            (2, stopped(StopCode::Ok, None))
        ]
    );
    sim.engine_do(|e, now| e.wake_actor(now, &actor.actor_id));
    sim.run_for(secs(2));
    let woken = ActorRef::new(actor.actor_id.clone(), 1);
    assert!(
        sim.events_since(since)
            .iter()
            .any(|e| matches!(e, Event::ActorStart { actor, .. } if *actor == woken))
    );
    assert_eq!(
        sim.engine().actor(&actor.actor_id).unwrap().phase,
        ActorPhase::Running
    );
}

/// Stop/start churn: each wake starts a newer generation, which makes the
/// older ones irrelevant to the engine (it starts a generation only when it
/// is done with the older ones). The runner keeps at most the newest stopped
/// generation per actor, not one per cycle for the whole retention, and a
/// reconnect resends nothing of the older ones.
#[test]
fn a_newer_generation_lets_the_runner_forget_the_older_stopped_ones() {
    let mut sim = Sim::connected(SimConfig::new(113));
    let first = sim.start_actor("a");
    let id = first.actor_id.clone();
    let mut actor = first;
    for cycle in 1..=20u32 {
        sim.sleep_actor(&actor).unwrap();
        let asleep = sim.run_until(
            |s| s.engine().actor(&id).unwrap().phase == ActorPhase::Sleeping,
            secs(10),
        );
        assert!(asleep, "cycle {cycle}: not asleep");
        assert_eq!(sim.runner().retired_generation_count(), 1, "cycle {cycle}");
        sim.engine_do(|e, now| e.wake_actor(now, &id));
        actor = ActorRef::new(id.clone(), cycle);
        let woken = sim.run_until(
            |s| {
                s.runner().actor_count() == 1
                    && s.engine().actor(&id).unwrap().phase == ActorPhase::Running
            },
            secs(10),
        );
        assert!(woken, "cycle {cycle}: not woken");
        // Well within the 30 s retention: only the newer generation forgot them.
        assert_eq!(sim.runner().retired_generation_count(), 0, "cycle {cycle}");
    }
    let since = sim.mark();
    sim.drop_connection();
    sim.run_until_connected();
    let resent = sim.events_sent_since(since);
    for generation in 0..20 {
        let old = ActorRef::new(id.clone(), generation);
        assert!(
            events_of(&resent, &old).is_empty(),
            "generation {generation} resent"
        );
    }
    assert!(
        !events_of(&resent, &actor).is_empty(),
        "the live generation is resent"
    );
}

#[test]
fn stop_intent_leads_to_a_clean_stop() {
    let mut sim = Sim::connected(SimConfig::new(113));
    let actor = sim.start_actor("a");
    sim.stop_intent(&actor).unwrap();
    sim.run_for(secs(2));
    assert_eq!(
        engine_events(&sim, &actor)[1..],
        [
            (1, intent(ActorIntent::Stop)),
            (2, stopped(StopCode::Ok, None))
        ]
    );
    assert_eq!(
        sim.engine().actor(&actor.actor_id).unwrap().phase,
        ActorPhase::Stopped(ActorStateStopped {
            code: StopCode::Ok,
            message: None
        })
    );
}

#[test]
fn alarms_are_set_and_cleared() {
    let mut sim = Sim::connected(SimConfig::new(114));
    let actor = sim.start_actor("a");
    sim.set_alarm(&actor, Some(1_700_000_000_000)).unwrap();
    sim.run_for(secs(1));
    assert_eq!(
        sim.engine().actor(&actor.actor_id).unwrap().alarm_ts,
        Some(1_700_000_000_000)
    );
    sim.set_alarm(&actor, None).unwrap();
    sim.run_for(secs(1));
    assert_eq!(sim.engine().actor(&actor.actor_id).unwrap().alarm_ts, None);
}

#[test]
fn a_crash_stops_the_actor_with_error() {
    let mut sim = Sim::connected(SimConfig::new(115));
    let actor = sim.start_actor("a");
    let since = sim.mark();
    sim.crash_actor(&actor, "segfault").unwrap();
    sim.run_for(secs(1));
    assert_eq!(
        stops_of(&sim, since),
        [(actor.clone(), StopReason::Crashed("segfault".into()))]
    );
    assert_eq!(
        engine_events(&sim, &actor).last(),
        Some(&(1, stopped(StopCode::Error, Some("segfault"))))
    );
}

#[test]
fn a_start_beyond_the_actor_limit_is_answered_with_an_error_stop() {
    let mut config = SimConfig::new(116);
    config.runner.limits.max_actors = 1;
    let mut sim = Sim::connected(config);
    sim.start_actor("a");
    let since = sim.mark();
    let id = sim.create_actor("b");
    sim.run_for(secs(1));
    assert!(
        !sim.events_since(since)
            .iter()
            .any(|e| matches!(e, Event::ActorStart { .. }))
    );
    let refused = ActorRef::new(id, 0);
    assert_eq!(
        engine_events(&sim, &refused),
        [(0, stopped(StopCode::Error, Some("runner is at capacity")))]
    );
}

#[test]
fn a_newer_generation_waits_for_the_live_one_which_then_reports_nothing() {
    let mut config = SimConfig::new(117);
    config.user.on_stop = Callback::After(secs(2));
    let mut sim = Sim::connected(config);
    let gen0 = sim.start_actor("a");
    sim.engine_do(|e, now| e.stop_actor(now, &gen0.actor_id));
    let since = sim.mark();
    sim.run_until_event(since, |e| matches!(e, Event::ActorStop { .. }));
    // While generation 0 stops, the engine starts generation 1 (as after it
    // gave up on 0): hand-made, since the simulated engine waits.
    let start = runner_core::protocol::CommandWrapper {
        checkpoint: ActorCheckpoint {
            actor_id: gen0.actor_id.clone(),
            generation: 1,
            index: 0,
        },
        inner: runner_core::protocol::Command::StartActor(
            runner_core::protocol::CommandStartActor {
                config: sim.engine().actor(&gen0.actor_id).unwrap().config.clone(),
                hibernating_requests: vec![],
            },
        ),
    };
    sim.engine_do(|e, now| e.send_to_runner(now, ToClient::Commands(vec![start])));
    sim.run_for(secs(1));
    let gen1 = ActorRef::new(gen0.actor_id.clone(), 1);
    let started = |sim: &Sim| {
        sim.events_since(since)
            .iter()
            .any(|e| matches!(e, Event::ActorStart { actor, .. } if *actor == gen1))
    };
    assert!(!started(&sim), "generation 1 waits for 0 to stop");
    sim.run_for(secs(2));
    assert!(started(&sim));
    let sent = sim.events_sent_since(since);
    assert!(
        events_of(&sent, &gen0).is_empty(),
        "superseded: no Stopped for 0"
    );
    assert_eq!(events_of(&sent, &gen1), [(0, running())]);
}
