//! [`Recorder`]: the operations a mode completed and their latencies, and
//! how a [`Conn`] starts and stops recording them.

use std::time::Instant;

use super::Conn;

/// Completed operations and their latencies.
#[derive(Debug, Default)]
pub struct Recorder {
    measuring: bool,
    /// Operations completed while measuring.
    pub completed: u64,
    /// Failed operations (unexpected status, abort) while measuring.
    pub errors: u64,
    /// Latency of each completed operation while measuring, in µs.
    pub latencies_us: Vec<u32>,
}

impl Recorder {
    pub(super) fn record(&mut self, sent: Instant, ok: bool) {
        if !self.measuring {
            return;
        }
        self.completed += 1;
        if !ok {
            self.errors += 1;
        }
        let us = sent.elapsed().as_micros().min(u32::MAX as u128) as u32;
        self.latencies_us.push(us);
    }

    /// The `q` quantile (0..=1) of the latencies, in ms.
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        self.latencies_us.sort_unstable();
        let i = ((self.latencies_us.len() - 1) as f64 * q).round() as usize;
        f64::from(self.latencies_us[i]) / 1000.0
    }
}

impl Conn {
    /// Starts recording completions (after the warm-up).
    pub fn start_recording(&mut self) {
        self.recorder = Recorder {
            measuring: true,
            ..Recorder::default()
        };
    }

    /// Stops recording and returns what was recorded.
    pub fn take_recording(&mut self) -> Recorder {
        let mut recorder = std::mem::take(&mut self.recorder);
        recorder.measuring = false;
        recorder
    }
}
