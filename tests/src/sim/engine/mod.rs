//! [`SimEngine`]: an in-memory engine that speaks the server side of the
//! runner protocol, sans-IO like the core (`handle_*`, `poll_transmit`,
//! `poll_timeout`, `handle_timeout`).
//!
//! It follows what the real engine does (spec §2.4–§2.10, §3, §4, §7, §8):
//! `ToClientInit` then a replay of every unacknowledged command after each
//! init, pings every ~3 s with a pong timeout, per-(actor, generation) event
//! dedup with acknowledgements every `event_ack_batch` events, an ordered KV
//! store, intents answered with stops, draining on `ToServerStopping`,
//! evictions, restarts that keep durable state, and declaring a silent runner
//! lost. Everything the test might want to look at is public.

mod actors;
mod command_log;
mod conn;
pub mod gateway;
mod handlers;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use runner_core::protocol::{
    ActorConfig, Command, CommandStartActor, Id, ProtocolVersion, ToClient, ToServer, ToServerInit,
    encode_to_client,
};
use runner_core::{ConnId, Timestamp};

pub use actors::{ActorPhase, Reaction, SimActor};
pub use command_log::CommandLog;
use conn::EngineConn;
use gateway::Gateway;
pub use gateway::{
    ClientHttp, ClientId, ClientRequest, ClientSocket, Dispatch, GatewayConfig, GatewayLog,
    HttpOutcome, SocketState,
};

use super::kv_store::KvStore;
use super::rng::SimRng;

/// How the simulated engine behaves. Defaults are the real engine's.
#[derive(Debug, Clone)]
pub struct SimEngineConfig {
    /// Protocol version the engine speaks (and requires in the URL).
    pub version: ProtocolVersion,
    /// Namespace that exists; any other gets `namespace.not_found`.
    pub namespace: String,
    /// Required token; a missing or wrong one refuses the upgrade with 403.
    pub token: Option<String>,
    /// `runnerLostThreshold` announced in `ToClientInit` (ms).
    pub runner_lost_threshold_ms: i64,
    /// `actorStopThreshold` announced from v6 on (ms).
    pub actor_stop_threshold_ms: i64,
    /// Ping period (before jitter).
    pub ping_interval: Duration,
    /// Ping jitter, uniform in `[0, ping_jitter_ms)`.
    pub ping_jitter_ms: u64,
    /// A connection whose last pong is older than this is closed.
    pub pong_timeout: Duration,
    /// The first frame must arrive within this.
    pub init_timeout: Duration,
    /// Events are acknowledged once more than this many arrived since the
    /// last acknowledgement (250 in the real engine).
    pub event_ack_batch: i64,
    /// Declare the runner lost after `runner_lost_threshold_ms` without a
    /// connection, the way the runner workflow does.
    pub auto_lost: bool,
    /// Answer KV requests (`false`: swallow them, to test timeouts).
    pub answer_kv: bool,
    /// Answer `ToServerInit` (`false`: a hung engine that never does).
    pub answer_init: bool,
    /// The gateway's timeouts and limits.
    pub gateway: GatewayConfig,
}

impl Default for SimEngineConfig {
    fn default() -> Self {
        SimEngineConfig {
            version: ProtocolVersion::V5,
            namespace: "default".into(),
            token: None,
            runner_lost_threshold_ms: 15_000,
            actor_stop_threshold_ms: 1_800_000,
            ping_interval: Duration::from_millis(3000),
            ping_jitter_ms: 128,
            pong_timeout: Duration::from_millis(15_000),
            init_timeout: Duration::from_millis(5000),
            event_ack_batch: 250,
            auto_lost: true,
            answer_kv: true,
            answer_init: true,
            gateway: GatewayConfig::default(),
        }
    }
}

/// Work for the link, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineTransmit {
    /// Complete the WebSocket upgrade of `conn`.
    Accept {
        /// The connection.
        conn: ConnId,
    },
    /// Refuse the upgrade of `conn` with an HTTP status.
    Refuse {
        /// The connection.
        conn: ConnId,
        /// HTTP status.
        http_status: u16,
    },
    /// Send one binary message.
    Frame {
        /// The connection.
        conn: ConnId,
        /// The message.
        bytes: Bytes,
    },
    /// Send one text message (the real engine never does).
    Text {
        /// The connection.
        conn: ConnId,
        /// The message.
        text: String,
    },
    /// Close `conn`; the engine has forgotten it already.
    Close {
        /// The connection.
        conn: ConnId,
        /// Close code.
        code: u16,
        /// Close reason, `group.code#ray`.
        reason: String,
    },
}

