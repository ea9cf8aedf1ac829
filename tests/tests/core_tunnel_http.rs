//! Scenarios of tunnelled HTTP (issue 4, spec §5, §9.7, §9.10, §9.20,
//! §9.22, §9.23) against the simulated engine's gateway. The tunnel
//! invariants (`runner_core::fuzzing::invariants::tunnel`) are checked on every input too.

use std::time::Duration;

use bytes::Bytes;
use runner_core::protocol::{ToServerResponseStart, ToServerTunnelMessageKind};
use runner_core::{ActorRef, CallError, Event, HttpResponse, RequestKey};
use tests::sim::scenario::tunnel::event_key;
use tests::sim::{Callback, ClientRequest, HttpPolicy, Sim, SimConfig};

const MIB: usize = 1024 * 1024;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

fn running(seed: u64) -> (Sim, ActorRef) {
    let mut sim = Sim::connected(SimConfig::new(seed));
    let actor = sim.start_actor("a");
    (sim, actor)
}

fn response_start(m: &ToServerTunnelMessageKind) -> &ToServerResponseStart {
    match m {
        ToServerTunnelMessageKind::ResponseStart(r) => r,
        other => panic!("expected a response start, got {other:?}"),
    }
}

/// The paths of the requests the user was handed since `since`, in order.
fn request_paths_since(sim: &Sim, since: usize) -> Vec<String> {
    sim.events_since(since)
        .into_iter()
        .filter_map(|e| match e {
            Event::HttpRequest(r) => Some(r.path),
            _ => None,
        })
        .collect()
}

/// The one terminal reply the runner sent for `key`.
fn only_reply(sim: &Sim, key: RequestKey) -> ToServerTunnelMessageKind {
    let sent = sim.tunnel_kinds_for(key);
    assert_eq!(sent.len(), 1, "{key}: {sent:?}");
    sent.into_iter().next().unwrap()
}

#[test]
fn request_reaches_the_user_whole_and_the_response_goes_back_as_one_start() {
    let (mut sim, actor) = running(1);
    let since = sim.mark();
    let request = ClientRequest::new("POST", "/echo?x=1&y=%20")
        .header("content-type", "text/plain")
        .header("x-rivet-ray-id", "ray")
        .body("hello");
    let client = sim.http(&actor.actor_id, request);
    let req = sim.next_http_request(since);
    assert_eq!(req.actor, actor);
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/echo?x=1&y=%20")
    );
    assert_eq!(
        req.headers.get("content-type").map(String::as_str),
        Some("text/plain")
    );
    assert_eq!(
        req.headers.get("x-rivet-ray-id").map(String::as_str),
        Some("ray")
    );
    assert_eq!((&req.body[..], req.streamed), (&b"hello"[..], false));

    let response = HttpResponse::new(201).header("X-Thing", "1").body("world!");
    sim.respond(req.key, response).unwrap();
    sim.await_http(client);
    assert_eq!(sim.http_client(client).status(), Some(201));
    assert_eq!(
        sim.http_client(client).body().map(|b| &b[..]),
        Some(&b"world!"[..])
    );

    let reply = only_reply(&sim, req.key);
    let start = response_start(&reply);
    assert!(!start.stream);
    assert_eq!(
        start.headers.get("content-length").map(String::as_str),
        Some("6")
    );
    assert_eq!(start.headers.get("x-thing").map(String::as_str), Some("1"));
    assert_eq!(sim.tunnel_sent_for(req.key)[0].message_id.message_index, 0);
    assert_eq!(sim.runner().open_request_count(), 0);
}

#[test]
fn empty_body_has_no_body_and_no_length_and_a_user_length_is_kept() {
    let (mut sim, actor) = running(2);
    let since = sim.mark();
    sim.http(&actor.actor_id, ClientRequest::get("/a"));
    let first = sim.next_http_request(since);
    assert!(first.body.is_empty());
    sim.respond(first.key, HttpResponse::new(204)).unwrap();
    let reply = only_reply(&sim, first.key);
    let start = response_start(&reply);
    assert_eq!((start.body.as_ref(), start.headers.len()), (None, 0));

    let since = sim.mark();
    sim.http(&actor.actor_id, ClientRequest::get("/b"));
    let second = sim.next_http_request(since);
    let response = HttpResponse::new(200)
        .header("content-length", "3")
        .body("abc");
    sim.respond(second.key, response).unwrap();
    let reply = only_reply(&sim, second.key);
    assert_eq!(response_start(&reply).headers.len(), 1);
}

