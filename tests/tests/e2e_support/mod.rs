//! What the end-to-end suites (`e2e_*.rs`) share: the drivers under test,
//! the test runtime, one engine and one runner per test binary, and waits on
//! the runner's JSON lines.
//!
//! Every suite is written once as `async fn name(driver: &'static Driver)`
//! and instantiated for every driver by [`driver_tests!`]; a new driver is
//! one line there (and one [`Driver`] constant).
//!
//! The tests of one binary share a tokio runtime (a `reqwest` client cannot
//! outlive the runtime it was first used on), the engine ([`engine`]) and,
//! per driver, one runner process ([`shared`]); they isolate themselves by
//! using their own actors. Tests that kill, restart or stop things start
//! their own ([`Own`]). Everything is bounded: the build by
//! [`BUILD_TIMEOUT`], each test by [`TEST_TIMEOUT`], each wait by its own
//! timeout. The engine is fetched with npm on first use; when it cannot be
//! had, the tests fail saying why. A failing test keeps its engines' data
//! directories (engine log, runners' stderr logs) and its failure message
//! names them and quotes their last lines.

// Each suite uses part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures::{SinkExt, StreamExt};
use tests::api::{Api, GatewayRequest, GatewayResponse, GatewaySocket, Method};
use tests::engine::{Engine, EngineOptions};
use tests::runner_process::{Profile, RunnerBuilder, RunnerEvent, RunnerProcess, build_example};
use tokio::sync::OnceCell;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// A driver crate under test: the package and its test-runner example.
#[derive(Debug)]
pub struct Driver {
    /// Cargo package.
    pub package: &'static str,
    /// Example implementing `test-runner.md`.
    pub example: &'static str,
}

/// `runner-tokio`.
pub const TOKIO: Driver = Driver {
    package: "runner-tokio",
    example: "test_runner",
};

/// The async-std driver's test runner.
pub const ASYNC_STD: Driver = Driver {
    package: "runner-async-std",
    example: "test_runner",
};

/// Instantiates test functions `async fn t(&'static Driver) -> Result<()>`
/// once per driver, as `<driver module>::t`.
/// `driver_tests!(heavy: t)` runs such tests one at a time across drivers,
/// each under [`HEAVY_TEST_TIMEOUT`] (see [`run_heavy`]).
macro_rules! driver_tests {
    (heavy: $($test:ident),+ $(,)?) => {
        $crate::e2e_support::driver_tests!(@driver run_heavy, heavy_runner_tokio, TOKIO; $($test),+);
        $crate::e2e_support::driver_tests!(@driver run_heavy, heavy_runner_async_std, ASYNC_STD; $($test),+);
    };
    ($($test:ident),+ $(,)?) => {
        $crate::e2e_support::driver_tests!(@driver run, runner_tokio, TOKIO; $($test),+);
        $crate::e2e_support::driver_tests!(@driver run, runner_async_std, ASYNC_STD; $($test),+);
    };
    (@driver $run:ident, $module:ident, $driver:ident; $($test:ident),+) => {
        mod $module {
            $(
                #[test]
                fn $test() {
                    $crate::e2e_support::$run(&$crate::e2e_support::$driver, super::$test);
                }
            )+
        }
    };
}
pub(crate) use driver_tests;

/// Bound on building a driver's example (a first build compiles a lot).
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(900);
/// Bound on one test, fixtures included (engine start, runner connect).
pub const TEST_TIMEOUT: Duration = Duration::from_secs(180);
/// Bound on one gateway request that is expected to be answered.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on waiting for one runner event that should come at once.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on one WebSocket message.
pub const WS_TIMEOUT: Duration = Duration::from_secs(10);
/// How often waits look at the runner's output again.
const POLL: Duration = Duration::from_millis(20);

