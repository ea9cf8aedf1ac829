//! The top-level messages of the runner connection.

use serde::{Deserialize, Serialize};

use super::Id;
use super::actor::{ActorCheckpoint, ActorName, CommandWrapper, EventWrapper};
use super::kv::{KvRequestData, KvResponseData};
use super::tunnel::{ToClientTunnelMessage, ToServerTunnelMessage};
use super::wire::{BareMap, strict_option};

/// First message of every connection.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let names: BareMap<ActorName> = [("counter", ActorName { metadata: "{}".into() })].into_iter().collect();
/// let init = ToServer::Init(ToServerInit {
///     name: "default".into(),
///     version: 1,
///     total_slots: 100,
///     prepopulate_actor_names: Some(names),
///     metadata: Some(r#"{"region":"local"}"#.into()),
/// });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &init)?)?, init);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToServerInit {
    /// Runner name (actors select runners by it).
    pub name: String,
    /// Runner version.
    pub version: u32,
    /// How many actors this runner accepts.
    pub total_slots: u32,
    /// Actor names this runner hosts, with metadata.
    #[serde(with = "strict_option")]
    pub prepopulate_actor_names: Option<BareMap<ActorName>>,
    /// Runner metadata, a JSON object as text.
    #[serde(with = "strict_option")]
    pub metadata: Option<String>,
}

/// Acknowledges commands up to each checkpoint.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// // Commands 0..=3 of generation 1 of "actor" are processed.
/// let checkpoint = ActorCheckpoint { actor_id: "actor".into(), generation: 1, index: 3 };
/// let ack = ToServer::AckCommands(ToServerAckCommands { last_command_checkpoints: vec![checkpoint] });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &ack)?)?, ack);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToServerAckCommands {
    /// Last processed command per (actor, generation).
    pub last_command_checkpoints: Vec<ActorCheckpoint>,
}

/// Answer to a ping.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let v5 = ProtocolVersion::V5;
/// let ToClient::Ping(ping) = decode_to_client(v5, &[5, 42, 0, 0, 0, 0, 0, 0, 0])? else {
///     panic!("not a ping");
/// };
/// let pong = ToServer::Pong(ToServerPong { ts: ping.ts });
/// assert_eq!(encode_to_server(v5, &pong)?, [4, 42, 0, 0, 0, 0, 0, 0, 0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToServerPong {
    /// The ping's timestamp, echoed.
    pub ts: i64,
}

/// A KV operation for one actor.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let request = ToServerKvRequest {
///     actor_id: "actor".into(),
///     request_id: 9, // the response carries the same id
///     data: KvRequestData::Get(KvGetRequest { keys: vec!["k".into()] }),
/// };
/// let msg = ToServer::KvRequest(request);
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToServerKvRequest {
    /// The actor whose storage is used.
    pub actor_id: Id,
    /// Matches the response.
    pub request_id: u32,
    /// The operation.
    pub data: KvRequestData,
}

/// Messages from the runner to the engine.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let v5 = ProtocolVersion::V5;
/// // The first byte is the variant's tag; `Stopping` has nothing after it.
/// assert_eq!(encode_to_server(v5, &ToServer::Stopping)?, [3]);
/// let events = ToServer::Events(Vec::new());
/// assert_eq!(encode_to_server(v5, &events)?, [1, 0]);
/// assert_eq!(decode_to_server(v5, &[1, 0])?, events);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToServer {
    /// Hello.
    Init(ToServerInit),
    /// Actor events.
    Events(Vec<EventWrapper>),
    /// Command acknowledgements.
    AckCommands(ToServerAckCommands),
    /// The runner is shutting down.
    Stopping,
    /// Ping answer.
    Pong(ToServerPong),
    /// KV operation.
    KvRequest(ToServerKvRequest),
    /// Tunnel traffic.
    TunnelMessage(ToServerTunnelMessage),
}

/// Timing parameters the engine announces.
///
/// Protocol v5 carries only `runner_lost_threshold`; v6 adds the other two.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let metadata = ProtocolMetadata {
///     runner_lost_threshold: 15_000,
///     actor_stop_threshold: Some(30_000),
///     serverless_drain_grace_period: None,
/// };
/// let init = ToClient::Init(ToClientInit { runner_id: "runner".into(), metadata });
/// let v6 = ProtocolVersion::V6;
/// assert_eq!(decode_to_client(v6, &encode_to_client(v6, &init)?)?, init);
///
/// // v5 carries only the runner-lost threshold.
/// let v5 = ProtocolVersion::V5;
/// let ToClient::Init(old) = decode_to_client(v5, &encode_to_client(v5, &init)?)? else { panic!() };
/// assert_eq!((old.metadata.runner_lost_threshold, old.metadata.actor_stop_threshold), (15_000, None));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolMetadata {
    /// After this many ms without contact the engine declares the runner lost.
    pub runner_lost_threshold: i64,
    /// Time the engine gives an actor to report `Stopped` (v6+; `None` on v5).
    pub actor_stop_threshold: Option<i64>,
    /// Serverless drain grace period (v6+, serverless runners only).
    pub serverless_drain_grace_period: Option<i64>,
}

