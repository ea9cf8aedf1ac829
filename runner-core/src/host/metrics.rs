//! The runner's metrics as the host sees them: the core's counters
//! ([`crate::Metrics`]) plus what only the event loop can measure (time
//! spent per input), read with [`RunnerHandle::metrics`]; and, behind the
//! `metrics` feature, their publication through the [`metrics`] facade
//! ([`publish`] / [`Publisher`] / [`publish_every`]).
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
//! | `rivet_runner_outbound_frames` | gauge | | frames the core queued that the socket writer has not taken (grows under back-pressure) |
//! | `rivet_runner_write_blocked` | gauge | | 1 while the socket writer has no room (a slow connection) |
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

use super::handle::RunnerHandle;

/// Upper bounds, in seconds, of [`RunnerMetrics::input_time`]'s buckets.
pub const INPUT_TIME_BUCKETS: [f64; 10] = [
    0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 1.0,
];

/// A snapshot of a running runner's metrics, from [`RunnerHandle::metrics`].
///
/// # Examples
///
/// ```
/// use runner_core::host::RunnerMetrics;
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
    /// The socket writer had no room for the last frame: the loop holds
    /// it, and the core keeps what follows (`core.outbound_frames`), until
    /// the connection takes it (back-pressure from a slow connection).
    pub write_blocked: bool,
}

impl Default for RunnerMetrics {
    fn default() -> Self {
        let config = crate::Config::new("http://unused", "unused", "unused");
        let core = crate::Runner::new(config, crate::Timestamp::ZERO)
            .map(|runner| runner.metrics())
            .expect("a valid configuration");
        RunnerMetrics {
            core,
            input_time: Histogram::new(&INPUT_TIME_BUCKETS),
            write_blocked: false,
        }
    }
}

impl RunnerHandle {
    /// A snapshot of the runner's metrics, or `None` once its event loop
    /// has ended. Taken by the event loop between two inputs: counters are
    /// copied, gauges read from the core's tables (one pass over actors and
    /// open requests), so call it per scrape, not per request.
    ///
    /// # Examples
    ///
    /// ```
    /// # use futures::executor::block_on;
    /// # use runner_core::host::{Builder, Handler, testing::NoEngine as Threads};
    /// # struct Idle;
    /// # impl Handler for Idle {}
    /// use runner_core::{ConnectionState, ShutdownMode};
    ///
    /// let runner = Builder::new(Threads).endpoint("http://127.0.0.1:6420").runner_name("r").build(Idle)?;
    /// let handle = runner.handle();
    /// let running = std::thread::spawn(move || block_on(runner.run()));
    /// let metrics = block_on(handle.metrics()).expect("running");
    /// assert!(metrics.core.connect_attempts_total >= 1);
    /// assert_ne!(metrics.core.connection_state, ConnectionState::Connected); // no engine here
    /// block_on(handle.shutdown(ShutdownMode::Immediate));
    /// running.join().unwrap();
    /// assert_eq!(block_on(handle.metrics()), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn metrics(&self) -> Option<RunnerMetrics> {
        let (reply, answer) = futures::channel::oneshot::channel();
        self.send_call(super::calls::Call::Metrics { reply })
            .await?;
        answer.await.ok()
    }
}

#[cfg(feature = "metrics")]
pub use publish::{Publisher, publish_every};

#[cfg(feature = "metrics")]
mod publish {
    use std::time::Duration;

    use metrics::{counter, gauge, histogram};

    use super::{RunnerHandle, RunnerMetrics};
    use crate::Histogram;
    use crate::host::Runtime;

    /// Publishes snapshots to the `metrics` facade's global recorder,
    /// remembering the last one so that histograms get only new samples.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::host::{Publisher, RunnerMetrics};
    ///
    /// let mut publisher = Publisher::default();
    /// // With no recorder installed this goes nowhere; with one (e.g.
    /// // metrics-exporter-prometheus) every metric of the table appears.
    /// publisher.publish(&RunnerMetrics::default());
    /// ```
    #[derive(Debug, Default)]
    pub struct Publisher {
        last: Option<RunnerMetrics>,
    }

