//! [`Runner`]: the state machine, its inputs and its outputs.
//!
//! The methods are grouped the quinn way: `handle_*` for what the transport
//! reports, plain verbs for user calls, `poll_*` for outputs. The logic lives
//! in one submodule per concern; this file only dispatches. Every input, in
//! whichever submodule, is one call to `Runner::step`, the single place that
//! advances time and sends what the input recorded.

mod actor_table;
mod actors;
mod commands;
mod conn_state;
mod connection;
mod event_log;
mod input;
mod kv_calls;
mod kv_table;
mod metrics;
mod outbox;
mod output_queue;
mod recording;
mod retired;
mod shutdown;
mod shutdown_phase;
mod snapshot;
mod timers;
mod tunnel;

use std::borrow::Cow;

use crate::Timestamp;
use crate::config::{Config, ConfigError};
use crate::deadline::DeadlineQueue;
use crate::ids::{ActorRef, ConnId};
use crate::output::{Event, Transmit};
use crate::protocol::{ActorCheckpoint, EventWrapper, Id, ProtocolMetadata};
use crate::rng::SplitMix64;

use actor_table::ActorTable;
use actors::Watchdog;
use conn_state::ConnState;
use kv_table::KvTable;
use output_queue::OutputQueue;
use retired::Retired;
use shutdown_phase::ShutdownPhase;
use timers::{Timer, TimerTable};

pub use input::{Input, Outcome};
pub use metrics::{
    ConnectionState, Disconnects, Histogram, HttpOutcomes, KV_LATENCY_BUCKETS, KvKinds, KvOutcomes,
    Metrics, PayloadRefusals, Stops,
};
pub(crate) use recording::StepRecorder;
pub use recording::{RecordError, RecordingState};
pub use shutdown::ShutdownMode;
pub use snapshot::{SNAPSHOT_MAGIC, SNAPSHOT_VERSION, Snapshot, SnapshotError};

/// Deterministic hasher state: seeded from the configuration, never from the OS.
type Hasher = foldhash::fast::FixedState;

/// The runner state machine.
///
/// # Driving it
///
/// After **every** input (`handle_*`, `start`, a user call), drain
/// [`poll_transmit`](Self::poll_transmit) and [`poll_event`](Self::poll_event)
/// until they return `None`, then wait until the next input or until
/// [`poll_timeout`](Self::poll_timeout), at which point call
/// [`handle_timeout`](Self::handle_timeout). Transmits must be carried out in
/// the order they come. Output queues only grow within one input, so draining
/// after each keeps them small.
///
/// ```
/// use runner_core::{Config, Runner, Timestamp, Transmit};
///
/// let config = Config::new("http://127.0.0.1:6420", "my-runner", "key-1");
/// let mut runner = Runner::new(config, Timestamp::ZERO).unwrap();
/// runner.start(Timestamp::ZERO);
/// match runner.poll_transmit() {
///     Some(Transmit::Connect { url, subprotocols, .. }) => {
///         assert!(url.starts_with("ws://127.0.0.1:6420/runners/connect?protocol_version=5"));
///         assert_eq!(subprotocols, ["rivet"]);
///     }
///     other => panic!("expected a connect, got {other:?}"),
/// }
/// ```
#[derive(Debug)]
pub struct Runner {
    config: Config,
    url: String,
    rng: SplitMix64,
    now: Timestamp,

    conn: ConnState,
    next_conn_id: u64,
    backoff_attempt: u32,
    runner_id: Option<Id>,
    metadata: Option<ProtocolMetadata>,
    timers: TimerTable,
    shutdown: ShutdownPhase,

    actors: ActorTable,
    watchdogs: DeadlineQueue<Watchdog>,
    retired: Retired,
    kv: KvTable,
    tunnel: tunnel::Tunnel,

