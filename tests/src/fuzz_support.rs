//! A bare driver of the core for limit and malformed-input tests: one
//! connection, frames in as protocol values or raw bytes, every output
//! decoded and collected. No simulated engine: what the engine would do is
//! up to the test.
//!
//! ```
//! use runner_core::protocol::{ToClient, ToClientPing, ToServer, ToServerPong};
//! use tests::fuzz_support::Wire;
//!
//! let mut wire = Wire::connected(Wire::config());
//! wire.deliver(&ToClient::Ping(ToClientPing { ts: 7 }));
//! assert_eq!(wire.take_frames(), [ToServer::Pong(ToServerPong { ts: 7 })]);
//! ```

use std::time::Duration;

use bytes::Bytes;
use runner_core::protocol::{
    ActorCheckpoint, ActorConfig, Command, CommandStartActor, CommandWrapper, GatewayId,
    HibernatingRequest, Id, MessageId, ProtocolMetadata, ProtocolVersion, RequestId, ToClient,
    ToClientInit, ToClientRequestStart, ToClientTunnelMessage, ToClientTunnelMessageKind,
    ToClientWebSocketOpen, ToServer, decode_to_server, encode_to_client,
};
use runner_core::{ActorRef, Config, ConnId, Event, RequestKey, Runner, Timestamp, Transmit};

/// The core on one open, initialised connection; outputs are collected.
#[derive(Debug)]
pub struct Wire {
    /// The state machine.
    pub runner: Runner,
    /// Current time (only moves forward).
    pub now: Timestamp,
    /// The connection the core opened last.
    pub conn: ConnId,
    version: ProtocolVersion,
    frames: Vec<ToServer>,
    events: Vec<Event>,
    closes: Vec<(ConnId, u16, String)>,
    next_command: i64,
}

impl Wire {
    /// A configuration for tests (endpoint on a port nothing listens on).
    pub fn config() -> Config {
        Config::new("http://127.0.0.1:9", "wire", "wire-key")
    }

    /// Starts the core, opens the connection it asks for and delivers
    /// `ToClientInit` (runner id `r0`); the outputs so far are discarded.
    pub fn connected(config: Config) -> Wire {
        let version = config.protocol_version;
        let mut runner = Runner::new(config, Timestamp::ZERO).expect("valid config");
        runner.start(Timestamp::ZERO);
        let conn = match runner.poll_transmit() {
            Some(Transmit::Connect { conn, .. }) => conn,
            other => panic!("expected a connect, got {other:?}"),
        };
        let mut wire = Wire {
            runner,
            now: Timestamp::ZERO,
            conn,
            version,
            frames: Vec::new(),
            events: Vec::new(),
            closes: Vec::new(),
            next_command: 0,
        };
        wire.open_and_init();
        wire.take_frames();
        wire.take_events();
        wire
    }

    /// Opens the connection the core asked for last and delivers
    /// `ToClientInit` (runner id `r0`).
    fn open_and_init(&mut self) {
        self.runner.handle_connected(self.now, self.conn);
        self.drain();
        let version = self.version;
        self.deliver(&ToClient::Init(ToClientInit {
            runner_id: Id::from("r0"),
            metadata: ProtocolMetadata {
                runner_lost_threshold: 15_000,
                actor_stop_threshold: (version >= ProtocolVersion::V6).then_some(30_000),
                serverless_drain_grace_period: None,
            },
        }));
        assert!(self.runner.is_connected(), "init refused");
    }

    /// After the connection was lost or closed: runs the timers until the
    /// core connects again, then opens and initialises that connection.
    /// Returns how long that took.
    pub fn reconnect(&mut self) -> Duration {
        let old = self.conn;
        let began = self.now;
        while self.conn == old {
            let next = self.runner.poll_timeout().expect("a reconnect timer");
            assert!(
                next.saturating_duration_since(began) < Duration::from_secs(120),
                "no reconnect within two minutes"
            );
            self.advance(next.saturating_duration_since(self.now));
        }
        self.open_and_init();
        self.now.saturating_duration_since(began)
    }

    /// Delivers one engine message on the connection.
    pub fn deliver(&mut self, msg: &ToClient) {
        let frame = encode_to_client(self.version, msg).expect("test message encodes");
        self.deliver_bytes(&frame);
    }

