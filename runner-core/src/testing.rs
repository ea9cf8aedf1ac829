//! The engine's side of a few exchanges, as values: for examples, and for
//! tests of code that embeds the core (custom event loops, property tests).
//!
//! Like the rest of the core these helpers are pure: no clock, IO,
//! randomness or threads. Frames are encoded and decoded with the protocol
//! version of the runner's [`Config`], and fed at [`Timestamp::ZERO`]: a
//! runner's clock never goes back, so that means "at the runner's current
//! time" (a fresh runner starts at zero).
//!
//! ```
//! use runner_core::testing;
//! use runner_core::{Event, Timestamp};
//!
//! let (mut runner, conn) = testing::connected(testing::config())?;
//! let actor = testing::started_actor(&mut runner, conn, "A")?;
//! let key = testing::http_request(&mut runner, conn, 1, testing::get("A", "/ping"))?;
//! let Some(Event::HttpRequest(request)) = runner.poll_event() else { panic!() };
//! assert_eq!((request.key, &*request.actor.actor_id), (key, "A"));
//! runner.actor_stopped(Timestamp::ZERO, &actor).unwrap_err(); // still running
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use thiserror::Error;

use crate::protocol::{
    ActorCheckpoint, ActorConfig, BareMap, Command, CommandStartActor, CommandWrapper, DecodeError,
    EncodeError, GatewayId, HibernatingRequest, MessageId, MessageIndex, ProtocolMetadata,
    ProtocolVersion, RequestId, ToClient, ToClientInit, ToClientRequestStart,
    ToClientTunnelMessage, ToClientTunnelMessageKind, ToClientWebSocketOpen, ToServer,
    decode_to_server, encode_to_client,
};
use crate::{
    ActorRef, CallError, Config, ConfigError, ConnId, RequestKey, Runner, Timestamp, Transmit,
};

/// Why a helper could not play its part of an exchange.
///
/// # Examples
///
/// ```
/// use runner_core::{Config, ConfigError, testing};
///
/// let keyless = Config::new("http://h:1", "r", "");
/// let err = testing::connected(keyless).unwrap_err();
/// assert!(matches!(err, testing::Error::Config(ConfigError::Empty("runner_key"))));
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration was refused by [`Runner::new`].
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A message of the engine does not exist in the runner's protocol version.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The runner sent a frame that does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The runner refused a call the helper made for the user.
    #[error(transparent)]
    Call(#[from] CallError),
    /// A started runner did not ask to connect first (never seen: a fresh
    /// runner's first transmit is its connect).
    #[error("the started runner did not ask to connect")]
    NoConnect,
}

/// A valid configuration: engine `http://h:1`, runner name `r`, key `k`.
///
/// # Examples
///
/// ```
/// use runner_core::testing;
///
/// let config = testing::config();
/// assert_eq!((config.runner_name.as_str(), config.runner_key.as_str()), ("r", "k"));
/// assert_eq!(config.validate(), Ok(()));
/// ```
pub fn config() -> Config {
    Config::new("http://h:1", "r", "k")
}

/// A started runner whose transport is open: it has sent its
/// `ToServerInit` (dropped here) and waits for the engine's answer.
///
/// # Examples
///
/// ```
/// use runner_core::testing;
///
/// let (mut runner, _conn) = testing::open(testing::config())?;
/// assert!(!runner.is_connected()); // the engine has not answered
/// assert_eq!(runner.poll_transmit(), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open(config: Config) -> Result<(Runner, ConnId), Error> {
    let mut runner = Runner::new(config, Timestamp::ZERO)?;
    runner.start(Timestamp::ZERO);
    let Some(Transmit::Connect { conn, .. }) = runner.poll_transmit() else {
        return Err(Error::NoConnect);
    };
    runner.handle_connected(Timestamp::ZERO, conn);
    drain(&mut runner);
    Ok((runner, conn))
}

