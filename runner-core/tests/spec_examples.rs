//! The byte examples of the behaviour spec (§1.8), produced with the official
//! v5 codec: each decodes to the value shown and re-encodes to the same bytes.

use bytes::Bytes;
use runner_core::protocol::*;

const V5: ProtocolVersion = ProtocolVersion::V5;

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

fn to_server(msg: ToServer, bytes: &str) {
    let bytes = hex(bytes);
    assert_eq!(encode_to_server(V5, &msg).unwrap(), bytes, "{msg:?}");
    assert_eq!(decode_to_server(V5, &bytes).unwrap(), msg);
}

fn to_client(msg: ToClient, bytes: &str) {
    let bytes = hex(bytes);
    assert_eq!(encode_to_client(V5, &msg).unwrap(), bytes, "{msg:?}");
    assert_eq!(decode_to_client(V5, &bytes).unwrap(), msg);
}

fn cp(generation: u32, index: i64) -> ActorCheckpoint {
    ActorCheckpoint {
        actor_id: "A".into(),
        generation,
        index,
    }
}

fn mid(index: u16) -> MessageId {
    MessageId {
        gateway_id: GatewayId([1, 2, 3, 4]),
        request_id: RequestId([5, 6, 7, 8]),
        message_index: index,
    }
}

fn event(generation: u32, index: i64, inner: Event) -> ToServer {
    ToServer::Events(vec![EventWrapper {
        checkpoint: cp(generation, index),
        inner,
    }])
}

#[test]
fn to_server_examples() {
    to_server(
        ToServer::Pong(ToServerPong { ts: 1 }),
        "04 01 00 00 00 00 00 00 00",
    );
    to_server(ToServer::Stopping, "03");
    to_server(
        ToServer::Init(ToServerInit {
            name: "r".into(),
            version: 1,
            total_slots: 1000,
            prepopulate_actor_names: Some(
                [(
                    "a",
                    ActorName {
                        metadata: "{}".into(),
                    },
                )]
                .into_iter()
                .collect(),
            ),
            metadata: Some("{}".into()),
        }),
        "00 01 72 01 00 00 00 e8 03 00 00 01 01 01 61 02 7b 7d 01 02 7b 7d",
    );
    to_server(
        event(
            0,
            0,
            Event::StateUpdate(EventActorStateUpdate {
                state: ActorState::Running,
            }),
        ),
        "01 01 01 41 00 00 00 00 00 00 00 00 00 00 00 00 01 00",
    );
    to_server(
        event(
            1,
            2,
            Event::StateUpdate(EventActorStateUpdate {
                state: ActorState::Stopped(ActorStateStopped {
                    code: StopCode::Error,
                    message: Some("x".into()),
                }),
            }),
        ),
        "01 01 01 41 01 00 00 00 02 00 00 00 00 00 00 00 01 01 01 01 01 78",
    );
    to_server(
        event(
            0,
            3,
            Event::SetAlarm(EventActorSetAlarm { alarm_ts: Some(5) }),
        ),
        "01 01 01 41 00 00 00 00 03 00 00 00 00 00 00 00 02 01 05 00 00 00 00 00 00 00",
    );
    to_server(
        ToServer::KvRequest(ToServerKvRequest {
            actor_id: "A".into(),
            request_id: 7,
            data: KvRequestData::List(KvListRequest {
                query: KvListQuery::Prefix(KvListPrefixQuery {
                    key: Bytes::from_static(b"k"),
                }),
                reverse: Some(true),
                limit: Some(2),
            }),
        }),
        "05 01 41 07 00 00 00 01 02 01 6b 01 01 01 02 00 00 00 00 00 00 00",
    );
    to_server(
        ToServer::KvRequest(ToServerKvRequest {
            actor_id: "A".into(),
            request_id: 7,
            data: KvRequestData::Drop,
        }),
        "05 01 41 07 00 00 00 04",
    );
    to_server(
        ToServer::TunnelMessage(ToServerTunnelMessage {
            message_id: mid(1),
            message_kind: ToServerTunnelMessageKind::ResponseStart(ToServerResponseStart {
                status: 200,
                headers: [("a", "b".to_string())].into_iter().collect(),
                body: Some(Bytes::from_static(b"hi")),
                stream: false,
            }),
        }),
        "06 01 02 03 04 05 06 07 08 01 00 00 c8 00 01 01 61 01 62 01 02 68 69 00",
    );
    to_server(
        ToServer::TunnelMessage(ToServerTunnelMessage {
            message_id: mid(3),
            message_kind: ToServerTunnelMessageKind::WebSocketClose(ToServerWebSocketClose {
                code: Some(1000),
                reason: Some("bye".into()),
                hibernate: false,
            }),
        }),
        "06 01 02 03 04 05 06 07 08 03 00 06 01 e8 03 01 03 62 79 65 00",
    );
}

