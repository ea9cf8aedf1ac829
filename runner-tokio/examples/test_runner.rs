//! The test runner of `shared/spec/test-runner.md` on tokio. The app is
//! written once, runtime-generic, in `tests::test_runner_app`; this is only
//! its `main`.
//!
//!     RIVET_ENDPOINT=http://127.0.0.1:6420 cargo run -p runner-tokio --example test_runner
//!
//! Logs go to stderr (`RUST_LOG` filters them, default `info`); stdout
//! carries only the contract's JSON lines.
//!
//! The runtime: tokio's multi-thread one, as `#[tokio::main]` builds it;
//! `RIVET_WORKER_THREADS=1` makes it a current-thread runtime, `N` gives it
//! N workers. The README's "Which runtime flavour" says when each costs
//! less (one thread under load, the multi-thread runtime against a peer
//! that sends one message at a time).

use std::process::ExitCode;

use tests::test_runner_app::RuntimeSettings;

fn main() -> ExitCode {
    let mut builder = match RuntimeSettings::from_env().worker_threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(threads) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads);
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    match builder.enable_all().build() {
        Ok(runtime) => runtime.block_on(tests::test_runner_app::main(runner_tokio::Tokio)),
        Err(err) => {
            eprintln!("cannot start the tokio runtime: {err}");
            ExitCode::FAILURE
        }
    }
}
