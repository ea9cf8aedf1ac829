//! Actors: commands from the engine, events from the runner.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::Id;
use super::tunnel::{GatewayId, RequestId};
use super::wire::strict_option;

/// Whether an actor stopped cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StopCode {
    /// A requested, graceful stop.
    Ok,
    /// A crash or failed start; the engine applies the actor's crash policy.
    Error,
}

/// Metadata of an actor name the runner can host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorName {
    /// JSON object, as text.
    pub metadata: String,
}

/// How the engine created the actor.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActorIntent {
    /// Put me to sleep (the engine answers with a stop command).
    Sleep,
    /// Stop me (the engine answers with a stop command).
    Stop,
}

/// Lifecycle state reported by the runner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActorState {
    /// The actor runs.
    Running,
    /// The actor stopped.
    Stopped(ActorStateStopped),
}

/// Details of a stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorStateStopped {
    /// Clean or not.
    pub code: StopCode,
    /// Why, for humans.
    #[serde(with = "strict_option")]
    pub message: Option<String>,
}

/// An event about one actor.
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventActorIntent {
    /// The intent.
    pub intent: ActorIntent,
}

/// Wire struct of [`Event::StateUpdate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventActorStateUpdate {
    /// The new state.
    pub state: ActorState,
}

/// Wire struct of [`Event::SetAlarm`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventActorSetAlarm {
    /// Absolute Unix epoch milliseconds, or `None` to clear.
    #[serde(with = "strict_option")]
    pub alarm_ts: Option<i64>,
}

/// An event with its place in the actor's sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventWrapper {
    /// Actor, generation and event index.
    pub checkpoint: ActorCheckpoint,
    /// The event.
    pub inner: Event,
}

/// A hibernated WebSocket the gateway still holds for an actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HibernatingRequest {
    /// Gateway of the socket.
    pub gateway_id: GatewayId,
    /// Request id of the socket.
    pub request_id: RequestId,
}

/// Start an actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandStartActor {
    /// Its configuration.
    pub config: ActorConfig,
    /// Hibernated sockets to restore.
    pub hibernating_requests: Vec<HibernatingRequest>,
}

/// A command for one actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Start it.
    StartActor(CommandStartActor),
    /// Stop it.
    StopActor,
}

/// A command with its place in the actor's sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandWrapper {
    /// Actor, generation and command index.
    pub checkpoint: ActorCheckpoint,
    /// The command.
    pub inner: Command,
}
