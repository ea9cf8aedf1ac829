//! HTTP requests and WebSockets tunnelled between the gateway and an actor.

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::Id;
use super::wire::{BareMap, strict_bool, strict_option};

/// Identifies a gateway instance (`data[4]`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct GatewayId(pub [u8; 4]);

/// Identifies a request within its gateway (`data[4]`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct RequestId(pub [u8; 4]);

macro_rules! hex_debug {
    ($t:ty) => {
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let [a, b, c, d] = self.0;
                write!(f, "{a:02x}{b:02x}{c:02x}{d:02x}")
            }
        }
    };
}
hex_debug!(GatewayId);
hex_debug!(RequestId);

/// Index of a tunnel message within its request, wrapping at `u16::MAX`.
pub type MessageIndex = u16;

/// Header of every tunnel message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MessageId {
    /// Gateway of the request.
    pub gateway_id: GatewayId,
    /// The request.
    pub request_id: RequestId,
    /// Index of this message within the request, per direction.
    pub message_index: MessageIndex,
}

/// Start of an HTTP request for an actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToClientRequestStart {
    /// The actor.
    pub actor_id: Id,
    /// HTTP method.
    pub method: String,
    /// Path and query, relative to the actor, starting with `/`.
    pub path: String,
    /// Request headers, lower-case names.
    pub headers: BareMap<String>,
    /// Whole body, when not streamed.
    #[serde(with = "strict_option")]
    pub body: Option<Bytes>,
    /// Whether the body follows in chunks.
    #[serde(with = "strict_bool")]
    pub stream: bool,
}

/// A piece of a streamed request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToClientRequestChunk {
    /// The bytes.
    pub body: Bytes,
    /// Whether this is the last piece.
    #[serde(with = "strict_bool")]
    pub finish: bool,
}

/// Opening of a WebSocket for an actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToClientWebSocketOpen {
    /// The actor.
    pub actor_id: Id,
    /// Path and query, relative to the actor.
    pub path: String,
    /// Upgrade request headers.
    pub headers: BareMap<String>,
}

/// A WebSocket message, either direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebSocketMessage {
    /// Payload.
    pub data: Bytes,
    /// Binary (`true`) or UTF-8 text (`false`).
    #[serde(with = "strict_bool")]
    pub binary: bool,
}

/// A WebSocket close from the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToClientWebSocketClose {
    /// Close code.
    #[serde(with = "strict_option")]
    pub code: Option<u16>,
    /// Close reason.
    #[serde(with = "strict_option")]
    pub reason: Option<String>,
}

/// Tunnel payloads from the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToClientTunnelMessageKind {
    /// HTTP request start.
    RequestStart(ToClientRequestStart),
    /// HTTP request body chunk.
    RequestChunk(ToClientRequestChunk),
    /// HTTP request aborted.
    RequestAbort,
    /// WebSocket opened.
    WebSocketOpen(ToClientWebSocketOpen),
    /// WebSocket message.
    WebSocketMessage(WebSocketMessage),
    /// WebSocket closed.
    WebSocketClose(ToClientWebSocketClose),
}

/// A tunnel message from the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToClientTunnelMessage {
    /// Request and index.
    pub message_id: MessageId,
    /// Payload.
    pub message_kind: ToClientTunnelMessageKind,
}

/// Start (and, in practice, all) of an HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToServerResponseStart {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: BareMap<String>,
    /// Body.
    #[serde(with = "strict_option")]
    pub body: Option<Bytes>,
    /// Whether chunks follow (the gateway ignores them: keep `false`).
    #[serde(with = "strict_bool")]
    pub stream: bool,
}

/// A piece of a streamed response (never read by today's gateway).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToServerResponseChunk {
    /// The bytes.
    pub body: Bytes,
    /// Whether this is the last piece.
    #[serde(with = "strict_bool")]
    pub finish: bool,
}

/// Answer to a WebSocket open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToServerWebSocketOpen {
    /// Whether the gateway should keep the socket while the actor sleeps.
    #[serde(with = "strict_bool")]
    pub can_hibernate: bool,
}

/// Acknowledges gateway messages up to `index` of a hibernatable socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToServerWebSocketMessageAck {
    /// Last persisted index.
    pub index: MessageIndex,
}

/// A WebSocket close from the runner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToServerWebSocketClose {
    /// Close code.
    #[serde(with = "strict_option")]
    pub code: Option<u16>,
    /// Close reason (at most 123 bytes on the client's wire).
    #[serde(with = "strict_option")]
    pub reason: Option<String>,
    /// Hibernate instead of closing.
    #[serde(with = "strict_bool")]
    pub hibernate: bool,
}

/// Tunnel payloads to the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToServerTunnelMessageKind {
    /// HTTP response.
    ResponseStart(ToServerResponseStart),
    /// HTTP response chunk.
    ResponseChunk(ToServerResponseChunk),
    /// HTTP request failed; the gateway may retry it.
    ResponseAbort,
    /// WebSocket accepted.
    WebSocketOpen(ToServerWebSocketOpen),
    /// WebSocket message.
    WebSocketMessage(WebSocketMessage),
    /// WebSocket messages persisted up to an index.
    WebSocketMessageAck(ToServerWebSocketMessageAck),
    /// WebSocket closed.
    WebSocketClose(ToServerWebSocketClose),
}

/// A tunnel message to the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToServerTunnelMessage {
    /// Request and index.
    pub message_id: MessageId,
    /// Payload.
    pub message_kind: ToServerTunnelMessageKind,
}
