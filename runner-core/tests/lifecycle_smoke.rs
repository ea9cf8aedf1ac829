//! A first walk through the runner's main path, speaking raw protocol.

use bytes::Bytes;
use runner_core::protocol::{self as p, *};
use runner_core::{
    ActorRef, Config, ConnId, Event, KvResponse, Runner, ShutdownMode, StopReason, Timestamp,
    Transmit,
};

const V: ProtocolVersion = ProtocolVersion::V5;

fn frames(r: &mut Runner) -> Vec<ToServer> {
    let mut out = vec![];
    while let Some(t) = r.poll_transmit() {
        if let Transmit::Frame(b) = t {
            out.push(decode_to_server(V, &b).unwrap());
        }
    }
    out
}

fn events(r: &mut Runner) -> Vec<Event> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

fn feed(r: &mut Runner, now: u64, conn: ConnId, msg: ToClient) {
    let bytes = encode_to_client(V, &msg).unwrap();
    r.handle_frame(Timestamp::from_millis(now), conn, &bytes);
}

#[test]
fn connect_start_kv_stop() {
    let mut r = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO).unwrap();
    r.start(Timestamp::ZERO);
    let Some(Transmit::Connect { conn, .. }) = r.poll_transmit() else {
        panic!()
    };
    r.handle_connected(Timestamp::from_millis(5), conn);
    assert!(matches!(frames(&mut r)[..], [ToServer::Init(_)]));
    feed(
        &mut r,
        6,
        conn,
        ToClient::Init(ToClientInit {
            runner_id: "R".into(),
            metadata: ProtocolMetadata {
                runner_lost_threshold: 15000,
                actor_stop_threshold: None,
                serverless_drain_grace_period: None,
            },
        }),
    );
    assert!(matches!(events(&mut r)[..], [Event::Connected { .. }]));

    let cp = |index| ActorCheckpoint {
        actor_id: "A".into(),
        generation: 0,
        index,
    };
    let start = CommandWrapper {
        checkpoint: cp(0),
        inner: Command::StartActor(CommandStartActor {
            config: ActorConfig {
                name: "n".into(),
                key: None,
                create_ts: 0,
                input: None,
            },
            hibernating_requests: vec![],
        }),
    };
    feed(&mut r, 7, conn, ToClient::Commands(vec![start.clone()]));
    let out = frames(&mut r);
    assert!(matches!(&out[0], ToServer::Events(e) if e.len() == 1 && e[0].checkpoint.index == 0));
    assert!(
        matches!(&out[1], ToServer::AckCommands(a) if a.last_command_checkpoints == vec![cp(0)])
    );
    let actor = ActorRef::new("A", 0);
    assert!(matches!(&events(&mut r)[..], [Event::ActorStart { actor: a, .. }] if *a == actor));

    // A replay of the same start is acknowledged, not run again.
    feed(&mut r, 8, conn, ToClient::Commands(vec![start]));
    assert!(events(&mut r).is_empty());
    assert!(matches!(&frames(&mut r)[..], [ToServer::AckCommands(_)]));

    r.actor_started(Timestamp::from_millis(9), &actor, Ok(()))
        .unwrap();
    let id = r
        .kv(
            Timestamp::from_millis(10),
            &actor,
            KvRequestData::Get(KvGetRequest {
                keys: vec![Bytes::from_static(b"k")],
            }),
        )
        .unwrap();
    let request_id = match &frames(&mut r)[..] {
        [ToServer::KvRequest(kv)] => kv.request_id,
        other => panic!("{other:?}"),
    };
    feed(
        &mut r,
        11,
        conn,
        ToClient::KvResponse(ToClientKvResponse {
            request_id,
            data: KvResponseData::Get(KvGetResponse {
                keys: vec![],
                values: vec![],
                metadata: vec![],
            }),
        }),
    );
    assert_eq!(
        events(&mut r),
        vec![Event::KvResult {
            id,
            result: Ok(KvResponse::Values(vec![None]))
        }]
    );

    feed(
        &mut r,
        12,
        conn,
        ToClient::Commands(vec![CommandWrapper {
            checkpoint: cp(1),
            inner: Command::StopActor,
        }]),
    );
    assert!(matches!(
        &events(&mut r)[..],
        [Event::ActorStop {
            reason: StopReason::Engine,
            ..
        }]
    ));
    frames(&mut r);
    r.actor_stopped(Timestamp::from_millis(13), &actor).unwrap();
    match &frames(&mut r)[..] {
        [ToServer::Events(e)] => {
            assert_eq!(e[0].checkpoint.index, 1);
            assert!(
                matches!(&e[0].inner, p::Event::StateUpdate(EventActorStateUpdate { state: ActorState::Stopped(s) }) if s.code == StopCode::Ok)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.actor_count(), 0);

    r.shutdown(Timestamp::from_millis(14), ShutdownMode::Graceful);
    let Some(Transmit::Frame(stopping)) = r.poll_transmit() else {
        panic!()
    };
    assert_eq!(decode_to_server(V, &stopping).unwrap(), ToServer::Stopping);
    assert_eq!(
        r.poll_transmit(),
        Some(Transmit::Close {
            conn,
            code: 1000,
            reason: "pegboard.runner_shutdown".into()
        })
    );
    r.handle_closed(
        Timestamp::from_millis(15),
        conn,
        runner_core::TransportClose::frame(1000, "ws.closed"),
    );
    assert!(matches!(
        &events(&mut r)[..],
        [Event::Disconnected { .. }, Event::ShutdownComplete { .. }]
    ));
    assert!(r.is_shut_down());
}
