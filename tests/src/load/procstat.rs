//! What a process costs, from `/proc`: CPU time (utime + stime, every
//! thread) and resident memory (current and peak).

use std::time::Duration;

use anyhow::{Context, Result};

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on every
/// Linux architecture we run on).
const TICKS_PER_SECOND: u64 = 100;

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcStats {
    /// User plus system CPU time of every thread so far.
    pub cpu: Duration,
    /// Resident set now (`VmRSS`), in bytes.
    pub rss: u64,
    /// Peak resident set (`VmHWM`), in bytes.
    pub peak_rss: u64,
}

impl ProcStats {
    /// Reads process `pid` (`None`: this process).
    pub fn read(pid: Option<u32>) -> Result<ProcStats> {
        let dir = match pid {
            Some(pid) => format!("/proc/{pid}"),
            None => "/proc/self".to_owned(),
        };
        let stat = std::fs::read_to_string(format!("{dir}/stat"))
            .with_context(|| format!("cannot read {dir}/stat"))?;
        let status = std::fs::read_to_string(format!("{dir}/status"))
            .with_context(|| format!("cannot read {dir}/status"))?;
        Ok(ProcStats {
            cpu: cpu_time(&stat).with_context(|| format!("bad {dir}/stat"))?,
            rss: status_kib(&status, "VmRSS:").unwrap_or(0) * 1024,
            peak_rss: status_kib(&status, "VmHWM:").unwrap_or(0) * 1024,
        })
    }
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line. The
/// command name (field 2) may hold spaces and parentheses, so fields are
/// counted from the last `)`.
fn cpu_time(stat: &str) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // `rest` starts at field 3 (state): utime is field 14, the 12th here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// A `Name:   123 kB` line of `/proc/<pid>/status`, in KiB.
fn status_kib(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn parses_stat_and_status() {
        let stat = "1234 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 100 0 0";
        assert_eq!(cpu_time(stat), Some(Duration::from_secs(3)));
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(1024));
        assert_eq!(status_kib(status, "VmHWM:"), Some(2048));
        let me = ProcStats::read(None).unwrap();
        assert!(me.rss > 0 && me.peak_rss >= me.rss);
    }
}
