//! Runner configuration and its validation.

use std::collections::BTreeMap;
use std::time::Duration;

use thiserror::Error;

use crate::protocol::ProtocolVersion;
use crate::secret::Token;
use crate::url::{connection_url, subprotocols, websocket_base};

/// Everything the core needs to know up front.
///
/// Build one with [`Config::new`], adjust the public fields, and hand it to
/// [`Runner::new`](crate::Runner::new), which validates it.
///
/// ```
/// use runner_core::Config;
/// let mut config = Config::new("http://127.0.0.1:6420", "my-runner", "key-1");
/// config.token = Some("dev".into());
/// config.validate().unwrap();
/// assert_eq!(
///     config.connection_url(),
///     "ws://127.0.0.1:6420/runners/connect?protocol_version=5&namespace=default&runner_key=key-1"
/// );
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Engine endpoint: `http://`, `https://`, `ws://` or `wss://`, optionally with a path.
    pub endpoint: String,
    /// Auth token, sent as the `rivet_token.<token>` WebSocket sub-protocol
    /// (a [`Token`]: never shown by `Debug`).
    pub token: Option<Token>,
    /// Namespace.
    pub namespace: String,
    /// Runner name: actors select runners by it.
    pub runner_name: String,
    /// Runner key: identifies this runner process to the engine (unique per process).
    pub runner_key: String,
    /// Runner version.
    pub version: u32,
    /// How many actors the engine may place on this runner.
    pub total_slots: u32,
    /// Actor names this runner hosts, each with its metadata as JSON text.
    pub prepopulate_actor_names: BTreeMap<String, String>,
    /// Runner metadata as JSON text.
    pub metadata: Option<String>,
    /// Protocol version to speak.
    pub protocol_version: ProtocolVersion,
    /// Seed of the jitter generator (drivers pass a random one; tests a fixed one).
    pub rng_seed: u64,
    /// Timers.
    pub timeouts: Timeouts,
    /// Reconnect backoff.
    pub backoff: Backoff,
    /// Bounds on every queue the engine or the user can grow.
    pub limits: Limits,
}

/// Durations of the core's timers.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use runner_core::{Config, ConfigError, Runner, Timestamp};
///
/// let mut config = Config::new("http://h:1", "r", "k");
/// assert_eq!(config.timeouts.connect, Duration::from_secs(15));
/// config.timeouts.connect = Duration::from_secs(2);
/// let mut runner = Runner::new(config.clone(), Timestamp::ZERO)?;
/// runner.start(Timestamp::ZERO);
/// // The attempt is given up if the transport is not open 2 s later.
/// assert_eq!(runner.poll_timeout(), Some(Timestamp::from_millis(2_000)));
/// config.timeouts.init = Duration::ZERO;
/// assert_eq!(config.validate(), Err(ConfigError::ZeroTimeout("init")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Timeouts {
    /// From `Connect` to the transport being open.
    pub connect: Duration,
    /// From the transport being open to `ToClientInit`.
    pub init: Duration,
    /// Longest silence from the engine before the connection counts as dead.
    /// The engine pings every ~3 s, so 15 s is five missed pings.
    pub liveness: Duration,
    /// Longest an actor may take to start before it is stopped with an error.
    pub actor_start: Duration,
    /// Longest an actor may take to stop before it is dropped anyway.
    pub actor_stop: Duration,
    /// Longest a KV call may wait for its result, counted from the call:
    /// queued in the core, waiting for a connection, and on the wire.
    pub kv_request: Duration,
    /// Longest a graceful shutdown waits for the engine to stop every actor.
    pub shutdown_drain: Duration,
    /// Longest the core waits for the transport to confirm a close it asked for.
    pub close: Duration,
    /// How long a stopped generation's state (unacknowledged events, command
    /// watermark) is kept once it was sent on a connection that stayed up.
    pub retention: Duration,
}