/// A runner past the handshake: the engine answered [`open`] with a
/// `ToClientInit` (runner id `R`, lost threshold 15 s), and nothing is queued.
///
/// # Examples
///
/// ```
/// use runner_core::testing;
///
/// let (mut runner, _conn) = testing::connected(testing::config())?;
/// assert!(runner.is_connected());
/// assert_eq!(runner.runner_id().map(|id| &**id), Some("R"));
/// assert_eq!((runner.poll_transmit(), runner.poll_event()), (None, None));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connected(config: Config) -> Result<(Runner, ConnId), Error> {
    let (mut runner, conn) = open(config)?;
    let version = runner.config().protocol_version;
    // From v6 on the engine must state its actor stop threshold.
    let metadata = ProtocolMetadata {
        runner_lost_threshold: 15_000,
        actor_stop_threshold: (version >= ProtocolVersion::V6).then_some(30_000),
        serverless_drain_grace_period: None,
    };
    let init = ToClientInit {
        runner_id: "R".into(),
        metadata,
    };
    feed(&mut runner, conn, &ToClient::Init(init))?;
    drain(&mut runner);
    Ok((runner, conn))
}

/// Encodes `msg` in the runner's protocol version and hands it to
/// [`Runner::handle_frame`] on `conn`.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::{ToClient, ToClientPing, ToServer, ToServerPong};
/// use runner_core::testing;
///
/// let (mut runner, conn) = testing::connected(testing::config())?;
/// testing::feed(&mut runner, conn, &ToClient::Ping(ToClientPing { ts: 42 }))?;
/// assert_eq!(testing::sent(&mut runner)?, [ToServer::Pong(ToServerPong { ts: 42 })]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn feed(runner: &mut Runner, conn: ConnId, msg: &ToClient) -> Result<(), Error> {
    let frame = encode_to_client(runner.config().protocol_version, msg)?;
    runner.handle_frame(Timestamp::ZERO, conn, &frame);
    Ok(())
}

/// The engine's command starting generation 0 of `actor_id` (named `n`),
/// with the requests it kept hibernating for the actor.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::{Command, ToClient};
/// use runner_core::testing;
///
/// let ToClient::Commands(commands) = testing::start_command("A", vec![]) else { panic!() };
/// assert_eq!((&*commands[0].checkpoint.actor_id, commands[0].checkpoint.generation), ("A", 0));
/// assert!(matches!(&commands[0].inner, Command::StartActor(start) if start.config.name == "n"));
/// ```
pub fn start_command(actor_id: &str, hibernating: Vec<HibernatingRequest>) -> ToClient {
    let config = ActorConfig {
        name: "n".into(),
        key: None,
        create_ts: 0,
        input: None,
    };
    let start = CommandStartActor {
        config,
        hibernating_requests: hibernating,
    };
    // Index 0: the first command of a new generation.
    let checkpoint = ActorCheckpoint {
        actor_id: actor_id.into(),
        generation: 0,
        index: 0,
    };
    ToClient::Commands(vec![CommandWrapper {
        checkpoint,
        inner: Command::StartActor(start),
    }])
}

/// Feeds [`start_command`] for `actor_id`: the actor is starting, and its
/// [`Event::ActorStart`](crate::Event::ActorStart) is left queued.
///
/// # Examples
///
/// ```
/// use runner_core::{Event, Timestamp, testing};
///
/// let (mut runner, conn) = testing::connected(testing::config())?;
/// let actor = testing::start_actor(&mut runner, conn, "A")?;
/// assert!(matches!(runner.poll_event(), Some(Event::ActorStart { actor: a, .. }) if a == actor));
/// runner.actor_started(Timestamp::ZERO, &actor, Ok(()))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn start_actor(runner: &mut Runner, conn: ConnId, actor_id: &str) -> Result<ActorRef, Error> {
    feed(runner, conn, &start_command(actor_id, vec![]))?;
    Ok(ActorRef::new(actor_id, 0))
}

