//! One runner process driven through the load engine: connect, start N
//! actors (timed, memory before and after), then each mode in turn (warm-up,
//! measured stretch, drain), then a graceful shutdown.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::Mode;
use super::engine::{LoadEngine, Traffic};
use super::pin::{self, Pinning, RestoreAffinity};
use super::procstat::ProcStats;
use crate::runner_process::RunnerProcess;

/// A runner program that follows `shared/spec/test-runner.md`.
#[derive(Debug, Clone)]
pub struct RunnerSpec {
    /// Its name in tables (`tokio`, `async-std`, `ts`).
    pub label: String,
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Extra environment (`RIVET_ENDPOINT` and friends are set anyway).
    pub env: Vec<(String, String)>,
}

/// What one session does.
#[derive(Debug, Clone)]
pub struct SessionPlan {
    /// Actors started (and kept running) before the modes.
    pub actors: usize,
    /// Modes measured, in order.
    pub modes: Vec<Mode>,
    /// In-flight operations and sizes.
    pub traffic: Traffic,
    /// Unmeasured traffic before each measurement.
    pub warmup: Duration,
    /// Measured stretch of each mode.
    pub measure: Duration,
    /// How long starting every actor may take.
    pub start_timeout: Duration,
    /// Most start commands outstanding at once (0: all at once).
    pub start_window: usize,
    /// One CPU for the load engine and one for the runner (`None`: wherever
    /// the scheduler puts them).
    pub pin: Option<Pinning>,
}

/// Starting the actors.
#[derive(Debug, Clone, Copy)]
pub struct StartReport {
    /// Actors started.
    pub actors: usize,
    /// From the first start command to the last `Running` event.
    pub elapsed: Duration,
    /// Runner CPU time over that stretch.
    pub cpu: Duration,
    /// Runner RSS before the first start command.
    pub rss_before: u64,
    /// Runner RSS the moment the last actor reported running: what the
    /// start burst left, before anything settles.
    pub rss_running: u64,
    /// Runner RSS with every actor running and idle (2 s after the start).
    pub rss_idle: u64,
}

impl StartReport {
    /// RSS growth per running actor, in bytes.
    pub fn rss_per_actor(&self) -> f64 {
        self.growth_per_actor(self.rss_idle)
    }

    /// RSS growth per actor the moment the last one reported running, in
    /// bytes.
    pub fn rss_per_actor_running(&self) -> f64 {
        self.growth_per_actor(self.rss_running)
    }

    /// RSS growth from before the first start to `rss`, per actor.
    fn growth_per_actor(&self, rss: u64) -> f64 {
        rss.saturating_sub(self.rss_before) as f64 / self.actors.max(1) as f64
    }

    /// Runner CPU per actor start (start command in, `Running` out), in µs.
    pub fn cpu_us_per_start(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.actors.max(1) as f64
    }

    /// Starts acknowledged per second.
    pub fn starts_per_s(&self) -> f64 {
        self.actors as f64 / self.elapsed.as_secs_f64()
    }
}

/// One measured mode.
#[derive(Debug, Clone)]
pub struct ModeReport {
    /// The mode.
    pub mode: Mode,
    /// In flight.
    pub in_flight: usize,
    /// Operations completed in the measured stretch.
    pub ops: u64,
    /// Of which failed.
    pub errors: u64,
    /// The measured stretch.
    pub elapsed: Duration,
    /// Runner CPU time in it.
    pub runner_cpu: Duration,
    /// Load engine CPU time in it.
    pub engine_cpu: Duration,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Runner RSS at the end of the stretch.
    pub rss: u64,
    /// Runner peak RSS so far.
    pub peak_rss: u64,
}

impl ModeReport {
    /// Units (requests, messages, KV round trips, events) measured.
    pub fn units(&self) -> u64 {
        self.ops * self.mode.units_per_op()
    }

    /// Units per second.
    pub fn per_s(&self) -> f64 {
        self.units() as f64 / self.elapsed.as_secs_f64()
    }

    /// Runner CPU µs per unit.
    pub fn cpu_us_per_unit(&self) -> f64 {
        self.runner_cpu.as_secs_f64() * 1e6 / self.units().max(1) as f64
    }

    /// Runner CPU seconds per 10 000 units.
    pub fn cpu_s_per_10k(&self) -> f64 {
        self.cpu_us_per_unit() / 100.0
    }

    /// Runner cores busy on average.
    pub fn runner_cores(&self) -> f64 {
        self.runner_cpu.as_secs_f64() / self.elapsed.as_secs_f64()
    }

    /// Units per runner CPU second (throughput at equal CPU).
    pub fn per_cpu_s(&self) -> f64 {
        self.units() as f64 / self.runner_cpu.as_secs_f64().max(1e-9)
    }
}

/// Everything one session measured.
#[derive(Debug, Clone)]
pub struct SessionReport {
    /// The runner's label.
    pub label: String,
    /// Starting the actors.
    pub start: StartReport,
    /// The modes, in order.
    pub modes: Vec<ModeReport>,
    /// Runner peak RSS over the whole session.
    pub peak_rss: u64,
    /// Whether SIGTERM ended the runner cleanly (exit 0 within 60 s).
    pub clean_exit: bool,
    /// `/proc/loadavg`'s 1-minute load when the session began.
    pub load_avg: f64,
}

impl SessionReport {
    /// The report of `mode`, if it was measured.
    pub fn mode(&self, mode: Mode) -> Option<&ModeReport> {
        self.modes.iter().find(|m| m.mode == mode)
    }
}