/// What the engine saw and did, for assertions.
#[derive(Debug, Default, Clone)]
pub struct EngineLog {
    /// Every decoded message from the runner.
    pub received: Vec<(Timestamp, ConnId, ToServer)>,
    /// Every message sent to the runner.
    pub sent: Vec<(Timestamp, ConnId, ToClient)>,
    /// Every `ToServerInit`, with the URL and sub-protocols of its connection.
    pub inits: Vec<(ConnId, ToServerInit)>,
    /// Upgrade requests: (conn, url, sub-protocols).
    pub connects: Vec<(ConnId, String, Vec<String>)>,
    /// Frames from the runner that did not decode (ignored, like the engine).
    pub undecodable: usize,
    /// Events ignored by the dedup rule (old generation, index already seen).
    pub ignored_events: usize,
    /// Pongs whose ts matched no ping.
    pub bad_pongs: usize,
    /// Closes the engine initiated: (conn, code, reason).
    pub closes: Vec<(ConnId, u16, String)>,
}

/// The runner as the engine knows it (by namespace, name and key).
#[derive(Debug, Clone)]
struct RunnerRecord {
    id: Id,
    /// Lost: the next init mints a new id.
    expired: bool,
}

/// The simulated engine. See the module documentation.
#[derive(Debug)]
pub struct SimEngine {
    /// Behaviour; may be changed between steps.
    pub config: SimEngineConfig,
    rng: SimRng,
    now: Timestamp,
    conns: BTreeMap<ConnId, EngineConn>,
    runner: Option<RunnerRecord>,
    runner_seq: u64,
    commands: CommandLog,
    actors: BTreeMap<Id, SimActor>,
    actor_seq: u64,
    kv: BTreeMap<Id, KvStore>,
    disconnected_since: Option<Timestamp>,
    draining: bool,
    ray: u64,
    transmits: VecDeque<EngineTransmit>,
    log: EngineLog,
    gateway: Gateway,
}

impl SimEngine {
    /// An engine with no runner and no actor yet.
    pub fn new(config: SimEngineConfig, rng: SimRng) -> Self {
        // The gateway draws from its own stream, so tunnel traffic does not
        // shift the ping jitter.
        let gateway = Gateway::new(SimRng::derive(rng.clone().next_u64(), 0x6a7e));
        SimEngine {
            gateway,
            config,
            rng,
            now: Timestamp::ZERO,
            conns: BTreeMap::new(),
            runner: None,
            runner_seq: 0,
            commands: CommandLog::default(),
            actors: BTreeMap::new(),
            actor_seq: 0,
            kv: BTreeMap::new(),
            disconnected_since: None,
            draining: false,
            ray: 0,
            transmits: VecDeque::new(),
            log: EngineLog::default(),
        }
    }

    // ----- queries -------------------------------------------------------

    /// What the engine saw and did.
    pub fn log(&self) -> &EngineLog {
        &self.log
    }

    /// The runner's current id, if it ever sent an init.
    pub fn runner_id(&self) -> Option<&Id> {
        self.runner.as_ref().map(|r| &r.id)
    }

    /// Whether actors can be allocated: a runner connected once and was not
    /// declared lost since.
    pub fn can_allocate(&self) -> bool {
        self.runner.as_ref().is_some_and(|r| !r.expired)
    }

    /// The actor `id`.
    pub fn actor(&self, id: &str) -> Option<&SimActor> {
        self.actors.get(id)
    }

    /// Every actor, in id order.
    pub fn actors(&self) -> impl Iterator<Item = &SimActor> {
        self.actors.values()
    }

    /// The actor's KV storage.
    pub fn kv_store(&self, id: &str) -> Option<&KvStore> {
        self.kv.get(id)
    }

    /// Unacknowledged commands.
    pub fn commands(&self) -> &CommandLog {
        &self.commands
    }

    /// The connection that completed an init last and is still open.
    pub fn ready_conn(&self) -> Option<ConnId> {
        self.conns
            .iter()
            .rev()
            .find(|(_, c)| c.runner_id().is_some())
            .map(|(id, _)| *id)
    }

    /// Whether the engine holds `conn` open (awaiting init or ready).
    pub fn is_open(&self, conn: ConnId) -> bool {
        self.conns.contains_key(&conn)
    }

