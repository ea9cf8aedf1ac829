//! The test runner of `shared/spec/test-runner.md` on async-std: the app is
//! written once, runtime-generic, in `tests::test_runner_app`; this is only
//! its `main`, as `runner-tokio/examples/test_runner.rs` is on tokio.
//!
//!     RIVET_ENDPOINT=http://127.0.0.1:6420 cargo run -p runner-async-std --example test_runner
//!
//! Logs go to stderr (`RUST_LOG` filters them, default `info`); stdout
//! carries only the contract's JSON lines.

use std::process::ExitCode;

#[async_std::main]
async fn main() -> ExitCode {
    tests::test_runner_app::main(runner_async_std::AsyncStd).await
}