impl Timeouts {
    /// The longest duration a timeout (or a backoff delay, or the host's
    /// request timeout) may be: a year. Longer ones are refused by
    /// [`Config::validate`] with [`ConfigError::TooLong`], because a
    /// deadline `now + d` past what the platform's clock can represent
    /// would panic when the timer is set (a "disabled" liveness check
    /// written as `Duration::MAX` panicked once the runner was idle). A
    /// year is far from that on every platform, and longer than any timer
    /// has a use for.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runner_core::{Config, ConfigError, Timeouts};
    ///
    /// let mut config = Config::new("http://h:1", "r", "k");
    /// config.timeouts.liveness = Timeouts::MAX;
    /// assert_eq!(config.validate(), Ok(()));
    /// config.timeouts.liveness = Duration::MAX; // "never": refused
    /// assert_eq!(config.validate(), Err(ConfigError::TooLong("liveness")));
    /// ```
    pub const MAX: Duration = Duration::from_secs(365 * 24 * 3600);
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(15),
            init: Duration::from_secs(10),
            liveness: Duration::from_secs(15),
            actor_start: Duration::from_secs(60),
            actor_stop: Duration::from_secs(60),
            kv_request: Duration::from_secs(30),
            shutdown_drain: Duration::from_secs(120),
            close: Duration::from_secs(5),
            retention: Duration::from_secs(30),
        }
    }
}

/// Reconnect backoff: `min(initial · 2^attempt, max) · (1 + U[0,1) · jitter)`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use runner_core::{Config, Runner, Timestamp, Transmit, TransportClose};
///
/// let mut config = Config::new("http://h:1", "r", "k");
/// config.backoff.initial = Duration::from_millis(500);
/// config.backoff.jitter = 0.0;
/// let mut runner = Runner::new(config, Timestamp::ZERO)?;
/// runner.start(Timestamp::ZERO);
/// for (failed_at, retry_at) in [(0, 500), (500, 1_500), (1_500, 3_500)] {
///     runner.handle_timeout(Timestamp::from_millis(failed_at));
///     let Some(Transmit::Connect { conn, .. }) = runner.poll_transmit() else { panic!() };
///     let refused = TransportClose::error("connection refused");
///     runner.handle_closed(Timestamp::from_millis(failed_at), conn, refused);
///     assert_eq!(runner.poll_timeout(), Some(Timestamp::from_millis(retry_at)));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Cap before jitter.
    pub max: Duration,
    /// Extra random fraction, in `[0, 1]`.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(1000),
            max: Duration::from_millis(30_000),
            jitter: 0.25,
        }
    }
}

