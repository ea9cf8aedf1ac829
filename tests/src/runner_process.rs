//! A runner program that follows the test-runner contract
//! (`shared/spec/test-runner.md`), run as a child process against an
//! [`Engine`].
//!
//! ```no_run
//! # async fn demo(engine: &tests::engine::Engine) -> anyhow::Result<()> {
//! use std::time::Duration;
//! use tests::runner_process::{build_example, Profile, RunnerProcess};
//!
//! let program = build_example("runner-tokio", "test_runner", Profile::Release)?;
//! let mut runner = RunnerProcess::builder(program)
//!     .runner_name("smoke")
//!     .spawn(engine)?;
//! runner.wait_connected(Duration::from_secs(30)).await?;
//! let actor = engine.api().create_actor("counter", Some("c1"), "smoke").await?;
//! runner.wait_actor_start(&actor, Duration::from_secs(30)).await?;
//! runner.sigterm()?;
//! runner.wait_for(|e| e.is_shutdown(), Duration::from_secs(30)).await?;
//! assert!(runner.wait_exit(Duration::from_secs(10)).await?.success());
//! # Ok(()) }
//! ```
//!
//! Its stdout (one JSON event a line) is read on a background thread into an
//! event log; the `wait_*` methods find events in it. Its stderr goes to a
//! log file, quoted when a wait fails.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::engine::proc::{self, Sig, Spec};
use crate::engine::{Engine, target_dir, workspace_root};

/// Stderr lines quoted when a wait fails.
const STDERR_TAIL_LINES: usize = 30;

/// One line of the runner's stdout, as the contract defines it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunnerEvent {
    /// Connected to the engine.
    #[serde(rename_all = "camelCase")]
    Connected {
        /// Runner id assigned by the engine.
        runner_id: String,
    },
    /// The connection closed.
    Disconnected {
        /// Close code (`None` if the runner printed none).
        #[serde(default)]
        code: Option<u16>,
        /// Close reason.
        #[serde(default)]
        reason: String,
    },
    /// An actor was started.
    #[serde(rename_all = "camelCase")]
    ActorStart {
        /// Actor id.
        actor_id: String,
        /// Generation (+1 on each wake).
        generation: u32,
        /// Actor name.
        name: String,
        /// Actor key.
        key: Option<String>,
    },
    /// An actor was stopped.
    #[serde(rename_all = "camelCase")]
    ActorStop {
        /// Actor id.
        actor_id: String,
        /// Generation.
        generation: u32,
    },
    /// Serverless mode: the endpoint accepts connections.
    Listening {
        /// `HOST:PORT` it listens on.
        addr: String,
    },
    /// Printed last, before a clean exit.
    Shutdown,
    /// A stdout line that is not a contract event (a contract violation).
    #[serde(skip)]
    Invalid {
        /// The line.
        line: String,
        /// Why it did not parse.
        error: String,
    },
}

impl RunnerEvent {
    /// The runner ids of the `connected` lines among `events`, in order.
    pub fn connected_ids(events: &[RunnerEvent]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                RunnerEvent::Connected { runner_id } => Some(runner_id.clone()),
                _ => None,
            })
            .collect()
    }

    /// Parses one stdout line; a bad line becomes [`RunnerEvent::Invalid`].
    pub fn parse(line: &str) -> RunnerEvent {
        serde_json::from_str(line).unwrap_or_else(|err| RunnerEvent::Invalid {
            line: line.to_owned(),
            error: err.to_string(),
        })
    }

    /// Whether this is `connected`.
    pub fn is_connected(&self) -> bool {
        matches!(self, RunnerEvent::Connected { .. })
    }

    /// Whether this is `shutdown`.
    pub fn is_shutdown(&self) -> bool {
        matches!(self, RunnerEvent::Shutdown)
    }

    /// Whether this is `actor_start` of `actor_id`.
    pub fn is_actor_start(&self, actor_id: &str) -> bool {
        matches!(self, RunnerEvent::ActorStart { actor_id: id, .. } if id == actor_id)
    }

    /// Whether this is `actor_stop` of `actor_id`.
    pub fn is_actor_stop(&self, actor_id: &str) -> bool {
        matches!(self, RunnerEvent::ActorStop { actor_id: id, .. } if id == actor_id)
    }
}

/// The stdout event log shared with the reader thread.
#[derive(Debug, Default)]
struct EventLog {
    /// Every event so far, with whether a `wait_for` already returned it.
    events: Vec<(RunnerEvent, bool)>,
    /// Set when stdout closed (the process exited or closed it).
    closed: bool,
}

