//! Scenarios of the connection: URL, handshake, init, resend, pings, acks,
//! fatal closes, backoff, runner-lost, liveness and handshake timeouts.

use std::time::Duration;

use runner_core::protocol::{KvGetRequest, KvRequestData, ToClient, ToServer};
use runner_core::{Event, KvError, ShutdownReason, StopReason, Timestamp, Transmit};
use tests::sim::rng::SimRng;
use tests::sim::{Sim, SimConfig};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn url_and_subprotocols_carry_namespace_key_and_token() {
    let mut config = SimConfig::new(1);
    config.runner.token = Some("dev".into());
    config.runner.namespace = "ns-1".into();
    config.engine.token = Some("dev".into());
    config.engine.namespace = "ns-1".into();
    let sim = Sim::connected(config);
    let (_, url, subprotocols) = &sim.engine().log().connects[0];
    assert_eq!(
        url,
        "ws://engine.sim:6420/runners/connect?protocol_version=5&namespace=ns-1&runner_key=sim-key"
    );
    assert_eq!(subprotocols, &["rivet", "rivet_token.dev"]);
}

#[test]
fn init_carries_name_version_slots_prepopulated_names_and_metadata() {
    let mut config = SimConfig::new(2);
    config.runner.version = 7;
    config.runner.total_slots = 33;
    config.runner.metadata = Some(r#"{"region":"eu"}"#.into());
    config
        .runner
        .prepopulate_actor_names
        .insert("counter".into(), r#"{"icon":"c"}"#.into());
    let sim = Sim::connected(config);
    let (_, init) = &sim.engine().log().inits[0];
    assert_eq!(init.name, "sim-runner");
    assert_eq!((init.version, init.total_slots), (7, 33));
    assert_eq!(init.metadata.as_deref(), Some(r#"{"region":"eu"}"#));
    let names = init
        .prepopulate_actor_names
        .as_ref()
        .expect("always present");
    assert_eq!(names.get("counter").unwrap().metadata, r#"{"icon":"c"}"#);
    assert_eq!(names.len(), 1);
}

#[test]
fn init_without_names_or_metadata_sends_an_empty_map_and_no_metadata() {
    let sim = Sim::connected(SimConfig::new(3));
    let (_, init) = &sim.engine().log().inits[0];
    assert!(init.prepopulate_actor_names.as_ref().unwrap().is_empty());
    assert_eq!(init.metadata, None);
}

#[test]
fn first_frame_is_init_and_init_reports_connected_with_the_metadata() {
    let sim = Sim::connected(SimConfig::new(4));
    assert!(matches!(sim.sent()[0].2, ToServer::Init(_)));
    let connected: Vec<_> = sim
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Connected {
                runner_id,
                metadata,
            } => Some((runner_id, metadata)),
            _ => None,
        })
        .collect();
    assert_eq!(connected.len(), 1);
    assert_eq!(&*connected[0].0, "runner-1");
    assert_eq!(connected[0].1.runner_lost_threshold, 15_000);
    assert_eq!(sim.runner().runner_id().map(|id| &**id), Some("runner-1"));
    assert!(sim.runner().is_connected());
}

#[test]
fn a_changed_runner_id_stops_every_actor() {
    let mut sim = Sim::connected(SimConfig::new(5));
    let a = sim.start_actor("a");
    let b = sim.start_actor("b");
    sim.engine_do(|e, _| e.expire_runner_id());
    let since = sim.mark();
    sim.drop_connection();
    sim.run_until_connected();
    sim.run_for(secs(1));
    let stops: Vec<_> = sim
        .events_since(since)
        .into_iter()
        .filter_map(|e| match e {
            Event::ActorStop { actor, reason } => Some((actor, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        stops,
        [
            (a.clone(), StopReason::RunnerIdChanged),
            (b.clone(), StopReason::RunnerIdChanged)
        ]
    );
    assert_eq!(sim.runner().runner_id().map(|id| &**id), Some("runner-2"));
    assert_eq!(sim.runner().actor_count(), 0);
    // The old generations belong to the old runner id: nothing of theirs is sent.
    assert!(sim.events_sent_since(since).is_empty());
}

#[test]
fn after_a_reconnect_kv_requests_go_out_before_events() {
    let mut sim = Sim::connected(SimConfig::new(6));
    let actor = sim.start_actor("a");
    sim.link().reachable = false;
    sim.drop_connection();
    sim.run_for(Duration::from_millis(10));
    let since = sim.mark();
    sim.sleep_actor(&actor).unwrap();
    let get = KvRequestData::Get(KvGetRequest { keys: vec![] });
    sim.kv(&actor, get).unwrap();
    sim.link().reachable = true;
    sim.run_until_connected();
    let kinds: Vec<&str> = sim
        .sent_since(since)
        .iter()
        .map(|(_, _, m)| match m {
            ToServer::Init(_) => "init",
            ToServer::KvRequest(_) => "kv",
            ToServer::Events(_) => "events",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["init", "kv", "events"]);
}

#[test]
fn every_ping_is_answered_with_its_ts() {
    let mut sim = Sim::connected(SimConfig::new(7));
    sim.run_for(secs(60));
    let log = sim.engine().log();
    let pings: Vec<i64> = log
        .sent
        .iter()
        .filter_map(|(_, _, m)| match m {
            ToClient::Ping(p) => Some(p.ts),
            _ => None,
        })
        .collect();
    let pongs: Vec<i64> = log
        .received
        .iter()
        .filter_map(|(_, _, m)| match m {
            ToServer::Pong(p) => Some(p.ts),
            _ => None,
        })
        .collect();
    assert!(pings.len() >= 19, "a ping every ~3 s: {}", pings.len());
    // The last pong may still be in flight.
    assert_eq!(pongs, pings[..pongs.len()]);
    assert!(pings.len() - pongs.len() <= 1);
    assert_eq!(log.bad_pongs, 0);
    assert!(
        sim.runner().is_connected(),
        "pings keep the connection alive"
    );
}

#[test]
fn commands_are_acknowledged_in_the_same_input() {
    let mut sim = Sim::connected(SimConfig::new(8));
    let since = sim.mark();
    let actor = sim.start_actor("a");
    let sent = sim.sent_since(since);
    let ack = sent
        .iter()
        .find_map(|(at, _, m)| match m {
            ToServer::AckCommands(a) => Some((*at, a.clone())),
            _ => None,
        })
        .expect("an ack");
    let start_seen = sim
        .transcript()
        .events()
        .into_iter()
        .find(|(_, e)| matches!(e, Event::ActorStart { .. }))
        .unwrap()
        .0;
    assert_eq!(ack.0, start_seen, "acked when the command arrived");
    assert_eq!(ack.1.last_command_checkpoints[0].actor_id, actor.actor_id);
    assert_eq!(ack.1.last_command_checkpoints[0].index, 0);
    sim.run_for(secs(1));
    assert!(sim.engine().commands().is_empty(), "the engine deleted it");
}

#[test]
fn a_replayed_start_of_a_running_actor_is_not_started_again() {
    let mut config = SimConfig::new(9);
    config.link.min_delay = Duration::from_millis(500);
    config.link.max_delay = Duration::from_millis(500);
    let mut sim = Sim::connected(config);
    let id = sim.create_actor("a");
    let since = sim.mark();
    sim.run_until_event(since, |e| matches!(e, Event::ActorStart { .. }));
    // The ack is on the wire: lose it.
    sim.drop_connection();
    sim.run_until_connected();
    sim.run_for(secs(2));
    let replayed = sim.engine().log().sent.iter().any(|(_, _, m)| {
        matches!(m, ToClient::Commands(c) if c.len() == 1 && c[0].checkpoint.actor_id == id)
    });
    assert!(replayed, "the engine replays the unacknowledged start");
    let starts = sim
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::ActorStart { .. }))
        .count();
    assert_eq!(starts, 1);
    assert!(
        sim.engine().commands().is_empty(),
        "the replay was acknowledged"
    );
    let actor = sim.engine().actor(&id).unwrap();
    assert_eq!(actor.events.len(), 1, "Running once, never re-indexed");
}

#[test]
fn a_replayed_start_and_stop_of_a_stopped_generation_are_not_run_again() {
    let mut config = SimConfig::new(10);
    config.link.min_delay = Duration::from_millis(500);
    config.link.max_delay = Duration::from_millis(500);
    let mut sim = Sim::connected(config);
    let id = sim.create_actor("a");
    sim.engine_do(|e, now| e.stop_actor(now, &id));
    let since = sim.mark();
    sim.run_until_event(since, |e| matches!(e, Event::ActorStop { .. }));
    sim.run_for(Duration::from_millis(1));
    assert_eq!(sim.runner().actor_count(), 0, "stopped and removed");
    // Acks and the Stopped event are on the wire: lose them.
    sim.drop_connection();
    let since = sim.mark();
    sim.run_until_connected();
    sim.run_for(secs(2));
    let replay: Vec<usize> = sim
        .engine()
        .log()
        .sent
        .iter()
        .filter_map(|(_, _, m)| match m {
            ToClient::Commands(c) => Some(c.len()),
            _ => None,
        })
        .collect();
    assert_eq!(replay.last(), Some(&2), "start and stop replayed together");
    let rerun = sim
        .events_since(since)
        .into_iter()
        .filter(|e| matches!(e, Event::ActorStart { .. } | Event::ActorStop { .. }))
        .count();
    assert_eq!(rerun, 0);
    assert!(sim.engine().commands().is_empty());
    assert!(matches!(
        sim.engine().actor(&id).unwrap().phase,
        tests::sim::ActorPhase::Stopped(_)
    ));
}

#[test]
fn eviction_shuts_down_at_once_without_reconnecting() {
    let mut sim = Sim::connected(SimConfig::new(11));
    let actor = sim.start_actor("a");
    let since = sim.mark();
    sim.engine_do(|e, now| e.evict(now));
    sim.run_for(secs(120));
    let events = sim.events_since(since);
    assert!(
        matches!(&events[0], Event::Disconnected { code: Some(1000), reason } if reason.starts_with("ws.eviction#"))
    );
    assert!(events.contains(&Event::ActorStop {
        actor,
        reason: StopReason::Shutdown
    }));
    assert_eq!(
        events.last(),
        Some(&Event::ShutdownComplete {
            reason: ShutdownReason::Evicted
        })
    );
    assert_eq!(sim.connects().len(), 1, "no reconnect");
    assert!(sim.runner().is_shut_down());
}

#[test]
fn namespace_not_found_is_fatal() {
    let mut config = SimConfig::new(12);
    config.runner.namespace = "missing".into();
    let mut sim = Sim::new(config);
    sim.start();
    sim.run_for(secs(120));
    let last = sim.events().pop();
    assert!(
        matches!(&last, Some(Event::ShutdownComplete { reason: ShutdownReason::Fatal(r) }) if r.starts_with("namespace.not_found#")),
        "{last:?}"
    );
    assert_eq!(sim.connects().len(), 1);
}

#[test]
fn a_refused_token_is_fatal() {
    let mut config = SimConfig::new(13);
    config.runner.token = Some("wrong".into());
    config.engine.token = Some("right".into());
    let mut sim = Sim::new(config);
    sim.start();
    sim.run_for(secs(120));
    let last = sim.events().pop();
    assert!(
        matches!(&last, Some(Event::ShutdownComplete { reason: ShutdownReason::Fatal(r) }) if r.contains("403")),
        "{last:?}"
    );
    assert_eq!(sim.connects().len(), 1);
}

#[test]
fn a_missing_token_is_refused_too() {
    let mut config = SimConfig::new(14);
    config.engine.token = Some("right".into());
    let mut sim = Sim::new(config);
    sim.start();
    sim.run_for(secs(60));
    assert!(sim.runner().is_shut_down());
}

/// The core's jitter draws, replicated: its generator is seeded with
/// `rng_seed`, draws `skip` times for its hash tables, then once per backoff.
fn expected_backoffs(rng_seed: u64, skip: usize, n: u32) -> Vec<Duration> {
    let mut rng = SimRng::new(rng_seed);
    for _ in 0..skip {
        rng.next_u64();
    }
    (0..n)
        .map(|attempt| {
            let base = Duration::from_millis((1000u64 << attempt.min(15)).min(30_000));
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            base.mul_f64(1.0 + u * 0.25)
        })
        .collect()
}

#[test]
fn backoff_doubles_with_seeded_jitter_up_to_the_cap() {
    let config = SimConfig::new(15);
    let rng_seed = config.runner.rng_seed;
    let handshake = config.link.handshake_delay;
    let mut sim = Sim::new(config);
    sim.link().reachable = false;
    sim.start();
    sim.run_for(secs(400));
    let connects = sim.connects();
    assert!(connects.len() >= 10);
    // Each refused attempt fails one handshake delay after its connect.
    let delays: Vec<Duration> = connects
        .windows(2)
        .map(|w| w[1].0.saturating_duration_since(w[0].0) - handshake)
        .collect();
    // How many draws the core spends on hash seeds is its own business; the
    // delays must be exactly the formula applied to consecutive draws.
    let exact = (0..8).any(|skip| delays[..9] == expected_backoffs(rng_seed, skip, 9)[..]);
    assert!(exact, "{delays:?} is not the seeded jitter sequence");
    for (n, d) in delays.iter().enumerate() {
        let base = (1000u64 << n.min(15)).min(30_000);
        let lo = Duration::from_millis(base);
        let hi = Duration::from_millis(base * 5 / 4);
        assert!(
            *d >= lo && *d < hi,
            "attempt {n}: {d:?} not in [{lo:?}, {hi:?})"
        );
    }
    assert!(
        delays[5..].iter().all(|d| *d >= secs(30)),
        "capped at 30 s before jitter"
    );
}

#[test]
fn backoff_resets_after_a_successful_init() {
    let config = SimConfig::new(16);
    let handshake = config.link.handshake_delay;
    let mut sim = Sim::connected(config);
    for _ in 0..3 {
        sim.drop_connection();
        sim.run_until_connected();
    }
    let connects = sim.connects();
    // Every reconnect is a first attempt again: 1–1.25 s after the drop.
    for w in connects.windows(2).skip(1) {
        let gap = w[1].0.saturating_duration_since(w[0].0);
        assert!(gap > secs(1) && gap < Duration::from_millis(1250) + secs(1) + handshake * 4);
    }
}

#[test]
fn runner_lost_fires_at_the_threshold_when_the_engine_stays_unreachable() {
    let mut config = SimConfig::new(17);
    config.engine.answer_kv = false;
    let mut sim = Sim::connected(config);
    let actor = sim.start_actor("a");
    sim.run_for(secs(1));
    let kv = sim
        .kv(&actor, KvRequestData::Get(KvGetRequest { keys: vec![] }))
        .unwrap();
    sim.link().reachable = false;
    sim.drop_connection();
    let lost_at = sim.now();
    let since = sim.mark();
    let (at, _) = sim
        .run_until_event(since, |e| matches!(e, Event::ActorStop { .. }))
        .expect("actors stopped");
    assert_eq!(at, lost_at + secs(15));
    let events = sim.events_since(since);
    assert!(events.contains(&Event::ActorStop {
        actor,
        reason: StopReason::RunnerLost
    }));
    assert!(events.contains(&Event::KvResult {
        id: kv,
        result: Err(KvError::RunnerLost)
    }));
    assert!(!sim.runner().is_shut_down(), "it keeps trying to reconnect");
}

#[test]
fn runner_lost_does_not_fire_when_the_engine_comes_back_in_time() {
    let mut sim = Sim::connected(SimConfig::new(18));
    let actor = sim.start_actor("a");
    sim.link().reachable = false;
    sim.drop_connection();
    // Back after 11 s. Plain backoff would try next at 15–18.75 s, too late;
    // while the runner-lost timer runs the delay is capped at a quarter of
    // the threshold, so an attempt comes before 15 s.
    sim.run_for(secs(11));
    sim.link().reachable = true;
    let since = sim.mark();
    sim.run_until_connected();
    sim.run_for(secs(60));
    assert!(
        !sim.events_since(since)
            .iter()
            .any(|e| matches!(e, Event::ActorStop { .. })),
        "{actor:?} must survive"
    );
    assert_eq!(sim.runner().actor_count(), 1);
}

#[test]
fn runner_lost_is_cleared_by_init_not_by_a_transport_that_opens() {
    let mut config = SimConfig::new(19);
    config.engine.init_timeout = secs(3600);
    let mut sim = Sim::connected(config);
    let actor = sim.start_actor("a");
    // The engine accepts connections but never answers their init.
    sim.engine_config().answer_init = false;
    sim.drop_connection();
    let dropped_at = sim.now();
    let since = sim.mark();
    let (at, stop) = sim
        .run_until_event(since, |e| matches!(e, Event::ActorStop { .. }))
        .expect("lost");
    assert!(sim.connects().len() >= 3, "connections did open meanwhile");
    assert_eq!(at, dropped_at + secs(15));
    assert_eq!(
        stop,
        Event::ActorStop {
            actor,
            reason: StopReason::RunnerLost
        }
    );
}

#[test]
fn a_silent_connection_is_closed_after_15_s_and_reestablished() {
    let mut sim = Sim::connected(SimConfig::new(20));
    sim.run_for(secs(4));
    // The engine stops pinging (its next ping is already scheduled).
    sim.engine_config().ping_interval = secs(3600);
    let since = sim.mark();
    sim.run_until(
        |s| {
            s.transmits_since(since)
                .iter()
                .any(|(_, t)| matches!(t, Transmit::Close { .. }))
        },
        secs(60),
    );
    let last_frame_in = sim
        .records_since(since)
        .filter(|(_, e)| {
            matches!(
                e,
                tests::sim::transcript::Entry::Delivered {
                    to: tests::sim::Side::Runner,
                    ..
                }
            )
        })
        .map(|(at, _)| at)
        .max()
        .unwrap();
    let (closed_at, close) = sim
        .transmits_since(since)
        .into_iter()
        .find(|(_, t)| matches!(t, Transmit::Close { .. }))
        .unwrap();
    assert!(
        matches!(&close, Transmit::Close { code: 1011, reason, .. } if reason == "runner.liveness_timeout")
    );
    assert_eq!(closed_at, last_frame_in + secs(15));
    sim.engine_config().ping_interval = secs(3);
    sim.run_until_connected();
}

#[test]
fn a_transport_that_never_opens_is_abandoned_after_the_connect_timeout() {
    let mut config = SimConfig::new(21);
    config.link.handshake_delay = secs(20);
    let mut sim = Sim::new(config);
    sim.start();
    sim.run_for(secs(16));
    let transmits = sim.transmits_since(0);
    assert!(matches!(
        &transmits[1],
        (at, Transmit::Close { code: 1011, reason, .. })
            if *at == Timestamp::from_millis(15_000) && reason == "runner.handshake_timeout"
    ));
}

#[test]
fn an_init_that_never_comes_is_abandoned_after_the_init_timeout() {
    let mut config = SimConfig::new(22);
    config.engine.answer_init = false;
    config.engine.init_timeout = secs(3600);
    let mut sim = Sim::new(config);
    sim.start();
    sim.run_for(secs(11));
    let transmits = sim.transmits_since(0);
    let opened = sim
        .records_since(0)
        .find(|(_, e)| {
            matches!(
                e,
                tests::sim::transcript::Entry::Delivered {
                    packet: tests::sim::Packet::Open,
                    ..
                }
            )
        })
        .unwrap()
        .0;
    let (at, close) = transmits
        .iter()
        .find(|(_, t)| matches!(t, Transmit::Close { .. }))
        .expect("closed");
    assert_eq!(*at, opened + secs(10));
    assert!(
        matches!(close, Transmit::Close { reason, .. } if reason == "runner.handshake_timeout")
    );
}

#[test]
fn undecodable_and_text_frames_close_with_1011_and_reconnect() {
    for text in [false, true] {
        let mut sim = Sim::connected(SimConfig::new(23));
        let since = sim.mark();
        if text {
            sim.engine_do(|e, now| e.send_text(now, "hello"));
        } else {
            sim.engine_do(|e, now| e.send_raw(now, bytes::Bytes::from_static(&[0xff, 0x01])));
        }
        sim.run_until_connected();
        let close = sim
            .transmits_since(since)
            .into_iter()
            .find(|(_, t)| matches!(t, Transmit::Close { .. }))
            .unwrap()
            .1;
        assert!(
            matches!(&close, Transmit::Close { code: 1011, reason, .. } if reason == "runner.invalid_frame"),
            "{close:?}"
        );
        assert_eq!(sim.connects().len(), 2);
    }
}

#[test]
fn engine_restart_keeps_the_runner_id_and_actors() {
    let mut sim = Sim::connected(SimConfig::new(24));
    let actor = sim.start_actor("a");
    sim.restart_engine();
    let since = sim.mark();
    sim.run_until_connected();
    sim.run_for(secs(5));
    assert_eq!(sim.runner().runner_id().map(|id| &**id), Some("runner-1"));
    assert!(
        !sim.events_since(since)
            .iter()
            .any(|e| matches!(e, Event::ActorStop { .. }))
    );
    sim.sleep_actor(&actor).unwrap();
    sim.run_for(secs(2));
    assert_eq!(
        sim.engine().actor(&actor.actor_id).unwrap().phase,
        tests::sim::ActorPhase::Sleeping
    );
}