#[test]
fn get_with_a_body_is_delivered_as_sent() {
    // Spec §9.23: the TS runner's `new Request` throws on a GET with a body.
    let (mut sim, actor) = running(3);
    let since = sim.mark();
    sim.http(&actor.actor_id, ClientRequest::get("/q").body("payload"));
    let req = sim.next_http_request(since);
    assert_eq!(
        (req.method.as_str(), &req.body[..]),
        ("GET", &b"payload"[..])
    );
}

#[test]
fn a_streamed_body_arrives_in_order_with_the_gateway_indices() {
    let (mut sim, actor) = running(4);
    let since = sim.mark();
    let client = sim.http(&actor.actor_id, ClientRequest::new("PUT", "/up").streamed());
    let req = sim.next_http_request(since);
    assert!(req.streamed && req.body.is_empty());
    for (part, finish) in [("ab", false), ("cd", false), ("e", true)] {
        sim.http_chunk(client, part.as_bytes(), finish);
    }
    sim.run_for(secs(1));
    let chunks: Vec<(Bytes, bool)> = sim
        .tunnel_events_for(since, req.key)
        .into_iter()
        .filter_map(|e| match e {
            Event::HttpRequestChunk { data, finish, .. } => Some((data, finish)),
            _ => None,
        })
        .collect();
    let expected: Vec<(Bytes, bool)> = vec![
        (Bytes::from_static(b"ab"), false),
        (Bytes::from_static(b"cd"), false),
        (Bytes::from_static(b"e"), true),
    ];
    assert_eq!(chunks, expected);
    let indices: Vec<u16> = sim
        .gateway_sent_for(req.key)
        .iter()
        .map(|m| m.message_id.message_index)
        .collect();
    assert_eq!(indices, [0, 1, 2, 3]);
    assert!(sim.tunnel_user().requests[&req.key].complete);
    sim.respond(req.key, HttpResponse::new(200).body("got 5"))
        .unwrap();
    sim.await_http(client);
    assert_eq!(sim.http_client(client).status(), Some(200));
}

#[test]
fn a_chunk_after_the_last_one_is_ignored() {
    let (mut sim, actor) = running(5);
    let since = sim.mark();
    let client = sim.http(&actor.actor_id, ClientRequest::new("PUT", "/up").streamed());
    let req = sim.next_http_request(since);
    sim.http_chunk(client, b"x", true);
    sim.http_chunk(client, b"late", false);
    sim.run_for(secs(1));
    let chunks = sim
        .tunnel_events_for(since, req.key)
        .iter()
        .filter(|e| matches!(e, Event::HttpRequestChunk { .. }))
        .count();
    assert_eq!(chunks, 1);
}

#[test]
fn a_client_abort_mid_stream_tells_the_user_and_a_late_respond_fails() {
    let (mut sim, actor) = running(6);
    let since = sim.mark();
    let client = sim.http(&actor.actor_id, ClientRequest::new("PUT", "/up").streamed());
    let req = sim.next_http_request(since);
    sim.http_chunk(client, b"part", false);
    sim.run_for(secs(1));
    sim.http_abort(client);
    sim.run_for(secs(1));
    let events = sim.tunnel_events_for(since, req.key);
    assert!(
        matches!(events.last(), Some(Event::HttpRequestAborted { .. })),
        "{events:?}"
    );
    assert_eq!(
        sim.respond(req.key, HttpResponse::new(200)),
        Err(CallError::RequestNotFound(req.key))
    );
    assert_eq!(
        sim.abort_request(req.key),
        Err(CallError::RequestNotFound(req.key))
    );
    assert!(
        sim.tunnel_sent_for(req.key).is_empty(),
        "nothing goes back after the gateway's abort"
    );
    assert_eq!(sim.runner().open_request_count(), 0);
}

