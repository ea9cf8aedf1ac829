//! The host's event loop as a pump (issue 13, "Never block"): it never
//! waits for the socket, serves timers and signals whatever else is
//! ready, reports a connection that takes no frame for a liveness window as
//! dead (and drops it, its stuck write with it), writes an immediate
//! shutdown's close frame before `run` returns (waiting for a socket that
//! takes nothing no longer than `timeouts.close`), flushes a burst's
//! frames together, and bounds each WebSocket handler's unread messages in
//! bytes.
//!
//! Played on [`MemoryRuntime`] (or on runtimes built from it), the test
//! being the engine. Waits are bounded by [`PATIENCE`], never timed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::mpsc;
use futures::executor::{LocalPool, block_on};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::task::LocalSpawnExt;
use futures::{FutureExt, SinkExt, StreamExt};
use runner_core::host::testing::{EngineSocket, MemoryRuntime};
use runner_core::host::{
    ActorContext, ActorInfo, BoxError, Builder, ConnectRequest, Error, Handler, Inbound, Outbound,
    RunnerHandle, Runtime, Socket, WebSocketRequest,
};
use runner_core::protocol::{
    ProtocolMetadata, ProtocolVersion, ToClient, ToClientAckEvents, ToClientInit, ToClientPing,
    ToClientTunnelMessageKind, ToClientWebSocketOpen, ToServer, ToServerTunnelMessageKind,
    WebSocketMessage, encode_to_client,
};
use runner_core::{KvError, ShutdownMode, ShutdownReason, Timeouts, TransportClose, testing};

/// How long a test waits for what must happen (it happens much sooner).
const PATIENCE: Duration = Duration::from_secs(10);

/// Waits, bounded by [`PATIENCE`], until `ready` gives a value.
fn eventually<T>(what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {PATIENCE:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The next engine end of `rt`, bounded.
fn next_connection(rt: &MemoryRuntime, what: &str) -> EngineSocket {
    eventually(what, || rt.accept().now_or_never())
}

/// The next message the runner sent on `engine`, bounded; `None` when it
/// closed or dropped its end.
fn next_message(engine: &mut EngineSocket) -> Option<ToServer> {
    let mut next = Box::pin(engine.recv_message());
    eventually("a message from the runner", || (&mut next).now_or_never())
}

/// Runs a runner on `rt` with `handler` on a thread of its own; returns
/// its handle and the thread, which ends with what `run` returned.
fn start<R: Runtime, H: Handler>(rt: R, handler: H) -> (RunnerHandle, JoinHandle<ShutdownReason>) {
    let runner = Builder::new(rt)
        .endpoint("http://engine")
        .runner_name("r")
        .build(handler)
        .unwrap();
    let handle = runner.handle();
    (handle, std::thread::spawn(move || block_on(runner.run())))
}

/// Shuts the runner of [`start`] down immediately and checks that `run`
/// returned for that.
#[track_caller]
fn stop(handle: RunnerHandle, running: JoinHandle<ShutdownReason>) {
    block_on(handle.shutdown(ShutdownMode::Immediate));
    assert_eq!(running.join().unwrap(), ShutdownReason::Requested);
}

/// An actor that, once started, makes `KV_CALLS` KV puts at once and
/// reports each outcome.
struct KvFlood {
    outcomes: std::sync::mpsc::Sender<Result<(), Error>>,
}

const KV_CALLS: usize = 3_000;

impl Handler for KvFlood {
    async fn on_actor_start(&self, actor: ActorContext, _info: ActorInfo) -> Result<(), BoxError> {
        for i in 0..KV_CALLS {
            let (actor, outcomes) = (actor.clone(), self.outcomes.clone());
            actor.clone().spawn(async move {
                let key = format!("key-{i}");
                let _ = outcomes.send(actor.kv_put([(key, "value")]).await);
            });
        }
        Ok(())
    }
}

#[test]
fn a_writer_that_takes_nothing_stops_no_timer_and_its_connection_is_replaced() {
    let rt = MemoryRuntime::new();
    let mut timeouts = Timeouts::default();
    timeouts.kv_request = Duration::from_millis(300);
    timeouts.liveness = Duration::from_secs(2);
    let (outcomes, results) = std::sync::mpsc::channel();
    let runner = Builder::new(rt.clone())
        .endpoint("http://engine")
        .runner_name("r")
        .timeouts(timeouts)
        .build(KvFlood { outcomes })
        .unwrap();
    let handle = runner.handle();
    let running = std::thread::spawn(move || block_on(runner.run()));

    let mut frozen = next_connection(&rt, "the first connection");
    block_on(frozen.accept_init("runner-1")).unwrap();
    block_on(frozen.send_message(&testing::start_command("A", vec![]))).unwrap();
    // From here on the engine reads nothing: its end of the connection and
    // then the runner's socket fill up with KV requests.

    // Timers still run: KV calls time out.
    let outcome = results.recv_timeout(PATIENCE).expect("no KV call ended");
    assert_eq!(outcome, Err(Error::Kv(KvError::TimedOut)));
    // And a connection that took nothing for a liveness window is replaced.
    let mut fresh = next_connection(&rt, "a new connection");
    block_on(fresh.accept_init("runner-1")).unwrap();
    assert_eq!(rt.connects().len(), 2);
    // The runner let go of the frozen connection, its stuck write with it:
    // once the engine reads what was written, the connection ends.
    eventually("the frozen connection dropped", || {
        while let Some(frame) = frozen.recv().now_or_never() {
            if frame.is_none() {
                return Some(());
            }
        }
        None
    });

    stop(handle, running);
}

/// A [`MemoryRuntime`] whose shutdown signals fire when the test says so.
#[derive(Clone)]
struct Signalled {
    inner: MemoryRuntime,
    signal: Arc<Mutex<Option<mpsc::UnboundedReceiver<()>>>>,
}

impl Runtime for Signalled {
    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        self.inner.sleep_until(deadline)
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        self.inner.spawn(task)
    }

    fn connect(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'static, Result<Socket, TransportClose>> {
        self.inner.connect(request)
    }

    fn shutdown_signals(&self) -> BoxStream<'static, ()> {
        let signals = self.signal.lock().unwrap().take();
        signals.map_or_else(|| futures::stream::pending().boxed(), StreamExt::boxed)
    }
}

