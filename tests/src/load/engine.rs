//! The engine's side of the runner protocol, over a real WebSocket on
//! loopback, as fast as it can be driven.
//!
//! It does what a runner needs from the engine to be loaded and no more
//! (`shared/spec/runner-behaviour.md` §1–§6): accepts
//! `/runners/connect?protocol_version=…`, answers `ToServerInit` with
//! `ToClientInit`, pings every 3 s, starts and stops actors with checkpointed
//! commands, acknowledges events in batches of 250 as the engine does,
//! serves KV from memory, and plays the gateway: HTTP requests
//! (`ToClientRequestStart`, matched with `ToServerResponseStart` by request
//! id) and WebSocket messages on open sockets, a fixed number in flight.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use futures::stream::SplitStream;
use futures::{FutureExt, SinkExt, StreamExt};
use runner_core::protocol::{
    encode_to_client, ActorCheckpoint, ActorConfig, ActorState, BareMap, Command,
    CommandStartActor, CommandWrapper, Event, EventWrapper, GatewayId, Id, MessageId,
    ProtocolMetadata, ProtocolVersion, RequestId, ToClient, ToClientAckEvents, ToClientInit,
    ToClientKvResponse, ToClientPing, ToClientRequestStart, ToClientTunnelMessage,
    ToClientTunnelMessageKind, ToClientWebSocketClose, ToClientWebSocketOpen, ToServer,
    ToServerTunnelMessage, ToServerTunnelMessageKind, WebSocketMessage,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::sim::kv_store::KvStore;

use super::Mode;

/// The engine's ping interval.
const PING_INTERVAL: Duration = Duration::from_secs(3);
/// The engine acknowledges an actor's events once this many are new.
const EVENT_ACK_BATCH: i64 = 250;
/// The gateway id of every tunnelled request.
const GATEWAY: GatewayId = GatewayId([0x6c, 0x6f, 0x61, 0x64]);
/// Frames read without waiting before the replies are written.
const READ_BURST: usize = 512;

/// A listening load engine on `127.0.0.1:<free port>`.
#[derive(Debug)]
pub struct LoadEngine {
    listener: TcpListener,
    port: u16,
}

impl LoadEngine {
    /// Listens on a free loopback port.
    pub async fn bind() -> Result<LoadEngine> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        Ok(LoadEngine { listener, port })
    }

    /// What a runner's `RIVET_ENDPOINT` should be.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Accepts the next runner connection and answers its `ToServerInit`.
    // The handshake callback's error type (an HTTP response) is tungstenite's.
    #[allow(clippy::result_large_err)]
    pub async fn accept(&self, timeout: Duration) -> Result<Conn> {
        let deadline = Instant::now() + timeout;
        let (tcp, _) = tokio::time::timeout_at(deadline.into(), self.listener.accept())
            .await
            .context("no runner connected")??;
        tcp.set_nodelay(true)?;
        let mut target = String::new();
        // tungstenite's callback type fixes the (large) error type.
        #[allow(clippy::result_large_err)]
        let callback = |request: &Request, mut response: Response| {
            target = request.uri().to_string();
            let offered = request
                .headers()
                .get_all("sec-websocket-protocol")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|p| p.trim() == "rivet");
            if offered {
                response
                    .headers_mut()
                    .insert("sec-websocket-protocol", HeaderValue::from_static("rivet"));
            }
            Ok(response)
        };
        let ws = tokio::time::timeout_at(
            deadline.into(),
            tokio_tungstenite::accept_hdr_async(tcp, callback),
        )
        .await
        .context("WebSocket handshake timed out")??;
        if !target.starts_with("/runners/connect") {
            bail!("the runner connected to {target}, not /runners/connect");
        }
        let version = query_param(&target, "protocol_version")
            .and_then(|v| v.parse::<u16>().ok())
            .ok_or_else(|| anyhow!("no protocol_version in {target}"))?;
        let version = ProtocolVersion::new(version)?;
        let mut conn = Conn::new(ws, version);
        let inited = conn.pump(deadline, |c| c.runner_name.is_some()).await?;
        if !inited {
            bail!("no ToServerInit");
        }
        Ok(conn)
    }
}