#[test]
fn a_streamed_body_over_the_limit_gets_413_and_the_user_is_told() {
    let mut config = SimConfig::new(7);
    config.runner.limits.max_request_body = 8;
    let mut sim = Sim::connected(config);
    let actor = sim.start_actor("a");
    let since = sim.mark();
    let client = sim.http(&actor.actor_id, ClientRequest::new("PUT", "/up").streamed());
    let req = sim.next_http_request(since);
    sim.http_chunk(client, b"12345", false);
    sim.http_chunk(client, b"6789", false);
    sim.await_http(client);
    assert_eq!(sim.http_client(client).status(), Some(413));
    let events = sim.tunnel_events_for(since, req.key);
    assert!(
        matches!(events.last(), Some(Event::HttpRequestAborted { .. })),
        "{events:?}"
    );
}

#[test]
fn the_user_answers_a_failed_handler_with_500_and_respond_works_once() {
    let (mut sim, actor) = running(8);
    let since = sim.mark();
    let client = sim.http(&actor.actor_id, ClientRequest::get("/boom"));
    let req = sim.next_http_request(since);
    let error = HttpResponse::new(500)
        .header("content-type", "text/plain")
        .body("Internal Server Error");
    sim.respond(req.key, error).unwrap();
    assert_eq!(
        sim.respond(req.key, HttpResponse::new(200)),
        Err(CallError::RequestNotFound(req.key))
    );
    sim.await_http(client);
    assert_eq!(sim.http_client(client).status(), Some(500));
    only_reply(&sim, req.key);
}

#[test]
fn the_user_can_abort_and_the_gateway_retries_with_a_new_request() {
    let (mut sim, actor) = running(9);
    let since = sim.mark();
    let client = sim.http(&actor.actor_id, ClientRequest::get("/flaky"));
    let first = sim.next_http_request(since);
    sim.abort_request(first.key).unwrap();
    assert_eq!(
        only_reply(&sim, first.key),
        ToServerTunnelMessageKind::ResponseAbort
    );
    let since = sim.mark();
    let second = sim.next_http_request(since);
    assert_ne!(first.key, second.key, "a retry is a new request id");
    sim.respond(second.key, HttpResponse::new(200)).unwrap();
    sim.await_http(client);
    assert_eq!(sim.http_client(client).keys, [first.key, second.key]);
    assert_eq!(sim.http_client(client).status(), Some(200));
}

/// Sends a request that races the actor's state, and checks it is answered
/// with an abort within one round trip, never reaching the user.
fn assert_aborted_at_once(sim: &mut Sim, actor_id: &str) {
    let since = sim.mark();
    let sent_at = sim.now();
    let client = sim.http_now(actor_id, ClientRequest::get("/late"));
    sim.await_http(client);
    let key = sim.http_client(client).key().unwrap();
    assert_eq!(
        only_reply(sim, key),
        ToServerTunnelMessageKind::ResponseAbort
    );
    assert_eq!(
        sim.http_client(client).failure(),
        Some("guard.tunnel_request_aborted")
    );
    let took = sim.now().saturating_duration_since(sent_at);
    assert!(took <= ms(100), "answered after {took:?}");
    assert!(sim.tunnel_events_for(since, key).is_empty());
}

#[test]
fn a_request_for_an_unknown_actor_is_aborted_at_once() {
    let (mut sim, _) = running(10);
    assert_aborted_at_once(&mut sim, "no-such-actor");
}

#[test]
fn a_request_for_a_stopping_actor_is_aborted_at_once() {
    let mut config = SimConfig::new(11);
    config.user.on_stop = Callback::After(secs(10));
    let mut sim = Sim::connected(config);
    let actor = sim.start_actor("a");
    sim.engine_do(|e, now| e.stop_actor(now, &actor.actor_id));
    sim.run_for(secs(1));
    assert_eq!(sim.runner().actor_count(), 1, "still stopping");
    assert_aborted_at_once(&mut sim, &actor.actor_id);
}

