//! `run()` outliving the runtime its event loop was spawned on: the runtime
//! shuts down (dropping the loop's task) while the `run` future is still
//! awaited elsewhere. The runner ends with a reason rather than a panic.

use runner_tokio::{Handler, ShutdownReason};

struct Idle;
impl Handler for Idle {}

#[test]
fn a_runtime_dropping_the_loop_task_ends_the_runner_with_a_reason() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    // Nothing listens on port 9: the loop keeps retrying, it never ends
    // by itself.
    let runner = runner_tokio::builder()
        .endpoint("http://127.0.0.1:9")
        .runner_name("r")
        .handle_signals(false)
        .build(Idle)
        .expect("a valid configuration");
    let mut run = Box::pin(runner.run());
    // First poll inside the runtime: the event loop task is spawned on it.
    let first = runtime.block_on(async { futures::poll!(run.as_mut()) });
    assert!(first.is_pending());
    // Shutting the runtime down drops the loop's task unfinished.
    drop(runtime);
    let reason = futures::executor::block_on(run);
    match reason {
        ShutdownReason::Fatal(why) => assert!(why.contains("dropped"), "{why}"),
        other => panic!("expected a fatal reason, got {other:?}"),
    }
}
