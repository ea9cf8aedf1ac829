//! [`Sim`]: the runner, the simulated engine, the link and the user on one
//! virtual clock.
//!
//! The clock never sleeps: each [`step`](Sim::step) jumps to the earliest of
//! the runner's `poll_timeout`, the engine's wake-up, the link's next delivery
//! and the next user callback completion, and handles exactly one of them.
//! After every input to the runner its outputs are drained (the drain
//! contract of `runner_core::Runner`), recorded, checked against the
//! invariants, and acted on.

mod tunnel;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use runner_core::fuzzing::invariants::{self as check, Invariants};
use runner_core::protocol::{
    HibernatingRequest, Id, KvRequestData, ProtocolVersion, ToServer, decode_to_client,
};
use runner_core::{
    ActorRef, CallError, Config, ConnId, Event, KvError, KvRequestId, KvResponse, Runner,
    ShutdownMode, Timestamp, Transmit, TransportClose,
};

use super::engine::{EngineTransmit, SimEngine, SimEngineConfig};
use super::link::{Delivery, Link, LinkConfig, Packet, Side};
use super::rng::SimRng;
use super::seed::SeedGuard;
use super::transcript::{Entry, Transcript};
use super::user::tunnel::TunnelUser;
use super::user::{User, UserAction, UserConfig};

/// Bound on messages in flight on the link and callbacks in progress.
const MAX_IN_FLIGHT: usize = 100_000;

/// Everything a simulation is made of.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every random choice (link delays, ping jitter, backoff jitter).
    pub seed: u64,
    /// The runner's configuration (its `rng_seed` is derived from `seed`).
    pub runner: Config,
    /// The engine's behaviour.
    pub engine: SimEngineConfig,
    /// Delays and faults.
    pub link: LinkConfig,
    /// The user's callbacks.
    pub user: UserConfig,
    /// Check the invariants after every input (panics on a violation).
    pub check_invariants: bool,
}

/// Endpoint the simulated runner connects to.
pub const SIM_ENDPOINT: &str = "http://engine.sim:6420";

impl SimConfig {
    /// Defaults everywhere, protocol v5, seeded with `seed` — or with
    /// `SIM_SEED` if set, to replay the seed a failed run printed.
    pub fn new(seed: u64) -> Self {
        Self::exact(super::seed::seed_or_env(seed))
    }

    /// Like [`new`](Self::new), ignoring `SIM_SEED`.
    pub fn exact(seed: u64) -> Self {
        let mut runner = Config::new(SIM_ENDPOINT, "sim-runner", "sim-key");
        runner.rng_seed = SimRng::derive(seed, 1).next_u64();
        SimConfig {
            seed,
            runner,
            engine: SimEngineConfig::default(),
            link: LinkConfig::default(),
            user: UserConfig::default(),
            check_invariants: true,
        }
    }

    /// Speak `version` on both ends.
    pub fn version(mut self, version: ProtocolVersion) -> Self {
        self.runner.protocol_version = version;
        self.engine.version = version;
        self
    }
}

/// The simulation. See the module documentation.
#[derive(Debug)]
pub struct Sim {
    runner: Runner,
    engine: SimEngine,
    link: Link,
    user: User,
    now: Timestamp,
    version: ProtocolVersion,
    transcript: Transcript,
    /// Connection of the runner's last `Connect`: where its frames go.
    runner_conn: Option<ConnId>,
    names: BTreeMap<ActorRef, String>,
    kv_results: BTreeMap<KvRequestId, Result<KvResponse, KvError>>,
    kv_calls: Vec<KvRequestId>,
    invariants: Option<Invariants>,
    tunnel_user: TunnelUser,
    /// Hibernated sockets listed by each start in progress.
    hibernating: BTreeMap<ActorRef, Vec<HibernatingRequest>>,
    _seed: SeedGuard,
    seed: u64,
}

impl Sim {
    /// A simulation at time zero; the runner is created but not started.
    pub fn new(config: SimConfig) -> Self {
        let invariants = config
            .check_invariants
            .then(|| Invariants::new(&config.runner));
        let runner = Runner::new(config.runner.clone(), Timestamp::ZERO)
            .unwrap_or_else(|e| panic!("invalid runner config: {e}"));
        Sim {
            runner,
            engine: SimEngine::new(config.engine, SimRng::derive(config.seed, 2)),
            link: Link::new(config.link, SimRng::derive(config.seed, 3)),
            user: User::new(config.user),
            now: Timestamp::ZERO,
            version: config.runner.protocol_version,
            transcript: Transcript::default(),
            runner_conn: None,
            names: BTreeMap::new(),
            kv_results: BTreeMap::new(),
            kv_calls: Vec::new(),
            invariants,
            tunnel_user: TunnelUser::default(),
            hibernating: BTreeMap::new(),
            _seed: SeedGuard::new(config.seed),
            seed: config.seed,
        }
    }

