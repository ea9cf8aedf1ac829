//! Scenarios of hibernatable WebSockets (issue 4, spec §6.2, §6.5, §6.6,
//! §9.12, §9.17) against the simulated engine's gateway: indices for the
//! user to persist, acknowledgements, restore on the next start, replays,
//! index gaps and the gateway's ack timeout.

use std::time::Duration;

use bytes::Bytes;
use runner_core::protocol::{
    Command, ToClient, ToServerTunnelMessageKind, ToServerWebSocketMessageAck,
};
use runner_core::{ActorRef, CallError, Event, HibernatedSocket, RequestKey, SocketIndices};
use tests::sim::engine::gateway::text;
use tests::sim::{ActorPhase, Callback, ClientId, Sim, SimConfig, SocketState};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// A running actor with one hibernatable socket open.
fn hibernatable(config: SimConfig) -> (Sim, ActorRef, ClientId, RequestKey) {
    let mut sim = Sim::connected(config);
    let actor = sim.start_actor("a");
    let since = sim.mark();
    let client = sim.ws_connect(&actor.actor_id, "/hws");
    let key = sim.next_ws_open(since).key;
    sim.ws_accept(key, true).unwrap();
    sim.await_socket(client, |s| s.is_open());
    (sim, actor, client, key)
}

/// The actor goes to sleep; runs until the engine has it asleep.
fn sleep(sim: &mut Sim, actor: &ActorRef) {
    sim.sleep_actor(actor).unwrap();
    sim.run_until_engine_phase(&actor.actor_id, &ActorPhase::Sleeping);
}

fn indices(events: &[Event]) -> Vec<u16> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::WebSocketMessage { index, .. } => Some(*index),
            _ => None,
        })
        .collect()
}

fn acks(sim: &Sim, key: RequestKey) -> Vec<u16> {
    sim.tunnel_kinds_for(key)
        .into_iter()
        .filter_map(|k| match k {
            ToServerTunnelMessageKind::WebSocketMessageAck(ToServerWebSocketMessageAck {
                index,
            }) => Some(index),
            _ => None,
        })
        .collect()
}

fn closes(sim: &Sim, key: RequestKey) -> Vec<(Option<u16>, Option<String>)> {
    sim.tunnel_kinds_for(key)
        .into_iter()
        .filter_map(|k| match k {
            ToServerTunnelMessageKind::WebSocketClose(c) => Some((c.code, c.reason)),
            _ => None,
        })
        .collect()
}

