//! Handler tasks the loop polls itself.
//!
//! A request's or a WebSocket's handler runs, by default, inside the event
//! loop's own task rather than as a task of the runtime: the loop hands a
//! handler its request or message and polls it in the same turn, and the
//! handler's answer comes back through the call channel without waking
//! another thread. On a multi-threaded runtime a spawned handler costs, per
//! operation, a task, a wake-up of another worker to run it and a wake-up
//! of the loop for its answer (futex and eventfd syscalls, cross-thread
//! frees): measured, more than half of the runner's CPU per request.
//! [`Builder::spawn_handlers`](crate::host::Builder::spawn_handlers) puts
//! them back on tasks of their own, for handlers that compute.

use std::task::{Context, Poll};

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;

/// The handler futures the loop polls (each one ends itself: a handler's
/// future is wrapped with its panic guard, and with its abort handle where
/// the loop may cancel it).
#[derive(Default)]
pub(super) struct LocalTasks {
    tasks: FuturesUnordered<BoxFuture<'static, ()>>,
}

impl LocalTasks {
    pub(super) fn push(&mut self, task: BoxFuture<'static, ()>) {
        self.tasks.push(task);
    }

    /// Polls the tasks that were woken; ready when one of them ended. Only
    /// woken tasks are polled, so a loop turn with none costs nothing.
    pub(super) fn poll_ended(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.tasks.poll_next_unpin(cx) {
            Poll::Ready(Some(())) => Poll::Ready(()),
            // Empty: a task pushed later is polled on the next turn (the
            // push wakes nothing, but the loop polls after every input).
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}