/// Runs `spec` through a fresh load engine as `plan` says.
pub async fn run_session(spec: &RunnerSpec, plan: &SessionPlan) -> Result<SessionReport> {
    let load_avg = load_avg();
    let engine = LoadEngine::bind().await?;
    let mut builder = RunnerProcess::builder(&spec.program)
        .runner_name("load")
        .total_slots(plan.actors.max(1000) as u32);
    for arg in &spec.args {
        builder = builder.arg(arg.clone());
    }
    for (name, value) in &spec.env {
        builder = builder.env(name, value);
    }
    let endpoint = engine.endpoint();
    // The session's thread runs the load engine; pinned, it stays on its
    // CPU until the session ends.
    let _restore = plan.pin.map(|_| RestoreAffinity::save()).transpose()?;
    let mut process = match plan.pin {
        Some(p) => {
            let spawn = || builder.spawn_with_endpoint(&endpoint);
            pin::spawn_pinned(p.runner_cpu, p.engine_cpu, spawn)??
        }
        None => builder.spawn_with_endpoint(&endpoint)?,
    };
    let pid = process.pid().context("the runner has no pid")?;
    let result = drive(&engine, pid, plan, &spec.label).await;
    let (mut report, mut conn) = match result {
        Ok(ok) => ok,
        Err(err) => {
            let _ = process.kill();
            let log = std::fs::read_to_string(process.stderr_path()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(err.context(format!(
                "{} failed; its stderr ends with:\n{}",
                spec.label,
                tail.join("\n")
            )));
        }
    };
    report.load_avg = load_avg;
    report.peak_rss = ProcStats::read(Some(pid)).map_or(0, |s| s.peak_rss);
    // Graceful shutdown: the engine stops every actor when told `Stopping`.
    process.sigterm()?;
    let _ = conn
        .pump(Instant::now() + Duration::from_secs(60), |c| {
            c.closed().is_some()
        })
        .await;
    drop(conn);
    report.clean_exit = match process.wait_exit(Duration::from_secs(60)).await {
        Ok(status) => status.success(),
        Err(_) => {
            let _ = process.kill();
            false
        }
    };
    Ok(report)
}

async fn drive(
    engine: &LoadEngine,
    pid: u32,
    plan: &SessionPlan,
    label: &str,
) -> Result<(SessionReport, super::engine::Conn)> {
    let mut conn = engine.accept(Duration::from_secs(60)).await?;
    conn.pump(Instant::now() + Duration::from_secs(1), |_| false)
        .await?;
    let before = ProcStats::read(Some(pid))?;
    let t0 = Instant::now();
    conn.start_actors(plan.actors, plan.start_window, plan.start_timeout)
        .await?;
    let elapsed = t0.elapsed();
    let started = ProcStats::read(Some(pid))?;
    conn.pump(Instant::now() + Duration::from_secs(2), |_| false)
        .await?;
    let idle = ProcStats::read(Some(pid))?;
    let start = StartReport {
        actors: plan.actors,
        elapsed,
        cpu: started.cpu.saturating_sub(before.cpu),
        rss_before: before.rss,
        rss_running: started.rss,
        rss_idle: idle.rss,
    };
    eprintln!(
        "load: {label}: {} actors running in {:.2} s, {:.0} B RSS per actor",
        plan.actors,
        elapsed.as_secs_f64(),
        start.rss_per_actor()
    );
    let mut modes = Vec::new();
    for &mode in &plan.modes {
        let mut traffic = plan.traffic.clone();
        if mode == Mode::Events {
            traffic.in_flight = traffic.in_flight.min(plan.actors);
        }
        conn.begin(mode, &traffic).await?;
        conn.pump(Instant::now() + plan.warmup, |_| false).await?;
        let runner0 = ProcStats::read(Some(pid))?;
        let engine0 = ProcStats::read(None)?;
        let t0 = Instant::now();
        conn.start_recording();
        conn.pump(t0 + plan.measure, |_| false).await?;
        let mut recording = conn.take_recording();
        let elapsed = t0.elapsed();
        let runner1 = ProcStats::read(Some(pid))?;
        let engine1 = ProcStats::read(None)?;
        conn.end().await?;
        let report = ModeReport {
            mode,
            in_flight: traffic.in_flight,
            ops: recording.completed,
            errors: recording.errors,
            elapsed,
            runner_cpu: runner1.cpu.saturating_sub(runner0.cpu),
            engine_cpu: engine1.cpu.saturating_sub(engine0.cpu),
            p50_ms: recording.quantile_ms(0.5),
            p99_ms: recording.quantile_ms(0.99),
            rss: runner1.rss,
            peak_rss: runner1.peak_rss,
        };
        eprintln!(
            "load: {label}: {mode} x{}: {:.0} {}/s, p50 {:.2} ms, p99 {:.2} ms, runner {:.1} µs CPU/{} ({:.2} cores), {} errors",
            traffic.in_flight,
            report.per_s(),
            mode.unit(),
            report.p50_ms,
            report.p99_ms,
            report.cpu_us_per_unit(),
            mode.unit(),
            report.runner_cores(),
            report.errors,
        );
        modes.push(report);
    }
    let report = SessionReport {
        label: label.to_owned(),
        start,
        modes,
        peak_rss: 0,
        clean_exit: false,
        load_avg: 0.0,
    };
    Ok((report, conn))
}

/// The machine's 1-minute load average (`/proc/loadavg`).
pub fn load_avg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}
