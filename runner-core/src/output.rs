//! What the core hands back to its caller: transmits and events.

use std::fmt;

use bytes::Bytes;

use crate::ids::{ActorRef, ConnId, KvRequestId, RequestKey};
use crate::kv::{KvError, KvResponse};
use crate::protocol::{
    ActorConfig, HibernatingRequest, Id, MessageIndex, ProtocolMetadata, StopCode,
};
use crate::tunnel::{HttpRequest, WebSocketOpen};

/// Work for the transport, in the order it must happen.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::{ProtocolVersion, ToServer, decode_to_server};
/// use runner_core::{Config, Runner, ShutdownMode, Timestamp, Transmit};
///
/// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
/// runner.start(Timestamp::ZERO);
/// let Some(Transmit::Connect { conn, url, .. }) = runner.poll_transmit() else { panic!() };
/// assert!(url.starts_with("ws://h:1/runners/connect?"));
/// runner.handle_connected(Timestamp::ZERO, conn);
/// let Some(Transmit::Frame(hello)) = runner.poll_transmit() else { panic!() };
/// assert!(matches!(decode_to_server(ProtocolVersion::V5, &hello)?, ToServer::Init(_)));
/// runner.shutdown(Timestamp::ZERO, ShutdownMode::Immediate);
/// assert!(matches!(runner.poll_transmit(), Some(Transmit::Close { conn: c, .. }) if c == conn));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
#[must_use]
pub enum Transmit {
    /// Open a WebSocket to `url` offering `subprotocols`; report the result
    /// with [`Runner::handle_connected`](crate::Runner::handle_connected) or
    /// [`Runner::handle_closed`](crate::Runner::handle_closed).
    Connect {
        /// Id of this attempt.
        conn: ConnId,
        /// `ws://` or `wss://` URL.
        url: String,
        /// Sub-protocols to offer, in order.
        subprotocols: Vec<String>,
    },
    /// Send one binary message on the open connection.
    Frame(Bytes),
    /// Close the connection `conn` with this code and reason (or abandon the
    /// attempt if it is still connecting). The core already considers it gone.
    Close {
        /// The connection.
        conn: ConnId,
        /// WebSocket close code.
        code: u16,
        /// Close reason (at most 123 bytes).
        reason: String,
    },
}

/// Written by hand so that the token in a `Connect`'s sub-protocols is
/// never printed.
impl fmt::Debug for Transmit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transmit::Connect {
                conn,
                url,
                subprotocols,
            } => f
                .debug_struct("Connect")
                .field("conn", conn)
                .field("url", url)
                .field("subprotocols", &crate::RedactedSubprotocols(subprotocols))
                .finish(),
            Transmit::Frame(bytes) => f.debug_tuple("Frame").field(bytes).finish(),
            Transmit::Close { conn, code, reason } => f
                .debug_struct("Close")
                .field("conn", conn)
                .field("code", code)
                .field("reason", reason)
                .finish(),
        }
    }
}

/// Why an actor is being stopped.
///
/// # Examples
///
/// A start callback that fails stops the actor:
///
/// ```
/// # use runner_core::protocol::*;
/// # use runner_core::{testing, ActorRef, Event, StopReason, Timestamp};
/// # let (mut runner, conn) = testing::connected(testing::config())?;
/// # testing::start_actor(&mut runner, conn, "A")?;
/// # while runner.poll_event().is_some() {}
/// let actor = ActorRef::new("A", 0);
/// runner.actor_started(Timestamp::ZERO, &actor, Err("no database".into()))?;
/// let reason = StopReason::StartFailed("no database".into());
/// assert_eq!(runner.poll_event(), Some(Event::ActorStop { actor, reason }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The engine asked (sleep, stop intent, destroy, drain).
    Engine,
    /// The user's start callback failed.
    StartFailed(String),
    /// The user's start callback did not finish in time.
    StartTimedOut,
    /// The actor reported a crash.
    Crashed(String),
    /// The engine assigned this runner a new id: every old actor is gone.
    RunnerIdChanged,
    /// The engine stayed unreachable past its runner-lost threshold.
    RunnerLost,
    /// The runner is shutting down.
    Shutdown,
    /// The engine started a newer generation of the same actor.
    Superseded,
    /// The runner already hosts its maximum number of actors.
    Capacity,
}

