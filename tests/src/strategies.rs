//! Proptest strategies for every runner-protocol type, for property tests,
//! state-machine tests and fuzzing.
//!
//! Every strategy yields values that are valid for the protocol version it is
//! given, so `encode` then `decode` gives the same value back:
//!
//! * `KvRequestData::DeleteRange` only from v7 on;
//! * `ProtocolMetadata::actor_stop_threshold` is `Some` from v6 on and `None`
//!   on v5, and `serverless_drain_grace_period` is `None` on v5 (v5 has neither
//!   field on the wire).
//!
//! Sizes are kept small (short strings, lists of at most a few items, payloads
//! under 64 bytes) so that hundreds of cases run in milliseconds; integers are
//! biased towards their boundaries (0, -1, MIN, MAX) where encodings change.
//!
//! ```
//! use proptest::strategy::{Strategy, ValueTree};
//! use proptest::test_runner::TestRunner;
//! use runner_core::protocol::{decode_to_server, encode_to_server, ProtocolVersion};
//! use tests::strategies::to_server;
//!
//! let mut runner = TestRunner::deterministic();
//! let msg = to_server(ProtocolVersion::V7).new_tree(&mut runner).unwrap().current();
//! let bytes = encode_to_server(ProtocolVersion::V7, &msg).unwrap();
//! assert_eq!(decode_to_server(ProtocolVersion::V7, &bytes).unwrap(), msg);
//! ```

use bytes::Bytes;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use runner_core::protocol::*;

/// Any supported protocol version.
pub fn protocol_version() -> BoxedStrategy<ProtocolVersion> {
    proptest::sample::select(ProtocolVersion::ALL.to_vec()).boxed()
}

/// Short text: ASCII identifiers, or arbitrary Unicode (emoji, CJK, control
/// characters, NUL) to exercise UTF-8 lengths that differ from char counts.
pub fn text() -> BoxedStrategy<String> {
    prop_oneof![
        "[a-zA-Z0-9/_.-]{0,12}",
        "(?s).{0,8}",
        Just(String::new()),
        Just("🦀 聊天 ü".to_string()),
    ]
    .boxed()
}

/// An actor or runner id.
pub fn id() -> BoxedStrategy<Id> {
    prop_oneof!["[0-9a-z]{30}".prop_map(Id::from), text().prop_map(Id::from)].boxed()
}

/// A `data` payload of up to 63 bytes.
pub fn payload() -> BoxedStrategy<Bytes> {
    vec(any::<u8>(), 0..64).prop_map(Bytes::from).boxed()
}

/// A short list of payloads (KV keys or values).
pub fn payloads() -> BoxedStrategy<Vec<Bytes>> {
    vec(payload(), 0..4).boxed()
}

/// An `i64`, often one of 0, -1, 1, `i64::MIN`, `i64::MAX`.
pub fn any_i64() -> BoxedStrategy<i64> {
    prop_oneof![
        1 => proptest::sample::select(vec![0, -1, 1, i64::MIN, i64::MAX]),
        3 => any::<i64>(),
    ]
    .boxed()
}

/// A `u64`, often 0 or `u64::MAX`.
pub fn any_u64() -> BoxedStrategy<u64> {
    prop_oneof![
        1 => proptest::sample::select(vec![0, 1, 127, 128, u64::MAX]),
        3 => any::<u64>(),
    ]
    .boxed()
}

/// A `u32`, often 0 or `u32::MAX`.
pub fn any_u32() -> BoxedStrategy<u32> {
    prop_oneof![
        1 => proptest::sample::select(vec![0, 1, u32::MAX]),
        3 => any::<u32>(),
    ]
    .boxed()
}

/// A `u16`, often 0 or `u16::MAX`.
pub fn any_u16() -> BoxedStrategy<u16> {
    prop_oneof![
        1 => proptest::sample::select(vec![0, 1, u16::MAX]),
        3 => any::<u16>(),
    ]
    .boxed()
}

/// A `map<str><V>` of up to 3 entries with distinct keys, in random order.
pub fn bare_map<V: Clone + std::fmt::Debug + 'static>(
    value: BoxedStrategy<V>,
) -> BoxedStrategy<BareMap<V>> {
    // `collect` keeps the first position of a repeated key, so keys stay distinct.
    vec((text(), value), 0..4)
        .prop_map(|pairs| pairs.into_iter().collect())
        .boxed()
}

