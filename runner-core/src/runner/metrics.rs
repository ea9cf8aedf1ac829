//! What the runner counts about itself, as plain values.
//!
//! Counters are plain integers bumped where the event happens (one add, no
//! atomic, no allocation, no lookup), so they cost nothing measurable on the
//! hot path. Gauges that a table already knows (actors, KV calls, open
//! sockets, unacknowledged events) are not tracked per event at all: they
//! are read from the tables when a snapshot is taken, which is per scrape,
//! not per message. Durations come from the `now` the runner is given.

use crate::Timestamp;
use crate::output::StopReason;
use crate::protocol::KvRequestData;

use super::Runner;
use super::tunnel::TunnelGauges;

/// Upper bounds, in seconds, of the KV latency histogram's buckets (the
/// last bucket, `+Inf`, is implicit).
///
/// # Examples
///
/// ```
/// use runner_core::{KV_LATENCY_BUCKETS, Metrics, testing};
/// let (runner, _conn) = testing::connected(testing::config())?;
/// assert_eq!(runner.metrics().kv_latency.bounds(), &KV_LATENCY_BUCKETS);
/// assert!(KV_LATENCY_BUCKETS.windows(2).all(|w| w[0] < w[1]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const KV_LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A fixed-bucket histogram of durations: `counts[i]` samples fell at or
/// under `bounds[i]` and above the bucket before; `counts[bounds.len()]` is
/// the `+Inf` bucket. Counts are per bucket, not cumulative.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use runner_core::Histogram;
///
/// let mut h = Histogram::new(&[0.01, 0.1]);
/// h.observe(Duration::from_millis(5));
/// h.observe(Duration::from_millis(50));
/// h.observe(Duration::from_secs(3));
/// assert_eq!(h.counts(), &[1, 1, 1]);
/// assert_eq!(h.count(), 3);
/// assert!((h.sum_seconds() - 3.055).abs() < 1e-9);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
}

impl Histogram {
    /// An empty histogram over `bounds` (seconds, increasing).
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::Histogram;
    /// let h = Histogram::new(&[0.5]);
    /// assert_eq!((h.count(), h.counts()), (0, &[0, 0][..]));
    /// ```
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    /// Adds one sample. Constant time: the bounds are few and fixed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runner_core::Histogram;
    /// let mut h = Histogram::new(&[1.0]);
    /// h.observe(Duration::from_secs(1)); // bounds are inclusive
    /// assert_eq!(h.counts(), &[1, 0]);
    /// ```
    pub fn observe(&mut self, duration: std::time::Duration) {
        let seconds = duration.as_secs_f64();
        let bucket = self
            .bounds
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(self.bounds.len());
        if let Some(count) = self.counts.get_mut(bucket) {
            *count += 1;
        }
        self.sum += seconds;
    }

    /// The buckets' upper bounds, in seconds.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::{Histogram, KV_LATENCY_BUCKETS};
    /// assert_eq!(Histogram::new(&KV_LATENCY_BUCKETS).bounds(), &KV_LATENCY_BUCKETS);
    /// ```
    pub fn bounds(&self) -> &'static [f64] {
        self.bounds
    }

    /// Samples per bucket (not cumulative), `+Inf` last.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runner_core::Histogram;
    /// let mut h = Histogram::new(&[0.1]);
    /// h.observe(Duration::from_secs(2));
    /// assert_eq!(h.counts(), &[0, 1]);
    /// ```
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Number of samples.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runner_core::Histogram;
    /// let mut h = Histogram::new(&[0.1]);
    /// h.observe(Duration::ZERO);
    /// assert_eq!(h.count(), 1);
    /// ```
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Sum of the samples, in seconds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runner_core::Histogram;
    /// let mut h = Histogram::new(&[0.1]);
    /// h.observe(Duration::from_millis(250));
    /// assert_eq!(h.sum_seconds(), 0.25);
    /// ```
    pub fn sum_seconds(&self) -> f64 {
        self.sum
    }
}

