//! HTTP requests and WebSockets tunnelled between the gateway and an actor.

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::Id;
use super::wire::{BareMap, strict_bool, strict_option};

/// Identifies a gateway instance (`data[4]`).
///
/// # Examples
///
/// ```
/// use runner_core::protocol::GatewayId;
///
/// let id = GatewayId([0xde, 0xad, 0xbe, 0xef]);
/// assert_eq!(format!("{id:?}"), "deadbeef"); // `Debug` prints hex
/// assert_eq!(GatewayId::default(), GatewayId([0; 4]));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct GatewayId(pub [u8; 4]);

/// Identifies a request within its gateway (`data[4]`).
///
/// # Examples
///
/// ```
/// use runner_core::protocol::RequestId;
///
/// let id = RequestId([0, 0, 1, 0x2a]);
/// assert_eq!(format!("{id:?}"), "0000012a"); // `Debug` prints hex
/// assert!(RequestId([0, 0, 0, 1]) < id); // ordered byte by byte
/// ```
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
///
/// # Examples
///
/// ```
/// use runner_core::protocol::MessageIndex;
///
/// let last: MessageIndex = MessageIndex::MAX;
/// assert_eq!(last.wrapping_add(1), 0); // the next index after u16::MAX
/// ```
pub type MessageIndex = u16;

/// Header of every tunnel message.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let id = MessageId {
///     gateway_id: GatewayId([1, 2, 3, 4]),
///     request_id: RequestId([0, 0, 0, 7]),
///     message_index: 0, // first message in this direction
/// };
/// let next = MessageId { message_index: id.message_index.wrapping_add(1), ..id };
/// assert_eq!((next.gateway_id, next.request_id), (id.gateway_id, id.request_id));
/// let msg = ToServer::TunnelMessage(ToServerTunnelMessage {
///     message_id: next,
///     message_kind: ToServerTunnelMessageKind::ResponseAbort,
/// });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let start = ToClientRequestStart {
///     actor_id: "actor".into(),
///     method: "POST".into(),
///     path: "/increment?by=2".into(),
///     headers: [("content-type", "application/json".to_string())].into_iter().collect(),
///     body: Some(r#"{"n":1}"#.into()), // the whole body: not streamed
///     stream: false,
/// };
/// let message_id = MessageId { gateway_id: GatewayId([1; 4]), request_id: RequestId([2; 4]), message_index: 0 };
/// let msg = ToClient::TunnelMessage(ToClientTunnelMessage {
///     message_id,
///     message_kind: ToClientTunnelMessageKind::RequestStart(start),
/// });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_client(v5, &encode_to_client(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// // A streamed body arrives in chunks; `finish` marks the last one.
/// let chunks = [
///     ToClientRequestChunk { body: "hello, ".into(), finish: false },
///     ToClientRequestChunk { body: "world".into(), finish: true },
/// ];
/// let mut body = Vec::new();
/// for chunk in &chunks {
///     body.extend_from_slice(&chunk.body);
///     if chunk.finish {
///         break;
///     }
/// }
/// assert_eq!(body, b"hello, world");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToClientRequestChunk {
    /// The bytes.
    pub body: Bytes,
    /// Whether this is the last piece.
    #[serde(with = "strict_bool")]
    pub finish: bool,
}

