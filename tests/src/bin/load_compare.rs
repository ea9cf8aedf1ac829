//! Our runners (tokio, async-std) and the TypeScript runner
//! (`@rivetkit/engine-runner@2.0.33`) side by side, one after the other in
//! the same run, through the load engine of `tests::load` (and optionally
//! through the real engine), with Markdown tables at the end.
//!
//! ```sh
//! cargo run --release -p tests --bin load_compare
//! cargo run --release -p tests --bin load_compare -- --real --out target/load.md
//! ```
//!
//! `--help` lists the options ([`USAGE`]).
//!
//! Each runner runs alone on the machine while it is measured; the load
//! engine runs on one thread of this process. The runners' CPU time and RSS
//! come from `/proc/<pid>`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tests::load::real::{RealPlan, run_real};
use tests::load::{Mode, Pinning, SessionPlan, Traffic, parse_list, report, run_session, targets};

/// What `--help` prints.
const USAGE: &str = "\
Usage: cargo run --release -p tests --bin load_compare -- [OPTIONS]

Options, each shown with its default value:

* `--runners tokio,async-std,ts` — which runners, in this order;
* `--modes http-ping,http-echo,ws,kv,events` — throughput modes;
* `--actors 10` — actors of the throughput session;
* `--in-flight 128` — operations in flight (events: stop/start cycles);
* `--secs 10`, `--warmup 2` — measured and warm-up seconds per mode;
* `--body 1024`, `--ws-bytes 64` — `/echo` body and WebSocket message size;
* `--scale 10000,100000` — actor counts of the scale sessions (`none`);
* `--scale-modes events,http-ping`, `--scale-secs 5`;
* `--node-heap 8192` — the TypeScript runner's `--max-old-space-size` (MB);
* `--start-window 1000` — start commands outstanding at once (0: every
  start at once); `--start-timeout 300` — seconds a scale session may take
  to start its actors (the TypeScript runner needs more than 600 s for
  100 000: it sums every actor's event history on each event);
* `--real` — also a run through the real engine's gateway
  (`--real-actors 10`, `--real-in-flight 200`, `--real-secs 10`);
* `--pin on` — the load engine on CPU 0 and each runner on CPU 1, one
  core each (`tests/src/load/pin.rs` says why; default `off`);
* `--out FILE` — also write the tables there.
";

#[derive(Debug)]
struct Options {
    runners: Vec<String>,
    modes: Vec<Mode>,
    actors: usize,
    in_flight: usize,
    secs: f64,
    warmup: f64,
    body: usize,
    ws_bytes: usize,
    scale: Vec<usize>,
    scale_modes: Vec<Mode>,
    scale_secs: f64,
    node_heap: u64,
    start_window: usize,
    start_timeout: f64,
    pin: Option<Pinning>,
    real: bool,
    real_actors: usize,
    real_in_flight: usize,
    real_secs: f64,
    out: Option<String>,
}

/// The options, or `None` when `--help` was asked for (and printed).
fn parse() -> Result<Option<Options>> {
    let mut o = Options {
        runners: targets::ALL.iter().map(|s| s.to_string()).collect(),
        modes: Mode::ALL.to_vec(),
        actors: 10,
        in_flight: 128,
        secs: 10.0,
        warmup: 2.0,
        body: 1024,
        ws_bytes: 64,
        scale: vec![10_000, 100_000],
        scale_modes: vec![Mode::Events, Mode::HttpPing],
        scale_secs: 5.0,
        node_heap: 8192,
        start_window: 1000,
        start_timeout: 300.0,
        pin: None,
        real: false,
        real_actors: 10,
        real_in_flight: 200,
        real_secs: 10.0,
        out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            print!("{USAGE}");
            return Ok(None);
        }
        if flag == "--real" {
            o.real = true;
            continue;
        }
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<f64>().with_context(|| format!("{flag} {v}"));
        match flag.as_str() {
            "--runners" => o.runners = parse_list(&value).map_err(anyhow::Error::msg)?,
            "--modes" => o.modes = parse_list(&value).map_err(anyhow::Error::msg)?,
            "--actors" => o.actors = num(&value)? as usize,
            "--in-flight" => o.in_flight = num(&value)? as usize,
            "--secs" => o.secs = num(&value)?,
            "--warmup" => o.warmup = num(&value)?,
            "--body" => o.body = num(&value)? as usize,
            "--ws-bytes" => o.ws_bytes = num(&value)? as usize,
            "--scale" => o.scale = parse_list(&value)?,
            "--scale-modes" => o.scale_modes = parse_list(&value).map_err(anyhow::Error::msg)?,
            "--scale-secs" => o.scale_secs = num(&value)?,
            "--node-heap" => o.node_heap = num(&value)? as u64,
            "--start-window" => o.start_window = num(&value)? as usize,
            "--start-timeout" => o.start_timeout = num(&value)?,
            "--real-actors" => o.real_actors = num(&value)? as usize,
            "--real-in-flight" => o.real_in_flight = num(&value)? as usize,
            "--real-secs" => o.real_secs = num(&value)?,
            "--out" => o.out = Some(value),
            "--pin" => o.pin = Pinning::from_flag(&value)?,
            other => bail!("unknown option {other} (see --help)"),
        }
    }
    Ok(Some(o))
}

