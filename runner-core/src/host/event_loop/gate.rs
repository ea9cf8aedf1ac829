//! Polling a stream only when it woke the loop.
//!
//! The loop wakes for many reasons (a call, a timer, the socket) and used
//! to poll every source each time. On a runtime whose sources try their
//! syscall on every poll (async-io, under async-std: a socket read, a
//! signal pipe read, then an `epoll_ctl` to re-arm), each wake cost those
//! syscalls for every source that had nothing. A [`WakeGate`] notes whether
//! its stream woke the loop since it was last pending, and skips the poll
//! when it did not.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures::task::{ArcWake, AtomicWaker};
use futures::{Stream, StreamExt};

/// Stands between one stream and the loop's waker.
pub(super) struct WakeGate(Arc<Gate>);

struct Gate {
    /// The stream woke the loop (or was ready) since it was last pending.
    woken: AtomicBool,
    loop_waker: AtomicWaker,
}

impl Default for WakeGate {
    fn default() -> Self {
        WakeGate(Arc::new(Gate {
            woken: AtomicBool::new(true),
            loop_waker: AtomicWaker::new(),
        }))
    }
}

impl ArcWake for Gate {
    fn wake_by_ref(gate: &Arc<Self>) {
        gate.woken.store(true, Ordering::Release);
        gate.loop_waker.wake();
    }
}

impl WakeGate {
    /// `stream`'s next item, polled only when it woke the loop since it
    /// was last pending (or gave an item last time: more may be buffered).
    pub(super) fn poll_next<S: Stream + Unpin + ?Sized>(
        &self,
        stream: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<Option<S::Item>> {
        let gate = &self.0;
        gate.loop_waker.register(cx.waker());
        if !gate.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        // The stream wakes the gate, which notes it and wakes the loop.
        let waker = futures::task::waker_ref(gate);
        let next = stream.poll_next_unpin(&mut Context::from_waker(&waker));
        if next.is_ready() {
            gate.woken.store(true, Ordering::Release);
        }
        next
    }
}
