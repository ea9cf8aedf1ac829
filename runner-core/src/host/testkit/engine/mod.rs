//! The test kit's engine: what it knows (actors, KV, lifecycle events,
//! responses, sockets) and how it answers each message the runner sends,
//! as the real engine and its gateway do.

mod gateway_sockets;

pub(super) use gateway_sockets::SocketState;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use bytes::Bytes;
use futures::StreamExt;
use futures::channel::mpsc;

use super::LifecycleEvent;
use super::kv::{self, Store};
use crate::RequestKey;
use crate::host::runtime::{Inbound, Outbound};
use crate::protocol::{
    ActorCheckpoint, ActorConfig, ActorIntent, ActorState, Command, CommandStartActor,
    CommandWrapper, Event, EventWrapper, ProtocolMetadata, ProtocolVersion, StopCode, ToClient,
    ToClientAckEvents, ToClientInit, ToClientKvResponse, ToServer, ToServerTunnelMessage,
    ToServerTunnelMessageKind, decode_to_server, encode_to_client,
};

/// Where an actor's current generation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Starting,
    Running,
    Stopping,
    Stopped,
}

/// One actor as the engine sees it.
#[derive(Debug)]
pub(super) struct Actor {
    pub(super) config: ActorConfig,
    pub(super) generation: u32,
    next_index: i64,
    pub(super) phase: Phase,
    /// It was stopped because it asked to sleep: a request or its alarm
    /// wakes it (a new generation), as the gateway does.
    pub(super) asleep: bool,
    pub(super) alarm: Option<i64>,
    /// Why the last generation failed to start or crashed.
    pub(super) error: Option<String>,
    /// A hibernated socket's message came while it was stopping: start
    /// it again once stopped, as the gateway does.
    pub(super) wake_when_stopped: bool,
}

/// An HTTP response as it arrives.
#[derive(Debug)]
pub(super) enum Answer {
    Waiting,
    Streaming(http::Response<Vec<u8>>),
    Done(http::Response<Bytes>),
    Aborted,
}

/// Everything the kit's engine knows; shared by the engine task and the
/// test, behind one lock. Test-only: nothing here is bounded.
#[derive(Debug)]
pub(crate) struct Engine {
    version: ProtocolVersion,
    conn: u64,
    to_runner: Option<mpsc::UnboundedSender<Inbound>>,
    pub(super) actors: BTreeMap<String, Actor>,
    pub(super) kv: HashMap<String, Store>,
    pub(super) events: Vec<LifecycleEvent>,
    pub(super) answers: HashMap<RequestKey, Answer>,
    pub(super) sockets: HashMap<RequestKey, SocketState>,
    pub(super) next_request: u32,
    /// Every connect asked for, and the latest init message.
    pub(super) connects: Vec<crate::host::runtime::ConnectRequest>,
    pub(super) init: Option<crate::protocol::ToServerInit>,
    wakers: Vec<Waker>,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            version: ProtocolVersion::V5,
            conn: 0,
            to_runner: None,
            actors: BTreeMap::new(),
            kv: HashMap::new(),
            events: Vec::new(),
            answers: HashMap::new(),
            sockets: HashMap::new(),
            next_request: 0,
            connects: Vec::new(),
            init: None,
            wakers: Vec::new(),
        }
    }
}

/// A new connection from the runner replaces the previous one.
pub(super) fn connected(
    engine: &Arc<Mutex<Engine>>,
    request: &crate::host::runtime::ConnectRequest,
    to_runner: mpsc::UnboundedSender<Inbound>,
) -> u64 {
    let mut engine = engine.lock().unwrap();
    engine.connects.push(request.clone());
    engine.version = request
        .url
        .split_once("protocol_version=")
        .and_then(|(_, rest)| rest.split('&').next()?.parse().ok())
        .and_then(|n| ProtocolVersion::new(n).ok())
        .unwrap_or(ProtocolVersion::V5);
    engine.conn += 1;
    engine.to_runner = Some(to_runner);
    engine.conn
}

/// Answers what the runner sends on connection `conn` until it ends.
pub(super) async fn serve(
    engine: Arc<Mutex<Engine>>,
    conn: u64,
    mut from_runner: mpsc::UnboundedReceiver<Outbound>,
) {
    while let Some(frame) = from_runner.next().await {
        let mut engine = engine.lock().unwrap();
        if engine.conn != conn {
            return;
        }
        match frame {
            Outbound::Binary(bytes) => match decode_to_server(engine.version, &bytes) {
                Ok(message) => engine.on_message(message),
                Err(e) => panic!("test kit: the runner sent a frame that does not decode: {e}"),
            },
            Outbound::Close { .. } => {
                engine.to_runner = None;
            }
        }
        engine.wake_all();
    }
}

