//! The core's metrics: a scenario driven through `runner_core::testing`,
//! then every counter and gauge it touched checked for its exact value.

use std::time::Duration;

use bytes::Bytes;
use runner_core::protocol::{
    ActorCheckpoint, Command, CommandWrapper, KvErrorResponse, KvPutRequest, KvRequestData,
    KvResponseData, ProtocolVersion, ToClient, ToClientKvResponse, ToClientPing, ToServer,
    encode_to_client,
};
use runner_core::{
    ConnectionState, HttpResponse, ShutdownMode, Timestamp, TransportClose, testing,
};

fn ms(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn frame(msg: &ToClient) -> Vec<u8> {
    encode_to_client(ProtocolVersion::V5, msg).expect("encodes")
}

fn put() -> KvRequestData {
    KvRequestData::Put(KvPutRequest {
        keys: vec![Bytes::from_static(b"k")],
        values: vec![Bytes::from_static(b"v")],
    })
}

/// The wire ids of the KV requests among what the runner sent.
fn kv_wire_ids(sent: &[ToServer]) -> Vec<u32> {
    sent.iter()
        .filter_map(|msg| match msg {
            ToServer::KvRequest(request) => Some(request.request_id),
            _ => None,
        })
        .collect()
}

#[test]
fn a_scenario_is_counted_exactly() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = testing::config();
    config.timeouts.kv_request = Duration::from_secs(1);
    let (mut runner, conn) = testing::connected(config)?;
    let a = testing::started_actor(&mut runner, conn, "A")?;
    let b = testing::started_actor(&mut runner, conn, "B")?;
    testing::drain(&mut runner);

    // Two pings answered.
    for ts in [1, 2] {
        runner.handle_frame(ms(100), conn, &frame(&ToClient::Ping(ToClientPing { ts })));
    }

    // HTTP: one 200, one 404, one 503 from the user, one aborted by the user.
    let mut keys = Vec::new();
    for id in 1..=4 {
        keys.push(testing::http_request(
            &mut runner,
            conn,
            id,
            testing::get("A", "/x"),
        )?);
    }
    assert_eq!(runner.metrics().http_open, 4);
    runner.respond(ms(100), keys[0], HttpResponse::new(200))?;
    runner.respond(ms(100), keys[1], HttpResponse::new(404))?;
    runner.respond(ms(100), keys[2], HttpResponse::new(503))?;
    runner.abort_request(ms(100), keys[3])?;
    // A response over the tunnel limit goes out as a 500 and is counted as a refusal.
    let big = testing::http_request(&mut runner, conn, 5, testing::get("A", "/big"))?;
    let limit = runner.config().limits.max_tunnel_payload;
    runner.respond(
        ms(100),
        big,
        HttpResponse::new(200).body(vec![0u8; limit + 1]),
    )?;

    // WebSockets: one plain and one hibernatable accepted, one still offered.
    let plain = testing::websocket(&mut runner, conn, 10, "B", "/ws")?;
    let hibernatable = testing::websocket(&mut runner, conn, 11, "B", "/hws")?;
    testing::websocket(&mut runner, conn, 12, "B", "/ws")?;
    runner.websocket_accept(ms(100), plain, false)?;
    runner.websocket_accept(ms(100), hibernatable, true)?;
    let too_big = Bytes::from(vec![0u8; limit + 1]);
    assert!(
        runner
            .websocket_send(ms(100), plain, too_big, true)
            .is_err()
    );
    testing::drain(&mut runner);

    // KV: two puts answered after 30 ms and 2 s (one ok, one error), one
    // cancelled, one that times out.
    let first = runner.kv(ms(1_000), &a, put())?;
    let second = runner.kv(ms(1_000), &a, put())?;
    let cancelled = runner.kv(ms(1_000), &a, KvRequestData::Drop)?;
    let wire = kv_wire_ids(&testing::sent(&mut runner)?);
    assert_eq!(wire.len(), 3);
    assert!(runner.cancel_kv(ms(1_000), cancelled));
    assert_eq!(runner.metrics().kv_pending, 2);
    let answer = |request_id, data| {
        frame(&ToClient::KvResponse(ToClientKvResponse {
            request_id,
            data,
        }))
    };
    runner.handle_frame(ms(1_030), conn, &answer(wire[0], KvResponseData::Put));
    let error = KvResponseData::Error(KvErrorResponse {
        message: "no".into(),
    });
    runner.handle_frame(ms(3_000), conn, &answer(wire[1], error));
    let _ = (first, second);
    let timing_out = runner.kv(ms(3_000), &b, KvRequestData::Drop)?;
    let kv_timeout = runner.config().timeouts.kv_request;
    runner.handle_timeout(ms(3_000) + kv_timeout);
    let _ = timing_out;

    // Actors: A crashes and stops; B is stopped by the engine later (shutdown).
    runner.crash_actor(ms(4_500), &a, "boom")?;
    runner.actor_stopped(ms(4_500), &a)?;
    testing::drain(&mut runner);

    let m = runner.metrics();
    assert_eq!(m.connection_state, ConnectionState::Connected);
    assert!(!m.shutting_down);
    assert_eq!((m.connect_attempts_total, m.connections_total), (1, 1));
    assert_eq!(m.disconnects.total(), 0);
    assert_eq!(m.engine_pings_total, 2);
    assert_eq!(m.last_engine_contact, Some(ms(3_000)), "the last KV answer");
    assert_eq!(m.engine_contact_age(), Some(Duration::from_millis(1_500)));
    assert_eq!((m.actors, m.actor_starts_total), (1, 2));
    assert_eq!((m.actor_stops.crashed, m.actor_stops.total()), (1, 1));
    assert_eq!(m.actor_starts_refused_total, 0);
    assert_eq!(
        (m.kv_calls.put, m.kv_calls.drop, m.kv_calls.total()),
        (2, 2, 4)
    );
    let o = m.kv_outcomes;
    assert_eq!((o.ok, o.error, o.timed_out, o.aborted), (1, 1, 1, 0));
    assert_eq!(m.kv_cancelled_total, 1);
    assert_eq!((m.kv_pending, m.kv_queued), (0, 0));
    // 30 ms falls in the (25 ms, 50 ms] bucket, 2 s in (1 s, 2.5 s].
    let mut expected = vec![0; m.kv_latency.bounds().len() + 1];
    expected[5] = 1;
    expected[10] = 1;
    assert_eq!(m.kv_latency.counts(), expected.as_slice());
    assert!((m.kv_latency.sum_seconds() - 2.03).abs() < 1e-9);
    assert_eq!(m.http_requests_total, 5);
    let h = m.http_outcomes;
    assert_eq!(
        (h.success, h.client_error, h.server_error, h.aborted),
        (1, 1, 2, 1)
    );
    assert_eq!(m.http_open, 0);
    assert_eq!(m.websockets_opened_total, 2);
    assert_eq!((m.websockets_open, m.websockets_hibernatable), (2, 1));
    let p = m.payload_refusals;
    assert_eq!((p.response_body, p.websocket_message, p.total()), (1, 1, 2));
    Ok(())
}