/// Declares a set of counters keyed by a bounded label value, with an
/// iterator over `(label, count)` pairs for exporters.
macro_rules! labelled_counts {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident = $label:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct $name {
            $($(#[$fdoc])* pub $field: u64,)*
        }

        impl $name {
            /// Every count with its label value, in declaration order.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let counts = runner_core::", stringify!($name), "::default();")]
            /// assert!(counts.iter().all(|(label, n)| !label.is_empty() && n == 0));
            /// ```
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
                [$(($label, self.$field),)*].into_iter()
            }

            /// Sum of every count.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("assert_eq!(runner_core::", stringify!($name), "::default().total(), 0);")]
            /// ```
            pub fn total(&self) -> u64 {
                self.iter().map(|(_, n)| n).sum()
            }
        }

        impl $name {
            /// The counts in field order, read by `next` (a snapshot's).
            pub(super) fn load_counts<E>(
                mut next: impl FnMut() -> Result<u64, E>,
            ) -> Result<Self, E> {
                Ok($name { $($field: next()?,)* })
            }
        }
    };
}

labelled_counts!(
    /// Lost connections (and failed attempts), by why.
    Disconnects {
        /// The engine (or a proxy) closed the connection with a close frame.
        closed = "closed",
        /// The transport failed: refused upgrade, reset, ended without a close frame.
        transport_error = "transport_error",
        /// A frame that did not decode or was out of place (closed 1011).
        protocol_error = "protocol_error",
        /// The transport did not open, or no `ToClientInit` came, in time.
        handshake_timeout = "handshake_timeout",
        /// No frame from the engine for `timeouts.liveness`.
        liveness_timeout = "liveness_timeout",
    }
);

labelled_counts!(
    /// Actor stops, by why (one per `Event::ActorStop`).
    Stops {
        /// The engine asked (sleep, stop, destroy, drain).
        engine = "engine",
        /// The start callback failed.
        start_failed = "start_failed",
        /// The start callback did not finish in time.
        start_timed_out = "start_timed_out",
        /// The actor reported a crash.
        crashed = "crashed",
        /// The engine assigned a new runner id.
        runner_id_changed = "runner_id_changed",
        /// The engine stayed unreachable past the runner-lost threshold.
        runner_lost = "runner_lost",
        /// The runner shut down.
        shutdown = "shutdown",
        /// A newer generation of the actor started.
        superseded = "superseded",
        /// The runner hosts its maximum number of actors.
        capacity = "capacity",
    }
);

labelled_counts!(
    /// KV calls accepted, by operation.
    KvKinds {
        /// Get.
        get = "get",
        /// List (all, range or prefix).
        list = "list",
        /// Put.
        put = "put",
        /// Delete.
        delete = "delete",
        /// Delete-range.
        delete_range = "delete_range",
        /// Drop (every key of the actor).
        drop = "drop",
    }
);

labelled_counts!(
    /// KV calls ended, by outcome (cancelled calls end without one).
    KvOutcomes {
        /// The engine answered with a result.
        ok = "ok",
        /// The engine answered with an error, or an answer that did not fit.
        error = "error",
        /// No answer within `timeouts.kv_request`.
        timed_out = "timed_out",
        /// Failed by the runner: shut down, or the engine declared it lost.
        aborted = "aborted",
    }
);

labelled_counts!(
    /// Tunnelled HTTP requests ended, by the class of the response's status
    /// (answers the runner makes itself, such as 431 or 503, included), or
    /// `aborted` when the runner gave the request up.
    HttpOutcomes {
        /// 1xx.
        informational = "1xx",
        /// 2xx.
        success = "2xx",
        /// 3xx.
        redirection = "3xx",
        /// 4xx.
        client_error = "4xx",
        /// 5xx and anything above.
        server_error = "5xx",
        /// Aborted: the gateway retries it or fails it for the client.
        aborted = "aborted",
    }
);

labelled_counts!(
    /// Payloads the runner refused for their size or shape.
    PayloadRefusals {
        /// A request with more than `limits.max_request_headers` headers (431).
        request_headers = "request_headers",
        /// A streamed request body over `limits.max_request_body` (413).
        request_body = "request_body",
        /// A response body over `limits.max_tunnel_payload` (sent as 500).
        response_body = "response_body",
        /// A WebSocket message over `limits.max_tunnel_payload` (refused).
        websocket_message = "websocket_message",
        /// A KV request over `limits.max_tunnel_payload` (refused).
        kv_request = "kv_request",
    }
);