/// Opening of a WebSocket for an actor.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let open = ToClientWebSocketOpen {
///     actor_id: "actor".into(),
///     path: "/connect".into(),
///     headers: [("sec-websocket-protocol", "rivet".to_string())].into_iter().collect(),
/// };
/// let message_id = MessageId { gateway_id: GatewayId([1; 4]), request_id: RequestId([3; 4]), message_index: 0 };
/// let msg = ToClient::TunnelMessage(ToClientTunnelMessage {
///     message_id,
///     message_kind: ToClientTunnelMessageKind::WebSocketOpen(open),
/// });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_client(v5, &encode_to_client(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// # let message_id = MessageId { gateway_id: GatewayId([1; 4]), request_id: RequestId([3; 4]), message_index: 0 };
/// let text = WebSocketMessage { data: "hi".into(), binary: false };
/// assert_eq!(std::str::from_utf8(&text.data)?, "hi"); // not binary: UTF-8 text
///
/// // The same struct travels both ways.
/// let kind = ToClientTunnelMessageKind::WebSocketMessage(text.clone());
/// let from_gateway = ToClient::TunnelMessage(ToClientTunnelMessage { message_id, message_kind: kind });
/// let kind = ToServerTunnelMessageKind::WebSocketMessage(text);
/// let to_gateway = ToServer::TunnelMessage(ToServerTunnelMessage { message_id, message_kind: kind });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_client(v5, &encode_to_client(v5, &from_gateway)?)?, from_gateway);
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &to_gateway)?)?, to_gateway);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebSocketMessage {
    /// Payload.
    pub data: Bytes,
    /// Binary (`true`) or UTF-8 text (`false`).
    #[serde(with = "strict_bool")]
    pub binary: bool,
}

/// A WebSocket close from the gateway.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let close = ToClientWebSocketClose { code: Some(1000), reason: Some("normal".into()) };
/// let message_id = MessageId { gateway_id: GatewayId([1; 4]), request_id: RequestId([3; 4]), message_index: 4 };
/// let msg = ToClient::TunnelMessage(ToClientTunnelMessage {
///     message_id,
///     message_kind: ToClientTunnelMessageKind::WebSocketClose(close),
/// });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_client(v5, &encode_to_client(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let v5 = ProtocolVersion::V5;
/// let message_id = MessageId { gateway_id: GatewayId([1; 4]), request_id: RequestId([2; 4]), message_index: 1 };
/// let abort = ToClient::TunnelMessage(ToClientTunnelMessage {
///     message_id,
///     message_kind: ToClientTunnelMessageKind::RequestAbort,
/// });
/// let ToClient::TunnelMessage(msg) = decode_to_client(v5, &encode_to_client(v5, &abort)?)? else {
///     panic!("not a tunnel message");
/// };
/// let what = match msg.message_kind {
///     ToClientTunnelMessageKind::RequestStart(_) | ToClientTunnelMessageKind::RequestChunk(_) => "request data",
///     ToClientTunnelMessageKind::RequestAbort => "request aborted",
///     _ => "WebSocket traffic",
/// };
/// assert_eq!(what, "request aborted");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let chunk = ToClientRequestChunk { body: "part".into(), finish: true };
/// let msg = ToClient::TunnelMessage(ToClientTunnelMessage {
///     // Message 1 of request 02020202 at gateway 01010101.
///     message_id: MessageId { gateway_id: GatewayId([1; 4]), request_id: RequestId([2; 4]), message_index: 1 },
///     message_kind: ToClientTunnelMessageKind::RequestChunk(chunk),
/// });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_client(v5, &encode_to_client(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToClientTunnelMessage {
    /// Request and index.
    pub message_id: MessageId,
    /// Payload.
    pub message_kind: ToClientTunnelMessageKind,
}

/// Start (and, in practice, all) of an HTTP response.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let response = ToServerResponseStart {
///     status: 200,
///     headers: [("content-type", "text/plain".to_string())].into_iter().collect(),
///     body: Some("ok".into()),
///     stream: false, // the gateway ignores chunks
/// };
/// let message_id = MessageId { gateway_id: GatewayId([1; 4]), request_id: RequestId([2; 4]), message_index: 0 };
/// let msg = ToServer::TunnelMessage(ToServerTunnelMessage {
///     message_id,
///     message_kind: ToServerTunnelMessageKind::ResponseStart(response),
/// });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let chunk = ToServerResponseChunk { body: "tail".into(), finish: true };
/// let message_id = MessageId { gateway_id: GatewayId([1; 4]), request_id: RequestId([2; 4]), message_index: 1 };
/// let msg = ToServer::TunnelMessage(ToServerTunnelMessage {
///     message_id,
///     message_kind: ToServerTunnelMessageKind::ResponseChunk(chunk),
/// });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToServerResponseChunk {
    /// The bytes.
    pub body: Bytes,
    /// Whether this is the last piece.
    #[serde(with = "strict_bool")]
    pub finish: bool,
}