/// Bounds on state that peers or users can grow. Each limit says what happens
/// when it is reached; nothing is dropped silently.
///
/// # Limits
///
/// Every queue and table the engine or user code can grow, its default, and
/// what happens when it is full. The tests named last hit each one
/// (`tests/tests/limits.rs` unless said otherwise).
///
/// | limit | default | when reached | test |
/// |---|---|---|---|
/// | [`max_pending_kv`](Self::max_pending_kv) | 10 000 | the KV call waits in the core's queue, in call order, and is sent when an earlier request ends; its timeout counts from the call | `core_kv::calls_past_the_pending_limit_…` |
/// | [`max_queued_kv`](Self::max_queued_kv) | 200 000 | the KV call fails with [`CallError::KvQueueFull`](crate::CallError::KvQueueFull) | `kv_calls_past_the_queue_limit_…` |
/// | [`max_tunnel_payload`](Self::max_tunnel_payload) | 20 MiB | a larger response is replaced by a 500; a larger WebSocket message or KV request (keys + values) fails with [`CallError::PayloadTooLarge`](crate::CallError::PayloadTooLarge) | `a_response_over_the_tunnel_limit_…`, `a_kv_request_larger_…` |
/// | [`max_unacked_events_per_actor`](Self::max_unacked_events_per_actor) | 1024 | sleep, stop and alarm calls fail with [`CallError::EventBacklogFull`](crate::CallError::EventBacklogFull); lifecycle events are still recorded | `unacknowledged_events_past_the_limit_…` |
/// | [`max_retired_generations`](Self::max_retired_generations) | 400 000 | counted with the live actors and queued starts (each will stop): a start that would pass it is answered with `Stopped(Error, "runner is at capacity")` and acknowledged, the user never sees it; a stopped generation is never forgotten early | `retired_generations_at_the_limit_…` |
/// | [`events_per_frame`](Self::events_per_frame) | 256 | a resend is split into more frames | `resent_events_go_out_in_frames_…` |
/// | [`max_actors`](Self::max_actors) | 200 000 | the start is answered with `Stopped(Error, "runner is at capacity")` and acknowledged; the user never sees it | `a_start_past_the_actor_limit_…` |
/// | [`max_request_body`](Self::max_request_body) | 20 MiB | the streamed request is answered 413 and the user gets `HttpRequestAborted` | `a_streamed_body_over_the_limit_…` |
/// | [`max_requests_per_actor`](Self::max_requests_per_actor) | 10 000 | a new request is answered 503 with `x-rivet-error: runner.too_many_requests`; a new socket, or a hibernated socket listed past the limit, is closed 1011 `runner.too_many_requests` | `requests_and_sockets_past_the_per_actor_limit_…`, `hibernated_sockets_past_…` |
/// | [`max_request_headers`](Self::max_request_headers) | 1024 | the request is answered 431 with `x-rivet-error: runner.too_many_headers`, a socket is closed 1008 `runner.too_many_headers`; the user never sees either | `a_request_with_more_headers_than_the_limit_…`, `a_socket_with_more_headers_…` |
/// | [`max_inbox_messages`](Self::max_inbox_messages) / [`max_inbox_bytes`](Self::max_inbox_bytes) | 1024 / 64 MiB | for an actor still starting: the request is aborted (`ToServerResponseAbort`, the gateway retries it) or the socket closed 1011 `runner.too_many_requests` | `the_inbox_of_a_starting_actor_…`, `a_socket_whose_messages_overflow_…` |
/// | [`max_buffered_messages`](Self::max_buffered_messages) / [`max_buffered_bytes`](Self::max_buffered_bytes) | 10 000 / 256 MiB | while disconnected: user calls fail with [`CallError::TunnelBufferFull`](crate::CallError::TunnelBufferFull); closes and aborts the runner decides on itself are dropped with a warning (the gateway times those requests out) | `the_outbound_buffer_while_disconnected_…` |
///
/// The async host (feature `host`) adds its own, fixed bounds:
///
/// | bound | value | when reached | test |
/// |---|---|---|---|
/// | calls from handles and handlers to the event loop | 1024 | callers wait (back-pressure); the few commands sent from `Drop` (reject an unanswered socket, close a dropped one) are dropped with a debug log: the gateway closes an unanswered socket after its 15 s open timeout, a dropped open one stays until its client or its actor ends it | — |
/// | frames fed to the socket and not yet written | the WebSocket library's write buffer (tungstenite: writes out past 128 KiB, at most 2 × the largest message) | its sink is not ready: the event loop holds the next frame and stops reading the socket and calls (back-pressure; timers and signals keep running); a frame held for `timeouts.liveness` closes the connection as dead (`write stalled`) and the runner reconnects | `host_pump::a_writer_that_takes_nothing_…`, `e2e_faults_freeze::a_frozen_connection_with_a_full_writer_…` |
/// | messages waiting for one WebSocket handler | 1024, and 64 MiB of payload | that socket is closed 1011 `runner.socket_backlog_full` (holding back instead would stall the one connection every actor shares) | `e2e_faults_handlers::a_socket_handler_that_never_reads_…`, `host_pump::a_socket_handler_that_does_not_read_…` |
/// | headers of one request or socket, as an `http::HeaderMap` | ~24 000 names (what a `HeaderMap` holds) | only reachable with `max_request_headers` set above it: the request is answered 431, a socket's handler gets no headers (warning in the log); never a panic | `host_never_panic::past_what_a_header_map_holds_…` |
/// | largest message from the engine | 64 MiB | the WebSocket library refuses it; the connection is closed and re-established | — |
/// | one HTTP handler, its response body read included | `request_timeout`, 300 s | the client gets a 504 (a panic, in the handler or its body: 500; a failing body: 500) | `e2e_faults_handlers::panicking_hanging_…`, `host_never_panic::a_stalled_response_body_…` |
///
/// Everything else is bounded by one of the above:
///
/// * sockets a start command lists as hibernated: by `max_requests_per_actor`;
/// * the driver's KV waiters: one per KV call not ended in the core
///   (`max_pending_kv` + `max_queued_kv`), and each call ends exactly once
///   (answer, timeout, runner lost, shutdown, or the caller's cancel) —
///   checked after every step of the `core` fuzz target; the cancels of
///   dropped KV futures: at most one per such call;
/// * the driver's request tasks: one per open request (at most
///   `max_requests_per_actor` per actor), each ending with its response, an
///   abort or the request timeout; a streamed body's buffer by
///   `max_request_body`;
/// * headers, paths, ids and KV data decoded from the engine: by the frame,
///   at most 64 MiB; decoding allocates in proportion to the input;
/// * retention confirmations of stopped generations: they expire after
///   `timeouts.retention`;
/// * the core's transmit and event queues: drained after every input (its
///   transmits wait in it while the socket's sink is not ready, and only
///   timers and signals, which add a bounded number, are served meanwhile).
///
/// # Examples
///
/// ```
/// use runner_core::{Config, ConfigError};
///
/// let mut config = Config::new("http://h:1", "r", "k");
/// assert_eq!(config.limits.max_pending_kv, 10_000);
/// assert_eq!(config.limits.max_tunnel_payload, 20 * 1024 * 1024);
/// config.limits.max_actors = 50;
/// config.validate()?;
/// config.limits.max_request_body = 0;
/// assert_eq!(config.validate(), Err(ConfigError::ZeroLimit("max_request_body")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Limits {
    /// KV requests out at once (sent, or to be sent once connected) and
    /// waiting for their answer; calls past it wait in the core's queue
    /// ([`max_queued_kv`](Self::max_queued_kv)), in call order.
    pub max_pending_kv: usize,
    /// KV calls waiting for one of the [`max_pending_kv`](Self::max_pending_kv)
    /// requests out to end; past it, KV calls fail with
    /// [`CallError::KvQueueFull`](crate::CallError::KvQueueFull). The default
    /// lets every actor of a full runner (`max_actors`) load its state at
    /// start without failing; 0 turns the queue off (calls past
    /// `max_pending_kv` fail at once).
    pub max_queued_kv: usize,
    /// Unacknowledged events of one actor generation; past it, intent and alarm
    /// calls fail with [`CallError::EventBacklogFull`](crate::CallError::EventBacklogFull).
    /// Lifecycle events (running, stopped) are always recorded.
    pub max_unacked_events_per_actor: usize,
    /// Stopped generations remembered for deduplication and resend, until
    /// the engine has surely seen their last frames. Live actors and queued
    /// starts count too (each will stop and be remembered): a start that
    /// would pass the limit is refused like one past
    /// [`max_actors`](Self::max_actors). A stopped generation is never
    /// forgotten early: the engine may replay its start after a reconnect,
    /// and only its memory keeps the user's start from running twice. A
    /// newer generation of the same actor (started, queued or stopped)
    /// takes over that memory, so the older ones are forgotten then: under
    /// stop/start churn the table holds about one generation per actor.
    pub max_retired_generations: usize,
    /// Events per `ToServerEvents` frame when resending after a reconnect.
    pub events_per_frame: usize,
    /// Actors live at once; past it, a start command is answered with a stop
    /// (code `ERROR`) instead of being run.
    pub max_actors: usize,
    /// Largest payload of one runner → engine message: a response body, a
    /// WebSocket message, or the keys and values of a KV request. The engine
    /// drops the *whole runner connection* past 20 MiB, so a larger response
    /// is replaced by a 500, and a larger WebSocket message or KV request is
    /// refused with [`CallError::PayloadTooLarge`](crate::CallError::PayloadTooLarge).
    pub max_tunnel_payload: usize,
    /// Largest streamed request body; past it the request is answered 413
    /// and aborted.
    pub max_request_body: usize,
    /// Open requests and sockets per actor; past it new requests get a 503
    /// and new sockets a close (1011 `runner.too_many_requests`).
    pub max_requests_per_actor: usize,
    /// Header entries of one request or WebSocket open. Past it the request
    /// is answered 431 (with `x-rivet-error: runner.too_many_headers`) and
    /// the socket closed with 1008 (policy violation) and reason
    /// `runner.too_many_headers`, without the user hearing of either. The
    /// gateway itself passes far fewer (its HTTP server takes ~100 request
    /// headers); the bound keeps a hostile frame from costing a header map
    /// per entry (`http::HeaderMap` holds at most ~24 000 names).
    pub max_request_headers: usize,
    /// Tunnel messages held for an actor that is still starting (count and
    /// bytes); past it the new request is aborted (the gateway retries it) or
    /// the socket closed.
    pub max_inbox_messages: usize,
    /// See [`max_inbox_messages`](Self::max_inbox_messages).
    pub max_inbox_bytes: usize,
    /// Tunnel messages buffered while disconnected (count and bytes); past
    /// it user calls fail with [`CallError::TunnelBufferFull`](crate::CallError::TunnelBufferFull)
    /// and runner-generated closes and aborts are dropped with a warning (the
    /// gateway times those requests out).
    pub max_buffered_messages: usize,
    /// See [`max_buffered_messages`](Self::max_buffered_messages).
    pub max_buffered_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pending_kv: 10_000,
            max_queued_kv: 200_000,
            max_unacked_events_per_actor: 1024,
            max_retired_generations: 400_000,
            events_per_frame: 256,
            max_actors: 200_000,
            max_tunnel_payload: 20 * 1024 * 1024,
            max_request_body: 20 * 1024 * 1024,
            max_requests_per_actor: 10_000,
            max_request_headers: 1024,
            max_inbox_messages: 1024,
            max_inbox_bytes: 64 * 1024 * 1024,
            max_buffered_messages: 10_000,
            max_buffered_bytes: 256 * 1024 * 1024,
        }
    }
}