/// The counters, kept inside the [`Runner`] and bumped where things happen.
#[derive(Debug, Clone)]
pub(super) struct Counters {
    pub(super) connect_attempts: u64,
    pub(super) connections: u64,
    pub(super) disconnects: Disconnects,
    pub(super) engine_pings: u64,
    pub(super) last_engine_contact: Option<Timestamp>,
    pub(super) actor_starts: u64,
    pub(super) actor_stops: Stops,
    pub(super) starts_refused: u64,
    pub(super) kv_calls: KvKinds,
    pub(super) kv_outcomes: KvOutcomes,
    pub(super) kv_cancelled: u64,
    pub(super) kv_latency: Histogram,
    pub(super) http_requests: u64,
    pub(super) http_outcomes: HttpOutcomes,
    pub(super) websockets_opened: u64,
    pub(super) payload_refusals: PayloadRefusals,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            connect_attempts: 0,
            connections: 0,
            disconnects: Disconnects::default(),
            engine_pings: 0,
            last_engine_contact: None,
            actor_starts: 0,
            actor_stops: Stops::default(),
            starts_refused: 0,
            kv_calls: KvKinds::default(),
            kv_outcomes: KvOutcomes::default(),
            kv_cancelled: 0,
            kv_latency: Histogram::new(&KV_LATENCY_BUCKETS),
            http_requests: 0,
            http_outcomes: HttpOutcomes::default(),
            websockets_opened: 0,
            payload_refusals: PayloadRefusals::default(),
        }
    }
}

// The snapshot's part (see `super::snapshot`): every counter in field
// order, the labelled ones in their label order, the histogram's buckets
// and its sum's bits.
impl Counters {
    pub(super) fn save(&self, s: &mut crate::encoding::state::Saver) {
        use crate::encoding::codec::Put;
        let b = &mut s.buf;
        b.put_varint(self.connect_attempts);
        b.put_varint(self.connections);
        self.disconnects.iter().for_each(|(_, n)| b.put_varint(n));
        b.put_varint(self.engine_pings);
        crate::encoding::values::put_opt_time(b, self.last_engine_contact);
        b.put_varint(self.actor_starts);
        self.actor_stops.iter().for_each(|(_, n)| b.put_varint(n));
        b.put_varint(self.starts_refused);
        self.kv_calls.iter().for_each(|(_, n)| b.put_varint(n));
        self.kv_outcomes.iter().for_each(|(_, n)| b.put_varint(n));
        b.put_varint(self.kv_cancelled);
        b.put_varint(self.kv_latency.counts.len() as u64);
        self.kv_latency.counts.iter().for_each(|n| b.put_varint(*n));
        b.extend_from_slice(&self.kv_latency.sum.to_bits().to_le_bytes());
        b.put_varint(self.http_requests);
        self.http_outcomes.iter().for_each(|(_, n)| b.put_varint(n));
        b.put_varint(self.websockets_opened);
        self.payload_refusals
            .iter()
            .for_each(|(_, n)| b.put_varint(n));
    }

    pub(super) fn load(
        c: &mut crate::encoding::codec::Cursor<'_>,
    ) -> Result<Self, crate::encoding::codec::Malformed> {
        let mut counters = Counters {
            connect_attempts: c.varint()?,
            connections: c.varint()?,
            disconnects: Disconnects::load_counts(|| c.varint())?,
            engine_pings: c.varint()?,
            last_engine_contact: crate::encoding::values::get_opt_time(c)?,
            actor_starts: c.varint()?,
            actor_stops: Stops::load_counts(|| c.varint())?,
            starts_refused: c.varint()?,
            kv_calls: KvKinds::load_counts(|| c.varint())?,
            kv_outcomes: KvOutcomes::load_counts(|| c.varint())?,
            kv_cancelled: c.varint()?,
            ..Counters::default()
        };
        let buckets = &mut counters.kv_latency.counts;
        if c.usize()? != buckets.len() {
            return Err("KV latency histogram has other buckets");
        }
        for bucket in buckets.iter_mut() {
            *bucket = c.varint()?;
        }
        counters.kv_latency.sum = f64::from_bits(u64::from_le_bytes(c.fixed()?));
        counters.http_requests = c.varint()?;
        counters.http_outcomes = HttpOutcomes::load_counts(|| c.varint())?;
        counters.websockets_opened = c.varint()?;
        counters.payload_refusals = PayloadRefusals::load_counts(|| c.varint())?;
        Ok(counters)
    }
}

