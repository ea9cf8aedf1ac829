//! Scenarios of KV calls: every operation against the simulated engine's
//! store, ordering, resend after a reconnect, expiry, shutdown, and engine
//! validation errors.

use std::time::Duration;

use bytes::Bytes;
use runner_core::protocol::{
    KvDeleteRangeRequest, KvDeleteRequest, KvGetRequest, KvListPrefixQuery, KvListQuery,
    KvListRangeQuery, KvListRequest, KvPutRequest, KvRequestData, ProtocolVersion, ToServer,
};
use runner_core::{
    ActorRef, CallError, Event, KvError, KvRequestId, KvResponse, ShutdownMode, Timestamp,
};
use tests::sim::{Sim, SimConfig};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn put(pairs: &[(&str, &str)]) -> KvRequestData {
    KvRequestData::Put(KvPutRequest {
        keys: pairs.iter().map(|(k, _)| b(k)).collect(),
        values: pairs.iter().map(|(_, v)| b(v)).collect(),
    })
}

fn get(keys: &[&str]) -> KvRequestData {
    KvRequestData::Get(KvGetRequest {
        keys: keys.iter().map(|k| b(k)).collect(),
    })
}

fn list(query: KvListQuery, reverse: bool, limit: Option<u64>) -> KvRequestData {
    KvRequestData::List(KvListRequest {
        query,
        reverse: reverse.then_some(true),
        limit,
    })
}

fn range(start: &str, end: &str, exclusive: bool) -> KvListQuery {
    KvListQuery::Range(KvListRangeQuery {
        start: b(start),
        end: b(end),
        exclusive,
    })
}

fn prefix(p: &str) -> KvListQuery {
    KvListQuery::Prefix(KvListPrefixQuery { key: b(p) })
}

/// Runs one KV call to completion.
fn call(sim: &mut Sim, actor: &ActorRef, data: KvRequestData) -> Result<KvResponse, KvError> {
    let id = sim.kv(actor, data).expect("accepted");
    sim.run_until(|s| s.kv_result(id).is_some(), Duration::from_secs(60));
    sim.kv_result(id).cloned().expect("answered")
}

fn entries(pairs: &[(&str, &str)]) -> KvResponse {
    KvResponse::Entries(pairs.iter().map(|(k, v)| (b(k), b(v))).collect())
}

fn connected(version: ProtocolVersion, seed: u64) -> (Sim, ActorRef) {
    let mut sim = Sim::connected(SimConfig::new(seed).version(version));
    let actor = sim.start_actor("kv");
    (sim, actor)
}