impl StopReason {
    /// The stop code reported to the engine: `OK` for stops the engine asked
    /// for and for shutdown drains, `ERROR` for everything that went wrong, so
    /// that the engine applies the actor's crash policy instead of destroying it.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::{StopReason, protocol::StopCode};
    ///
    /// assert_eq!(StopReason::Engine.code(), StopCode::Ok);
    /// assert_eq!(StopReason::Shutdown.code(), StopCode::Ok);
    /// assert_eq!(StopReason::Crashed("boom".into()).code(), StopCode::Error);
    /// assert_eq!(StopReason::StartTimedOut.code(), StopCode::Error);
    /// ```
    pub fn code(&self) -> StopCode {
        match self {
            StopReason::Engine | StopReason::Shutdown => StopCode::Ok,
            _ => StopCode::Error,
        }
    }

    /// Human-readable message sent with an `ERROR` stop.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::StopReason;
    ///
    /// assert_eq!(StopReason::Engine.message(), None);
    /// let failed = StopReason::StartFailed("no database".into());
    /// assert_eq!(failed.message().as_deref(), Some("start failed: no database"));
    /// assert_eq!(StopReason::Crashed("boom".into()).message().as_deref(), Some("boom"));
    /// ```
    pub fn message(&self) -> Option<String> {
        match self {
            StopReason::Engine | StopReason::Shutdown => None,
            StopReason::StartFailed(m) => Some(format!("start failed: {m}")),
            StopReason::StartTimedOut => Some("start timed out".into()),
            StopReason::Crashed(m) => Some(m.clone()),
            StopReason::RunnerIdChanged => Some("runner id changed".into()),
            StopReason::RunnerLost => Some("runner lost its connection".into()),
            StopReason::Superseded => Some("superseded by a newer generation".into()),
            StopReason::Capacity => Some("runner is at capacity".into()),
        }
    }
}

/// Why the runner shut down.
///
/// # Examples
///
/// A handshake the engine refuses for good (HTTP 401) ends the runner:
///
/// ```
/// use runner_core::{Config, Event, Runner, ShutdownReason, Timestamp, Transmit, TransportClose};
///
/// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
/// runner.start(Timestamp::ZERO);
/// let Some(Transmit::Connect { conn, .. }) = runner.poll_transmit() else { panic!() };
/// let refused = TransportClose { http_status: Some(401), ..TransportClose::default() };
/// runner.handle_closed(Timestamp::ZERO, conn, refused);
/// let Some(Event::ShutdownComplete { reason }) = runner.poll_event() else { panic!() };
/// assert_eq!(reason, ShutdownReason::Fatal("handshake refused with HTTP 401".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownReason {
    /// [`Runner::shutdown`](crate::Runner::shutdown) was called.
    Requested,
    /// The engine evicted this runner (another connection took its key).
    Evicted,
    /// The engine refused the runner in a way retrying cannot fix.
    Fatal(String),
}

