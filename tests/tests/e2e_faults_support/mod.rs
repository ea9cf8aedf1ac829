//! What the fault suites (`e2e_faults_*.rs`) share: a bounded runtime per
//! test, and runners built in process with `runner_tokio::builder()` when a
//! test needs what the test-runner contract cannot give (handlers that
//! panic or hang, a short liveness timeout, an endpoint behind a proxy).
//!
//! An in-process runner records what its handler saw ([`Note`]s) so a test
//! can wait for connections, starts and stops, with their reasons.

// Each suite uses part of this module.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use bytes::Bytes;
use runner_tokio::{
    ActorContext, ActorInfo, Body, BoxError, Handler, Message, Request, Response, RunnerHandle,
    ShutdownMode, ShutdownReason, StopReason, WebSocketRequest,
};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Runs `test` on a fresh runtime, bounded by `limit`; panics with the error
/// chain on failure or timeout. The tests of one binary run one at a time:
/// each starts an engine of its own, and two engines booting side by side
/// on two cores made first actor creates fail for a minute.
pub fn run<Fut>(limit: Duration, test: Fut)
where
    Fut: Future<Output = Result<()>>,
{
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // In-process runners log through `tracing`: shown for failing tests,
    // filtered by RUST_LOG (default: warnings).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("test runtime");
    let outcome = runtime.block_on(async {
        let started = Instant::now();
        let outcome = tokio::time::timeout(limit, test)
            .await
            .unwrap_or_else(|_| Err(anyhow!("the test did not finish within {limit:?}")));
        eprintln!("test body took {:?}", started.elapsed());
        outcome
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    if let Err(err) = outcome {
        panic!("{err:?}");
    }
}

/// Something an in-process runner's handler saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// `on_connected`.
    Connected(String),
    /// `on_disconnected`.
    Disconnected(Option<u16>, String),
    /// `on_actor_start`: actor id and generation.
    Start(String, u32),
    /// `on_actor_stop`: actor id, generation and why.
    Stop(String, u32, StopReason),
}

/// Shared list of notes.
pub type Notes = Arc<Mutex<Vec<Note>>>;

/// A runner running in this process on the test's runtime.
#[derive(Debug)]
pub struct InProcess {
    /// Its handle.
    pub handle: RunnerHandle,
    /// What its handler saw.
    pub notes: Notes,
    /// Releases the KV flood armed by `GET /kv-flood`.
    pub flood: Arc<Notify>,
    task: JoinHandle<ShutdownReason>,
}

/// The settings every in-process fault runner shares, on either driver.
fn fault_settings<R: runner_core::host::Runtime>(
    builder: runner_core::host::Builder<R>,
    endpoint: &str,
    name: &str,
) -> runner_core::host::Builder<R> {
    builder
        .endpoint(endpoint)
        .token("dev")
        .runner_name(name)
        .protocol_version(runner_core::protocol::ProtocolVersion::LATEST.number())
        .handle_signals(false)
}

impl FaultApp {
    /// An app, with the notes it writes and the switch of its KV flood.
    fn new() -> (FaultApp, Notes, Arc<Notify>) {
        let notes = Notes::default();
        let flood = Arc::new(Notify::new());
        let app = FaultApp {
            notes: notes.clone(),
            flood: flood.clone(),
        };
        (app, notes, flood)
    }
}

impl InProcess {
    /// Builds (with `configure` applied to the builder) and spawns a
    /// [`FaultApp`] runner named `name` at `endpoint`.
    pub fn spawn(
        endpoint: &str,
        name: &str,
        configure: impl FnOnce(runner_tokio::Builder) -> runner_tokio::Builder,
    ) -> Result<InProcess> {
        let (app, notes, flood) = FaultApp::new();
        let builder = fault_settings(runner_tokio::builder(), endpoint, name);
        let runner = configure(builder).build(app)?;
        let handle = runner.handle();
        let task = tokio::spawn(runner.run());
        Ok(InProcess {
            handle,
            notes,
            flood,
            task,
        })
    }

    /// [`spawn`](Self::spawn) on the async-std driver: the runner's tasks
    /// run on async-std's executor; a blocking thread of the test's runtime
    /// waits for `run`.
    pub fn spawn_async_std(
        endpoint: &str,
        name: &str,
        configure: impl FnOnce(runner_async_std::Builder) -> runner_async_std::Builder,
    ) -> Result<InProcess> {
        let (app, notes, flood) = FaultApp::new();
        let builder = fault_settings(runner_async_std::builder(), endpoint, name);
        let runner = configure(builder).build(app)?;
        let handle = runner.handle();
        let task = tokio::task::spawn_blocking(move || futures::executor::block_on(runner.run()));
        Ok(InProcess {
            handle,
            notes,
            flood,
            task,
        })
    }

    /// Every note so far.
    pub fn notes(&self) -> Vec<Note> {
        self.notes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until the notes satisfy `done`; returns them.
    pub async fn wait(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&[Note]) -> bool,
    ) -> Result<Vec<Note>> {
        let deadline = Instant::now() + timeout;
        loop {
            let notes = self.notes();
            if done(&notes) {
                return Ok(notes);
            }
            if Instant::now() >= deadline {
                bail!("no {what} within {timeout:?}; notes: {notes:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the `n`-th connection; returns the runner id.
    pub async fn connected(&self, n: usize, timeout: Duration) -> Result<String> {
        let notes = self
            .wait(&format!("connection #{n}"), timeout, |notes| {
                connections(notes).len() >= n
            })
            .await?;
        Ok(connections(&notes)[n - 1].clone())
    }

    /// Shuts down immediately and waits for the run to end.
    pub async fn stop(self) -> Result<ShutdownReason> {
        self.handle.shutdown(ShutdownMode::Immediate).await;
        let reason = tokio::time::timeout(Duration::from_secs(15), self.task).await??;
        Ok(reason)
    }
}

/// Runner ids of the `Connected` notes.
pub fn connections(notes: &[Note]) -> Vec<String> {
    notes
        .iter()
        .filter_map(|n| match n {
            Note::Connected(id) => Some(id.clone()),
            _ => None,
        })
        .collect()
}

/// Generations started for `actor`.
pub fn starts(notes: &[Note], actor: &str) -> Vec<u32> {
    notes
        .iter()
        .filter_map(|n| match n {
            Note::Start(id, generation) if id == actor => Some(*generation),
            _ => None,
        })
        .collect()
}

/// An actor whose routes misbehave on purpose:
///
/// | route | behaviour |
/// |---|---|
/// | `GET /ok` | 200, body `ok <actor id> <generation>` |
/// | `GET /panic` | the handler panics |
/// | `GET /hang` | the handler never returns |
/// | `GET /body-error` | 200 whose body stream fails |
/// | `GET /kv-flood` | 200 at once; once [`InProcess::flood`] is notified, the actor makes [`KV_FLOOD`] KV puts of 16 KiB at once |
/// | WebSocket `/ws` | echo |
/// | WebSocket `/ws-panic` | accepts, then the handler panics |
/// | WebSocket `/ws-deaf` | accepts and never reads (for the per-socket backlog) |
#[derive(Debug)]
pub struct FaultApp {
    notes: Notes,
    flood: Arc<Notify>,
}

/// KV puts of one `/kv-flood`: far more frames than the runner's writer
/// queue (1024) and the loopback socket buffers hold together.
pub const KV_FLOOD: usize = 4_000;

impl FaultApp {
    fn note(&self, note: Note) {
        self.notes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(note);
    }
}

impl Handler for FaultApp {
    async fn on_actor_start(&self, actor: ActorContext, _info: ActorInfo) -> Result<(), BoxError> {
        self.note(Note::Start(actor.actor_id().to_owned(), actor.generation()));
        Ok(())
    }

    async fn on_actor_stop(&self, actor: ActorContext, reason: StopReason) {
        let (id, generation) = (actor.actor_id().to_owned(), actor.generation());
        self.note(Note::Stop(id, generation, reason));
    }

    async fn on_request(&self, actor: ActorContext, request: Request) -> Response {
        match request.uri().path() {
            "/ok" => Response::new(Body::from(format!(
                "ok {} {}",
                actor.actor_id(),
                actor.generation()
            ))),
            "/panic" => panic!("the /panic route panics"),
            "/hang" => futures::future::pending().await,
            "/body-error" => Response::new(Body::new(FailingBody)),
            "/kv-flood" => {
                let flood = self.flood.clone();
                let ctx = actor.clone();
                actor.spawn(async move {
                    flood.notified().await;
                    let value = Bytes::from(vec![b'v'; 16 * 1024]);
                    let puts = (0..KV_FLOOD).map(|i| {
                        let (ctx, value) = (ctx.clone(), value.clone());
                        async move { ctx.kv_put([(format!("flood-{i}"), value)]).await }
                    });
                    futures::future::join_all(puts).await;
                });
                Response::new(Body::from("armed"))
            }
            _ => {
                let mut response = Response::new(Body::from("not found"));
                *response.status_mut() = http::StatusCode::NOT_FOUND;
                response
            }
        }
    }

    async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
        let path = socket.path().to_owned();
        let Ok(mut ws) = socket.accept(false).await else {
            return;
        };
        match path.as_str() {
            "/ws-panic" => panic!("the /ws-panic socket handler panics"),
            "/ws-deaf" => {
                // Holds the socket and never reads; ends when the socket does.
                let _ = ws.send(Message::Text("deaf".into())).await;
                futures::future::pending::<()>().await;
            }
            _ => {
                while let Some(message) = ws.recv().await {
                    if matches!(message, Message::Close(_)) || ws.send(message).await.is_err() {
                        break;
                    }
                }
            }
        }
    }

    fn on_connected(&self, runner_id: &str) {
        self.note(Note::Connected(runner_id.to_owned()));
    }

    fn on_disconnected(&self, code: Option<u16>, reason: &str) {
        self.note(Note::Disconnected(code, reason.to_owned()));
    }
}

/// A response body whose first frame is an error.
struct FailingBody;

impl http_body::Body for FailingBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::other("the body stream failed"))))
    }
}
