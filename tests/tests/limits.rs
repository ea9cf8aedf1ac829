//! Every limit of `runner_core::Limits`, hit on purpose, with its documented
//! reaction checked: a typed error, a refusal the gateway understands, or a
//! close with a reason — never a panic, never silent loss.
//!
//! Each test drives the core directly ([`Wire`]) with small limits, plays
//! the engine by hand, and reads the frames the runner sends.

use std::time::Duration;

use bytes::Bytes;
use runner_core::protocol::{
    self, ActorCheckpoint, ActorState, KvDeleteRangeRequest, KvPutRequest, KvRequestData,
    KvResponseData, ProtocolVersion, StopCode, ToClient, ToClientAckEvents, ToClientKvResponse,
    ToClientRequestChunk, ToClientTunnelMessageKind, ToServer, ToServerTunnelMessage,
    ToServerTunnelMessageKind, WebSocketMessage,
};
use runner_core::{ActorRef, CallError, Config, Event, HttpResponse, RequestKey, TransportClose};
use tests::fuzz_support::{Wire, key};

fn config(edit: impl FnOnce(&mut Config)) -> Config {
    let mut config = Wire::config();
    edit(&mut config);
    config
}

fn tunnel_frames(frames: &[ToServer]) -> Vec<&ToServerTunnelMessage> {
    frames
        .iter()
        .filter_map(|f| match f {
            ToServer::TunnelMessage(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn kinds_for(frames: &[ToServer], key: RequestKey) -> Vec<ToServerTunnelMessageKind> {
    tunnel_frames(frames)
        .into_iter()
        .filter(|m| m.message_id.gateway_id == key.gateway_id)
        .filter(|m| m.message_id.request_id == key.request_id)
        .map(|m| m.message_kind.clone())
        .collect()
}

fn closed_with(kinds: &[ToServerTunnelMessageKind], code: u16, reason: &str) -> bool {
    matches!(kinds, [ToServerTunnelMessageKind::WebSocketClose(c)]
        if c.code == Some(code) && c.reason.as_deref() == Some(reason))
}

fn response_status(kinds: &[ToServerTunnelMessageKind]) -> Option<u16> {
    match kinds {
        [ToServerTunnelMessageKind::ResponseStart(r)] => Some(r.status),
        _ => None,
    }
}

fn put(value_len: usize) -> KvRequestData {
    KvRequestData::Put(KvPutRequest {
        keys: vec![Bytes::from_static(b"k")],
        values: vec![Bytes::from(vec![b'v'; value_len])],
    })
}

fn kv_requests(frames: &[ToServer]) -> Vec<u32> {
    frames
        .iter()
        .filter_map(|f| match f {
            ToServer::KvRequest(r) => Some(r.request_id),
            _ => None,
        })
        .collect()
}

#[test]
fn kv_calls_past_the_queue_limit_are_a_typed_error_until_one_ends() {
    let mut wire = Wire::connected(config(|c| {
        c.limits.max_pending_kv = 2;
        c.limits.max_queued_kv = 1;
    }));
    let actor = wire.running_actor("a");
    let now = wire.now;
    wire.runner.kv(now, &actor, put(1)).unwrap();
    wire.runner.kv(now, &actor, put(1)).unwrap();
    let queued = wire.runner.kv(now, &actor, put(1)).unwrap();
    let refused = wire.runner.kv(now, &actor, put(1));
    assert_eq!(refused, Err(CallError::KvQueueFull { limit: 1 }));
    wire.drain();
    let sent = kv_requests(&wire.take_frames());
    assert_eq!(
        sent.len(),
        2,
        "the queued call waits, the refused one is gone"
    );
    assert!(wire.take_events().is_empty(), "a refusal emits nothing");
    wire.deliver(&ToClient::KvResponse(ToClientKvResponse {
        request_id: sent[0],
        data: KvResponseData::Put,
    }));
    assert_eq!(
        kv_requests(&wire.take_frames()).len(),
        1,
        "the queued one went out"
    );
    assert_eq!(wire.runner.queued_kv_count(), 0);
    let waiting = wire.runner.kv(wire.now, &actor, put(1)).unwrap();
    let full = Err(CallError::KvQueueFull { limit: 1 });
    assert_eq!(wire.runner.kv(wire.now, &actor, put(1)), full);
    // A cancelled call leaves the queue: there is room again.
    assert!(wire.runner.cancel_kv(wire.now, waiting));
    assert!(wire.runner.kv(wire.now, &actor, put(1)).is_ok());
    assert!(
        wire.runner.cancel_kv(wire.now, queued),
        "in flight: its answer will be dropped"
    );
}

#[test]
fn a_kv_request_larger_than_the_engine_accepts_is_refused_before_it_is_sent() {
    let mut wire = Wire::connected(config(|c| c.limits.max_tunnel_payload = 1000));
    let actor = wire.running_actor("a");
    let now = wire.now;
    // Key (1 byte) + value: 999 fits, 1000 does not.
    assert!(wire.runner.kv(now, &actor, put(999)).is_ok());
    assert_eq!(
        wire.runner.kv(now, &actor, put(1000)),
        Err(CallError::PayloadTooLarge {
            size: 1001,
            limit: 1000
        })
    );
    wire.drain();
    assert_eq!(kv_requests(&wire.take_frames()).len(), 1);
}

#[test]
fn kv_delete_range_before_v7_is_refused_as_unsupported() {
    let mut wire = Wire::connected(config(|c| c.protocol_version = ProtocolVersion::V5));
    let actor = wire.running_actor("a");
    let range = KvRequestData::DeleteRange(KvDeleteRangeRequest {
        start: Bytes::from_static(b"a"),
        end: Bytes::from_static(b"b"),
    });
    let refused = wire.runner.kv(wire.now, &actor, range);
    assert!(matches!(
        refused,
        Err(CallError::Unsupported { needs: 7, .. })
    ));
}

fn intent(wire: &mut Wire, actor: &ActorRef) -> Result<(), CallError> {
    let outcome = wire.runner.sleep_actor(wire.now, actor);
    wire.drain();
    outcome
}

#[test]
fn unacknowledged_events_past_the_limit_refuse_intents_until_the_engine_acks() {
    let mut wire = Wire::connected(config(|c| c.limits.max_unacked_events_per_actor = 3));
    let actor = wire.running_actor("a");
    // `Running` (index 0) is one unacknowledged event already.
    intent(&mut wire, &actor).unwrap();
    intent(&mut wire, &actor).unwrap();
    assert_eq!(
        intent(&mut wire, &actor),
        Err(CallError::EventBacklogFull {
            actor: actor.clone(),
            limit: 3
        })
    );
    let alarm = wire.runner.set_alarm(wire.now, &actor, Some(5));
    assert!(matches!(alarm, Err(CallError::EventBacklogFull { .. })));
    wire.deliver(&ToClient::AckEvents(ToClientAckEvents {
        last_event_checkpoints: vec![ActorCheckpoint {
            actor_id: actor.actor_id.clone(),
            generation: 0,
            index: 1,
        }],
    }));
    intent(&mut wire, &actor).unwrap();
    intent(&mut wire, &actor).unwrap();
    // Lifecycle events are recorded whatever the backlog: a crash still
    // reports `Stopped`.
    intent(&mut wire, &actor).unwrap_err();
    wire.runner.crash_actor(wire.now, &actor, "boom").unwrap();
    wire.runner.actor_stopped(wire.now, &actor).unwrap();
    wire.drain();
    let stopped = wire.take_frames().into_iter().any(|f| match f {
        ToServer::Events(events) => events.iter().any(|e| {
            matches!(&e.inner, protocol::Event::StateUpdate(u)
                if matches!(&u.state, ActorState::Stopped(s) if s.code == StopCode::Error))
        }),
        _ => false,
    });
    assert!(stopped, "the crash was reported despite the full backlog");
}

/// Whether the frames report `actor_id` stopped as refused for capacity.
fn refused_for_capacity(frames: &[ToServer], actor_id: &str) -> bool {
    frames.iter().any(|f| match f {
        ToServer::Events(events) => events.iter().any(|e| {
            e.checkpoint.actor_id.as_ref() == actor_id
                && matches!(&e.inner, protocol::Event::StateUpdate(u)
                    if matches!(&u.state, ActorState::Stopped(s)
                        if s.code == StopCode::Error
                        && s.message.as_deref() == Some("runner is at capacity")))
        }),
        _ => false,
    })
}

#[test]
fn retired_generations_at_the_limit_refuse_starts_and_forget_nothing_early() {
    let retention = Duration::from_secs(5); // within the liveness timeout
    let mut wire = Wire::connected(config(|c| {
        c.limits.max_retired_generations = 2;
        c.timeouts.retention = retention;
    }));
    let crash = |wire: &mut Wire, actor: &ActorRef| {
        wire.runner.crash_actor(wire.now, actor, "x").unwrap();
        wire.runner.actor_stopped(wire.now, actor).unwrap();
        wire.drain();
    };
    let a0 = wire.running_actor("a0");
    crash(&mut wire, &a0);
    // One stopped generation, and one live actor holding the place it will
    // need when it stops: the table is full.
    let a1 = wire.running_actor("a1");
    assert_eq!(wire.runner.retired_generation_count(), 1);
    wire.start_command("a2", 0, Vec::new());
    let starts = wire.take_events();
    assert!(
        !starts.iter().any(|e| matches!(e, Event::ActorStart { .. })),
        "the user was asked to start an actor past the limit: {starts:?}"
    );
    let frames = wire.take_frames();
    assert!(refused_for_capacity(&frames, "a2"), "{frames:?}");
    assert!(frames.iter().any(|f| matches!(f, ToServer::AckCommands(_))));
    // a1 stops into its place; a0 is not forgotten for it.
    crash(&mut wire, &a1);
    assert_eq!(wire.runner.retired_generation_count(), 2);
    wire.take_frames();
    wire.start_command("a3", 0, Vec::new());
    assert!(refused_for_capacity(&wire.take_frames(), "a3"));
    assert_eq!(wire.runner.retired_generation_count(), 2);
    // Once the engine has surely seen them (the connection stayed up for
    // the retention), their places are free again.
    wire.advance(retention);
    assert_eq!(wire.runner.retired_generation_count(), 0);
    wire.start_command("a4", 0, Vec::new());
    let starts = wire.take_events();
    assert!(starts.iter().any(|e| matches!(e, Event::ActorStart { .. })));
}

#[test]
fn a_start_past_the_actor_limit_is_answered_with_a_stop_and_no_user_start() {
    let mut wire = Wire::connected(config(|c| c.limits.max_actors = 2));
    wire.running_actor("a0");
    wire.running_actor("a1");
    wire.start_command("a2", 0, Vec::new());
    assert!(
        !wire
            .take_events()
            .iter()
            .any(|e| matches!(e, Event::ActorStart { .. })),
        "the user was asked to start an actor past the limit"
    );
    let frames = wire.take_frames();
    assert!(
        refused_for_capacity(&frames, "a2"),
        "no Stopped(Error) for the refused start: {frames:?}"
    );
    assert!(frames.iter().any(|f| matches!(f, ToServer::AckCommands(_))));
    assert_eq!(wire.runner.actor_count(), 2);
}

#[test]
fn a_response_over_the_tunnel_limit_becomes_a_500_and_a_large_message_a_typed_error() {
    let mut wire = Wire::connected(config(|c| c.limits.max_tunnel_payload = 100));
    wire.running_actor("a");
    wire.request(key(1), "a", b"");
    let response = HttpResponse::new(200).body(vec![b'x'; 101]);
    wire.runner.respond(wire.now, key(1), response).unwrap();
    wire.drain();
    let kinds = kinds_for(&wire.take_frames(), key(1));
    assert_eq!(response_status(&kinds), Some(500));
    // Exactly the limit goes through.
    wire.request(key(2), "a", b"");
    let response = HttpResponse::new(200).body(vec![b'x'; 100]);
    wire.runner.respond(wire.now, key(2), response).unwrap();
    wire.drain();
    assert_eq!(
        response_status(&kinds_for(&wire.take_frames(), key(2))),
        Some(200)
    );

    wire.websocket_open(key(3), "a");
    wire.runner
        .websocket_accept(wire.now, key(3), false)
        .unwrap();
    let big = Bytes::from(vec![0; 101]);
    assert_eq!(
        wire.runner.websocket_send(wire.now, key(3), big, true),
        Err(CallError::PayloadTooLarge {
            size: 101,
            limit: 100
        })
    );
    let fits = Bytes::from(vec![0; 100]);
    wire.runner
        .websocket_send(wire.now, key(3), fits, true)
        .unwrap();
}

#[test]
fn a_streamed_body_over_the_limit_is_answered_413_and_aborted_for_the_user() {
    let mut wire = Wire::connected(config(|c| c.limits.max_request_body = 10));
    wire.running_actor("a");
    let start = runner_core::protocol::ToClientRequestStart {
        actor_id: "a".into(),
        method: "PUT".into(),
        path: "/up".into(),
        headers: Default::default(),
        body: None,
        stream: true,
    };
    wire.tunnel(key(1), 0, ToClientTunnelMessageKind::RequestStart(start));
    for (index, part) in [(1, &b"123456"[..]), (2, &b"78901"[..])] {
        let chunk = ToClientRequestChunk {
            body: Bytes::copy_from_slice(part),
            finish: false,
        };
        wire.tunnel(
            key(1),
            index,
            ToClientTunnelMessageKind::RequestChunk(chunk),
        );
    }
    let events = wire.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::HttpRequestAborted { key: k } if *k == key(1)))
    );
    let kinds = kinds_for(&wire.take_frames(), key(1));
    assert_eq!(response_status(&kinds), Some(413));
    assert_eq!(wire.runner.open_request_count(), 0);
}

#[test]
fn requests_and_sockets_past_the_per_actor_limit_get_a_503_and_a_close() {
    let mut wire = Wire::connected(config(|c| c.limits.max_requests_per_actor = 2));
    wire.running_actor("a");
    wire.request(key(1), "a", b"");
    wire.websocket_open(key(2), "a");
    wire.take_frames();
    wire.request(key(3), "a", b"");
    let kinds = kinds_for(&wire.take_frames(), key(3));
    let [ToServerTunnelMessageKind::ResponseStart(r)] = &kinds[..] else {
        panic!("expected one response, got {kinds:?}");
    };
    assert_eq!(r.status, 503);
    assert_eq!(
        r.headers.get("x-rivet-error").map(String::as_str),
        Some("runner.too_many_requests")
    );
    wire.websocket_open(key(4), "a");
    let kinds = kinds_for(&wire.take_frames(), key(4));
    assert!(
        closed_with(&kinds, 1011, "runner.too_many_requests"),
        "{kinds:?}"
    );
    // Another actor is not affected.
    wire.running_actor("b");
    wire.request(key(5), "b", b"");
    assert!(
        wire.take_events()
            .iter()
            .any(|e| matches!(e, Event::HttpRequest(r) if r.key == key(5)))
    );
}

/// Found by the `core` fuzz target: the hibernated sockets a start command
/// lists were registered without the per-actor limit, so one start could
/// hold any number of them. The excess is now closed like any socket past
/// the limit.
#[test]
fn hibernated_sockets_past_the_per_actor_limit_are_closed_at_start() {
    let mut wire = Wire::connected(config(|c| c.limits.max_requests_per_actor = 2));
    let listed = vec![key(1), key(2), key(3), key(4)];
    let actor = wire.start_command("a", 0, listed);
    let frames = wire.take_frames();
    for excess in [key(3), key(4)] {
        let kinds = kinds_for(&frames, excess);
        assert!(
            closed_with(&kinds, 1011, "runner.too_many_requests"),
            "{kinds:?}"
        );
    }
    assert!(kinds_for(&frames, key(1)).is_empty());
    assert!(wire.runner.open_request_count() <= 2);
    let start = wire.take_events().into_iter().find_map(|e| match e {
        Event::ActorStart { hibernating, .. } => Some(hibernating),
        _ => None,
    });
    assert_eq!(start.map(|h| h.len()), Some(2));
    wire.runner.actor_started(wire.now, &actor, Ok(())).unwrap();
}

#[test]
fn the_inbox_of_a_starting_actor_is_bounded_in_count_and_bytes() {
    let mut wire = Wire::connected(config(|c| {
        c.limits.max_inbox_messages = 2;
        c.limits.max_inbox_bytes = 100;
        c.limits.max_requests_per_actor = 100;
    }));
    let actor = wire.start_command("a", 0, Vec::new());
    wire.take_frames();
    wire.request(key(1), "a", b"12345");
    wire.request(key(2), "a", b"");
    // Third message: over the count; the request is aborted (the gateway retries).
    wire.request(key(3), "a", b"");
    let kinds = kinds_for(&wire.take_frames(), key(3));
    assert_eq!(kinds, [ToServerTunnelMessageKind::ResponseAbort]);
    // A socket open over the count is closed.
    wire.websocket_open(key(4), "a");
    let kinds = kinds_for(&wire.take_frames(), key(4));
    assert!(
        closed_with(&kinds, 1011, "runner.too_many_requests"),
        "{kinds:?}"
    );
    // The held ones reach the user once the start is done.
    wire.runner.actor_started(wire.now, &actor, Ok(())).unwrap();
    wire.drain();
    let delivered: Vec<RequestKey> = wire
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::HttpRequest(r) => Some(r.key),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, [key(1), key(2)]);

    // Bytes: one request of 101 bytes does not fit 100.
    let other = wire.start_command("b", 0, Vec::new());
    wire.take_frames();
    wire.request(key(5), "b", &[0; 101]);
    let kinds = kinds_for(&wire.take_frames(), key(5));
    assert_eq!(kinds, [ToServerTunnelMessageKind::ResponseAbort]);
    wire.runner.actor_started(wire.now, &other, Ok(())).unwrap();
}

