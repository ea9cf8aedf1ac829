//! `runner-replay`: replays a flight recording on a fresh core and checks
//! that every step produces what it produced when recorded.
//!
//! ```text
//! cargo run -p runner-core --bin runner-replay -- [--timeline] <recording | directory>
//! ```
//!
//! A rotated recording is two files: the current segment at the recorded
//! path and the previous one beside it with `.1` appended (`run.rec`,
//! `run.rec.1`; see `Builder::record_max_bytes`). Given the path, the tool
//! replays the previous segment first when it exists, then the current
//! one, each from its own snapshot (or, for the run's first segment, from
//! the run's start). Given a directory, it replays every recording in it
//! that way, by name (files ending in `.1` are taken as previous segments).
//!
//! Exit status: 0 when every step of every segment matches (a cut
//! recording is replayed up to the cut, and says so), 1 when a step
//! diverges (which one, where in the file, and its input are printed), 2
//! when a file cannot be read or a snapshot does not restore.
//! `--timeline` prints, per segment and per actor, what the engine sent,
//! what the user's code called and what the runner answered, with times
//! since the segment's start (the run's, or its snapshot's).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use runner_core::Runner;
use runner_core::recording::{
    RecordingReader, ReplayError, Timeline, previous_segment_path, replay,
};

const USAGE: &str = "usage: runner-replay [--timeline] <recording | directory>";

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
            _ if path.is_none() && !arg.starts_with('-') => path = Some(PathBuf::from(arg)),
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
    let segments = match segments(&path) {
        Ok(segments) if !segments.is_empty() => segments,
        Ok(_) => {
            eprintln!("runner-replay: {}: no recording found", path.display());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("runner-replay: cannot read {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let mut status = 0u8;
    for segment in segments {
        let code = match std::fs::read(&segment) {
            Ok(data) => run(&segment.display().to_string(), &data, timeline),
            Err(e) => {
                eprintln!("runner-replay: cannot read {}: {e}", segment.display());
                2
            }
        };
        status = status.max(code);
    }
    ExitCode::from(status)
}

/// The files to replay, in order: for a recording, its previous segment
/// (if any) then itself; for a directory, every recording in it that way.
fn segments(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let pair = |current: &Path| {
        let previous = previous_segment_path(current);
        let mut files = Vec::new();
        let had_previous = previous.is_file();
        if had_previous {
            files.push(previous);
        }
        // A crash between a rotation's rename and its new file leaves
        // only the previous segment.
        if !had_previous || current.exists() {
            files.push(current.to_path_buf());
        }
        files
    };
    if !path.is_dir() {
        return Ok(pair(path));
    }
    let mut currents = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let file = entry?.path();
        if file.is_file() && !file.to_string_lossy().ends_with(".1") {
            currents.push(file);
        }
    }
    currents.sort();
    Ok(currents.iter().flat_map(|c| pair(c)).collect())
}

/// Replays one segment; the exit status it asks for.
fn run(path: &str, data: &[u8], timeline: bool) -> u8 {
    let (header, restored) = match RecordingReader::new(data) {
        Ok(reader) => {
            let restored = reader.snapshot().map(Runner::from_snapshot);
            (reader.header().clone(), restored)
        }
        Err(e) => {
            eprintln!("runner-replay: {path}: {e}");
            return 2;
        }
    };
    let mut lines = timeline.then(|| {
        let mut lines = Timeline::new(&header);
        if let Some(Ok(runner)) = &restored {
            lines.restored(runner);
        }
        lines
    });
    let result = replay(data, |step| {
        if let Some(lines) = &mut lines {
            lines.add(step);
        }
    });
    if let Some(lines) = &lines {
        println!("==== {path} ====");
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
            let from = if summary.from_snapshot {
                "from its snapshot"
            } else {
                "from the run's start"
            };
            eprintln!(
                "runner-replay: {path}: {} steps replayed {from}, all match{cut} (runner {:?}, protocol {}, recorded by {}{redacted})",
                summary.steps, config.runner_name, config.protocol_version, header.producer
            );
            0
        }
        Err(ReplayError::Diverged(at)) => {
            eprintln!("runner-replay: {path}: {}", ReplayError::Diverged(at));
            1
        }
        Err(e) => {
            eprintln!("runner-replay: {path}: {e}");
            2
        }
    }
}
