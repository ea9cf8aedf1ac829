//! `Runner::run` runs the event loop as a task of its own on the runtime
//! (so that it runs on the runtime's workers, not on the thread of
//! `block_on`); these tests hold it to what the future promised before:
//! dropping the `run` future stops the runner and closes its connection.
//!
//! The peer is the load engine of `tests::load`, a real WebSocket server on
//! loopback that speaks the engine's side of the protocol.

use std::time::{Duration, Instant};

use tests::load::LoadEngine;

struct Idle;

impl runner_tokio::Handler for Idle {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_run_future_closes_the_connection() {
    let engine = LoadEngine::bind().await.expect("bind");
    let runner = runner_tokio::builder()
        .endpoint(engine.endpoint())
        .token("dev")
        .runner_name("drop-run")
        .handle_signals(false)
        .build(Idle)
        .expect("valid config");
    let handle = runner.handle();
    let task = tokio::spawn(runner.run());
    let mut conn = engine
        .accept(Duration::from_secs(20))
        .await
        .expect("the runner connects and sends its init");

    // While the future lives, the connection stays up.
    let closed = |c: &tests::load::Conn| c.closed().is_some();
    let early = conn
        .pump(Instant::now() + Duration::from_millis(500), closed)
        .await
        .expect("connection serves");
    assert!(!early, "the connection closed while `run` was alive");
    assert!(handle.is_connected(), "the handle reports the connection");

    task.abort();
    assert!(task.await.is_err_and(|e| e.is_cancelled()));
    let ended = conn
        .pump(Instant::now() + Duration::from_secs(10), closed)
        .await
        .expect("pump");
    assert!(ended, "the connection outlived the dropped `run` future");
}