#[test]
fn the_outbound_buffer_while_disconnected_is_bounded_with_a_typed_error() {
    let mut wire = Wire::connected(config(|c| {
        c.limits.max_buffered_messages = 2;
        c.limits.max_buffered_bytes = 1000;
    }));
    wire.running_actor("a");
    for n in 1..=3 {
        wire.websocket_open(key(n), "a");
        wire.runner
            .websocket_accept(wire.now, key(n), true)
            .unwrap();
    }
    wire.drain();
    wire.take_frames();
    let conn = wire.conn;
    wire.runner
        .handle_closed(wire.now, conn, TransportClose::error("cable cut"));
    wire.drain();
    let send = |wire: &mut Wire, n: u32, len: usize| {
        let data = Bytes::from(vec![b'm'; len]);
        wire.runner.websocket_send(wire.now, key(n), data, false)
    };
    send(&mut wire, 1, 10).unwrap();
    send(&mut wire, 2, 10).unwrap();
    assert_eq!(
        send(&mut wire, 3, 10),
        Err(CallError::TunnelBufferFull {
            messages: 2,
            bytes: 20
        })
    );
    assert_eq!(wire.runner.buffered_tunnel_messages(), 2);

    // Bytes: a fresh runner whose byte bound is hit first.
    let mut wire = Wire::connected(config(|c| {
        c.limits.max_buffered_messages = 100;
        c.limits.max_buffered_bytes = 15;
    }));
    wire.running_actor("a");
    wire.websocket_open(key(1), "a");
    wire.runner
        .websocket_accept(wire.now, key(1), true)
        .unwrap();
    let conn = wire.conn;
    wire.runner
        .handle_closed(wire.now, conn, TransportClose::error("cable cut"));
    wire.drain();
    send(&mut wire, 1, 10).unwrap();
    assert!(matches!(
        send(&mut wire, 1, 10),
        Err(CallError::TunnelBufferFull {
            messages: 1,
            bytes: 10
        })
    ));
}

