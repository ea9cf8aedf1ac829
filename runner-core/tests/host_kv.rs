//! KV calls through the async host, on the in-memory runtime with the test
//! playing the engine: the host forwards calls, cancels and results, and
//! the core's queue decides the rest (order past `max_pending_kv`, timeout
//! from the call, a dropped call never sent).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use futures::executor::block_on;
use futures::future::{Either, join_all, select};
use runner_core::host::testing::{EngineSocket, MemoryRuntime};
use runner_core::host::{
    ActorContext, ActorInfo, BoxError, Builder, Error, Handler, RunnerHandle, Runtime,
};
use runner_core::protocol::{
    KvPutRequest, KvRequestData, KvResponseData, ToClient, ToClientKvResponse, ToServer,
    ToServerKvRequest,
};
use runner_core::{KvError, Limits, ShutdownMode, ShutdownReason, Timeouts, testing};

/// How long a test waits for something that should happen at once.
const BOUND: Duration = Duration::from_secs(10);

/// Hands every started actor's context to the test.
struct Actors(Mutex<mpsc::Sender<ActorContext>>);

impl Handler for Actors {
    async fn on_actor_start(&self, actor: ActorContext, _: ActorInfo) -> Result<(), BoxError> {
        let _ = self.0.lock().unwrap().send(actor);
        Ok(())
    }
}

/// A runner connected to the test's engine, with actor "A" started.
struct Running {
    rt: MemoryRuntime,
    engine: EngineSocket,
    actor: ActorContext,
    handle: RunnerHandle,
    thread: JoinHandle<ShutdownReason>,
}

fn running(max_pending_kv: usize, kv_timeout: Duration) -> Running {
    let mut limits = Limits::default();
    limits.max_pending_kv = max_pending_kv;
    let mut timeouts = Timeouts::default();
    timeouts.kv_request = kv_timeout;
    let rt = MemoryRuntime::new();
    let (started, actors) = mpsc::channel();
    let runner = Builder::new(rt.clone())
        .endpoint("http://engine")
        .runner_name("r")
        .limits(limits)
        .timeouts(timeouts)
        .build(Actors(Mutex::new(started)))
        .expect("valid settings");
    let handle = runner.handle();
    let thread = thread::spawn(move || block_on(runner.run()));
    let mut engine = within(&rt, rt.accept());
    within(&rt, engine.accept_init("runner-1")).expect("init sent");
    let start = testing::start_command("A", vec![]);
    within(&rt, engine.send_message(&start)).expect("start sent");
    let actor = actors.recv_timeout(BOUND).expect("actor A started");
    Running {
        rt,
        engine,
        actor,
        handle,
        thread,
    }
}

impl Running {
    /// The next KV request the runner sends (other frames skipped).
    fn next_kv(&mut self) -> ToServerKvRequest {
        loop {
            match within(&self.rt, self.engine.recv_message()) {
                Some(ToServer::KvRequest(request)) => return request,
                Some(_) => {}
                None => panic!("the runner closed the connection"),
            }
        }
    }

    fn answer_put(&mut self, request_id: u32) {
        let answer = ToClient::KvResponse(ToClientKvResponse {
            request_id,
            data: KvResponseData::Put,
        });
        within(&self.rt, self.engine.send_message(&answer)).expect("answer sent");
    }

    fn shut_down(self) {
        block_on(self.handle.shutdown(ShutdownMode::Immediate));
        assert_eq!(self.thread.join().unwrap(), ShutdownReason::Requested);
    }
}

/// `future`'s output, or a panic once [`BOUND`] has passed.
fn within<T>(rt: &MemoryRuntime, future: impl Future<Output = T>) -> T {
    let timer = rt.sleep_until(Instant::now() + BOUND);
    match block_on(select(Box::pin(future), timer)) {
        Either::Left((output, _)) => output,
        Either::Right(_) => panic!("nothing within {BOUND:?}"),
    }
}

/// The value of a one-pair put.
fn put_value(request: &ToServerKvRequest) -> String {
    match &request.data {
        KvRequestData::Put(KvPutRequest { values, .. }) => {
            String::from_utf8_lossy(&values[0]).into_owned()
        }
        other => panic!("not a put: {other:?}"),
    }
}

/// Runs `calls` puts of `k` = `0`, `1`, … at once from a thread of its own.
fn concurrent_puts(actor: &ActorContext, calls: usize) -> mpsc::Receiver<Vec<Result<(), Error>>> {
    let actor = actor.clone();
    let (done, results) = mpsc::channel();
    thread::spawn(move || {
        // `join_all` polls them in order at first (fewer than 30): they
        // reach the loop in call order.
        let puts = (0..calls).map(|i| actor.kv_put([("k", i.to_string())]));
        let _ = done.send(block_on(join_all(puts)));
    });
    results
}

#[test]
fn many_concurrent_calls_past_the_limit_all_complete_in_call_order() {
    const CALLS: usize = 20;
    let mut r = running(2, Duration::from_secs(30));
    let results = concurrent_puts(&r.actor, CALLS);
    let mut out = VecDeque::new();
    let mut seen = Vec::new();
    while seen.len() < CALLS || !out.is_empty() {
        if seen.len() < CALLS {
            let request = r.next_kv();
            seen.push(put_value(&request));
            out.push_back(request.request_id);
            assert!(out.len() <= 2, "more than max_pending_kv requests out");
            if out.len() < 2 && seen.len() < CALLS {
                continue;
            }
        }
        let oldest = out.pop_front().expect("one out");
        r.answer_put(oldest);
    }
    let expected: Vec<_> = (0..CALLS).map(|i| i.to_string()).collect();
    assert_eq!(seen, expected, "sent once each, in call order");
    let results = results.recv_timeout(BOUND).expect("every call returned");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    r.shut_down();
}

#[test]
fn a_call_whose_future_is_dropped_before_it_is_sent_never_reaches_the_engine() {
    let mut r = running(1, Duration::from_secs(30));
    let first = concurrent_puts(&r.actor, 1);
    let request = r.next_kv();
    assert_eq!(put_value(&request), "0");
    // The second call reaches the loop and waits in the core for the slot...
    let mut dropped = Box::pin(r.actor.kv_put([("k", "dropped")]));
    assert!(block_on(async { futures::poll!(dropped.as_mut()) }).is_pending());
    // ...for sure once a later call has been answered (one queue, in order).
    within(&r.rt, r.actor.clear_alarm()).expect("alarm cleared");
    // Its caller gives up.
    drop(dropped);
    let last = {
        let actor = r.actor.clone();
        thread::spawn(move || block_on(actor.kv_put([("k", "last")])))
    };
    r.answer_put(request.request_id);
    let next = r.next_kv();
    assert_eq!(put_value(&next), "last", "the dropped call was sent");
    r.answer_put(next.request_id);
    assert!(first.recv_timeout(BOUND).expect("first returned")[0].is_ok());
    assert_eq!(last.join().unwrap(), Ok(()));
    r.shut_down();
}

#[test]
fn queued_calls_time_out_counted_from_the_call() {
    // One slot, a 1 s timeout and an engine that never answers: counted
    // from each call, every call has timed out after about a second;
    // counted from when each got the slot, the last would take 25 s.
    const CALLS: usize = 25;
    let r = running(1, Duration::from_secs(1));
    let results = concurrent_puts(&r.actor, CALLS);
    let results = results.recv_timeout(BOUND).expect("every call timed out");
    let timed_out = Err(Error::Kv(KvError::TimedOut));
    assert!(results.iter().all(|r| *r == timed_out), "{results:?}");
    r.shut_down();
}