#[test]
fn a_request_for_a_stopped_actor_is_aborted_then_served_after_a_wake() {
    let mut config = SimConfig::new(12);
    config.user.tunnel.http = HttpPolicy::Respond(ms(5));
    let mut sim = Sim::connected(config);
    let actor = sim.start_actor("a");
    sim.sleep_actor(&actor).unwrap();
    sim.run_until_engine_phase(&actor.actor_id, &tests::sim::ActorPhase::Sleeping);
    assert_aborted_at_once(&mut sim, &actor.actor_id);
    // The real gateway waits for the actor: it wakes it and is answered.
    let client = sim.http(&actor.actor_id, ClientRequest::get("/wake"));
    sim.await_http(client);
    assert_eq!(sim.http_client(client).status(), Some(200));
    assert_eq!(sim.engine().actor(&actor.actor_id).unwrap().generation, 1);
}

#[test]
fn requests_held_for_a_failed_start_are_aborted_when_it_fails() {
    let mut config = SimConfig::new(13);
    config.user.on_start = Callback::Fail(secs(2), "no".into());
    config.user.on_stop = Callback::After(secs(10));
    config.engine.gateway.http_attempts = 1;
    let mut sim = Sim::connected(config);
    let id = sim.create_actor("a");
    sim.run_until_engine_phase(&id, &tests::sim::ActorPhase::Running);
    let clients: Vec<_> = (0..3)
        .map(|_| sim.http(&id, ClientRequest::get("/")))
        .collect();
    sim.run_for(ms(500));
    assert!(
        clients
            .iter()
            .all(|c| sim.http_client(*c).outcome.is_none()),
        "held while starting"
    );
    let failed_at = sim.now() + ms(1500);
    for c in &clients {
        sim.await_http(*c);
        assert_eq!(
            sim.http_client(*c).failure(),
            Some("guard.tunnel_request_aborted")
        );
    }
    let took = sim.now().saturating_duration_since(failed_at);
    assert!(took <= ms(100), "answered {took:?} after the start failed");
}

#[test]
fn requests_held_while_starting_are_delivered_in_order_once_started() {
    let mut config = SimConfig::new(14);
    config.user.on_start = Callback::After(secs(3));
    let mut sim = Sim::connected(config);
    let id = sim.create_actor("a");
    sim.run_until_engine_phase(&id, &tests::sim::ActorPhase::Running);
    let since = sim.mark();
    for path in ["/1", "/2", "/3"] {
        sim.http(&id, ClientRequest::get(path));
        sim.run_for(ms(50));
    }
    assert!(
        sim.events_since(since)
            .iter()
            .all(|e| event_key(e).is_none())
    );
    sim.run_for(secs(4));
    let paths = request_paths_since(&sim, since);
    assert_eq!(paths, ["/1", "/2", "/3"]);
}

#[test]
fn an_oversize_response_becomes_500_and_nobody_else_notices() {
    let (mut sim, a) = running(15);
    let b = sim.start_actor("b");
    let since = sim.mark();
    let big = sim.http(&a.actor_id, ClientRequest::get("/big"));
    let req = sim.next_http_request(since);
    let body = Bytes::from(vec![b'x'; 20 * MIB + 1]);
    sim.respond(req.key, HttpResponse::new(200).body(body))
        .unwrap();
    sim.await_http(big);
    assert_eq!(sim.http_client(big).status(), Some(500));
    let text = String::from_utf8_lossy(sim.http_client(big).body().unwrap()).into_owned();
    assert!(text.contains("exceeds"), "{text}");
    assert_eq!(sim.engine().gateway_log().oversize, 0);
    assert!(sim.engine().log().closes.is_empty(), "the connection stays");

    // Exactly 20 MiB goes through, and the other actor is served as usual.
    let since = sim.mark();
    let exact = sim.http(&b.actor_id, ClientRequest::get("/exact"));
    let req = sim.next_http_request(since);
    let body = Bytes::from(vec![b'y'; 20 * MIB]);
    sim.respond(req.key, HttpResponse::new(200).body(body))
        .unwrap();
    sim.await_http(exact);
    assert_eq!(
        sim.http_client(exact).body().map(Bytes::len),
        Some(20 * MIB)
    );
    assert_eq!(sim.connects().len(), 1);
}