#[test]
fn resent_events_go_out_in_frames_of_at_most_events_per_frame() {
    let mut wire = Wire::connected(config(|c| {
        c.limits.events_per_frame = 2;
        c.limits.max_unacked_events_per_actor = 100;
    }));
    let actor = wire.running_actor("a");
    for _ in 0..4 {
        wire.runner
            .set_alarm(wire.now, &actor, Some(1))
            .expect("room in the backlog");
    }
    let conn = wire.conn;
    wire.runner
        .handle_closed(wire.now, conn, TransportClose::error("cut"));
    wire.advance(Duration::from_secs(2));
    wire.runner.handle_connected(wire.now, wire.conn);
    wire.deliver(&ToClient::Init(runner_core::protocol::ToClientInit {
        runner_id: "r0".into(),
        metadata: runner_core::protocol::ProtocolMetadata {
            runner_lost_threshold: 15_000,
            actor_stop_threshold: None,
            serverless_drain_grace_period: None,
        },
    }));
    let sizes: Vec<usize> = wire
        .take_frames()
        .iter()
        .filter_map(|f| match f {
            ToServer::Events(events) => Some(events.len()),
            _ => None,
        })
        .collect();
    // Running + four alarms = five events: 2 + 2 + 1.
    assert_eq!(sizes, [2, 2, 1]);
}

