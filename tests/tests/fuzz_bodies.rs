//! The fuzz targets' bodies (`runner_core::fuzzing`, run by cargo-fuzz in
//! `fuzz/`) as ordinary tests, so CI exercises them on stable without a
//! fuzzer: every body over its committed corpus (`fuzz/corpus/<target>/`),
//! then over random inputs from proptest.
//!
//! The committed corpora are the golden vectors (`tests/vectors/v*.json`):
//! `seed-*` files, which [`seeds_are_the_golden_vectors`] keeps in step with
//! the vector files. Regenerate them after changing the vectors with
//! `FUZZ_WRITE_SEEDS=1 cargo test -p tests --test fuzz_bodies`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use runner_core::fuzzing;
use runner_core::protocol::{
    Id, ProtocolMetadata, ProtocolVersion, ToClient, ToClientInit, encode_to_client,
    encode_to_server,
};
use serde_json::Value;
use tests::strategies::{versioned_to_client, versioned_to_server};
use tests::ts_json::hex_decode;

type Body = fn(&[u8]);

const TARGETS: [(&str, Body); 3] = [
    ("decode_to_client", fuzzing::decode_to_client),
    ("decode_to_server", fuzzing::decode_to_server),
    ("core", fuzzing::core),
];

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

fn version_index(version: ProtocolVersion) -> u8 {
    let index = ProtocolVersion::ALL.iter().position(|v| *v == version);
    u8::try_from(index.expect("a supported version")).expect("three versions")
}

/// `ToClientInit` for `version`, as the engine sends it.
fn init_frame(version: ProtocolVersion) -> Vec<u8> {
    let init = ToClient::Init(ToClientInit {
        runner_id: Id::from("r0"),
        metadata: ProtocolMetadata {
            runner_lost_threshold: 15_000,
            actor_stop_threshold: (version >= ProtocolVersion::V6).then_some(30_000),
            serverless_drain_grace_period: None,
        },
    });
    encode_to_client(version, &init).expect("init encodes")
}

/// Every seed file, by target and file name, built from the vector files.
/// Vectors stored as generated parts (the multi-MiB bodies) are left out:
/// seeds stay small.
fn seeds() -> BTreeMap<(&'static str, String), Vec<u8>> {
    let mut seeds = BTreeMap::new();
    for version in ProtocolVersion::ALL {
        let number = version.number();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("vectors/v{number}.json"));
        let text = std::fs::read_to_string(&path).expect("vector file");
        let file: Value = serde_json::from_str(&text).expect("vector JSON");
        let index = version_index(version);
        for vector in file["vectors"].as_array().expect("vectors") {
            let Some(hex) = vector["hex"].as_str() else {
                continue;
            };
            let bytes = hex_decode(hex);
            let name = vector["name"].as_str().expect("name");
            let file_name = format!("seed-v{number}-{name}");
            let prefixed = [&[index][..], &bytes].concat();
            match vector["direction"].as_str() {
                Some("to_client") => {
                    let script = fuzzing::core_seed(index, &[init_frame(version), bytes]);
                    seeds.insert(("core", file_name.clone()), script);
                    seeds.insert(("decode_to_client", file_name), prefixed);
                }
                Some("to_server") => {
                    seeds.insert(("decode_to_server", file_name), prefixed);
                }
                other => panic!("vector {name}: direction {other:?}"),
            }
        }
    }
    seeds
}