#[test]
fn a_stopped_actor_waits_for_its_requests_then_aborts_them_at_the_stop_timeout() {
    let mut config = SimConfig::new(16);
    config.user.on_stop = Callback::After(secs(1));
    config.runner.timeouts.actor_stop = secs(5);
    let mut sim = Sim::connected(config);
    let a = sim.start_actor("a");
    let b = sim.start_actor("b");
    let since = sim.mark();
    let client = sim.http(&a.actor_id, ClientRequest::get("/slow"));
    let other = sim.http(&b.actor_id, ClientRequest::get("/other"));
    let first = sim.next_http_request(since);
    sim.run_for(secs(1));
    sim.sleep_actor(&a).unwrap();
    sim.run_for(ms(500));
    // Still stopping: the handler may still answer.
    assert!(sim.runner().request_is_open(first.key));
    let since_stop = sim.mark();
    sim.run_for(secs(1));
    // The stop callback has returned; the actor waits for its request.
    assert!(sim.runner().request_is_open(first.key));
    assert!(sim.tunnel_events_for(since_stop, first.key).is_empty());
    assert!(sim.runner().actor_count() >= 2, "a is still draining");
    // At the stop timeout the rest is aborted, for the user and the gateway.
    sim.run_for(secs(4));
    let events = sim.tunnel_events_for(since_stop, first.key);
    assert_eq!(events, [Event::HttpRequestAborted { key: first.key }]);
    assert_eq!(
        only_reply(&sim, first.key),
        ToServerTunnelMessageKind::ResponseAbort
    );
    assert_eq!(
        sim.respond(first.key, HttpResponse::new(200)),
        Err(CallError::RequestNotFound(first.key))
    );
    // The other actor's request is untouched.
    let other_key = sim.http_client(other).key().unwrap();
    sim.respond(other_key, HttpResponse::new(200)).unwrap();
    sim.await_http(other);
    assert_eq!(sim.http_client(other).status(), Some(200));
    // The gateway retries the aborted one on the actor's next generation.
    let retried = sim.next_http_request(since_stop);
    assert_eq!(retried.actor, ActorRef::new(a.actor_id.clone(), 1));
    sim.respond(retried.key, HttpResponse::new(200)).unwrap();
    sim.await_http(client);
    assert_eq!(sim.http_client(client).status(), Some(200));
}

#[test]
fn a_stopped_actor_is_reported_stopped_once_its_last_request_is_answered() {
    let mut config = SimConfig::new(18);
    config.user.on_stop = Callback::Immediate;
    let mut sim = Sim::connected(config);
    let a = sim.start_actor("a");
    let since = sim.mark();
    let client = sim.http(&a.actor_id, ClientRequest::get("/slow"));
    let request = sim.next_http_request(since);
    sim.sleep_actor(&a).unwrap();
    sim.run_for(secs(1));
    // Stop callback done, request open: the engine has not heard `Stopped`.
    assert!(sim.runner().request_is_open(request.key));
    assert_eq!(sim.runner().actor_count(), 1);
    assert!(
        !engine_saw_stopped(&sim, &a),
        "Stopped reported before the request was answered"
    );
    // The answer goes out first, then the actor is reported stopped.
    sim.respond(request.key, HttpResponse::new(200).body("late"))
        .unwrap();
    assert_eq!(sim.runner().actor_count(), 0);
    sim.await_http(client);
    assert_eq!(sim.http_client(client).status(), Some(200));
    sim.run_for(secs(1));
    assert!(engine_saw_stopped(&sim, &a));
}

/// Whether the engine received a `Stopped` state for `actor`.
fn engine_saw_stopped(sim: &Sim, actor: &ActorRef) -> bool {
    use runner_core::protocol::{ActorState, Event as WireEvent, EventActorStateUpdate};
    let Some(record) = sim.engine().actor(&actor.actor_id) else {
        return false;
    };
    tests::sim::scenario::events_of(&record.events, actor)
        .iter()
        .any(|(_, e)| {
            matches!(
                e,
                WireEvent::StateUpdate(EventActorStateUpdate {
                    state: ActorState::Stopped(_)
                })
            )
        })
}