    // ----- sans-IO surface ----------------------------------------------

    /// Next thing for the link.
    pub fn poll_transmit(&mut self) -> Option<EngineTransmit> {
        self.transmits.pop_front()
    }

    /// Queued transmits (bounded by what one input produces).
    pub fn queued(&self) -> usize {
        self.transmits.len()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let conns = self.conns.values().map(EngineConn::deadline).min();
        let gateway = self.gateway_deadline();
        conns
            .into_iter()
            .chain(self.lost_deadline())
            .chain(gateway)
            .min()
    }

    /// Runs the init watchdogs, pings and the runner-lost check.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.advance(now);
        self.run_conn_timers();
        if self.lost_deadline().is_some_and(|at| at <= self.now) {
            self.declare_lost(now);
        }
        self.run_gateway_timers();
    }

    // ----- what a test can make the engine do ----------------------------

    /// Creates an actor named `name` on the runner (generation 0) and sends
    /// it the start command. Panics if no runner ever connected.
    pub fn create_actor(&mut self, now: Timestamp, name: &str) -> Id {
        let config = ActorConfig {
            name: name.to_owned(),
            key: None,
            create_ts: i64::try_from(now.as_millis()).unwrap_or(i64::MAX),
            input: None,
        };
        self.create_actor_with(now, config)
    }

    /// Like [`create_actor`](Self::create_actor) with a full configuration.
    pub fn create_actor_with(&mut self, now: Timestamp, config: ActorConfig) -> Id {
        self.advance(now);
        let runner = self.allocation_target();
        self.actor_seq += 1;
        let id: Id = format!("actor-{:04}", self.actor_seq).into();
        let actor = SimActor::new(id.clone(), config, runner);
        self.actors.insert(id.clone(), actor);
        self.send_start(&id);
        id
    }

    /// Sends a stop command for the actor's current generation.
    pub fn stop_actor(&mut self, now: Timestamp, id: &str) {
        self.advance(now);
        let Some(actor) = self.actors.get_mut(id) else {
            return;
        };
        if actor.phase.is_allocated() {
            actor.phase = ActorPhase::Stopping;
            let id = actor.id.clone();
            self.send_command(&id, Command::StopActor);
        }
    }

    /// Starts the next generation of a sleeping, stopped or lost actor.
    pub fn wake_actor(&mut self, now: Timestamp, id: &str) {
        self.advance(now);
        let runner = self.allocation_target();
        let Some(actor) = self.actors.get_mut(id) else {
            return;
        };
        if actor.phase.is_allocated() {
            return;
        }
        actor.next_generation(runner);
        let id = actor.id.clone();
        self.send_start(&id);
    }

    /// Evicts the runner: every connection closes with `1000 ws.eviction`.
    pub fn evict(&mut self, now: Timestamp) {
        self.advance(now);
        for conn in self.conn_ids() {
            self.close(conn, 1000, "ws.eviction");
        }
    }

    /// The engine process is terminating: `1011 ws.going_away` everywhere.
    pub fn going_away(&mut self, now: Timestamp) {
        self.advance(now);
        for conn in self.conn_ids() {
            self.close(conn, 1011, "ws.going_away");
        }
    }

    /// The engine crashes and comes back: connections vanish without a close
    /// frame (returned, for the link to reset), durable state (runner id,
    /// commands, actors, KV) stays.
    pub fn restart(&mut self, now: Timestamp) -> Vec<ConnId> {
        self.advance(now);
        let dropped = self.conn_ids();
        for conn in &dropped {
            self.forget_conn(*conn);
        }
        self.transmits.clear();
        self.reset_gateway();
        dropped
    }

    /// The next init gets a new runner id, as after the engine expired it.
    pub fn expire_runner_id(&mut self) {
        if let Some(runner) = &mut self.runner {
            runner.expired = true;
        }
    }

    /// Declares the runner lost: its actors are `Lost`, its commands
    /// forgotten, its connections evicted, and its next init gets a new id.
    pub fn declare_lost(&mut self, now: Timestamp) {
        self.advance(now);
        let Some(runner) = self.runner.as_mut().filter(|r| !r.expired) else {
            return;
        };
        runner.expired = true;
        let id = runner.id.clone();
        let mut lost = Vec::new();
        for actor in self.actors.values_mut() {
            if actor.runner_id.as_ref() == Some(&id) {
                actor.phase = ActorPhase::Lost;
                actor.runner_id = None;
                lost.push(actor.id.clone());
            }
        }
        for actor in &lost {
            self.gateway_actor_gone(actor);
        }
        self.commands.clear_runner(&id);
        self.disconnected_since = None;
        self.evict(now);
    }

    /// Sends any message on the ready connection (for hand-made frames).
    pub fn send_to_runner(&mut self, now: Timestamp, msg: ToClient) {
        self.advance(now);
        if let Some(conn) = self.ready_conn() {
            self.send(conn, msg);
        }
    }

    /// Sends raw bytes on the newest connection (garbage, truncated frames).
    pub fn send_raw(&mut self, now: Timestamp, bytes: Bytes) {
        self.advance(now);
        if let Some(conn) = self.conns.keys().next_back().copied() {
            self.transmits
                .push_back(EngineTransmit::Frame { conn, bytes });
        }
    }

    /// Sends a text frame on the newest connection.
    pub fn send_text(&mut self, now: Timestamp, text: &str) {
        self.advance(now);
        if let Some(conn) = self.conns.keys().next_back().copied() {
            let text = text.to_owned();
            self.transmits
                .push_back(EngineTransmit::Text { conn, text });
        }
    }

    // ----- internals shared by the submodules -----------------------------

    fn advance(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.now.as_millis()).unwrap_or(i64::MAX)
    }

    fn conn_ids(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }

    /// The runner new actors go to: the current id, minting one if expired.
    fn allocation_target(&mut self) -> Id {
        match &self.runner {
            Some(r) if !r.expired => r.id.clone(),
            Some(_) => panic!("the runner is lost: reconnect it before allocating actors"),
            None => panic!("no runner has connected yet: nothing to allocate actors to"),
        }
    }

    fn send_start(&mut self, id: &Id) {
        let Some(actor) = self.actors.get(id) else {
            return;
        };
        let start = Command::StartActor(CommandStartActor {
            config: actor.config.clone(),
            hibernating_requests: self.hibernating_list(id),
        });
        self.send_command(id, start);
    }

    /// Stores a command for the actor's current generation and forwards it
    /// live if its runner is connected.
    fn send_command(&mut self, id: &Id, command: Command) {
        let Some(actor) = self.actors.get(id) else {
            return;
        };
        let Some(runner) = actor.runner_id.clone() else {
            return;
        };
        let wrapper = self.commands.insert(&runner, id, actor.generation, command);
        if let Some(conn) = self.conn_of(&runner) {
            self.send(conn, ToClient::Commands(vec![wrapper]));
        }
    }

    fn send(&mut self, conn: ConnId, msg: ToClient) {
        let bytes = encode_to_client(self.config.version, &msg)
            .unwrap_or_else(|e| panic!("the simulated engine built an invalid {msg:?}: {e}"));
        self.log.sent.push((self.now, conn, msg));
        self.transmits.push_back(EngineTransmit::Frame {
            conn,
            bytes: Bytes::from(bytes),
        });
    }

    /// Closes `conn` from the engine side with `group.code#ray`.
    fn close(&mut self, conn: ConnId, code: u16, reason: &str) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        self.ray += 1;
        let reason = format!("{reason}#ray{}", self.ray);
        self.log.closes.push((conn, code, reason.clone()));
        self.forget_conn(conn);
        self.transmits
            .push_back(EngineTransmit::Close { conn, code, reason });
    }

    /// Removes `conn`; the runner-lost clock starts when its last ready
    /// connection goes.
    fn forget_conn(&mut self, conn: ConnId) {
        let Some(old) = self.conns.remove(&conn) else {
            return;
        };
        let still_ready = self.conns.values().any(|c| c.runner_id().is_some());
        if old.runner_id().is_some() && !still_ready {
            self.disconnected_since = Some(self.now);
        }
        if let Some(runner) = old.runner_id() {
            if self.conn_of(runner).is_none() {
                let runner = runner.clone();
                self.gateway_runner_down(&runner);
            }
        }
    }

    fn lost_deadline(&self) -> Option<Timestamp> {
        let since = self.disconnected_since?;
        let live = self.runner.as_ref().is_some_and(|r| !r.expired);
        let threshold = Duration::from_millis(self.config.runner_lost_threshold_ms.unsigned_abs());
        (self.config.auto_lost && live).then(|| since + threshold)
    }
}
