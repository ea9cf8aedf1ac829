//! Scenarios of tunnelled WebSockets (issue 4, spec §6.1–§6.4, §6.7, §9.17,
//! §9.18) against the simulated engine's gateway, with the tunnel
//! invariants checked on every input.

use std::time::Duration;

use bytes::Bytes;
use runner_core::protocol::{
    ToServerTunnelMessageKind, ToServerWebSocketClose, ToServerWebSocketOpen, WebSocketMessage,
};
use runner_core::{ActorRef, CallError, Event, RequestKey};
use tests::sim::engine::gateway::text;
use tests::sim::{Callback, ClientId, Sim, SimConfig, SocketState, WsPolicy};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

fn binary(data: &[u8]) -> WebSocketMessage {
    WebSocketMessage {
        data: Bytes::copy_from_slice(data),
        binary: true,
    }
}

/// A running actor and a client socket offered to the user.
fn offered(seed: u64) -> (Sim, ActorRef, ClientId, RequestKey) {
    offered_with(SimConfig::new(seed))
}

fn offered_with(config: SimConfig) -> (Sim, ActorRef, ClientId, RequestKey) {
    let mut sim = Sim::connected(config);
    let actor = sim.start_actor("a");
    let since = sim.mark();
    let client = sim.ws_connect(&actor.actor_id, "/ws?room=1");
    let open = sim.next_ws_open(since);
    assert_eq!(
        (open.actor.clone(), open.path.as_str()),
        (actor.clone(), "/ws?room=1")
    );
    (sim, actor, client, open.key)
}

/// Like [`offered`], accepted (plain, not hibernatable).
fn open_socket(seed: u64) -> (Sim, ActorRef, ClientId, RequestKey) {
    let (mut sim, actor, client, key) = offered(seed);
    sim.ws_accept(key, false).unwrap();
    sim.await_socket(client, |s| s.is_open());
    (sim, actor, client, key)
}

fn close_of(m: &ToServerTunnelMessageKind) -> &ToServerWebSocketClose {
    match m {
        ToServerTunnelMessageKind::WebSocketClose(c) => c,
        other => panic!("expected a close, got {other:?}"),
    }
}

fn messages(events: &[Event]) -> Vec<(u16, Bytes, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::WebSocketMessage {
                index,
                data,
                binary,
                ..
            } => Some((*index, data.clone(), *binary)),
            _ => None,
        })
        .collect()
}

#[test]
fn accept_then_messages_both_ways_text_and_binary() {
    let (mut sim, _, client, key) = open_socket(1);
    let sent = sim.tunnel_kinds_for(key);
    assert_eq!(
        sent,
        [ToServerTunnelMessageKind::WebSocketOpen(
            ToServerWebSocketOpen {
                can_hibernate: false
            }
        )]
    );
    let since = sim.mark();
    sim.ws_client_send(client, text("hi"));
    sim.ws_client_send(client, binary(&[0, 159, 146, 150]));
    sim.run_for(secs(1));
    let got = messages(&sim.tunnel_events_for(since, key));
    assert_eq!(
        got,
        [
            (1, Bytes::from_static(b"hi"), false),
            (2, Bytes::from_static(&[0, 159, 146, 150]), true)
        ]
    );
    sim.ws_send(key, b"text back", false).unwrap();
    sim.ws_send(key, &[1, 2, 3], true).unwrap();
    sim.run_for(secs(1));
    let received = &sim.socket_client(client).received;
    assert_eq!(received.as_slice(), [text("text back"), binary(&[1, 2, 3])]);
    let indices: Vec<u16> = sim
        .tunnel_sent_for(key)
        .iter()
        .map(|m| m.message_id.message_index)
        .collect();
    assert_eq!(indices, [0, 1, 2]);
}

