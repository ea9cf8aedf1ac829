//! Property tests of the flight recorder (`runner_core::recording`): random
//! runs of the simulation (the core proptests' operations: engine frames,
//! garbage, faults, timers, user calls, tunnel traffic) recorded, then
//! replayed on a fresh core with every step's outputs matching; a recording
//! cut at any byte reads up to the cut; a changed byte is refused.
//! `RECORDING_PROPS_CASES` runs more cases.

use std::time::Duration;

use proptest::prelude::*;
use runner_core::protocol::ProtocolVersion;
use runner_core::recording::{
    Input, ReadError, RecordedStep, RecordingReader, ReplayError, replay,
};
use tests::recorded::{Setup, Step, record, setup, steps};
use tests::sim::ops::{NAMES, Op};
use tests::sim::{Callback, TunnelPolicy};

fn cases() -> u32 {
    std::env::var("RECORDING_PROPS_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(48)
}

fn read_all(data: &[u8]) -> Result<(Vec<RecordedStep>, bool), ReadError> {
    let mut reader = RecordingReader::new(data)?;
    let mut steps = Vec::new();
    while let Some(step) = reader.next_step()? {
        steps.push(step);
    }
    Ok((steps, reader.was_cut()))
}

/// Where the header record ends: before it, a cut leaves nothing to read.
fn header_end(data: &[u8]) -> usize {
    let len = u32::from_le_bytes(data[10..14].try_into().unwrap()) as usize;
    10 + 5 + len + 4
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 500,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x002e_c02d),
        ..ProptestConfig::default()
    })]

    /// A recorded run replays on a fresh core with the same outputs at
    /// every step (the replay compares each step's digest).
    #[test]
    fn recorded_runs_replay_identically(setup in setup(), steps in steps()) {
        let recording = record(&setup, &steps);
        let (recorded, cut) = read_all(&recording).unwrap();
        prop_assert!(!cut);
        let mut replayed = 0;
        let summary = replay(&recording, |_| replayed += 1)
            .unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(summary.steps, recorded.len() as u64);
        prop_assert_eq!(replayed, recorded.len());
        prop_assert_eq!(summary.redacted, setup.redact);
        let frames = recorded.iter().filter(|s| matches!(s.input, Input::Frame { .. })).count();
        prop_assert!(frames > 0);
    }

    /// Cut anywhere, a recording reads (and replays) up to its last
    /// complete record, without a panic.
    #[test]
    fn a_cut_recording_reads_up_to_the_cut(
        setup in setup(),
        steps in steps(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 16),
    ) {
        let recording = record(&setup, &steps);
        let (full, _) = read_all(&recording).unwrap();
        for cut in cuts {
            let at = cut.index(recording.len());
            let part = &recording[..at];
            if at < header_end(&recording) {
                prop_assert_eq!(read_all(part).unwrap_err(), ReadError::NoHeader);
                continue;
            }
            let (steps, was_cut) = read_all(part).unwrap();
            prop_assert_eq!(&full[..steps.len()], &steps[..]);
            let next = full.get(steps.len()).map_or(recording.len(), |s| s.offset);
            prop_assert_eq!(was_cut, at != next, "cut at {}", at);
            let summary = replay(part, |_| {}).unwrap_or_else(|e| panic!("{e}"));
            prop_assert_eq!(summary.steps, steps.len() as u64);
        }
    }

    /// A changed byte anywhere is refused with an error, never read as a
    /// different input.
    #[test]
    fn a_corrupted_recording_is_refused(
        setup in setup(),
        steps in steps(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 16),
    ) {
        let recording = record(&setup, &steps);
        for (at, xor) in flips {
            let at = at.index(recording.len());
            let mut bad = recording.clone();
            bad[at] ^= xor;
            let err = read_all(&bad).unwrap_err();
            let expected = match at {
                0..8 => matches!(err, ReadError::NotARecording),
                8..10 => matches!(err, ReadError::UnsupportedVersion(_)),
                _ => matches!(err, ReadError::Corrupt { .. }),
            };
            prop_assert!(expected, "byte {} changed: {:?}", at, err);
            let replayed = replay(&bad, |_| {});
            prop_assert!(matches!(replayed, Err(ReplayError::Read(_))), "{:?}", replayed);
        }
    }
}

/// The replay checks outputs, not only that inputs decode: a recording
/// whose digest of one step was changed (and its checksum redone) is
/// reported as diverging at exactly that step.
#[test]
fn a_step_whose_outputs_differ_is_reported_where_it_is() {
    let setup = Setup {
        seed: 7,
        version: ProtocolVersion::V5,
        starts: vec![Callback::Immediate; NAMES.len()],
        stops: vec![Callback::Immediate; NAMES.len()],
        policy: TunnelPolicy::default(),
        redact: false,
    };
    let steps = [
        Step::Core(Op::Create(0)),
        Step::Core(Op::Advance(Duration::from_secs(2))),
    ];
    let mut recording = record(&setup, &steps);
    let (full, _) = read_all(&recording).unwrap();
    let target = full.len() / 2;
    let start = full[target].offset;
    let len = u32::from_le_bytes(recording[start..start + 4].try_into().unwrap()) as usize;
    let body = start + 5..start + 5 + len;
    recording[body.end - 1] ^= 0x40; // the digest's last byte
    let crc = crc32(&recording[body.clone()]);
    recording[body.end..body.end + 4].copy_from_slice(&crc.to_le_bytes());

    let err = replay(&recording, |_| {}).unwrap_err();
    let ReplayError::Diverged(at) = &err else {
        panic!("expected a divergence, got {err}");
    };
    assert_eq!((at.step, at.offset), (target as u64, start), "{err}");
    assert!(
        err.to_string().contains(&format!("step {target} ")),
        "{err}"
    );
}

/// CRC-32 (IEEE), as the recording format specifies it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                0xEDB8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