/// A runner on a connection that takes nothing, and what the test holds of
/// it.
struct Frozen {
    handle: RunnerHandle,
    /// What `run` returned, once it has.
    finished: std::sync::mpsc::Receiver<ShutdownReason>,
    /// The engine's end, kept open (and never read) until the test ends.
    engine: EngineSocket,
}

/// Runs a [`KvFlood`] runner on `rt` (whose connections `memory` accepts)
/// and freezes its connection: the engine inits it, starts actor `A`, and
/// reads nothing more. Returns once the loop holds a frame it cannot write
/// (and so reads none of the handlers' calls): the actor's KV calls fill
/// the connection up and time out.
fn frozen_runner<R: Runtime>(rt: R, memory: &MemoryRuntime, handle_signals: bool) -> Frozen {
    let mut timeouts = Timeouts::default();
    // Longer than the test: the frozen connection is never replaced.
    timeouts.liveness = Duration::from_secs(600);
    timeouts.close = Duration::from_millis(200);
    // Stop callbacks report back through calls, which are not read.
    timeouts.actor_stop = Duration::from_millis(200);
    timeouts.kv_request = Duration::from_millis(300);
    let (outcomes, results) = std::sync::mpsc::channel();
    let runner = Builder::new(rt)
        .endpoint("http://engine")
        .runner_name("r")
        .timeouts(timeouts)
        .handle_signals(handle_signals)
        .build(KvFlood { outcomes })
        .unwrap();
    let handle = runner.handle();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(block_on(runner.run()));
    });
    let mut engine = next_connection(memory, "the connection");
    block_on(engine.accept_init("runner-1")).unwrap();
    block_on(engine.send_message(&testing::start_command("A", vec![]))).unwrap();
    let outcome = results.recv_timeout(PATIENCE).expect("no KV call ended");
    assert_eq!(outcome, Err(Error::Kv(KvError::TimedOut)));
    Frozen {
        handle,
        finished,
        engine,
    }
}

