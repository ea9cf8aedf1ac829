//! The load engine against one runner: one of this repository's, or any
//! program that follows `shared/spec/test-runner.md`.
//!
//! ```sh
//! cargo run --release -p tests --bin load_engine -- [options] -- PROGRAM [ARGS…]
//! cargo run --release -p tests --bin load_engine -- --runner tokio
//! ```
//!
//! `--help` lists the options ([`USAGE`]). The program gets `RIVET_ENDPOINT`
//! (and the other `RIVET_*` variables) pointing at the load engine.

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tests::load::{
    Mode, Pinning, RunnerSpec, SessionPlan, Traffic, parse_list, report, run_session, targets,
};

/// What `--help` prints.
const USAGE: &str = "\
Usage: cargo run --release -p tests --bin load_engine -- [OPTIONS] [-- PROGRAM [ARGS...]]

Options, each shown with its default value:

* `--runner tokio|async-std|ts` — a runner of this repository instead of PROGRAM;
* `--actors 10` — actors started before the load;
* `--modes http-ping,http-echo,ws,kv,events` — throughput modes;
* `--in-flight 128` — operations in flight (events: stop/start cycles);
* `--secs 10`, `--warmup 2` — measured and warm-up seconds per mode;
* `--body 1024`, `--ws-bytes 64` — `/echo` body and WebSocket message size;
* `--node-heap 8192` — the TypeScript runner's `--max-old-space-size` (MB);
* `--start-window 1000` — start commands outstanding at once (0: all at once);
* `--start-timeout 600` — seconds the actors may take to start;
* `--pin on` — the load engine on CPU 0, the runner on CPU 1 (default `off`).

One of `--runner` and PROGRAM is needed.
";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("load_engine: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let mut plan = SessionPlan {
        actors: 10,
        modes: Mode::ALL.to_vec(),
        traffic: Traffic {
            in_flight: 128,
            body_bytes: 1024,
            ws_bytes: 64,
        },
        warmup: Duration::from_secs(2),
        measure: Duration::from_secs(10),
        start_timeout: Duration::from_secs(600),
        start_window: 1000,
        pin: None,
    };
    let mut runner = None;
    let mut node_heap = 8192;
    let mut program: Vec<OsString> = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--" {
            program = args.by_ref().collect();
            break;
        }
        let flag = flag.to_string_lossy().into_owned();
        if flag == "--help" || flag == "-h" {
            print!("{USAGE}");
            return Ok(());
        }
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?
            .to_string_lossy()
            .into_owned();
        let num = |v: &str| v.parse::<f64>().with_context(|| format!("{flag} {v}"));
        match flag.as_str() {
            "--runner" => runner = Some(value),
            "--actors" => plan.actors = num(&value)? as usize,
            "--modes" => plan.modes = parse_list(&value).map_err(anyhow::Error::msg)?,
            "--in-flight" => plan.traffic.in_flight = num(&value)? as usize,
            "--secs" => plan.measure = Duration::from_secs_f64(num(&value)?),
            "--warmup" => plan.warmup = Duration::from_secs_f64(num(&value)?),
            "--body" => plan.traffic.body_bytes = num(&value)? as usize,
            "--ws-bytes" => plan.traffic.ws_bytes = num(&value)? as usize,
            "--node-heap" => node_heap = num(&value)? as u64,
            "--start-window" => plan.start_window = num(&value)? as usize,
            "--start-timeout" => plan.start_timeout = Duration::from_secs_f64(num(&value)?),
            "--pin" => plan.pin = Pinning::from_flag(&value)?,
            other => bail!("unknown option {other} (see --help)"),
        }
    }
    let spec = match (runner, program.split_first()) {
        (Some(label), _) => targets::spec(&label, Some(node_heap))?,
        (None, Some((program, args))) => RunnerSpec {
            label: program.to_string_lossy().into_owned(),
            program: program.into(),
            args: args.to_vec(),
            env: Vec::new(),
        },
        (None, None) => bail!("give --runner LABEL or -- PROGRAM [ARGS…]"),
    };
    let report = run_session(&spec, &plan).await?;
    let sessions = [report];
    println!("{}", report::throughput_table(&sessions));
    println!("{}", report::scale_table(&sessions));
    Ok(())
}
