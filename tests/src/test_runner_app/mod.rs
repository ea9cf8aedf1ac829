//! The test runner of `shared/spec/test-runner.md`, written once for every
//! driver crate.
//!
//! Each driver ships an `examples/test_runner.rs` that is only a `main`
//! calling [`main`] with its runtime, so the one external suite
//! (`tests/tests/e2e_*.rs`) checks every driver against the same program.
//! The app uses nothing but what a driver crate re-exports
//! ([`runner_core::host::api`]), plus [`Builder`] and [`Runtime`] to stay
//! generic over the driver: it is also an example of a complete runner.
//!
//! ```no_run
//! # async fn demo<R: runner_core::host::Runtime>(runtime: R) -> std::process::ExitCode {
//! // the whole `main` of a driver crate's examples/test_runner.rs:
//! tests::test_runner_app::main(runtime).await
//! # }
//! ```
//!
//! * [`config`]: the `RIVET_*` environment variables;
//! * [`output`]: the JSON lines on stdout;
//! * `routes`, `kv_routes`: the actor's HTTP routes;
//! * `sockets`, `hibernation`: `/ws`, and `/hws` with its persisted state;
//! * [`serverless`]: `RIVET_SERVERLESS_LISTEN`, one runner per `/start`.

pub mod config;
pub mod metrics;
pub mod output;

mod bodies;
mod hibernation;
mod kv_routes;
mod recording;
mod replies;
mod routes;
pub mod serverless;
mod sockets;

use std::collections::HashMap;
use std::future::Future;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use runner_core::host::api::{
    ActorContext, ActorInfo, ActorRef, BoxError, Handler, Request, Response, ShutdownReason,
    StopReason, WebSocketRequest,
};
use runner_core::host::{Builder, Runtime};

pub use config::{Config, ConfigError, RuntimeSettings};

/// Exit status for a configuration that cannot work.
const EXIT_BAD_CONFIG: u8 = 2;

/// Runs the test runner on `runtime`: sends logs to stderr, reads the
/// configuration from the environment, connects, serves until
/// SIGINT/SIGTERM, prints `shutdown`.
///
/// Returns 0 after a requested shutdown; 2 (with one line on stderr, before
/// any connection attempt) for a bad configuration; 1 when the engine ended
/// the runner (eviction, fatal refusal).
pub async fn main<R: Runtime>(runtime: R) -> ExitCode {
    init_logging();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => return bad_config(&err),
    };
    if let Some(listen) = config.serverless_listen {
        return serverless::main(runtime, config, listen).await;
    }
    let app = App::new(runtime.clone());
    let runner = match config.apply(Builder::new(runtime)).build(app) {
        Ok(runner) => runner,
        Err(err) => return bad_config(&err),
    };
    if let Some(addr) = config.metrics_listen {
        if let Err(err) = metrics::serve(addr, runner.handle()) {
            return bad_config(&format!(
                "RIVET_METRICS_LISTEN: cannot serve on {addr}: {err}"
            ));
        }
    }
    match runner.run().await {
        ShutdownReason::Requested => {
            output::shutdown();
            ExitCode::SUCCESS
        }
        other => {
            tracing::error!(reason = ?other, "the engine ended the runner");
            ExitCode::FAILURE
        }
    }
}

/// `tracing` to stderr, filtered by `RUST_LOG` (default `info`) but never
/// showing the token, colours only on a terminal. Stdout is kept for the JSON lines.
fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
        // tungstenite logs its whole handshake request, the token's
        // sub-protocol included, at trace level: never let that through.
        .add_directive(
            runner_core::host::TOKEN_SAFE_LOG_DIRECTIVE
                .parse()
                .expect("a valid directive"),
        );
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .try_init();
}

fn bad_config(err: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("test_runner: invalid configuration: {err}");
    ExitCode::from(EXIT_BAD_CONFIG)
}

/// Runs a future in the background, on whatever runtime the runner uses.
type Spawn = Arc<dyn Fn(BoxFuture<'static, ()>) + Send + Sync>;

/// The actor code: every actor of the test runner behaves the same.
pub struct App {
    /// How many times this process started each actor id (`/ping`'s
    /// `starts`). Keyed by the runner's own shared id: no copy per actor.
    starts: Mutex<HashMap<Arc<str>, u32>>,
    /// `/hws` messages being handled, which an actor's stop waits for.
    in_flight: hibernation::InFlight,
    spawn: Spawn,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

impl App {
    /// The app, spawning its background work on `runtime`.
    pub fn new<R: Runtime>(runtime: R) -> Self {
        App {
            starts: Mutex::new(HashMap::new()),
            in_flight: hibernation::InFlight::default(),
            spawn: Arc::new(move |task| runtime.spawn(task)),
        }
    }

    /// How many times this process has started `actor_id`.
    fn starts(&self, actor_id: &str) -> u32 {
        let starts = self.starts.lock().unwrap_or_else(|e| e.into_inner());
        starts.get(actor_id).copied().unwrap_or(0)
    }

    fn count_start(&self, actor: &ActorRef) {
        let mut starts = self.starts.lock().unwrap_or_else(|e| e.into_inner());
        *starts.entry(actor.actor_id.clone()).or_default() += 1;
    }

    /// Runs `task` in the background.
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        (self.spawn)(Box::pin(task));
    }
}

impl Handler for App {
    async fn on_actor_start(&self, actor: ActorContext, info: ActorInfo) -> Result<(), BoxError> {
        self.count_start(actor.actor_ref());
        if !info.hibernating.is_empty() {
            // Boxed: the restore's KV calls make a ~1 KiB future, and every
            // pending start (thousands in a burst) would carry that room.
            Box::pin(hibernation::restore(&actor, &info)).await?;
        }
        output::actor_start(&actor);
        Ok(())
    }

    async fn on_actor_stop(&self, actor: ActorContext, reason: StopReason) {
        tracing::debug!(actor = actor.actor_id(), ?reason, "actor stopping");
        self.in_flight.drain(actor.actor_ref()).await;
        output::actor_stop(&actor);
    }

    async fn on_request(&self, actor: ActorContext, request: Request) -> Response {
        routes::serve(self, actor, request).await
    }

    async fn on_websocket(&self, actor: ActorContext, socket: WebSocketRequest) {
        sockets::serve(&self.in_flight, actor, socket).await;
    }

    fn on_connected(&self, runner_id: &str) {
        output::connected(runner_id);
    }

    fn on_disconnected(&self, code: Option<u16>, reason: &str) {
        output::disconnected(code, reason);
    }
}