/// The engine's hello.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let init = ToClient::Init(ToClientInit {
///     runner_id: "runner-1".into(),
///     metadata: ProtocolMetadata {
///         runner_lost_threshold: 15_000,
///         actor_stop_threshold: Some(30_000), // required from v6 on
///         serverless_drain_grace_period: Some(10_000),
///     },
/// });
/// let v7 = ProtocolVersion::V7;
/// assert_eq!(decode_to_client(v7, &encode_to_client(v7, &init)?)?, init);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToClientInit {
    /// Id the engine gave this runner.
    pub runner_id: Id,
    /// Timing parameters.
    pub metadata: ProtocolMetadata,
}

/// Acknowledges events up to each checkpoint.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// // The engine has events 0..=5 of generation 2 of "actor".
/// let checkpoint = ActorCheckpoint { actor_id: "actor".into(), generation: 2, index: 5 };
/// let ack = ToClient::AckEvents(ToClientAckEvents { last_event_checkpoints: vec![checkpoint] });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_client(v5, &encode_to_client(v5, &ack)?)?, ack);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToClientAckEvents {
    /// Last received event per (actor, generation).
    pub last_event_checkpoints: Vec<ActorCheckpoint>,
}

/// Answer to a KV request.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// // Answer to the `Put` with request id 3.
/// let response = ToClientKvResponse { request_id: 3, data: KvResponseData::Put };
/// let msg = ToClient::KvResponse(response);
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_client(v5, &encode_to_client(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToClientKvResponse {
    /// Matches the request.
    pub request_id: u32,
    /// The result.
    pub data: KvResponseData,
}

/// A ping the runner must answer.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let ping = ToClient::Ping(ToClientPing { ts: 1_700_000_000_000 });
/// let v5 = ProtocolVersion::V5;
/// let bytes = encode_to_client(v5, &ping)?;
/// assert_eq!(bytes[0], 5); // the `Ping` tag, then `ts` as a little-endian i64
/// assert_eq!(bytes[1..], 1_700_000_000_000i64.to_le_bytes());
/// assert_eq!(decode_to_client(v5, &bytes)?, ping);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToClientPing {
    /// Engine time, echoed in the pong.
    pub ts: i64,
}

/// Messages from the engine to the runner.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let v5 = ProtocolVersion::V5;
/// let reply = match decode_to_client(v5, &[5, 7, 0, 0, 0, 0, 0, 0, 0])? {
///     ToClient::Ping(ping) => Some(ToServer::Pong(ToServerPong { ts: ping.ts })),
///     _ => None,
/// };
/// assert_eq!(reply, Some(ToServer::Pong(ToServerPong { ts: 7 })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToClient {
    /// Hello.
    Init(ToClientInit),
    /// Actor commands.
    Commands(Vec<CommandWrapper>),
    /// Event acknowledgements.
    AckEvents(ToClientAckEvents),
    /// KV answer.
    KvResponse(ToClientKvResponse),
    /// Tunnel traffic.
    TunnelMessage(ToClientTunnelMessage),
    /// Liveness ping.
    Ping(ToClientPing),
}

/// Init message of the serverless start stream.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let init = ToServerlessServerInit { runner_id: "R".into(), runner_protocol_version: 5 };
/// let packet = serverless_init_packet(ProtocolVersion::V5, "R");
/// let (_, ToServerlessServer::Init(parsed)) = parse_serverless_init_packet(&packet)?;
/// assert_eq!(parsed, init);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToServerlessServerInit {
    /// The runner's id.
    pub runner_id: Id,
    /// Protocol version the runner speaks.
    pub runner_protocol_version: u16,
}

/// Messages of the serverless start stream.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let msg = ToServerlessServer::Init(ToServerlessServerInit {
///     runner_id: "runner".into(),
///     runner_protocol_version: 7,
/// });
/// let bytes = encode_to_serverless_server(&msg);
/// assert_eq!(decode_to_serverless_server(&bytes)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToServerlessServer {
    /// The only variant.
    Init(ToServerlessServerInit),
}