/// HTTP-style headers.
pub fn headers() -> BoxedStrategy<BareMap<String>> {
    bare_map(text())
}

// ---------------------------------------------------------------- actors

/// An actor checkpoint.
pub fn actor_checkpoint() -> BoxedStrategy<ActorCheckpoint> {
    (id(), any_u32(), any_i64())
        .prop_map(|(actor_id, generation, index)| ActorCheckpoint {
            actor_id,
            generation,
            index,
        })
        .boxed()
}

/// An actor state.
pub fn actor_state() -> BoxedStrategy<ActorState> {
    let code = prop_oneof![Just(StopCode::Ok), Just(StopCode::Error)];
    prop_oneof![
        Just(ActorState::Running),
        (code, option::of(text()))
            .prop_map(|(code, message)| ActorState::Stopped(ActorStateStopped { code, message })),
    ]
    .boxed()
}

/// Any event.
pub fn event() -> BoxedStrategy<Event> {
    let intent = prop_oneof![Just(ActorIntent::Sleep), Just(ActorIntent::Stop)];
    prop_oneof![
        intent.prop_map(|intent| Event::Intent(EventActorIntent { intent })),
        actor_state().prop_map(|state| Event::StateUpdate(EventActorStateUpdate { state })),
        option::of(any_i64()).prop_map(|alarm_ts| Event::SetAlarm(EventActorSetAlarm { alarm_ts })),
    ]
    .boxed()
}

/// An event with its checkpoint.
pub fn event_wrapper() -> BoxedStrategy<EventWrapper> {
    (actor_checkpoint(), event())
        .prop_map(|(checkpoint, inner)| EventWrapper { checkpoint, inner })
        .boxed()
}

/// A gateway id.
pub fn gateway_id() -> BoxedStrategy<GatewayId> {
    any::<[u8; 4]>().prop_map(GatewayId).boxed()
}

/// A request id.
pub fn request_id() -> BoxedStrategy<RequestId> {
    any::<[u8; 4]>().prop_map(RequestId).boxed()
}

/// A hibernating request.
pub fn hibernating_request() -> BoxedStrategy<HibernatingRequest> {
    (gateway_id(), request_id())
        .prop_map(|(gateway_id, request_id)| HibernatingRequest {
            gateway_id,
            request_id,
        })
        .boxed()
}

/// An actor config.
pub fn actor_config() -> BoxedStrategy<ActorConfig> {
    (text(), option::of(text()), any_i64(), option::of(payload()))
        .prop_map(|(name, key, create_ts, input)| ActorConfig {
            name,
            key,
            create_ts,
            input,
        })
        .boxed()
}

/// Any command.
pub fn command() -> BoxedStrategy<Command> {
    prop_oneof![
        (actor_config(), vec(hibernating_request(), 0..3)).prop_map(
            |(config, hibernating_requests)| {
                Command::StartActor(CommandStartActor {
                    config,
                    hibernating_requests,
                })
            }
        ),
        Just(Command::StopActor),
    ]
    .boxed()
}

/// A command with its checkpoint.
pub fn command_wrapper() -> BoxedStrategy<CommandWrapper> {
    (actor_checkpoint(), command())
        .prop_map(|(checkpoint, inner)| CommandWrapper { checkpoint, inner })
        .boxed()
}

/// Protocol metadata valid for `version` (see the module docs).
pub fn protocol_metadata(version: ProtocolVersion) -> BoxedStrategy<ProtocolMetadata> {
    let v6 = version >= ProtocolVersion::V6;
    (any_i64(), any_i64(), option::of(any_i64()))
        .prop_map(move |(lost, stop, grace)| ProtocolMetadata {
            runner_lost_threshold: lost,
            actor_stop_threshold: v6.then_some(stop),
            serverless_drain_grace_period: grace.filter(|_| v6),
        })
        .boxed()
}

// ---------------------------------------------------------------- kv

/// Any KV list query.
pub fn kv_list_query() -> BoxedStrategy<KvListQuery> {
    prop_oneof![
        Just(KvListQuery::All),
        (payload(), payload(), any::<bool>()).prop_map(|(start, end, exclusive)| {
            KvListQuery::Range(KvListRangeQuery {
                start,
                end,
                exclusive,
            })
        }),
        payload().prop_map(|key| KvListQuery::Prefix(KvListPrefixQuery { key })),
    ]
    .boxed()
}

