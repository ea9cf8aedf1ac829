//! The async host never panics on peer input or user code, and answers
//! every request: on the in-memory runtime, with the test playing the
//! engine. Each test waits for what it expects with a generous bound (10 s)
//! and never asserts on how long anything took.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::executor::block_on;
use futures::future::Either;
use http_body::Frame;
use runner_core::host::testing::{EngineSocket, MemoryRuntime};
use runner_core::host::{
    ActorContext, Body, Builder, Handler, Request, Response, RunnerHandle, Runtime,
};
use runner_core::protocol::{
    BareMap, ToClientRequestStart, ToClientTunnelMessageKind, ToClientWebSocketOpen, ToServer,
    ToServerTunnelMessageKind,
};
use runner_core::{RequestKey, ShutdownMode, ShutdownReason, testing};

/// How long any one wait may take before the test fails.
const BOUND: Duration = Duration::from_secs(10);

/// A runner on the in-memory runtime, connected to the test as its engine,
/// with actor `A` started.
struct Rig {
    rt: MemoryRuntime,
    engine: Option<EngineSocket>,
    handle: RunnerHandle,
    running: Option<JoinHandle<ShutdownReason>>,
}

impl Rig {
    fn start<H: Handler>(
        handler: H,
        edit: impl FnOnce(Builder<MemoryRuntime>) -> Builder<MemoryRuntime>,
    ) -> Rig {
        let rt = MemoryRuntime::new();
        let builder = Builder::new(rt.clone())
            .endpoint("http://engine")
            .runner_name("r")
            .handle_signals(false);
        let runner = edit(builder).build(handler).expect("builds");
        let handle = runner.handle();
        let running = std::thread::spawn(move || block_on(runner.run()));
        let mut engine = block_on(rt.accept());
        block_on(engine.accept_init("runner-1")).expect("init");
        block_on(engine.send_message(&testing::start_command("A", vec![]))).expect("start");
        Rig {
            rt,
            engine: Some(engine),
            handle,
            running: Some(running),
        }
    }

    fn engine(&mut self) -> &mut EngineSocket {
        self.engine.as_mut().expect("connected")
    }

    /// The next message the runner sends, within [`BOUND`].
    fn recv(&mut self) -> ToServer {
        let timeout = self.rt.sleep_until(self.rt.now() + BOUND);
        let recv = Box::pin(self.engine().recv_message());
        match block_on(futures::future::select(recv, timeout)) {
            Either::Left((Some(message), _)) => message,
            Either::Left((None, _)) => panic!("the runner closed the connection"),
            Either::Right(_) => panic!("nothing from the runner within {BOUND:?}"),
        }
    }

    /// The tunnel messages the runner sends for `key` until `done` says so.
    fn wait_for(
        &mut self,
        key: RequestKey,
        done: impl Fn(&ToServerTunnelMessageKind) -> bool,
    ) -> ToServerTunnelMessageKind {
        let deadline = Instant::now() + BOUND;
        while Instant::now() < deadline {
            if let ToServer::TunnelMessage(m) = self.recv() {
                let for_key = m.message_id.gateway_id == key.gateway_id
                    && m.message_id.request_id == key.request_id;
                if for_key && done(&m.message_kind) {
                    return m.message_kind;
                }
            }
        }
        panic!("no such message for {key} within {BOUND:?}");
    }

    fn request(&mut self, id: u32, start: ToClientRequestStart) -> RequestKey {
        let kind = ToClientTunnelMessageKind::RequestStart(start);
        let message = testing::tunnel_message(testing::key(id), 0, kind);
        block_on(self.engine().send_message(&message)).expect("sent");
        testing::key(id)
    }

    /// Sends GET `path` to `A` and returns the status of its response.
    fn status_of(&mut self, id: u32, start: ToClientRequestStart) -> u16 {
        let key = self.request(id, start);
        let response = self.wait_for(key, |k| {
            matches!(k, ToServerTunnelMessageKind::ResponseStart(_))
        });
        let ToServerTunnelMessageKind::ResponseStart(response) = response else {
            unreachable!()
        };
        response.status
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        block_on(self.handle.shutdown(ShutdownMode::Immediate));
        if let Some(running) = self.running.take() {
            let reason = running.join();
            if !std::thread::panicking() {
                assert_eq!(
                    reason.expect("the loop did not panic"),
                    ShutdownReason::Requested
                );
            }
        }
    }
}

/// A body that never yields a frame.
struct Stalled;

impl http_body::Body for Stalled {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Pending
    }
}

/// A body that panics when read.
struct Panicking;

impl http_body::Body for Panicking {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        panic!("the body panicked")
    }
}

/// Serves `/stalled` and `/panicking` with those bodies, anything else 200;
/// its hooks panic when `panicky`.
struct App {
    panicky: bool,
}