/// Which disconnect counter a lost connection bumps.
#[derive(Debug, Clone, Copy)]
pub(super) enum LostBy {
    ProtocolError,
    HandshakeTimeout,
    LivenessTimeout,
}

impl Counters {
    pub(super) fn lost(&mut self, by: LostBy) {
        let d = &mut self.disconnects;
        match by {
            LostBy::ProtocolError => d.protocol_error += 1,
            LostBy::HandshakeTimeout => d.handshake_timeout += 1,
            LostBy::LivenessTimeout => d.liveness_timeout += 1,
        }
    }

    pub(super) fn stopped(&mut self, reason: &StopReason) {
        let s = &mut self.actor_stops;
        match reason {
            StopReason::Engine => s.engine += 1,
            StopReason::StartFailed(_) => s.start_failed += 1,
            StopReason::StartTimedOut => s.start_timed_out += 1,
            StopReason::Crashed(_) => s.crashed += 1,
            StopReason::RunnerIdChanged => s.runner_id_changed += 1,
            StopReason::RunnerLost => s.runner_lost += 1,
            StopReason::Shutdown => s.shutdown += 1,
            StopReason::Superseded => s.superseded += 1,
            StopReason::Capacity => s.capacity += 1,
        }
    }

    pub(super) fn kv_call(&mut self, data: &KvRequestData) {
        let k = &mut self.kv_calls;
        match data {
            KvRequestData::Get(_) => k.get += 1,
            KvRequestData::List(_) => k.list += 1,
            KvRequestData::Put(_) => k.put += 1,
            KvRequestData::Delete(_) => k.delete += 1,
            KvRequestData::DeleteRange(_) => k.delete_range += 1,
            KvRequestData::Drop => k.drop += 1,
        }
    }

    pub(super) fn http_response(&mut self, status: u16) {
        let o = &mut self.http_outcomes;
        match status {
            100..=199 => o.informational += 1,
            200..=299 => o.success += 1,
            300..=399 => o.redirection += 1,
            400..=499 => o.client_error += 1,
            _ => o.server_error += 1,
        }
    }
}

/// Where the runner's connection to the engine stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// `start` not called yet.
    Idle,
    /// Opening the transport, or waiting for the engine's `ToClientInit`.
    Connecting,
    /// The engine accepted the runner.
    Connected,
    /// Waiting to reconnect.
    Backoff,
    /// Shutting down or shut down: no connection will be made.
    Closed,
}

impl ConnectionState {
    /// The state as a bounded label value.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::ConnectionState;
    /// assert_eq!(ConnectionState::Backoff.as_str(), "backoff");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Idle => "idle",
            ConnectionState::Connecting => "connecting",
            ConnectionState::Connected => "connected",
            ConnectionState::Backoff => "backoff",
            ConnectionState::Closed => "closed",
        }
    }

    /// Every state, for exporters that publish one gauge per state.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::ConnectionState;
    /// let labels: Vec<_> = ConnectionState::ALL.iter().map(|s| s.as_str()).collect();
    /// assert_eq!(labels, ["idle", "connecting", "connected", "backoff", "closed"]);
    /// ```
    pub const ALL: [ConnectionState; 5] = [
        ConnectionState::Idle,
        ConnectionState::Connecting,
        ConnectionState::Connected,
        ConnectionState::Backoff,
        ConnectionState::Closed,
    ];
}