#[test]
fn every_operation_works_on_every_version() {
    for version in ProtocolVersion::ALL {
        let (mut sim, a) = connected(version, 200);
        let pairs = [("a", "1"), ("b", "2"), ("ba", "3"), ("c", "4")];
        assert_eq!(call(&mut sim, &a, put(&pairs)), Ok(KvResponse::Done));
        assert_eq!(
            call(&mut sim, &a, get(&["c", "x", "a"])),
            Ok(KvResponse::Values(vec![Some(b("4")), None, Some(b("1"))]))
        );
        let all = list(KvListQuery::All, false, None);
        assert_eq!(call(&mut sim, &a, all), Ok(entries(&pairs)));
        let rev = list(KvListQuery::All, true, Some(2));
        assert_eq!(
            call(&mut sim, &a, rev),
            Ok(entries(&[("c", "4"), ("ba", "3")]))
        );
        let incl = list(range("b", "c", false), false, None);
        assert_eq!(
            call(&mut sim, &a, incl),
            Ok(entries(&[("b", "2"), ("ba", "3"), ("c", "4")]))
        );
        let excl = list(range("b", "c", true), false, None);
        assert_eq!(
            call(&mut sim, &a, excl),
            Ok(entries(&[("b", "2"), ("ba", "3")]))
        );
        let pre = list(prefix("b"), true, None);
        assert_eq!(
            call(&mut sim, &a, pre),
            Ok(entries(&[("ba", "3"), ("b", "2")]))
        );
        let del = KvRequestData::Delete(KvDeleteRequest { keys: vec![b("a")] });
        assert_eq!(call(&mut sim, &a, del), Ok(KvResponse::Done));
        assert_eq!(
            call(&mut sim, &a, get(&["a"])),
            Ok(KvResponse::Values(vec![None]))
        );
        let range_delete = KvRequestData::DeleteRange(KvDeleteRangeRequest {
            start: b("b"),
            end: b("c"),
        });
        if version.has_kv_delete_range() {
            assert_eq!(call(&mut sim, &a, range_delete), Ok(KvResponse::Done));
            let store = sim.engine().kv_store(&a.actor_id).unwrap();
            assert_eq!(store.pairs(), [(b("c"), b("4"))], "[b, c) deleted");
        } else {
            assert_eq!(
                sim.kv(&a, range_delete),
                Err(CallError::Unsupported {
                    what: "KV delete-range",
                    needs: 7,
                    speaking: version.number()
                })
            );
        }
        assert_eq!(
            call(&mut sim, &a, KvRequestData::Drop),
            Ok(KvResponse::Done)
        );
        assert!(sim.engine().kv_store(&a.actor_id).unwrap().is_empty());
        // The drop went out with this version's tag (4 before v7, 5 on v7);
        // it is void, so the tag is the frame's last byte.
        let drop_frame = sim
            .transcript()
            .transmits()
            .into_iter()
            .filter_map(|(_, _, t)| match t {
                runner_core::Transmit::Frame(bytes) => Some(bytes),
                _ => None,
            })
            .rfind(|bytes| {
                let msg = runner_core::protocol::decode_to_server(version, bytes).unwrap();
                matches!(msg, ToServer::KvRequest(r) if r.data == KvRequestData::Drop)
            })
            .expect("a drop was sent");
        let tag = if version.has_kv_delete_range() { 5 } else { 4 };
        assert_eq!(drop_frame.last(), Some(&tag), "{version}");
    }
}

#[test]
fn results_come_back_in_call_order_and_see_earlier_writes() {
    let (mut sim, a) = connected(ProtocolVersion::V5, 201);
    let ids: Vec<_> = (0..20)
        .map(|i| {
            let v = i.to_string();
            let data = if i % 2 == 0 {
                put(&[("k", v.as_str())])
            } else {
                get(&["k"])
            };
            sim.kv(&a, data).unwrap()
        })
        .collect();
    sim.run_for(Duration::from_secs(2));
    let order: Vec<_> = sim
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::KvResult { id, result } => Some((id, result)),
            _ => None,
        })
        .collect();
    assert_eq!(order.iter().map(|(id, _)| *id).collect::<Vec<_>>(), ids);
    for (i, (_, result)) in order.iter().enumerate() {
        if i % 2 == 1 {
            let expected = (i - 1).to_string();
            assert_eq!(result, &Ok(KvResponse::Values(vec![Some(b(&expected))])));
        }
    }
}

#[test]
fn unanswered_requests_are_resent_after_a_reconnect_in_their_original_order() {
    let mut config = SimConfig::new(202);
    config.link.min_delay = Duration::from_millis(300);
    config.link.max_delay = Duration::from_millis(300);
    let mut sim = Sim::connected(config);
    let a = sim.start_actor("kv");
    let ids: Vec<_> = ["1", "2", "3"]
        .iter()
        .map(|v| sim.kv(&a, put(&[("k", v)])).unwrap())
        .collect();
    // All three are on the wire: lose them.
    sim.drop_connection();
    let since = sim.mark();
    sim.run_until_connected();
    sim.run_for(Duration::from_secs(2));
    let resent: Vec<u32> = sim
        .sent_since(since)
        .iter()
        .filter_map(|(_, _, m)| match m {
            ToServer::KvRequest(r) => Some(r.request_id),
            _ => None,
        })
        .collect();
    assert_eq!(resent, [0, 1, 2], "original wire ids, original order");
    for id in ids {
        assert_eq!(sim.kv_result(id), Some(&Ok(KvResponse::Done)));
    }
    let store = sim.engine().kv_store(&a.actor_id).unwrap();
    assert_eq!(store.get(b"k"), Some(&b("3")), "the last write wins");
}