#[test]
fn refusal_closes_with_the_users_code_and_reason() {
    let (mut sim, _, client, key) = offered(2);
    sim.ws_reject(key, 4003, "forbidden").unwrap();
    sim.await_socket(client, |s| s.closed().is_some());
    assert_eq!(
        sim.socket_client(client).closed(),
        Some((Some(4003), Some("forbidden")))
    );
    let sent = sim.tunnel_kinds_for(key);
    assert_eq!(sent.len(), 1, "a close and no open: {sent:?}");
    assert_eq!(close_of(&sent[0]).code, Some(4003));
    assert_eq!(
        sim.ws_accept(key, false),
        Err(CallError::RequestNotFound(key))
    );
}

#[test]
fn invalid_close_codes_are_refused_and_change_nothing() {
    let (mut sim, _, client, key) = offered(3);
    for code in [0, 999, 1004, 1005, 1006, 1015, 2000, 5000] {
        assert_eq!(
            sim.ws_reject(key, code, "x"),
            Err(CallError::InvalidCloseCode(code))
        );
    }
    sim.ws_accept(key, false).unwrap();
    for code in [1005, 1006, 1015] {
        assert_eq!(
            sim.ws_close(key, Some(code), None),
            Err(CallError::InvalidCloseCode(code))
        );
    }
    sim.await_socket(client, |s| s.is_open());
    sim.ws_close(key, Some(3000), None).unwrap();
    sim.await_socket(client, |s| s.closed().is_some());
    assert_eq!(
        sim.socket_client(client).closed(),
        Some((Some(3000), Some("ws.closed")))
    );
}

#[test]
fn close_reasons_are_truncated_to_123_bytes_at_a_char_boundary() {
    let (mut sim, _, client, key) = offered(4);
    // 61 two-byte characters then a four-byte one: byte 123 is inside it.
    let reason = format!("{}{}", "é".repeat(61), "🦀🦀");
    sim.ws_reject(key, 4000, &reason).unwrap();
    sim.await_socket(client, |s| s.closed().is_some());
    let sent = sim.tunnel_kinds_for(key);
    let wire = close_of(&sent[0]).reason.clone().unwrap();
    assert_eq!(wire, "é".repeat(61));
    assert!(wire.len() <= 123 && reason.starts_with(&wire));
}

#[test]
fn the_user_closes_and_no_event_follows_the_gateways_echo() {
    let (mut sim, _, client, key) = open_socket(5);
    let since = sim.mark();
    sim.ws_close(key, Some(1000), Some("bye")).unwrap();
    sim.await_socket(client, |s| s.closed().is_some());
    sim.run_for(secs(1));
    assert_eq!(
        sim.socket_client(client).closed(),
        Some((Some(1000), Some("bye")))
    );
    assert!(
        sim.tunnel_events_for(since, key).is_empty(),
        "the echo is not an event"
    );
    assert_eq!(
        sim.ws_send(key, b"late", false),
        Err(CallError::RequestNotFound(key))
    );
    assert_eq!(sim.runner().open_request_count(), 0);
}

#[test]
fn the_client_closes_and_the_user_is_told_without_an_echo() {
    let (mut sim, _, client, key) = open_socket(6);
    let since = sim.mark();
    let sent_before = sim.tunnel_sent_for(key).len();
    sim.ws_client_close(client, Some(4001), Some("leaving"));
    sim.run_for(secs(1));
    assert_eq!(
        sim.tunnel_events_for(since, key),
        [Event::WebSocketClosed {
            key,
            code: Some(4001),
            reason: Some("leaving".into())
        }]
    );
    assert_eq!(
        sim.tunnel_sent_for(key).len(),
        sent_before,
        "no close echoed"
    );
    assert_eq!(
        sim.ws_close(key, None, None),
        Err(CallError::RequestNotFound(key))
    );
}