    /// A started simulation, run until the runner is connected.
    pub fn connected(config: SimConfig) -> Self {
        let mut sim = Sim::new(config);
        sim.start();
        assert!(
            sim.run_until(|s| s.runner.is_connected(), Duration::from_secs(60)),
            "the runner did not connect"
        );
        sim
    }

    // ----- access -------------------------------------------------------

    /// The seed of this run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Virtual time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The runner (read-only: inputs go through the `Sim` so outputs drain).
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// Turns the runner's flight recorder on; before [`start`](Self::start).
    pub fn record(
        &mut self,
        options: runner_core::recording::RecordOptions,
    ) -> Result<(), runner_core::recording::RecordError> {
        self.runner.start_recording(options)
    }

    /// Appends what the runner recorded since the last call to `out`.
    pub fn take_recording(&mut self, out: &mut Vec<u8>) {
        self.runner.take_recording(out);
    }

    /// The engine (read-only; see the engine actions below).
    pub fn engine(&self) -> &SimEngine {
        &self.engine
    }

    /// The engine's configuration, to change its behaviour mid-run.
    pub fn engine_config(&mut self) -> &mut super::engine::SimEngineConfig {
        &mut self.engine.config
    }

    /// The link, to change delays, faults and reachability mid-run.
    pub fn link(&mut self) -> &mut Link {
        &mut self.link
    }

    /// The user's configuration, to change callbacks mid-run.
    pub fn user(&mut self) -> &mut UserConfig {
        &mut self.user.config
    }

    /// Everything that happened.
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// Every event the runner emitted.
    pub fn events(&self) -> Vec<Event> {
        self.transcript
            .events()
            .into_iter()
            .map(|(_, e)| e)
            .collect()
    }

    /// Every frame the runner sent, decoded, with connection.
    pub fn sent(&self) -> Vec<(Timestamp, ConnId, ToServer)> {
        self.transcript.sent(self.version)
    }

    /// Outcome of a KV call, once it arrived.
    pub fn kv_result(&self, id: KvRequestId) -> Option<&Result<KvResponse, KvError>> {
        self.kv_results.get(&id)
    }

    /// The runner's current connection (of its last `Connect`).
    pub fn runner_conn(&self) -> Option<ConnId> {
        self.runner_conn
    }

    /// The invariant checker's view, for extra assertions.
    pub fn invariants(&self) -> Option<&Invariants> {
        self.invariants.as_ref()
    }

    // ----- the clock ------------------------------------------------------

