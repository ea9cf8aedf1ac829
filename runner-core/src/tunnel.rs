//! Public types of the tunnel: HTTP requests and WebSockets the gateway routes
//! to actors over the runner connection.

use bytes::Bytes;

use crate::ids::{ActorRef, RequestKey};
use crate::protocol::{BareMap, MessageIndex};

/// An HTTP request for an actor.
///
/// # Examples
///
/// ```
/// # use runner_core::protocol::*;
/// # use runner_core::{testing, ActorRef, Event, HttpResponse, Timestamp};
/// # let (mut runner, conn) = testing::connected(testing::config())?;
/// # let actor = testing::started_actor(&mut runner, conn, "A")?;
/// # let post = ToClientRequestStart { method: "POST".into(), body: Some("hi".into()), ..testing::get("A", "/echo?x=1") };
/// # testing::http_request(&mut runner, conn, 2, post)?;
/// let Some(Event::HttpRequest(request)) = runner.poll_event() else { panic!() };
/// assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/echo?x=1"));
/// assert_eq!(request.actor, ActorRef::new("A", 0));
/// assert_eq!((&request.body[..], request.streamed), (&b"hi"[..], false));
/// runner.respond(Timestamp::ZERO, request.key, HttpResponse::new(200).body(request.body))?;
/// assert!(!runner.request_is_open(request.key));
///
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Identifies the request in [`Runner::respond`](crate::Runner::respond).
    pub key: RequestKey,
    /// The actor it is for.
    pub actor: ActorRef,
    /// HTTP method.
    pub method: String,
    /// Path and query, relative to the actor, starting with `/`.
    pub path: String,
    /// Headers, lower-case names, as the gateway sent them.
    pub headers: BareMap<String>,
    /// The whole body when not streamed; the first part (usually empty) when
    /// `streamed`, the rest following as [`Event::HttpRequestChunk`](crate::Event::HttpRequestChunk).
    pub body: Bytes,
    /// Whether more body follows in chunks.
    pub streamed: bool,
}

/// An HTTP response to send.
///
/// ```
/// use runner_core::HttpResponse;
/// let r = HttpResponse::new(200).header("content-type", "text/plain").body("hi");
/// assert_eq!((r.status, &r.body[..]), (200, &b"hi"[..]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers (names lower-case; one value per name).
    pub headers: BareMap<String>,
    /// The whole body.
    pub body: Bytes,
}

impl HttpResponse {
    /// A response with `status`, no headers and no body.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::HttpResponse;
    ///
    /// let response = HttpResponse::new(204);
    /// assert_eq!(response.status, 204);
    /// assert!(response.headers.is_empty() && response.body.is_empty());
    /// ```
    pub fn new(status: u16) -> Self {
        HttpResponse {
            status,
            headers: BareMap::new(),
            body: Bytes::new(),
        }
    }

    /// Adds a header (the name is lower-cased).
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::HttpResponse;
    ///
    /// let response = HttpResponse::new(200)
    ///     .header("Content-Type", "text/plain")
    ///     .header("content-type", "text/html"); // one value per name: this replaces it
    /// assert_eq!(response.headers.len(), 1);
    /// assert_eq!(response.headers.get("content-type").map(String::as_str), Some("text/html"));
    /// ```
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.insert(name.to_ascii_lowercase(), value.into());
        self
    }

    /// Sets the body.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::Bytes;
    /// use runner_core::HttpResponse;
    ///
    /// assert_eq!(HttpResponse::new(200).body("hi").body, Bytes::from("hi"));
    /// assert_eq!(HttpResponse::new(200).body(vec![0u8, 1]).body.len(), 2);
    /// assert_eq!(HttpResponse::new(200).body(String::from("ok")).body, Bytes::from("ok"));
    /// ```
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The one answer to a response whose body is over
    /// `limits.max_tunnel_payload` (`limit`): [`Runner::respond`](crate::Runner::respond)
    /// sends it in place of such a response (a larger tunnel message would
    /// make the engine drop the runner's whole connection), for every
    /// event loop alike. A plain-text `500` marked
    /// `x-rivet-error: runner.response_too_large`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Config, HttpResponse, Timestamp, Transmit};
    /// # let mut config = Config::new("http://h:1", "r", "k");
    /// config.limits.max_tunnel_payload = 4;
    /// # let (mut runner, conn) = testing::connected(config)?;
    /// # testing::started_actor(&mut runner, conn, "A")?;
    /// # let key = testing::http_request(&mut runner, conn, 2, testing::get("A", "/"))?;
    /// # testing::drain(&mut runner);
    /// let answer = HttpResponse::payload_too_large(4);
    /// assert_eq!(answer.status, 500);
    /// assert_eq!(answer.headers.get("x-rivet-error"), Some(&"runner.response_too_large".to_string()));
    /// assert_eq!(answer.body, "response body exceeds the runner's 4-byte limit");
    /// runner.respond(Timestamp::ZERO, key, HttpResponse::new(200).body("12345"))?;
    /// let Some(Transmit::Frame(frame)) = runner.poll_transmit() else { panic!() };
    /// let ToServer::TunnelMessage(msg) = decode_to_server(ProtocolVersion::V5, &frame)? else { panic!() };
    /// let ToServerTunnelMessageKind::ResponseStart(sent) = msg.message_kind else { panic!() };
    /// assert_eq!((sent.status, sent.body), (500, Some(answer.body)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn payload_too_large(limit: usize) -> Self {
        HttpResponse::new(500)
            .header("content-type", "text/plain")
            .header("x-rivet-error", "runner.response_too_large")
            .body(format!(
                "response body exceeds the runner's {limit}-byte limit"
            ))
    }
}