/// Configures and spawns a [`RunnerProcess`].
#[derive(Debug, Clone)]
pub struct RunnerBuilder {
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(String, String)>,
    stderr_log: Option<PathBuf>,
}

impl RunnerBuilder {
    /// Adds a command-line argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Sets an environment variable (later calls win), e.g.
    /// `RIVET_PROTOCOL_VERSION`.
    pub fn env(mut self, name: &str, value: impl ToString) -> Self {
        self.envs.retain(|(n, _)| n != name);
        self.envs.push((name.to_owned(), value.to_string()));
        self
    }

    /// `RIVET_RUNNER_NAME`.
    pub fn runner_name(self, name: &str) -> Self {
        self.env("RIVET_RUNNER_NAME", name)
    }

    /// `RIVET_RUNNER_KEY` (default: random per process, chosen by the runner).
    pub fn runner_key(self, key: &str) -> Self {
        self.env("RIVET_RUNNER_KEY", key)
    }

    /// `RIVET_TOTAL_SLOTS`.
    pub fn total_slots(self, slots: u32) -> Self {
        self.env("RIVET_TOTAL_SLOTS", slots)
    }

    /// `RIVET_PROTOCOL_VERSION`.
    pub fn protocol_version(self, version: u16) -> Self {
        self.env("RIVET_PROTOCOL_VERSION", version)
    }

    /// Where stderr goes (appended). Default: `runner-<n>.stderr.log` in the
    /// engine's data directory, so it is kept with the engine log when a
    /// test fails.
    pub fn stderr_log(mut self, path: impl Into<PathBuf>) -> Self {
        self.stderr_log = Some(path.into());
        self
    }

    /// Spawns the runner against `engine` (`RIVET_ENDPOINT` = its endpoint,
    /// namespace `default`, token `dev`, unless set with [`env`](Self::env)).
    pub fn spawn(self, engine: &Engine) -> Result<RunnerProcess> {
        let log_dir = engine.data_dir().to_path_buf();
        self.spawn_at(&engine.endpoint(), &log_dir)
    }

    /// Spawns the runner against the engine at `endpoint`; stderr logs
    /// default to `target/tmp/runner-logs/`.
    pub fn spawn_with_endpoint(self, endpoint: &str) -> Result<RunnerProcess> {
        let log_dir = target_dir().join("tmp").join("runner-logs");
        self.spawn_at(endpoint, &log_dir)
    }

    fn spawn_at(self, endpoint: &str, log_dir: &Path) -> Result<RunnerProcess> {
        let stderr_path = match self.stderr_log {
            Some(path) => path,
            None => default_stderr_log(log_dir)?,
        };
        let stderr = proc::append_log(&stderr_path)
            .with_context(|| format!("cannot open {}", stderr_path.display()))?;
        let mut spec = Spec::new(&self.program);
        spec.args = self.args;
        spec.envs = contract_env(endpoint, self.envs);
        spec.stdout = Stdio::piped();
        spec.stderr = Stdio::from(stderr);
        let mut child = proc::spawn(spec)
            .with_context(|| format!("cannot start runner {}", self.program.display()))?;
        let stdout = child.stdout.take().context("runner stdout was not piped")?;
        let (log, changed) = start_reader(stdout, &self.program)?;
        Ok(RunnerProcess {
            program: self.program,
            child: Some(child),
            stderr_path,
            log,
            changed,
        })
    }
}

/// The `RIVET_*` variables for `endpoint`, overridden by `extra`.
/// The runner's log filter unless the tests' own `RUST_LOG` says otherwise.
const ACTOR_LOG: &str = "info,runner_core::runner::actors=debug";

fn contract_env(endpoint: &str, extra: Vec<(String, String)>) -> Vec<(OsString, OsString)> {
    let mut envs: Vec<(String, String)> = vec![
        ("RIVET_ENDPOINT".into(), endpoint.into()),
        ("RIVET_TOKEN".into(), "dev".into()),
        ("RIVET_NAMESPACE".into(), "default".into()),
        // Each start and stop with its reason, for `actor_story`.
        (
            "RUST_LOG".into(),
            std::env::var("RUST_LOG").unwrap_or_else(|_| ACTOR_LOG.into()),
        ),
    ];
    envs.retain(|(name, _)| !extra.iter().any(|(n, _)| n == name));
    envs.extend(extra);
    envs.into_iter()
        .map(|(n, v)| (n.into(), v.into()))
        .collect()
}