    impl Publisher {
        /// Sets every counter and gauge of the table to the snapshot's
        /// value, and records the histogram samples that are new since
        /// the previous call.
        pub fn publish(&mut self, now: &RunnerMetrics) {
            let m = &now.core;
            for state in crate::ConnectionState::ALL {
                let value = f64::from(u8::from(m.connection_state == state));
                gauge!("rivet_runner_connection_state", "state" => state.as_str()).set(value);
            }
            gauge!("rivet_runner_shutting_down").set(f64::from(u8::from(m.shutting_down)));
            counter!("rivet_runner_connect_attempts_total").absolute(m.connect_attempts_total);
            counter!("rivet_runner_connections_total").absolute(m.connections_total);
            for (reason, n) in m.disconnects.iter() {
                counter!("rivet_runner_disconnects_total", "reason" => reason).absolute(n);
            }
            counter!("rivet_runner_engine_pings_total").absolute(m.engine_pings_total);
            if let Some(age) = m.engine_contact_age() {
                gauge!("rivet_runner_engine_contact_age_seconds").set(age.as_secs_f64());
            }
            gauge!("rivet_runner_actors").set(m.actors as f64);
            counter!("rivet_runner_actor_starts_total").absolute(m.actor_starts_total);
            for (reason, n) in m.actor_stops.iter() {
                counter!("rivet_runner_actor_stops_total", "reason" => reason).absolute(n);
            }
            counter!("rivet_runner_actor_starts_refused_total")
                .absolute(m.actor_starts_refused_total);
            gauge!("rivet_runner_unacked_events").set(m.unacked_events as f64);
            for (kind, n) in m.kv_calls.iter() {
                counter!("rivet_runner_kv_calls_total", "kind" => kind).absolute(n);
            }
            for (outcome, n) in m.kv_outcomes.iter() {
                counter!("rivet_runner_kv_results_total", "outcome" => outcome).absolute(n);
            }
            counter!("rivet_runner_kv_cancelled_total").absolute(m.kv_cancelled_total);
            gauge!("rivet_runner_kv_pending").set(m.kv_pending as f64);
            gauge!("rivet_runner_kv_queued").set(m.kv_queued as f64);
            counter!("rivet_runner_http_requests_total").absolute(m.http_requests_total);
            for (class, n) in m.http_outcomes.iter() {
                counter!("rivet_runner_http_responses_total", "status_class" => class).absolute(n);
            }
            gauge!("rivet_runner_http_open").set(m.http_open as f64);
            counter!("rivet_runner_websockets_opened_total").absolute(m.websockets_opened_total);
            gauge!("rivet_runner_websockets_open").set(m.websockets_open as f64);
            gauge!("rivet_runner_websockets_hibernatable").set(m.websockets_hibernatable as f64);
            for (kind, n) in m.payload_refusals.iter() {
                counter!("rivet_runner_payload_refusals_total", "kind" => kind).absolute(n);
            }
            gauge!("rivet_runner_outbound_frames").set(m.outbound_frames as f64);
            gauge!("rivet_runner_write_blocked").set(f64::from(u8::from(now.write_blocked)));
            gauge!("rivet_runner_tunnel_buffered_messages").set(m.tunnel_buffered as f64);
            counter!("rivet_runner_tunnel_dropped_messages_total").absolute(m.tunnel_dropped_total);
            let last = self.last.as_ref();
            replay(
                "rivet_runner_kv_latency_seconds",
                &m.kv_latency,
                last.map(|l| &l.core.kv_latency),
            );
            replay(
                "rivet_runner_input_seconds",
                &now.input_time,
                last.map(|l| &l.input_time),
            );
            self.last = Some(now.clone());
        }
    }

    /// Records the samples `now` has beyond `before`, each at its bucket's
    /// upper bound.
    fn replay(name: &'static str, now: &Histogram, before: Option<&Histogram>) {
        let handle = histogram!(name);
        let bounds = now.bounds();
        let past_last = bounds.last().map_or(1.0, |b| b * 2.0);
        for (i, count) in now.counts().iter().enumerate() {
            let old = before.and_then(|b| b.counts().get(i)).copied().unwrap_or(0);
            let new = usize::try_from(count.saturating_sub(old)).unwrap_or(usize::MAX);
            if new > 0 {
                handle.record_many(bounds.get(i).copied().unwrap_or(past_last), new);
            }
        }
    }

    /// Publishes the runner's metrics every `interval` until its event loop
    /// ends: spawn it next to the runner when the exporter is push-based or
    /// scrapes the recorder on its own schedule.
    ///
    /// # Examples
    ///
    /// ```
    /// # use futures::executor::block_on;
    /// # use runner_core::host::{Builder, Handler, testing::NoEngine as Threads};
    /// # struct Idle;
    /// # impl Handler for Idle {}
    /// use std::time::Duration;
    /// use runner_core::host::publish_every;
    ///
    /// let runner = Builder::new(Threads).endpoint("http://127.0.0.1:6420").runner_name("r").build(Idle)?;
    /// let publishing = publish_every(Threads, runner.handle(), Duration::from_secs(10));
    /// # let handle = runner.handle();
    /// # let running = std::thread::spawn(move || block_on(runner.run()));
    /// # block_on(handle.shutdown(runner_core::ShutdownMode::Immediate));
    /// # running.join().unwrap();
    /// block_on(publishing); // ends once the runner has
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn publish_every<R: Runtime>(runtime: R, handle: RunnerHandle, interval: Duration) {
        let mut publisher = Publisher::default();
        while let Some(snapshot) = handle.metrics().await {
            publisher.publish(&snapshot);
            runtime.sleep_until(runtime.now() + interval).await;
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