/// A WebSocket the gateway wants to open to an actor; answer with
/// [`Runner::websocket_accept`](crate::Runner::websocket_accept) or
/// [`Runner::websocket_reject`](crate::Runner::websocket_reject).
///
/// # Examples
///
/// ```
/// # use runner_core::protocol::*;
/// # use runner_core::{testing, ActorRef, Event, Timestamp};
/// # let (mut runner, conn) = testing::connected(testing::config())?;
/// # let actor = testing::started_actor(&mut runner, conn, "A")?;
/// # let key = testing::websocket(&mut runner, conn, 3, "A", "/ws")?;
/// let Some(Event::WebSocketOpen(open)) = runner.poll_event() else { panic!() };
/// assert_eq!((open.actor, open.path.as_str()), (ActorRef::new("A", 0), "/ws"));
/// runner.websocket_accept(Timestamp::ZERO, open.key, false)?;
/// assert!(runner.request_is_open(open.key));
///
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketOpen {
    /// Identifies the socket in every later call.
    pub key: RequestKey,
    /// The actor it is for.
    pub actor: ActorRef,
    /// Path and query, relative to the actor.
    pub path: String,
    /// Upgrade request headers.
    pub headers: BareMap<String>,
}

/// What a user persisted about a hibernatable WebSocket, handed back on the
/// actor's next start to [`Runner::restore_websockets`](crate::Runner::restore_websockets).
///
/// # Examples
///
/// ```
/// # use runner_core::protocol::*;
/// # use runner_core::{testing, ActorRef, HibernatedSocket, RequestKey, Timestamp, Transmit};
/// # let (mut runner, conn) = testing::connected(testing::config())?;
/// # let held = HibernatingRequest { gateway_id: GatewayId([1; 4]), request_id: RequestId([7; 4]) };
/// # testing::feed(&mut runner, conn, &testing::start_command("A", vec![held]))?;
/// # let actor = ActorRef::new("A", 0);
/// # testing::drain(&mut runner);
/// // The start command listed `held`; the user had persisted it like this:
/// let persisted = HibernatedSocket {
///     key: RequestKey::from(held),
///     last_received_index: 4,
///     next_sent_index: 2,
///     path: "/ws".into(),
///     headers: BareMap::new(),
/// };
/// let report = runner.restore_websockets(Timestamp::ZERO, &actor, vec![persisted])?;
/// assert_eq!(report.restored, [RequestKey::from(held)]);
/// // Message 4 is acknowledged at once, so the gateway stops replaying it.
/// let Some(Transmit::Frame(frame)) = runner.poll_transmit() else { panic!() };
/// let ToServer::TunnelMessage(ack) = decode_to_server(ProtocolVersion::V5, &frame)? else { panic!() };
/// let expected = ToServerWebSocketMessageAck { index: 4 };
/// assert_eq!(ack.message_kind, ToServerTunnelMessageKind::WebSocketMessageAck(expected));
///
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HibernatedSocket {
    /// The socket.
    pub key: RequestKey,
    /// Index of the last gateway message the user processed and persisted.
    pub last_received_index: MessageIndex,
    /// Index the next runner → gateway message will carry.
    pub next_sent_index: MessageIndex,
    /// Path of the original open.
    pub path: String,
    /// Headers of the original open.
    pub headers: BareMap<String>,
}

