//! The `runner-replay` binary on a rotated recording: given the current
//! segment's path (or their directory) it replays the previous segment
//! (`<path>.1`) from the run's start, then the current one from its
//! snapshot, and prints a timeline of both; a damaged segment fails it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use runner_core::protocol::{ProtocolMetadata, ToClient, ToClientInit};
use runner_core::recording::{RecordOptions, previous_segment_path};
use runner_core::{HttpResponse, Runner, Timestamp, Transmit, testing};

/// A run recorded in two segments, rotated while a request is open: the
/// current one is written at `dir/run.rec`, the previous at `run.rec.1`.
fn rotated_pair(dir: &Path) -> PathBuf {
    let mut runner = Runner::new(testing::config(), Timestamp::ZERO).unwrap();
    runner
        .start_recording(RecordOptions::new())
        .expect("before the first input");
    runner.start(Timestamp::ZERO);
    let Some(Transmit::Connect { conn, .. }) = runner.poll_transmit() else {
        panic!("the started runner connects");
    };
    runner.handle_connected(Timestamp::ZERO, conn);
    let metadata = ProtocolMetadata {
        runner_lost_threshold: 15_000,
        actor_stop_threshold: None,
        serverless_drain_grace_period: None,
    };
    let init = ToClient::Init(ToClientInit {
        runner_id: "R".into(),
        metadata,
    });
    testing::feed(&mut runner, conn, &init).unwrap();
    let actor = testing::start_actor(&mut runner, conn, "A").unwrap();
    runner
        .actor_started(Timestamp::ZERO, &actor, Ok(()))
        .unwrap();
    let key = testing::http_request(&mut runner, conn, 1, testing::get("A", "/")).unwrap();
    testing::drain(&mut runner);
    let mut previous = Vec::new();
    runner.take_recording(&mut previous);
    runner.rotate_recording().unwrap();
    let answer = HttpResponse::new(204);
    runner
        .respond(Timestamp::from_millis(5), key, answer)
        .unwrap();
    testing::drain(&mut runner);
    let mut current = Vec::new();
    runner.take_recording(&mut current);
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("run.rec");
    std::fs::write(&path, current).unwrap();
    std::fs::write(previous_segment_path(&path), previous).unwrap();
    path
}

fn replay_bin(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runner-replay"))
        .args(args)
        .output()
        .expect("runner-replay runs")
}

#[test]
fn a_rotated_pair_replays_older_first_from_its_start_then_from_the_snapshot() {
    let dir = std::env::temp_dir().join(format!("runner-replay-bin-{}", std::process::id()));
    let path = rotated_pair(&dir);
    for target in [path.as_path(), dir.as_path()] {
        let out = replay_bin(&[Path::new("--timeline"), target]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stderr}");
        let older = stderr.find("run.rec.1: ").expect(&stderr);
        let newer = stderr.find("run.rec: ").expect(&stderr);
        assert!(older < newer, "the older segment first: {stderr}");
        assert!(
            stderr.contains("from the run's start, all match"),
            "{stderr}"
        );
        assert!(
            stderr.contains("1 steps replayed from its snapshot, all match"),
            "{stderr}"
        );
        assert!(
            stdout.contains("restored from the segment's snapshot: 1 actors, 1 open requests"),
            "{stdout}"
        );
        // The answer to the request the snapshot holds open goes to its
        // actor's section, not the runner's.
        let current = &stdout[stdout.find("run.rec ====").expect(&stdout)..];
        let actor = &current[current.find("== actor A ==").expect(current)..];
        assert!(actor.contains("Respond"), "{current}");
    }
    // A changed byte in the current segment: it does not read.
    let mut data = std::fs::read(&path).unwrap();
    let last = data.len() - 1;
    data[last] ^= 1;
    std::fs::write(&path, data).unwrap();
    let out = replay_bin(&[path.as_path()]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