#[test]
fn a_repeated_open_keeps_the_socket_and_confirms_it_again() {
    let mut config = SimConfig::new(7);
    config.user.tunnel.ack = true;
    let (mut sim, _, client, key) = offered_with(config);
    // Repeated while offered: still one offer, one open once accepted.
    sim.ws_reopen(client, true);
    sim.run_for(secs(1));
    sim.ws_accept(key, true).unwrap();
    sim.await_socket(client, |s| s.is_open());
    let since = sim.mark();
    sim.ws_client_send(client, text("one"));
    sim.run_for(secs(1));
    // Repeated while open (index 0 again): no second socket, the open is
    // sent again, and the gateway's numbering restarts after it.
    sim.ws_reopen(client, true);
    sim.ws_client_send(client, text("two"));
    sim.run_for(secs(1));
    let events = sim.tunnel_events_for(since, key);
    assert!(
        !events.iter().any(|e| matches!(e, Event::WebSocketOpen(_))),
        "{events:?}"
    );
    let got: Vec<(u16, Bytes)> = messages(&events)
        .into_iter()
        .map(|(i, d, _)| (i, d))
        .collect();
    assert_eq!(
        got,
        [
            (1, Bytes::from_static(b"one")),
            (1, Bytes::from_static(b"two"))
        ]
    );
    let opens = sim
        .tunnel_kinds_for(key)
        .into_iter()
        .filter(|k| matches!(k, ToServerTunnelMessageKind::WebSocketOpen(o) if o.can_hibernate))
        .count();
    assert_eq!(opens, 2);
    assert_eq!(sim.engine().gateway_log().repeated_opens, 1);
}

#[test]
fn indices_wrap_around_past_65535_both_ways() {
    let mut config = SimConfig::new(8);
    config.user.tunnel.echo = true;
    config.check_invariants = true;
    let (mut sim, _, client, key) = offered_with(config);
    sim.ws_accept(key, false).unwrap();
    sim.await_socket(client, |s| s.is_open());
    let since = sim.mark();
    const N: usize = 66_000;
    for i in 0..N {
        sim.ws_client_send(client, binary(&(i as u32).to_le_bytes()));
        if i % 1000 == 999 {
            sim.run_for(ms(100));
        }
    }
    sim.run_for(secs(2));
    let indices: Vec<u16> = messages(&sim.tunnel_events_for(since, key))
        .into_iter()
        .map(|(i, _, _)| i)
        .collect();
    let expected: Vec<u16> = (1..=N).map(|i| i as u16).collect();
    assert_eq!(indices.len(), N);
    assert!(
        indices == expected,
        "gateway indices wrap: …, 65535, 0, 1, …"
    );
    let received = &sim.socket_client(client).received;
    assert_eq!(received.len(), N, "every echo arrived");
    assert!(
        received
            .iter()
            .enumerate()
            .all(|(i, m)| m.data[..] == (i as u32).to_le_bytes())
    );
    let last = sim
        .tunnel_sent_for(key)
        .last()
        .unwrap()
        .message_id
        .message_index;
    assert_eq!(last, N as u16, "open = 0, echoes 1..=N, wrapped");
}

#[test]
fn an_actor_stop_closes_plain_sockets_and_hibernates_the_others() {
    let mut config = SimConfig::new(9);
    config.user.on_stop = Callback::After(ms(200));
    let mut sim = Sim::connected(config);
    let actor = sim.start_actor("a");
    let since = sim.mark();
    let plain = sim.ws_connect(&actor.actor_id, "/plain");
    let plain_key = sim.next_ws_open(since).key;
    sim.ws_accept(plain_key, false).unwrap();
    let since = sim.mark();
    let hib = sim.ws_connect(&actor.actor_id, "/hib");
    let hib_key = sim.next_ws_open(since).key;
    sim.ws_accept(hib_key, true).unwrap();
    sim.run_for(secs(1));
    let since = sim.mark();
    sim.sleep_actor(&actor).unwrap();
    sim.run_for(secs(2));
    assert_eq!(
        sim.tunnel_events_for(since, plain_key),
        [Event::WebSocketClosed {
            key: plain_key,
            code: Some(1000),
            reason: Some("actor.stopped".into())
        }]
    );
    let close = sim.tunnel_kinds_for(plain_key).pop().unwrap();
    assert_eq!(
        (close_of(&close).code, close_of(&close).reason.as_deref()),
        (Some(1000), Some("actor.stopped"))
    );
    assert_eq!(
        sim.socket_client(plain).closed(),
        Some((Some(1000), Some("actor.stopped")))
    );
    assert_eq!(
        sim.tunnel_events_for(since, hib_key),
        [Event::WebSocketHibernated { key: hib_key }]
    );
    assert_eq!(sim.tunnel_kinds_for(hib_key).len(), 1, "only its open");
    assert_eq!(sim.socket_client(hib).state, SocketState::Hibernating);
    assert_eq!(sim.runner().open_request_count(), 0);
}