/// Runs `sim` until its next KV result, and checks that it is `id`'s, timed
/// out at `at`.
#[track_caller]
fn next_result_times_out(sim: &mut Sim, id: KvRequestId, at: Timestamp) {
    let since = sim.mark();
    let (when, event) = sim
        .run_until_event(since, |e| matches!(e, Event::KvResult { .. }))
        .unwrap();
    assert_eq!(when, at);
    assert_eq!(
        event,
        Event::KvResult {
            id,
            result: Err(KvError::TimedOut)
        }
    );
}

#[test]
fn a_request_without_an_answer_times_out_after_30_s() {
    let mut config = SimConfig::new(203);
    config.engine.answer_kv = false;
    let mut sim = Sim::connected(config);
    let a = sim.start_actor("kv");
    let issued = sim.now();
    let id = sim.kv(&a, get(&["k"])).unwrap();
    next_result_times_out(&mut sim, id, issued + Duration::from_secs(30));
}

#[test]
fn a_request_made_while_disconnected_waits_and_times_out_too() {
    let mut sim = Sim::connected(SimConfig::new(204));
    let a = sim.start_actor("kv");
    sim.link().reachable = false;
    sim.drop_connection();
    sim.run_for(Duration::from_secs(1));
    let id = sim.kv(&a, get(&["k"])).unwrap();
    sim.run_for(Duration::from_secs(10));
    assert_eq!(sim.kv_result(id), None, "waits for a connection");
    sim.run_for(Duration::from_secs(20));
    // Runner-lost (15 s) came first and failed it.
    assert_eq!(sim.kv_result(id), Some(&Err(KvError::RunnerLost)));
}

#[test]
fn shutdown_fails_pending_requests() {
    let mut config = SimConfig::new(205);
    config.engine.answer_kv = false;
    let mut sim = Sim::connected(config);
    let a = sim.start_actor("kv");
    let id = sim.kv(&a, get(&["k"])).unwrap();
    sim.shutdown(ShutdownMode::Immediate);
    assert_eq!(sim.kv_result(id), Some(&Err(KvError::Shutdown)));
    assert_eq!(sim.kv(&a, get(&["k"])), Err(CallError::Shutdown));
}

#[test]
fn engine_validation_errors_come_back_as_engine_errors() {
    let (mut sim, a) = connected(ProtocolVersion::V5, 206);
    let many: Vec<String> = (0..129).map(|i| format!("k{i}")).collect();
    let keys: Vec<&str> = many.iter().map(String::as_str).collect();
    let result = call(&mut sim, &a, get(&keys));
    assert!(matches!(result, Err(KvError::Engine(m)) if m.contains("128")));
    let big = "x".repeat(128 * 1024 + 1);
    let result = call(&mut sim, &a, put(&[("k", big.as_str())]));
    assert!(matches!(result, Err(KvError::Engine(m)) if m.contains("too large")));
}

#[test]
fn kv_for_an_actor_the_engine_moved_on_from_fails_with_the_engine_error() {
    let mut config = SimConfig::new(207);
    config.user.on_stop = tests::sim::Callback::After(Duration::from_secs(10));
    let mut sim = Sim::connected(config);
    let a = sim.start_actor("kv");
    sim.engine_do(|e, now| e.stop_actor(now, &a.actor_id));
    sim.run_for(Duration::from_secs(1));
    // Still stopping on the runner: KV works (e.g. to persist state).
    assert_eq!(call(&mut sim, &a, put(&[("k", "v")])), Ok(KvResponse::Done));
}

