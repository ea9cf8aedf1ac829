//! Time as the core sees it: a value passed in by the caller.

use std::fmt;
use std::ops::{Add, AddAssign};
use std::time::Duration;

/// A point on the caller's monotonic clock, as the time elapsed since an origin
/// the caller chose (typically when the runner was created).
///
/// The core never reads a clock: every input carries `now`, and every deadline
/// it hands back ([`Runner::poll_timeout`](crate::Runner::poll_timeout)) is on
/// the same scale. A driver converts with
/// `Timestamp::from(origin.elapsed())`; a simulation just counts.
///
/// ```
/// use std::time::Duration;
/// use runner_core::Timestamp;
/// let t = Timestamp::from_millis(1500);
/// assert_eq!(t + Duration::from_millis(500), Timestamp::from_millis(2000));
/// assert_eq!(t.saturating_duration_since(Timestamp::from_millis(2000)), Duration::ZERO);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(Duration);

impl Timestamp {
    /// The origin.
    pub const ZERO: Timestamp = Timestamp(Duration::ZERO);

    /// `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Self {
        Timestamp(Duration::from_millis(ms))
    }

    /// Time since the origin.
    pub const fn as_duration(self) -> Duration {
        self.0
    }

    /// Whole milliseconds since the origin.
    pub fn as_millis(self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl From<Duration> for Timestamp {
    fn from(d: Duration) -> Self {
        Timestamp(d)
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(d))
    }
}

impl AddAssign<Duration> for Timestamp {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t+{}ms", self.as_millis())
    }
}