#[test]
fn a_socket_for_an_unknown_actor_is_closed_at_once() {
    let mut sim = Sim::connected(SimConfig::new(10));
    sim.start_actor("a");
    let client = sim.ws_connect_now("nobody", "/ws");
    sim.run_for(ms(100));
    assert_eq!(
        sim.socket_client(client).closed(),
        Some((Some(1011), Some("actor.not_found")))
    );
}

#[test]
fn past_the_per_actor_limit_sockets_are_closed() {
    let mut config = SimConfig::new(11);
    config.runner.limits.max_requests_per_actor = 1;
    config.user.tunnel.ws = WsPolicy::Accept { hibernate: false };
    let mut sim = Sim::connected(config);
    let actor = sim.start_actor("a");
    let first = sim.ws_connect(&actor.actor_id, "/1");
    sim.await_socket(first, |s| s.is_open());
    let second = sim.ws_connect(&actor.actor_id, "/2");
    sim.await_socket(second, |s| s.closed().is_some());
    assert_eq!(
        sim.socket_client(second).closed(),
        Some((Some(1011), Some("runner.too_many_requests")))
    );
}

#[test]
fn a_message_over_the_tunnel_limit_is_refused_and_the_socket_stays() {
    let (mut sim, _, client, key) = open_socket(12);
    let big = vec![0u8; 20 * 1024 * 1024 + 1];
    assert_eq!(
        sim.ws_send(key, &big, true),
        Err(CallError::PayloadTooLarge {
            size: big.len(),
            limit: 20 * 1024 * 1024
        })
    );
    sim.ws_send(key, b"small", true).unwrap();
    sim.run_for(secs(1));
    assert_eq!(sim.socket_client(client).received.len(), 1);
    assert_eq!(sim.engine().gateway_log().oversize, 0);
}

#[test]
fn messages_are_buffered_while_disconnected_bounded_and_flushed_in_order() {
    let mut config = SimConfig::new(13);
    config.runner.limits.max_buffered_bytes = 10;
    let (mut sim, _, client, key) = offered_with(config);
    sim.ws_accept(key, false).unwrap();
    sim.await_socket(client, |s| s.is_open());
    sim.link().reachable = false;
    sim.drop_connection();
    sim.run_for(ms(100));
    sim.ws_send(key, b"12345", false).unwrap();
    sim.ws_send(key, b"6789", false).unwrap();
    let refused = sim.ws_send(key, b"ab", false);
    assert!(
        matches!(
            refused,
            Err(CallError::TunnelBufferFull {
                messages: 2,
                bytes: 9
            })
        ),
        "{refused:?}"
    );
    sim.ws_send(key, b"0", false).unwrap();
    assert_eq!(sim.runner().buffered_tunnel_messages(), 3);
    sim.link().reachable = true;
    sim.run_until_connected();
    sim.run_for(secs(1));
    let received: Vec<&[u8]> = sim
        .socket_client(client)
        .received
        .iter()
        .map(|m| &m.data[..])
        .collect();
    assert_eq!(received, [&b"12345"[..], b"6789", b"0"]);
}