/// [`start_actor`], then the user's start reported done; every output
/// (the start event, the state updates) is dropped.
///
/// # Examples
///
/// ```
/// use runner_core::{CallError, Timestamp, testing};
///
/// let (mut runner, conn) = testing::connected(testing::config())?;
/// let actor = testing::started_actor(&mut runner, conn, "A")?;
/// assert_eq!((runner.actor_count(), runner.poll_event()), (1, None));
/// let again = runner.actor_started(Timestamp::ZERO, &actor, Ok(()));
/// assert!(matches!(again, Err(CallError::WrongState { state: "running", .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn started_actor(runner: &mut Runner, conn: ConnId, actor_id: &str) -> Result<ActorRef, Error> {
    let actor = start_actor(runner, conn, actor_id)?;
    runner.actor_started(Timestamp::ZERO, &actor, Ok(()))?;
    drain(runner);
    Ok(actor)
}

/// The key of request `id` from gateway `[1; 4]`: distinct ids, distinct keys.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::{GatewayId, RequestId};
/// use runner_core::testing;
///
/// assert_eq!(testing::key(2).gateway_id, GatewayId([1; 4]));
/// assert_eq!(testing::key(2).request_id, RequestId([0, 0, 0, 2]));
/// ```
pub fn key(id: u32) -> RequestKey {
    RequestKey::new(GatewayId([1; 4]), RequestId(id.to_be_bytes()))
}

/// A `GET` of `path` on `actor_id`, without headers or body.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::ToClientRequestStart;
/// use runner_core::testing;
///
/// let get = testing::get("A", "/ping");
/// assert_eq!((&*get.actor_id, get.method.as_str(), get.path.as_str()), ("A", "GET", "/ping"));
/// // Other requests start from it.
/// let post = ToClientRequestStart { method: "POST".into(), body: Some("hi".into()), ..get };
/// assert!(!post.stream);
/// ```
pub fn get(actor_id: &str, path: &str) -> ToClientRequestStart {
    ToClientRequestStart {
        actor_id: actor_id.into(),
        method: "GET".into(),
        path: path.into(),
        headers: BareMap::new(),
        body: None,
        stream: false,
    }
}

/// Tunnel message number `index` of the request `key`, engine to runner.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::{ToClient, ToClientTunnelMessageKind, WebSocketMessage};
/// use runner_core::testing;
///
/// let hi = WebSocketMessage { data: "hi".into(), binary: false };
/// let msg = testing::tunnel_message(testing::key(3), 1, ToClientTunnelMessageKind::WebSocketMessage(hi));
/// let ToClient::TunnelMessage(msg) = msg else { panic!() };
/// assert_eq!((msg.message_id.request_id, msg.message_id.message_index), (testing::key(3).request_id, 1));
/// ```
pub fn tunnel_message(
    key: RequestKey,
    index: MessageIndex,
    kind: ToClientTunnelMessageKind,
) -> ToClient {
    let message_id = MessageId {
        gateway_id: key.gateway_id,
        request_id: key.request_id,
        message_index: index,
    };
    ToClient::TunnelMessage(ToClientTunnelMessage {
        message_id,
        message_kind: kind,
    })
}

/// Opens HTTP request [`key(id)`](key) with `request` (message 0, whole
/// body, not streamed) and returns its key. Outputs are left queued.
///
/// # Examples
///
/// ```
/// use runner_core::{Event, testing};
///
/// let (mut runner, conn) = testing::connected(testing::config())?;
/// testing::started_actor(&mut runner, conn, "A")?;
/// let key = testing::http_request(&mut runner, conn, 2, testing::get("A", "/ping"))?;
/// let Some(Event::HttpRequest(request)) = runner.poll_event() else { panic!() };
/// assert_eq!((request.key, request.path.as_str()), (key, "/ping"));
/// assert_eq!(runner.open_request_count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn http_request(
    runner: &mut Runner,
    conn: ConnId,
    id: u32,
    request: ToClientRequestStart,
) -> Result<RequestKey, Error> {
    let kind = ToClientTunnelMessageKind::RequestStart(request);
    feed(runner, conn, &tunnel_message(key(id), 0, kind))?;
    Ok(key(id))
}