#[test]
fn a_shutdown_on_a_connection_that_takes_nothing_returns_at_the_close_timeout() {
    let memory = MemoryRuntime::new();
    let (signal, signals) = mpsc::unbounded();
    let rt = Signalled {
        inner: memory.clone(),
        signal: Arc::new(Mutex::new(Some(signals))),
    };
    let frozen = frozen_runner(rt, &memory, true);

    // Ctrl-C twice (an immediate shutdown; the handle's is the next test):
    // its close frame can never be written, and `run` gives up on it.
    signal.unbounded_send(()).unwrap();
    signal.unbounded_send(()).unwrap();
    let reason = frozen
        .finished
        .recv_timeout(PATIENCE)
        .expect("run waited for a connection that takes nothing");
    assert_eq!(reason, ShutdownReason::Requested);
    drop(frozen.engine);
}

#[test]
fn the_handle_reaches_a_runner_whose_connection_takes_nothing() {
    let memory = MemoryRuntime::new();
    let frozen = frozen_runner(memory.clone(), &memory, false);

    // The handle's calls are still read: a metrics snapshot says the
    // writer is blocked, and an immediate shutdown ends the run (its close
    // frame never written: `run` gives up on it at the close timeout).
    let (reply, metrics) = std::sync::mpsc::channel();
    let asking = frozen.handle.clone();
    std::thread::spawn(move || {
        let _ = reply.send(block_on(asking.metrics()));
    });
    let metrics = metrics
        .recv_timeout(PATIENCE)
        .expect("the handle's metrics call was not read")
        .expect("the loop ended");
    assert!(metrics.write_blocked, "{metrics:?}");
    let handle = frozen.handle;
    std::thread::spawn(move || block_on(handle.shutdown(ShutdownMode::Immediate)));
    let reason = frozen
        .finished
        .recv_timeout(PATIENCE)
        .expect("the handle's shutdown was not read");
    assert_eq!(reason, ShutdownReason::Requested);
    drop(frozen.engine);
}

/// A socket whose engine sends its init and then `pings` pings at once,
/// and which counts the frames the runner feeds it, its flushes, and the
/// reads that found nothing.
#[derive(Clone, Default)]
struct Pinger {
    inner: MemoryRuntime,
    pings: usize,
    fed: Arc<AtomicUsize>,
    flushes: Arc<AtomicUsize>,
    empty_reads: Arc<AtomicUsize>,
    sleeps: Arc<AtomicUsize>,
}

const PINGS: usize = 1_000;

/// Counts what goes through it; always ready.
struct CountingSink {
    fed: Arc<AtomicUsize>,
    flushes: Arc<AtomicUsize>,
}

impl futures::Sink<Outbound> for CountingSink {
    type Error = BoxError;

    fn poll_ready(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn start_send(self: std::pin::Pin<&mut Self>, _: Outbound) -> Result<(), BoxError> {
        self.fed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl Runtime for Pinger {
    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        self.sleeps.fetch_add(1, Ordering::SeqCst);
        self.inner.sleep_until(deadline)
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        self.inner.spawn(task)
    }

    fn connect(&self, _: ConnectRequest) -> BoxFuture<'static, Result<Socket, TransportClose>> {
        let init = init_frame();
        let pings =
            (0..self.pings).map(|ts| frame(&ToClient::Ping(ToClientPing { ts: ts as i64 })));
        let empty_reads = self.empty_reads.clone();
        let nothing_more = futures::stream::poll_fn(move |_| {
            empty_reads.fetch_add(1, Ordering::SeqCst);
            std::task::Poll::Pending
        });
        let incoming =
            futures::stream::iter(std::iter::once(init).chain(pings)).chain(nothing_more);
        let sink = CountingSink {
            fed: self.fed.clone(),
            flushes: self.flushes.clone(),
        };
        let socket = Socket {
            incoming: incoming.boxed(),
            outgoing: Box::pin(sink),
        };
        futures::future::ready(Ok(socket)).boxed()
    }

    fn shutdown_signals(&self) -> BoxStream<'static, ()> {
        self.inner.shutdown_signals()
    }
}

/// A runner on a [`Pinger`] of [`PINGS`] pings, once it has answered
/// them all (fed the init message, then a pong per ping).
fn pinged() -> (Pinger, RunnerHandle, JoinHandle<ShutdownReason>) {
    let rt = Pinger {
        pings: PINGS,
        ..Pinger::default()
    };
    let (handle, running) = start(rt.clone(), Idle);
    eventually("every ping answered", || {
        (rt.fed.load(Ordering::SeqCst) > PINGS).then_some(())
    });
    (rt, handle, running)
}

