//! The top-level messages of the runner connection.

use serde::{Deserialize, Serialize};

use super::Id;
use super::actor::{ActorCheckpoint, ActorName, CommandWrapper, EventWrapper};
use super::kv::{KvRequestData, KvResponseData};
use super::tunnel::{ToClientTunnelMessage, ToServerTunnelMessage};
use super::wire::{BareMap, strict_option};

/// First message of every connection.
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToServerAckCommands {
    /// Last processed command per (actor, generation).
    pub last_command_checkpoints: Vec<ActorCheckpoint>,
}

/// Answer to a ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToServerPong {
    /// The ping's timestamp, echoed.
    pub ts: i64,
}

/// A KV operation for one actor.
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToClientInit {
    /// Id the engine gave this runner.
    pub runner_id: Id,
    /// Timing parameters.
    pub metadata: ProtocolMetadata,
}

/// Acknowledges events up to each checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToClientAckEvents {
    /// Last received event per (actor, generation).
    pub last_event_checkpoints: Vec<ActorCheckpoint>,
}

/// Answer to a KV request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToClientKvResponse {
    /// Matches the request.
    pub request_id: u32,
    /// The result.
    pub data: KvResponseData,
}

/// A ping the runner must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToClientPing {
    /// Engine time, echoed in the pong.
    pub ts: i64,
}

/// Messages from the engine to the runner.
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToServerlessServerInit {
    /// The runner's id.
    pub runner_id: Id,
    /// Protocol version the runner speaks.
    pub runner_protocol_version: u16,
}

/// Messages of the serverless start stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToServerlessServer {
    /// The only variant.
    Init(ToServerlessServerInit),
}
