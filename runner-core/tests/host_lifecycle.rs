//! The host's actor and shutdown lifecycle on the in-memory runtime, the
//! test playing the engine: a stop waits for a slow request, `on_shutdown`
//! comes after every `on_actor_stop`, an oversized response gets the core's
//! one answer.
//!
//! Waits are for conditions, bounded generously (10 s); nothing asserts on
//! how long something took.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use futures::executor::block_on;
use futures::{FutureExt, StreamExt};
use runner_core::host::RunnerHandle;
use runner_core::host::testing::{EngineSocket, MemoryRuntime};
use runner_core::host::{ActorContext, ActorInfo, BoxError, Builder, Handler, Request, Response};
use runner_core::protocol::{
    ActorCheckpoint, ActorState, Command, CommandWrapper, Event as WireEvent, ToClient,
    ToClientTunnelMessageKind, ToServer, ToServerTunnelMessageKind,
};
use runner_core::{RequestKey, ShutdownMode, ShutdownReason, StopReason, testing};

/// Generous bound on every wait.
const BOUND: Duration = Duration::from_secs(10);

/// What the handler did, in order.
type Log = Arc<Mutex<Vec<String>>>;

/// A handler whose request and stop callbacks wait until the test lets
/// them go, and which logs what returned.
struct Gated {
    log: Log,
    /// Told when a callback (request or stop) has begun.
    began: mpsc::UnboundedSender<&'static str>,
    /// Released by the test: the pending request answers, the pending stop returns.
    release_request: Mutex<Option<oneshot::Receiver<()>>>,
    release_stop: Mutex<Option<oneshot::Receiver<()>>>,
    body: Vec<u8>,
}

impl Handler for Gated {
    async fn on_actor_start(&self, _actor: ActorContext, _info: ActorInfo) -> Result<(), BoxError> {
        Ok(())
    }

    async fn on_actor_stop(&self, _actor: ActorContext, _reason: StopReason) {
        let _ = self.began.unbounded_send("stop");
        let gate = self.release_stop.lock().unwrap().take();
        if let Some(gate) = gate {
            let _ = gate.await;
        }
        self.log.lock().unwrap().push("actor_stop".into());
    }

    async fn on_request(&self, _actor: ActorContext, _request: Request) -> Response {
        let _ = self.began.unbounded_send("request");
        let gate = self.release_request.lock().unwrap().take();
        if let Some(gate) = gate {
            let _ = gate.await;
        }
        http::Response::builder()
            .status(200)
            .body(self.body.clone().into())
            .unwrap()
    }

    fn on_shutdown(&self) {
        self.log.lock().unwrap().push("shutdown".into());
    }
}

struct Rig {
    engine: EngineSocket,
    handle: RunnerHandle,
    running: JoinHandle<ShutdownReason>,
    log: Log,
    began: mpsc::UnboundedReceiver<&'static str>,
    release_request: Option<oneshot::Sender<()>>,
    release_stop: Option<oneshot::Sender<()>>,
}

/// A connected runner with actor "A" running.
fn rig(configure: impl FnOnce(Builder<MemoryRuntime>) -> Builder<MemoryRuntime>) -> Rig {
    rig_with_body(configure, b"done".to_vec())
}

fn rig_with_body(
    configure: impl FnOnce(Builder<MemoryRuntime>) -> Builder<MemoryRuntime>,
    body: Vec<u8>,
) -> Rig {
    let rt = MemoryRuntime::new();
    let (began_tx, began) = mpsc::unbounded();
    let (release_request, request_gate) = oneshot::channel();
    let (release_stop, stop_gate) = oneshot::channel();
    let log: Log = Arc::default();
    let handler = Gated {
        log: log.clone(),
        began: began_tx,
        release_request: Mutex::new(Some(request_gate)),
        release_stop: Mutex::new(Some(stop_gate)),
        body,
    };
    let builder = Builder::new(rt.clone())
        .endpoint("http://engine")
        .runner_name("r")
        .handle_signals(false);
    let runner = configure(builder)
        .build(handler)
        .expect("valid configuration");
    let handle = runner.handle();
    let running = std::thread::spawn(move || block_on(runner.run()));
    let mut engine = block_on(rt.accept());
    block_on(engine.accept_init("R")).expect("init answered");
    block_on(engine.send_message(&testing::start_command("A", vec![]))).unwrap();
    let mut rig = Rig {
        engine,
        handle,
        running,
        log,
        began,
        release_request: Some(release_request),
        release_stop: Some(release_stop),
    };
    rig.recv_until(|m| has_state(m, |s| matches!(s, ActorState::Running)));
    rig
}

fn has_state(message: &ToServer, wanted: impl Fn(&ActorState) -> bool) -> bool {
    let ToServer::Events(events) = message else {
        return false;
    };
    events.iter().any(|e| match &e.inner {
        WireEvent::StateUpdate(update) => wanted(&update.state),
        _ => false,
    })
}

fn is_stopped(message: &ToServer) -> bool {
    has_state(message, |s| matches!(s, ActorState::Stopped(_)))
}