/// A fresh `runner-<n>.stderr.log` path in `dir`.
fn default_stderr_log(dir: &Path) -> Result<PathBuf> {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Ok(dir.join(format!("runner-{}-{n}.stderr.log", std::process::id())))
}

/// Reads stdout lines on a thread (runtime-independent) into the log,
/// bumping a watch counter on each change.
fn start_reader(
    stdout: ChildStdout,
    program: &Path,
) -> Result<(Arc<Mutex<EventLog>>, watch::Receiver<u64>)> {
    let log = Arc::new(Mutex::new(EventLog::default()));
    let (tx, rx) = watch::channel(0u64);
    let thread_log = log.clone();
    let name = format!("stdout of {}", program.display());
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.trim().is_empty() {
                    continue;
                }
                lock(&thread_log)
                    .events
                    .push((RunnerEvent::parse(&line), false));
                tx.send_modify(|n| *n += 1);
            }
            lock(&thread_log).closed = true;
            tx.send_modify(|n| *n += 1);
        })
        .context("cannot start the runner stdout reader")?;
    Ok((log, rx))
}

fn lock(log: &Mutex<EventLog>) -> std::sync::MutexGuard<'_, EventLog> {
    log.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running runner program; killed (SIGKILL) on drop.
#[derive(Debug)]
pub struct RunnerProcess {
    program: PathBuf,
    child: Option<Child>,
    stderr_path: PathBuf,
    log: Arc<Mutex<EventLog>>,
    changed: watch::Receiver<u64>,
}

impl RunnerProcess {
    /// Starts configuring a runner that runs `program`.
    pub fn builder(program: impl Into<PathBuf>) -> RunnerBuilder {
        RunnerBuilder {
            program: program.into(),
            args: Vec::new(),
            envs: Vec::new(),
            stderr_log: None,
        }
    }

    /// The pid, while the process has not been reaped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The stderr log file.
    pub fn stderr_path(&self) -> &Path {
        &self.stderr_path
    }

    /// What the runner said about one actor: its `actor_start`/`actor_stop`
    /// lines and the stderr lines that name it (at most 50), for the message
    /// of a failing test: the runner's log goes with the engine's data dir.
    pub fn actor_story(&self, actor_id: &str) -> String {
        let mut story: Vec<String> = self
            .events()
            .into_iter()
            .filter(|e| e.is_actor_start(actor_id) || e.is_actor_stop(actor_id))
            .map(|e| format!("stdout: {e:?}"))
            .collect();
        let log = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let lines = log.lines().filter(|l| l.contains(actor_id));
        story.extend(lines.take(50).map(|l| format!("stderr: {l}")));
        story.join("\n")
    }

    /// Every event printed so far, in order.
    pub fn events(&self) -> Vec<RunnerEvent> {
        lock(&self.log)
            .events
            .iter()
            .map(|(event, _)| event.clone())
            .collect()
    }