    /// When something happens next, if ever.
    pub fn next_wakeup(&self) -> Option<Timestamp> {
        [
            self.link.next_delivery(),
            self.user.next_due(),
            self.engine.poll_timeout(),
            self.runner.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Jumps to the next wake-up and handles one thing due then. Returns
    /// `false` if nothing is scheduled at all.
    pub fn step(&mut self) -> bool {
        let Some(next) = self.next_wakeup() else {
            return false;
        };
        self.now = self.now.max(next);
        let now = self.now;
        if let Some(delivery) = self.link.pop_due(now) {
            self.deliver(delivery);
        } else if let Some(action) = self.user.pop_due(now) {
            self.complete_callback(action);
        } else if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle_timeout(now);
            self.drain_engine();
        } else {
            self.runner.handle_timeout(now);
            self.drain_runner();
            if let Some(inv) = &mut self.invariants {
                inv.after_timeout(now, &self.runner);
            }
        }
        self.check_bounds();
        true
    }

    /// Runs everything due up to `now + d`, then sets the clock there.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.next_wakeup().is_some_and(|t| t <= end) {
            self.step();
        }
        self.now = self.now.max(end);
    }

    /// Steps until `done` holds (checked before each step) or `limit` of
    /// virtual time passes. Returns whether `done` held.
    pub fn run_until(&mut self, mut done: impl FnMut(&Sim) -> bool, limit: Duration) -> bool {
        let end = self.now + limit;
        loop {
            if done(self) {
                return true;
            }
            match self.next_wakeup() {
                Some(t) if t <= end => {
                    self.step();
                }
                _ => {
                    self.now = self.now.max(end);
                    return done(self);
                }
            }
        }
    }

    // ----- user calls -------------------------------------------------------

    /// `Runner::start`.
    pub fn start(&mut self) {
        self.runner.start(self.now);
        self.record_call("start".into());
        self.drain_runner();
    }

    /// `Runner::shutdown`.
    pub fn shutdown(&mut self, mode: ShutdownMode) {
        self.runner.shutdown(self.now, mode);
        self.record_call(format!("shutdown({mode:?})"));
        self.drain_runner();
    }

    /// `Runner::sleep_actor`.
    pub fn sleep_actor(&mut self, actor: &ActorRef) -> Result<(), CallError> {
        let r = self.runner.sleep_actor(self.now, actor);
        self.after_call(format!("sleep_actor({actor:?}) = {r:?}"), r)
    }

    /// `Runner::stop_actor` (the stop intent).
    pub fn stop_intent(&mut self, actor: &ActorRef) -> Result<(), CallError> {
        let r = self.runner.stop_actor(self.now, actor);
        self.after_call(format!("stop_actor({actor:?}) = {r:?}"), r)
    }

    /// `Runner::set_alarm`.
    pub fn set_alarm(&mut self, actor: &ActorRef, ts: Option<i64>) -> Result<(), CallError> {
        let r = self.runner.set_alarm(self.now, actor, ts);
        self.after_call(format!("set_alarm({actor:?}, {ts:?}) = {r:?}"), r)
    }

    /// `Runner::crash_actor`.
    pub fn crash_actor(&mut self, actor: &ActorRef, message: &str) -> Result<(), CallError> {
        let r = self.runner.crash_actor(self.now, actor, message);
        self.after_call(format!("crash_actor({actor:?}) = {r:?}"), r)
    }

    /// `Runner::kv`.
    pub fn kv(&mut self, actor: &ActorRef, data: KvRequestData) -> Result<KvRequestId, CallError> {
        let r = self.runner.kv(self.now, actor, data.clone());
        if let Ok(id) = &r {
            self.kv_calls.push(*id);
            if let Some(inv) = &mut self.invariants {
                inv.kv_called(self.now, *id, actor, &data);
            }
        }
        self.after_call(format!("kv({actor:?}) = {r:?}"), r)
    }

    /// `Runner::cancel_kv`: whether the call was cancelled (it had not
    /// ended).
    pub fn cancel_kv(&mut self, id: KvRequestId) -> bool {
        let cancelled = self.runner.cancel_kv(self.now, id);
        if let Some(inv) = &mut self.invariants {
            inv.kv_cancel_returned(id, cancelled);
        }
        self.record_call(format!("cancel_kv({id:?}) = {cancelled}"));
        self.drain_runner();
        cancelled
    }

    /// Ids of every KV call the runner accepted, oldest first.
    pub fn kv_calls(&self) -> &[KvRequestId] {
        &self.kv_calls
    }

    /// `Runner::actor_started`, bypassing the user model.
    pub fn actor_started(
        &mut self,
        actor: &ActorRef,
        result: Result<(), String>,
    ) -> Result<(), CallError> {
        let r = self.runner.actor_started(self.now, actor, result);
        self.after_call(format!("actor_started({actor:?}) = {r:?}"), r)
    }

    /// `Runner::actor_stopped`, bypassing the user model.
    pub fn actor_stopped(&mut self, actor: &ActorRef) -> Result<(), CallError> {
        let r = self.runner.actor_stopped(self.now, actor);
        self.after_call(format!("actor_stopped({actor:?}) = {r:?}"), r)
    }

    fn after_call<T>(
        &mut self,
        what: String,
        result: Result<T, CallError>,
    ) -> Result<T, CallError> {
        self.record_call(what);
        self.drain_call(&result);
        result
    }

    /// Drains the outputs of a user call that returned `result`.
    fn drain_call<T>(&mut self, result: &Result<T, CallError>) {
        if let Some(inv) = &mut self.invariants {
            inv.before_call();
        }
        self.drain_runner();
        if let Some(inv) = &self.invariants {
            inv.after_call(result);
        }
    }

    fn record_call(&mut self, what: String) {
        self.transcript.push(self.now, Entry::Call(what));
    }

    // ----- engine and network actions ----------------------------------

    /// The engine creates an actor named `name` and starts it on the runner.
    pub fn create_actor(&mut self, name: &str) -> Id {
        let id = self.engine.create_actor(self.now, name);
        self.drain_engine();
        id
    }

    /// Runs any engine action at the current time, then sends its output.
    pub fn engine_do<T>(&mut self, action: impl FnOnce(&mut SimEngine, Timestamp) -> T) -> T {
        let out = action(&mut self.engine, self.now);
        self.drain_engine();
        out
    }

    /// The engine crashes and comes back (connections reset, state kept).
    pub fn restart_engine(&mut self) {
        let dropped = self.engine.restart(self.now);
        for conn in dropped {
            self.link.reset(self.now, conn, "engine restarted");
        }
    }

    /// The transport of the runner's current connection breaks.
    pub fn drop_connection(&mut self) {
        if let Some(conn) = self.runner_conn {
            self.link.reset(self.now, conn, "connection reset");
        }
    }

    // ----- plumbing -----------------------------------------------------------

    fn deliver(&mut self, d: Delivery) {
        self.transcript.push(
            self.now,
            Entry::Delivered {
                to: d.to,
                conn: d.conn,
                packet: d.packet.clone(),
            },
        );
        match d.to {
            Side::Runner => self.deliver_to_runner(d.conn, d.packet),
            Side::Engine => self.deliver_to_engine(d.conn, d.packet),
        }
    }

    fn deliver_to_runner(&mut self, conn: ConnId, packet: Packet) {
        let now = self.now;
        if let Some(inv) = &mut self.invariants {
            let delivery = match &packet {
                Packet::Open => check::Delivery::Open,
                Packet::Frame(b) => check::Delivery::Frame(decode_to_client(self.version, b).ok()),
                Packet::Text(_) => check::Delivery::Text,
                Packet::Refused { .. } | Packet::Close { .. } | Packet::Reset(_) => {
                    check::Delivery::Closed
                }
                Packet::Connect { .. } => unreachable!("connects go to the engine"),
            };
            inv.before_delivery(now, conn, delivery, &self.runner);
        }
        match packet {
            Packet::Open => self.runner.handle_connected(now, conn),
            Packet::Refused {
                http_status,
                reason,
            } => {
                let close = TransportClose {
                    code: None,
                    reason,
                    http_status,
                };
                self.runner.handle_closed(now, conn, close);
            }
            Packet::Frame(bytes) => self.runner.handle_frame(now, conn, &bytes),
            Packet::Text(_) => self.runner.handle_text_frame(now, conn),
            Packet::Close { code, reason } => {
                self.runner
                    .handle_closed(now, conn, TransportClose::frame(code, reason));
            }
            Packet::Reset(why) => self
                .runner
                .handle_closed(now, conn, TransportClose::error(why)),
            Packet::Connect { .. } => unreachable!("connects go to the engine"),
        }
        self.drain_runner();
        if let Some(inv) = &mut self.invariants {
            inv.after_delivery(now);
        }
    }

    fn deliver_to_engine(&mut self, conn: ConnId, packet: Packet) {
        let now = self.now;
        match packet {
            Packet::Connect { url, subprotocols } => {
                self.engine.handle_connect(now, conn, &url, &subprotocols);
            }
            Packet::Frame(bytes) => self.engine.handle_frame(now, conn, &bytes),
            Packet::Text(_) => self.engine.handle_text(now, conn),
            Packet::Close { code, reason } => {
                // The engine answers a close frame with its own (the WebSocket
                // closing handshake), unless it had closed first.
                if self.engine.is_open(conn) {
                    self.link
                        .send(now, Side::Runner, conn, Packet::Close { code, reason });
                }
                self.engine.handle_closed(now, conn);
            }
            Packet::Reset(_) => self.engine.handle_closed(now, conn),
            Packet::Open | Packet::Refused { .. } => {
                unreachable!("handshake answers go to the runner")
            }
        }
        self.drain_engine();
    }

    fn complete_callback(&mut self, action: UserAction) {
        match action {
            UserAction::Started(actor, result) => {
                if result.is_ok() {
                    self.restore_before_start(&actor);
                }
                self.hibernating.remove(&actor);
                let _ = self.actor_started(&actor, result);
            }
            UserAction::Stopped(actor) => {
                let _ = self.actor_stopped(&actor);
            }
            UserAction::Tunnel(action) => self.run_tunnel_action(action),
        }
    }

    /// The drain contract: take every transmit and event, in order.
    fn drain_runner(&mut self) {
        while let Some(transmit) = self.runner.poll_transmit() {
            self.on_transmit(transmit);
        }
        while let Some(event) = self.runner.poll_event() {
            self.on_event(event);
        }
        if let Some(inv) = &mut self.invariants {
            inv.after_drain(&self.runner);
        }
    }

    fn on_transmit(&mut self, transmit: Transmit) {
        let now = self.now;
        if let Transmit::Connect { conn, .. } = &transmit {
            self.runner_conn = Some(*conn);
        }
        let frame_conn = match &transmit {
            Transmit::Frame(_) => self.runner_conn,
            _ => None,
        };
        if let Some(inv) = &mut self.invariants {
            inv.on_transmit(now, frame_conn, &transmit, self.version);
        }
        self.transcript.push(
            now,
            Entry::Transmit {
                conn: frame_conn,
                transmit: transmit.clone(),
            },
        );
        match transmit {
            Transmit::Connect {
                conn,
                url,
                subprotocols,
            } => self.send_connect(conn, url, subprotocols),
            Transmit::Frame(bytes) => {
                if let Some(conn) = self.runner_conn {
                    self.link
                        .send(now, Side::Engine, conn, Packet::Frame(bytes));
                }
            }
            Transmit::Close { conn, code, reason } => {
                if self.engine.is_open(conn) {
                    self.link
                        .send(now, Side::Engine, conn, Packet::Close { code, reason });
                } else {
                    // Still connecting: the attempt is abandoned.
                    self.link.forget(conn);
                }
            }
        }
    }

    fn send_connect(&mut self, conn: ConnId, url: String, subprotocols: Vec<String>) {
        let packet = if self.link.reachable {
            (Side::Engine, Packet::Connect { url, subprotocols })
        } else {
            let refused = Packet::Refused {
                http_status: None,
                reason: "connection refused".into(),
            };
            (Side::Runner, refused)
        };
        self.link.send(self.now, packet.0, conn, packet.1);
    }

    fn on_event(&mut self, event: Event) {
        let now = self.now;
        if let Some(inv) = &mut self.invariants {
            inv.on_event(now, &event);
        }
        self.transcript.push(now, Entry::Event(event.clone()));
        self.on_tunnel_event(&event);
        match event {
            Event::ActorStart {
                actor,
                config,
                hibernating,
            } => {
                self.names.insert(actor.clone(), config.name.clone());
                self.hibernating.insert(actor.clone(), hibernating);
                self.user.on_start(now, actor, &config.name);
            }
            Event::ActorStop { actor, .. } => {
                let name = self.names.get(&actor).cloned().unwrap_or_default();
                self.user.on_stop(now, actor, &name);
            }
            Event::KvResult { id, result } => {
                self.kv_results.insert(id, result);
            }
            _ => {}
        }
    }

    fn drain_engine(&mut self) {
        let now = self.now;
        while let Some(t) = self.engine.poll_transmit() {
            let (conn, packet) = match t {
                EngineTransmit::Accept { conn } => (conn, Packet::Open),
                EngineTransmit::Refuse { conn, http_status } => {
                    let reason = format!("HTTP {http_status}");
                    let refused = Packet::Refused {
                        http_status: Some(http_status),
                        reason,
                    };
                    (conn, refused)
                }
                EngineTransmit::Frame { conn, bytes } => (conn, Packet::Frame(bytes)),
                EngineTransmit::Text { conn, text } => (conn, Packet::Text(text)),
                EngineTransmit::Close { conn, code, reason } => {
                    (conn, Packet::Close { code, reason })
                }
            };
            self.link.send(now, Side::Runner, conn, packet);
        }
    }

    fn check_bounds(&mut self) {
        if let Some(inv) = &self.invariants {
            inv.check_bounds(&self.runner);
            let in_flight = self.link.in_flight();
            assert!(in_flight <= MAX_IN_FLIGHT, "{in_flight} messages in flight");
            assert_eq!(self.engine.queued(), 0, "engine output not drained");
            let callbacks = self.user.in_progress();
            assert!(
                callbacks <= MAX_IN_FLIGHT,
                "{callbacks} callbacks in progress"
            );
        }
    }

    /// Sends raw bytes to the runner on its current connection, bypassing
    /// the engine (for frames the engine would never send).
    pub fn inject_frame(&mut self, bytes: Bytes) {
        if let Some(conn) = self.runner_conn {
            self.link
                .send(self.now, Side::Runner, conn, Packet::Frame(bytes));
        }
    }
}