impl Engine {
    /// Registers a test waiting for the state to change.
    pub(super) fn wait(&mut self, waker: &Waker) {
        if !self.wakers.iter().any(|w| w.will_wake(waker)) {
            self.wakers.push(waker.clone());
        }
    }

    fn wake_all(&mut self) {
        for waker in self.wakers.drain(..) {
            waker.wake();
        }
    }

    /// Sends the runner a message on the current connection.
    pub(super) fn send(&mut self, message: &ToClient) {
        let frame = encode_to_client(self.version, message).expect("test kit: message encodes");
        if let Some(to_runner) = &self.to_runner {
            let _ = to_runner.unbounded_send(Inbound::Binary(frame.into()));
        }
        self.wake_all();
    }

    fn on_message(&mut self, message: ToServer) {
        match message {
            ToServer::Init(init) => {
                self.init = Some(init);
                let metadata = ProtocolMetadata {
                    runner_lost_threshold: 15_000,
                    actor_stop_threshold: Some(30_000),
                    serverless_drain_grace_period: None,
                };
                let init = ToClientInit {
                    runner_id: "test-kit-runner".into(),
                    metadata,
                };
                self.send(&ToClient::Init(init));
            }
            ToServer::Events(events) => self.on_events(events),
            ToServer::Stopping => {
                let running: Vec<String> = self
                    .actors
                    .iter()
                    .filter(|(_, a)| matches!(a.phase, Phase::Starting | Phase::Running))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in running {
                    self.stop(&id, false);
                }
            }
            ToServer::KvRequest(request) => {
                let store = self.kv.entry(request.actor_id.to_string()).or_default();
                let data = kv::apply(store, request.data);
                let answer = ToClientKvResponse {
                    request_id: request.request_id,
                    data,
                };
                self.send(&ToClient::KvResponse(answer));
            }
            ToServer::TunnelMessage(message) => self.on_tunnel(message),
            ToServer::AckCommands(_) | ToServer::Pong(_) => {}
        }
    }

    fn on_events(&mut self, events: Vec<EventWrapper>) {
        let mut last: BTreeMap<(String, u32), i64> = BTreeMap::new();
        for event in events {
            let id = event.checkpoint.actor_id.to_string();
            let generation = event.checkpoint.generation;
            last.insert((id.clone(), generation), event.checkpoint.index);
            if self
                .actors
                .get(&id)
                .is_none_or(|a| a.generation != generation)
            {
                continue; // an older generation's late event
            }
            self.on_event(id, generation, event.inner);
        }
        let checkpoints = last
            .into_iter()
            .map(|((actor_id, generation), index)| ActorCheckpoint {
                actor_id: actor_id.into(),
                generation,
                index,
            })
            .collect();
        let ack = ToClientAckEvents {
            last_event_checkpoints: checkpoints,
        };
        self.send(&ToClient::AckEvents(ack));
    }

    fn on_event(&mut self, actor_id: String, generation: u32, event: Event) {
        let Some(actor) = self.actors.get_mut(&actor_id) else {
            return;
        };
        let lifecycle = match event {
            Event::StateUpdate(update) => match update.state {
                // Reported as soon as the start is asked for: the kit
                // learns that the start returned from the handler itself
                // (see `observed.rs`).
                ActorState::Running => return,
                ActorState::Stopped(stopped) => {
                    actor.phase = Phase::Stopped;
                    let error = (stopped.code == StopCode::Error)
                        .then(|| stopped.message.unwrap_or_default());
                    // The handler's own error, when it returned one, says more.
                    actor.error = actor.error.take().or_else(|| error.clone());
                    LifecycleEvent::Stopped {
                        actor_id,
                        generation,
                        error,
                    }
                }
            },
            Event::Intent(intent) => {
                let sleep = intent.intent == ActorIntent::Sleep;
                if matches!(actor.phase, Phase::Starting | Phase::Running) {
                    self.stop(&actor_id, sleep);
                }
                if sleep {
                    LifecycleEvent::SleepRequested {
                        actor_id,
                        generation,
                    }
                } else {
                    LifecycleEvent::StopRequested {
                        actor_id,
                        generation,
                    }
                }
            }
            Event::SetAlarm(alarm) => {
                actor.alarm = alarm.alarm_ts;
                LifecycleEvent::AlarmSet {
                    actor_id,
                    generation,
                    at_ms: alarm.alarm_ts,
                }
            }
        };
        let id = lifecycle.actor_id().to_owned();
        self.events.push(lifecycle);
        self.wake_if_asked(&id);
    }