/// The KV requests the runner sent, in order, as (time, data).
fn kv_frames(sim: &Sim) -> Vec<(runner_core::Timestamp, KvRequestData)> {
    sim.sent()
        .into_iter()
        .filter_map(|(at, _, m)| match m {
            ToServer::KvRequest(r) => Some((at, r.data)),
            _ => None,
        })
        .collect()
}

fn kv_results(sim: &Sim) -> Vec<(KvRequestId, Result<KvResponse, KvError>)> {
    sim.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::KvResult { id, result } => Some((id, result)),
            _ => None,
        })
        .collect()
}

fn limited(seed: u64, max_pending_kv: usize, answer: bool) -> (Sim, ActorRef) {
    let mut config = SimConfig::new(seed);
    config.engine.answer_kv = answer;
    config.runner.limits.max_pending_kv = max_pending_kv;
    let mut sim = Sim::connected(config);
    let actor = sim.start_actor("kv");
    (sim, actor)
}

#[test]
fn calls_past_the_pending_limit_wait_and_go_out_in_call_order() {
    let (mut sim, a) = limited(208, 3, true);
    let calls: Vec<_> = (0..12)
        .map(|i| {
            let v = i.to_string();
            if i % 2 == 0 {
                put(&[("k", v.as_str())])
            } else {
                get(&["k"])
            }
        })
        .collect();
    let ids: Vec<_> = calls
        .iter()
        .map(|c| sim.kv(&a, c.clone()).unwrap())
        .collect();
    assert_eq!(sim.runner().queued_kv_count(), 9, "three out, nine waiting");
    assert_eq!(kv_frames(&sim).len(), 3);
    sim.run_for(Duration::from_secs(5));
    let sent: Vec<_> = kv_frames(&sim).into_iter().map(|(_, d)| d).collect();
    assert_eq!(sent, calls, "every call sent once, in call order");
    let results = kv_results(&sim);
    assert_eq!(results.iter().map(|(id, _)| *id).collect::<Vec<_>>(), ids);
    for (i, (_, result)) in results.iter().enumerate() {
        let expected = if i % 2 == 1 {
            KvResponse::Values(vec![Some(b(&(i - 1).to_string()))])
        } else {
            KvResponse::Done
        };
        assert_eq!(result, &Ok(expected), "call {i} saw the writes before it");
    }
    // The simulation's checker held "at most three out" after every input.
    assert_eq!(sim.runner().pending_kv_count(), 0);
}

#[test]
fn a_queued_call_times_out_30_s_after_the_call_not_after_it_was_sent() {
    let (mut sim, a) = limited(209, 1, false);
    let first_at = sim.now();
    let first = sim.kv(&a, get(&["k"])).unwrap();
    sim.run_for(Duration::from_secs(10));
    let queued_at = sim.now();
    let queued = sim.kv(&a, get(&["k"])).unwrap();
    assert_eq!(kv_frames(&sim).len(), 1, "the second waits for a slot");
    next_result_times_out(&mut sim, first, first_at + Duration::from_secs(30));
    // The first's slot went to the second, 20 s after its call...
    let frames = kv_frames(&sim);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1].0, first_at + Duration::from_secs(30));
    // ...whose 30 s still count from its call.
    next_result_times_out(&mut sim, queued, queued_at + Duration::from_secs(30));
}

#[test]
fn a_call_that_waits_in_the_queue_past_its_timeout_is_never_sent() {
    let (mut sim, a) = limited(210, 1, false);
    sim.kv(&a, get(&["first"])).unwrap();
    let late = sim.kv(&a, get(&["late"])).unwrap();
    // Both time out together; the second never had a slot.
    sim.run_for(Duration::from_secs(31));
    assert_eq!(sim.kv_result(late), Some(&Err(KvError::TimedOut)));
    let sent: Vec<_> = kv_frames(&sim).into_iter().map(|(_, d)| d).collect();
    assert_eq!(sent, [get(&["first"])]);
}