#[test]
fn the_frames_of_a_burst_are_flushed_together() {
    let (rt, handle, running) = pinged();

    // Not a write per frame: one per burst, or per few inputs under a
    // flood like this one.
    let flushes = rt.flushes.load(Ordering::SeqCst);
    assert!(flushes <= PINGS / 4, "{flushes} flushes for {PINGS} pongs");
    stop(handle, running);
}

/// A [`MemoryRuntime`] whose connections flood the runner: after the init
/// message, an endless stream of frames that are always ready (empty event
/// acknowledgements, which ask for no answer). Shutdown signals fire when
/// the test says so.
#[derive(Clone)]
struct Flood {
    inner: MemoryRuntime,
    /// Frames the runner has read from the flood.
    read: Arc<AtomicUsize>,
    signal: Arc<Mutex<Option<mpsc::UnboundedReceiver<()>>>>,
}

fn frame(message: &ToClient) -> Inbound {
    Inbound::Binary(
        encode_to_client(ProtocolVersion::V5, message)
            .unwrap()
            .into(),
    )
}

/// The engine's init message, as the test runtimes' connections send it.
fn init_frame() -> Inbound {
    let metadata = ProtocolMetadata {
        runner_lost_threshold: 15_000,
        actor_stop_threshold: None,
        serverless_drain_grace_period: None,
    };
    frame(&ToClient::Init(ToClientInit {
        runner_id: "runner-1".into(),
        metadata,
    }))
}

impl Runtime for Flood {
    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        self.inner.sleep_until(deadline)
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        self.inner.spawn(task)
    }

    fn connect(&self, _: ConnectRequest) -> BoxFuture<'static, Result<Socket, TransportClose>> {
        let init = init_frame();
        let ack = frame(&ToClient::AckEvents(ToClientAckEvents {
            last_event_checkpoints: vec![],
        }));
        let read = self.read.clone();
        let flood = futures::stream::repeat_with(move || {
            read.fetch_add(1, Ordering::SeqCst);
            ack.clone()
        });
        let socket = Socket {
            incoming: futures::stream::once(async { init }).chain(flood).boxed(),
            outgoing: Box::pin(futures::sink::drain().sink_map_err(|e| Box::new(e) as BoxError)),
        };
        futures::future::ready(Ok(socket)).boxed()
    }

    fn shutdown_signals(&self) -> BoxStream<'static, ()> {
        let signals = self.signal.lock().unwrap().take();
        signals.map_or_else(|| futures::stream::pending().boxed(), StreamExt::boxed)
    }
}

struct Idle;
impl Handler for Idle {}

#[test]
fn a_socket_that_is_always_ready_starves_neither_signals_nor_timers() {
    let (signal, signals) = mpsc::unbounded();
    let rt = Flood {
        inner: MemoryRuntime::new(),
        read: Arc::default(),
        signal: Arc::new(Mutex::new(Some(signals))),
    };
    let mut timeouts = Timeouts::default();
    timeouts.close = Duration::from_millis(200);
    let runner = Builder::new(rt.clone())
        .endpoint("http://engine")
        .runner_name("r")
        .timeouts(timeouts)
        .handle_signals(true)
        .build(Idle)
        .unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(block_on(runner.run()));
    });
    eventually("the flood being read", || {
        (rt.read.load(Ordering::SeqCst) > 10_000).then_some(())
    });

    // Ctrl-C while the socket is always ready: a graceful shutdown, whose
    // close the flood never confirms, so it ends on the close timer.
    signal.unbounded_send(()).unwrap();
    let reason = finished
        .recv_timeout(PATIENCE)
        .expect("the runner did not stop");
    assert_eq!(reason, ShutdownReason::Requested);
}

/// A [`MemoryRuntime`] that runs every task on one thread, as a
/// current-thread runtime does: the runner's tasks run only while the
/// event loop's task waits.
#[derive(Clone)]
struct OneThread {
    inner: MemoryRuntime,
    tasks: mpsc::UnboundedSender<BoxFuture<'static, ()>>,
}

impl OneThread {
    fn new(inner: MemoryRuntime) -> Self {
        let (tasks, spawned) = mpsc::unbounded::<BoxFuture<'static, ()>>();
        std::thread::spawn(move || {
            let mut pool = LocalPool::new();
            let spawner = pool.spawner();
            // Until every clone of the runtime is gone.
            pool.run_until(spawned.for_each(|task| {
                let _ = spawner.spawn_local(task);
                async {}
            }));
        });
        OneThread { inner, tasks }
    }
}

