//! The runner programs compared: our `test_runner` examples (release
//! builds) and the TypeScript runner's `tests/ts-runner/test_runner.mjs`
//! (`@rivetkit/engine-runner@2.0.33`, installed with `npm ci` on first use).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::RunnerSpec;
use crate::engine::workspace_root;
use crate::runner_process::{Profile, build_example};

/// The pinned TypeScript runner version (`tests/ts-runner/package.json`).
pub const TS_RUNNER_VERSION: &str = "2.0.33";

/// Labels of every runner [`spec`] knows.
pub const ALL: [&str; 3] = ["tokio", "async-std", "ts"];

/// The runner called `label` (`tokio`, `async-std`, `ts`), built or
/// installed. Ours speak protocol v5 here, as the TypeScript runner does,
/// and log warnings only (the TypeScript runner logs nothing).
/// Our runners are built with cargo (release) unless `LOAD_TOKIO_BIN` or
/// `LOAD_ASYNC_STD_BIN` names a binary. `node_heap_mb` sets the TypeScript runner's `--max-old-space-size`.
pub fn spec(label: &str, node_heap_mb: Option<u64>) -> Result<RunnerSpec> {
    let built = |package: &str| -> Result<RunnerSpec> {
        // `LOAD_TOKIO_BIN` / `LOAD_ASYNC_STD_BIN`: an already built binary
        // (no cargo build, e.g. to compare two builds).
        let var = format!("LOAD_{}_BIN", label.to_uppercase().replace('-', "_"));
        match std::env::var_os(&var) {
            Some(path) => Ok(ours_at(label, PathBuf::from(path))),
            None => ours(label, package, Profile::Release),
        }
    };
    match label {
        "tokio" => built("runner-tokio"),
        "async-std" => built("runner-async-std"),
        "ts" => {
            let script = install_ts_runner()?;
            let mut args = Vec::new();
            if let Some(mb) = node_heap_mb {
                args.push(format!("--max-old-space-size={mb}").into());
            }
            args.push(script.into());
            Ok(RunnerSpec {
                label: label.to_owned(),
                program: "node".into(),
                args,
                env: Vec::new(),
            })
        }
        other => bail!("unknown runner {other:?} (one of tokio, async-std, ts)"),
    }
}

/// Our `test_runner` example of `package`, built with `profile`, labelled
/// `label`.
pub fn ours(label: &str, package: &str, profile: Profile) -> Result<RunnerSpec> {
    let program = build_example(package, "test_runner", profile)?;
    Ok(ours_at(label, program))
}

/// Our runner at `program`: protocol v5, as the TypeScript runner speaks,
/// warnings only in its log (the TypeScript runner logs nothing), and an
/// actor limit above the largest scale session.
fn ours_at(label: &str, program: PathBuf) -> RunnerSpec {
    RunnerSpec {
        label: label.to_owned(),
        program,
        args: Vec::new(),
        env: vec![
            ("RIVET_PROTOCOL_VERSION".into(), "5".into()),
            ("RUST_LOG".into(), "warn".into()),
            // Past the core's default limit (200 000): `--scale 1000000`.
            ("RIVET_MAX_ACTORS".into(), "2000000".into()),
        ],
    }
}

/// `tests/ts-runner/test_runner.mjs`, after `npm ci` there if its
/// `node_modules` does not hold the pinned runner.
pub fn install_ts_runner() -> Result<PathBuf> {
    let dir = workspace_root().join("tests").join("ts-runner");
    let installed = dir
        .join("node_modules/@rivetkit/engine-runner/package.json")
        .to_path_buf();
    let current = std::fs::read_to_string(&installed)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|json| json["version"] == TS_RUNNER_VERSION);
    if !current {
        eprintln!("load: npm ci in {}", dir.display());
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .context("cannot run npm (is Node.js installed?)")?;
        if !status.success() {
            bail!("npm ci in {} failed ({status})", dir.display());
        }
    }
    Ok(dir.join("test_runner.mjs"))
}