fn query_param<'a>(target: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = target.split_once('?')?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Where an actor is in its lifecycle, as the engine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Starting,
    Running,
    Stopping,
    Stopped,
}

#[derive(Debug)]
struct Actor {
    id: Id,
    generation: u32,
    life: Life,
    /// Index of the next command for this generation.
    next_command: i64,
    last_event: i64,
    acked_event: i64,
    kv: KvStore,
}

/// What the load engine keeps in flight.
#[derive(Debug, Default)]
enum Load {
    /// Nothing (between modes, or draining).
    #[default]
    Idle,
    /// Tunnelled HTTP requests: request id → when it was sent.
    Http {
        mode: Mode,
        in_flight: HashMap<u32, Instant>,
    },
    /// WebSocket echo: one message in flight per socket.
    Ws {
        sockets: Vec<Socket>,
        /// Request id → socket.
        by_request: HashMap<u32, usize>,
    },
    /// Stop/start cycles: actor index → when its stop was sent.
    Events { cycling: HashMap<usize, Instant> },
}

#[derive(Debug)]
struct Socket {
    request: u32,
    open: bool,
    next_index: u16,
    sent_at: Option<Instant>,
}

/// Completed operations and their latencies.
#[derive(Debug, Default)]
pub struct Recorder {
    measuring: bool,
    /// Operations completed while measuring.
    pub completed: u64,
    /// Failed operations (unexpected status, abort) while measuring.
    pub errors: u64,
    /// Latency of each completed operation while measuring, in µs.
    pub latencies_us: Vec<u32>,
}

impl Recorder {
    fn record(&mut self, sent: Instant, ok: bool) {
        if !self.measuring {
            return;
        }
        self.completed += 1;
        if !ok {
            self.errors += 1;
        }
        let us = sent.elapsed().as_micros().min(u32::MAX as u128) as u32;
        self.latencies_us.push(us);
    }

    /// The `q` quantile (0..=1) of the latencies, in ms.
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        self.latencies_us.sort_unstable();
        let i = ((self.latencies_us.len() - 1) as f64 * q).round() as usize;
        f64::from(self.latencies_us[i]) / 1000.0
    }
}

/// Knobs of the traffic.
#[derive(Debug, Clone)]
pub struct Traffic {
    /// Operations kept in flight.
    pub in_flight: usize,
    /// `/echo` request body size.
    pub body_bytes: usize,
    /// WebSocket message size.
    pub ws_bytes: usize,
}

/// One runner connection, seen from the engine.
#[derive(Debug)]
pub struct Conn {
    ws: SplitStream<WebSocketStream<TcpStream>>,
    /// Batches of frames for the writer task, which writes while this side
    /// keeps reading: a runner that stops reading while its own writes are
    /// blocked must not deadlock the engine.
    writer: tokio::sync::mpsc::UnboundedSender<Vec<Vec<u8>>>,
    version: ProtocolVersion,
    out: Vec<Vec<u8>>,
    origin: Instant,
    next_ping: Instant,
    closed: Option<String>,
    /// The runner's name, once its `ToServerInit` came.
    pub runner_name: Option<String>,
    actors: Vec<Actor>,
    index: HashMap<Id, usize>,
    running: usize,
    /// `ToServerStopping` received.
    pub stopping: bool,
    /// Events received (every kind, every actor).
    pub events: u64,
    /// Starts that ended in `Stopped` instead of `Running`.
    pub failed_starts: usize,
    start_queue: std::collections::VecDeque<usize>,
    start_window: usize,
    starting: usize,
    /// Pongs received.
    pub pongs: u64,
    /// KV requests served.
    pub kv_requests: u64,
    load: Load,
    draining: bool,
    traffic: Traffic,
    next_request: u32,
    next_actor: usize,
    headers: BareMap<String>,
    body: Bytes,
    ws_payload: Bytes,
    /// Completions of the current mode.
    pub recorder: Recorder,
}

