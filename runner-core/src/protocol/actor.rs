//! Actors: commands from the engine, events from the runner.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::Id;
use super::tunnel::{GatewayId, RequestId};
use super::wire::strict_option;

/// Whether an actor stopped cleanly.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// // A crash: the engine applies the actor's crash policy.
/// let stopped = ActorState::Stopped(ActorStateStopped {
///     code: StopCode::Error,
///     message: Some("panicked during start".into()),
/// });
/// let event = EventWrapper {
///     checkpoint: ActorCheckpoint { actor_id: "actor".into(), generation: 0, index: 1 },
///     inner: Event::StateUpdate(EventActorStateUpdate { state: stopped }),
/// };
/// let msg = ToServer::Events(vec![event]);
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StopCode {
    /// A requested, graceful stop.
    Ok,
    /// A crash or failed start; the engine applies the actor's crash policy.
    Error,
}

/// Metadata of an actor name the runner can host.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let mut names = BareMap::new();
/// names.insert("counter", ActorName { metadata: r#"{"icon":"calculator"}"#.into() });
/// let init = ToServer::Init(ToServerInit {
///     name: "default".into(),
///     version: 1,
///     total_slots: 100,
///     prepopulate_actor_names: Some(names),
///     metadata: None,
/// });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &init)?)?, init);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorName {
    /// JSON object, as text.
    pub metadata: String,
}

/// How the engine created the actor.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let config = ActorConfig {
///     name: "counter".into(),
///     key: Some("user-42".into()),
///     create_ts: 1_700_000_000_000, // Unix epoch milliseconds
///     input: Some("initial state".into()),
/// };
/// let start = CommandWrapper {
///     checkpoint: ActorCheckpoint { actor_id: "actor".into(), generation: 0, index: 0 },
///     inner: Command::StartActor(CommandStartActor { config, hibernating_requests: vec![] }),
/// };
/// let msg = ToClient::Commands(vec![start]);
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_client(v5, &encode_to_client(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorConfig {
    /// Actor name.
    pub name: String,
    /// Actor key, if it has one.
    #[serde(with = "strict_option")]
    pub key: Option<String>,
    /// Creation time, Unix epoch milliseconds.
    pub create_ts: i64,
    /// Input given at creation.
    #[serde(with = "strict_option")]
    pub input: Option<Bytes>,
}

/// Position in a per-(actor, generation) sequence of commands or events.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// // The fourth command (index 3) of the actor's second life (generation 1).
/// let checkpoint = ActorCheckpoint { actor_id: "actor".into(), generation: 1, index: 3 };
/// let restarted = ActorCheckpoint { generation: 2, index: 0, ..checkpoint.clone() };
/// assert_ne!(checkpoint, restarted); // each generation counts from its own start
///
/// let ack = ToServer::AckCommands(ToServerAckCommands {
///     last_command_checkpoints: vec![checkpoint, restarted],
/// });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &ack)?)?, ack);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ActorCheckpoint {
    /// The actor.
    pub actor_id: Id,
    /// Its generation: each restart of the actor gets a higher one.
    pub generation: u32,
    /// Index in the sequence.
    pub index: i64,
}

/// What an actor asks of the engine.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let event = EventWrapper {
///     checkpoint: ActorCheckpoint { actor_id: "actor".into(), generation: 0, index: 2 },
///     inner: Event::Intent(EventActorIntent { intent: ActorIntent::Sleep }),
/// };
/// let msg = ToServer::Events(vec![event]);
/// let v5 = ProtocolVersion::V5;
/// let bytes = encode_to_server(v5, &msg)?;
/// assert_eq!(bytes.last(), Some(&0)); // `Sleep` is tag 0, `Stop` tag 1
/// assert_eq!(decode_to_server(v5, &bytes)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActorIntent {
    /// Put me to sleep (the engine answers with a stop command).
    Sleep,
    /// Stop me (the engine answers with a stop command).
    Stop,
}

/// Lifecycle state reported by the runner.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let v5 = ProtocolVersion::V5;
/// for state in [
///     ActorState::Running,
///     ActorState::Stopped(ActorStateStopped { code: StopCode::Ok, message: None }),
/// ] {
///     let event = EventWrapper {
///         checkpoint: ActorCheckpoint { actor_id: "actor".into(), generation: 0, index: 0 },
///         inner: Event::StateUpdate(EventActorStateUpdate { state }),
///     };
///     let msg = ToServer::Events(vec![event]);
///     assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActorState {
    /// The actor runs.
    Running,
    /// The actor stopped.
    Stopped(ActorStateStopped),
}

/// Details of a stop.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// // A requested stop that went well.
/// let stopped = ActorStateStopped { code: StopCode::Ok, message: Some("bye".into()) };
/// let event = EventWrapper {
///     checkpoint: ActorCheckpoint { actor_id: "actor".into(), generation: 0, index: 4 },
///     inner: Event::StateUpdate(EventActorStateUpdate { state: ActorState::Stopped(stopped) }),
/// };
/// let msg = ToServer::Events(vec![event]);
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorStateStopped {
    /// Clean or not.
    pub code: StopCode,
    /// Why, for humans.
    #[serde(with = "strict_option")]
    pub message: Option<String>,
}