    transmits: OutputQueue<Transmit>,
    /// Where frames are encoded before being copied out (see
    /// `Runner::send`): kept, so that a small frame costs one allocation.
    encode_buf: Vec<u8>,
    events: OutputQueue<Event>,
    /// Events recorded during the current input, sent together when it ends.
    outgoing_events: Vec<EventWrapper>,
    /// Command checkpoints to acknowledge when the current input ends.
    outgoing_acks: Vec<ActorCheckpoint>,
    /// Draining actors whose last request ended during the current input:
    /// removed when it ends.
    drained: Vec<ActorRef>,
    /// What [`Runner::metrics`] reports, counted where it happens.
    counters: metrics::Counters,
    /// The flight recorder, when recording (see [`crate::recording`]).
    recorder: Option<Box<dyn recording::StepRecorder>>,
    /// Whether an input has run: recording must start before the first.
    stepped: bool,
}

impl Runner {
    /// Creates a runner; nothing happens until [`start`](Self::start).
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::{Config, ConfigError, Runner, Timestamp};
    ///
    /// let runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
    /// assert!(!runner.is_connected());
    /// assert_eq!(runner.poll_timeout(), None); // idle until `start`
    /// let keyless = Config::new("http://h:1", "r", "");
    /// assert!(matches!(Runner::new(keyless, Timestamp::ZERO), Err(ConfigError::Empty("runner_key"))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(config: Config, now: Timestamp) -> Result<Self, ConfigError> {
        config.validate()?;
        // Hash seeds come from their own stream, so that the jitter sequence
        // does not depend on how many tables the runner has.
        let rng = SplitMix64::new(config.rng_seed);
        let mut seeds = SplitMix64::new(config.rng_seed ^ 0x7ab1_e5ee_d5ee_d5ee);
        let hasher = Hasher::with_seed(seeds.next_u64());
        Ok(Runner {
            url: config.connection_url(),
            actors: ActorTable::new(hasher),
            retired: Retired::new(Hasher::with_seed(seeds.next_u64())),
            tunnel: tunnel::Tunnel::new(Hasher::with_seed(seeds.next_u64())),
            config,
            rng,
            now,
            conn: ConnState::Idle,
            next_conn_id: 0,
            backoff_attempt: 0,
            runner_id: None,
            metadata: None,
            timers: TimerTable::default(),
            shutdown: ShutdownPhase::Running,
            watchdogs: DeadlineQueue::default(),
            kv: KvTable::default(),
            transmits: OutputQueue::default(),
            encode_buf: Vec::new(),
            events: OutputQueue::default(),
            outgoing_events: Vec::new(),
            outgoing_acks: Vec::new(),
            drained: Vec::new(),
            counters: metrics::Counters::default(),
            recorder: None,
            stepped: false,
        })
    }

    /// The configuration in use.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::{Config, Runner, Timestamp};
    ///
    /// let mut config = Config::new("http://h:1", "r", "k");
    /// config.total_slots = 8;
    /// let runner = Runner::new(config, Timestamp::ZERO)?;
    /// assert_eq!(runner.config().total_slots, 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The id the engine gave this runner, once it has.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Timestamp, TransportClose};
    /// # let (mut runner, conn) = testing::open(testing::config())?;
    /// # let metadata = ProtocolMetadata { runner_lost_threshold: 15_000, actor_stop_threshold: None, serverless_drain_grace_period: None };
    /// assert_eq!(runner.runner_id(), None);
    /// let init = ToClient::Init(ToClientInit { runner_id: "runner-1".into(), metadata });
    /// runner.handle_frame(Timestamp::ZERO, conn, &encode_to_client(ProtocolVersion::V5, &init)?);
    /// assert_eq!(runner.runner_id().map(|id| &**id), Some("runner-1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn runner_id(&self) -> Option<&Id> {
        self.runner_id.as_ref()
    }

    /// Timing parameters from the last `ToClientInit`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Timestamp, TransportClose};
    /// # let (mut runner, conn) = testing::open(testing::config())?;
    /// assert_eq!(runner.protocol_metadata(), None);
    /// let metadata = ProtocolMetadata {
    ///     runner_lost_threshold: 15_000,
    ///     actor_stop_threshold: None,
    ///     serverless_drain_grace_period: None,
    /// };
    /// let init = ToClient::Init(ToClientInit { runner_id: "R".into(), metadata });
    /// runner.handle_frame(Timestamp::ZERO, conn, &encode_to_client(ProtocolVersion::V5, &init)?);
    /// assert_eq!(runner.protocol_metadata().map(|m| m.runner_lost_threshold), Some(15_000));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn protocol_metadata(&self) -> Option<&ProtocolMetadata> {
        self.metadata.as_ref()
    }

    /// Whether the engine has accepted the current connection.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Timestamp, TransportClose};
    /// # let (mut runner, conn) = testing::open(testing::config())?;
    /// # let metadata = ProtocolMetadata { runner_lost_threshold: 15_000, actor_stop_threshold: None, serverless_drain_grace_period: None };
    /// assert!(!runner.is_connected()); // the transport is open, the engine has not answered
    /// let init = ToClient::Init(ToClientInit { runner_id: "R".into(), metadata });
    /// runner.handle_frame(Timestamp::ZERO, conn, &encode_to_client(ProtocolVersion::V5, &init)?);
    /// assert!(runner.is_connected());
    /// runner.handle_closed(Timestamp::ZERO, conn, TransportClose::error("connection reset"));
    /// assert!(!runner.is_connected());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_connected(&self) -> bool {
        matches!(self.conn, ConnState::Ready(_))
    }

    /// Whether shutdown has completed.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::{Config, Runner, ShutdownMode, Timestamp};
    ///
    /// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
    /// runner.start(Timestamp::ZERO);
    /// assert!(!runner.is_shut_down());
    /// runner.shutdown(Timestamp::ZERO, ShutdownMode::Immediate);
    /// assert!(runner.is_shut_down());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_shut_down(&self) -> bool {
        self.shutdown == ShutdownPhase::Complete
    }

    /// Number of actors on this runner (starting, running or stopping).
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, ActorRef, Timestamp};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # let start_a = encode_to_client(ProtocolVersion::V5, &testing::start_command("A", vec![]))?;
    /// # let actor = ActorRef::new("A", 0);
    /// assert_eq!(runner.actor_count(), 0);
    /// runner.handle_frame(Timestamp::ZERO, conn, &start_a); // the engine starts actor "A"
    /// assert_eq!(runner.actor_count(), 1);
    /// runner.actor_started(Timestamp::ZERO, &actor, Ok(()))?;
    /// runner.crash_actor(Timestamp::ZERO, &actor, "boom")?;
    /// assert_eq!(runner.actor_count(), 1); // stopping, until the user's code confirms
    /// runner.actor_stopped(Timestamp::ZERO, &actor)?;
    /// assert_eq!(runner.actor_count(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn actor_count(&self) -> usize {
        self.actors.len()
    }

    /// Number of KV calls that have not ended yet: each will end with one
    /// [`Event::KvResult`]. Queued calls count (see
    /// [`queued_kv_count`](Self::queued_kv_count)); cancelled ones do not.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Event, KvError, ShutdownMode, Timestamp};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # let actor = testing::started_actor(&mut runner, conn, "A")?;
    /// let id = runner.kv(Timestamp::ZERO, &actor, KvRequestData::Drop)?;
    /// assert_eq!(runner.pending_kv_count(), 1);
    /// runner.shutdown(Timestamp::ZERO, ShutdownMode::Immediate);
    /// assert_eq!(runner.pending_kv_count(), 0);
    /// let failed = Event::KvResult { id, result: Err(KvError::Shutdown) };
    /// assert!(std::iter::from_fn(|| runner.poll_event()).any(|event| event == failed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pending_kv_count(&self) -> usize {
        self.kv.open()
    }

    /// Number of KV calls waiting in the core for one of the
    /// `limits.max_pending_kv` requests out to end (at most
    /// `limits.max_queued_kv`). Nothing of them has been sent.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Timestamp};
    /// let mut config = testing::config();
    /// config.limits.max_pending_kv = 2;
    /// # let (mut runner, conn) = testing::connected(config)?;
    /// # let actor = testing::started_actor(&mut runner, conn, "A")?;
    /// for _ in 0..5 {
    ///     runner.kv(Timestamp::ZERO, &actor, KvRequestData::Drop)?;
    /// }
    /// assert_eq!((runner.pending_kv_count(), runner.queued_kv_count()), (5, 3));
    /// assert_eq!(testing::sent(&mut runner)?.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn queued_kv_count(&self) -> usize {
        self.kv.queued()
    }

    /// Next transport action, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::{Config, Runner, Timestamp, Transmit};
    ///
    /// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
    /// assert_eq!(runner.poll_transmit(), None);
    /// runner.start(Timestamp::ZERO);
    /// let Some(Transmit::Connect { conn, .. }) = runner.poll_transmit() else { panic!() };
    /// runner.handle_connected(Timestamp::ZERO, conn);
    /// let mut frames = 0;
    /// while let Some(transmit) = runner.poll_transmit() {
    ///     assert!(matches!(transmit, Transmit::Frame(_))); // the runner's hello
    ///     frames += 1;
    /// }
    /// assert_eq!(frames, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event for the user's code.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Event, Timestamp, TransportClose};
    /// # let (mut runner, conn) = testing::open(testing::config())?;
    /// # let metadata = ProtocolMetadata { runner_lost_threshold: 15_000, actor_stop_threshold: None, serverless_drain_grace_period: None };
    /// assert_eq!(runner.poll_event(), None);
    /// let init = ToClient::Init(ToClientInit { runner_id: "R".into(), metadata });
    /// runner.handle_frame(Timestamp::ZERO, conn, &encode_to_client(ProtocolVersion::V5, &init)?);
    /// assert_eq!(runner.poll_event(), Some(Event::Connected { runner_id: "R".into(), metadata }));
    /// assert_eq!(runner.poll_event(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next, if
    /// ever. Calling it early or more often is harmless.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::{Config, Runner, Timestamp};
    ///
    /// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
    /// assert_eq!(runner.poll_timeout(), None); // nothing to wait for yet
    /// runner.start(Timestamp::from_millis(100));
    /// // The attempt is given up after `timeouts.connect` (15 s by default).
    /// assert_eq!(runner.poll_timeout(), Some(Timestamp::from_millis(15_100)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        [
            self.timers.next_deadline(),
            self.watchdogs.next_deadline(),
            self.kv.next_deadline(),
            self.retired.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs every timer due at `now`.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::{Config, Runner, Timestamp, Transmit};
    ///
    /// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
    /// runner.start(Timestamp::ZERO);
    /// let Some(Transmit::Connect { conn, .. }) = runner.poll_transmit() else { panic!() };
    /// let deadline = runner.poll_timeout().unwrap();
    /// runner.handle_timeout(deadline); // the transport never opened
    /// let reason = "runner.handshake_timeout".to_string();
    /// assert_eq!(runner.poll_transmit(), Some(Transmit::Close { conn, code: 1011, reason }));
    /// assert!(runner.poll_timeout() > Some(deadline)); // a new attempt is scheduled
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.step(now, Input::Timeout);
    }

    /// Starts connecting. Calling it again, or after shutdown, does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::{Config, Runner, Timestamp, Transmit};
    ///
    /// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
    /// runner.start(Timestamp::ZERO);
    /// let Some(Transmit::Connect { subprotocols, .. }) = runner.poll_transmit() else { panic!() };
    /// assert_eq!(subprotocols, ["rivet"]);
    /// runner.start(Timestamp::ZERO);
    /// assert_eq!(runner.poll_transmit(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start(&mut self, now: Timestamp) {
        self.step(now, Input::Start);
    }

    /// The transport of `conn` is open (WebSocket handshake done).
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::protocol::{ProtocolVersion, ToServer, decode_to_server};
    /// use runner_core::{Config, Runner, Timestamp, Transmit};
    ///
    /// let mut runner = Runner::new(Config::new("http://h:1", "my-runner", "k"), Timestamp::ZERO)?;
    /// runner.start(Timestamp::ZERO);
    /// let Some(Transmit::Connect { conn, .. }) = runner.poll_transmit() else { panic!() };
    /// runner.handle_connected(Timestamp::ZERO, conn);
    /// let Some(Transmit::Frame(frame)) = runner.poll_transmit() else { panic!() };
    /// let ToServer::Init(hello) = decode_to_server(ProtocolVersion::V5, &frame)? else { panic!() };
    /// assert_eq!((hello.name.as_str(), hello.total_slots), ("my-runner", 1000));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle_connected(&mut self, now: Timestamp, conn: ConnId) {
        self.step(now, Input::Connected { conn });
    }

    /// One binary WebSocket message arrived on `conn`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Timestamp, Transmit};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// let ping = ToClient::Ping(ToClientPing { ts: 42 });
    /// runner.handle_frame(Timestamp::ZERO, conn, &encode_to_client(ProtocolVersion::V5, &ping)?);
    /// let Some(Transmit::Frame(frame)) = runner.poll_transmit() else { panic!() };
    /// assert_eq!(decode_to_server(ProtocolVersion::V5, &frame)?, ToServer::Pong(ToServerPong { ts: 42 }));
    /// // Bytes that do not decode close the connection (1011); a new one follows.
    /// runner.handle_frame(Timestamp::ZERO, conn, b"\xff");
    /// assert!(matches!(runner.poll_transmit(), Some(Transmit::Close { code: 1011, .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle_frame(&mut self, now: Timestamp, conn: ConnId, frame: &[u8]) {
        let frame = Cow::Borrowed(frame);
        self.step(now, Input::Frame { conn, frame });
    }

    /// A text WebSocket message arrived on `conn`: the engine never sends
    /// one, so the connection is closed (1011) and re-established.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Event, Timestamp, Transmit};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// runner.handle_text_frame(Timestamp::ZERO, conn);
    /// assert!(matches!(runner.poll_transmit(), Some(Transmit::Close { code: 1011, .. })));
    /// assert!(matches!(runner.poll_event(), Some(Event::Disconnected { code: Some(1011), .. })));
    /// assert!(!runner.is_connected());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle_text_frame(&mut self, now: Timestamp, conn: ConnId) {
        self.step(now, Input::TextFrame { conn });
    }

    /// The transport of `conn` closed (or failed to open). `code` and
    /// `reason` come from the peer's close frame when there was one;
    /// `http_status` is the handshake's status when the upgrade was refused.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Event, Timestamp, Transmit, TransportClose};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// runner.handle_closed(Timestamp::ZERO, conn, TransportClose::frame(1001, "going away"));
    /// let disconnected = Event::Disconnected { code: Some(1001), reason: "going away".into() };
    /// assert_eq!(runner.poll_event(), Some(disconnected));
    /// // A new attempt follows after the backoff.
    /// let retry = runner.poll_timeout().unwrap();
    /// runner.handle_timeout(retry);
    /// assert!(matches!(runner.poll_transmit(), Some(Transmit::Connect { conn: next, .. }) if next != conn));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle_closed(&mut self, now: Timestamp, conn: ConnId, close: TransportClose) {
        self.step(now, Input::Closed { conn, close });
    }

    /// The single mutation point (str0m's): every input goes through here,
    /// so that time advances before it and what it recorded (events, command
    /// acknowledgements) is sent after it. An entry point is one call to
    /// this, and cannot forget the flush.
    ///
    /// The flight recorder, when on, writes the input here before it runs
    /// and the digest of what it produced after.
    fn step(&mut self, now: Timestamp, input: Input<'_>) -> Outcome {
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.begin_step(now, &input);
            self.transmits.mark();
            self.events.mark();
        }
        self.stepped = true;
        self.advance(now);
        let outcome = self.apply(input);
        self.remove_drained_actors();
        self.flush();
        if let Some(recorder) = self.recorder.as_mut() {
            let mut transmits = self.transmits.fresh();
            recorder.end_step(&mut transmits, &mut self.events.fresh(), &outcome);
        }
        outcome
    }

    pub(super) fn on_start(&mut self) {
        if matches!(self.conn, ConnState::Idle) && self.shutdown == ShutdownPhase::Running {
            self.connect();
        }
    }

    pub(super) fn on_text_frame(&mut self, conn: ConnId) {
        if self.is_current(conn) {
            self.protocol_error(conn, "text frame on the runner connection");
        }
    }

    /// Runs every timer and deadline due at `self.now`.
    pub(super) fn run_timers(&mut self) {
        while let Some(timer) = self.timers.pop_due(self.now) {
            match timer {
                Timer::Handshake => self.on_handshake_timeout(),
                Timer::Liveness => self.on_liveness_timeout(),
                Timer::Reconnect => self.on_reconnect_timer(),
                Timer::RunnerLost => self.on_runner_lost(),
                Timer::Drain => self.on_drain_timeout(),
                Timer::CloseWait => self.on_close_wait_timeout(),
            }
        }
        while let Some(watchdog) = self.watchdogs.pop_due(self.now) {
            self.on_watchdog(watchdog);
        }
        self.expire_kv();
        self.run_retired_confirmations();
    }

    /// The engine has surely declared this runner lost: its actors are gone.
    fn on_runner_lost(&mut self) {
        tracing::warn!("engine unreachable past the runner-lost threshold: stopping every actor");
        self.fail_all_kv(crate::kv::KvError::RunnerLost);
        self.stop_all_actors(crate::output::StopReason::RunnerLost);
        self.remove_draining_actors();
    }

    /// Time only moves forward, whatever the caller passes.
    fn advance(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
    }

    fn is_current(&self, conn: ConnId) -> bool {
        self.conn.id() == Some(conn)
    }
}

