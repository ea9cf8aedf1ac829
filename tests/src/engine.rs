//! The real Rivet engine, run on loopback for end-to-end tests.
//!
//! [`Engine::start`] gets the pinned engine binary ([`engine_binary`]),
//! gives it a fresh data directory and its own free loopback ports (so that
//! several engines, one per test binary, run side by side), turns telemetry
//! off, and returns once the engine answers `GET /health` *and* the
//! `default` namespace exists. The process is killed when the [`Engine`] is
//! dropped.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use tests::engine::Engine;
//!
//! let mut engine = Engine::start().await?;
//! println!("engine at {}", engine.endpoint());
//! engine.kill()?; // crash it
//! engine.restart().await?; // same data, same ports
//! # Ok(()) }
//! ```
//!
//! Environment variables:
//!
//! * `RIVET_ENGINE_BIN`: engine binary to use instead of the pinned one.
//! * `RIVET_ENGINE_KEEP_DATA`: keep every engine's data directory (config,
//!   database, `engine.log`) instead of deleting it on drop. Data
//!   directories are also kept when the engine is dropped during a panic,
//!   i.e. when a test fails; their path is printed on stderr.

mod fetch;
pub(crate) mod ports;
pub(crate) mod proc;

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::api::Api;
use proc::{Sig, Spec};

pub use fetch::{
    ENGINE_BIN_ENV, ENGINE_NPM_PACKAGE, ENGINE_VERSION, cached_engine_path, engine_binary,
    target_dir, workspace_root,
};

/// Environment variable that keeps engine data directories after drop.
pub const KEEP_DATA_ENV: &str = "RIVET_ENGINE_KEEP_DATA";

/// How many times [`Engine::start`] draws new ports when another process
/// took one of them between our check and the engine's bind.
const PORT_ATTEMPTS: u32 = 4;
/// Number of engine log lines quoted in start-up errors.
const LOG_TAIL_LINES: usize = 50;
/// The engine logs this when a listener cannot bind; it does not exit but
/// retries the bind every second, so we must look for it.
const ADDRESS_IN_USE: &str = "Address in use";
/// What the engine (2.3.19) logs once the guard listens, before `IP:PORT`.
const GUARD_LISTENING: &str = "HTTP server listening on ";
/// How long a ready engine whose log never confirms the guard port is
/// waited for before it is accepted anyway.
const UNCONFIRMED_GRACE: Duration = Duration::from_secs(5);

/// Tuning for [`Engine::start_with`].
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How long a start or restart may take until the engine is ready.
    pub ready_timeout: Duration,
    /// How long [`Engine::stop`] waits after SIGTERM before SIGKILL.
    pub stop_timeout: Duration,
    /// Keep the data directory after drop (also set by `RIVET_ENGINE_KEEP_DATA`).
    pub keep_data: bool,
    /// Engine binary; `None` means [`engine_binary`].
    pub binary: Option<PathBuf>,
    /// Fixed ports; `None` (the default) picks free ones, and picks again
    /// if another process takes one first. Fixed ports are not retried.
    pub ports: Option<EnginePorts>,
    /// JSON merged into the generated config file (objects are merged key
    /// by key, anything else replaces), e.g. `{"pegboard": {...}}`. It must
    /// not move the engine off loopback or turn telemetry on.
    pub config_patch: Option<Value>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            ready_timeout: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(15),
            keep_data: false,
            binary: None,
            ports: None,
            config_patch: None,
        }
    }
}

/// The loopback ports of one engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnginePorts {
    /// Gateway and public API (`endpoint()`); the engine's default is 6420.
    pub guard: u16,
    /// Peer API; default 6421.
    pub api_peer: u16,
    /// Prometheus metrics; default 6430.
    pub metrics: u16,
}

/// A running (or killed, between [`kill`](Engine::kill) and
/// [`restart`](Engine::restart)) engine process with its own data directory
/// and ports. Dropping it SIGKILLs the process.
#[derive(Debug)]
pub struct Engine {
    binary: PathBuf,
    opts: EngineOptions,
    /// `Some` while the directory is to be deleted on drop.
    data_guard: Option<tempfile::TempDir>,
    data_dir: PathBuf,
    ports: EnginePorts,
    child: Option<Child>,
    api: Api,
}

