//! The loop's own wake-ups, kept inside its task.
//!
//! Much of what wakes the loop comes from the loop itself: a message it
//! hands to a handler it polls (see [`super::local`]), the call that
//! handler makes, the reply the loop sends back. A waker called while its
//! task runs makes the runtime poll the task again once it returns — on
//! tokio's multi-threaded scheduler by pushing it to a run queue and waking
//! an idle worker to steal it: measured with one WebSocket message in
//! flight, 0.8 futex calls and 0.6 more context switches per message. So
//! the loop task runs behind a waker of its own ([`KeepOwnWakes`]): a wake
//! while the task runs is only noted, and the task polls the loop again
//! before it returns to the runtime; a wake while it waits goes to the
//! runtime as usual.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::task::{Context, Poll};

use futures::task::{ArcWake, AtomicWaker, waker_ref};

/// Polls of the loop in one poll of its task, at most: past them the task
/// yields to the runtime even though it is still woken.
const REPOLLS_PER_POLL: u32 = 64;

/// Polls `inner` behind the shared waker (see the module).
pub(super) struct KeepOwnWakes<F> {
    inner: Pin<Box<F>>,
    shared: Arc<Shared>,
}

/// The waker the loop's future sees, and what the loop uses to yield.
#[derive(Default)]
pub(super) struct Shared {
    /// The task is being polled: a wake is noted, not passed on.
    running: AtomicBool,
    /// Woken since the poll began.
    woken: AtomicBool,
    /// The loop asked to yield to the runtime (see [`YieldNow`]).
    yield_asked: AtomicBool,
    /// The runtime's waker for the task.
    outer: AtomicWaker,
}

impl ArcWake for Shared {
    fn wake_by_ref(shared: &Arc<Self>) {
        shared.woken.store(true, SeqCst);
        // Read after the store: if the poller has already stopped running
        // it may not see `woken`, so the runtime must be told.
        if !shared.running.load(SeqCst) {
            shared.outer.wake();
        }
    }
}

impl<F: Future> KeepOwnWakes<F> {
    pub(super) fn new(inner: F, shared: Arc<Shared>) -> Self {
        KeepOwnWakes {
            inner: Box::pin(inner),
            shared,
        }
    }
}

impl<F: Future> Future for KeepOwnWakes<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        this.shared.outer.register(cx.waker());
        let waker = waker_ref(&this.shared);
        for _ in 0..REPOLLS_PER_POLL {
            this.shared.running.store(true, SeqCst);
            this.shared.woken.store(false, SeqCst);
            let polled = this.inner.as_mut().poll(&mut Context::from_waker(&waker));
            this.shared.running.store(false, SeqCst);
            if polled.is_ready() {
                return polled;
            }
            if this.shared.yield_asked.swap(false, SeqCst) {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            // A wake that came while running was only noted: poll again.
            // (One after `running` went false went to the runtime.)
            if !this.shared.woken.swap(false, SeqCst) {
                return Poll::Pending;
            }
        }
        // Still woken: yield, so that a handler that wakes itself on every
        // poll cannot keep the runtime (its timers, its other tasks) from
        // ever running this thread.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Inputs the loop handles before it lets the tasks it spawned run. While
/// the engine keeps the socket busy (a burst of thousands of starts) every
/// poll finds an input ready, and without a yield the loop would keep its
/// thread: the start and request tasks it spawns would wait in the run queue
/// — holding their memory — until the burst ends (seen with the tokio driver
/// on one CPU: 10 000 starts left ~500 B per actor of heap behind).
pub(super) const INPUTS_PER_YIELD: u32 = 32;

/// Pending once, having asked [`KeepOwnWakes`] to return to the runtime
/// and be polled again: the task goes to the back of the runtime's queue.
/// Runtime-neutral. (Waking itself, as a plain yield does, would be kept
/// inside the task, and the loop would go on without yielding.)
pub(super) struct YieldNow {
    shared: Arc<Shared>,
    yielded: bool,
}

impl YieldNow {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        YieldNow {
            shared,
            yielded: false,
        }
    }
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        self.shared.yield_asked.store(true, SeqCst);
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use futures::task::waker;

    use super::*;

    /// The runtime's waker: counts its wakes.
    #[derive(Default)]
    struct Runtime(AtomicUsize);

    impl ArcWake for Runtime {
        fn wake_by_ref(runtime: &Arc<Self>) {
            runtime.0.fetch_add(1, SeqCst);
        }
    }

    /// Polls `future` once as the runtime would; the runtime's wakes.
    fn poll_once<F: Future>(future: &mut KeepOwnWakes<F>) -> (Poll<F::Output>, usize) {
        let runtime = Arc::new(Runtime::default());
        let waker = waker(runtime.clone());
        let polled = Pin::new(future).poll(&mut Context::from_waker(&waker));
        (polled, runtime.0.load(SeqCst))
    }

    #[test]
    fn a_wake_while_running_is_kept_inside_the_task() {
        // Wakes itself twice, then is done: polled three times in one poll
        // of the task, and the runtime is never woken.
        let mut polls = 0;
        let inner = futures::future::poll_fn(move |cx| {
            polls += 1;
            if polls < 3 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(polls)
        });
        let mut task = KeepOwnWakes::new(inner, Arc::default());
        assert_eq!(poll_once(&mut task), (Poll::Ready(3), 0));
    }

    #[test]
    fn a_wake_while_waiting_reaches_the_runtime() {
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let mut task = KeepOwnWakes::new(rx, Arc::default());
        let runtime = Arc::new(Runtime::default());
        let waker = waker(runtime.clone());
        let cx = &mut Context::from_waker(&waker);
        assert!(Pin::new(&mut task).poll(cx).is_pending());
        tx.send(()).unwrap();
        assert_eq!(runtime.0.load(SeqCst), 1);
        assert!(Pin::new(&mut task).poll(cx).is_ready());
    }

    #[test]
    fn yield_now_returns_to_the_runtime() {
        let shared = Arc::new(Shared::default());
        let mut task = KeepOwnWakes::new(YieldNow::new(shared.clone()), shared);
        assert_eq!(poll_once(&mut task), (Poll::Pending, 1));
        assert_eq!(poll_once(&mut task), (Poll::Ready(()), 0));
    }

    #[test]
    fn a_future_that_always_wakes_itself_still_yields() {
        let polls = Arc::new(AtomicUsize::new(0));
        let counted = polls.clone();
        let inner = futures::future::poll_fn(move |cx| {
            counted.fetch_add(1, SeqCst);
            cx.waker().wake_by_ref();
            Poll::<()>::Pending
        });
        let mut task = KeepOwnWakes::new(inner, Arc::default());
        assert_eq!(poll_once(&mut task), (Poll::Pending, 1));
        assert_eq!(polls.load(SeqCst), REPOLLS_PER_POLL as usize);
    }
}
