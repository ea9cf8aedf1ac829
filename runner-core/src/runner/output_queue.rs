//! [`OutputQueue`]: an output queue (transmits, events) that knows which of
//! its items the current input produced, for the flight recorder's digest.
//!
//! Counting from the length at the input's start is not enough: an input
//! that loses the connection drops the frames still queued, older ones
//! included, so the queue can end shorter than it began. The queue counts
//! its fresh items instead: pushes add one, and removals (a `retain`, or
//! the caller draining mid-input) take away the fresh ones they removed.

use std::collections::VecDeque;

/// Capacity a queue keeps once drained. A burst (10 000 starts in a few
/// frames) grows a queue to its size; without this the runner would keep
/// that peak, ~150 B per queued event, for the rest of its life.
const KEEP: usize = 256;

#[derive(Debug)]
pub(super) struct OutputQueue<T> {
    queue: VecDeque<T>,
    /// How many items at the back were pushed since [`mark`](Self::mark).
    fresh: usize,
}

impl<T> Default for OutputQueue<T> {
    fn default() -> Self {
        OutputQueue {
            queue: VecDeque::new(),
            fresh: 0,
        }
    }
}

impl<T> OutputQueue<T> {
    pub(super) fn push_back(&mut self, item: T) {
        self.queue.push_back(item);
        self.fresh += 1;
    }

    /// How many items wait (for the metrics' queue depth).
    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }

    /// The next item; once empty, gives back the capacity of a burst.
    pub(super) fn pop_front(&mut self) -> Option<T> {
        let next = self.queue.pop_front();
        self.fresh = self.fresh.min(self.queue.len());
        if next.is_none() && self.queue.capacity() > KEEP {
            self.queue.shrink_to(KEEP);
        }
        next
    }

    /// Keeps the items `keep` accepts, in order (every item is visited once,
    /// front to back, as `VecDeque::retain` does).
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let old = self.queue.len() - self.fresh;
        let (mut index, mut fresh_removed) = (0, 0);
        self.queue.retain(|item| {
            let kept = keep(item);
            if !kept && index >= old {
                fresh_removed += 1;
            }
            index += 1;
            kept
        });
        self.fresh -= fresh_removed;
    }

    /// The queued items, oldest first (for a snapshot).
    pub(super) fn iter(&self) -> std::collections::vec_deque::Iter<'_, T> {
        self.queue.iter()
    }

    /// From now on, only items pushed after this call are fresh.
    pub(super) fn mark(&mut self) {
        self.fresh = 0;
    }

    /// The items pushed since [`mark`](Self::mark) that are still queued.
    pub(super) fn fresh(&self) -> std::collections::vec_deque::Iter<'_, T> {
        self.queue.range(self.queue.len() - self.fresh..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_items_survive_a_retain_that_drops_older_ones() {
        let mut queue = OutputQueue::default();
        queue.push_back(1);
        queue.push_back(2);
        queue.mark();
        queue.push_back(3);
        queue.push_back(4);
        queue.retain(|n| n % 2 == 1); // drops 2 (old) and 4 (fresh)
        assert_eq!(queue.fresh().copied().collect::<Vec<_>>(), [3]);
        queue.push_back(5);
        assert_eq!(queue.fresh().copied().collect::<Vec<_>>(), [3, 5]);
        while queue.pop_front().is_some() {}
        assert_eq!(queue.fresh().count(), 0);
    }
}
