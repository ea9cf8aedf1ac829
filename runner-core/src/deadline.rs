//! Many deadlines of one kind, cancellable, earliest first.

use std::collections::BTreeMap;

use crate::Timestamp;

/// Handle to one scheduled deadline, used to cancel it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct DeadlineToken(Timestamp, u64);

/// A set of deadlines carrying a value each. Insertion, cancellation and
/// popping are `O(log n)` in the number of *live* deadlines: cancelled ones are
/// removed at once, so nothing accumulates behind a slow entry.
#[derive(Debug)]
pub(crate) struct DeadlineQueue<K> {
    entries: BTreeMap<DeadlineToken, K>,
    next_seq: u64,
}

impl<K> Default for DeadlineQueue<K> {
    fn default() -> Self {
        DeadlineQueue {
            entries: BTreeMap::new(),
            next_seq: 0,
        }
    }
}

impl<K> DeadlineQueue<K> {
    pub(crate) fn insert(&mut self, at: Timestamp, key: K) -> DeadlineToken {
        let token = DeadlineToken(at, self.next_seq);
        self.next_seq += 1;
        self.entries.insert(token, key);
        token
    }

    pub(crate) fn cancel(&mut self, token: DeadlineToken) -> Option<K> {
        self.entries.remove(&token)
    }

    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        self.entries.first_key_value().map(|(t, _)| t.0)
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Timestamp) -> Option<K> {
        let (token, _) = self.entries.first_key_value()?;
        if token.0 > now {
            return None;
        }
        self.entries.pop_first().map(|(_, k)| k)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// Every entry, earliest first, and the next sequence number: what a
    /// snapshot keeps (tokens held elsewhere stay valid across a restore).
    pub(crate) fn parts(&self) -> (impl Iterator<Item = (DeadlineToken, &K)>, u64) {
        (self.entries.iter().map(|(t, k)| (*t, k)), self.next_seq)
    }

    /// The queue [`parts`](Self::parts) described. A token at or past
    /// `next_seq` could collide with a future one, so it is refused.
    pub(crate) fn from_parts(
        entries: impl IntoIterator<Item = (DeadlineToken, K)>,
        next_seq: u64,
    ) -> Result<Self, &'static str> {
        let mut queue = DeadlineQueue {
            entries: BTreeMap::new(),
            next_seq,
        };
        for (token, key) in entries {
            if token.1 >= next_seq || queue.entries.insert(token, key).is_some() {
                return Err("deadline token out of sequence");
            }
        }
        Ok(queue)
    }
}

impl DeadlineToken {
    /// Its deadline and sequence number, for a snapshot.
    pub(crate) fn parts(self) -> (Timestamp, u64) {
        (self.0, self.1)
    }

    /// The token [`parts`](Self::parts) described.
    pub(crate) fn from_parts(at: Timestamp, seq: u64) -> Self {
        DeadlineToken(at, seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_then_insertion_order_and_cancels() {
        let mut q = DeadlineQueue::default();
        let a = q.insert(Timestamp::from_millis(20), "a");
        q.insert(Timestamp::from_millis(10), "b");
        q.insert(Timestamp::from_millis(10), "c");
        assert_eq!(q.next_deadline(), Some(Timestamp::from_millis(10)));
        assert_eq!(q.pop_due(Timestamp::from_millis(9)), None);
        assert_eq!(q.pop_due(Timestamp::from_millis(10)), Some("b"));
        assert_eq!(q.cancel(a), Some("a"));
        assert_eq!(q.pop_due(Timestamp::from_millis(99)), Some("c"));
        assert_eq!(q.pop_due(Timestamp::from_millis(99)), None);
        assert_eq!(q.len(), 0);
    }
}
