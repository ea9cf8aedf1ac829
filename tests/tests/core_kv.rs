//! Scenarios of KV calls: every operation against the simulated engine's
//! store, ordering, resend after a reconnect, expiry, shutdown, and engine
//! validation errors.

use std::time::Duration;

use bytes::Bytes;
use runner_core::protocol::{
    KvDeleteRangeRequest, KvDeleteRequest, KvGetRequest, KvListPrefixQuery, KvListQuery,
    KvListRangeQuery, KvListRequest, KvPutRequest, KvRequestData, ProtocolVersion, ToServer,
};
use runner_core::{ActorRef, CallError, Event, KvError, KvResponse, ShutdownMode};
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

#[test]
fn a_request_without_an_answer_times_out_after_30_s() {
    let mut config = SimConfig::new(203);
    config.engine.answer_kv = false;
    let mut sim = Sim::connected(config);
    let a = sim.start_actor("kv");
    let issued = sim.now();
    let id = sim.kv(&a, get(&["k"])).unwrap();
    let since = sim.mark();
    let (at, event) = sim
        .run_until_event(since, |e| matches!(e, Event::KvResult { .. }))
        .unwrap();
    assert_eq!(at, issued + Duration::from_secs(30));
    assert_eq!(
        event,
        Event::KvResult {
            id,
            result: Err(KvError::TimedOut)
        }
    );
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

#[test]
fn the_pending_limit_refuses_new_calls() {
    let mut config = SimConfig::new(208);
    config.engine.answer_kv = false;
    config.runner.limits.max_pending_kv = 3;
    let mut sim = Sim::connected(config);
    let a = sim.start_actor("kv");
    for _ in 0..3 {
        sim.kv(&a, get(&["k"])).unwrap();
    }
    assert_eq!(
        sim.kv(&a, get(&["k"])),
        Err(CallError::TooManyPendingKv { limit: 3 })
    );
}