/// Why one launch attempt failed.
enum LaunchError {
    /// A port was taken by someone else; retry with new ports.
    PortInUse(anyhow::Error),
    Other(anyhow::Error),
}

impl Engine {
    /// Starts an engine with default [`EngineOptions`].
    pub async fn start() -> Result<Engine> {
        Engine::start_with(EngineOptions::default()).await
    }

    /// Starts an engine and waits until it is ready (health answers and the
    /// `default` namespace exists), or fails with the tail of its log.
    pub async fn start_with(mut opts: EngineOptions) -> Result<Engine> {
        let binary = match opts.binary.clone() {
            Some(binary) => binary,
            // The first call may download for seconds: keep it off the
            // async workers.
            None => tokio::task::spawn_blocking(engine_binary).await??,
        };
        opts.keep_data |= env_flag(KEEP_DATA_ENV);
        let tmp_root = target_dir().join("tmp");
        std::fs::create_dir_all(&tmp_root)
            .with_context(|| format!("cannot create {}", tmp_root.display()))?;
        let data_guard = tempfile::Builder::new()
            .prefix("rivet-engine-")
            .tempdir_in(&tmp_root)
            .context("cannot create the engine data directory")?;
        let ports = match opts.ports {
            Some(ports) => {
                let all = [ports.guard, ports.api_peer, ports.metrics];
                if let Some(port) = all.into_iter().find(|&p| !ports::is_free(p)) {
                    bail!("cannot start an engine on fixed port {port}: it is in use");
                }
                ports
            }
            None => new_ports()?,
        };
        let mut engine = Engine {
            binary,
            data_dir: data_guard.path().to_path_buf(),
            data_guard: Some(data_guard),
            api: Api::new(endpoint_for(ports.guard)),
            ports,
            opts,
            child: None,
        };
        engine.first_launch().await?;
        Ok(engine)
    }

    /// Launches on fresh ports, retrying when a port was taken meanwhile.
    async fn first_launch(&mut self) -> Result<()> {
        let attempts = if self.opts.ports.is_some() {
            1
        } else {
            PORT_ATTEMPTS
        };
        for attempt in 1..=attempts {
            match self.launch().await {
                Ok(()) => return Ok(()),
                Err(LaunchError::PortInUse(err)) if attempt < attempts => {
                    self.reap();
                    eprintln!("engine: {err:#}; retrying on other ports");
                    // The database was initialised with the old topology.
                    let _ = std::fs::remove_dir_all(self.data_dir.join("db"));
                    self.ports = new_ports()?;
                    self.api = Api::new(endpoint_for(self.ports.guard));
                }
                Err(LaunchError::PortInUse(err) | LaunchError::Other(err)) => {
                    self.reap();
                    return Err(err);
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    /// The gateway / public API base URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        endpoint_for(self.ports.guard)
    }

    /// The engine's ports.
    pub fn ports(&self) -> EnginePorts {
        self.ports
    }

    /// A REST and gateway client for this engine. Clients from one engine
    /// share state (see [`Api::create_actor`]), across restarts too.
    pub fn api(&self) -> Api {
        self.api.clone()
    }

    /// The data directory (config file, database, `engine.log`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The engine's combined stdout and stderr, appended across restarts.
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.join("engine.log")
    }

    /// The last `lines` lines of the engine log.
    pub fn log_tail(&self, lines: usize) -> String {
        proc::tail_lines(&self.log_path(), lines)
    }

    /// The engine's pid while it has not been reaped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the engine process is still running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Crashes the engine: SIGKILL, then reap. A no-op if it is not running.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            proc::kill_and_reap(&mut child).context("cannot kill the engine")?;
        }
        Ok(())
    }