/// How a transport ended, as far as the driver knows.
///
/// # Examples
///
/// ```
/// use runner_core::{Config, Runner, Timestamp, Transmit, TransportClose};
///
/// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
/// runner.start(Timestamp::ZERO);
/// let Some(Transmit::Connect { conn, .. }) = runner.poll_transmit() else { panic!() };
/// // An unavailable engine is retried after the backoff...
/// let unavailable = TransportClose { http_status: Some(503), ..TransportClose::error("upgrade refused") };
/// runner.handle_closed(Timestamp::ZERO, conn, unavailable);
/// runner.handle_timeout(runner.poll_timeout().unwrap());
/// let Some(Transmit::Connect { conn, .. }) = runner.poll_transmit() else { panic!() };
/// // ...a refused token is not: retrying cannot fix it.
/// let forbidden = TransportClose { http_status: Some(403), ..TransportClose::default() };
/// runner.handle_closed(Timestamp::from_millis(2_000), conn, forbidden);
/// assert!(runner.is_shut_down());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransportClose {
    /// Close code from the peer's close frame.
    pub code: Option<u16>,
    /// Close reason from the peer's close frame, or the transport error.
    pub reason: String,
    /// HTTP status of a refused WebSocket upgrade.
    pub http_status: Option<u16>,
}