/// Something the user's code must act on.
///
/// # Examples
///
/// Drain the events after every input and act on each; here the engine has just
/// sent a start command:
///
/// ```
/// # use runner_core::protocol::*;
/// # use runner_core::{testing, ActorRef, Event, Timestamp};
/// # let (mut runner, conn) = testing::connected(testing::config())?;
/// # let checkpoint = ActorCheckpoint { actor_id: "A".into(), generation: 0, index: 0 };
/// # let start = Command::StartActor(CommandStartActor { config: ActorConfig { name: "counter".into(), key: None, create_ts: 0, input: None }, hibernating_requests: vec![] });
/// # testing::feed(&mut runner, conn, &ToClient::Commands(vec![CommandWrapper { checkpoint, inner: start }]))?;
/// let mut started = Vec::new();
/// while let Some(event) = runner.poll_event() {
///     match event {
///         Event::ActorStart { actor, config, .. } => {
///             assert_eq!(config.name, "counter");
///             runner.actor_started(Timestamp::ZERO, &actor, Ok(()))?;
///             started.push(actor);
///         }
///         other => panic!("unexpected {other:?}"),
///     }
/// }
/// assert_eq!(started, [ActorRef::new("A", 0)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
#[non_exhaustive]
pub enum Event {
    /// The engine accepted the connection.
    Connected {
        /// The runner's id.
        runner_id: Id,
        /// Timing parameters announced by the engine.
        metadata: ProtocolMetadata,
    },
    /// The connection ended; the core reconnects unless shutting down.
    Disconnected {
        /// Close code, if the peer sent one.
        code: Option<u16>,
        /// Close reason or transport error.
        reason: String,
    },
    /// Start this actor, then call
    /// [`Runner::actor_started`](crate::Runner::actor_started).
    ActorStart {
        /// The actor.
        actor: ActorRef,
        /// How it was created.
        config: ActorConfig,
        /// Hibernated WebSockets the gateway still holds for it.
        hibernating: Vec<HibernatingRequest>,
    },
    /// Stop this actor, then call
    /// [`Runner::actor_stopped`](crate::Runner::actor_stopped).
    ActorStop {
        /// The actor.
        actor: ActorRef,
        /// Why.
        reason: StopReason,
    },
    /// Outcome of a KV call.
    KvResult {
        /// The id the call returned.
        id: KvRequestId,
        /// Result or typed failure.
        result: Result<KvResponse, KvError>,
    },
    /// An HTTP request for an actor: answer it with
    /// [`Runner::respond`](crate::Runner::respond) (or
    /// [`Runner::abort_request`](crate::Runner::abort_request)).
    HttpRequest(HttpRequest),
    /// More body of a streamed request.
    HttpRequestChunk {
        /// The request.
        key: RequestKey,
        /// The bytes.
        data: Bytes,
        /// Whether this is the end of the body.
        finish: bool,
    },
    /// The request can no longer be answered (client gone, actor stopped,
    /// body too large): stop working on it.
    HttpRequestAborted {
        /// The request.
        key: RequestKey,
    },
    /// A client wants a WebSocket: answer with
    /// [`Runner::websocket_accept`](crate::Runner::websocket_accept) or
    /// [`Runner::websocket_reject`](crate::Runner::websocket_reject).
    WebSocketOpen(WebSocketOpen),
    /// A message from the client.
    WebSocketMessage {
        /// The socket.
        key: RequestKey,
        /// Payload (UTF-8 when `binary` is false, unchecked).
        data: Bytes,
        /// Binary or text.
        binary: bool,
        /// Gateway message index: persist it for hibernatable sockets, then
        /// acknowledge with [`Runner::websocket_ack`](crate::Runner::websocket_ack).
        index: MessageIndex,
    },
    /// The socket is closed (by the client, the gateway, the runner because
    /// its actor stopped, or a protocol violation). No more calls apply to it.
    WebSocketClosed {
        /// The socket.
        key: RequestKey,
        /// Close code, if any.
        code: Option<u16>,
        /// Close reason, if any.
        reason: Option<String>,
    },
    /// The socket's actor stopped and the gateway keeps the client connection
    /// open (hibernation): drop the handler but keep what was persisted; the
    /// socket comes back through [`Runner::restore_websockets`](crate::Runner::restore_websockets).
    WebSocketHibernated {
        /// The socket.
        key: RequestKey,
    },
    /// The runner has shut down; no more events follow.
    ShutdownComplete {
        /// Why.
        reason: ShutdownReason,
    },
}