#[test]
fn an_unanswered_open_times_out_at_the_gateway_and_the_user_is_told() {
    let (mut sim, _, client, key) = offered(14);
    let since = sim.mark();
    sim.run_for(secs(16));
    assert_eq!(
        sim.socket_client(client).closed(),
        Some((Some(1011), Some("guard.websocket_open_timeout")))
    );
    let events = sim.tunnel_events_for(since, key);
    assert!(
        matches!(
            events.as_slice(),
            [Event::WebSocketClosed {
                code: Some(1011),
                ..
            }]
        ),
        "{events:?}"
    );
    assert_eq!(
        sim.ws_accept(key, false),
        Err(CallError::RequestNotFound(key))
    );
}

#[test]
fn a_runner_away_past_the_runner_lost_threshold_ends_its_sockets_on_both_sides() {
    // The runner-lost threshold (15 s) comes before the gateway's tunnel
    // ping timeout (30 s): both sides end the socket, nothing is left over.
    let (mut sim, _, client, key) = open_socket(15);
    let since = sim.mark();
    sim.link().reachable = false;
    sim.drop_connection();
    sim.run_for(secs(20));
    assert_eq!(
        sim.socket_client(client).closed(),
        Some((Some(1000), Some("actor.stopped")))
    );
    let events = sim.tunnel_events_for(since, key);
    assert!(
        matches!(
            events.as_slice(),
            [Event::WebSocketClosed {
                code: Some(1000),
                ..
            }]
        ),
        "{events:?}"
    );
    sim.link().reachable = true;
    sim.run_until_connected();
    assert_eq!(sim.runner().open_request_count(), 0);
    assert_eq!(sim.runner().buffered_tunnel_messages(), 0);
}

/// A stopped actor keeps its open (not hibernatable) sockets until they
/// close, then is reported stopped; hibernatable ones are handed back to
/// the gateway at once and hold nothing up.
#[test]
fn a_stopped_actor_closes_its_plain_sockets_and_hands_back_the_hibernatable_ones_at_once() {
    use runner_core::protocol::{self, ActorState, ToServer};
    use runner_core::{Timestamp, testing};

    let t = Timestamp::ZERO;
    let (mut runner, conn) = testing::connected(testing::config()).unwrap();
    let actor = testing::started_actor(&mut runner, conn, "A").unwrap();
    let plain = testing::websocket(&mut runner, conn, 3, "A", "/ws").unwrap();
    let lasting = testing::websocket(&mut runner, conn, 4, "A", "/ws").unwrap();
    runner.websocket_accept(t, plain, false).unwrap();
    runner.websocket_accept(t, lasting, true).unwrap();
    testing::drain(&mut runner);

    runner.crash_actor(t, &actor, "boom").unwrap();
    runner.actor_stopped(t, &actor).unwrap();
    // Sockets never hold a stop (spec §6.7): a client keeps a plain one
    // open as long as it likes, so the runner closes it.
    let events: Vec<Event> = std::iter::from_fn(|| runner.poll_event()).collect();
    assert!(events.contains(&Event::WebSocketHibernated { key: lasting }));
    assert!(events.contains(&Event::WebSocketClosed {
        key: plain,
        code: Some(1000),
        reason: Some("actor.stopped".into()),
    }));
    assert!(!runner.request_is_open(plain));
    assert_eq!(runner.actor_count(), 0, "nothing left to wait for");
    let sent = testing::sent(&mut runner).unwrap();
    let close = sent
        .iter()
        .position(|m| matches!(m, ToServer::TunnelMessage(_)))
        .expect("the gateway is told the socket closed");
    let stopped = sent
        .iter()
        .position(|m| {
            matches!(m, ToServer::Events(events) if events.iter().any(|e| matches!(
                &e.inner,
                protocol::Event::StateUpdate(u) if matches!(u.state, ActorState::Stopped(_))
            )))
        })
        .expect("Stopped went out");
    assert!(
        close < stopped,
        "the close goes out before Stopped: {sent:?}"
    );
}