/// A snapshot of what the runner counts, from [`Runner::metrics`].
///
/// Counters (`*_total`-like fields and the labelled sets) only grow over a
/// runner's life; gauges are the state at the snapshot. Durations come from
/// the `now` the runner was given. The engine measures the ping round trip
/// (it pings, the runner answers), so the runner reports how many pings it
/// answered and how long ago the engine was last heard from; KV latency is
/// the round trip the runner itself can time.
///
/// # Examples
///
/// ```
/// # use runner_core::protocol::*;
/// # use runner_core::{testing, ConnectionState, Timestamp};
/// let (mut runner, conn) = testing::connected(testing::config())?;
/// let actor = testing::started_actor(&mut runner, conn, "A")?;
/// let metrics = runner.metrics();
/// assert_eq!(metrics.connection_state, ConnectionState::Connected);
/// assert_eq!((metrics.connections_total, metrics.actors, metrics.actor_starts_total), (1, 1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Metrics {
    /// When the snapshot was taken (the runner's latest `now`).
    pub at: Timestamp,
    /// Where the connection stands.
    pub connection_state: ConnectionState,
    /// Whether a shutdown has begun (or finished).
    pub shutting_down: bool,
    /// Connection attempts made (the first one included).
    pub connect_attempts_total: u64,
    /// Connections the engine accepted (`ToClientInit` received).
    pub connections_total: u64,
    /// Connections lost or attempts failed, by why (a shutdown's own close
    /// is not counted).
    pub disconnects: Disconnects,
    /// Pings from the engine answered.
    pub engine_pings_total: u64,
    /// When the engine was last heard from (any frame).
    pub last_engine_contact: Option<Timestamp>,
    /// Actors on the runner (starting, running or stopping).
    pub actors: usize,
    /// Actors started (`Event::ActorStart`).
    pub actor_starts_total: u64,
    /// Actors stopped, by why (`Event::ActorStop`); crashes are `crashed`.
    pub actor_stops: Stops,
    /// Starts reported stopped without running any user code (over
    /// capacity, or stopped while queued behind an older generation).
    pub actor_starts_refused_total: u64,
    /// Actor events sent and not yet acknowledged by the engine, stopped
    /// generations' included. Commands are acknowledged at the end of the
    /// input that brought them, so none is ever pending between inputs.
    pub unacked_events: usize,
    /// KV calls accepted, by operation.
    pub kv_calls: KvKinds,
    /// KV calls ended, by outcome.
    pub kv_outcomes: KvOutcomes,
    /// KV calls cancelled by their caller.
    pub kv_cancelled_total: u64,
    /// KV calls not ended: in flight or queued.
    pub kv_pending: usize,
    /// Of those, the ones waiting for a slot.
    pub kv_queued: usize,
    /// Time from a KV call to the engine's answer (answered calls only).
    pub kv_latency: Histogram,
    /// Tunnelled HTTP requests received.
    pub http_requests_total: u64,
    /// Tunnelled HTTP requests ended, by status class.
    pub http_outcomes: HttpOutcomes,
    /// HTTP requests open (received, not answered).
    pub http_open: usize,
    /// WebSockets accepted.
    pub websockets_opened_total: u64,
    /// WebSockets open, hibernatable ones included.
    pub websockets_open: usize,
    /// Of those, the hibernatable ones, plus those hibernated at the
    /// gateway and waiting for their actor's restore.
    pub websockets_hibernatable: usize,
    /// Payloads refused for their size or shape.
    pub payload_refusals: PayloadRefusals,
    /// Frames queued for the transport and not taken yet (the host's
    /// loop drains them after every input unless its writer is blocked).
    pub outbound_frames: usize,
    /// Tunnel messages buffered while disconnected.
    pub tunnel_buffered: usize,
    /// Tunnel messages dropped because that buffer was full.
    pub tunnel_dropped_total: u64,
}

impl Metrics {
    /// How long ago the engine was last heard from, as of the snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::{testing, Timestamp};
    /// let (runner, _conn) = testing::connected(testing::config())?;
    /// assert_eq!(runner.metrics().engine_contact_age(), Some(std::time::Duration::ZERO));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn engine_contact_age(&self) -> Option<std::time::Duration> {
        self.last_engine_contact
            .map(|at| self.at.saturating_duration_since(at))
    }
}