#[test]
fn a_call_cancelled_before_it_was_sent_is_never_sent() {
    let (mut sim, a) = limited(211, 1, true);
    let first = sim.kv(&a, put(&[("k", "first")])).unwrap();
    let abandoned = sim.kv(&a, put(&[("k", "abandoned")])).unwrap();
    let last = sim.kv(&a, put(&[("k", "last")])).unwrap();
    assert!(sim.cancel_kv(abandoned), "queued: cancelled");
    assert_eq!(sim.runner().pending_kv_count(), 2);
    sim.run_for(Duration::from_secs(5));
    let sent: Vec<_> = kv_frames(&sim).into_iter().map(|(_, d)| d).collect();
    assert_eq!(sent, [put(&[("k", "first")]), put(&[("k", "last")])]);
    let ids: Vec<_> = kv_results(&sim).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, [first, last], "no result for the cancelled call");
    assert!(!sim.cancel_kv(last), "ended calls cannot be cancelled");
    let store = sim.engine().kv_store(&a.actor_id).unwrap();
    assert_eq!(store.get(b"k"), Some(&b("last")));
}

#[test]
fn a_call_made_while_disconnected_and_cancelled_is_not_sent_after_the_reconnect() {
    let mut sim = Sim::connected(SimConfig::new(212));
    let a = sim.start_actor("kv");
    sim.link().reachable = false;
    sim.drop_connection();
    sim.run_for(Duration::from_secs(1));
    let abandoned = sim.kv(&a, put(&[("k", "abandoned")])).unwrap();
    let kept = sim.kv(&a, put(&[("k", "kept")])).unwrap();
    assert!(sim.cancel_kv(abandoned));
    sim.link().reachable = true;
    sim.run_until_connected();
    sim.run_for(Duration::from_secs(2));
    let sent: Vec<_> = kv_frames(&sim).into_iter().map(|(_, d)| d).collect();
    assert_eq!(sent, [put(&[("k", "kept")])]);
    assert_eq!(sim.kv_result(kept), Some(&Ok(KvResponse::Done)));
    assert_eq!(sim.kv_result(abandoned), None);
}

#[test]
fn cancelling_a_call_on_the_wire_drops_its_answer_and_holds_its_slot_until_then() {
    let mut config = SimConfig::new(213);
    config.runner.limits.max_pending_kv = 1;
    config.link.min_delay = Duration::from_millis(300);
    config.link.max_delay = Duration::from_millis(300);
    let mut sim = Sim::connected(config);
    let a = sim.start_actor("kv");
    let sent = sim.kv(&a, put(&[("k", "sent")])).unwrap();
    let next = sim.kv(&a, get(&["k"])).unwrap();
    assert!(
        sim.cancel_kv(sent),
        "on the wire: cancelled, its answer will be dropped"
    );
    assert!(!sim.cancel_kv(sent), "once");
    sim.run_for(Duration::from_millis(500));
    assert_eq!(
        kv_frames(&sim).len(),
        1,
        "the engine is still on it: no slot yet"
    );
    sim.run_for(Duration::from_secs(2));
    let ids: Vec<_> = kv_results(&sim).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, [next], "no result for the cancelled call");
    // It was sent, so it landed: the next call sees it.
    let value = KvResponse::Values(vec![Some(b("sent"))]);
    assert_eq!(sim.kv_result(next), Some(&Ok(value)));
}

#[test]
fn the_queue_limit_refuses_new_calls() {
    let mut config = SimConfig::new(214);
    config.engine.answer_kv = false;
    config.runner.limits.max_pending_kv = 3;
    config.runner.limits.max_queued_kv = 2;
    let mut sim = Sim::connected(config);
    let a = sim.start_actor("kv");
    for _ in 0..5 {
        sim.kv(&a, get(&["k"])).unwrap();
    }
    assert_eq!(
        sim.kv(&a, get(&["k"])),
        Err(CallError::KvQueueFull { limit: 2 })
    );
    assert_eq!(sim.runner().pending_kv_count(), 5);
}