/// What [`Runner::restore_websockets`](crate::Runner::restore_websockets) did.
///
/// # Examples
///
/// ```
/// # use runner_core::protocol::*;
/// # use runner_core::{testing, ActorRef, HibernatedSocket, RequestKey, RestoreReport, Timestamp};
/// # let (mut runner, conn) = testing::connected(testing::config())?;
/// # let held = HibernatingRequest { gateway_id: GatewayId([1; 4]), request_id: RequestId([7; 4]) };
/// # testing::feed(&mut runner, conn, &testing::start_command("A", vec![held]))?;
/// # let actor = ActorRef::new("A", 0);
/// # testing::drain(&mut runner);
/// // The gateway listed `held`, but nothing was persisted for it; something was
/// // persisted for `gone`, which the gateway no longer holds.
/// let gone = RequestKey::from_bytes([1, 1, 1, 1, 8, 8, 8, 8]);
/// let persisted = HibernatedSocket {
///     key: gone,
///     last_received_index: 0,
///     next_sent_index: 0,
///     path: "/ws".into(),
///     headers: BareMap::new(),
/// };
/// let report = runner.restore_websockets(Timestamp::ZERO, &actor, vec![persisted])?;
/// let closed = vec![RequestKey::from(held)];
/// assert_eq!(report, RestoreReport { restored: vec![], stale: vec![gone], closed });
///
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestoreReport {
    /// Persisted and still held by the gateway: open again, no open event.
    pub restored: Vec<RequestKey>,
    /// Persisted but no longer held by the gateway: delete the persisted data.
    pub stale: Vec<RequestKey>,
    /// Held by the gateway but not persisted: closed
    /// (`1000 ws.meta_not_found_during_restore`).
    pub closed: Vec<RequestKey>,
}

/// Current message indices of a hibernatable socket, to persist with it.
///
/// # Examples
///
/// ```
/// # use runner_core::protocol::*;
/// # use runner_core::{testing, SocketIndices, Timestamp};
/// # let (mut runner, conn) = testing::connected(testing::config())?;
/// # testing::started_actor(&mut runner, conn, "A")?;
/// # let key = testing::websocket(&mut runner, conn, 3, "A", "/ws")?;
/// # while runner.poll_event().is_some() {}
/// runner.websocket_accept(Timestamp::ZERO, key, true)?; // sent as runner message 0
/// let message_id = MessageId { gateway_id: key.gateway_id, request_id: key.request_id, message_index: 1 };
/// let message_kind = ToClientTunnelMessageKind::WebSocketMessage(WebSocketMessage { data: "hi".into(), binary: false });
/// let message = ToClient::TunnelMessage(ToClientTunnelMessage { message_id, message_kind });
/// runner.handle_frame(Timestamp::ZERO, conn, &encode_to_client(ProtocolVersion::V5, &message)?);
/// let indices = runner.websocket_indices(key);
/// assert_eq!(indices, Some(SocketIndices { last_received_index: 1, next_sent_index: 1 }));
///
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketIndices {
    /// Index of the last gateway message delivered.
    pub last_received_index: MessageIndex,
    /// Index the next runner → gateway message will carry.
    pub next_sent_index: MessageIndex,
}

/// Whether `a` comes after `b` in wrapping `u16` order, with the gateway's
/// half-window rule (`0 < (a − b) mod 2¹⁶ < 32767`).
///
/// ```
/// use runner_core::tunnel_index_after;
/// assert!(tunnel_index_after(1, 0));
/// assert!(tunnel_index_after(0, u16::MAX));
/// assert!(!tunnel_index_after(5, 5));
/// assert!(!tunnel_index_after(0, 1));
/// ```
pub fn tunnel_index_after(a: MessageIndex, b: MessageIndex) -> bool {
    let distance = a.wrapping_sub(b);
    distance != 0 && distance < u16::MAX / 2
}