    /// Stops the engine gracefully: SIGTERM, then SIGKILL if it has not
    /// exited within [`EngineOptions::stop_timeout`] (the engine does not
    /// exit on SIGTERM while client WebSockets are open).
    pub async fn stop(&mut self) -> Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("the engine is not running");
        };
        proc::signal(&mut child, Sig::Term).context("cannot SIGTERM the engine")?;
        match proc::wait_timeout(&mut child, self.opts.stop_timeout).await? {
            Some(status) => Ok(status),
            None => {
                eprintln!(
                    "engine: no exit {:?} after SIGTERM; sending SIGKILL",
                    self.opts.stop_timeout
                );
                Ok(proc::kill_and_reap(&mut child)?)
            }
        }
    }

    /// Starts the engine again on the same data directory and the same
    /// ports (SIGKILLing it first if it is still running), and waits until
    /// it is ready. For crash/restart tests: runners reconnect to the same
    /// endpoint.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill()?;
        self.wait_ports_free(Duration::from_secs(15)).await?;
        match self.launch().await {
            Ok(()) => Ok(()),
            Err(LaunchError::PortInUse(err) | LaunchError::Other(err)) => {
                self.reap();
                Err(err.context("engine restart failed"))
            }
        }
    }

    /// Spawns the process and waits until it is ready.
    async fn launch(&mut self) -> Result<(), LaunchError> {
        self.write_config().map_err(LaunchError::Other)?;
        let log_path = self.log_path();
        let log_start = std::fs::metadata(&log_path).map_or(0, |m| m.len());
        let child = self.spawn(&log_path).map_err(LaunchError::Other)?;
        self.child = Some(child);
        self.wait_ready(log_start).await
    }

    fn spawn(&self, log_path: &Path) -> Result<Child> {
        let log = proc::append_log(log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        let mut spec = Spec::new(&self.binary);
        spec.args = vec![
            "--config".into(),
            self.config_path().into_os_string(),
            "start".into(),
        ];
        spec.stdout = Stdio::from(log.try_clone()?);
        spec.stderr = Stdio::from(log);
        proc::spawn(spec).with_context(|| format!("cannot start {}", self.binary.display()))
    }

    fn config_path(&self) -> PathBuf {
        self.data_dir.join("config.json")
    }

    /// Writes the loopback-only, telemetry-off config for our ports.
    fn write_config(&self) -> Result<()> {
        let mut config = engine_config(self.ports, &self.data_dir.join("db"));
        if let Some(patch) = &self.opts.config_patch {
            merge_json(&mut config, patch);
        }
        let text = serde_json::to_string_pretty(&config)?;
        std::fs::write(self.config_path(), text)
            .with_context(|| format!("cannot write {}", self.config_path().display()))
    }

    /// Polls until `/health` answers and the `default` namespace exists,
    /// watching for an early exit and for ports taken by someone else.
    ///
    /// A server that answers on our guard port is only taken for ours once
    /// our log says it listens there: when a port is taken, the engine does
    /// not exit, and the other server (another engine, even) would answer.
    /// An engine that never logs that line (another version, through
    /// `RIVET_ENGINE_BIN`) is accepted after [`UNCONFIRMED_GRACE`].
    async fn wait_ready(&mut self, log_start: u64) -> Result<(), LaunchError> {
        let deadline = Instant::now() + self.opts.ready_timeout;
        let mut answering_since = None;
        loop {
            if let Some(err) = self.check_alive_and_ports(log_start) {
                return Err(err);
            }
            let last_problem = match self.probe().await {
                Ok(()) if self.guard_listening(log_start) => return Ok(()),
                Ok(()) => {
                    let since = *answering_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= UNCONFIRMED_GRACE {
                        eprintln!(
                            "engine: {} is ready but its log never said it listens there",
                            self.endpoint()
                        );
                        return Ok(());
                    }
                    "answering, but the engine log does not show it listening yet".into()
                }
                Err(err) => format!("{err:#}"),
            };
            if Instant::now() >= deadline {
                return Err(LaunchError::Other(self.failure(&format!(
                    "not ready within {:?} (last check: {last_problem})",
                    self.opts.ready_timeout
                ))));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One readiness check; `/health` answers 50–150 ms before the
    /// `default` namespace exists, and that before runner configs can be
    /// written (see [`Api::runner_configs_writable`]), so all three are
    /// needed.
    async fn probe(&self) -> Result<()> {
        let timeout = Duration::from_secs(2);
        self.api.health(timeout).await?;
        if !self.api.namespace_exists("default", timeout).await? {
            bail!("namespace `default` does not exist yet");
        }
        if !self.api.runner_configs_writable(timeout).await? {
            bail!("runner configs cannot be written yet (epoxy not configured)");
        }
        Ok(())
    }

    /// Whether the log since `log_start` shows the guard listening on our port.
    fn guard_listening(&self, log_start: u64) -> bool {
        let line = format!("{GUARD_LISTENING}127.0.0.1:{}", self.ports.guard);
        log_since(&self.log_path(), log_start).contains(&line)
    }

    /// A port conflict (the engine crash-loops the service, or exits when
    /// it is the metrics port) or an early exit.
    fn check_alive_and_ports(&mut self, log_start: u64) -> Option<LaunchError> {
        if log_since(&self.log_path(), log_start).contains(ADDRESS_IN_USE) {
            return Some(LaunchError::PortInUse(self.failure(&format!(
                "could not bind: a port of {:?} is taken by another process",
                self.ports
            ))));
        }
        let exited = match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => None,
            Some(Ok(Some(status))) => Some(status.to_string()),
            Some(Err(err)) => Some(err.to_string()),
            None => Some("not started".into()),
        };
        exited
            .map(|how| LaunchError::Other(self.failure(&format!("exited during start-up ({how})"))))
    }

    /// An error naming the engine, its data directory and its log tail.
    fn failure(&self, what: &str) -> anyhow::Error {
        anyhow!(
            "rivet engine at {} (binary {}, data {}) {what}; last {LOG_TAIL_LINES} lines of {}:\n{}",
            self.endpoint(),
            self.binary.display(),
            self.data_dir.display(),
            self.log_path().display(),
            self.log_tail(LOG_TAIL_LINES),
        )
    }

    async fn wait_ports_free(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let ports = [self.ports.guard, self.ports.api_peer, self.ports.metrics];
        while !ports.iter().all(|&port| ports::is_free(port)) {
            if Instant::now() >= deadline {
                bail!("the engine's ports {ports:?} are still in use after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Kills and reaps the process if there is one, ignoring errors.
    fn reap(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = proc::kill_and_reap(&mut child);
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.reap();
        let keep = self.opts.keep_data || std::thread::panicking();
        if let Some(dir) = self.data_guard.take() {
            if keep {
                let path = dir.keep();
                eprintln!("engine: kept data directory {}", path.display());
            }
        }
    }
}

/// The engine config: telemetry off, every listener on 127.0.0.1 at our
/// ports, and a topology naming the same ports (the engine's defaults
/// would otherwise point it at 6420/6421).
fn engine_config(ports: EnginePorts, db: &Path) -> Value {
    json!({
        "telemetry": { "enabled": false },
        "guard": { "host": "127.0.0.1", "port": ports.guard },
        "api_peer": { "host": "127.0.0.1", "port": ports.api_peer },
        "metrics": { "host": "127.0.0.1", "port": ports.metrics },
        "topology": {
            "datacenter_label": 1,
            "datacenters": {
                "default": {
                    "datacenter_label": 1,
                    "is_leader": true,
                    "public_url": endpoint_for(ports.guard),
                    "peer_url": endpoint_for(ports.api_peer),
                }
            }
        },
        "file_system": { "path": db },
    })
}

/// Merges `patch` into `base`: objects key by key, anything else replaces.
fn merge_json(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                merge_json(base.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

fn endpoint_for(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

fn new_ports() -> Result<EnginePorts> {
    let picked = ports::pick(3)?;
    Ok(EnginePorts {
        guard: picked[0],
        api_peer: picked[1],
        metrics: picked[2],
    })
}

/// The log text written since byte `start` (lossy, empty on error).
fn log_since(path: &Path, start: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = Vec::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        if file.seek(SeekFrom::Start(start)).is_ok() {
            let _ = file.read_to_end(&mut text);
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// Whether an environment variable is set to something other than "" or "0".
fn env_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn merge_json_merges_objects_and_replaces_leaves() {
        let mut base = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge_json(&mut base, &json!({"a": {"c": 3, "e": 4}, "d": [2]}));
        assert_eq!(base, json!({"a": {"b": 1, "c": 3, "e": 4}, "d": [2]}));
    }

    #[test]
    fn config_is_loopback_and_telemetry_off() {
        let ports = EnginePorts {
            guard: 21000,
            api_peer: 21001,
            metrics: 21002,
        };
        let config = engine_config(ports, Path::new("/x/db"));
        assert_eq!(config["telemetry"]["enabled"], json!(false));
        for section in ["guard", "api_peer", "metrics"] {
            assert_eq!(config[section]["host"], json!("127.0.0.1"));
        }
        let dc = &config["topology"]["datacenters"]["default"];
        assert_eq!(dc["public_url"], json!("http://127.0.0.1:21000"));
        assert_eq!(dc["peer_url"], json!("http://127.0.0.1:21001"));
    }
}