impl Rig {
    /// The runner's messages up to and including the first that matches.
    fn recv_until(&mut self, done: impl Fn(&ToServer) -> bool) -> Vec<ToServer> {
        let mut seen = Vec::new();
        loop {
            let next = block_on(with_bound(self.engine.recv_message()))
                .unwrap_or_else(|| panic!("the connection ended; seen {seen:?}"));
            let matched = done(&next);
            seen.push(next);
            if matched {
                return seen;
            }
        }
    }

    fn wait_began(&mut self, what: &str) {
        let began = block_on(with_bound(self.began.next()));
        assert_eq!(began, Some(what), "expected the {what} callback to begin");
    }

    fn request(&mut self, id: u32, path: &str) -> RequestKey {
        let key = testing::key(id);
        let start = ToClientTunnelMessageKind::RequestStart(testing::get("A", path));
        block_on(
            self.engine
                .send_message(&testing::tunnel_message(key, 0, start)),
        )
        .unwrap();
        key
    }

    fn stop_command(&mut self) {
        let checkpoint = ActorCheckpoint {
            actor_id: "A".into(),
            generation: 0,
            index: 1,
        };
        let stop = ToClient::Commands(vec![CommandWrapper {
            checkpoint,
            inner: Command::StopActor,
        }]);
        block_on(self.engine.send_message(&stop)).unwrap();
    }

    fn release_request(&mut self) {
        let _ = self.release_request.take().unwrap().send(());
    }

    fn release_stop(&mut self) {
        let _ = self.release_stop.take().unwrap().send(());
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// `future`'s output, or `None` past [`BOUND`].
async fn with_bound<T>(future: impl std::future::Future<Output = Option<T>>) -> Option<T> {
    let (tx, rx) = oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(BOUND);
        let _ = tx.send(());
    });
    futures::select! {
        out = future.fuse() => out,
        _ = rx.fuse() => None,
    }
}

/// Long enough for a runner without the fix to get it wrong (it is not a
/// bound on anything: the runner with the fix waits for a condition).
fn let_a_wrong_runner_run_ahead() {
    std::thread::sleep(Duration::from_millis(300));
}

/// The tunnel messages for `key` among `messages`, with their positions.
fn replies(messages: &[ToServer], key: RequestKey) -> Vec<(usize, ToServerTunnelMessageKind)> {
    messages
        .iter()
        .enumerate()
        .filter_map(|(i, m)| match m {
            ToServer::TunnelMessage(t)
                if RequestKey::new(t.message_id.gateway_id, t.message_id.request_id) == key =>
            {
                Some((i, t.message_kind.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_stop_waits_for_a_slow_request_then_reports_stopped() {
    let mut rig = rig(|b| b);
    rig.release_stop(); // the stop callback returns at once
    let key = rig.request(7, "/slow");
    rig.wait_began("request");
    rig.stop_command();
    rig.wait_began("stop");
    let_a_wrong_runner_run_ahead();
    rig.release_request();
    let seen = rig.recv_until(is_stopped);
    let answered = replies(&seen, key);
    assert!(
        matches!(
            answered.as_slice(),
            [(_, ToServerTunnelMessageKind::ResponseStart(r))] if r.status == 200
        ),
        "the request was not answered before the stop: {seen:?}"
    );
    assert!(answered[0].0 < seen.len() - 1, "answer before Stopped");
    block_on(rig.handle.shutdown(ShutdownMode::Immediate));
    rig.running.join().unwrap();
}

#[test]
fn on_shutdown_comes_after_every_on_actor_stop_on_immediate_shutdown() {
    let mut rig = rig(|b| b);
    let handle = rig.handle.clone();
    let shutting = std::thread::spawn(move || block_on(handle.shutdown(ShutdownMode::Immediate)));
    rig.wait_began("stop");
    let_a_wrong_runner_run_ahead();
    assert!(
        rig.log().is_empty(),
        "on_shutdown ran before on_actor_stop returned: {:?}",
        rig.log()
    );
    rig.release_stop();
    shutting.join().unwrap();
    let log = rig.log.clone();
    assert_eq!(rig.running.join().unwrap(), ShutdownReason::Requested);
    assert_eq!(*log.lock().unwrap(), ["actor_stop", "shutdown"]);
}

#[test]
fn an_oversized_response_gets_the_cores_one_answer() {
    let mut limits = runner_core::Limits::default();
    limits.max_tunnel_payload = 100;
    let mut rig = rig_with_body(|b| b.limits(limits), vec![b'x'; 101]);
    rig.release_request();
    let key = rig.request(9, "/big");
    let seen = rig.recv_until(|m| matches!(m, ToServer::TunnelMessage(_)));
    let answered = replies(&seen, key);
    let [(_, ToServerTunnelMessageKind::ResponseStart(response))] = answered.as_slice() else {
        panic!("no response: {seen:?}")
    };
    assert_eq!(response.status, 500);
    let one_answer = runner_core::HttpResponse::payload_too_large(100);
    assert_eq!(response.body.as_ref(), Some(&one_answer.body));
    let marked = response.headers.get("x-rivet-error").map(String::as_str);
    assert_eq!(
        marked,
        Some("runner.response_too_large"),
        "not the core's answer"
    );
    rig.release_stop();
    block_on(rig.handle.shutdown(ShutdownMode::Immediate));
    rig.running.join().unwrap();
}
