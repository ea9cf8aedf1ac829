//! Child-process plumbing shared by [`Engine`](super::Engine) and
//! [`RunnerProcess`](crate::runner_process::RunnerProcess).
//!
//! Three rules keep tests from harming anything but their own children:
//!
//! * A signal is only sent to a child that has **not been reaped yet**: until
//!   we `wait` for it, its pid cannot be reused by another process, so a
//!   signal "by pid" can never hit a stranger.
//! * Children are spawned with a parent-death signal (`setpriv --pdeathsig
//!   KILL`, util-linux) when `setpriv` is available, so an engine or runner
//!   does not outlive a test binary that was killed or that leaked its handle
//!   (a `static` is never dropped). The kernel sends that signal when the
//!   *thread* that forked the child exits, so every spawn goes through one
//!   dedicated thread that lives as long as the process.
//! * Output goes to files, never to pipes nobody reads, so a chatty child can
//!   not block on a full pipe.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// What to run; turned into a [`Command`] on the spawner thread.
#[derive(Debug)]
pub(crate) struct Spec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub envs: Vec<(OsString, OsString)>,
    pub stdout: Stdio,
    pub stderr: Stdio,
}

impl Spec {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Spec {
            program: program.into(),
            args: Vec::new(),
            envs: Vec::new(),
            stdout: Stdio::null(),
            stderr: Stdio::null(),
        }
    }
}

/// A signal we are willing to send to our own children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sig {
    Term,
    Int,
    Kill,
}

type SpawnJob = (Spec, mpsc::Sender<io::Result<Child>>);

/// Spawns `spec` with stdin closed, from the long-lived spawner thread.
pub(crate) fn spawn(spec: Spec) -> io::Result<Child> {
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner()
        .lock()
        .map_err(|_| io::Error::other("spawner lock poisoned"))?
        .send((spec, reply_tx))
        .map_err(|_| io::Error::other("spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("spawner thread dropped the request"))?
}

/// The channel to the spawner thread, started on first use. The sender is
/// kept in a `static`, so the thread's `recv` never fails and the thread
/// never exits: that is what makes the parent-death signal safe to use.
fn spawner() -> &'static Mutex<mpsc::Sender<SpawnJob>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("test-child-spawner".into())
            .spawn(move || {
                for (spec, reply) in rx {
                    let _ = reply.send(build_command(spec).spawn());
                }
            })
            .expect("cannot start the child spawner thread");
        Mutex::new(tx)
    })
}

fn build_command(spec: Spec) -> Command {
    let mut cmd = match setpriv() {
        Some(setpriv) => {
            let mut cmd = Command::new(setpriv);
            cmd.args(["--pdeathsig", "KILL", "--"]).arg(&spec.program);
            cmd
        }
        None => Command::new(&spec.program),
    };
    cmd.args(&spec.args)
        .envs(spec.envs)
        .stdin(Stdio::null())
        .stdout(spec.stdout)
        .stderr(spec.stderr);
    cmd
}

/// `setpriv` if it is installed and understands `--pdeathsig`.
fn setpriv() -> Option<&'static Path> {
    static SETPRIV: OnceLock<Option<PathBuf>> = OnceLock::new();
    SETPRIV
        .get_or_init(|| {
            ["/usr/bin/setpriv", "/bin/setpriv"]
                .into_iter()
                .map(PathBuf::from)
                .find(|path| {
                    Command::new(path)
                        .args(["--pdeathsig", "KILL", "--", "true"])
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|status| status.success())
                })
        })
        .as_deref()
}

/// Sends `sig` to `child` unless it has already exited. Returns whether the
/// signal was sent.
pub(crate) fn signal(child: &mut Child, sig: Sig) -> io::Result<bool> {
    // `try_wait` reaps an exited child; afterwards its pid may belong to
    // someone else, so we must not signal it any more.
    if child.try_wait()?.is_some() {
        return Ok(false);
    }
    let pid = rustix::process::Pid::from_child(child);
    let sig = match sig {
        Sig::Term => rustix::process::Signal::TERM,
        Sig::Int => rustix::process::Signal::INT,
        Sig::Kill => rustix::process::Signal::KILL,
    };
    rustix::process::kill_process(pid, sig)?;
    Ok(true)
}

/// Waits (without blocking the async runtime) until `child` exits or
/// `timeout` passes. `Ok(None)` means it is still running.
pub(crate) async fn wait_timeout(
    child: &mut Child,
    timeout: Duration,
) -> io::Result<Option<ExitStatus>> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SIGKILLs `child` (if still running) and reaps it. Blocking, but only for
/// as long as the kernel needs to tear a killed process down; safe in `Drop`.
pub(crate) fn kill_and_reap(child: &mut Child) -> io::Result<ExitStatus> {
    signal(child, Sig::Kill)?;
    child.wait()
}

/// The last `n` lines of the file at `path` (reads at most the last 256 KiB),
/// or a note saying why there are none.
pub(crate) fn tail_lines(path: &Path, n: usize) -> String {
    const MAX_TAIL_BYTES: u64 = 256 * 1024;
    let read_tail = || -> io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(MAX_TAIL_BYTES)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read_tail() {
        Ok(text) if text.trim().is_empty() => format!("({} is empty)", path.display()),
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(err) => format!("(cannot read {}: {err})", path.display()),
    }
}

/// Opens `path` for appending (creating it), for a child's stdout/stderr.
/// Appending keeps the output of every run of a restarted process.
pub(crate) fn append_log(path: &Path) -> io::Result<File> {
    File::options().create(true).append(true).open(path)
}