    fn on_tunnel(&mut self, message: ToServerTunnelMessage) {
        let id = message.message_id;
        let key = RequestKey::new(id.gateway_id, id.request_id);
        match message.message_kind {
            ToServerTunnelMessageKind::ResponseStart(start) => {
                let mut response =
                    http::Response::new(start.body.map(Vec::from).unwrap_or_default());
                *response.status_mut() = http::StatusCode::from_u16(start.status)
                    .unwrap_or(http::StatusCode::BAD_GATEWAY);
                for (name, value) in start.headers.0 {
                    if let (Ok(name), Ok(value)) = (
                        http::HeaderName::try_from(name),
                        http::HeaderValue::try_from(value),
                    ) {
                        response.headers_mut().append(name, value);
                    }
                }
                let answer = if start.stream {
                    Answer::Streaming(response)
                } else {
                    Answer::Done(response.map(Bytes::from))
                };
                self.answers.insert(key, answer);
            }
            ToServerTunnelMessageKind::ResponseChunk(chunk) => {
                if let Some(Answer::Streaming(response)) = self.answers.get_mut(&key) {
                    response.body_mut().extend_from_slice(&chunk.body);
                    if chunk.finish {
                        if let Some(Answer::Streaming(done)) = self.answers.remove(&key) {
                            self.answers
                                .insert(key, Answer::Done(done.map(Bytes::from)));
                        }
                    }
                }
            }
            ToServerTunnelMessageKind::ResponseAbort => {
                self.answers.insert(key, Answer::Aborted);
            }
            ToServerTunnelMessageKind::WebSocketOpen(open) => {
                self.on_socket_open(key, open.can_hibernate);
            }
            ToServerTunnelMessageKind::WebSocketMessage(message) => {
                self.on_socket_message(key, message);
            }
            ToServerTunnelMessageKind::WebSocketMessageAck(ack) => {
                self.on_socket_ack(key, ack.index);
            }
            ToServerTunnelMessageKind::WebSocketClose(close) => self.on_socket_close(key, close),
        }
    }

    /// The user's `on_actor_start` of `actor_id`'s `generation` returned.
    pub(super) fn start_returned(
        &mut self,
        actor_id: &str,
        generation: u32,
        outcome: Result<(), String>,
    ) {
        let Some(actor) = self
            .actors
            .get_mut(actor_id)
            .filter(|a| a.generation == generation)
        else {
            return;
        };
        match outcome {
            Ok(()) => {
                if actor.phase == Phase::Starting {
                    actor.phase = Phase::Running;
                }
                self.events.push(LifecycleEvent::Started {
                    actor_id: actor_id.to_owned(),
                    generation,
                });
                self.resend_unacked(actor_id);
            }
            Err(error) => actor.error = Some(error),
        }
        self.wake_all();
    }

    /// Starts generation `generation` of `actor_id` (a new actor at 0).
    pub(super) fn start(&mut self, actor_id: &str, config: ActorConfig, generation: u32) {
        let actor = Actor {
            config: config.clone(),
            generation,
            next_index: 1,
            phase: Phase::Starting,
            asleep: false,
            alarm: None,
            error: None,
            wake_when_stopped: false,
        };
        self.actors.insert(actor_id.to_owned(), actor);
        let start = CommandStartActor {
            config,
            hibernating_requests: self.hibernating(actor_id),
        };
        let checkpoint = ActorCheckpoint {
            actor_id: actor_id.into(),
            generation,
            index: 0,
        };
        let command = CommandWrapper {
            checkpoint,
            inner: Command::StartActor(start),
        };
        self.send(&ToClient::Commands(vec![command]));
    }

    /// Stops `actor_id`'s current generation; `asleep`: a request or its
    /// alarm wakes it.
    pub(super) fn stop(&mut self, actor_id: &str, asleep: bool) {
        let Some(actor) = self.actors.get_mut(actor_id) else {
            return;
        };
        actor.phase = Phase::Stopping;
        actor.asleep = asleep;
        let checkpoint = ActorCheckpoint {
            actor_id: actor_id.into(),
            generation: actor.generation,
            index: actor.next_index,
        };
        actor.next_index += 1;
        let command = CommandWrapper {
            checkpoint,
            inner: Command::StopActor,
        };
        self.send(&ToClient::Commands(vec![command]));
    }
}