/// Opens WebSocket [`key(id)`](key) on `path` of `actor_id` (message 0, no
/// headers) and returns its key. Outputs are left queued.
///
/// # Examples
///
/// ```
/// use runner_core::{Event, testing};
///
/// let (mut runner, conn) = testing::connected(testing::config())?;
/// testing::started_actor(&mut runner, conn, "A")?;
/// let key = testing::websocket(&mut runner, conn, 3, "A", "/ws")?;
/// let Some(Event::WebSocketOpen(open)) = runner.poll_event() else { panic!() };
/// assert_eq!((open.key, open.path.as_str()), (key, "/ws"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn websocket(
    runner: &mut Runner,
    conn: ConnId,
    id: u32,
    actor_id: &str,
    path: &str,
) -> Result<RequestKey, Error> {
    let open = ToClientWebSocketOpen {
        actor_id: actor_id.into(),
        path: path.into(),
        headers: BareMap::new(),
    };
    let kind = ToClientTunnelMessageKind::WebSocketOpen(open);
    feed(runner, conn, &tunnel_message(key(id), 0, kind))?;
    Ok(key(id))
}

/// Drains the runner's transmits and decodes its frames, in order.
/// Connects and closes carry no message and are skipped.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::{ActorIntent, Event, EventActorIntent, ToServer};
/// use runner_core::{Timestamp, testing};
///
/// let (mut runner, conn) = testing::connected(testing::config())?;
/// let actor = testing::started_actor(&mut runner, conn, "A")?;
/// runner.sleep_actor(Timestamp::ZERO, &actor)?;
/// let Some(ToServer::Events(events)) = testing::sent(&mut runner)?.pop() else { panic!() };
/// assert_eq!(events[0].inner, Event::Intent(EventActorIntent { intent: ActorIntent::Sleep }));
/// assert_eq!(runner.poll_transmit(), None); // drained
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn sent(runner: &mut Runner) -> Result<Vec<ToServer>, Error> {
    let version = runner.config().protocol_version;
    std::iter::from_fn(|| runner.poll_transmit())
        .filter_map(|transmit| match transmit {
            Transmit::Frame(frame) => Some(decode_to_server(version, &frame)),
            Transmit::Connect { .. } | Transmit::Close { .. } => None,
        })
        .map(|decoded| decoded.map_err(Error::from))
        .collect()
}

/// Drops everything the runner has queued, transmits and events, so that
/// what follows sees only its own outputs.
///
/// # Examples
///
/// ```
/// use runner_core::testing;
///
/// let (mut runner, conn) = testing::connected(testing::config())?;
/// testing::start_actor(&mut runner, conn, "A")?;
/// testing::drain(&mut runner);
/// assert_eq!((runner.poll_transmit(), runner.poll_event()), (None, None));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn drain(runner: &mut Runner) {
    while runner.poll_transmit().is_some() {}
    while runner.poll_event().is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every version the core speaks gets through the handshake: the init's
    /// metadata follows the version's required fields.
    #[test]
    fn connects_in_every_protocol_version() {
        for version in ProtocolVersion::ALL {
            let mut config = config();
            config.protocol_version = version;
            let (runner, _) = connected(config).expect("handshake");
            assert!(runner.is_connected(), "{version:?}");
        }
    }

    /// `sent` decodes with the runner's version, not a fixed one.
    #[test]
    fn sent_decodes_in_the_runners_version() {
        let mut config = config();
        config.protocol_version = ProtocolVersion::LATEST;
        let (mut runner, conn) = connected(config).expect("handshake");
        let ping = ToClient::Ping(crate::protocol::ToClientPing { ts: 7 });
        feed(&mut runner, conn, &ping).expect("encodes");
        let pong = ToServer::Pong(crate::protocol::ToServerPong { ts: 7 });
        assert_eq!(sent(&mut runner).expect("decodes"), [pong]);
    }
}
