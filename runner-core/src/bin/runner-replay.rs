//! `runner-replay`: replays a flight recording on a fresh core and checks
//! that every step produces what it produced when recorded.
//!
//! ```text
//! cargo run -p runner-core --bin runner-replay -- [--timeline] <recording>
//! ```
//!
//! Exit status: 0 when every step matches (a cut recording is replayed up
//! to the cut, and says so), 1 when a step diverges (which one, where in the
//! file, and its input are printed), 2 when the file cannot be read.
//! `--timeline` prints, per actor, what the engine sent, what the user's
//! code called and what the runner answered, with times since the start.

use std::process::ExitCode;

use runner_core::recording::{RecordingReader, ReplayError, Timeline, replay};

const USAGE: &str = "usage: runner-replay [--timeline] <recording>";

fn main() -> ExitCode {
    let mut timeline = false;
    let mut path = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--timeline" => timeline = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if path.is_none() && !arg.starts_with('-') => path = Some(arg),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(path) = path else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let data = match std::fs::read(&path) {
        Ok(data) => data,
        Err(e) => {
            eprintln!("runner-replay: cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    run(&path, &data, timeline)
}

fn run(path: &str, data: &[u8], timeline: bool) -> ExitCode {
    let header = match RecordingReader::new(data) {
        Ok(reader) => reader.header().clone(),
        Err(e) => {
            eprintln!("runner-replay: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let mut lines = timeline.then(|| Timeline::new(&header));
    let result = replay(data, |step| {
        if let Some(lines) = &mut lines {
            lines.add(step);
        }
    });
    if let Some(lines) = &lines {
        print!("{}", lines.render());
    }
    let config = &header.config;
    match result {
        Ok(summary) => {
            let cut = if summary.cut {
                " (the recording was cut: replayed up to the cut)"
            } else {
                ""
            };
            let redacted = if summary.redacted { ", redacted" } else { "" };
            eprintln!(
                "runner-replay: {path}: {} steps replayed, all match{cut} (runner {:?}, protocol {}, recorded by {}{redacted})",
                summary.steps, config.runner_name, config.protocol_version, header.producer
            );
            ExitCode::SUCCESS
        }
        Err(ReplayError::Diverged(at)) => {
            eprintln!("runner-replay: {path}: {}", ReplayError::Diverged(at));
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("runner-replay: {path}: {e}");
            ExitCode::from(2)
        }
    }
}
