//! The host's metrics and health on the in-memory runtime, the test playing
//! the engine: `RunnerHandle::metrics` and `health` follow what happened,
//! and `Publisher` renders the documented names through a Prometheus
//! recorder. Waits are for conditions, bounded (10 s).

use std::time::{Duration, Instant};

use futures::executor::block_on;
use metrics_exporter_prometheus::PrometheusBuilder;
use runner_core::host::testing::MemoryRuntime;
use runner_core::host::{
    ActorContext, Builder, Handler, Publisher, Request, Response, RunnerHandle, RunnerMetrics,
};
use runner_core::{ConnectionState, ShutdownMode, testing};

const BOUND: Duration = Duration::from_secs(10);

struct Answers;

impl Handler for Answers {
    async fn on_request(&self, _actor: ActorContext, _request: Request) -> Response {
        Response::new("ok".into())
    }
}

/// Polls the handle's metrics until `done` holds.
fn wait_for(
    handle: &RunnerHandle,
    what: &str,
    done: impl Fn(&RunnerMetrics) -> bool,
) -> RunnerMetrics {
    let deadline = Instant::now() + BOUND;
    loop {
        let snapshot = block_on(handle.metrics()).expect("the runner runs");
        if done(&snapshot) {
            return snapshot;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within {BOUND:?}: {snapshot:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn metrics_and_health_follow_the_runner() -> Result<(), Box<dyn std::error::Error>> {
    let rt = MemoryRuntime::new();
    let runner = Builder::new(rt.clone())
        .endpoint("http://engine")
        .runner_name("r")
        .build(Answers)?;
    let handle = runner.handle();
    let running = std::thread::spawn(move || block_on(runner.run()));
    let before = block_on(handle.health());
    assert!(!before.ready && !before.shut_down);

    let mut engine = block_on(rt.accept());
    block_on(engine.accept_init("runner-1"))?;
    wait_for(&handle, "connection", |m| {
        m.core.connection_state == ConnectionState::Connected
    });
    let health = block_on(handle.health());
    assert!(health.ready, "{health:?}");
    assert!(health.is_live(Duration::from_secs(60)));

    block_on(engine.send_message(&testing::start_command("A", vec![])))?;
    wait_for(&handle, "actor start", |m| m.core.actor_starts_total == 1);
    let kind =
        runner_core::protocol::ToClientTunnelMessageKind::RequestStart(testing::get("A", "/x"));
    block_on(engine.send_message(&testing::tunnel_message(testing::key(1), 0, kind)))?;
    let snapshot = wait_for(&handle, "HTTP response", |m| {
        m.core.http_outcomes.success == 1
    });
    assert_eq!(snapshot.core.http_requests_total, 1);
    assert!(snapshot.input_time.count() > 0, "the loop times its inputs");

    let recorder = PrometheusBuilder::new().build_recorder();
    let mut publisher = Publisher::default();
    metrics::with_local_recorder(&recorder, || publisher.publish(&snapshot));
    let text = recorder.handle().render();
    for line in [
        "rivet_runner_connection_state{state=\"connected\"} 1",
        "rivet_runner_connection_state{state=\"backoff\"} 0",
        "rivet_runner_connections_total 1",
        "rivet_runner_actor_starts_total 1",
        "rivet_runner_actors 1",
        "rivet_runner_http_requests_total 1",
        "rivet_runner_http_responses_total{status_class=\"2xx\"} 1",
        "rivet_runner_http_responses_total{status_class=\"5xx\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    let input_count = format!(
        "rivet_runner_input_seconds_count {}",
        snapshot.input_time.count()
    );
    assert!(
        text.lines().any(|l| l == input_count),
        "no {input_count:?} in\n{text}"
    );
    // Published again, the histogram gets no sample twice.
    metrics::with_local_recorder(&recorder, || publisher.publish(&snapshot));
    let again = recorder.handle().render();
    assert!(
        again.lines().any(|l| l == input_count),
        "no {input_count:?} in\n{again}"
    );

    block_on(handle.shutdown(ShutdownMode::Immediate));
    running.join().expect("the runner ends");
    assert!(block_on(handle.health()).shut_down);
    assert_eq!(block_on(handle.metrics()), None);
    Ok(())
}
