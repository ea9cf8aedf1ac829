//! The runner-wide timers, one slot each (quinn's `TimerTable`).

use crate::Timestamp;

/// One timer of which at most one instance is armed at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// The transport must open, or `ToClientInit` arrive, by then.
    Handshake,
    /// No frame from the engine since this long: the connection is dead.
    Liveness,
    /// Backoff before the next connection attempt.
    Reconnect,
    /// Unreachable for the engine's runner-lost threshold: stop every actor.
    RunnerLost,
    /// End of the graceful-shutdown drain.
    Drain,
    /// The transport did not confirm the close asked for.
    CloseWait,
}

const COUNT: usize = 6;

impl Timer {
    const ALL: [Timer; COUNT] = [
        Timer::Handshake,
        Timer::Liveness,
        Timer::Reconnect,
        Timer::RunnerLost,
        Timer::Drain,
        Timer::CloseWait,
    ];

    fn slot(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Default)]
pub(super) struct TimerTable {
    deadlines: [Option<Timestamp>; COUNT],
}

impl TimerTable {
    pub(super) fn set(&mut self, timer: Timer, at: Timestamp) {
        self.deadlines[timer.slot()] = Some(at);
    }

    pub(super) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.slot()] = None;
    }

    /// Disarms every timer (the runner is done).
    pub(super) fn stop_all(&mut self) {
        self.deadlines = [None; COUNT];
    }

    pub(super) fn is_armed(&self, timer: Timer) -> bool {
        self.deadlines[timer.slot()].is_some()
    }

    pub(super) fn next_deadline(&self) -> Option<Timestamp> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarms and returns the first timer due at `now`, in declaration order.
    pub(super) fn pop_due(&mut self, now: Timestamp) -> Option<Timer> {
        let timer = Timer::ALL
            .into_iter()
            .find(|t| self.deadlines[t.slot()].is_some_and(|at| at <= now))?;
        self.stop(timer);
        Some(timer)
    }
}

// The snapshot's part (see `super::snapshot`): every slot, in `Timer::ALL` order.
impl TimerTable {
    pub(super) fn save(&self, s: &mut crate::encoding::state::Saver) {
        for at in self.deadlines {
            crate::encoding::values::put_opt_time(&mut s.buf, at);
        }
    }

    pub(super) fn load(
        c: &mut crate::encoding::codec::Cursor<'_>,
    ) -> Result<Self, crate::encoding::codec::Malformed> {
        let mut table = TimerTable::default();
        for slot in &mut table.deadlines {
            *slot = crate::encoding::values::get_opt_time(c)?;
        }
        Ok(table)
    }
}