#[test]
fn past_the_per_actor_request_limit_requests_get_503() {
    let mut config = SimConfig::new(17);
    config.runner.limits.max_requests_per_actor = 2;
    let mut sim = Sim::connected(config);
    let a = sim.start_actor("a");
    let held: Vec<_> = (0..2)
        .map(|_| sim.http(&a.actor_id, ClientRequest::get("/h")))
        .collect();
    sim.run_for(secs(1));
    let refused = sim.http(&a.actor_id, ClientRequest::get("/x"));
    sim.await_http(refused);
    let outcome = sim.http_client(refused).outcome.clone().unwrap();
    let tests::sim::HttpOutcome::Response {
        status, headers, ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(status, 503);
    assert_eq!(
        headers.get("x-rivet-error").map(String::as_str),
        Some("runner.too_many_requests")
    );
    // Once one is answered, a new one fits.
    let key = sim.http_client(held[0]).key().unwrap();
    sim.respond(key, HttpResponse::new(200)).unwrap();
    let since = sim.mark();
    sim.http(&a.actor_id, ClientRequest::get("/fits"));
    assert_eq!(sim.next_http_request(since).path, "/fits");
}

#[test]
fn the_inbox_of_a_starting_actor_is_bounded_by_count_and_bytes() {
    let mut config = SimConfig::new(18);
    config.runner.limits.max_inbox_messages = 2;
    config.runner.limits.max_inbox_bytes = 10;
    config.user.on_start = Callback::After(secs(5));
    config.engine.gateway.http_attempts = 1;
    let mut sim = Sim::connected(config);
    let id = sim.create_actor("a");
    sim.run_until_engine_phase(&id, &tests::sim::ActorPhase::Running);
    let fits = sim.http(&id, ClientRequest::get("/1").body("12345"));
    let too_big = sim.http(&id, ClientRequest::get("/2").body("123456"));
    let fits_too = sim.http(&id, ClientRequest::get("/3"));
    let too_many = sim.http(&id, ClientRequest::get("/4"));
    sim.run_for(secs(1));
    for refused in [too_big, too_many] {
        assert_eq!(
            sim.http_client(refused).failure(),
            Some("guard.tunnel_request_aborted")
        );
    }
    let since = sim.mark();
    sim.run_for(secs(5));
    let paths = request_paths_since(&sim, since);
    assert_eq!(paths, ["/1", "/3"]);
    assert!(
        [fits, fits_too]
            .iter()
            .all(|c| sim.http_client(*c).outcome.is_none())
    );
}

/// A runner with two requests handed to the user, then cut off from the
/// engine (the transport breaks and reconnects fail).
fn disconnected_with_two_requests(seed: u64, max_buffered: usize) -> (Sim, Vec<RequestKey>) {
    let mut config = SimConfig::new(seed);
    config.runner.limits.max_buffered_messages = max_buffered;
    let mut sim = Sim::connected(config);
    let a = sim.start_actor("a");
    let since = sim.mark();
    for path in ["/1", "/2"] {
        sim.http(&a.actor_id, ClientRequest::get(path));
    }
    sim.run_for(secs(1));
    let keys: Vec<RequestKey> = sim
        .events_since(since)
        .into_iter()
        .filter_map(|e| match e {
            Event::HttpRequest(r) => Some(r.key),
            _ => None,
        })
        .collect();
    assert_eq!(keys.len(), 2);
    sim.link().reachable = false;
    sim.drop_connection();
    sim.run_for(ms(100));
    assert!(!sim.runner().is_connected());
    (sim, keys)
}

#[test]
fn responses_are_buffered_while_disconnected_and_flushed_in_order() {
    let (mut sim, keys) = disconnected_with_two_requests(19, 10);
    sim.respond(keys[1], HttpResponse::new(202)).unwrap();
    sim.respond(keys[0], HttpResponse::new(201)).unwrap();
    assert_eq!(sim.runner().buffered_tunnel_messages(), 2);
    let since = sim.mark();
    sim.link().reachable = true;
    sim.run_until_connected();
    let flushed: Vec<RequestKey> = sim
        .tunnel_sent_since(since)
        .iter()
        .map(tests::sim::scenario::tunnel::key_of_sent)
        .collect();
    assert_eq!(flushed, [keys[1], keys[0]]);
    assert_eq!(sim.runner().buffered_tunnel_messages(), 0);
    sim.run_for(secs(1));
    let statuses: Vec<Option<u16>> = [1, 2]
        .into_iter()
        .map(|c| sim.http_client(tests::sim::ClientId(c)).status())
        .collect();
    assert_eq!(statuses, [Some(201), Some(202)]);
}

#[test]
fn a_full_buffer_ends_the_request_instead_of_leaving_it_open() {
    let (mut sim, keys) = disconnected_with_two_requests(20, 1);
    sim.respond(keys[0], HttpResponse::new(200)).unwrap();
    // No room, not even for an abort: the request ends all the same (the
    // gateway times it out), counted, rather than leak open.
    sim.respond(keys[1], HttpResponse::new(200)).unwrap();
    assert!(!sim.runner().request_is_open(keys[1]));
    assert_eq!(sim.runner().dropped_tunnel_messages(), 1);
    assert_eq!(
        sim.abort_request(keys[1]),
        Err(CallError::RequestNotFound(keys[1]))
    );
    sim.link().reachable = true;
    sim.run_until_connected();
    sim.run_for(secs(1));
    assert_eq!(sim.runner().open_request_count(), 0);
}

#[test]
fn the_buffer_is_dropped_when_the_runner_id_changes() {
    let (mut sim, keys) = disconnected_with_two_requests(21, 10);
    sim.respond(keys[0], HttpResponse::new(200)).unwrap();
    assert_eq!(sim.runner().buffered_tunnel_messages(), 1);
    sim.engine_do(|e, now| e.declare_lost(now));
    let since = sim.mark();
    sim.link().reachable = true;
    sim.run_until_connected();
    assert_ne!(sim.runner().runner_id(), None);
    assert!(
        sim.tunnel_sent_since(since).is_empty(),
        "nothing of the old runner goes out"
    );
    assert_eq!(sim.runner().buffered_tunnel_messages(), 0);
    // The request still held is dropped with the old runner, the user told.
    assert_eq!(
        sim.tunnel_events_for(since, keys[1]),
        [Event::HttpRequestAborted { key: keys[1] }]
    );
    assert_eq!(sim.runner().open_request_count(), 0);
}

/// A runner configured past the engine's limit (the guard the core keeps
/// by default removed).
fn unguarded(check_invariants: bool) -> (Sim, ActorRef) {
    let mut config = SimConfig::new(22);
    config.runner.limits.max_tunnel_payload = 30 * MIB;
    config.check_invariants = check_invariants;
    let mut sim = Sim::connected(config);
    let actor = sim.start_actor("a");
    (sim, actor)
}

fn respond_oversize(sim: &mut Sim, actor: &ActorRef) {
    let since = sim.mark();
    sim.http(&actor.actor_id, ClientRequest::get("/big"));
    let req = sim.next_http_request(since);
    let body = Bytes::from(vec![b'x'; 20 * MIB + 1]);
    sim.respond(req.key, HttpResponse::new(200).body(body))
        .unwrap();
    sim.run_for(secs(1));
}

#[test]
fn the_engine_drops_the_whole_connection_on_an_oversize_payload() {
    let (mut sim, actor) = unguarded(false);
    respond_oversize(&mut sim, &actor);
    assert_eq!(sim.engine().gateway_log().oversize, 1);
    let closes = &sim.engine().log().closes;
    assert!(closes[0].2.starts_with("ws.invalid_packet"), "{closes:?}");
    sim.run_until_connected();
}

#[test]
#[should_panic(expected = "the engine would drop the whole runner connection")]
fn the_invariants_flag_an_oversize_payload() {
    let (mut sim, actor) = unguarded(true);
    respond_oversize(&mut sim, &actor);
}

/// While disconnected with the outbound buffer full, an answer is never
/// dropped with its request left open (it would leak toward
/// `max_requests_per_actor`, after which the actor answers only 503): the
/// request is aborted instead, the abort sent after the next init — or,
/// with no room even for that, dropped and counted.
#[test]
fn a_response_the_full_buffer_cannot_take_aborts_its_request() {
    use runner_core::protocol::ToServer;
    use runner_core::{Config, Timestamp, TransportClose, testing};

    let t = Timestamp::ZERO;
    let mut config = Config::new("http://h:1", "r", "k");
    config.limits.max_buffered_bytes = 4;
    config.limits.max_buffered_messages = 2;
    config.limits.max_requests_per_actor = 3;
    let (mut runner, conn) = testing::connected(config).unwrap();
    testing::started_actor(&mut runner, conn, "A").unwrap();
    let keys: Vec<RequestKey> = (1..=3)
        .map(|id| testing::http_request(&mut runner, conn, id, testing::get("A", "/")).unwrap())
        .collect();
    testing::drain(&mut runner);
    runner.handle_closed(t, conn, TransportClose::error("connection reset"));
    testing::drain(&mut runner);

    // Too big for the buffer's bytes: aborted, the abort buffered.
    runner
        .respond(t, keys[0], HttpResponse::new(200).body("too big"))
        .unwrap();
    assert!(!runner.request_is_open(keys[0]));
    assert_eq!(runner.buffered_tunnel_messages(), 1);
    // Fits: buffered as is.
    runner.respond(t, keys[1], HttpResponse::new(204)).unwrap();
    assert_eq!(runner.buffered_tunnel_messages(), 2);
    // No room even for an abort: the request ends all the same, counted.
    runner.abort_request(t, keys[2]).unwrap();
    assert!(!runner.request_is_open(keys[2]));
    assert_eq!(runner.dropped_tunnel_messages(), 1);
    assert_eq!(runner.open_request_count(), 0, "nothing leaks");

    // Back: the abort and the answer go out after the init.
    runner.handle_timeout(runner.poll_timeout().unwrap());
    let Some(runner_core::Transmit::Connect { conn, .. }) = runner.poll_transmit() else {
        panic!("no reconnect")
    };
    runner.handle_connected(t, conn);
    testing::drain(&mut runner);
    let metadata = runner_core::protocol::ProtocolMetadata {
        runner_lost_threshold: 15_000,
        actor_stop_threshold: None,
        serverless_drain_grace_period: None,
    };
    let init = runner_core::protocol::ToClient::Init(runner_core::protocol::ToClientInit {
        runner_id: "R".into(),
        metadata,
    });
    testing::feed(&mut runner, conn, &init).unwrap();
    let kinds: Vec<(RequestKey, ToServerTunnelMessageKind)> = testing::sent(&mut runner)
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            ToServer::TunnelMessage(m) => Some((
                RequestKey::new(m.message_id.gateway_id, m.message_id.request_id),
                m.message_kind,
            )),
            _ => None,
        })
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert_eq!(
        kinds[0],
        (keys[0], ToServerTunnelMessageKind::ResponseAbort)
    );
    assert!(matches!(
        &kinds[1],
        (k, ToServerTunnelMessageKind::ResponseStart(r)) if *k == keys[1] && r.status == 204
    ));
}