/// Runs timers until the runner makes a new connection attempt.
fn next_attempt(runner: &mut runner_core::Runner) -> runner_core::ConnId {
    loop {
        while let Some(transmit) = runner.poll_transmit() {
            if let runner_core::Transmit::Connect { conn, .. } = transmit {
                return conn;
            }
        }
        let at = runner.poll_timeout().expect("a timer");
        runner.handle_timeout(at);
    }
}

#[test]
fn lost_connections_are_counted_by_reason() -> Result<(), Box<dyn std::error::Error>> {
    let (mut runner, conn) = testing::connected(testing::config())?;
    runner.handle_closed(ms(10), conn, TransportClose::frame(1001, "going away"));
    assert_eq!(runner.metrics().connection_state, ConnectionState::Backoff);
    let conn = next_attempt(&mut runner);
    assert_eq!(
        runner.metrics().connection_state,
        ConnectionState::Connecting
    );
    runner.handle_closed(ms(5_000), conn, TransportClose::error("refused"));
    let conn = next_attempt(&mut runner);
    runner.handle_connected(ms(10_000), conn);
    runner.handle_frame(ms(10_000), conn, b"\xff"); // does not decode
    let conn = next_attempt(&mut runner);
    runner.handle_connected(ms(20_000), conn);
    let init = runner.config().timeouts.init;
    runner.handle_timeout(ms(20_000) + init); // no ToClientInit in time

    let m = runner.metrics();
    let d = m.disconnects;
    assert_eq!(
        (
            d.closed,
            d.transport_error,
            d.protocol_error,
            d.handshake_timeout,
            d.liveness_timeout
        ),
        (1, 1, 1, 1, 0)
    );
    assert_eq!((m.connect_attempts_total, m.connections_total), (4, 1));

    runner.shutdown(ms(60_000), ShutdownMode::Immediate);
    let m = runner.metrics();
    assert!(m.shutting_down);
    assert_eq!(m.connection_state, ConnectionState::Closed);
    assert_eq!(m.disconnects.total(), 4, "a shutdown's close is not a loss");
    Ok(())
}

#[test]
fn stops_by_reason_and_refused_starts() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = testing::config();
    config.limits.max_actors = 1;
    let (mut runner, conn) = testing::connected(config)?;
    let a = testing::started_actor(&mut runner, conn, "A")?;
    testing::start_actor(&mut runner, conn, "B")?; // over capacity: refused
    runner.sleep_actor(ms(0), &a)?;
    let stop = ToClient::Commands(vec![CommandWrapper {
        checkpoint: ActorCheckpoint {
            actor_id: "A".into(),
            generation: 0,
            index: 1,
        },
        inner: Command::StopActor,
    }]);
    testing::feed(&mut runner, conn, &stop)?;
    let m = runner.metrics();
    assert_eq!(m.actor_starts_total, 1);
    assert_eq!(m.actor_starts_refused_total, 1);
    assert_eq!((m.actor_stops.engine, m.actor_stops.total()), (1, 1));
    assert_eq!(m.actors, 1, "stopping until the user confirms");
    Ok(())
}
