//! Property tests of `Runner::snapshot` / `Runner::from_snapshot` and of
//! the flight recorder's rotation: random runs of the simulation (the core
//! proptests' operations, through `tests::recorded`) are recorded, then
//! their inputs are fed to a fresh core; at a random step its snapshot is
//! restored into a second core, and from there on both must give exactly
//! the same outputs (transmits, events, return values, next deadline,
//! metrics) for the same inputs. A snapshot cut or changed anywhere is
//! refused with an error, never a panic. `SNAPSHOT_PROPS_CASES` runs more
//! cases.

use proptest::prelude::*;
use runner_core::recording::{RecordOptions, RecordedStep, RecordingReader, replay};
use runner_core::{Event, Outcome, Runner, Snapshot, SnapshotError, Transmit};
use tests::recorded::{Setup, Step, record, setup, steps};

fn cases() -> u32 {
    std::env::var("SNAPSHOT_PROPS_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(48)
}

/// A recorded run: the fresh core its header describes, and its steps.
fn recorded(setup: &Setup, steps: &[Step]) -> (Runner, Vec<RecordedStep>) {
    let recording = record(setup, steps);
    let mut reader = RecordingReader::new(&recording).expect("the recording reads");
    let header = reader.header().clone();
    let runner = Runner::new(header.config, header.created).expect("the config is valid");
    let mut steps = Vec::new();
    while let Some(step) = reader.next_step().expect("every step reads") {
        steps.push(step);
    }
    (runner, steps)
}

/// What one input produced, in full.
#[derive(Debug, PartialEq)]
struct Produced {
    outcome: Outcome,
    transmits: Vec<Transmit>,
    events: Vec<Event>,
    timeout: Option<runner_core::Timestamp>,
    metrics: String,
}

fn drain(runner: &mut Runner, outcome: Outcome) -> Produced {
    Produced {
        outcome,
        transmits: std::iter::from_fn(|| runner.poll_transmit()).collect(),
        events: std::iter::from_fn(|| runner.poll_event()).collect(),
        timeout: runner.poll_timeout(),
        metrics: format!("{:?}", runner.metrics()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 500,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x05aa_95e7),
        ..ProptestConfig::default()
    })]

    /// The key invariant: a core restored from a snapshot taken at any
    /// step (before that step's outputs are drained, so the output queues
    /// are in it too) goes on exactly as the original for the same inputs.
    #[test]
    fn a_restored_core_goes_on_as_the_original(
        setup in setup(),
        steps in steps(),
        at in any::<prop::sample::Index>(),
    ) {
        let (mut original, inputs) = recorded(&setup, &steps);
        let at = at.index(inputs.len());
        let mut restored = None;
        for (i, step) in inputs.iter().enumerate() {
            let outcome = original.input(step.now, step.input.clone());
            if i == at {
                let snapshot = original.snapshot();
                let copy = Runner::from_snapshot(&snapshot)
                    .unwrap_or_else(|e| panic!("step {i}: {e}"));
                // Round trip: the copy's snapshot is the same bytes.
                prop_assert_eq!(copy.snapshot(), snapshot);
                restored = Some((copy, outcome.clone()));
            }
            let produced = drain(&mut original, outcome);
            match &mut restored {
                Some((copy, outcome)) if i == at => {
                    let copied = drain(copy, std::mem::replace(outcome, Outcome::Done));
                    prop_assert_eq!(&copied, &produced, "right after the snapshot at step {}", at);
                }
                Some((copy, _)) => {
                    let outcome = copy.input(step.now, step.input.clone());
                    let copied = drain(copy, outcome);
                    prop_assert_eq!(&copied, &produced, "step {} after the snapshot at {}", i, at);
                }
                None => {}
            }
        }
        let (copy, _) = restored.expect("a snapshot was taken");
        prop_assert_eq!(copy.snapshot(), original.snapshot());
    }

    /// Rotation: a core that records, rotated at a random step (before
    /// that step's outputs are drained), gives a second segment that
    /// replays on its own from its (possibly redacted) snapshot, step for
    /// step.
    #[test]
    fn a_rotated_segment_replays_from_its_snapshot(
        setup in setup(),
        steps in steps(),
        at in any::<prop::sample::Index>(),
    ) {
        let (_, inputs) = recorded(&setup, &steps);
        let recording = record(&setup, &steps);
        let header = RecordingReader::new(&recording).unwrap().header().clone();
        let mut runner = Runner::new(header.config, header.created).unwrap();
        runner.start_recording(RecordOptions::new().redact(setup.redact)).unwrap();
        let at = at.index(inputs.len() + 1);
        let mut first = Vec::new();
        let rotate = |runner: &mut Runner, first: &mut Vec<u8>| {
            runner.take_recording(first);
            runner.rotate_recording().unwrap();
        };
        if at == 0 {
            rotate(&mut runner, &mut first);
        }
        for (i, step) in inputs.iter().enumerate() {
            let _ = runner.input(step.now, step.input.clone());
            // Rotated before the outputs are drained: the snapshot holds
            // them, and the segment's replay must not count them.
            if i + 1 == at {
                rotate(&mut runner, &mut first);
            }
            while runner.poll_transmit().is_some() {}
            while runner.poll_event().is_some() {}
        }
        let mut last = Vec::new();
        runner.take_recording(&mut last);
        let older = replay(&first, |_| {}).unwrap_or_else(|e| panic!("first segment: {e}"));
        prop_assert_eq!(older.steps, at as u64);
        prop_assert!(!older.from_snapshot);
        let newer = replay(&last, |_| {}).unwrap_or_else(|e| panic!("second segment: {e}"));
        prop_assert_eq!(newer.steps, (inputs.len() - at) as u64);
        prop_assert!(newer.from_snapshot);
        prop_assert_eq!(newer.redacted, setup.redact);
        let reader = RecordingReader::new(&last).unwrap();
        prop_assert_eq!(reader.snapshot().map(Snapshot::is_redacted), Some(setup.redact));
    }

    /// A snapshot cut anywhere or with a byte changed anywhere is refused
    /// with an error, never restored and never a panic.
    #[test]
    fn a_damaged_snapshot_is_refused(
        setup in setup(),
        steps in steps(),
        at in any::<prop::sample::Index>(),
        damage in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 16),
    ) {
        let (mut runner, inputs) = recorded(&setup, &steps);
        let at = at.index(inputs.len());
        for step in &inputs[..=at] {
            let _ = runner.input(step.now, step.input.clone());
        }
        let bytes = runner.snapshot().into_bytes();
        for (place, xor) in damage {
            let i = place.index(bytes.len());
            let cut = Runner::from_snapshot(&Snapshot::from_bytes(bytes[..i].to_vec()));
            let expected = if i < 8 { SnapshotError::NotASnapshot } else { SnapshotError::Checksum };
            prop_assert_eq!(cut.err(), Some(expected), "cut at {}", i);
            let mut changed = bytes.clone();
            changed[i] ^= xor;
            let err = Runner::from_snapshot(&Snapshot::from_bytes(changed)).err();
            let expected = match i {
                0..8 => matches!(err, Some(SnapshotError::NotASnapshot)),
                8..10 => matches!(err, Some(SnapshotError::UnsupportedVersion(_))),
                _ => matches!(err, Some(SnapshotError::Checksum)),
            };
            prop_assert!(expected, "byte {} changed: {:?}", i, err);
        }
    }
}
