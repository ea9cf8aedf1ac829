//! A short load run through the real engine's gateway: a pinned engine on
//! loopback, one runner process, a few actors, W clients each keeping one
//! `GET /ping` in flight. The engine dominates the cost; what is reported is
//! the runner's own CPU and memory beside the engine's.
//!
//! W stays at or below ~500: bursts of more than ~1000 tunnel messages in
//! flight to one runner can be lost inside the engine (`engine.md`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::RunnerSpec;
use super::procstat::ProcStats;
use crate::engine::{Engine, EngineOptions};
use crate::runner_process::RunnerProcess;

/// What a real-engine run does.
#[derive(Debug, Clone)]
pub struct RealPlan {
    /// Actors created.
    pub actors: usize,
    /// Requests in flight (≤ ~500).
    pub in_flight: usize,
    /// Unmeasured traffic first.
    pub warmup: Duration,
    /// The measured stretch.
    pub measure: Duration,
}

/// What it measured.
#[derive(Debug, Clone)]
pub struct RealReport {
    /// The runner's label.
    pub label: String,
    /// Requests in flight.
    pub in_flight: usize,
    /// Requests answered 200 in the measured stretch.
    pub ok: u64,
    /// Requests that failed or answered otherwise.
    pub errors: u64,
    /// The measured stretch.
    pub elapsed: Duration,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Runner CPU in the stretch.
    pub runner_cpu: Duration,
    /// Engine CPU in the stretch.
    pub engine_cpu: Duration,
    /// Runner RSS at the end.
    pub runner_rss: u64,
    /// Runner peak RSS.
    pub runner_peak_rss: u64,
}

impl RealReport {
    /// Requests per second.
    pub fn per_s(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// Runner CPU seconds per 10 000 requests.
    pub fn runner_cpu_s_per_10k(&self) -> f64 {
        self.runner_cpu.as_secs_f64() * 1e4 / self.ok.max(1) as f64
    }

    /// Engine CPU seconds per 10 000 requests.
    pub fn engine_cpu_s_per_10k(&self) -> f64 {
        self.engine_cpu.as_secs_f64() * 1e4 / self.ok.max(1) as f64
    }
}

/// Runs `spec` against a fresh real engine.
pub async fn run_real(spec: &RunnerSpec, plan: &RealPlan) -> Result<RealReport> {
    // As the e2e suites do: no load shedding (on two busy cores the engine
    // would otherwise refuse work under load).
    let no_load_shedding = serde_json::json!({
        "runtime": { "worker_load_shedding_curve": [[0, 1000], [1000, 999]] }
    });
    let mut engine = Engine::start_with(EngineOptions {
        config_patch: Some(no_load_shedding),
        ..EngineOptions::default()
    })
    .await?;
    let result = drive(&engine, spec, plan).await;
    let _ = engine.stop().await;
    result
}

async fn drive(engine: &Engine, spec: &RunnerSpec, plan: &RealPlan) -> Result<RealReport> {
    let runner_name = format!("load-{}", spec.label);
    engine.api().configure_runner_name(&runner_name).await?;
    let mut builder = RunnerProcess::builder(&spec.program).runner_name(&runner_name);
    for arg in &spec.args {
        builder = builder.arg(arg.clone());
    }
    for (name, value) in &spec.env {
        builder = builder.env(name, value);
    }
    let mut runner = builder.spawn(engine)?;
    let pid = runner.pid().context("the runner has no pid")?;
    runner.wait_connected(Duration::from_secs(60)).await?;
    let api = engine.api();
    // The first actor of a runner name alone, then the rest at once.
    let first = api.create_actor("load", Some("k0"), &runner_name).await?;
    let rest = futures::future::join_all((1..plan.actors).map(|i| {
        let api = api.clone();
        let runner_name = runner_name.clone();
        async move {
            api.create_actor("load", Some(&format!("k{i}")), &runner_name)
                .await
        }
    }))
    .await;
    let mut actors = vec![first];
    for actor in rest {
        actors.push(actor?);
    }
    for actor in &actors {
        runner
            .wait_actor_start(actor, Duration::from_secs(60))
            .await?;
    }
    let urls: Vec<String> = actors.iter().map(|a| api.gateway_url(a, "/ping")).collect();
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(plan.in_flight)
        .timeout(Duration::from_secs(30))
        .build()?;
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..plan.in_flight)
        .map(|w| {
            let client = client.clone();
            let url = urls[w % urls.len()].clone();
            let (measuring, stop) = (measuring.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut ok, mut errors, mut latencies) = (0u64, 0u64, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let good = match client.get(&url).send().await {
                        Ok(response) => {
                            let status = response.status();
                            response.bytes().await.is_ok() && status.is_success()
                        }
                        Err(_) => false,
                    };
                    if measuring.load(Ordering::Relaxed) {
                        if good {
                            ok += 1;
                            latencies.push(sent.elapsed().as_micros() as u32);
                        } else {
                            errors += 1;
                        }
                    }
                }
                (ok, errors, latencies)
            })
        })
        .collect();
    let engine_pid = engine.pid().context("the engine has no pid")?;
    tokio::time::sleep(plan.warmup).await;
    let runner0 = ProcStats::read(Some(pid))?;
    let engine0 = ProcStats::read(Some(engine_pid))?;
    let t0 = Instant::now();
    measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(plan.measure).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed();
    let runner1 = ProcStats::read(Some(pid))?;
    let engine1 = ProcStats::read(Some(engine_pid))?;
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut errors, mut latencies) = (0, 0, Vec::new());
    for worker in workers {
        let (o, e, l) = worker.await?;
        ok += o;
        errors += e;
        latencies.extend(l);
    }
    if ok == 0 {
        bail!("no request through the gateway succeeded ({errors} failed)");
    }
    latencies.sort_unstable();
    let quantile = |q: f64| {
        let i = ((latencies.len() - 1) as f64 * q).round() as usize;
        f64::from(latencies[i]) / 1000.0
    };
    let report = RealReport {
        label: spec.label.clone(),
        in_flight: plan.in_flight,
        ok,
        errors,
        elapsed,
        p50_ms: quantile(0.5),
        p99_ms: quantile(0.99),
        runner_cpu: runner1.cpu.saturating_sub(runner0.cpu),
        engine_cpu: engine1.cpu.saturating_sub(engine0.cpu),
        runner_rss: runner1.rss,
        runner_peak_rss: runner1.peak_rss,
    };
    eprintln!(
        "load: real engine, {}: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms, runner {:.3} CPU s/10k req, engine {:.3} CPU s/10k req, {} errors",
        spec.label,
        report.per_s(),
        report.p50_ms,
        report.p99_ms,
        report.runner_cpu_s_per_10k(),
        report.engine_cpu_s_per_10k(),
        report.errors
    );
    runner.sigterm()?;
    let _ = runner.wait_exit(Duration::from_secs(60)).await;
    Ok(report)
}