/// Runs one test: builds the driver's example (once per binary), then the
/// test under [`TEST_TIMEOUT`]; panics with the error chain on failure.
pub fn run<F, Fut>(driver: &'static Driver, test: F)
where
    F: FnOnce(&'static Driver) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    run_within(driver, test, TEST_TIMEOUT)
}

/// Bound on one heavy test (see [`run_heavy`]).
pub const HEAVY_TEST_TIMEOUT: Duration = Duration::from_secs(420);

/// Runs a test that loads the engine (hundreds of actor creates): one such
/// test at a time in the binary, whatever the driver — two at once on two
/// cores took each past the ordinary bound — under [`HEAVY_TEST_TIMEOUT`].
pub fn run_heavy<F, Fut>(driver: &'static Driver, test: F)
where
    F: FnOnce(&'static Driver) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    run_within(driver, test, HEAVY_TEST_TIMEOUT)
}

fn run_within<F, Fut>(driver: &'static Driver, test: F, limit: Duration)
where
    F: FnOnce(&'static Driver) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let outcome = runtime().block_on(async {
        let built = tokio::time::timeout(BUILD_TIMEOUT, program(driver))
            .await
            .map_err(|_| anyhow!("building {driver:?} took over {BUILD_TIMEOUT:?}"))
            .and_then(|built| built);
        if let Err(err) = built {
            return (Err(err), Vec::new());
        }
        let started = Instant::now();
        let (outcome, engines) = ENGINES_OF_TEST
            .scope(std::cell::RefCell::default(), async {
                let outcome = tokio::time::timeout(limit, test(driver))
                    .await
                    .unwrap_or_else(|_| Err(anyhow!("the test did not finish within {limit:?}")));
                (outcome, ENGINES_OF_TEST.with(|dirs| dirs.take()))
            })
            .await;
        eprintln!("{}: test body took {:?}", driver.package, started.elapsed());
        (outcome, engines)
    });
    match outcome {
        (Ok(()), engines) => engines.iter().for_each(|dir| remove_data_dir(dir)),
        (Err(err), engines) => panic!("{}: {err:?}\n{}", driver.package, kept_logs(&engines)),
    }
}

tokio::task_local! {
    /// Data directories (engine and runner logs) of the engines the current
    /// test started with [`start_engine`]: deleted when it passes, kept and
    /// quoted when it fails.
    static ENGINES_OF_TEST: std::cell::RefCell<Vec<PathBuf>>;
}

fn remove_data_dir(dir: &Path) {
    if let Err(err) = std::fs::remove_dir_all(dir) {
        eprintln!("cannot remove {}: {err}", dir.display());
    }
}

/// Where a failed test's logs are, with the end of each: the engines this
/// test started and the binary's shared engine, whose directories also
/// hold the runners' stderr logs. They stay until the next run of the
/// binary sweeps them (see [`sweep_stale_data_dirs`]).
fn kept_logs(own: &[PathBuf]) -> String {
    let shared = SHARED_ENGINE_DIR.get().into_iter().cloned();
    let mut report = String::from("logs kept:");
    for dir in own.iter().cloned().chain(shared) {
        mark_dir_owned(&dir);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut logs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        logs.sort();
        for log in logs {
            let end = tail(&log, LOG_LINES_QUOTED);
            report += &format!(
                "\n== {} (last {LOG_LINES_QUOTED} lines)\n{end}",
                log.display()
            );
        }
    }
    report
}

/// Lines quoted from each kept log when a test fails.
const LOG_LINES_QUOTED: usize = 40;

/// The shared engine's data directory, once started.
static SHARED_ENGINE_DIR: OnceLock<PathBuf> = OnceLock::new();

/// The runtime every test of the binary runs on.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("cannot build the test runtime")
    })
}

/// Caches per driver the outcome of an async initialisation, errors
/// included, so a failed set-up fails every test the same way, once.
type PerDriver<T> = Mutex<HashMap<&'static str, Arc<OnceCell<Result<T, String>>>>>;

fn cell<T>(
    map: &'static OnceLock<PerDriver<T>>,
    driver: &Driver,
) -> Arc<OnceCell<Result<T, String>>> {
    let map = map.get_or_init(Default::default);
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(driver.package).or_default().clone()
}

