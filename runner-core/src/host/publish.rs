//! Publication of the runner's metrics through the `metrics` facade
//! (feature `metrics`): the names, types and labels are the table in the
//! documentation of `host/metrics.rs` and in the README.

use std::time::Duration;

use metrics::{counter, gauge, histogram};

use super::handle::RunnerHandle;
use super::metrics::RunnerMetrics;
use crate::Histogram;
use crate::host::Runtime;

/// Publishes snapshots to the `metrics` facade's global recorder,
/// remembering the last one so that histograms get only new samples.
///
/// # Examples
///
/// ```
/// use runner_tokio::{Publisher, RunnerMetrics};
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
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{Publisher, RunnerMetrics};
    ///
    /// let mut publisher = Publisher::default();
    /// let snapshot = RunnerMetrics::default();
    /// // Usually inside a scrape handler, with the global recorder
    /// // (or `metrics::with_local_recorder` for one of your own):
    /// publisher.publish(&snapshot);
    /// publisher.publish(&snapshot); // histograms get no sample twice
    /// ```
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
        counter!("rivet_runner_actor_starts_refused_total").absolute(m.actor_starts_refused_total);
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
/// use std::time::Duration;
/// use runner_tokio::{Handler, ShutdownMode, Tokio, publish_every};
///
/// struct Idle;
/// impl Handler for Idle {}
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let runner = runner_tokio::builder()
///     .endpoint("http://127.0.0.1:1") // no engine here
///     .runner_name("r")
///     .handle_signals(false)
///     .build(Idle)?;
/// let handle = runner.handle();
/// let publishing = tokio::spawn(publish_every(Tokio, handle.clone(), Duration::from_secs(10)));
/// let running = tokio::spawn(runner.run());
/// handle.shutdown(ShutdownMode::Immediate).await;
/// running.await?;
/// publishing.await?; // ends once the runner has
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn publish_every<R: Runtime>(runtime: R, handle: RunnerHandle, interval: Duration) {
    let mut publisher = Publisher::default();
    while let Some(snapshot) = handle.metrics().await {
        publisher.publish(&snapshot);
        runtime.sleep_until(runtime.now() + interval).await;
    }
}