    /// Waits for the first event matching `pred` that no earlier `wait_for`
    /// returned, looking at events printed before the call too, and marks it
    /// returned. So two waits for "an actor_start of A" return A's first and
    /// second start, whatever else came in between.
    ///
    /// Fails on timeout, when stdout closes first, or when the runner prints
    /// a line that is not a contract event; the error lists the events seen
    /// and the tail of stderr.
    pub async fn wait_for(
        &mut self,
        mut pred: impl FnMut(&RunnerEvent) -> bool,
        timeout: Duration,
    ) -> Result<RunnerEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            self.changed.borrow_and_update();
            if let Some(found) = self.take_match(&mut pred)? {
                return Ok(found);
            }
            let wait = tokio::time::timeout_at(deadline, self.changed.changed()).await;
            if wait.is_err() {
                return Err(self.failure(&format!("no matching event within {timeout:?}")));
            }
        }
    }

    /// Takes the first unreturned match; errors on invalid lines or EOF.
    fn take_match(
        &self,
        pred: &mut impl FnMut(&RunnerEvent) -> bool,
    ) -> Result<Option<RunnerEvent>> {
        let mut log = lock(&self.log);
        if let Some((RunnerEvent::Invalid { line, error }, _)) = log
            .events
            .iter()
            .find(|(event, _)| matches!(event, RunnerEvent::Invalid { .. }))
        {
            let what = format!("printed a non-event line on stdout: {line:?} ({error})");
            drop(log);
            return Err(self.failure(&what));
        }
        if let Some((event, taken)) = log
            .events
            .iter_mut()
            .find(|(event, taken)| !*taken && pred(event))
        {
            *taken = true;
            return Ok(Some(event.clone()));
        }
        if log.closed {
            drop(log);
            return Err(self.failure("closed stdout (exited?) before a matching event"));
        }
        Ok(None)
    }

    /// An error naming the program, the events so far and stderr's tail.
    fn failure(&self, what: &str) -> anyhow::Error {
        let events: Vec<String> = self.events().iter().map(|e| format!("{e:?}")).collect();
        anyhow!(
            "runner {} {what}\nevents so far: [{}]\nlast lines of {}:\n{}",
            self.program.display(),
            events.join(", "),
            self.stderr_path.display(),
            proc::tail_lines(&self.stderr_path, STDERR_TAIL_LINES)
        )
    }

    /// Waits for `connected`; returns the runner id.
    pub async fn wait_connected(&mut self, timeout: Duration) -> Result<String> {
        match self.wait_for(RunnerEvent::is_connected, timeout).await? {
            RunnerEvent::Connected { runner_id } => Ok(runner_id),
            other => bail!("unexpected event {other:?}"),
        }
    }

    /// Waits for the next `actor_start` of `actor_id`; returns its generation.
    pub async fn wait_actor_start(&mut self, actor_id: &str, timeout: Duration) -> Result<u32> {
        match self
            .wait_for(|e| e.is_actor_start(actor_id), timeout)
            .await?
        {
            RunnerEvent::ActorStart { generation, .. } => Ok(generation),
            other => bail!("unexpected event {other:?}"),
        }
    }

    /// Waits for the next `actor_stop` of `actor_id`; returns its generation.
    pub async fn wait_actor_stop(&mut self, actor_id: &str, timeout: Duration) -> Result<u32> {
        match self
            .wait_for(|e| e.is_actor_stop(actor_id), timeout)
            .await?
        {
            RunnerEvent::ActorStop { generation, .. } => Ok(generation),
            other => bail!("unexpected event {other:?}"),
        }
    }

    /// Waits for `shutdown`.
    pub async fn wait_shutdown(&mut self, timeout: Duration) -> Result<()> {
        self.wait_for(RunnerEvent::is_shutdown, timeout)
            .await
            .map(drop)
    }

    /// Sends SIGTERM (graceful shutdown). Returns whether it was sent (false
    /// if the process had already exited).
    pub fn sigterm(&mut self) -> Result<bool> {
        self.signal(Sig::Term)
    }

    /// Sends SIGINT (graceful shutdown, like SIGTERM).
    pub fn sigint(&mut self) -> Result<bool> {
        self.signal(Sig::Int)
    }

    fn signal(&mut self, sig: Sig) -> Result<bool> {
        let child = self.child.as_mut().context("runner already reaped")?;
        Ok(proc::signal(child, sig)?)
    }

    /// SIGKILLs the runner (a crash) and reaps it.
    pub fn kill(&mut self) -> Result<ExitStatus> {
        let child = self.child.as_mut().context("runner already reaped")?;
        Ok(proc::kill_and_reap(child)?)
    }

    /// Waits until the process exits; fails (leaving it running) after
    /// `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let child = self.child.as_mut().context("runner already reaped")?;
        match proc::wait_timeout(child, timeout).await? {
            Some(status) => Ok(status),
            None => Err(self.failure(&format!("did not exit within {timeout:?}"))),
        }
    }
}

impl Drop for RunnerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = proc::kill_and_reap(&mut child);
        }
    }
}

/// Cargo profile of a built example.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `target/debug`.
    Debug,
    /// `target/release` (`--release`).
    Release,
}

/// Builds `example` of `package` (`cargo build -p PACKAGE --example
/// EXAMPLE`) and returns the path of that package's binary.
///
/// Cargo writes each example to `examples/<example>-<hash>` and hard-links
/// it to `examples/<example>`, which a same-named example of another package
/// (`test_runner` of both drivers) overwrites when built. So the path
/// returned is the hashed file that shares the inode of the link right after
/// this build; it stays this package's binary until the package is rebuilt.
/// Builds are serialised within the process.
pub fn build_example(package: &str, example: &str, profile: Profile) -> Result<PathBuf> {
    static BUILD: Mutex<()> = Mutex::new(());
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "--message-format=json-render-diagnostics"])
        .args(["-p", package, "--example", example])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    let output = cmd.output().context("cannot run cargo build")?;
    if !output.status.success() {
        bail!(
            "cargo build -p {package} --example {example} failed ({})",
            output.status
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let uplifted = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|msg| example_executable(&msg, package, example))
        .with_context(|| format!("cargo reported no binary for {package}'s example {example}"))?;
    Ok(hashed_twin(&uplifted).unwrap_or(uplifted))
}

