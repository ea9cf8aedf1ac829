//! The test runner of `shared/spec/test-runner.md` on async-std: the app is
//! written once, runtime-generic, in `tests::test_runner_app`; this is only
//! its `main`, as `runner-tokio/examples/test_runner.rs` is on tokio.
//!
//!     RIVET_ENDPOINT=http://127.0.0.1:6420 cargo run -p runner-async-std --example test_runner
//!
//! Logs go to stderr (`RUST_LOG` filters them, default `info`); stdout
//! carries only the contract's JSON lines.
//!
//! async-std's executor gets `RIVET_WORKER_THREADS` threads; unset, one
//! while handlers run on the runner's event loop (the whole runner is then
//! one task, which more executor threads only pass between them: it costs
//! less so under load and against a slow peer alike, see the README's
//! "Which runtime flavour"), the machine's cores with
//! `RIVET_SPAWN_HANDLERS=1`. Set before async-std starts its executor,
//! which then keeps this configuration.

use std::process::ExitCode;

use async_global_executor::GlobalExecutorConfig;
use tests::test_runner_app::RuntimeSettings;

fn main() -> ExitCode {
    let settings = RuntimeSettings::from_env();
    let threads = settings
        .worker_threads
        .unwrap_or_else(|| match settings.spawn_handlers {
            false => 1,
            true => std::thread::available_parallelism().map_or(1, usize::from),
        });
    let config = GlobalExecutorConfig::default()
        .with_min_threads(threads)
        .with_max_threads(threads);
    async_global_executor::init_with_config(config);
    async_std::task::block_on(tests::test_runner_app::main(runner_async_std::AsyncStd))
}