impl Conn {
    fn new(ws: WebSocketStream<TcpStream>, version: ProtocolVersion) -> Conn {
        let (sink, ws) = ws.split();
        let (writer, batches) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(write_loop(sink, batches));
        let now = Instant::now();
        let headers = [
            ("host", "127.0.0.1"),
            ("user-agent", "load-engine"),
            ("accept", "*/*"),
            ("x-rivet-ray-id", "0123456789abcdef"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect();
        Conn {
            ws,
            writer,
            version,
            out: Vec::new(),
            origin: now,
            next_ping: now + PING_INTERVAL,
            closed: None,
            runner_name: None,
            actors: Vec::new(),
            index: HashMap::new(),
            running: 0,
            stopping: false,
            events: 0,
            failed_starts: 0,
            start_queue: std::collections::VecDeque::new(),
            start_window: usize::MAX,
            starting: 0,
            pongs: 0,
            kv_requests: 0,
            load: Load::Idle,
            draining: false,
            traffic: Traffic {
                in_flight: 1,
                body_bytes: 0,
                ws_bytes: 0,
            },
            next_request: 0,
            next_actor: 0,
            headers,
            body: Bytes::new(),
            ws_payload: Bytes::new(),
            recorder: Recorder::default(),
        }
    }

    /// Actors the runner reported running.
    pub fn running(&self) -> usize {
        self.running
    }

    /// Why the connection ended, if it did.
    pub fn closed(&self) -> Option<&str> {
        self.closed.as_deref()
    }

    /// Serves the connection until `done` holds (`true`) or `deadline`
    /// passes (`false`); fails if the runner closes the connection.
    pub async fn pump(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&Conn) -> bool,
    ) -> Result<bool> {
        loop {
            self.flush().await?;
            if done(self) {
                return Ok(true);
            }
            if let Some(why) = &self.closed {
                bail!("the runner connection ended: {why}");
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            if now >= self.next_ping {
                let ts = self.origin.elapsed().as_millis() as i64;
                self.send(&ToClient::Ping(ToClientPing { ts }));
                self.next_ping = now + PING_INTERVAL;
                continue;
            }
            let wake = deadline.min(self.next_ping);
            tokio::select! {
                message = self.ws.next() => {
                    self.on_message(message);
                    for _ in 0..READ_BURST {
                        match self.ws.next().now_or_never() {
                            Some(message) => self.on_message(message),
                            None => break,
                        }
                        if self.closed.is_some() {
                            break;
                        }
                    }
                }
                () = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    /// Like [`pump`](Self::pump), failing with `what` at the deadline.
    pub async fn pump_until(
        &mut self,
        timeout: Duration,
        what: &str,
        done: impl FnMut(&Conn) -> bool,
    ) -> Result<()> {
        if self.pump(Instant::now() + timeout, done).await? {
            Ok(())
        } else {
            bail!(
                "timed out after {timeout:?} waiting for {what} ({} of {} actors running, {} events, {} KV requests, {} pongs)",
                self.running,
                self.actors.len(),
                self.events,
                self.kv_requests,
                self.pongs
            )
        }
    }

    async fn flush(&mut self) -> Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let frames = std::mem::take(&mut self.out);
        if self.writer.send(frames).is_err() {
            self.closed
                .get_or_insert_with(|| "the socket writer ended".into());
        }
        Ok(())
    }

    fn send(&mut self, message: &ToClient) {
        match encode_to_client(self.version, message) {
            Ok(frame) => self.out.push(frame),
            Err(err) => panic!("cannot encode {message:?}: {err}"),
        }
    }

    fn on_message(
        &mut self,
        message: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) {
        match message {
            Some(Ok(Message::Binary(frame))) => {
                match runner_core::protocol::decode_to_server(self.version, &frame) {
                    Ok(message) => self.on_frame(message),
                    Err(err) => self.closed = Some(format!("undecodable frame: {err}")),
                }
            }
            Some(Ok(Message::Close(frame))) => {
                self.closed = Some(match frame {
                    Some(f) => format!("close {} {}", u16::from(f.code), f.reason),
                    None => "close without a frame".into(),
                });
            }
            Some(Ok(_)) => {}
            Some(Err(err)) => self.closed = Some(format!("socket error: {err}")),
            None => self.closed = Some("socket ended".into()),
        }
    }

    fn on_frame(&mut self, message: ToServer) {
        match message {
            ToServer::Init(init) => {
                if self.runner_name.is_none() {
                    self.runner_name = Some(init.name);
                    let init = ToClient::Init(ToClientInit {
                        runner_id: "load-runner".into(),
                        metadata: ProtocolMetadata {
                            runner_lost_threshold: 15_000,
                            actor_stop_threshold: (self.version > ProtocolVersion::V5)
                                .then_some(1_800_000),
                            serverless_drain_grace_period: None,
                        },
                    });
                    self.send(&init);
                }
            }
            ToServer::Events(events) => {
                let mut acks = Vec::new();
                for event in events {
                    self.on_event(event, &mut acks);
                }
                if !acks.is_empty() {
                    self.send(&ToClient::AckEvents(ToClientAckEvents {
                        last_event_checkpoints: acks,
                    }));
                }
            }
            ToServer::AckCommands(_) => {}
            ToServer::Stopping => {
                self.stopping = true;
                self.load = Load::Idle;
                for i in 0..self.actors.len() {
                    if self.actors[i].life == Life::Running || self.actors[i].life == Life::Starting
                    {
                        self.stop_actor(i);
                    }
                }
            }
            ToServer::Pong(_) => self.pongs += 1,
            ToServer::KvRequest(request) => {
                self.kv_requests += 1;
                let now_ms = self.origin.elapsed().as_millis() as i64;
                let data = match self.index.get(&request.actor_id) {
                    Some(&i) => self.actors[i].kv.apply(&request.data, now_ms),
                    None => runner_core::protocol::KvResponseData::Error(
                        runner_core::protocol::KvErrorResponse {
                            message: "actor does not exist".into(),
                        },
                    ),
                };
                self.send(&ToClient::KvResponse(ToClientKvResponse {
                    request_id: request.request_id,
                    data,
                }));
            }
            ToServer::TunnelMessage(message) => self.on_tunnel(message),
        }
    }

    fn on_event(&mut self, event: EventWrapper, acks: &mut Vec<ActorCheckpoint>) {
        let Some(&i) = self.index.get(&event.checkpoint.actor_id) else {
            return;
        };
        let actor = &mut self.actors[i];
        if event.checkpoint.generation != actor.generation
            || event.checkpoint.index <= actor.last_event
        {
            return;
        }
        self.events += 1;
        actor.last_event = event.checkpoint.index;
        if actor.last_event > actor.acked_event + EVENT_ACK_BATCH {
            actor.acked_event = actor.last_event;
            acks.push(event.checkpoint.clone());
        }
        match event.inner {
            Event::StateUpdate(update) => match update.state {
                ActorState::Running => {
                    if actor.life == Life::Starting {
                        actor.life = Life::Running;
                        self.running += 1;
                        self.start_done();
                        self.on_running(i);
                    }
                }
                ActorState::Stopped(_) => {
                    let was = std::mem::replace(&mut actor.life, Life::Stopped);
                    match was {
                        Life::Running => self.running -= 1,
                        Life::Starting => {
                            self.failed_starts += 1;
                            self.start_done();
                        }
                        _ => {}
                    }
                    self.on_stopped(i);
                }
            },
            Event::Intent(_) => {
                if matches!(actor.life, Life::Running | Life::Starting) {
                    self.stop_actor(i);
                }
            }
            Event::SetAlarm(_) => {}
        }
    }

    /// Starts `n` more actors named `load-actor-<i>`, one command per frame
    /// as the engine forwards them, at most `window` starts outstanding
    /// (0: all at once), and waits until every one runs.
    pub async fn start_actors(&mut self, n: usize, window: usize, timeout: Duration) -> Result<()> {
        let first = self.actors.len();
        for i in first..first + n {
            let id: Id = format!("load-actor-{i:08}").into();
            self.index.insert(id.clone(), i);
            self.actors.push(Actor {
                id,
                generation: 0,
                life: Life::Stopped,
                next_command: 0,
                last_event: -1,
                acked_event: -1,
                kv: KvStore::default(),
            });
            self.start_queue.push_back(i);
        }
        self.start_window = if window == 0 { usize::MAX } else { window };
        self.release_starts();
        let want = self.running + n;
        let result = self
            .pump_until(timeout, "every actor to run", |c| {
                c.running + c.failed_starts >= want
            })
            .await;
        self.start_window = usize::MAX;
        result?;
        if self.failed_starts > 0 {
            bail!("{} of {n} actors failed to start", self.failed_starts);
        }
        Ok(())
    }

    /// Sends queued start commands while fewer than the window are
    /// outstanding.
    fn release_starts(&mut self) {
        while self.starting < self.start_window {
            let Some(i) = self.start_queue.pop_front() else {
                return;
            };
            self.starting += 1;
            self.start_actor(i);
        }
    }

    fn start_done(&mut self) {
        self.starting = self.starting.saturating_sub(1);
        self.release_starts();
    }

    fn start_actor(&mut self, i: usize) {
        let actor = &mut self.actors[i];
        actor.life = Life::Starting;
        actor.next_command = 1;
        let command = CommandWrapper {
            checkpoint: ActorCheckpoint {
                actor_id: actor.id.clone(),
                generation: actor.generation,
                index: 0,
            },
            inner: Command::StartActor(CommandStartActor {
                config: ActorConfig {
                    name: "load".into(),
                    key: None,
                    create_ts: 0,
                    input: None,
                },
                hibernating_requests: vec![],
            }),
        };
        self.send(&ToClient::Commands(vec![command]));
    }

    fn stop_actor(&mut self, i: usize) {
        let actor = &mut self.actors[i];
        if actor.life == Life::Running {
            self.running -= 1;
        }
        actor.life = Life::Stopping;
        let index = actor.next_command;
        actor.next_command += 1;
        let command = CommandWrapper {
            checkpoint: ActorCheckpoint {
                actor_id: actor.id.clone(),
                generation: actor.generation,
                index,
            },
            inner: Command::StopActor,
        };
        self.send(&ToClient::Commands(vec![command]));
    }

    /// Begins keeping `traffic.in_flight` operations of `mode` in flight.
    /// WebSocket mode opens its sockets first and waits for them.
    pub async fn begin(&mut self, mode: Mode, traffic: &Traffic) -> Result<()> {
        if self.running == 0 {
            bail!("no actor runs");
        }
        self.traffic = traffic.clone();
        self.draining = false;
        self.recorder = Recorder::default();
        self.body = Bytes::from(vec![b'x'; traffic.body_bytes]);
        self.ws_payload = Bytes::from(vec![b'w'; traffic.ws_bytes]);
        match mode {
            Mode::HttpPing | Mode::HttpEcho | Mode::Kv => {
                self.load = Load::Http {
                    mode,
                    in_flight: HashMap::with_capacity(traffic.in_flight),
                };
                for _ in 0..traffic.in_flight {
                    self.send_request();
                }
            }
            Mode::Ws => {
                let mut sockets = Vec::with_capacity(traffic.in_flight);
                let mut by_request = HashMap::with_capacity(traffic.in_flight);
                for s in 0..traffic.in_flight {
                    let request = self.request_id();
                    let actor = self.next_running_actor();
                    let open = ToClientTunnelMessageKind::WebSocketOpen(ToClientWebSocketOpen {
                        actor_id: self.actors[actor].id.clone(),
                        path: "/ws".into(),
                        headers: self.headers.clone(),
                    });
                    self.send_tunnel(request, 0, open);
                    by_request.insert(request, s);
                    sockets.push(Socket {
                        request,
                        open: false,
                        next_index: 1,
                        sent_at: None,
                    });
                }
                self.load = Load::Ws {
                    sockets,
                    by_request,
                };
                self.pump_until(Duration::from_secs(60), "every WebSocket to open", |c| {
                    matches!(&c.load, Load::Ws { sockets, .. } if sockets.iter().all(|s| s.open))
                })
                .await?;
                for s in 0..traffic.in_flight {
                    self.send_ws_message(s);
                }
            }
            Mode::Events => {
                let wanted = traffic.in_flight.min(self.running);
                self.load = Load::Events {
                    cycling: HashMap::with_capacity(wanted),
                };
                for _ in 0..wanted {
                    self.begin_cycle();
                }
            }
        }
        Ok(())
    }

    /// Starts recording completions (after the warm-up).
    pub fn start_recording(&mut self) {
        self.recorder = Recorder {
            measuring: true,
            ..Recorder::default()
        };
    }

    /// Stops recording and returns what was recorded.
    pub fn take_recording(&mut self) -> Recorder {
        let mut recorder = std::mem::take(&mut self.recorder);
        recorder.measuring = false;
        recorder
    }

    /// Stops issuing new operations, waits for those in flight, and closes
    /// the mode's sockets.
    pub async fn end(&mut self) -> Result<()> {
        self.draining = true;
        self.pump_until(Duration::from_secs(60), "operations in flight", |c| {
            c.in_flight() == 0
        })
        .await?;
        if let Load::Ws { sockets, .. } = std::mem::take(&mut self.load) {
            for socket in sockets {
                let close = ToClientTunnelMessageKind::WebSocketClose(ToClientWebSocketClose {
                    code: Some(1000),
                    reason: None,
                });
                self.send_tunnel(socket.request, socket.next_index, close);
            }
        }
        self.load = Load::Idle;
        // Let the runner see the closes before the next mode.
        self.pump(Instant::now() + Duration::from_millis(200), |_| false)
            .await?;
        Ok(())
    }

    fn in_flight(&self) -> usize {
        match &self.load {
            Load::Idle => 0,
            Load::Http { in_flight, .. } => in_flight.len(),
            Load::Ws { sockets, .. } => sockets.iter().filter(|s| s.sent_at.is_some()).count(),
            Load::Events { cycling } => cycling.len(),
        }
    }

    fn request_id(&mut self) -> u32 {
        let id = self.next_request;
        self.next_request = self.next_request.wrapping_add(1);
        id
    }

    /// The next running actor, round robin over all of them.
    fn next_running_actor(&mut self) -> usize {
        for _ in 0..self.actors.len() {
            let i = self.next_actor % self.actors.len();
            self.next_actor = self.next_actor.wrapping_add(1);
            if self.actors[i].life == Life::Running {
                return i;
            }
        }
        0
    }

    fn send_tunnel(&mut self, request: u32, index: u16, kind: ToClientTunnelMessageKind) {
        let message = ToClient::TunnelMessage(ToClientTunnelMessage {
            message_id: MessageId {
                gateway_id: GATEWAY,
                request_id: RequestId(request.to_le_bytes()),
                message_index: index,
            },
            message_kind: kind,
        });
        self.send(&message);
    }

    fn send_request(&mut self) {
        let Load::Http { mode, .. } = self.load else {
            return;
        };
        let request = self.request_id();
        let actor = self.next_running_actor();
        let mut headers = self.headers.clone();
        let (method, path, body) = match mode {
            Mode::HttpEcho => {
                headers.insert("content-type", "application/octet-stream".to_owned());
                ("POST", "/echo".to_owned(), Some(self.body.clone()))
            }
            // Alternately write and read one key per actor.
            Mode::Kv if request % 2 == 0 => (
                "PUT",
                format!("/kv/k{}", request % 64),
                Some(Bytes::from_static(b"a value of 24 bytes long")),
            ),
            Mode::Kv => (
                "GET",
                format!("/kv/k{}", request.wrapping_sub(1) % 64),
                None,
            ),
            _ => ("GET", "/ping".to_owned(), None),
        };
        let start = ToClientTunnelMessageKind::RequestStart(ToClientRequestStart {
            actor_id: self.actors[actor].id.clone(),
            method: method.into(),
            path,
            headers,
            body,
            stream: false,
        });
        self.send_tunnel(request, 0, start);
        if let Load::Http { in_flight, .. } = &mut self.load {
            in_flight.insert(request, Instant::now());
        }
    }

    fn send_ws_message(&mut self, s: usize) {
        let payload = self.ws_payload.clone();
        let Load::Ws { sockets, .. } = &mut self.load else {
            return;
        };
        let socket = &mut sockets[s];
        let (request, index) = (socket.request, socket.next_index);
        socket.next_index = socket.next_index.wrapping_add(1);
        socket.sent_at = Some(Instant::now());
        let message = ToClientTunnelMessageKind::WebSocketMessage(WebSocketMessage {
            data: payload,
            binary: false,
        });
        self.send_tunnel(request, index, message);
    }

    fn on_tunnel(&mut self, message: ToServerTunnelMessage) {
        let request = u32::from_le_bytes(message.message_id.request_id.0);
        match (&mut self.load, message.message_kind) {
            (Load::Http { mode, in_flight }, kind) => {
                let ok = match (kind, *mode) {
                    (ToServerTunnelMessageKind::ResponseStart(r), Mode::HttpEcho) => {
                        r.status == 200 && r.body.as_ref().map_or(0, Bytes::len) == self.body.len()
                    }
                    // A GET of a key this actor was never given is a 404,
                    // after a KV round trip all the same.
                    (ToServerTunnelMessageKind::ResponseStart(r), Mode::Kv) => {
                        matches!(r.status, 200 | 204 | 404)
                    }
                    (ToServerTunnelMessageKind::ResponseStart(r), _) => r.status == 200,
                    (ToServerTunnelMessageKind::ResponseAbort, _) => false,
                    _ => return,
                };
                if let Some(sent) = in_flight.remove(&request) {
                    self.recorder.record(sent, ok);
                    if !self.draining {
                        self.send_request();
                    }
                }
            }
            (
                Load::Ws {
                    sockets,
                    by_request,
                },
                kind,
            ) => {
                let Some(&s) = by_request.get(&request) else {
                    return;
                };
                match kind {
                    ToServerTunnelMessageKind::WebSocketOpen(_) => sockets[s].open = true,
                    ToServerTunnelMessageKind::WebSocketMessage(m) => {
                        let ok = m.data.len() == self.ws_payload.len();
                        if let Some(sent) = sockets[s].sent_at.take() {
                            self.recorder.record(sent, ok);
                            if !self.draining {
                                self.send_ws_message(s);
                            }
                        }
                    }
                    ToServerTunnelMessageKind::WebSocketClose(close) => {
                        self.closed = Some(format!(
                            "the runner closed WebSocket {request}: {:?} {:?}",
                            close.code, close.reason
                        ));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Stops one running actor that is not cycling yet.
    fn begin_cycle(&mut self) {
        let i = self.next_running_actor();
        if self.actors[i].life != Life::Running {
            return;
        }
        if let Load::Events { cycling } = &mut self.load {
            cycling.insert(i, Instant::now());
        }
        self.stop_actor(i);
    }

    fn on_stopped(&mut self, i: usize) {
        if self.stopping {
            return;
        }
        if let Load::Events { cycling } = &self.load {
            if cycling.contains_key(&i) {
                self.actors[i].generation += 1;
                self.actors[i].last_event = -1;
                self.actors[i].acked_event = -1;
                self.start_actor(i);
            }
        }
    }

    fn on_running(&mut self, i: usize) {
        let Load::Events { cycling } = &mut self.load else {
            return;
        };
        if let Some(sent) = cycling.remove(&i) {
            // One operation, two events (Stopped, Running).
            self.recorder.record(sent, true);
            if !self.draining {
                self.begin_cycle();
            }
        }
    }
}

/// Writes batches of frames, flushing when no more are waiting.
async fn write_loop(
    mut sink: futures::stream::SplitSink<WebSocketStream<TcpStream>, Message>,
    mut batches: tokio::sync::mpsc::UnboundedReceiver<Vec<Vec<u8>>>,
) {
    while let Some(batch) = batches.recv().await {
        let mut batch = Some(batch);
        while let Some(frames) = batch.take() {
            for frame in frames {
                if sink
                    .feed(Message::Binary(Bytes::from(frame)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            batch = batches.try_recv().ok();
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}