/// The `executable` of a `compiler-artifact` message for `package`'s
/// `example`.
fn example_executable(msg: &serde_json::Value, package: &str, example: &str) -> Option<PathBuf> {
    let is_example = msg["reason"] == "compiler-artifact"
        && msg["target"]["name"] == example
        && msg["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "example"));
    let id = msg["package_id"].as_str().unwrap_or_default();
    if !is_example || package_name(id) != Some(package) {
        return None;
    }
    msg["executable"].as_str().map(PathBuf::from)
}

/// The package name in a cargo package id: `path+file:///…/dir#name@1.0`,
/// `path+file:///…/name#1.0`, or the older `name 1.0 (source)`.
fn package_name(id: &str) -> Option<&str> {
    match id.rsplit_once('#') {
        Some((path, fragment)) => match fragment.split_once('@') {
            Some((name, _version)) => Some(name),
            None => path.rsplit('/').next(),
        },
        None => id.split(' ').next(),
    }
}

/// The `<name>-<hash>` file next to `uplifted` that is the same file (hard
/// link), if any.
fn hashed_twin(uplifted: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let target = std::fs::metadata(uplifted).ok()?;
    let prefix = format!("{}-", uplifted.file_name()?.to_str()?);
    std::fs::read_dir(uplifted.parent()?)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .map(|entry| entry.path())
        .find(|path| {
            std::fs::metadata(path)
                .is_ok_and(|m| m.ino() == target.ino() && m.dev() == target.dev())
        })
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn parses_contract_events() {
        assert_eq!(
            RunnerEvent::parse(r#"{"event":"connected","runnerId":"r1"}"#),
            RunnerEvent::Connected {
                runner_id: "r1".into()
            }
        );
        assert_eq!(
            RunnerEvent::parse(
                r#"{"event":"actor_start","actorId":"a","generation":2,"name":"n","key":null}"#
            ),
            RunnerEvent::ActorStart {
                actor_id: "a".into(),
                generation: 2,
                name: "n".into(),
                key: None
            }
        );
        assert_eq!(
            RunnerEvent::parse(r#"{"event":"actor_stop","actorId":"a","generation":0}"#),
            RunnerEvent::ActorStop {
                actor_id: "a".into(),
                generation: 0
            }
        );
        assert_eq!(
            RunnerEvent::parse(r#"{"event":"disconnected","code":1000,"reason":"bye"}"#),
            RunnerEvent::Disconnected {
                code: Some(1000),
                reason: "bye".into()
            }
        );
        assert_eq!(
            RunnerEvent::parse(r#"{"event":"shutdown"}"#),
            RunnerEvent::Shutdown
        );
        assert!(matches!(
            RunnerEvent::parse("hello"),
            RunnerEvent::Invalid { .. }
        ));
        assert!(matches!(
            RunnerEvent::parse(r#"{"event":"bogus"}"#),
            RunnerEvent::Invalid { .. }
        ));
    }

    /// A stand-in runner (a shell script) exercising the process plumbing:
    /// events out of order, env vars, SIGTERM handling, exit status.
    const FAKE_RUNNER: &str = r#"
        trap 'echo "{\"event\":\"shutdown\"}"; exit 0' TERM
        echo "fake runner log line" >&2
        echo "{\"event\":\"connected\",\"runnerId\":\"$RIVET_RUNNER_NAME@$RIVET_ENDPOINT\"}"
        echo '{"event":"actor_start","actorId":"b","generation":0,"name":"n","key":"k"}'
        echo '{"event":"actor_start","actorId":"a","generation":0,"name":"n","key":null}'
        echo '{"event":"actor_start","actorId":"a","generation":1,"name":"n","key":null}'
        while true; do sleep 0.05; done
    "#;

    fn fake_runner(script: &str, log: &Path) -> RunnerBuilder {
        RunnerProcess::builder("/bin/sh")
            .arg("-c")
            .arg(script)
            .runner_name("fake")
            .stderr_log(log)
    }

    #[tokio::test]
    async fn waits_signals_and_exit() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stderr.log");
        let mut runner = fake_runner(FAKE_RUNNER, &log)
            .spawn_with_endpoint("http://127.0.0.1:1")
            .unwrap();
        let t = Duration::from_secs(10);
        let id = runner.wait_connected(t).await.unwrap();
        assert_eq!(id, "fake@http://127.0.0.1:1");
        // Two waits for `a` return its two starts; `b`, printed first, is
        // still there afterwards.
        assert_eq!(runner.wait_actor_start("a", t).await.unwrap(), 0);
        assert_eq!(runner.wait_actor_start("a", t).await.unwrap(), 1);
        assert_eq!(runner.wait_actor_start("b", t).await.unwrap(), 0);
        assert!(runner.sigterm().unwrap());
        runner.wait_shutdown(t).await.unwrap();
        assert!(runner.wait_exit(t).await.unwrap().success());
        assert_eq!(runner.events().len(), 5);
        assert!(
            std::fs::read_to_string(&log)
                .unwrap()
                .contains("fake runner log line")
        );
    }

    #[tokio::test]
    async fn wait_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stderr.log");
        let script = "echo 'to stderr' >&2; echo '{\"event\":\"connected\",\"runnerId\":\"r\"}'; exec sleep 30";
        let mut runner = fake_runner(script, &log)
            .spawn_with_endpoint("http://127.0.0.1:1")
            .unwrap();
        let err = runner
            .wait_actor_stop("x", Duration::from_millis(300))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("no matching event"), "{err}");
        assert!(err.contains("Connected"), "{err}");
        assert!(err.contains("to stderr"), "{err}");
        let status = runner.kill().unwrap();
        assert!(!status.success());

        let script = "echo 'not json'; exec sleep 30";
        let mut runner = fake_runner(script, &log)
            .spawn_with_endpoint("http://127.0.0.1:1")
            .unwrap();
        let err = runner
            .wait_connected(Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("non-event line"), "{err}");

        let mut runner = fake_runner("exit 3", &log)
            .spawn_with_endpoint("http://127.0.0.1:1")
            .unwrap();
        let err = runner
            .wait_connected(Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("closed stdout"), "{err}");
        assert_eq!(
            runner
                .wait_exit(Duration::from_secs(10))
                .await
                .unwrap()
                .code(),
            Some(3)
        );
    }

    #[test]
    fn package_names_from_ids() {
        let ids = [
            "path+file:///work/runner-tokio#0.1.0",
            "path+file:///work/some-dir#runner-tokio@0.1.0",
            "runner-tokio 0.1.0 (path+file:///work/runner-tokio)",
        ];
        for id in ids {
            assert_eq!(package_name(id), Some("runner-tokio"), "{id}");
        }
    }

    #[test]
    fn finds_the_hashed_twin_of_an_example() {
        let dir = tempfile::tempdir().unwrap();
        let hashed = dir.path().join("test_runner-1111");
        std::fs::write(&hashed, "a").unwrap();
        std::fs::write(dir.path().join("test_runner-2222"), "b").unwrap();
        std::fs::write(dir.path().join("test_runner-1111.d"), "deps").unwrap();
        let uplifted = dir.path().join("test_runner");
        std::fs::hard_link(&hashed, &uplifted).unwrap();
        assert_eq!(hashed_twin(&uplifted), Some(hashed));

        let msg = serde_json::json!({
            "reason": "compiler-artifact",
            "package_id": "path+file:///w/runner-a#0.1.0",
            "target": {"name": "test_runner", "kind": ["example"]},
            "executable": uplifted,
        });
        assert_eq!(
            example_executable(&msg, "runner-a", "test_runner"),
            Some(uplifted.clone())
        );
        assert_eq!(example_executable(&msg, "runner-b", "test_runner"), None);
    }

    #[test]
    fn contract_env_defaults_and_overrides() {
        let env = contract_env(
            "http://127.0.0.1:7420",
            vec![("RIVET_TOKEN".into(), "other".into())],
        );
        let get = |name: &str| {
            env.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        assert_eq!(
            get("RIVET_ENDPOINT").as_deref(),
            Some("http://127.0.0.1:7420")
        );
        assert_eq!(get("RIVET_TOKEN").as_deref(), Some("other"));
        assert_eq!(get("RIVET_NAMESPACE").as_deref(), Some("default"));
    }
}
