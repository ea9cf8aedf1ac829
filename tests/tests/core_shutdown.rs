//! Scenarios of shutdown (graceful drain, its cap, immediate, escalation)
//! and a full lifecycle on every protocol version.

use std::time::Duration;

use runner_core::protocol::{KvGetRequest, KvRequestData, ProtocolVersion, ToServer};
use runner_core::{Event, KvResponse, ShutdownMode, ShutdownReason, StopReason, Transmit};
use tests::sim::{ActorPhase, Callback, Sim, SimConfig};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn close_transmits(sim: &Sim, since: usize) -> Vec<(runner_core::Timestamp, Transmit)> {
    sim.transmits_since(since)
        .into_iter()
        .filter(|(_, t)| matches!(t, Transmit::Close { .. }))
        .collect()
}

fn is_shutdown_close(t: &Transmit) -> bool {
    matches!(t, Transmit::Close { code: 1000, reason, .. } if reason == "pegboard.runner_shutdown")
}

#[test]
fn graceful_shutdown_drains_through_the_engine_then_closes() {
    let mut config = SimConfig::new(300);
    config.user.on_stop = Callback::After(secs(2));
    let mut sim = Sim::connected(config);
    let a = sim.start_actor("a");
    let b = sim.start_actor("b");
    let since = sim.mark();
    let began = sim.now();
    sim.shutdown(ShutdownMode::Graceful);
    assert!(matches!(sim.sent_since(since)[0].2, ToServer::Stopping));
    sim.run_until(|s| s.runner().is_shut_down(), secs(60));
    let closes = close_transmits(&sim, since);
    assert_eq!(closes.len(), 1);
    assert!(is_shutdown_close(&closes[0].1));
    assert!(closes[0].0 >= began + secs(2), "after the actors stopped");
    assert!(closes[0].0 < began + secs(3));
    let events = sim.events_since(since);
    let stops: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::ActorStop { actor, reason } => Some((actor.clone(), reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        stops,
        [
            (a.clone(), StopReason::Engine),
            (b.clone(), StopReason::Engine)
        ]
    );
    assert_eq!(
        events.last(),
        Some(&Event::ShutdownComplete {
            reason: ShutdownReason::Requested
        })
    );
    // Both Stopped events reached the engine, the last one included: it is
    // produced by the same input that ends the drain and must go out before
    // the close.
    for actor in [&a, &b] {
        assert!(matches!(
            sim.engine().actor(&actor.actor_id).unwrap().phase,
            ActorPhase::Stopped(_)
        ));
    }
    assert_eq!(sim.connects().len(), 1, "no reconnect during or after");
}

#[test]
fn kv_keeps_working_while_draining() {
    let mut config = SimConfig::new(301);
    config.user.on_stop = Callback::After(secs(5));
    let mut sim = Sim::connected(config);
    let a = sim.start_actor("a");
    sim.shutdown(ShutdownMode::Graceful);
    sim.run_for(secs(1));
    let id = sim
        .kv(&a, KvRequestData::Get(KvGetRequest { keys: vec![] }))
        .unwrap();
    sim.run_for(secs(1));
    assert_eq!(sim.kv_result(id), Some(&Ok(KvResponse::Values(vec![]))));
    sim.run_until(|s| s.runner().is_shut_down(), secs(60));
}

#[test]
fn the_drain_is_capped_at_120_s() {
    let mut config = SimConfig::new(302);
    config.user.on_stop = Callback::Hang;
    config.runner.timeouts.actor_stop = secs(600);
    let mut sim = Sim::connected(config);
    sim.start_actor("a");
    let since = sim.mark();
    let began = sim.now();
    sim.shutdown(ShutdownMode::Graceful);
    sim.run_for(secs(200));
    let closes = close_transmits(&sim, since);
    assert_eq!(closes.len(), 1);
    assert_eq!(closes[0].0, began + secs(120));
    assert!(is_shutdown_close(&closes[0].1));
    // The stop callback still hangs: completion waits for the stop timeout.
    assert!(!sim.runner().is_shut_down());
    sim.run_until(|s| s.runner().is_shut_down(), secs(600));
    // The engine's stop came within a second of the shutdown call.
    assert!(sim.now() >= began + secs(600) && sim.now() < began + secs(601));
}

#[test]
fn immediate_shutdown_closes_at_once_and_stops_everything() {
    let mut sim = Sim::connected(SimConfig::new(303));
    let a = sim.start_actor("a");
    let since = sim.mark();
    sim.shutdown(ShutdownMode::Immediate);
    let transmits = sim.transmits_since(since);
    assert_eq!(transmits.len(), 1, "no Stopping, only the close");
    assert!(is_shutdown_close(&transmits[0].1));
    let events = sim.events_since(since);
    assert!(events.contains(&Event::ActorStop {
        actor: a,
        reason: StopReason::Shutdown
    }));
    assert_eq!(
        events.last(),
        Some(&Event::ShutdownComplete {
            reason: ShutdownReason::Requested
        })
    );
    // Done: no timer is left to wake the driver.
    assert_eq!(sim.runner().poll_timeout(), None);
    sim.run_for(secs(120));
    assert_eq!(sim.connects().len(), 1);
}

#[test]
fn a_second_graceful_shutdown_escalates_to_immediate() {
    let mut config = SimConfig::new(304);
    config.user.on_stop = Callback::Hang;
    let mut sim = Sim::connected(config);
    sim.start_actor("a");
    sim.shutdown(ShutdownMode::Graceful);
    sim.run_for(secs(1));
    assert!(!sim.runner().is_shut_down());
    let since = sim.mark();
    sim.shutdown(ShutdownMode::Graceful);
    assert!(sim.runner().is_shut_down(), "the second call does not wait");
    assert!(
        close_transmits(&sim, since)
            .iter()
            .any(|(_, t)| is_shutdown_close(t))
    );
}

#[test]
fn graceful_shutdown_while_disconnected_stops_locally() {
    let mut sim = Sim::connected(SimConfig::new(305));
    let a = sim.start_actor("a");
    sim.link().reachable = false;
    sim.drop_connection();
    sim.run_for(secs(1));
    let since = sim.mark();
    sim.shutdown(ShutdownMode::Graceful);
    sim.run_until(|s| s.runner().is_shut_down(), secs(10));
    assert!(sim.events_since(since).contains(&Event::ActorStop {
        actor: a,
        reason: StopReason::Shutdown
    }));
}

#[test]
fn the_engine_closing_during_the_drain_ends_it() {
    let mut config = SimConfig::new(306);
    config.user.on_stop = Callback::After(secs(30));
    let mut sim = Sim::connected(config);
    sim.start_actor("a");
    sim.shutdown(ShutdownMode::Graceful);
    sim.run_for(secs(1));
    sim.engine_do(|e, now| e.going_away(now));
    sim.run_until(|s| s.runner().is_shut_down(), secs(60));
    assert!(sim.runner().is_shut_down());
    assert_eq!(sim.connects().len(), 1, "no reconnect while shutting down");
}

#[test]
fn a_full_lifecycle_works_on_every_version() {
    for version in ProtocolVersion::ALL {
        let mut sim = Sim::connected(SimConfig::new(307).version(version));
        let connected = sim.events().into_iter().find_map(|e| match e {
            Event::Connected { metadata, .. } => Some(metadata),
            _ => None,
        });
        let metadata = connected.unwrap();
        let v6 = version >= ProtocolVersion::V6;
        assert_eq!(metadata.actor_stop_threshold.is_some(), v6, "{version}");
        let a = sim.start_actor("a");
        sim.set_alarm(&a, Some(5)).unwrap();
        sim.sleep_actor(&a).unwrap();
        sim.run_until_engine_phase(&a.actor_id, &ActorPhase::Sleeping);
        sim.engine_do(|e, now| e.wake_actor(now, &a.actor_id));
        sim.run_until_engine_phase(&a.actor_id, &ActorPhase::Running);
        sim.drop_connection();
        sim.run_until_connected();
        sim.shutdown(ShutdownMode::Graceful);
        assert!(
            sim.run_until(|s| s.runner().is_shut_down(), secs(60)),
            "{version}"
        );
        assert_eq!(sim.engine().log().undecodable, 0, "{version}");
    }
}

/// A newer generation queued behind a stopping one when shutdown reaches
/// its final phase (disconnected for good) is reported as never started:
/// started, nothing could stop it and the shutdown would never complete.
#[test]
fn a_generation_queued_when_shutdown_is_final_is_never_started() {
    use runner_core::protocol::{Command, ToClient};
    use runner_core::{Timestamp, TransportClose, testing};

    let t = Timestamp::ZERO;
    let (mut runner, conn) = testing::connected(testing::config()).unwrap();
    let old = testing::started_actor(&mut runner, conn, "A").unwrap();
    // The engine starts generation 1 while generation 0 runs: 0 is stopped,
    // 1 waits for it.
    let ToClient::Commands(mut commands) = testing::start_command("A", vec![]) else {
        unreachable!()
    };
    commands[0].checkpoint.generation = 1;
    assert!(matches!(commands[0].inner, Command::StartActor(_)));
    testing::feed(&mut runner, conn, &ToClient::Commands(commands)).unwrap();
    runner.shutdown(t, ShutdownMode::Graceful);
    // The connection goes: shutdown is in its final phase.
    runner.handle_closed(t, conn, TransportClose::error("connection reset"));
    testing::drain(&mut runner);
    runner.actor_stopped(t, &old).unwrap();
    let events: Vec<Event> = std::iter::from_fn(|| runner.poll_event()).collect();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::ActorStart { actor, .. } if actor.generation == 1)),
        "{events:?}"
    );
    assert!(runner.is_shut_down(), "{events:?}");
    assert_eq!(runner.actor_count(), 0);
}