/// `nproc`, the CPU model and the load, for the table's caption.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!("{cores} cores, {model}; load average {}", load.join(" "))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("load_compare: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let Some(o) = parse()? else {
        return Ok(());
    };
    let mut specs = Vec::new();
    for label in &o.runners {
        specs.push(targets::spec(label, Some(o.node_heap))?);
    }
    let pin = o.pin;
    let machine_before = match pin {
        Some(p) => format!(
            "{}; load engine pinned to CPU {}, runner to CPU {}",
            machine(),
            p.engine_cpu,
            p.runner_cpu
        ),
        None => machine(),
    };
    eprintln!("load: {machine_before}");
    let traffic = Traffic {
        in_flight: o.in_flight,
        body_bytes: o.body,
        ws_bytes: o.ws_bytes,
    };
    let mut failures = Vec::new();
    let mut throughput = Vec::new();
    if !o.modes.is_empty() {
        let plan = SessionPlan {
            actors: o.actors,
            modes: o.modes.clone(),
            traffic: traffic.clone(),
            warmup: Duration::from_secs_f64(o.warmup),
            measure: Duration::from_secs_f64(o.secs),
            start_timeout: Duration::from_secs(120),
            start_window: o.start_window,
            pin,
        };
        for spec in &specs {
            match run_session(spec, &plan).await {
                Ok(report) => throughput.push(report),
                Err(err) => {
                    failures.push(format!("{} at {} actors: {err:#}", spec.label, o.actors))
                }
            }
        }
    }
    let mut scale = Vec::new();
    for &actors in &o.scale {
        let plan = SessionPlan {
            actors,
            modes: o.scale_modes.clone(),
            traffic: traffic.clone(),
            warmup: Duration::from_secs_f64(o.warmup.min(o.scale_secs)),
            measure: Duration::from_secs_f64(o.scale_secs),
            start_timeout: Duration::from_secs_f64(o.start_timeout),
            start_window: o.start_window,
            pin,
        };
        for spec in &specs {
            match run_session(spec, &plan).await {
                Ok(report) => scale.push(report),
                Err(err) => failures.push(format!("{} at {actors} actors: {err:#}", spec.label)),
            }
        }
    }
    let mut real = Vec::new();
    if o.real {
        let plan = RealPlan {
            actors: o.real_actors,
            in_flight: o.real_in_flight,
            warmup: Duration::from_secs_f64(o.warmup),
            measure: Duration::from_secs_f64(o.real_secs),
        };
        for spec in &specs {
            match run_real(spec, &plan).await {
                Ok(report) => real.push(report),
                Err(err) => {
                    failures.push(format!("{} through the real engine: {err:#}", spec.label))
                }
            }
        }
    }

    let mut md = String::new();
    md.push_str(&format!(
        "Machine: {machine_before} (before); {} (after). Protocol v5; TypeScript runner @rivetkit/engine-runner@{} on Node {}.\n\n",
        machine(),
        targets::TS_RUNNER_VERSION,
        node_version()
    ));
    if !throughput.is_empty() {
        md.push_str(&format!(
            "Load engine on loopback, {} actors, {} in flight, {} s measured per mode after {} s warm-up, /echo body {} B, WebSocket message {} B:\n\n",
            o.actors, o.in_flight, o.secs, o.warmup, o.body, o.ws_bytes
        ));
        md.push_str(&report::throughput_table(&throughput));
        md.push('\n');
        md.push_str(&report::ratio_table(&throughput));
        md.push('\n');
    }
    let mut sized = throughput.clone();
    sized.extend(scale.iter().cloned());
    if !sized.is_empty() {
        md.push_str(
            "Actors: start all, idle memory, and per-event / per-request cost by size:\n\n",
        );
        md.push_str(&report::scale_table(&sized));
        md.push('\n');
    }
    if !real.is_empty() {
        md.push_str(&format!(
            "Through the real engine (2.3.19) gateway, {} actors, {} requests in flight, GET /ping:\n\n",
            o.real_actors, o.real_in_flight
        ));
        md.push_str(&report::real_table(&real));
        md.push('\n');
    }
    // The memory targets are the issue's, at 10 000 actors: a run without
    // that scale session checks the CPU targets only.
    let idle_actors = o.scale.contains(&10_000).then_some(10_000);
    md.push_str("Targets:\n\n");
    md.push_str(&report::targets(&throughput, &scale, idle_actors));
    if !failures.is_empty() {
        md.push_str("\nFailed:\n\n");
        for f in &failures {
            md.push_str(&format!("- {}\n", f.replace('\n', " / ")));
        }
    }
    println!("{md}");
    if let Some(path) = &o.out {
        std::fs::write(path, &md).with_context(|| format!("cannot write {path}"))?;
    }
    Ok(())
}

fn node_version() -> String {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "?".into())
}