/// The driver's test-runner binary, built once per test binary.
pub async fn program(driver: &'static Driver) -> Result<PathBuf> {
    static PROGRAMS: OnceLock<PerDriver<PathBuf>> = OnceLock::new();
    let cell = cell(&PROGRAMS, driver);
    let built = cell
        .get_or_init(|| async {
            let build = move || build_example(driver.package, driver.example, Profile::Debug);
            match tokio::task::spawn_blocking(build).await {
                Ok(result) => result.map_err(|e| format!("{e:#}")),
                Err(e) => Err(format!("the build task failed: {e}")),
            }
        })
        .await;
    built
        .clone()
        .map_err(|e| anyhow!("cannot build {driver:?}: {e}"))
}

/// The engine shared by the tests of this binary.
pub async fn engine() -> Result<&'static Engine> {
    static ENGINE: OnceCell<Result<Engine, String>> = OnceCell::const_new();
    let engine = ENGINE
        .get_or_init(|| async {
            let engine = start_engine_with(EngineOptions::default())
                .await
                .map_err(|e| format!("{e:#}"))?;
            mark_dir_owned(engine.data_dir());
            let _ = SHARED_ENGINE_DIR.set(engine.data_dir().to_path_buf());
            Ok(engine)
        })
        .await;
    engine
        .as_ref()
        .map_err(|e| anyhow!("cannot start the shared Rivet engine: {e}"))
}

/// Starts an engine for tests: the harness's loopback, telemetry-off
/// configuration, with the workflow worker's load shedding turned off.
///
/// By default the engine pulls fewer and fewer workflows as the *host's*
/// average CPU use goes from 70 % to 90 % (down to 5 %), so on a busy
/// machine (compilers, other test binaries) actor creates stall and time
/// out after 30 s (500 `pegboard_actor_create timed out`) — seen here, where
/// the 10th actor of a runner never started while a fuzzer ran beside.
/// Tests measure the runner, not the host, so the curve is made flat.
///
/// Started within a test, its data directory (engine and runner logs) is
/// kept and quoted if the test fails, deleted if it passes.
pub async fn start_engine() -> Result<Engine> {
    let in_test = ENGINES_OF_TEST.try_with(|_| ()).is_ok();
    let engine = start_engine_with(EngineOptions {
        keep_data: in_test,
        ..EngineOptions::default()
    })
    .await?;
    let _ =
        ENGINES_OF_TEST.try_with(|dirs| dirs.borrow_mut().push(engine.data_dir().to_path_buf()));
    Ok(engine)
}