#[test]
fn a_socket_whose_messages_overflow_the_inbox_is_closed() {
    // Messages for a socket of a starting actor wait in its inbox; one too
    // many closes the socket, and the user never sees it.
    let mut wire = Wire::connected(config(|c| c.limits.max_inbox_messages = 2));
    let actor = wire.start_command("a", 0, Vec::new());
    wire.websocket_open(key(1), "a");
    for index in 1..=2 {
        let message = WebSocketMessage {
            data: Bytes::from_static(b"hi"),
            binary: false,
        };
        wire.tunnel(
            key(1),
            index,
            ToClientTunnelMessageKind::WebSocketMessage(message),
        );
    }
    let kinds = kinds_for(&wire.take_frames(), key(1));
    assert!(
        closed_with(&kinds, 1011, "runner.too_many_requests"),
        "{kinds:?}"
    );
    wire.runner.actor_started(wire.now, &actor, Ok(())).unwrap();
    wire.drain();
    assert!(
        !wire
            .take_events()
            .iter()
            .any(|e| matches!(e, Event::WebSocketOpen(_)))
    );
}

/// A refused call changes nothing (`CallError`'s contract): a WebSocket
/// message refused for a full buffer must not use up a message index, or
/// the gateway sees a gap in the runner's numbering of that socket.
#[test]
fn a_send_refused_for_a_full_buffer_does_not_use_up_an_index() {
    let mut wire = Wire::connected(config(|c| c.limits.max_buffered_messages = 1));
    wire.running_actor("a");
    wire.websocket_open(key(1), "a");
    wire.runner
        .websocket_accept(wire.now, key(1), false)
        .unwrap();
    let conn = wire.conn;
    wire.runner
        .handle_closed(wire.now, conn, TransportClose::error("cut"));
    wire.drain();
    let send = |wire: &mut Wire| {
        let data = Bytes::from_static(b"m");
        wire.runner.websocket_send(wire.now, key(1), data, false)
    };
    send(&mut wire).unwrap();
    assert!(matches!(
        send(&mut wire),
        Err(CallError::TunnelBufferFull { .. })
    ));
    wire.reconnect();
    wire.take_frames();
    send(&mut wire).unwrap();
    wire.drain();
    let indices: Vec<u16> = tunnel_frames(&wire.take_frames())
        .iter()
        .map(|m| m.message_id.message_index)
        .collect();
    // Open was 0, the buffered message 1: the next one is 2.
    assert_eq!(indices, [2]);
}