/// An event about one actor.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let events: Vec<EventWrapper> = [
///     Event::StateUpdate(EventActorStateUpdate { state: ActorState::Running }),
///     Event::SetAlarm(EventActorSetAlarm { alarm_ts: Some(1_700_000_060_000) }),
///     Event::Intent(EventActorIntent { intent: ActorIntent::Stop }),
/// ]
/// .into_iter()
/// .zip(0..) // consecutive indices in the actor's event sequence
/// .map(|(inner, index)| EventWrapper {
///     checkpoint: ActorCheckpoint { actor_id: "actor".into(), generation: 0, index },
///     inner,
/// })
/// .collect();
/// let msg = ToServer::Events(events);
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// The actor asks to sleep or stop.
    Intent(EventActorIntent),
    /// The actor's state changed.
    StateUpdate(EventActorStateUpdate),
    /// The actor's alarm was set or cleared.
    SetAlarm(EventActorSetAlarm),
}

/// Wire struct of [`Event::Intent`].
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let event = EventWrapper {
///     checkpoint: ActorCheckpoint { actor_id: "actor".into(), generation: 0, index: 5 },
///     inner: Event::Intent(EventActorIntent { intent: ActorIntent::Stop }),
/// };
/// let msg = ToServer::Events(vec![event]);
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventActorIntent {
    /// The intent.
    pub intent: ActorIntent,
}

/// Wire struct of [`Event::StateUpdate`].
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let event = EventWrapper {
///     checkpoint: ActorCheckpoint { actor_id: "actor".into(), generation: 0, index: 0 },
///     inner: Event::StateUpdate(EventActorStateUpdate { state: ActorState::Running }),
/// };
/// let msg = ToServer::Events(vec![event]);
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventActorStateUpdate {
    /// The new state.
    pub state: ActorState,
}

/// Wire struct of [`Event::SetAlarm`].
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let v5 = ProtocolVersion::V5;
/// // Set an alarm for an absolute time, then clear it.
/// for alarm_ts in [Some(1_700_000_060_000), None] {
///     let event = EventWrapper {
///         checkpoint: ActorCheckpoint { actor_id: "actor".into(), generation: 0, index: 1 },
///         inner: Event::SetAlarm(EventActorSetAlarm { alarm_ts }),
///     };
///     let msg = ToServer::Events(vec![event]);
///     assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventActorSetAlarm {
    /// Absolute Unix epoch milliseconds, or `None` to clear.
    #[serde(with = "strict_option")]
    pub alarm_ts: Option<i64>,
}

/// An event with its place in the actor's sequence.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let event = EventWrapper {
///     // The 8th event (index 7) of generation 0 of "actor".
///     checkpoint: ActorCheckpoint { actor_id: "actor".into(), generation: 0, index: 7 },
///     inner: Event::StateUpdate(EventActorStateUpdate { state: ActorState::Running }),
/// };
/// let msg = ToServer::Events(vec![event]);
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventWrapper {
    /// Actor, generation and event index.
    pub checkpoint: ActorCheckpoint,
    /// The event.
    pub inner: Event,
}

/// A hibernated WebSocket the gateway still holds for an actor.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let socket = HibernatingRequest {
///     gateway_id: GatewayId([1, 2, 3, 4]),
///     request_id: RequestId([0, 0, 0, 9]),
/// };
/// let start = CommandStartActor {
///     config: ActorConfig { name: "chat".into(), key: None, create_ts: 0, input: None },
///     hibernating_requests: vec![socket], // restore this socket on start
/// };
/// let msg = ToClient::Commands(vec![CommandWrapper {
///     checkpoint: ActorCheckpoint { actor_id: "actor".into(), generation: 1, index: 0 },
///     inner: Command::StartActor(start),
/// }]);
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_client(v5, &encode_to_client(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HibernatingRequest {
    /// Gateway of the socket.
    pub gateway_id: GatewayId,
    /// Request id of the socket.
    pub request_id: RequestId,
}

/// Start an actor.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let start = CommandStartActor {
///     config: ActorConfig { name: "counter".into(), key: None, create_ts: 0, input: None },
///     hibernating_requests: Vec::new(),
/// };
/// let msg = ToClient::Commands(vec![CommandWrapper {
///     checkpoint: ActorCheckpoint { actor_id: "actor".into(), generation: 0, index: 0 },
///     inner: Command::StartActor(start),
/// }]);
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_client(v5, &encode_to_client(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandStartActor {
    /// Its configuration.
    pub config: ActorConfig,
    /// Hibernated sockets to restore.
    pub hibernating_requests: Vec<HibernatingRequest>,
}

/// A command for one actor.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let stop = CommandWrapper {
///     checkpoint: ActorCheckpoint { actor_id: "actor".into(), generation: 0, index: 1 },
///     inner: Command::StopActor,
/// };
/// let msg = ToClient::Commands(vec![stop]);
/// let v5 = ProtocolVersion::V5;
/// let bytes = encode_to_client(v5, &msg)?;
/// assert_eq!(bytes.last(), Some(&1)); // `StopActor` is tag 1 and carries nothing
/// assert_eq!(decode_to_client(v5, &bytes)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Start it.
    StartActor(CommandStartActor),
    /// Stop it.
    StopActor,
}

/// A command with its place in the actor's sequence.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let v5 = ProtocolVersion::V5;
/// let checkpoint = ActorCheckpoint { actor_id: "actor".into(), generation: 0, index: 1 };
/// let msg = ToClient::Commands(vec![CommandWrapper { checkpoint, inner: Command::StopActor }]);
/// let ToClient::Commands(commands) = decode_to_client(v5, &encode_to_client(v5, &msg)?)? else {
///     panic!("not commands");
/// };
/// // Acknowledge up to the last command received.
/// let last = commands.last().map(|c| c.checkpoint.clone());
/// let ack = ToServerAckCommands { last_command_checkpoints: last.into_iter().collect() };
/// assert_eq!(ack.last_command_checkpoints[0].index, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandWrapper {
    /// Actor, generation and command index.
    pub checkpoint: ActorCheckpoint,
    /// The command.
    pub inner: Command,
}