fn committed(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let name = path
                .file_name()
                .expect("a file")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("corpus file"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn seeds_are_the_golden_vectors() {
    let seeds = seeds();
    if std::env::var_os("FUZZ_WRITE_SEEDS").is_some() {
        for ((target, name), bytes) in &seeds {
            let dir = corpus_dir(target);
            std::fs::create_dir_all(&dir).expect("corpus directory");
            std::fs::write(dir.join(name), bytes).expect("seed written");
        }
    }
    for (target, _) in TARGETS {
        let on_disk: BTreeMap<String, Vec<u8>> = committed(target)
            .into_iter()
            .filter(|(name, _)| name.starts_with("seed-"))
            .collect();
        let expected: BTreeMap<String, Vec<u8>> = seeds
            .iter()
            .filter(|((t, _), _)| *t == target)
            .map(|((_, name), bytes)| (name.clone(), bytes.clone()))
            .collect();
        assert!(
            expected.len() >= 40,
            "{target}: only {} seeds",
            expected.len()
        );
        assert!(
            on_disk == expected,
            "fuzz/corpus/{target}: the seed files differ from the golden vectors; \
             regenerate them with FUZZ_WRITE_SEEDS=1"
        );
    }
}

#[test]
fn every_body_passes_its_committed_corpus() {
    for (target, body) in TARGETS {
        let files = committed(target);
        assert!(!files.is_empty(), "fuzz/corpus/{target} is empty");
        for (name, bytes) in files {
            let outcome = std::panic::catch_unwind(|| body(&bytes));
            assert!(
                outcome.is_ok(),
                "{target} fails on fuzz/corpus/{target}/{name}"
            );
        }
    }
}

/// Proptest's seed: fixed so that CI runs the same cases every time.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0xf022),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn decode_bodies_take_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        fuzzing::decode_to_client(&data);
        fuzzing::decode_to_server(&data);
    }

    #[test]
    fn decode_bodies_take_valid_messages(
        (client_version, to_client) in versioned_to_client(),
        (server_version, to_server) in versioned_to_server(),
    ) {
        let frame = encode_to_client(client_version, &to_client).expect("valid message");
        fuzzing::decode_to_client(&[&[version_index(client_version)][..], &frame].concat());
        let frame = encode_to_server(server_version, &to_server).expect("valid message");
        fuzzing::decode_to_server(&[&[version_index(server_version)][..], &frame].concat());
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn core_body_takes_random_scripts(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        fuzzing::core(&data);
    }
}

/// The committed corpus of `target`, checked to be exactly `seeds` (made
/// by `source`): a corpus generated from code, not from the vectors. With
/// `FUZZ_WRITE_SEEDS` set, the seeds are written first.
#[track_caller]
fn corpus_of_seeds(
    target: &str,
    seeds: Vec<(String, Vec<u8>)>,
    source: &str,
) -> BTreeMap<String, Vec<u8>> {
    if std::env::var_os("FUZZ_WRITE_SEEDS").is_some() {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        for (name, bytes) in &seeds {
            std::fs::write(dir.join(name), bytes).expect("seed written");
        }
    }
    let on_disk: BTreeMap<String, Vec<u8>> = committed(target).into_iter().collect();
    let expected: BTreeMap<String, Vec<u8>> = seeds.into_iter().collect();
    assert!(
        on_disk == expected,
        "fuzz/corpus/{target} differs from {source}; \
         regenerate it with FUZZ_WRITE_SEEDS=1 (a format change needs new seeds)"
    );
    on_disk
}

/// The flight-recording reader's target: its corpus is small real
/// recordings (`fuzzing::recording_seeds`, written with
/// `FUZZ_WRITE_SEEDS=1`), each also cut at every byte and with bytes
/// flipped.
#[test]
fn recording_reader_body_passes_its_corpus_and_its_damaged_seeds() {
    let on_disk = corpus_of_seeds(
        "read_recording",
        fuzzing::recording_seeds(),
        "fuzzing::recording_seeds()",
    );
    for (name, bytes) in &on_disk {
        fuzzing::read_recording(bytes);
        for cut in 0..bytes.len() {
            fuzzing::read_recording(&bytes[..cut]);
        }
        for at in (0..bytes.len()).step_by(7) {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x5a;
            let outcome = std::panic::catch_unwind(|| fuzzing::read_recording(&flipped));
            assert!(outcome.is_ok(), "{name} with byte {at} flipped");
        }
    }
}

/// The snapshot target: its corpus is snapshots of a small run
/// (`fuzzing::snapshot_seeds`, written with `FUZZ_WRITE_SEEDS=1`), each
/// also cut at every byte and with bytes flipped (the body frames them
/// with a correct checksum, so every one reaches the decoder).
#[test]
fn snapshot_body_passes_its_corpus_and_its_damaged_seeds() {
    let on_disk = corpus_of_seeds(
        "restore_snapshot",
        fuzzing::snapshot_seeds(),
        "fuzzing::snapshot_seeds()",
    );
    for (name, bytes) in &on_disk {
        fuzzing::restore_snapshot(bytes);
        for cut in 0..bytes.len() {
            let outcome = std::panic::catch_unwind(|| fuzzing::restore_snapshot(&bytes[..cut]));
            assert!(outcome.is_ok(), "{name} cut at {cut}");
        }
        for at in 0..bytes.len() {
            for xor in [0x01, 0x5a, 0xff] {
                let mut flipped = bytes.clone();
                flipped[at] ^= xor;
                let outcome = std::panic::catch_unwind(|| fuzzing::restore_snapshot(&flipped));
                assert!(outcome.is_ok(), "{name} with byte {at} xor {xor:#x}");
            }
        }
    }
}

/// An edit of a seed: a byte set, inserted or removed at an index.
#[derive(Debug, Clone)]
enum Edit {
    Set(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        1 => any::<prop::sample::Index>().prop_map(Edit::Remove),
    ]
}

/// `SNAPSHOT_FUZZ_CASES` runs more cases of the seed mutations below.
fn snapshot_fuzz_cases() -> u32 {
    std::env::var("SNAPSHOT_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(config(snapshot_fuzz_cases()))]

    /// Seeds with a few bytes set, inserted or removed (framed with a
    /// correct checksum by the body, so that each reaches the decoder).
    #[test]
    fn snapshot_body_takes_edited_seeds(
        seed in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..8),
    ) {
        let seeds = fuzzing::snapshot_seeds();
        let mut bytes = seeds[seed.index(seeds.len())].1.clone();
        for edit in edits {
            match edit {
                Edit::Set(i, b) if !bytes.is_empty() => {
                    let i = i.index(bytes.len());
                    bytes[i] = b;
                }
                Edit::Insert(i, b) => bytes.insert(i.index(bytes.len() + 1), b),
                Edit::Remove(i) if !bytes.is_empty() => {
                    bytes.remove(i.index(bytes.len()));
                }
                _ => {}
            }
        }
        fuzzing::restore_snapshot(&bytes);
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn snapshot_body_takes_random_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        fuzzing::restore_snapshot(&data);
    }

    #[test]
    fn recording_reader_body_takes_random_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..512),
        framed in any::<bool>(),
    ) {
        // Half the cases get a valid file header, to reach the records.
        let data = if framed {
            let version = runner_core::recording::FORMAT_VERSION.to_le_bytes();
            [&runner_core::recording::MAGIC[..], &version, &data].concat()
        } else {
            data
        };
        fuzzing::read_recording(&data);
    }
}