/// Answer to a WebSocket open.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// // Accept the socket and let the gateway keep it while the actor sleeps.
/// let accept = ToServerWebSocketOpen { can_hibernate: true };
/// let message_id = MessageId { gateway_id: GatewayId([1; 4]), request_id: RequestId([3; 4]), message_index: 0 };
/// let msg = ToServer::TunnelMessage(ToServerTunnelMessage {
///     message_id,
///     message_kind: ToServerTunnelMessageKind::WebSocketOpen(accept),
/// });
/// let v5 = ProtocolVersion::V5;
/// let bytes = encode_to_server(v5, &msg)?;
/// assert_eq!(bytes.last(), Some(&1)); // `can_hibernate` is the last byte
/// assert_eq!(decode_to_server(v5, &bytes)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToServerWebSocketOpen {
    /// Whether the gateway should keep the socket while the actor sleeps.
    #[serde(with = "strict_bool")]
    pub can_hibernate: bool,
}

/// Acknowledges gateway messages up to `index` of a hibernatable socket.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// // Gateway messages up to index 12 of this socket are persisted.
/// let ack = ToServerWebSocketMessageAck { index: 12 };
/// let message_id = MessageId { gateway_id: GatewayId([1; 4]), request_id: RequestId([3; 4]), message_index: 2 };
/// let msg = ToServer::TunnelMessage(ToServerTunnelMessage {
///     message_id,
///     message_kind: ToServerTunnelMessageKind::WebSocketMessageAck(ack),
/// });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToServerWebSocketMessageAck {
    /// Last persisted index.
    pub index: MessageIndex,
}

/// A WebSocket close from the runner.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// // The actor goes to sleep: ask the gateway to hold the socket, not close it.
/// let close = ToServerWebSocketClose { code: None, reason: None, hibernate: true };
/// let message_id = MessageId { gateway_id: GatewayId([1; 4]), request_id: RequestId([3; 4]), message_index: 3 };
/// let msg = ToServer::TunnelMessage(ToServerTunnelMessage {
///     message_id,
///     message_kind: ToServerTunnelMessageKind::WebSocketClose(close),
/// });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let v5 = ProtocolVersion::V5;
/// let message_id = MessageId { gateway_id: GatewayId([1; 4]), request_id: RequestId([2; 4]), message_index: 0 };
/// // The request failed; the gateway may retry it elsewhere.
/// let abort = ToServerTunnelMessage { message_id, message_kind: ToServerTunnelMessageKind::ResponseAbort };
/// let bytes = encode_to_server(v5, &ToServer::TunnelMessage(abort.clone()))?;
/// // Tag 6 (`TunnelMessage`), the 10-byte message id, then tag 2 (`ResponseAbort`).
/// assert_eq!((bytes[0], bytes.len(), bytes[11]), (6, 12, 2));
/// assert_eq!(decode_to_server(v5, &bytes)?, ToServer::TunnelMessage(abort));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use runner_core::protocol::*;
///
/// let text = WebSocketMessage { data: "pong".into(), binary: false };
/// let msg = ToServer::TunnelMessage(ToServerTunnelMessage {
///     // Message 5 the runner sends on socket 03030303 of gateway 01010101.
///     message_id: MessageId { gateway_id: GatewayId([1; 4]), request_id: RequestId([3; 4]), message_index: 5 },
///     message_kind: ToServerTunnelMessageKind::WebSocketMessage(text),
/// });
/// let v5 = ProtocolVersion::V5;
/// assert_eq!(decode_to_server(v5, &encode_to_server(v5, &msg)?)?, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToServerTunnelMessage {
    /// Request and index.
    pub message_id: MessageId,
    /// Payload.
    pub message_kind: ToServerTunnelMessageKind,
}