#[test]
fn to_client_examples() {
    to_client(
        ToClient::Init(ToClientInit {
            runner_id: "R".into(),
            metadata: ProtocolMetadata {
                runner_lost_threshold: 15000,
                actor_stop_threshold: None,
                serverless_drain_grace_period: None,
            },
        }),
        "00 01 52 98 3a 00 00 00 00 00 00",
    );
    to_client(
        ToClient::Commands(vec![CommandWrapper {
            checkpoint: cp(0, 0),
            inner: Command::StartActor(CommandStartActor {
                config: ActorConfig {
                    name: "c".into(),
                    key: Some("k".into()),
                    create_ts: 1,
                    input: None,
                },
                hibernating_requests: vec![HibernatingRequest {
                    gateway_id: GatewayId([1, 2, 3, 4]),
                    request_id: RequestId([5, 6, 7, 8]),
                }],
            }),
        }]),
        "01 01 01 41 00 00 00 00 00 00 00 00 00 00 00 00 00 01 63 01 01 6b 01 00 00 00 00 00 00 00 00 01 01 02 03 04 05 06 07 08",
    );
    to_client(
        ToClient::KvResponse(ToClientKvResponse {
            request_id: 7,
            data: KvResponseData::Get(KvGetResponse {
                keys: vec![Bytes::from_static(b"k")],
                values: vec![Bytes::from_static(b"v")],
                metadata: vec![KvMetadata {
                    version: Bytes::from_static(&[1]),
                    update_ts: 2,
                }],
            }),
        }),
        "03 07 00 00 00 01 01 01 6b 01 01 76 01 01 01 02 00 00 00 00 00 00 00",
    );
    to_client(
        ToClient::TunnelMessage(ToClientTunnelMessage {
            message_id: mid(0),
            message_kind: ToClientTunnelMessageKind::RequestStart(ToClientRequestStart {
                actor_id: "A".into(),
                method: "GET".into(),
                path: "/p".into(),
                headers: [("h", "v".to_string())].into_iter().collect(),
                body: None,
                stream: false,
            }),
        }),
        "04 01 02 03 04 05 06 07 08 00 00 00 01 41 03 47 45 54 02 2f 70 01 01 68 01 76 00 00",
    );
}

#[test]
fn hostile_input_is_rejected_with_a_place() {
    // Bool byte 2 in `stream`.
    let mut bad = hex("04 01 02 03 04 05 06 07 08 00 00 00 01 41 03 47 45 54 02 2f 70 00 00 02");
    let err = decode_to_client(V5, &bad).unwrap_err();
    assert!(matches!(err, DecodeError::Invalid { .. }), "{err}");
    bad[23] = 0;
    bad.push(0);
    assert!(matches!(
        decode_to_client(V5, &bad),
        Err(DecodeError::TrailingBytes { trailing: 1, .. })
    ));
    // A string claiming 2^63 bytes.
    let huge = hex("00 ff ff ff ff ff ff ff ff 7f");
    assert!(matches!(
        decode_to_client(V5, &huge),
        Err(DecodeError::UnexpectedEof { .. })
    ));
    // Unknown top-level tag.
    assert!(matches!(
        decode_to_client(V5, &[9]),
        Err(DecodeError::Invalid { offset: 1, .. })
    ));
    // Invalid UTF-8 in the runner id.
    assert!(decode_to_client(V5, &hex("00 01 ff 98 3a 00 00 00 00 00 00")).is_err());
}

#[test]
fn kv_drop_and_delete_range_move_between_versions() {
    let drop = ToServer::KvRequest(ToServerKvRequest {
        actor_id: "A".into(),
        request_id: 7,
        data: KvRequestData::Drop,
    });
    assert_eq!(
        encode_to_server(ProtocolVersion::V6, &drop).unwrap(),
        hex("05 01 41 07 00 00 00 04")
    );
    assert_eq!(
        encode_to_server(ProtocolVersion::V7, &drop).unwrap(),
        hex("05 01 41 07 00 00 00 05")
    );
    let range = ToServer::KvRequest(ToServerKvRequest {
        actor_id: "A".into(),
        request_id: 7,
        data: KvRequestData::DeleteRange(KvDeleteRangeRequest {
            start: Bytes::from_static(b"a"),
            end: Bytes::from_static(b"b"),
        }),
    });
    assert!(matches!(
        encode_to_server(V5, &range),
        Err(EncodeError::NotInVersion { version: 5, .. })
    ));
    let bytes = encode_to_server(ProtocolVersion::V7, &range).unwrap();
    assert_eq!(bytes, hex("05 01 41 07 00 00 00 04 01 61 01 62"));
    assert_eq!(
        decode_to_server(ProtocolVersion::V7, &bytes).unwrap(),
        range
    );
    // On v5, tag 4 is Drop, which has no payload: the two extra fields are trailing bytes.
    assert!(decode_to_server(V5, &bytes).is_err());
}