/// An actor draining its requests is given up with the rest once the
/// runner is surely lost: its answers could reach no one.
#[test]
fn a_draining_actor_is_removed_when_the_runner_is_lost() {
    use runner_core::{Timestamp, TransportClose, testing};

    let t = Timestamp::ZERO;
    let (mut runner, conn) = testing::connected(testing::config()).unwrap();
    let actor = testing::started_actor(&mut runner, conn, "A").unwrap();
    let key = testing::http_request(&mut runner, conn, 1, testing::get("A", "/")).unwrap();
    testing::drain(&mut runner);
    runner.crash_actor(t, &actor, "boom").unwrap();
    runner.actor_stopped(t, &actor).unwrap();
    assert_eq!(runner.actor_count(), 1, "draining");
    runner.handle_closed(t, conn, TransportClose::error("connection reset"));
    // Past the runner-lost threshold (15 s), well before the stop timeout.
    let lost = Timestamp::from_millis(20_000);
    assert!(lost < t + runner.config().timeouts.actor_stop);
    while let Some(at) = runner.poll_timeout().filter(|at| *at <= lost) {
        runner.handle_timeout(at);
        testing::drain(&mut runner);
    }
    runner.handle_timeout(lost);
    assert_eq!(runner.actor_count(), 0);
    assert!(!runner.request_is_open(key));
}
