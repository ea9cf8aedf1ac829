//! Getting the pinned engine binary: from `RIVET_ENGINE_BIN`, from the cache
//! under `target/`, or from the npm registry (`npm pack` + `tar`).
//!
//! `scripts/fetch-engine.sh` does the same for CI and humans; keep the two in
//! step (package, version, cache path).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::proc::tail_lines;

/// Engine version every test runs against.
pub const ENGINE_VERSION: &str = "2.3.19";
/// npm package whose tarball holds `package/rivet-engine`.
pub const ENGINE_NPM_PACKAGE: &str = "@rivetkit/engine-cli-linux-x64-musl";
/// Environment variable naming an engine binary to use instead of the
/// pinned, cached one.
pub const ENGINE_BIN_ENV: &str = "RIVET_ENGINE_BIN";

/// Bound on `npm pack` (a ~40 MB download) so a dead network fails the test
/// instead of hanging it.
const NPM_TIMEOUT: Duration = Duration::from_secs(180);
const TAR_TIMEOUT: Duration = Duration::from_secs(120);

/// The workspace root (the directory holding the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let tests_crate = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests_crate.parent().unwrap_or(tests_crate).to_path_buf()
}

/// The cargo target directory: `$CARGO_TARGET_DIR` (relative to the
/// workspace root if relative) or `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("target"),
    }
}

/// Where the pinned engine binary is cached:
/// `target/rivet-engine/<version>/rivet-engine`.
pub fn cached_engine_path() -> PathBuf {
    target_dir()
        .join("rivet-engine")
        .join(ENGINE_VERSION)
        .join("rivet-engine")
}

/// Returns the engine binary to run, fetching the pinned version once if it
/// is not cached yet.
///
/// `$RIVET_ENGINE_BIN`, when set, wins (and must name an existing file).
/// Otherwise the binary is cached under [`cached_engine_path`]; a missing
/// binary is fetched with `npm pack` into a temporary directory next to the
/// cache, checked (`--version` must name [`ENGINE_VERSION`]) and renamed into
/// place, so concurrent fetches by several test binaries are safe: each
/// rename is atomic and installs an identical, complete file.
///
/// Errors say what failed and how to fix it; callers should let the test
/// fail rather than skip it.
pub fn engine_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(ENGINE_BIN_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("{ENGINE_BIN_ENV}={} is not a file", path.display());
        }
        return Ok(path);
    }
    let dest = cached_engine_path();
    if dest.is_file() {
        return Ok(dest);
    }
    // One fetch per process; other processes are handled by the rename.
    static FETCH: Mutex<()> = Mutex::new(());
    let _guard = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    if !dest.is_file() {
        fetch_into(&dest).with_context(|| {
            format!(
                "cannot get the Rivet engine {ENGINE_VERSION}: fetching {ENGINE_NPM_PACKAGE} \
                 with npm failed (needs `npm` on PATH and access to the npm registry; \
                 or run scripts/fetch-engine.sh, or set {ENGINE_BIN_ENV} to an engine binary)"
            )
        })?;
    }
    Ok(dest)
}

/// Downloads and unpacks the engine, then atomically moves it to `dest`.
fn fetch_into(dest: &Path) -> Result<()> {
    let cache_dir = dest.parent().context("cache path has no parent")?;
    fs::create_dir_all(cache_dir)
        .with_context(|| format!("cannot create {}", cache_dir.display()))?;
    // Same filesystem as `dest`, so the final rename is atomic.
    let work = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(cache_dir)
        .context("cannot create a temporary directory for the download")?;
    let work = work.path();

    let spec = format!("{ENGINE_NPM_PACKAGE}@{ENGINE_VERSION}");
    let mut npm = Command::new("npm");
    npm.args(["pack", &spec, "--loglevel=error"])
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fund", "false");
    run(npm, work, "npm-pack", NPM_TIMEOUT)?;
    let tarball = find_tarball(work)?;

    let mut tar = Command::new("tar");
    tar.arg("xzf").arg(&tarball).arg("-C").arg(work);
    run(tar, work, "tar", TAR_TIMEOUT)?;

    let unpacked = work.join("package").join("rivet-engine");
    if !unpacked.is_file() {
        bail!("{} has no package/rivet-engine", tarball.display());
    }
    fs::set_permissions(&unpacked, fs::Permissions::from_mode(0o755))?;
    check_version(&unpacked)?;
    fs::rename(&unpacked, dest)
        .with_context(|| format!("cannot move {} to {}", unpacked.display(), dest.display()))?;
    Ok(())
}

/// Runs `cmd` in `dir` with its output in `dir/<label>.log`, bounded by
/// `timeout`; a failure carries the tail of that log.
fn run(mut cmd: Command, dir: &Path, label: &str, timeout: Duration) -> Result<()> {
    let log_path = dir.join(format!("{label}.log"));
    let log = fs::File::create(&log_path)?;
    let program = format!("{:?}", cmd.get_program());
    let mut child = cmd
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot run {program} (is it installed and on PATH?)"))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{program} did not finish within {timeout:?}; its output:\n{}",
                tail_lines(&log_path, 20)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !status.success() {
        bail!(
            "{program} failed ({status}); its output:\n{}",
            tail_lines(&log_path, 20)
        );
    }
    Ok(())
}

fn find_tarball(dir: &Path) -> Result<PathBuf> {
    fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| path.extension().is_some_and(|ext| ext == "tgz"))
        .with_context(|| format!("npm pack left no .tgz in {}", dir.display()))
}

/// Guards against a wrong or truncated download before it enters the cache.
fn check_version(binary: &Path) -> Result<()> {
    let output = Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {} --version", binary.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !text.contains(ENGINE_VERSION) {
        bail!(
            "{} --version does not report {ENGINE_VERSION}: {}",
            binary.display(),
            text.trim()
        );
    }
    Ok(())
}