/// Any KV request valid for `version` (`DeleteRange` only from v7 on).
pub fn kv_request_data(version: ProtocolVersion) -> BoxedStrategy<KvRequestData> {
    let common = prop_oneof![
        payloads().prop_map(|keys| KvRequestData::Get(KvGetRequest { keys })),
        (
            kv_list_query(),
            option::of(any::<bool>()),
            option::of(any_u64())
        )
            .prop_map(
                |(query, reverse, limit)| KvRequestData::List(KvListRequest {
                    query,
                    reverse,
                    limit,
                })
            ),
        (payloads(), payloads())
            .prop_map(|(keys, values)| KvRequestData::Put(KvPutRequest { keys, values })),
        payloads().prop_map(|keys| KvRequestData::Delete(KvDeleteRequest { keys })),
        Just(KvRequestData::Drop),
    ];
    if !version.has_kv_delete_range() {
        return common.boxed();
    }
    let range = (payload(), payload())
        .prop_map(|(start, end)| KvRequestData::DeleteRange(KvDeleteRangeRequest { start, end }));
    prop_oneof![5 => common, 1 => range].boxed()
}

fn kv_metadata() -> BoxedStrategy<KvMetadata> {
    (payload(), any_i64())
        .prop_map(|(version, update_ts)| KvMetadata { version, update_ts })
        .boxed()
}

/// Any KV response.
pub fn kv_response_data() -> BoxedStrategy<KvResponseData> {
    let pairs = || (payloads(), payloads(), vec(kv_metadata(), 0..3));
    prop_oneof![
        text().prop_map(|message| KvResponseData::Error(KvErrorResponse { message })),
        pairs().prop_map(
            |(keys, values, metadata)| KvResponseData::Get(KvGetResponse {
                keys,
                values,
                metadata,
            })
        ),
        pairs().prop_map(
            |(keys, values, metadata)| KvResponseData::List(KvListResponse {
                keys,
                values,
                metadata,
            })
        ),
        Just(KvResponseData::Put),
        Just(KvResponseData::Delete),
        Just(KvResponseData::Drop),
    ]
    .boxed()
}

// ---------------------------------------------------------------- tunnel

/// A tunnel message id.
pub fn message_id() -> BoxedStrategy<MessageId> {
    (gateway_id(), request_id(), any_u16())
        .prop_map(|(gateway_id, request_id, message_index)| MessageId {
            gateway_id,
            request_id,
            message_index,
        })
        .boxed()
}

fn ws_message() -> BoxedStrategy<WebSocketMessage> {
    (payload(), any::<bool>())
        .prop_map(|(data, binary)| WebSocketMessage { data, binary })
        .boxed()
}

/// Any tunnel payload from the runner.
pub fn to_server_tunnel_kind() -> BoxedStrategy<ToServerTunnelMessageKind> {
    use ToServerTunnelMessageKind as K;
    prop_oneof![
        (any_u16(), headers(), option::of(payload()), any::<bool>()).prop_map(
            |(status, headers, body, stream)| K::ResponseStart(ToServerResponseStart {
                status,
                headers,
                body,
                stream,
            })
        ),
        (payload(), any::<bool>())
            .prop_map(|(body, finish)| K::ResponseChunk(ToServerResponseChunk { body, finish })),
        Just(K::ResponseAbort),
        any::<bool>()
            .prop_map(|can_hibernate| K::WebSocketOpen(ToServerWebSocketOpen { can_hibernate })),
        ws_message().prop_map(K::WebSocketMessage),
        any_u16().prop_map(|index| K::WebSocketMessageAck(ToServerWebSocketMessageAck { index })),
        (option::of(any_u16()), option::of(text()), any::<bool>()).prop_map(
            |(code, reason, hibernate)| K::WebSocketClose(ToServerWebSocketClose {
                code,
                reason,
                hibernate,
            })
        ),
    ]
    .boxed()
}

