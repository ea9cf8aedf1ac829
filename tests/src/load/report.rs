//! Markdown tables of load results, ready to paste into the README.

use std::fmt::Write;

use super::Mode;
use super::real::RealReport;
use super::session::SessionReport;

const MIB: f64 = 1024.0 * 1024.0;

/// The label every ratio is taken against.
pub const BASELINE: &str = "ts";

/// Throughput, latency and cost of each mode, one row per runner, for
/// sessions that ran the same plan.
pub fn throughput_table(sessions: &[SessionReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| mode | in flight | runner | ops/s | p50 ms | p99 ms | runner CPU s / 10k ops | runner cores busy | ops per runner CPU-s | runner RSS MiB | errors | load avg |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for mode in Mode::ALL {
        for s in sessions {
            let Some(m) = s.mode(mode) else { continue };
            let _ = writeln!(
                out,
                "| {} ({}) | {} | {} | {:.0} | {:.2} | {:.2} | {:.3} | {:.2} | {:.0} | {:.1} | {} | {:.2} |",
                mode,
                mode.unit(),
                m.in_flight,
                s.label,
                m.per_s(),
                m.p50_ms,
                m.p99_ms,
                m.cpu_s_per_10k(),
                m.runner_cores(),
                m.per_cpu_s(),
                m.rss as f64 / MIB,
                m.errors,
                s.load_avg
            );
        }
    }
    out
}

/// Each of our runners against [`BASELINE`], per mode: throughput, throughput
/// at equal CPU, and CPU per operation.
pub fn ratio_table(sessions: &[SessionReport]) -> String {
    let mut out = String::new();
    let Some(base) = sessions.iter().find(|s| s.label == BASELINE) else {
        return out;
    };
    let _ = writeln!(
        out,
        "| mode | runner | ops/s ÷ TS | ops per CPU-s ÷ TS (equal CPU) | TS CPU per op ÷ ours | TS p50 ÷ ours |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for mode in Mode::ALL {
        let Some(b) = base.mode(mode) else { continue };
        for s in sessions.iter().filter(|s| s.label != BASELINE) {
            let Some(m) = s.mode(mode) else { continue };
            let _ = writeln!(
                out,
                "| {} | {} | {:.2}× | {:.2}× | {:.2}× | {:.2}× |",
                mode,
                s.label,
                m.per_s() / b.per_s(),
                m.per_cpu_s() / b.per_cpu_s(),
                b.cpu_us_per_unit() / m.cpu_us_per_unit(),
                b.p50_ms / m.p50_ms,
            );
        }
    }
    out
}

/// Starting N actors and what they cost, one row per (runner, N).
pub fn scale_table(sessions: &[SessionReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| actors | runner | all running after (s) | starts/s | runner CPU µs / start | RSS per actor when all running (B) | idle RSS per actor, 2 s later (B) | idle RSS MiB | peak RSS MiB | CPU µs / event (stop+start cycles) | CPU µs / req (http-ping over all actors) | clean SIGTERM exit | load avg |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for s in sessions {
        let opt = |mode: Mode| {
            s.mode(mode)
                .map_or("—".to_owned(), |m| format!("{:.1}", m.cpu_us_per_unit()))
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {:.0} | {:.1} | {:.0} | {:.0} | {:.1} | {:.1} | {} | {} | {} | {:.2} |",
            s.start.actors,
            s.label,
            s.start.elapsed.as_secs_f64(),
            s.start.starts_per_s(),
            s.start.cpu_us_per_start(),
            s.start.rss_per_actor_running(),
            s.start.rss_per_actor(),
            s.start.rss_idle as f64 / MIB,
            s.peak_rss as f64 / MIB,
            opt(Mode::Events),
            opt(Mode::HttpPing),
            if s.clean_exit { "yes" } else { "no" },
            s.load_avg,
        );
    }
    out
}

/// Real-engine runs, one row per runner.
pub fn real_table(reports: &[RealReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| runner | in flight | req/s | p50 ms | p99 ms | runner CPU s / 10k req | engine CPU s / 10k req | runner RSS MiB | runner peak RSS MiB | errors |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for r in reports {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.1} | {:.1} | {:.3} | {:.3} | {:.1} | {:.1} | {} |",
            r.label,
            r.in_flight,
            r.per_s(),
            r.p50_ms,
            r.p99_ms,
            r.runner_cpu_s_per_10k(),
            r.engine_cpu_s_per_10k(),
            r.runner_rss as f64 / MIB,
            r.runner_peak_rss as f64 / MIB,
            r.errors
        );
    }
    out
}

/// Round two's targets (issue 17): the TypeScript runner's CPU per
/// operation ÷ ours, per mode.
const CPU_TARGETS: [(Mode, &str, f64); 3] = [
    (Mode::HttpPing, "request", 10.0),
    (Mode::Ws, "WebSocket message", 15.0),
    (Mode::Kv, "KV round trip", 8.0),
];

/// The targets, checked against these results: one line each.
/// The memory targets (idle RSS per actor, peak RSS under churn) are
/// checked at `idle_actors` actors, and not at all when it is `None`: the
/// idle RSS of a handful of actors is mostly the process's own.
pub fn targets(
    throughput: &[SessionReport],
    scale: &[SessionReport],
    idle_actors: Option<usize>,
) -> String {
    let mut out = String::new();
    let labels: Vec<String> = throughput
        .iter()
        .chain(scale)
        .map(|s| s.label.clone())
        .filter(|l| l != BASELINE)
        .fold(Vec::new(), |mut v, l| {
            if !v.contains(&l) {
                v.push(l);
            }
            v
        });
    let base = throughput.iter().find(|s| s.label == BASELINE);
    let all: Vec<SessionReport> = throughput.iter().chain(scale).cloned().collect();
    for label in &labels {
        let ours = throughput.iter().find(|s| &s.label == label);
        if let (Some(ours), Some(base)) = (ours, base) {
            for (mode, what, target) in CPU_TARGETS {
                if let (Some(m), Some(b)) = (ours.mode(mode), base.mode(mode)) {
                    let ratio = b.cpu_us_per_unit() / m.cpu_us_per_unit();
                    let _ = writeln!(
                        out,
                        "- {label}: CPU per {what} = 1/{ratio:.1} of TS ({:.1} µs vs {:.1} µs; target ≤ 1/{target}: {})",
                        m.cpu_us_per_unit(),
                        b.cpu_us_per_unit(),
                        verdict(ratio >= target)
                    );
                }
            }
        }
        memory_targets(&mut out, &all, label, idle_actors);
        let events: Vec<(usize, f64)> = all
            .iter()
            .filter(|s| &s.label == label)
            .filter_map(|s| {
                s.mode(Mode::Events)
                    .map(|m| (s.start.actors, m.cpu_us_per_unit()))
            })
            .collect();
        let small = events.iter().min_by_key(|(n, _)| *n);
        let large = events.iter().max_by_key(|(n, _)| *n);
        if let (Some(&(n0, c0)), Some(&(n1, c1))) = (small, large) {
            if n1 > n0 {
                let _ = writeln!(
                    out,
                    "- {label}: CPU per event at {n1} actors = {c1:.1} µs vs {c0:.1} µs at {n0} = {:.2}× (target ≤ 2×: {})",
                    c1 / c0,
                    verdict(c1 / c0 <= 2.0)
                );
            }
        }
    }
    out
}

/// A target's verdict.
fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

/// The memory targets at `idle_actors` actors (none when `None`): idle RSS
/// per actor against TS, and peak RSS under stop/start churn against idle.
fn memory_targets(
    out: &mut String,
    all: &[SessionReport],
    label: &str,
    idle_actors: Option<usize>,
) {
    let Some(idle_actors) = idle_actors else {
        return;
    };
    let find = |label: &str| {
        all.iter()
            .find(|s| s.label == label && s.start.actors == idle_actors)
    };
    if let (Some(o), Some(b)) = (find(label), find(BASELINE)) {
        let per_actor = [
            (
                "right after the start burst",
                o.start.rss_per_actor_running(),
                b.start.rss_per_actor_running(),
            ),
            (
                "idle, 2 s later,",
                o.start.rss_per_actor(),
                b.start.rss_per_actor(),
            ),
        ];
        for (when, ours, theirs) in per_actor {
            let ratio = theirs / ours.max(1.0);
            let _ = writeln!(
                out,
                "- {label}: memory per actor {when} at {idle_actors} actors = {ours:.0} B vs TS {theirs:.0} B = 1/{ratio:.1} (target ≤ 1/10: {})",
                verdict(ratio >= 10.0)
            );
        }
    }
    for churn in all
        .iter()
        .filter(|s| s.label == label && s.start.actors == idle_actors)
    {
        if churn.mode(Mode::Events).is_some() && churn.start.rss_idle > 0 {
            let ratio = churn.peak_rss as f64 / churn.start.rss_idle as f64;
            let _ = writeln!(
                out,
                "- {label}: peak RSS under stop/start churn at {idle_actors} actors = {ratio:.2}× the idle RSS (target ≤ 2×: {})",
                verdict(ratio <= 2.0)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::load::session::StartReport;

    /// A session of `label` that started `actors` actors, growing its RSS
    /// by `per_actor` bytes each, and measured no mode.
    fn session(label: &str, actors: usize, per_actor: u64) -> SessionReport {
        SessionReport {
            label: label.to_owned(),
            start: StartReport {
                actors,
                elapsed: Duration::from_secs(1),
                cpu: Duration::from_secs(1),
                rss_before: 1 << 20,
                rss_running: (1 << 20) + 2 * per_actor * actors as u64,
                rss_idle: (1 << 20) + per_actor * actors as u64,
            },
            modes: Vec::new(),
            peak_rss: 0,
            clean_exit: true,
            load_avg: 0.0,
        }
    }

    #[test]
    fn memory_targets_are_checked_at_the_scale_asked_for() {
        let scale = [session("tokio", 10_000, 400), session("ts", 10_000, 5_000)];
        let lines = targets(&[], &scale, Some(10_000));
        let expected = [
            "memory per actor right after the start burst at 10000 actors = 800 B vs TS 10000 B = 1/12.5 (target ≤ 1/10: met)",
            "memory per actor idle, 2 s later, at 10000 actors = 400 B vs TS 5000 B = 1/12.5 (target ≤ 1/10: met)",
        ];
        for line in expected {
            assert!(lines.contains(line), "{lines}");
        }
    }

    #[test]
    fn without_a_scale_session_no_memory_target_is_checked() {
        // Ten actors' idle RSS is the process's own, not the actors'.
        let throughput = [session("tokio", 10, 7_000), session("ts", 10, 20_000)];
        let lines = targets(&throughput, &[], None);
        assert!(!lines.contains("memory per actor"), "{lines}");
    }
}
