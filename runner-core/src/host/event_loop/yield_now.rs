//! Yielding to the tasks the loop spawned while inputs keep coming.

use std::task::{Context, Poll};

/// Inputs the loop handles before it lets the tasks it spawned run. While
/// the engine keeps the socket busy (a burst of thousands of starts) every
/// poll finds an input ready, and without a yield the loop would keep its
/// thread: the start and request tasks it spawns would wait in the run queue
/// — holding their memory — until the burst ends (seen with the tokio driver
/// on one CPU: 10 000 starts left ~500 B per actor of heap behind).
pub(super) const INPUTS_PER_YIELD: u32 = 32;

/// Pending once, after waking itself: the task goes to the back of the
/// runtime's queue. Runtime-neutral.
#[derive(Default)]
pub(super) struct YieldNow {
    yielded: bool,
}

impl std::future::Future for YieldNow {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