/// Any tunnel payload from the gateway.
pub fn to_client_tunnel_kind() -> BoxedStrategy<ToClientTunnelMessageKind> {
    use ToClientTunnelMessageKind as K;
    prop_oneof![
        (
            id(),
            text(),
            text(),
            headers(),
            option::of(payload()),
            any::<bool>()
        )
            .prop_map(|(actor_id, method, path, headers, body, stream)| {
                K::RequestStart(ToClientRequestStart {
                    actor_id,
                    method,
                    path,
                    headers,
                    body,
                    stream,
                })
            }),
        (payload(), any::<bool>())
            .prop_map(|(body, finish)| K::RequestChunk(ToClientRequestChunk { body, finish })),
        Just(K::RequestAbort),
        (id(), text(), headers()).prop_map(|(actor_id, path, headers)| {
            K::WebSocketOpen(ToClientWebSocketOpen {
                actor_id,
                path,
                headers,
            })
        }),
        ws_message().prop_map(K::WebSocketMessage),
        (option::of(any_u16()), option::of(text()))
            .prop_map(|(code, reason)| K::WebSocketClose(ToClientWebSocketClose { code, reason })),
    ]
    .boxed()
}

// ---------------------------------------------------------------- top level

/// Any runner → engine message valid for `version`.
pub fn to_server(version: ProtocolVersion) -> BoxedStrategy<ToServer> {
    let init = (
        text(),
        any_u32(),
        any_u32(),
        option::of(bare_map(
            text().prop_map(|metadata| ActorName { metadata }).boxed(),
        )),
        option::of(text()),
    )
        .prop_map(|(name, version, total_slots, names, metadata)| {
            ToServer::Init(ToServerInit {
                name,
                version,
                total_slots,
                prepopulate_actor_names: names,
                metadata,
            })
        });
    let kv =
        (id(), any_u32(), kv_request_data(version)).prop_map(|(actor_id, request_id, data)| {
            ToServer::KvRequest(ToServerKvRequest {
                actor_id,
                request_id,
                data,
            })
        });
    prop_oneof![
        init,
        vec(event_wrapper(), 0..4).prop_map(ToServer::Events),
        vec(actor_checkpoint(), 0..4).prop_map(|last_command_checkpoints| {
            ToServer::AckCommands(ToServerAckCommands {
                last_command_checkpoints,
            })
        }),
        Just(ToServer::Stopping),
        any_i64().prop_map(|ts| ToServer::Pong(ToServerPong { ts })),
        kv,
        (message_id(), to_server_tunnel_kind()).prop_map(|(message_id, message_kind)| {
            ToServer::TunnelMessage(ToServerTunnelMessage {
                message_id,
                message_kind,
            })
        }),
    ]
    .boxed()
}

/// Any engine → runner message valid for `version`.
pub fn to_client(version: ProtocolVersion) -> BoxedStrategy<ToClient> {
    let init = (id(), protocol_metadata(version)).prop_map(|(runner_id, metadata)| {
        ToClient::Init(ToClientInit {
            runner_id,
            metadata,
        })
    });
    let kv = (any_u32(), kv_response_data()).prop_map(|(request_id, data)| {
        ToClient::KvResponse(ToClientKvResponse { request_id, data })
    });
    prop_oneof![
        init,
        vec(command_wrapper(), 0..4).prop_map(ToClient::Commands),
        vec(actor_checkpoint(), 0..4).prop_map(|last_event_checkpoints| {
            ToClient::AckEvents(ToClientAckEvents {
                last_event_checkpoints,
            })
        }),
        kv,
        (message_id(), to_client_tunnel_kind()).prop_map(|(message_id, message_kind)| {
            ToClient::TunnelMessage(ToClientTunnelMessage {
                message_id,
                message_kind,
            })
        }),
        any_i64().prop_map(|ts| ToClient::Ping(ToClientPing { ts })),
    ]
    .boxed()
}

/// A version and a runner → engine message valid for it.
pub fn versioned_to_server() -> BoxedStrategy<(ProtocolVersion, ToServer)> {
    protocol_version()
        .prop_flat_map(|v| (Just(v), to_server(v)))
        .boxed()
}

/// A version and an engine → runner message valid for it.
pub fn versioned_to_client() -> BoxedStrategy<(ProtocolVersion, ToClient)> {
    protocol_version()
        .prop_flat_map(|v| (Just(v), to_client(v)))
        .boxed()
}