/// Every start command the engine sent for `actor_id`, with its listing.
fn listed_in_starts(sim: &Sim, actor_id: &str) -> Vec<Vec<RequestKey>> {
    sim.engine()
        .log()
        .sent
        .iter()
        .filter_map(|(_, _, m)| match m {
            ToClient::Commands(cs) => Some(cs),
            _ => None,
        })
        .flatten()
        .filter(|c| &*c.checkpoint.actor_id == actor_id)
        .filter_map(|c| match &c.inner {
            Command::StartActor(s) => Some(
                s.hibernating_requests
                    .iter()
                    .map(|h| RequestKey::from(*h))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

#[test]
fn indices_are_surfaced_and_acknowledged_only_when_the_user_says() {
    let (mut sim, _, client, key) = hibernatable(SimConfig::new(1));
    let since = sim.mark();
    for m in ["a", "b", "c"] {
        sim.ws_client_send(client, text(m));
    }
    sim.run_for(secs(1));
    assert_eq!(indices(&sim.tunnel_events_for(since, key)), [1, 2, 3]);
    assert_eq!(
        sim.runner().websocket_indices(key),
        Some(SocketIndices {
            last_received_index: 3,
            next_sent_index: 1
        })
    );
    assert!(acks(&sim, key).is_empty(), "nothing acknowledged by itself");
    assert_eq!(sim.engine().pending_messages(key), [1, 2, 3]);
    sim.ws_ack(key, 2).unwrap();
    sim.run_for(ms(100));
    assert_eq!(acks(&sim, key), [2]);
    assert_eq!(sim.engine().pending_messages(key), [3]);
}

#[test]
fn a_plain_socket_has_no_indices_to_persist_and_cannot_be_acknowledged() {
    let mut sim = Sim::connected(SimConfig::new(2));
    let actor = sim.start_actor("a");
    let since = sim.mark();
    sim.ws_connect(&actor.actor_id, "/plain");
    let key = sim.next_ws_open(since).key;
    sim.ws_accept(key, false).unwrap();
    assert_eq!(sim.runner().websocket_indices(key), None);
    assert!(matches!(
        sim.ws_ack(key, 0),
        Err(CallError::WrongRequestState { .. })
    ));
}

#[test]
fn a_socket_survives_a_sleep_and_resumes_without_an_open_event() {
    let mut config = SimConfig::new(3);
    config.user.tunnel.echo = true;
    config.user.tunnel.ack = true;
    let (mut sim, actor, client, key) = hibernatable(config);
    sim.ws_client_send(client, text("before"));
    sim.run_for(secs(1));
    let since = sim.mark();
    sleep(&mut sim, &actor);
    assert_eq!(
        sim.tunnel_events_for(since, key),
        [Event::WebSocketHibernated { key }]
    );
    assert_eq!(sim.socket_client(client).state, SocketState::Hibernating);
    assert_eq!(sim.tunnel_user().persisted_of(&actor.actor_id).len(), 1);

    // A client message wakes the actor; the start lists the socket.
    let since = sim.mark();
    sim.ws_client_send(client, text("after"));
    sim.run_for(secs(2));
    assert_eq!(
        listed_in_starts(&sim, &actor.actor_id).last().unwrap(),
        &[key]
    );
    let events = sim.tunnel_events_for(since, key);
    assert!(
        !events.iter().any(|e| matches!(e, Event::WebSocketOpen(_))),
        "{events:?}"
    );
    assert_eq!(indices(&events), [2]);
    let (woken, report) = sim.tunnel_user().reports.last().unwrap().clone();
    assert_eq!((woken.generation, report.restored), (1, vec![key]));
    let received: Vec<Bytes> = sim
        .socket_client(client)
        .received
        .iter()
        .map(|m| m.data.clone())
        .collect();
    assert_eq!(received, [Bytes::from("before"), Bytes::from("after")]);
    assert!(sim.engine().pending_messages(key).is_empty());
}

#[test]
fn replayed_messages_the_user_persisted_are_not_delivered_twice() {
    let (mut sim, actor, client, key) = hibernatable(SimConfig::new(4));
    for m in ["1", "2", "3"] {
        sim.ws_client_send(client, text(m));
    }
    sim.run_for(secs(1));
    // Persisted up to 3, never acknowledged: the gateway still keeps 1–3.
    assert_eq!(sim.engine().pending_messages(key), [1, 2, 3]);
    sleep(&mut sim, &actor);
    let since = sim.mark();
    sim.ws_client_send(client, text("4"));
    sim.run_for(secs(2));
    let events = sim.tunnel_events_for(since, key);
    assert_eq!(
        indices(&events),
        [4],
        "1–3 replayed but dropped: {events:?}"
    );
    // The restore acknowledged what was persisted at once, but before the
    // gateway resumed the socket (dropped there); each replay is
    // acknowledged again.
    assert_eq!(acks(&sim, key), [3, 1, 2, 3]);
    assert_eq!(sim.engine().pending_messages(key), [4]);
    sim.ws_ack(key, 4).unwrap();
    sim.run_for(ms(100));
    assert!(sim.engine().pending_messages(key).is_empty());
}

/// The gateway resumes a socket some time after its actor runs and drops
/// the restore's early acknowledgement; the replays it then sends are
/// acknowledged again, else they would close the socket 30 s after their
/// first send (#15).
#[test]
fn replays_after_a_wake_are_acknowledged_so_the_socket_stays_open() {
    let (mut sim, actor, client, key) = hibernatable(SimConfig::new(13));
    for m in ["1", "2"] {
        sim.ws_client_send(client, text(m));
    }
    sim.run_for(secs(1));
    assert_eq!(sim.engine().pending_messages(key), [1, 2]);
    sleep(&mut sim, &actor);
    // Woken by a request: the socket resumes with nothing new to deliver.
    sim.http(&actor.actor_id, tests::sim::ClientRequest::get("/"));
    sim.run_for(secs(2));
    assert_eq!(sim.engine().gateway_log().resumed, 1);
    assert!(sim.engine().pending_messages(key).is_empty());
    sim.run_for(secs(60));
    assert!(sim.socket_client(client).is_open());
}

#[test]
fn a_listed_socket_nobody_persisted_is_closed() {
    let mut config = SimConfig::new(5);
    config.user.tunnel.restore = false;
    let (mut sim, actor, client, key) = hibernatable(config);
    sleep(&mut sim, &actor);
    sim.user().on_start = Callback::After(secs(1));
    let since = sim.mark();
    sim.ws_client_send(client, text("wake"));
    sim.run_until_engine_phase(&actor.actor_id, &ActorPhase::Running);
    let woken = ActorRef::new(actor.actor_id.clone(), 1);
    let report = sim.restore_websockets(&woken, vec![]).unwrap();
    assert_eq!(report.closed, [key]);
    assert!(report.restored.is_empty() && report.stale.is_empty());
    sim.run_for(secs(1));
    assert_eq!(
        closes(&sim, key),
        [(Some(1000), Some("ws.meta_not_found_during_restore".into()))]
    );
    assert_eq!(
        sim.socket_client(client).closed(),
        Some((Some(1000), Some("ws.meta_not_found_during_restore")))
    );
    assert!(sim.tunnel_events_for(since, key).is_empty());
}

#[test]
fn without_a_restore_the_listed_sockets_are_closed_when_the_start_completes() {
    let mut config = SimConfig::new(6);
    config.user.tunnel.restore = false;
    let (mut sim, actor, client, key) = hibernatable(config);
    sleep(&mut sim, &actor);
    sim.ws_client_send(client, text("wake"));
    sim.run_for(secs(2));
    assert_eq!(
        closes(&sim, key),
        [(Some(1000), Some("ws.meta_not_found_during_restore".into()))]
    );
    assert_eq!(sim.runner().open_request_count(), 0);
}

#[test]
fn a_persisted_socket_the_gateway_no_longer_has_is_reported_stale() {
    let mut config = SimConfig::new(7);
    config.user.tunnel.restore = false;
    config.user.on_start = Callback::After(secs(1));
    let mut sim = Sim::connected(config);
    let id = sim.create_actor("a");
    sim.run_until_engine_phase(&id, &ActorPhase::Running);
    let gone = RequestKey::new(Default::default(), Default::default());
    let meta = HibernatedSocket {
        key: gone,
        last_received_index: 9,
        next_sent_index: 4,
        path: "/old".into(),
        headers: Default::default(),
    };
    let actor = ActorRef::new(id, 0);
    let report = sim.restore_websockets(&actor, vec![meta]).unwrap();
    assert_eq!(report.stale, [gone]);
    assert!(report.restored.is_empty() && report.closed.is_empty());
    assert!(sim.tunnel_sent_since(0).is_empty(), "nothing on the wire");
}

#[test]
fn restore_is_once_and_only_while_starting() {
    let mut config = SimConfig::new(8);
    config.user.tunnel.restore = false;
    config.user.on_start = Callback::After(secs(1));
    let mut sim = Sim::connected(config);
    let id = sim.create_actor("a");
    sim.run_until_engine_phase(&id, &ActorPhase::Running);
    let actor = ActorRef::new(id, 0);
    sim.restore_websockets(&actor, vec![]).unwrap();
    let again = sim.restore_websockets(&actor, vec![]);
    assert!(matches!(
        again,
        Err(CallError::WrongState {
            state: "already restored",
            ..
        })
    ));
    let other = ActorRef::new("nobody", 0);
    assert_eq!(
        sim.restore_websockets(&other, vec![]),
        Err(CallError::ActorNotFound(other.clone()))
    );
    sim.run_for(secs(2));
    let late = sim.restore_websockets(&ActorRef::new("actor-0002", 0), vec![]);
    assert!(late.is_err());
}

#[test]
fn an_index_gap_after_a_lost_message_closes_the_socket_1008() {
    let (mut sim, _, client, key) = hibernatable(SimConfig::new(9));
    sim.ws_client_send(client, text("1"));
    sim.run_for(secs(1));
    // The runner's transport breaks; the gateway's next message is lost
    // (nobody queues it for a disconnected runner).
    sim.drop_connection();
    sim.ws_client_send(client, text("2 (lost)"));
    sim.run_until_connected();
    let since = sim.mark();
    sim.ws_client_send(client, text("3"));
    sim.run_for(secs(1));
    assert_eq!(
        sim.tunnel_events_for(since, key),
        [Event::WebSocketClosed {
            key,
            code: Some(1008),
            reason: Some("ws.message_index_skip".into())
        }]
    );
    assert_eq!(
        closes(&sim, key),
        [(Some(1008), Some("ws.message_index_skip".into()))]
    );
    assert_eq!(
        sim.socket_client(client).closed(),
        Some((Some(1008), Some("ws.message_index_skip")))
    );
}

#[test]
fn a_message_left_unacknowledged_for_30_s_closes_the_socket() {
    let (mut sim, _, client, key) = hibernatable(SimConfig::new(10));
    let since = sim.mark();
    sim.ws_client_send(client, text("never acked"));
    sim.run_for(secs(29));
    assert!(sim.socket_client(client).is_open());
    sim.run_for(secs(20));
    assert_eq!(
        sim.socket_client(client).closed(),
        Some((Some(1011), Some("guard.websocket_message_ack_timeout")))
    );
    let events = sim.tunnel_events_for(since, key);
    assert!(
        matches!(
            events.last(),
            Some(Event::WebSocketClosed {
                code: Some(1011),
                ..
            })
        ),
        "{events:?}"
    );
    assert_eq!(sim.runner().open_request_count(), 0);
}

#[test]
fn indices_wrap_across_a_hibernation() {
    let mut config = SimConfig::new(11);
    config.user.tunnel.ack = true;
    let (mut sim, actor, client, key) = hibernatable(config);
    for i in 1..=65_533u32 {
        sim.ws_client_send(client, text(&i.to_string()));
        if i % 1000 == 0 {
            sim.run_for(ms(100));
        }
    }
    sim.run_for(secs(1));
    sim.user().tunnel.ack = false;
    sim.ws_client_send(client, text("65534"));
    sim.ws_client_send(client, text("65535"));
    sim.run_for(secs(1));
    assert_eq!(sim.engine().pending_messages(key), [65_534, 65_535]);
    sleep(&mut sim, &actor);
    let since = sim.mark();
    sim.ws_client_send(client, text("wrapped"));
    sim.run_for(secs(2));
    // 65534 and 65535 are replayed and dropped; 0 comes after 65535.
    let events = sim.tunnel_events_for(since, key);
    assert_eq!(indices(&events), [0]);
    assert_eq!(*acks(&sim, key).last().unwrap(), 65_535);
    assert_eq!(sim.engine().pending_messages(key), [0]);
}

#[test]
fn a_socket_closed_while_awake_is_still_listed_and_the_runner_closes_it() {
    let (mut sim, actor, client, key) = hibernatable(SimConfig::new(12));
    sim.ws_client_close(client, Some(1000), None);
    sim.run_for(secs(1));
    assert!(sim.tunnel_user().persisted_of(&actor.actor_id).is_empty());
    sleep(&mut sim, &actor);
    let since = sim.mark();
    let other = sim.ws_connect(&actor.actor_id, "/other");
    sim.run_for(secs(2));
    assert_eq!(
        listed_in_starts(&sim, &actor.actor_id).last().unwrap(),
        &[key]
    );
    assert_eq!(
        closes(&sim, key),
        [(Some(1000), Some("ws.meta_not_found_during_restore".into()))]
    );
    assert!(sim.tunnel_events_for(since, key).is_empty());
    assert_eq!(sim.socket_client(other).state, SocketState::Connecting);
}

#[test]
fn restored_sockets_of_a_start_that_fails_go_back_to_hibernation() {
    let mut config = SimConfig::new(13);
    config.user.tunnel.restore = false;
    let (mut sim, actor, client, key) = hibernatable(config);
    let persisted = sim.tunnel_user().persisted_of(&actor.actor_id);
    sleep(&mut sim, &actor);
    sim.user().on_start = Callback::Fail(secs(1), "broken".into());
    sim.ws_client_send(client, text("wake"));
    sim.run_until_engine_phase(&actor.actor_id, &ActorPhase::Running);
    let woken = ActorRef::new(actor.actor_id.clone(), 1);
    let report = sim.restore_websockets(&woken, persisted).unwrap();
    assert_eq!(report.restored, [key]);
    let since = sim.mark();
    sim.run_for(secs(2));
    assert_eq!(
        sim.tunnel_events_for(since, key),
        [Event::WebSocketHibernated { key }]
    );
    assert!(closes(&sim, key).is_empty());
    assert_eq!(sim.runner().open_request_count(), 0);
}

#[test]
fn replays_overflowing_the_inbox_of_a_starting_actor_close_the_socket() {
    let mut config = SimConfig::new(14);
    config.runner.limits.max_inbox_messages = 2;
    let (mut sim, actor, client, key) = hibernatable(config);
    for m in ["1", "2", "3"] {
        sim.ws_client_send(client, text(m));
    }
    sim.run_for(secs(1));
    sleep(&mut sim, &actor);
    sim.user().on_start = Callback::After(secs(2));
    let since = sim.mark();
    sim.ws_client_send(client, text("4"));
    sim.run_for(secs(3));
    // 1–4 replayed while the actor starts: past two the socket is given up,
    // closed at the gateway rather than dropped silently.
    assert_eq!(
        closes(&sim, key),
        [(Some(1011), Some("runner.too_many_requests".into()))]
    );
    assert_eq!(
        sim.socket_client(client).closed(),
        Some((Some(1011), Some("runner.too_many_requests")))
    );
    let (_, report) = sim.tunnel_user().reports.last().unwrap().clone();
    assert_eq!(report.stale, [key], "the user forgets it");
    assert!(sim.tunnel_events_for(since, key).is_empty());
    assert_eq!(sim.runner().open_request_count(), 0);
}
