//! Where request handlers run: on the runner's event loop by default (no
//! task spawned per request, even for one that waits for a KV answer), on
//! tasks of their own with `Builder::spawn_handlers(true)` (then they run
//! in parallel). Played with the test kit on the in-memory runtime, wrapped
//! to count the tasks the runner spawns.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use futures::executor::block_on;
use futures::future::{BoxFuture, join_all};
use futures::stream::BoxStream;
use runner_core::TransportClose;
use runner_core::host::testing::MemoryRuntime;
use runner_core::host::testkit::TestKit;
use runner_core::host::{
    ActorContext, ConnectRequest, Handler, Message, Request, Response, Runtime, Socket,
    WebSocketRequest,
};

/// How long a handler waits for its partner (it comes much sooner when the
/// two run in parallel).
const PATIENCE: Duration = Duration::from_secs(10);

/// The in-memory runtime, counting the tasks spawned on it.
#[derive(Clone)]
struct Counting {
    inner: MemoryRuntime,
    spawned: Arc<AtomicUsize>,
}

impl Counting {
    fn new() -> Self {
        Counting {
            inner: MemoryRuntime::new(),
            spawned: Arc::default(),
        }
    }

    fn spawned(&self) -> usize {
        self.spawned.load(Ordering::SeqCst)
    }
}

impl Runtime for Counting {
    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        self.inner.sleep_until(deadline)
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        self.spawned.fetch_add(1, Ordering::SeqCst);
        self.inner.spawn(task);
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

/// Counts each request in KV, then answers with the count: a handler that
/// waits (for two KV answers) before it answers.
struct Counter;

impl Handler for Counter {
    async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
        let seen = actor.kv_get_one("seen").await.ok().flatten();
        let seen: u32 = seen.map_or(0, |b| String::from_utf8_lossy(&b).parse().unwrap_or(0));
        let _ = actor.kv_put([("seen", (seen + 1).to_string())]).await;
        Response::new((seen + 1).to_string().into())
    }
}

/// `count` requests to a fresh counter actor, one after the other, and the
/// tasks the runner spawned for them.
fn spawned_for_requests(spawn_handlers: bool, count: u32) -> usize {
    let rt = Counting::new();
    block_on(async {
        let configure = |b: runner_core::host::Builder<_>| b.spawn_handlers(spawn_handlers);
        let kit = TestKit::start_with(rt.clone(), Counter, configure)
            .await
            .expect("valid settings");
        let actor = kit.start_actor("counter").await.expect("started");
        let get = || http::Request::get("/").body("").unwrap();
        // The actor's own start task is behind us once it has answered.
        assert_eq!(kit.request(&actor, get()).await.body(), "1");
        let before = rt.spawned();
        for n in 2..=count + 1 {
            let response = kit.request(&actor, get()).await;
            assert_eq!(response.body(), &n.to_string(), "request {n}");
        }
        let spawned = rt.spawned() - before;
        kit.shutdown().await;
        spawned
    })
}

#[test]
fn by_default_handlers_run_on_the_loop_without_a_task_per_request() {
    assert_eq!(spawned_for_requests(false, 20), 0);
}

#[test]
fn spawned_handlers_get_a_task_per_request() {
    assert!(spawned_for_requests(true, 20) >= 20);
}

/// Echoes a WebSocket's text messages.
struct Echo;

impl Handler for Echo {
    async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
        let Ok(mut ws) = socket.accept(false).await else {
            return;
        };
        while let Some(Message::Text(text)) = ws.recv().await {
            let _ = ws.send(text).await;
        }
    }
}

/// The tasks the runner spawned for opening a WebSocket and echoing
/// `count` messages on it, one after the other.
fn spawned_for_socket(spawn_handlers: bool, count: u32) -> usize {
    let rt = Counting::new();
    block_on(async {
        let configure = |b: runner_core::host::Builder<_>| b.spawn_handlers(spawn_handlers);
        let kit = TestKit::start_with(rt.clone(), Echo, configure)
            .await
            .expect("valid settings");
        let actor = kit.start_actor("echo").await.expect("started");
        let before = rt.spawned();
        let mut ws = kit.websocket(&actor, "/ws").await.expect("accepted");
        for n in 0..count {
            ws.send(Message::Text(n.to_string()));
            assert_eq!(ws.recv().await, Message::Text(n.to_string()));
        }
        let spawned = rt.spawned() - before;
        kit.shutdown().await;
        spawned
    })
}

#[test]
fn by_default_socket_handlers_run_on_the_loop() {
    assert_eq!(spawned_for_socket(false, 20), 0);
}

#[test]
fn spawned_socket_handlers_get_a_task_each() {
    assert_eq!(spawned_for_socket(true, 20), 1);
}

/// Two requests whose handlers each wait, blocking their thread, for the
/// other to have started: both answer 200 only if they run at the same
/// time, on two threads.
struct Rendezvous {
    arrived: Mutex<Vec<mpsc::Sender<()>>>,
    waiting: Mutex<Vec<mpsc::Receiver<()>>>,
}

impl Rendezvous {
    fn new() -> Self {
        let (a_tx, a_rx) = mpsc::channel();
        let (b_tx, b_rx) = mpsc::channel();
        Rendezvous {
            arrived: Mutex::new(vec![a_tx, b_tx]),
            // Each handler waits on the other's channel.
            waiting: Mutex::new(vec![b_rx, a_rx]),
        }
    }
}

impl Handler for Rendezvous {
    async fn on_request(&self, _actor: ActorContext, _request: Request) -> Response {
        let (arrived, waiting) = {
            let mut arrived = self.arrived.lock().unwrap();
            let mut waiting = self.waiting.lock().unwrap();
            (arrived.pop(), waiting.pop())
        };
        let (Some(arrived), Some(waiting)) = (arrived, waiting) else {
            return error(500);
        };
        let _ = arrived.send(());
        match waiting.recv_timeout(PATIENCE) {
            Ok(()) => Response::new("met".into()),
            Err(_) => error(504),
        }
    }
}

fn error(status: u16) -> Response {
    let mut response = Response::new("".into());
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
    response
}

#[test]
fn spawned_handlers_run_in_parallel() {
    block_on(async {
        let configure = |b: runner_core::host::Builder<_>| b.spawn_handlers(true);
        let kit = TestKit::start_with(MemoryRuntime::new(), Rendezvous::new(), configure)
            .await
            .expect("valid settings");
        let actor = kit.start_actor("pair").await.expect("started");
        let get = || http::Request::get("/").body("").unwrap();
        let responses = join_all([kit.request(&actor, get()), kit.request(&actor, get())]).await;
        for response in responses {
            assert_eq!(response.status(), 200, "{:?}", response.body());
        }
        kit.shutdown().await;
    });
}
