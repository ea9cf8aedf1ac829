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
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::Timestamp;
    /// assert_eq!(Timestamp::ZERO, Timestamp::default());
    /// assert_eq!(Timestamp::ZERO.as_millis(), 0);
    /// assert!(Timestamp::ZERO < Timestamp::from_millis(1));
    /// ```
    pub const ZERO: Timestamp = Timestamp(Duration::ZERO);

    /// `ms` milliseconds after the origin.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runner_core::Timestamp;
    /// let t = Timestamp::from_millis(1500);
    /// assert_eq!(t.as_duration(), Duration::from_millis(1500));
    /// assert_eq!(t, Timestamp::from(Duration::from_secs_f64(1.5)));
    /// ```
    pub const fn from_millis(ms: u64) -> Self {
        Timestamp(Duration::from_millis(ms))
    }

    /// Time since the origin.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runner_core::Timestamp;
    /// // A driver measures from its own origin, e.g. `Timestamp::from(origin.elapsed())`.
    /// let t = Timestamp::from(Duration::from_micros(2_500));
    /// assert_eq!(t.as_duration(), Duration::from_micros(2_500));
    /// ```
    pub const fn as_duration(self) -> Duration {
        self.0
    }

    /// Whole milliseconds since the origin.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runner_core::Timestamp;
    /// assert_eq!(Timestamp::from_millis(42).as_millis(), 42);
    /// // Fractions of a millisecond are dropped.
    /// assert_eq!(Timestamp::from(Duration::from_micros(2_999)).as_millis(), 2);
    /// ```
    pub fn as_millis(self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }

    /// `self - earlier`, or zero if `earlier` is later.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runner_core::Timestamp;
    /// let (early, late) = (Timestamp::from_millis(100), Timestamp::from_millis(350));
    /// assert_eq!(late.saturating_duration_since(early), Duration::from_millis(250));
    /// assert_eq!(early.saturating_duration_since(late), Duration::ZERO);
    /// ```
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
