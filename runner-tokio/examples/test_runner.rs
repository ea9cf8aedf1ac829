//! The test runner of `shared/spec/test-runner.md` on tokio. The app is
//! written once, runtime-generic, in `tests::test_runner_app`; this is only
//! its `main`.
//!
//!     RIVET_ENDPOINT=http://127.0.0.1:6420 cargo run -p runner-tokio --example test_runner
//!
//! Logs go to stderr (`RUST_LOG` filters them, default `info`); stdout
//! carries only the contract's JSON lines.
//!
//! The runtime has `RIVET_WORKER_THREADS` executor threads: by default a
//! current-thread runtime, as every handler runs on the runner's event
//! loop — one task, which a second worker thread would only wake and
//! steal back and forth (see the README's "Which runtime flavour").

use std::process::ExitCode;

fn main() -> ExitCode {
    let threads = tests::test_runner_app::worker_threads();
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    match builder.enable_all().build() {
        Ok(runtime) => runtime.block_on(tests::test_runner_app::main(runner_tokio::Tokio)),
        Err(err) => {
            eprintln!("cannot start the tokio runtime: {err}");
            ExitCode::FAILURE
        }
    }
}
