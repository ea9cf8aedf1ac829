//! The benchmark harness itself, kept honest: the load engine of
//! `tests::load` drives each runner compared by `load_compare` (ours on both
//! drivers, and the TypeScript runner `@rivetkit/engine-runner@2.0.33`)
//! through every mode for a second, and every operation must succeed.
//!
//! Throughput is not asserted here (speed targets live in the benchmarks,
//! `cargo run --release -p tests --bin load_compare`); what is asserted is
//! that the load engine speaks the protocol well enough for every runner to
//! answer it correctly, so the figures it prints are of real work.
//!
//! Our runners run as debug builds (the ones the e2e suites build); the
//! TypeScript runner is installed with `npm ci` in `tests/ts-runner` on first
//! use: without Node and npm this test fails, it is never skipped.

use std::time::Duration;

use tests::load::{Mode, RunnerSpec, SessionPlan, SessionReport, Traffic, run_session, targets};
use tests::runner_process::Profile;

const ACTORS: usize = 4;

fn plan() -> SessionPlan {
    SessionPlan {
        actors: ACTORS,
        modes: Mode::ALL.to_vec(),
        traffic: Traffic {
            in_flight: 8,
            body_bytes: 4096,
            ws_bytes: 64,
        },
        warmup: Duration::from_millis(300),
        measure: Duration::from_secs(1),
        start_timeout: Duration::from_secs(60),
        start_window: 0,
        pin: None,
    }
}

fn ours(label: &str, package: &str) -> RunnerSpec {
    targets::ours(label, package, Profile::Debug)
        .unwrap_or_else(|err| panic!("cannot build {package}'s test_runner: {err:#}"))
}

/// Every mode ran, answered every operation it sent correctly, and the
/// runner started every actor and exited cleanly on SIGTERM.
fn check(report: &SessionReport) {
    let label = &report.label;
    assert_eq!(report.start.actors, ACTORS, "{label}: actors started");
    for mode in Mode::ALL {
        let m = report
            .mode(mode)
            .unwrap_or_else(|| panic!("{label}: no {mode} measurement"));
        assert!(m.ops > 0, "{label}: no {mode} operation completed");
        assert_eq!(m.errors, 0, "{label}: {mode} operations failed");
    }
    assert!(report.clean_exit, "{label}: no clean exit on SIGTERM");
}

async fn session(spec: RunnerSpec) {
    let report = run_session(&spec, &plan())
        .await
        .unwrap_or_else(|err| panic!("{}: {err:#}", spec.label));
    check(&report);
}

#[tokio::test]
async fn load_engine_drives_the_tokio_runner() {
    session(ours("tokio", "runner-tokio")).await;
}

#[tokio::test]
async fn load_engine_drives_the_async_std_runner() {
    session(ours("async-std", "runner-async-std")).await;
}

#[tokio::test]
async fn load_engine_drives_the_typescript_runner() {
    let spec = targets::spec("ts", None).unwrap_or_else(|err| {
        panic!("the TypeScript runner is needed (Node.js and npm on PATH): {err:#}")
    });
    session(spec).await;
}

/// `--help` prints every option the parser takes and exits 0; an unknown
/// option fails and points at `--help`.
#[test]
fn the_load_binaries_list_their_options() {
    let cases = [
        (
            env!("CARGO_BIN_EXE_load_compare"),
            &["--scale", "--real", "--pin", "--out"][..],
        ),
        (
            env!("CARGO_BIN_EXE_load_engine"),
            &["--runner", "--start-window", "--pin"][..],
        ),
    ];
    for (binary, options) in cases {
        let help = std::process::Command::new(binary)
            .arg("--help")
            .output()
            .unwrap();
        assert!(help.status.success(), "{binary} --help: {help:?}");
        let text = String::from_utf8_lossy(&help.stdout);
        for option in options {
            assert!(
                text.contains(option),
                "{binary} --help lacks {option}:\n{text}"
            );
        }
        let wrong = std::process::Command::new(binary)
            .arg("--bogus")
            .arg("1")
            .output()
            .unwrap();
        assert!(!wrong.status.success());
        assert!(String::from_utf8_lossy(&wrong.stderr).contains("see --help"));
    }
}