impl Handler for App {
    async fn on_request(&self, _: ActorContext, request: Request) -> Response {
        match request.uri().path() {
            "/stalled" => Response::new(Body::new(Stalled)),
            "/panicking" => Response::new(Body::new(Panicking)),
            _ => Response::new(Body::from("ok")),
        }
    }

    fn on_connected(&self, _: &str) {
        assert!(!self.panicky, "on_connected panicked");
    }

    fn on_disconnected(&self, _: Option<u16>, _: &str) {
        assert!(!self.panicky, "on_disconnected panicked");
    }

    fn on_shutdown(&self) {
        assert!(!self.panicky, "on_shutdown panicked");
    }
}

#[test]
fn a_panicking_on_connected_leaves_the_runner_serving() {
    let mut rig = Rig::start(App { panicky: true }, |b| b);
    assert_eq!(rig.status_of(1, testing::get("A", "/")), 200);
    // `Drop` shuts down (through a panicking on_shutdown) and checks the
    // loop ended as asked, not by a panic.
}

#[test]
fn a_panicking_on_disconnected_leaves_the_runner_reconnecting() {
    let mut rig = Rig::start(App { panicky: true }, |b| b);
    assert_eq!(rig.status_of(1, testing::get("A", "/")), 200);
    let rt = rig.rt.clone();
    let next = std::thread::spawn(move || block_on(rt.accept()));
    let closing = rig.engine.take().expect("connected");
    block_on(closing.close(1012, "restarting"));
    let mut engine = next.join().expect("the runner connects again");
    block_on(engine.accept_init("runner-1")).expect("init again");
    rig.engine = Some(engine);
}

#[test]
fn a_stalled_response_body_is_answered_504_at_the_request_timeout() {
    let mut rig = Rig::start(App { panicky: false }, |b| {
        b.request_timeout(Duration::from_millis(200))
    });
    assert_eq!(rig.status_of(1, testing::get("A", "/stalled")), 504);
    assert_eq!(rig.status_of(2, testing::get("A", "/")), 200);
}

#[test]
fn a_panicking_response_body_is_answered_500() {
    let mut rig = Rig::start(App { panicky: false }, |b| b);
    assert_eq!(rig.status_of(1, testing::get("A", "/panicking")), 500);
    assert_eq!(rig.status_of(2, testing::get("A", "/")), 200);
}

fn many_headers(n: usize) -> BareMap<String> {
    // Built whole: `insert` looks for the key first (quadratic here).
    BareMap(
        (0..n)
            .map(|i| (format!("x-h{i}"), "v".to_owned()))
            .collect(),
    )
}

#[test]
fn a_request_with_30_000_headers_is_answered_431_and_the_runner_keeps_serving() {
    let mut rig = Rig::start(App { panicky: false }, |b| b);
    let start = ToClientRequestStart {
        headers: many_headers(30_000),
        ..testing::get("A", "/")
    };
    assert_eq!(rig.status_of(1, start), 431);
    assert_eq!(rig.status_of(2, testing::get("A", "/")), 200);
}

/// With the core's limit set above what an `http::HeaderMap` holds, the
/// host's own conversion refuses the request instead of panicking.
#[test]
fn past_what_a_header_map_holds_the_host_answers_431_whatever_the_limit() {
    let mut rig = Rig::start(App { panicky: false }, |b| {
        let mut limits = runner_core::Limits::default();
        limits.max_request_headers = 100_000;
        b.limits(limits)
    });
    let start = ToClientRequestStart {
        headers: many_headers(30_000),
        ..testing::get("A", "/")
    };
    assert_eq!(rig.status_of(1, start), 431);
    assert_eq!(rig.status_of(2, testing::get("A", "/")), 200);
}

#[test]
fn a_socket_open_with_30_000_headers_is_closed_and_the_runner_keeps_serving() {
    for max_request_headers in [1024, 100_000] {
        let mut rig = Rig::start(App { panicky: false }, |b| {
            let mut limits = runner_core::Limits::default();
            limits.max_request_headers = max_request_headers;
            b.limits(limits)
        });
        let open = ToClientWebSocketOpen {
            actor_id: "A".into(),
            path: "/ws".into(),
            headers: many_headers(30_000),
        };
        let kind = ToClientTunnelMessageKind::WebSocketOpen(open);
        let message = testing::tunnel_message(testing::key(1), 0, kind);
        block_on(rig.engine().send_message(&message)).expect("sent");
        // The default handler rejects sockets (1011); the core's limit
        // closes it first (1008). Either way it is closed, and the loop lives.
        let close = rig.wait_for(testing::key(1), |k| {
            matches!(k, ToServerTunnelMessageKind::WebSocketClose(_))
        });
        let ToServerTunnelMessageKind::WebSocketClose(close) = close else {
            unreachable!()
        };
        let expected = if max_request_headers == 1024 {
            1008
        } else {
            1011
        };
        assert_eq!(close.code, Some(expected));
        assert_eq!(rig.status_of(2, testing::get("A", "/")), 200);
    }
}