/// A configuration the core refuses, with the reason.
///
/// # Examples
///
/// ```
/// use runner_core::{Config, ConfigError, Runner, Timestamp};
///
/// let bad = Config::new("ftp://h:1", "r", "k");
/// let Err(ConfigError::Endpoint { why, .. }) = Runner::new(bad, Timestamp::ZERO) else { panic!() };
/// assert_eq!(why, "scheme must be http, https, ws or wss");
/// let nameless = Config::new("http://h:1", "", "k");
/// let error = nameless.validate().unwrap_err();
/// assert_eq!(error, ConfigError::Empty("runner_name"));
/// assert_eq!(error.to_string(), "runner_name must not be empty");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The endpoint is not an `http(s)://` or `ws(s)://` URL without a query.
    #[error("endpoint {endpoint:?} is invalid: {why}")]
    Endpoint {
        /// The endpoint given.
        endpoint: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A required text field is empty.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// The token cannot be a WebSocket sub-protocol.
    #[error("token must be a non-empty HTTP token (letters, digits and !#$%&'*+-.^_`|~)")]
    Token,
    /// A duration that must be positive is zero.
    #[error("timeout {0} must be greater than zero")]
    ZeroTimeout(&'static str),
    /// A duration is longer than [`Timeouts::MAX`]: a deadline that far
    /// would overflow the clock (`Instant + d` panics), so it is refused
    /// here rather than when the timer is set.
    #[error("duration {0} must be at most {max:?}", max = Timeouts::MAX)]
    TooLong(&'static str),
    /// A limit that must be positive is zero.
    #[error("limit {0} must be greater than zero")]
    ZeroLimit(&'static str),
    /// The jitter is outside `[0, 1]`.
    #[error("backoff jitter must be within [0, 1]")]
    Jitter,
}

impl Config {
    /// A configuration with defaults for everything but the endpoint, the
    /// runner name and the runner key.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::{Config, protocol::ProtocolVersion};
    ///
    /// let config = Config::new("https://api.example.com", "my-runner", "key-1");
    /// assert_eq!((config.runner_name.as_str(), config.runner_key.as_str()), ("my-runner", "key-1"));
    /// assert_eq!((config.namespace.as_str(), config.token), ("default", None));
    /// assert_eq!(config.protocol_version, ProtocolVersion::V5);
    /// assert_eq!(config.total_slots, 1000);
    /// ```
    pub fn new(
        endpoint: impl Into<String>,
        runner_name: impl Into<String>,
        runner_key: impl Into<String>,
    ) -> Self {
        Config {
            endpoint: endpoint.into(),
            token: None,
            namespace: "default".into(),
            runner_name: runner_name.into(),
            runner_key: runner_key.into(),
            version: 1,
            total_slots: 1000,
            prepopulate_actor_names: BTreeMap::new(),
            metadata: None,
            protocol_version: ProtocolVersion::V5,
            rng_seed: 0,
            timeouts: Timeouts::default(),
            backoff: Backoff::default(),
            limits: Limits::default(),
        }
    }

    /// Checks every field; [`Runner::new`](crate::Runner::new) calls it.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::{Config, ConfigError};
    ///
    /// let mut config = Config::new("http://h:1", "r", "k");
    /// assert_eq!(config.validate(), Ok(()));
    /// config.token = Some("has space".into()); // it must fit in a sub-protocol name
    /// assert_eq!(config.validate(), Err(ConfigError::Token));
    /// config.token = Some("dev".into());
    /// config.backoff.jitter = 1.5;
    /// assert_eq!(config.validate(), Err(ConfigError::Jitter));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        websocket_base(&self.endpoint).map_err(|why| ConfigError::Endpoint {
            endpoint: self.endpoint.clone(),
            why,
        })?;
        for (name, value) in [
            ("namespace", &self.namespace),
            ("runner_name", &self.runner_name),
            ("runner_key", &self.runner_key),
        ] {
            if value.is_empty() {
                return Err(ConfigError::Empty(name));
            }
        }
        if let Some(token) = self.token.as_ref().map(Token::expose) {
            if token.is_empty() || !token.bytes().all(is_tchar) {
                return Err(ConfigError::Token);
            }
        }
        self.validate_timeouts()?;
        self.validate_limits()?;
        if !(0.0..=1.0).contains(&self.backoff.jitter) {
            return Err(ConfigError::Jitter);
        }
        Ok(())
    }

    fn validate_timeouts(&self) -> Result<(), ConfigError> {
        let t = &self.timeouts;
        let all = [
            ("connect", t.connect),
            ("init", t.init),
            ("liveness", t.liveness),
            ("actor_start", t.actor_start),
            ("actor_stop", t.actor_stop),
            ("kv_request", t.kv_request),
            ("shutdown_drain", t.shutdown_drain),
            ("close", t.close),
            ("retention", t.retention),
            ("backoff.initial", self.backoff.initial),
            ("backoff.max", self.backoff.max),
        ];
        if let Some((name, _)) = all.iter().find(|(_, d)| d.is_zero()) {
            return Err(ConfigError::ZeroTimeout(name));
        }
        match all.iter().find(|(_, d)| *d > Timeouts::MAX) {
            Some((name, _)) => Err(ConfigError::TooLong(name)),
            None => Ok(()),
        }
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        // `max_queued_kv` may be 0: no queue, calls past `max_pending_kv` fail.
        let all = [
            ("max_pending_kv", l.max_pending_kv),
            (
                "max_unacked_events_per_actor",
                l.max_unacked_events_per_actor,
            ),
            ("max_retired_generations", l.max_retired_generations),
            ("events_per_frame", l.events_per_frame),
            ("max_actors", l.max_actors),
            ("max_tunnel_payload", l.max_tunnel_payload),
            ("max_request_body", l.max_request_body),
            ("max_requests_per_actor", l.max_requests_per_actor),
            ("max_request_headers", l.max_request_headers),
            ("max_inbox_messages", l.max_inbox_messages),
            ("max_inbox_bytes", l.max_inbox_bytes),
            ("max_buffered_messages", l.max_buffered_messages),
            ("max_buffered_bytes", l.max_buffered_bytes),
        ];
        match all.iter().find(|(_, n)| *n == 0) {
            Some((name, _)) => Err(ConfigError::ZeroLimit(name)),
            None => Ok(()),
        }
    }

    /// The WebSocket URL of the runner connection.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::Config;
    ///
    /// let mut config = Config::new("https://api.example.com/", "r", "key 1");
    /// config.namespace = "prod".into();
    /// assert_eq!(
    ///     config.connection_url(),
    ///     "wss://api.example.com/runners/connect?protocol_version=5&namespace=prod&runner_key=key%201"
    /// );
    /// ```
    pub fn connection_url(&self) -> String {
        connection_url(
            &self.endpoint,
            self.protocol_version,
            &self.namespace,
            &self.runner_key,
        )
    }

    /// The WebSocket sub-protocols to offer: `rivet`, plus the token if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::Config;
    ///
    /// let mut config = Config::new("http://h:1", "r", "k");
    /// assert_eq!(config.subprotocols(), ["rivet"]);
    /// config.token = Some("dev".into());
    /// assert_eq!(config.subprotocols(), ["rivet", "rivet_token.dev"]);
    /// ```
    pub fn subprotocols(&self) -> Vec<String> {
        subprotocols(self.token.as_ref().map(Token::expose))
    }
}