    /// Delivers raw bytes as one binary message on the connection.
    pub fn deliver_bytes(&mut self, frame: &[u8]) {
        self.runner.handle_frame(self.now, self.conn, frame);
        self.drain();
    }

    /// Moves time forward and runs the timers.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.runner.handle_timeout(self.now);
        self.drain();
    }

    /// Collects every output, decoding frames (an undecodable one fails the test).
    pub fn drain(&mut self) {
        while let Some(transmit) = self.runner.poll_transmit() {
            match transmit {
                Transmit::Frame(bytes) => {
                    let msg = decode_to_server(self.version, &bytes)
                        .unwrap_or_else(|e| panic!("undecodable frame from the runner: {e}"));
                    self.frames.push(msg);
                }
                Transmit::Close { conn, code, reason } => self.closes.push((conn, code, reason)),
                Transmit::Connect { conn, .. } => self.conn = conn,
            }
        }
        while let Some(event) = self.runner.poll_event() {
            self.events.push(event);
        }
    }

    /// Frames sent since the last call.
    pub fn take_frames(&mut self) -> Vec<ToServer> {
        std::mem::take(&mut self.frames)
    }

    /// Events emitted since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Connection closes the runner asked for since the last call.
    pub fn take_closes(&mut self) -> Vec<(ConnId, u16, String)> {
        std::mem::take(&mut self.closes)
    }

    /// Sends `CommandStartActor` for `actor_id` at `generation`, listing
    /// `hibernating` sockets; returns the actor (not started by the user yet).
    pub fn start_command(
        &mut self,
        actor_id: &str,
        generation: u32,
        hibernating: Vec<RequestKey>,
    ) -> ActorRef {
        self.next_command += 1;
        let start = CommandStartActor {
            config: ActorConfig {
                name: "a".into(),
                key: None,
                create_ts: 0,
                input: None,
            },
            hibernating_requests: hibernating
                .into_iter()
                .map(|k| HibernatingRequest {
                    gateway_id: k.gateway_id,
                    request_id: k.request_id,
                })
                .collect(),
        };
        self.deliver(&ToClient::Commands(vec![CommandWrapper {
            checkpoint: ActorCheckpoint {
                actor_id: Id::from(actor_id),
                generation,
                index: self.next_command,
            },
            inner: Command::StartActor(start),
        }]));
        ActorRef::new(actor_id, generation)
    }

    /// Starts an actor and reports its start done.
    pub fn running_actor(&mut self, actor_id: &str) -> ActorRef {
        let actor = self.start_command(actor_id, 0, Vec::new());
        self.runner
            .actor_started(self.now, &actor, Ok(()))
            .expect("actor starts");
        self.drain();
        self.take_frames();
        self.take_events();
        actor
    }

    /// Delivers a tunnel message for `key`.
    pub fn tunnel(&mut self, key: RequestKey, index: u16, kind: ToClientTunnelMessageKind) {
        self.deliver(&ToClient::TunnelMessage(ToClientTunnelMessage {
            message_id: MessageId {
                gateway_id: key.gateway_id,
                request_id: key.request_id,
                message_index: index,
            },
            message_kind: kind,
        }));
    }

    /// Delivers `ToClientRequestStart` (not streamed) for `actor_id`.
    pub fn request(&mut self, key: RequestKey, actor_id: &str, body: &[u8]) {
        let start = ToClientRequestStart {
            actor_id: Id::from(actor_id),
            method: "POST".into(),
            path: "/".into(),
            headers: Default::default(),
            body: Some(Bytes::copy_from_slice(body)),
            stream: false,
        };
        self.tunnel(key, 0, ToClientTunnelMessageKind::RequestStart(start));
    }

    /// Delivers `ToClientWebSocketOpen` for `actor_id`.
    pub fn websocket_open(&mut self, key: RequestKey, actor_id: &str) {
        let open = ToClientWebSocketOpen {
            actor_id: Id::from(actor_id),
            path: "/ws".into(),
            headers: Default::default(),
        };
        self.tunnel(key, 0, ToClientTunnelMessageKind::WebSocketOpen(open));
    }
}

/// Request key number `n` of gateway 1.
pub fn key(n: u32) -> RequestKey {
    RequestKey::new(GatewayId([0, 0, 0, 1]), RequestId(n.to_be_bytes()))
}
