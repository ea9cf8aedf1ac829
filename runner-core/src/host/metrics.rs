//! The runner's metrics as the host sees them: the core's counters
//! ([`crate::Metrics`]) plus what only the event loop can measure (time
//! spent per input), read with
//! [`RunnerHandle::metrics`](super::RunnerHandle::metrics); behind the
//! `metrics` feature, `Publisher` and `publish_every` (module `publish`)
//! publish them through the `metrics` facade.
//!
//! # The metric table
//!
//! Names follow Prometheus conventions; every label has a fixed, small set
//! of values (never an actor id, a key or a path).
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `rivet_runner_connection_state` | gauge | `state` = idle, connecting, connected, backoff, closed | 1 for the current state, 0 for the others |
//! | `rivet_runner_shutting_down` | gauge | | 1 once a shutdown has begun |
//! | `rivet_runner_connect_attempts_total` | counter | | connection attempts |
//! | `rivet_runner_connections_total` | counter | | connections the engine accepted (init received) |
//! | `rivet_runner_disconnects_total` | counter | `reason` = closed, transport_error, protocol_error, handshake_timeout, liveness_timeout | connections lost or attempts failed (each is followed by a reconnect unless shutting down) |
//! | `rivet_runner_engine_pings_total` | counter | | engine pings answered (the engine measures the round trip) |
//! | `rivet_runner_engine_contact_age_seconds` | gauge | | time since the engine was last heard from |
//! | `rivet_runner_actors` | gauge | | actors on the runner (starting, running, stopping) |
//! | `rivet_runner_actor_starts_total` | counter | | actors started |
//! | `rivet_runner_actor_stops_total` | counter | `reason` = engine, start_failed, start_timed_out, crashed, runner_id_changed, runner_lost, shutdown, superseded, capacity | actors stopped; crashes are `reason="crashed"` |
//! | `rivet_runner_actor_starts_refused_total` | counter | | starts reported stopped without running user code |
//! | `rivet_runner_unacked_events` | gauge | | actor events the engine has not acknowledged |
//! | `rivet_runner_kv_calls_total` | counter | `kind` = get, list, put, delete, delete_range, drop | KV calls accepted |
//! | `rivet_runner_kv_results_total` | counter | `outcome` = ok, error, timed_out, aborted | KV calls ended |
//! | `rivet_runner_kv_cancelled_total` | counter | | KV calls cancelled by their caller |
//! | `rivet_runner_kv_pending` | gauge | | KV calls in flight or queued |
//! | `rivet_runner_kv_queued` | gauge | | of those, waiting for a slot |
//! | `rivet_runner_kv_latency_seconds` | histogram | | call to answer, answered calls ([`KV_LATENCY_BUCKETS`](crate::KV_LATENCY_BUCKETS)) |
//! | `rivet_runner_http_requests_total` | counter | | tunnelled HTTP requests received |
//! | `rivet_runner_http_responses_total` | counter | `status_class` = 1xx, 2xx, 3xx, 4xx, 5xx, aborted | HTTP requests ended |
//! | `rivet_runner_http_open` | gauge | | HTTP requests not answered yet |
//! | `rivet_runner_websockets_opened_total` | counter | | WebSockets accepted |
//! | `rivet_runner_websockets_open` | gauge | | WebSockets open |
//! | `rivet_runner_websockets_hibernatable` | gauge | | hibernatable ones, open or waiting for restore |
//! | `rivet_runner_payload_refusals_total` | counter | `kind` = request_headers, request_body, response_body, websocket_message, kv_request | payloads refused for their size |
//! | `rivet_runner_outbound_frames` | gauge | | frames the core queued that the socket has not taken (grows under back-pressure) |
//! | `rivet_runner_write_blocked` | gauge | | 1 while the socket's sink is not ready for the next frame (a slow connection) |
//! | `rivet_runner_tunnel_buffered_messages` | gauge | | tunnel messages buffered while disconnected |
//! | `rivet_runner_tunnel_dropped_messages_total` | counter | | tunnel messages dropped, that buffer being full |
//! | `rivet_runner_input_seconds` | histogram | | event-loop time per input (a frame, a call, a timer), measured by the host ([`INPUT_TIME_BUCKETS`]) |
//!
//! Histograms are kept by the runner in fixed buckets; [`Publisher`] replays
//! each new sample into the facade at its bucket's upper bound (twice the
//! last bound for `+Inf`), so an exporter configured with the same buckets
//! shows exact bucket counts and an approximate sum.

use std::time::Duration;

use crate::{Histogram, Metrics};

/// Upper bounds, in seconds, of [`RunnerMetrics::input_time`]'s buckets:
/// 10 µs to 1 s.
///
/// # Examples
///
/// ```
/// use runner_tokio::{INPUT_TIME_BUCKETS, RunnerMetrics};
/// assert_eq!(RunnerMetrics::default().input_time.bounds(), &INPUT_TIME_BUCKETS);
/// ```
pub const INPUT_TIME_BUCKETS: [f64; 10] = [
    0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 1.0,
];

/// A snapshot of a running runner's metrics, from
/// [`RunnerHandle::metrics`](super::RunnerHandle::metrics).
///
/// # Examples
///
/// ```
/// use runner_tokio::RunnerMetrics;
///
/// let snapshot = RunnerMetrics::default();
/// assert_eq!(snapshot.core.actors, 0);
/// assert_eq!(snapshot.input_time.count(), 0);
/// assert!(!snapshot.health().ready);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunnerMetrics {
    /// What the core counts.
    pub core: Metrics,
    /// Time the event loop spent on each input, the output it caused
    /// included (event-loop lag: a slow handler hook or a burst shows here).
    pub input_time: Histogram,
    /// The socket was not ready for the last frame: the loop holds
    /// it, and the core keeps what follows (`core.outbound_frames`), until
    /// the connection takes it (back-pressure from a slow connection).
    pub write_blocked: bool,
}

impl Default for RunnerMetrics {
    fn default() -> Self {
        RunnerMetrics {
            core: crate::Metrics::before_start(),
            input_time: Histogram::new(&INPUT_TIME_BUCKETS),
            write_blocked: false,
        }
    }
}

/// Host-side bookkeeping of input times, kept by the event loop.
#[derive(Debug)]
pub(crate) struct InputClock {
    pub(crate) histogram: Histogram,
}

impl Default for InputClock {
    fn default() -> Self {
        InputClock {
            histogram: Histogram::new(&INPUT_TIME_BUCKETS),
        }
    }
}

impl InputClock {
    pub(crate) fn record(&mut self, spent: Duration) {
        self.histogram.observe(spent);
    }
}

#[cfg(test)]
mod tests {
    use super::RunnerMetrics;

    /// `default` no longer builds a `Runner` to read its metrics: it must
    /// still equal what a runner that has not started reports.
    #[test]
    fn the_default_snapshot_is_a_fresh_runners() {
        let config = crate::Config::new("http://127.0.0.1:6420", "default", "r");
        let fresh = crate::Runner::new(config, crate::Timestamp::ZERO).unwrap();
        assert_eq!(RunnerMetrics::default().core, fresh.metrics());
    }
}