/// RFC 7230 `tchar`: what a sub-protocol name may contain.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every duration of the configuration, by name, with a setter.
    type Field = (&'static str, fn(&mut Config, Duration));

    const DURATIONS: [Field; 11] = [
        ("connect", |c, d| c.timeouts.connect = d),
        ("init", |c, d| c.timeouts.init = d),
        ("liveness", |c, d| c.timeouts.liveness = d),
        ("actor_start", |c, d| c.timeouts.actor_start = d),
        ("actor_stop", |c, d| c.timeouts.actor_stop = d),
        ("kv_request", |c, d| c.timeouts.kv_request = d),
        ("shutdown_drain", |c, d| c.timeouts.shutdown_drain = d),
        ("close", |c, d| c.timeouts.close = d),
        ("retention", |c, d| c.timeouts.retention = d),
        ("backoff.initial", |c, d| c.backoff.initial = d),
        ("backoff.max", |c, d| c.backoff.max = d),
    ];

    #[test]
    fn every_duration_near_duration_max_is_refused_by_name() {
        for (name, set) in DURATIONS {
            let mut c = Config::new("http://h:1", "r", "k");
            set(&mut c, Timeouts::MAX);
            assert_eq!(c.validate(), Ok(()), "{name} at the maximum");
            for too_long in [Timeouts::MAX + Duration::from_nanos(1), Duration::MAX] {
                set(&mut c, too_long);
                assert_eq!(c.validate(), Err(ConfigError::TooLong(name)), "{name}");
            }
        }
    }

    /// The largest accepted durations cannot overflow the runner's timers:
    /// backoff (`mul_f64` with full jitter) and deadlines on a real clock.
    #[test]
    fn the_largest_durations_accepted_run_without_overflow() {
        let mut c = Config::new("http://h:1", "r", "k");
        for (_, set) in DURATIONS {
            set(&mut c, Timeouts::MAX);
        }
        c.backoff.jitter = 1.0;
        let mut runner = crate::Runner::new(c, crate::Timestamp::ZERO).unwrap();
        runner.start(crate::Timestamp::ZERO);
        let Some(crate::Transmit::Connect { conn, .. }) = runner.poll_transmit() else {
            panic!("no connect")
        };
        let refused = crate::TransportClose::error("refused");
        runner.handle_closed(crate::Timestamp::ZERO, conn, refused);
        let retry = runner.poll_timeout().expect("a reconnect timer");
        assert!(retry.as_duration() <= Timeouts::MAX * 2);
        let far = std::time::Instant::now() + retry.as_duration();
        assert!(far > std::time::Instant::now());
    }

    #[test]
    fn rejects_what_cannot_work() {
        let ok = Config::new("https://api.example.com/", "r", "k");
        ok.validate().unwrap();
        let mut c = ok.clone();
        c.runner_key.clear();
        assert_eq!(c.validate(), Err(ConfigError::Empty("runner_key")));
        let mut c = ok.clone();
        c.token = Some("a b".into());
        assert_eq!(c.validate(), Err(ConfigError::Token));
        let mut c = ok.clone();
        c.timeouts.liveness = Duration::ZERO;
        assert_eq!(c.validate(), Err(ConfigError::ZeroTimeout("liveness")));
        let mut c = ok.clone();
        c.endpoint = "ftp://x".into();
        assert!(matches!(c.validate(), Err(ConfigError::Endpoint { .. })));
        let mut c = ok;
        c.backoff.jitter = 2.0;
        assert_eq!(c.validate(), Err(ConfigError::Jitter));
    }
}