impl Metrics {
    /// The metrics of a runner that has not started: nothing counted, no
    /// connection — what a fresh `Runner::metrics` shows, without building
    /// a runner (for `RunnerMetrics::default` in the host).
    pub(crate) fn before_start() -> Metrics {
        Metrics {
            at: Timestamp::ZERO,
            connection_state: ConnectionState::Idle,
            shutting_down: false,
            connect_attempts_total: 0,
            connections_total: 0,
            disconnects: Disconnects::default(),
            engine_pings_total: 0,
            last_engine_contact: None,
            actors: 0,
            actor_starts_total: 0,
            actor_stops: Stops::default(),
            actor_starts_refused_total: 0,
            unacked_events: 0,
            kv_calls: KvKinds::default(),
            kv_outcomes: KvOutcomes::default(),
            kv_cancelled_total: 0,
            kv_pending: 0,
            kv_queued: 0,
            kv_latency: Histogram::new(&KV_LATENCY_BUCKETS),
            http_requests_total: 0,
            http_outcomes: HttpOutcomes::default(),
            http_open: 0,
            websockets_opened_total: 0,
            websockets_open: 0,
            websockets_hibernatable: 0,
            payload_refusals: PayloadRefusals::default(),
            outbound_frames: 0,
            tunnel_buffered: 0,
            tunnel_dropped_total: 0,
        }
    }
}

impl Runner {
    /// A snapshot of what the runner counts (see [`Metrics`]).
    ///
    /// Cheap to call per scrape: counters are copied, and the gauges are
    /// read from the tables (one pass over open requests and actors).
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, HttpResponse, Timestamp};
    /// let (mut runner, conn) = testing::connected(testing::config())?;
    /// testing::started_actor(&mut runner, conn, "A")?;
    /// let key = testing::http_request(&mut runner, conn, 1, testing::get("A", "/ping"))?;
    /// assert_eq!(runner.metrics().http_open, 1);
    /// runner.respond(Timestamp::ZERO, key, HttpResponse::new(204))?;
    /// let metrics = runner.metrics();
    /// assert_eq!((metrics.http_requests_total, metrics.http_outcomes.success, metrics.http_open), (1, 1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metrics(&self) -> Metrics {
        let c = &self.counters;
        let TunnelGauges {
            http_open,
            websockets_open,
            websockets_hibernatable,
        } = self.tunnel_gauges();
        Metrics {
            at: self.now,
            connection_state: self.connection_state(),
            shutting_down: self.shutdown != super::ShutdownPhase::Running,
            connect_attempts_total: c.connect_attempts,
            connections_total: c.connections,
            disconnects: c.disconnects,
            engine_pings_total: c.engine_pings,
            last_engine_contact: c.last_engine_contact,
            actors: self.actors.len(),
            actor_starts_total: c.actor_starts,
            actor_stops: c.actor_stops,
            actor_starts_refused_total: c.starts_refused,
            unacked_events: self.unacked_events(),
            kv_calls: c.kv_calls,
            kv_outcomes: c.kv_outcomes,
            kv_cancelled_total: c.kv_cancelled,
            kv_pending: self.kv.open(),
            kv_queued: self.kv.queued(),
            kv_latency: c.kv_latency.clone(),
            http_requests_total: c.http_requests,
            http_outcomes: c.http_outcomes,
            http_open,
            websockets_opened_total: c.websockets_opened,
            websockets_open,
            websockets_hibernatable,
            payload_refusals: c.payload_refusals,
            outbound_frames: self.transmits.len(),
            tunnel_buffered: self.buffered_tunnel_messages(),
            tunnel_dropped_total: self.dropped_tunnel_messages(),
        }
    }

    fn connection_state(&self) -> ConnectionState {
        use super::conn_state::ConnState;
        match self.conn {
            ConnState::Idle => ConnectionState::Idle,
            ConnState::Connecting(_) | ConnState::AwaitingInit(_) => ConnectionState::Connecting,
            ConnState::Ready(_) => ConnectionState::Connected,
            ConnState::Backoff => ConnectionState::Backoff,
            ConnState::Closing(_) | ConnState::Closed => ConnectionState::Closed,
        }
    }

    fn unacked_events(&self) -> usize {
        let live: usize = self.actors.values().map(|s| s.current.events.len()).sum();
        live + self.retired.unacked_events()
    }
}
