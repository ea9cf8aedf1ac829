//! The test runner of `shared/spec/test-runner.md` on tokio. The app is
//! written once, runtime-generic, in `tests::test_runner_app`; this is only
//! its `main`.
//!
//!     RIVET_ENDPOINT=http://127.0.0.1:6420 cargo run -p runner-tokio --example test_runner
//!
//! Logs go to stderr (`RUST_LOG` filters them, default `info`); stdout
//! carries only the contract's JSON lines.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tests::test_runner_app::main(runner_tokio::Tokio).await
}