impl TransportClose {
    /// A close frame from the peer.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::{Config, Event, Runner, ShutdownReason, Timestamp, Transmit, TransportClose};
    ///
    /// let close = TransportClose::frame(1000, "ws.eviction");
    /// assert_eq!((close.code, close.reason.as_str(), close.http_status), (Some(1000), "ws.eviction", None));
    /// # let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
    /// # runner.start(Timestamp::ZERO);
    /// # let Some(Transmit::Connect { conn, .. }) = runner.poll_transmit() else { unreachable!() };
    /// // Another process took this runner's key: the runner stops for good.
    /// runner.handle_closed(Timestamp::ZERO, conn, close);
    /// let evicted = Event::ShutdownComplete { reason: ShutdownReason::Evicted };
    /// assert_eq!(runner.poll_event(), Some(evicted));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn frame(code: u16, reason: impl Into<String>) -> Self {
        TransportClose {
            code: Some(code),
            reason: reason.into(),
            http_status: None,
        }
    }

    /// A transport failure without a close frame.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Event, Timestamp, TransportClose};
    /// # let (mut runner, conn) = testing::open(testing::config())?;
    /// let close = TransportClose::error("connection reset by peer");
    /// assert_eq!((close.code, close.http_status), (None, None));
    /// runner.handle_closed(Timestamp::ZERO, conn, close);
    /// let disconnected = Event::Disconnected { code: None, reason: "connection reset by peer".into() };
    /// assert_eq!(runner.poll_event(), Some(disconnected));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn error(reason: impl Into<String>) -> Self {
        TransportClose {
            code: None,
            reason: reason.into(),
            http_status: None,
        }
    }
}