async fn start_engine_with(options: EngineOptions) -> Result<Engine> {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(sweep_stale_data_dirs);
    let mut patch = serde_json::json!({
        "runtime": { "worker_load_shedding_curve": [[0, 1000], [1000, 999]] }
    });
    if let (Some(extra), Some(patch)) = (&options.config_patch, patch.as_object_mut()) {
        patch.extend(
            extra
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    Engine::start_with(EngineOptions {
        config_patch: Some(patch),
        ..options
    })
    .await
}

/// [`start_engine`] with `patch` (a JSON object) merged into its
/// configuration, e.g. `{"pegboard": {…}}`.
pub async fn start_engine_patched(patch: serde_json::Value) -> Result<Engine> {
    let in_test = ENGINES_OF_TEST.try_with(|_| ()).is_ok();
    let engine = start_engine_with(EngineOptions {
        keep_data: in_test,
        config_patch: Some(patch),
        ..EngineOptions::default()
    })
    .await?;
    let _ =
        ENGINES_OF_TEST.try_with(|dirs| dirs.borrow_mut().push(engine.data_dir().to_path_buf()));
    Ok(engine)
}

/// Marks an engine data directory as this process's, for a directory that
/// outlives the binary (the shared engine's: a `static` is never dropped; a
/// failed test's): the next run's [`sweep_stale_data_dirs`] deletes it.
fn mark_dir_owned(dir: &Path) {
    let marker = dir.join(OWNER_MARKER);
    if let Err(err) = std::fs::write(&marker, std::process::id().to_string()) {
        eprintln!("cannot write {}: {err}", marker.display());
    }
}

/// File naming the pid of the e2e binary that owns a shared engine's data.
const OWNER_MARKER: &str = "e2e-owner-pid";

/// Deletes the data directories of shared engines whose e2e binary has
/// exited (only those: others may belong to running tests).
fn sweep_stale_data_dirs() {
    let Ok(entries) = std::fs::read_dir(tests::engine::target_dir().join("tmp")) else {
        return;
    };
    for dir in entries.filter_map(|e| e.ok()).map(|e| e.path()) {
        let owner = std::fs::read_to_string(dir.join(OWNER_MARKER));
        let Ok(pid) = owner.map(|text| text.trim().to_owned()) else {
            continue;
        };
        if !pid.is_empty() && !Path::new("/proc").join(&pid).exists() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// A test-runner process, connected.
#[derive(Debug)]
pub struct TestRunner {
    /// The process.
    pub process: RunnerProcess,
    /// Its runner name (actors select it).
    pub name: String,
    /// The id the engine gave it.
    pub id: String,
}

impl TestRunner {
    /// Declares the runner name ([`Api::configure_runner_name`]), starts
    /// `driver`'s test runner named `name` on `engine`, configured further
    /// by `configure`, and waits until it is connected.
    pub async fn start(
        driver: &'static Driver,
        engine: &Engine,
        name: &str,
        configure: impl FnOnce(RunnerBuilder) -> RunnerBuilder,
    ) -> Result<TestRunner> {
        engine.api().configure_runner_name(name).await?;
        let builder = RunnerProcess::builder(program(driver).await?).runner_name(name);
        let mut process = configure(builder).spawn(engine)?;
        let id = process.wait_connected(EVENT_TIMEOUT).await?;
        Ok(TestRunner {
            process,
            name: name.to_owned(),
            id,
        })
    }

    /// Creates an actor named `name` (with a unique key) on this runner and
    /// waits for its first `actor_start`.
    pub async fn actor(&self, api: &Api, name: &str) -> Result<String> {
        let actor = create_actor(api, &self.name, name).await?;
        wait_starts(&self.process, &actor, 1).await?;
        Ok(actor)
    }

    /// Every event printed so far.
    pub fn events(&self) -> Vec<RunnerEvent> {
        self.process.events()
    }
}

/// The runner shared by the tests of this binary for one driver.
#[derive(Debug)]
pub struct Shared {
    /// The shared engine.
    pub engine: &'static Engine,
    /// The runner.
    pub runner: TestRunner,
}

/// The shared runner of `driver`, started on first use.
pub async fn shared(driver: &'static Driver) -> Result<&'static Shared> {
    static SHARED: OnceLock<PerDriver<&'static Shared>> = OnceLock::new();
    let cell = cell(&SHARED, driver);
    let shared = cell
        .get_or_init(|| async {
            start_shared(driver)
                .await
                .map(|shared| &*Box::leak(Box::new(shared)))
                .map_err(|e| format!("{e:#}"))
        })
        .await;
    shared
        .clone()
        .map_err(|e| anyhow!("cannot start the shared {} runner: {e}", driver.package))
}

async fn start_shared(driver: &'static Driver) -> Result<Shared> {
    let engine = engine().await?;
    let name = format!("{}-{}", env!("CARGO_CRATE_NAME"), driver.package).replace('_', "-");
    let runner = TestRunner::start(driver, engine, &name, |b| b).await?;
    Ok(Shared { engine, runner })
}

impl Shared {
    /// A client for the engine.
    pub fn api(&self) -> Api {
        self.engine.api()
    }

    /// Creates an actor on the shared runner and waits for its first start.
    pub async fn actor(&self, name: &str) -> Result<String> {
        self.runner.actor(&self.api(), name).await
    }
}

/// An engine and a runner of their own, for tests that kill or stop them.
#[derive(Debug)]
pub struct Own {
    /// The engine.
    pub engine: Engine,
    /// The runner.
    pub runner: TestRunner,
}

impl Own {
    /// Starts a fresh engine and a connected runner of `driver` on it.
    pub async fn start(driver: &'static Driver, runner_name: &str) -> Result<Own> {
        let engine = start_engine().await?;
        let runner = TestRunner::start(driver, &engine, runner_name, |b| b).await?;
        Ok(Own { engine, runner })
    }

    /// A client for the engine.
    pub fn api(&self) -> Api {
        self.engine.api()
    }

    /// Creates an actor and waits for its first `actor_start`.
    pub async fn actor(&self, name: &str) -> Result<String> {
        self.runner.actor(&self.api(), name).await
    }
}

/// Creates an actor named `name`, with a unique key, on the runners named
/// `runner_name`.
pub async fn create_actor(api: &Api, runner_name: &str, name: &str) -> Result<String> {
    api.create_actor(name, Some(&unique_key(name)), runner_name)
        .await
}

/// `name-<n>`, unique within the process.
pub fn unique_key(name: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{name}-{n}")
}

// ---- the runner's output ----

/// Waits until the runner's events so far satisfy `done`; returns them.
/// Fails on timeout or on a stdout line that is not a contract event, with
/// the events and the tail of the runner's stderr.
pub async fn wait_until(
    runner: &RunnerProcess,
    what: &str,
    timeout: Duration,
    mut done: impl FnMut(&[RunnerEvent]) -> bool,
) -> Result<Vec<RunnerEvent>> {
    let deadline = Instant::now() + timeout;
    loop {
        let events = runner.events();
        if let Some(RunnerEvent::Invalid { line, error }) = events
            .iter()
            .find(|e| matches!(e, RunnerEvent::Invalid { .. }))
        {
            bail!(
                "the runner printed a non-event line {line:?} ({error})\n{}",
                describe(runner)
            );
        }
        if done(&events) {
            return Ok(events);
        }
        if Instant::now() >= deadline {
            bail!("no {what} within {timeout:?}\n{}", describe(runner));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The events and the stderr tail of `runner`, for error messages.
pub fn describe(runner: &RunnerProcess) -> String {
    let events: Vec<String> = runner.events().iter().map(|e| format!("{e:?}")).collect();
    let tail = tail(runner.stderr_path(), 25);
    format!(
        "runner events: [{}]\nlast lines of {}:\n{tail}",
        events.join(", "),
        runner.stderr_path().display()
    )
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Generations of the `actor_start` lines of `actor`, in order.
pub fn starts(events: &[RunnerEvent], actor: &str) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            RunnerEvent::ActorStart {
                actor_id,
                generation,
                ..
            } if actor_id == actor => Some(*generation),
            _ => None,
        })
        .collect()
}

/// Generations of the `actor_stop` lines of `actor`, in order.
pub fn stops(events: &[RunnerEvent], actor: &str) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            RunnerEvent::ActorStop {
                actor_id,
                generation,
            } if actor_id == actor => Some(*generation),
            _ => None,
        })
        .collect()
}

/// Waits for the `n`-th `actor_start` of `actor`; returns its generation.
pub async fn wait_starts(runner: &RunnerProcess, actor: &str, n: usize) -> Result<u32> {
    let what = format!("actor_start #{n} of {actor}");
    let events = wait_until(runner, &what, EVENT_TIMEOUT, |e| {
        starts(e, actor).len() >= n
    })
    .await?;
    Ok(starts(&events, actor)[n - 1])
}

/// Waits for the `n`-th `actor_stop` of `actor`; returns its generation.
pub async fn wait_stops(runner: &RunnerProcess, actor: &str, n: usize) -> Result<u32> {
    let what = format!("actor_stop #{n} of {actor}");
    let events = wait_until(runner, &what, EVENT_TIMEOUT, |e| stops(e, actor).len() >= n).await?;
    Ok(stops(&events, actor)[n - 1])
}

/// The `disconnected` lines.
pub fn disconnects(events: &[RunnerEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, RunnerEvent::Disconnected { .. }))
        .count()
}

// ---- the gateway ----

/// One attempt, bounded by [`REQUEST_TIMEOUT`]: outside engine restarts
/// nothing may be lost, so nothing is retried.
pub fn request(method: Method, actor: &str, path: &str) -> GatewayRequest {
    GatewayRequest::new(method, actor, path)
        .timeout(REQUEST_TIMEOUT)
        .attempts(1)
}

/// `GET` once, expecting `status`.
pub async fn get(api: &Api, actor: &str, path: &str, status: u16) -> Result<GatewayResponse> {
    expect(api, request(Method::GET, actor, path), status).await
}

/// `POST` once with `body`, expecting `status`.
pub async fn post(
    api: &Api,
    actor: &str,
    path: &str,
    body: impl Into<Vec<u8>>,
    status: u16,
) -> Result<GatewayResponse> {
    expect(api, request(Method::POST, actor, path).body(body), status).await
}

/// Sends `request`, failing unless the answer has `status`.
pub async fn expect(api: &Api, request: GatewayRequest, status: u16) -> Result<GatewayResponse> {
    let what = format!("{} {}", request.method, request.path);
    let response = api.gateway(request).await?;
    if response.status != status {
        bail!(
            "{what} answered {} (expected {status}): {}",
            response.status,
            response.text()
        );
    }
    Ok(response)
}

/// `/ping`'s answer.
#[derive(Debug, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Ping {
    /// Actor id.
    pub actor_id: String,
    /// Generation.
    pub generation: u32,
    /// Starts of this actor in this runner process.
    pub starts: u32,
    /// `ok`.
    pub status: String,
}

/// `GET /ping`, checked and parsed.
pub async fn ping(api: &Api, actor: &str) -> Result<Ping> {
    let ping: Ping = get(api, actor, "/ping", 200).await?.json()?;
    if ping.actor_id != actor || ping.status != "ok" {
        bail!("unexpected ping answer from {actor}: {ping:?}");
    }
    Ok(ping)
}

/// Polls the REST API until `check` holds for the actor.
pub async fn wait_actor(
    api: &Api,
    actor: &str,
    what: &str,
    check: impl Fn(&tests::api::Actor) -> bool,
) -> Result<tests::api::Actor> {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        let found = api.get_actor(actor).await?;
        match found {
            Some(found) if check(&found) => return Ok(found),
            _ if Instant::now() >= deadline => {
                bail!("actor {actor} is not {what} after {EVENT_TIMEOUT:?}: {found:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

// ---- WebSockets ----

/// Sends one message.
pub async fn ws_send(socket: &mut GatewaySocket, message: Message) -> Result<()> {
    tokio::time::timeout(WS_TIMEOUT, socket.send(message))
        .await
        .context("WebSocket send timed out")?
        .context("WebSocket send failed")
}

/// The next data or close message (pings and pongs skipped); `None` when the
/// stream ended without a close frame.
pub async fn ws_next(socket: &mut GatewaySocket, timeout: Duration) -> Result<Option<Message>> {
    let deadline = Instant::now() + timeout;
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next())
            .await
            .with_context(|| format!("no WebSocket message within {timeout:?}"))?;
        match next {
            None => return Ok(None),
            Some(Err(err)) => return Err(err).context("WebSocket receive failed"),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(message)) => return Ok(Some(message)),
        }
    }
}

/// Sends `message` and expects it back unchanged.
pub async fn ws_echo(socket: &mut GatewaySocket, message: Message) -> Result<()> {
    ws_send(socket, message.clone()).await?;
    match ws_next(socket, WS_TIMEOUT).await? {
        Some(echo) if echo == message => Ok(()),
        other => bail!("sent {message:?}, got back {other:?}"),
    }
}