impl Runtime for OneThread {
    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        self.inner.sleep_until(deadline)
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        let _ = self.tasks.unbounded_send(task);
    }

    fn connect(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'static, Result<Socket, TransportClose>> {
        self.inner.connect(request)
    }

    fn shutdown_signals(&self) -> BoxStream<'static, ()> {
        self.inner.shutdown_signals()
    }
}

#[test]
fn an_immediate_shutdown_returns_once_its_close_frame_is_written() {
    let memory = MemoryRuntime::new();
    let (handle, running) = start(OneThread::new(memory.clone()), Idle);
    let mut engine = next_connection(&memory, "the connection");
    block_on(engine.accept_init("runner-1")).unwrap();
    eventually("connected", || handle.is_connected().then_some(()));

    stop(handle, running);
    // Everything the runner wrote is here now, its close frame last.
    let written: Vec<Outbound> =
        std::iter::from_fn(|| engine.recv().now_or_never().flatten()).collect();
    assert!(
        matches!(written.last(), Some(Outbound::Close { code: 1000, .. })),
        "no close frame written before run returned: {written:?}"
    );
}

/// Accepts every WebSocket and never reads it.
struct Deaf;

impl Handler for Deaf {
    async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
        let Ok(_ws) = socket.accept(false).await else {
            return;
        };
        futures::future::pending::<()>().await;
    }
}

#[test]
fn a_socket_handler_that_does_not_read_holds_a_bounded_number_of_bytes() {
    let rt = MemoryRuntime::new();
    let (handle, running) = start(rt.clone(), Deaf);
    let mut engine = next_connection(&rt, "the connection");
    block_on(engine.accept_init("runner-1")).unwrap();
    block_on(engine.send_message(&testing::start_command("A", vec![]))).unwrap();
    let key = testing::key(1);
    let open = ToClientWebSocketOpen {
        actor_id: "A".into(),
        path: "/".into(),
        headers: Default::default(),
    };
    let open = testing::tunnel_message(key, 0, ToClientTunnelMessageKind::WebSocketOpen(open));
    block_on(engine.send_message(&open)).unwrap();

    // Far fewer messages than the count bound, far more bytes than the
    // byte bound (64 MiB).
    let big = Bytes::from(vec![7u8; 16 << 20]);
    for index in 1..=6 {
        let message = WebSocketMessage {
            data: big.clone(),
            binary: true,
        };
        let kind = ToClientTunnelMessageKind::WebSocketMessage(message);
        block_on(engine.send_message(&testing::tunnel_message(key, index, kind))).unwrap();
    }
    let close = loop {
        match next_message(&mut engine) {
            Some(ToServer::TunnelMessage(m)) if m.message_id.request_id == key.request_id => {
                if let ToServerTunnelMessageKind::WebSocketClose(close) = m.message_kind {
                    break close;
                }
            }
            Some(_) => {}
            None => panic!("the connection ended before the socket was closed"),
        }
    };
    assert_eq!(close.code, Some(1011));
    assert_eq!(close.reason.as_deref(), Some("runner.socket_backlog_full"));

    stop(handle, running);
}

#[test]
fn a_loop_woken_by_calls_does_not_read_the_socket() {
    let rt = Pinger::default();
    let (handle, running) = start(rt.clone(), Idle);
    eventually("connected", || handle.is_connected().then_some(()));
    let before = rt.empty_reads.load(Ordering::SeqCst);

    // Each call wakes the loop; the socket did not, and is not read.
    for _ in 0..200 {
        assert!(block_on(handle.metrics()).is_some());
    }
    let empty_reads = rt.empty_reads.load(Ordering::SeqCst) - before;
    assert!(empty_reads < 50, "{empty_reads} reads for 200 calls");
    stop(handle, running);
}

#[test]
fn frames_that_move_a_deadline_later_arm_no_new_timer() {
    let (rt, handle, running) = pinged();

    // Every ping moves the liveness deadline later; the sleep armed for
    // the earlier one is kept.
    let sleeps = rt.sleeps.load(Ordering::SeqCst);
    assert!(sleeps < PINGS / 10, "{sleeps} timers for {PINGS} pings");
    stop(handle, running);
}
