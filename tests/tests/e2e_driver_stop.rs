//! End to end, real engine, in-process runner: an actor that asks to sleep
//! from inside a request handler gets that request answered before it stops.
//! The driver reports an actor stopped only once its in-flight requests are
//! answered, so the response is not lost to the stop (and the gateway does
//! not retry the request on the next generation, running it twice).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Result, ensure};
use runner_tokio::{ActorContext, Handler, Request, Response, StopReason};
use tests::api::{GatewayRequest, Method};
use tests::engine::Engine;

#[derive(Default)]
struct Counters {
    slow_runs: AtomicUsize,
    stops: AtomicUsize,
}

struct Sleepy(Arc<Counters>);

impl Handler for Sleepy {
    async fn on_request(&self, actor: ActorContext, request: Request) -> Response {
        if request.uri().path() == "/sleep-then-answer" {
            self.0.slow_runs.fetch_add(1, Ordering::SeqCst);
            let _ = actor.sleep().await;
            // The engine's stop command arrives meanwhile (~50 ms after the intent).
            tokio::time::sleep(Duration::from_millis(800)).await;
            return Response::new("answered after asking to sleep".into());
        }
        Response::new("ok".into())
    }

    async fn on_actor_stop(&self, _actor: ActorContext, _reason: StopReason) {
        self.0.stops.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_request_that_puts_its_actor_to_sleep_is_answered_once() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(180), scenario()).await })
        .expect("finished in time")
        .expect("scenario");
}

async fn scenario() -> Result<()> {
    let engine = Engine::start().await?;
    // Declared before the runner connects (see `Api::configure_runner_name`).
    engine.api().configure_runner_name("driver-stop").await?;
    let counters = Arc::new(Counters::default());
    let runner = runner_tokio::builder()
        .endpoint(engine.endpoint())
        .token("dev")
        .runner_name("driver-stop")
        .handle_signals(false)
        .build(Sleepy(counters.clone()))?;
    let handle = runner.handle();
    let task = tokio::spawn(runner.run());
    let api = engine.api();
    let actor = api
        .create_actor("sleepy", Some("s1"), "driver-stop")
        .await?;

    let request = GatewayRequest::new(Method::GET, &actor, "/sleep-then-answer")
        .timeout(Duration::from_secs(30))
        .attempts(1);
    let response = api.gateway(request).await?;
    ensure!(
        response.status == 200 && response.text() == "answered after asking to sleep",
        "got {} {}",
        response.status,
        response.text()
    );
    // Give a wrongly retried request time to show up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    ensure!(
        counters.slow_runs.load(Ordering::SeqCst) == 1,
        "the handler ran {} times",
        counters.slow_runs.load(Ordering::SeqCst)
    );
    ensure!(
        counters.stops.load(Ordering::SeqCst) >= 1,
        "the actor never stopped"
    );

    handle.shutdown(runner_tokio::ShutdownMode::Immediate).await;
    task.await?;
    Ok(())
}
