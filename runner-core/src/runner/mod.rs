//! [`Runner`]: the state machine, its inputs and its outputs.
//!
//! The methods are grouped the quinn way: `handle_*` for what the transport
//! reports, plain verbs for user calls, `poll_*` for outputs. The logic lives
//! in one submodule per concern; this file only dispatches.

mod actor_table;
mod actors;
mod commands;
mod connection;
mod kv_calls;
mod outbox;
mod shutdown;
mod timers;
mod tunnel;

use std::collections::VecDeque;

use crate::Timestamp;
use crate::config::{Config, ConfigError};
use crate::deadline::DeadlineQueue;
use crate::kv::KvTable;
use crate::output::{ConnId, Event, Transmit};
use crate::protocol::{ActorCheckpoint, EventWrapper, Id, ProtocolMetadata};
use crate::rng::SplitMix64;

use actor_table::ActorTable;
use actors::Watchdog;
use connection::ConnState;
use outbox::Retired;
use shutdown::ShutdownPhase;
use timers::{Timer, TimerTable};

pub use shutdown::ShutdownMode;

/// Deterministic hasher state: seeded from the configuration, never from the OS.
type Hasher = foldhash::fast::FixedState;

/// Capacity an output queue keeps once drained. A burst (10 000 starts in
/// a few frames) grows a queue to its size; without this the runner would
/// keep that peak, ~150 B per queued event, for the rest of its life.
const QUEUE_KEEP: usize = 256;

fn shrink_drained<T>(queue: &mut VecDeque<T>) {
    if queue.capacity() > QUEUE_KEEP {
        queue.shrink_to(QUEUE_KEEP);
    }
}

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
    subprotocols: Vec<String>,
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

    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    /// Events recorded during the current input, sent together when it ends.
    outgoing_events: Vec<EventWrapper>,
    /// Command checkpoints to acknowledge when the current input ends.
    outgoing_acks: Vec<ActorCheckpoint>,
}

impl Runner {
    /// Creates a runner; nothing happens until [`start`](Self::start).
    pub fn new(config: Config, now: Timestamp) -> Result<Self, ConfigError> {
        config.validate()?;
        // Hash seeds come from their own stream, so that the jitter sequence
        // does not depend on how many tables the runner has.
        let rng = SplitMix64::new(config.rng_seed);
        let mut seeds = SplitMix64::new(config.rng_seed ^ 0x7ab1_e5ee_d5ee_d5ee);
        let hasher = Hasher::with_seed(seeds.next_u64());
        Ok(Runner {
            url: config.connection_url(),
            subprotocols: config.subprotocols(),
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
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            outgoing_events: Vec::new(),
            outgoing_acks: Vec::new(),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The id the engine gave this runner, once it has.
    pub fn runner_id(&self) -> Option<&Id> {
        self.runner_id.as_ref()
    }

    /// Timing parameters from the last `ToClientInit`.
    pub fn protocol_metadata(&self) -> Option<&ProtocolMetadata> {
        self.metadata.as_ref()
    }

    /// Whether the engine has accepted the current connection.
    pub fn is_connected(&self) -> bool {
        matches!(self.conn, ConnState::Ready(_))
    }

    /// Whether shutdown has completed.
    pub fn is_shut_down(&self) -> bool {
        self.shutdown == ShutdownPhase::Complete
    }

    /// Number of actors on this runner (starting, running or stopping).
    pub fn actor_count(&self) -> usize {
        self.actors.len()
    }

    /// Number of KV requests awaiting an answer.
    pub fn pending_kv_count(&self) -> usize {
        self.kv.len()
    }

    /// Next transport action, in order.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let next = self.transmits.pop_front();
        if next.is_none() {
            shrink_drained(&mut self.transmits);
        }
        next
    }

    /// Next event for the user's code.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        let next = self.events.pop_front();
        if next.is_none() {
            shrink_drained(&mut self.events);
        }
        next
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next, if
    /// ever. Calling it early or more often is harmless.
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
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.advance(now);
        self.run_timers();
        self.flush();
    }

    /// Starts connecting. Calling it again, or after shutdown, does nothing.
    pub fn start(&mut self, now: Timestamp) {
        self.advance(now);
        if matches!(self.conn, ConnState::Idle) && self.shutdown == ShutdownPhase::Running {
            self.connect();
        }
        self.flush();
    }

    /// The transport of `conn` is open (WebSocket handshake done).
    pub fn handle_connected(&mut self, now: Timestamp, conn: ConnId) {
        self.advance(now);
        self.on_transport_open(conn);
        self.flush();
    }

    /// One binary WebSocket message arrived on `conn`.
    pub fn handle_frame(&mut self, now: Timestamp, conn: ConnId, frame: &[u8]) {
        self.advance(now);
        self.on_frame(conn, frame);
        self.flush();
    }

    /// A text WebSocket message arrived on `conn`: the engine never sends
    /// one, so the connection is closed (1011) and re-established.
    pub fn handle_text_frame(&mut self, now: Timestamp, conn: ConnId) {
        self.advance(now);
        if self.is_current(conn) {
            self.protocol_error(conn, "text frame on the runner connection");
        }
        self.flush();
    }

    /// The transport of `conn` closed (or failed to open). `code` and
    /// `reason` come from the peer's close frame when there was one;
    /// `http_status` is the handshake's status when the upgrade was refused.
    pub fn handle_closed(&mut self, now: Timestamp, conn: ConnId, close: TransportClose) {
        self.advance(now);
        self.on_transport_closed(conn, close);
        self.flush();
    }

    /// Runs every timer and deadline due at `self.now`.
    fn run_timers(&mut self) {
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
    pub fn frame(code: u16, reason: impl Into<String>) -> Self {
        TransportClose {
            code: Some(code),
            reason: reason.into(),
            http_status: None,
        }
    }

    /// A transport failure without a close frame.
    pub fn error(reason: impl Into<String>) -> Self {
        TransportClose {
            code: None,
            reason: reason.into(),
            http_status: None,
        }
    }
}