fn many_headers(n: usize) -> runner_core::protocol::BareMap<String> {
    // Built whole: `insert` looks for the key first (quadratic here).
    runner_core::protocol::BareMap(
        (0..n)
            .map(|i| (format!("x-h{i}"), "v".to_owned()))
            .collect(),
    )
}

/// A request start with more header names than `http::HeaderMap` holds
/// (~24 000) made the host panic building the request; the core now
/// refuses it with a 431 before anyone builds anything.
#[test]
fn a_request_with_more_headers_than_the_limit_is_answered_431_and_the_user_never_sees_it() {
    let mut wire = Wire::connected(Wire::config());
    wire.running_actor("a");
    wire.take_frames();
    wire.take_events();
    let start = runner_core::protocol::ToClientRequestStart {
        headers: many_headers(30_000),
        ..runner_core::testing::get("a", "/")
    };
    wire.tunnel(key(1), 0, ToClientTunnelMessageKind::RequestStart(start));
    let kinds = kinds_for(&wire.take_frames(), key(1));
    let [ToServerTunnelMessageKind::ResponseStart(r)] = &kinds[..] else {
        panic!("expected one response, got {kinds:?}");
    };
    assert_eq!(r.status, 431);
    assert_eq!(
        r.headers.get("x-rivet-error").map(String::as_str),
        Some("runner.too_many_headers")
    );
    assert!(wire.take_events().is_empty());
    // At the limit a request is served, and nothing else was affected.
    let limit = Wire::config().limits.max_request_headers;
    let start = runner_core::protocol::ToClientRequestStart {
        headers: many_headers(limit),
        ..runner_core::testing::get("a", "/")
    };
    wire.tunnel(key(2), 0, ToClientTunnelMessageKind::RequestStart(start));
    assert!(
        wire.take_events()
            .iter()
            .any(|e| matches!(e, Event::HttpRequest(r) if r.key == key(2)))
    );
    assert_eq!(wire.runner.open_request_count(), 1);
}

#[test]
fn a_socket_with_more_headers_than_the_limit_is_closed_1008_and_the_user_never_sees_it() {
    let mut wire = Wire::connected(config(|c| c.limits.max_request_headers = 10));
    wire.running_actor("a");
    wire.take_frames();
    wire.take_events();
    let open = runner_core::protocol::ToClientWebSocketOpen {
        actor_id: "a".into(),
        path: "/ws".into(),
        headers: many_headers(11),
    };
    wire.tunnel(key(1), 0, ToClientTunnelMessageKind::WebSocketOpen(open));
    let kinds = kinds_for(&wire.take_frames(), key(1));
    assert!(
        closed_with(&kinds, 1008, "runner.too_many_headers"),
        "{kinds:?}"
    );
    assert!(wire.take_events().is_empty());
    assert_eq!(wire.runner.open_request_count(), 0);
    wire.websocket_open(key(2), "a");
    assert!(
        wire.take_events()
            .iter()
            .any(|e| matches!(e, Event::WebSocketOpen(o) if o.key == key(2)))
    );
}
