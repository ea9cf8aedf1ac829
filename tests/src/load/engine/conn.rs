//! [`Conn`], one runner connection seen from the engine: reading and
//! writing frames, pinging, and what each frame from the runner does.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bytes::Bytes;
use futures::stream::SplitStream;
use futures::{FutureExt, StreamExt};
use runner_core::protocol::{
    BareMap, Id, ProtocolMetadata, ProtocolVersion, ToClient, ToClientAckEvents, ToClientInit,
    ToClientKvResponse, ToClientPing, ToServer, encode_to_client,
};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::Life;
use super::actors::Actor;
use super::recorder::Recorder;
use super::traffic::{Load, Traffic};
use super::writer::write_loop;

/// The engine's ping interval.
const PING_INTERVAL: Duration = Duration::from_secs(3);
/// Frames read without waiting before the replies are written.
const READ_BURST: usize = 512;

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
    pub(super) closed: Option<String>,
    /// The runner's name, once its `ToServerInit` came.
    pub runner_name: Option<String>,
    pub(super) actors: Vec<Actor>,
    pub(super) index: HashMap<Id, usize>,
    pub(super) running: usize,
    /// `ToServerStopping` received.
    pub stopping: bool,
    /// Events received (every kind, every actor).
    pub events: u64,
    /// Starts that ended in `Stopped` instead of `Running`.
    pub failed_starts: usize,
    pub(super) start_queue: std::collections::VecDeque<usize>,
    pub(super) start_window: usize,
    pub(super) starting: usize,
    /// Pongs received.
    pub pongs: u64,
    /// KV requests served.
    pub kv_requests: u64,
    pub(super) load: Load,
    pub(super) draining: bool,
    pub(super) traffic: Traffic,
    pub(super) next_request: u32,
    pub(super) next_actor: usize,
    pub(super) headers: BareMap<String>,
    pub(super) body: Bytes,
    pub(super) ws_payload: Bytes,
    /// Completions of the current mode.
    pub recorder: Recorder,
}

impl Conn {
    pub(super) fn new(ws: WebSocketStream<TcpStream>, version: ProtocolVersion) -> Conn {
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

    pub(super) fn send(&mut self, message: &ToClient) {
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
}
