//! The `restore_snapshot` fuzz target: a [`Snapshot`] from hostile bytes,
//! restored, snapshotted again and run.

use crate::encoding::codec::crc32;
use crate::protocol::{KvPutRequest, KvRequestData};
use crate::{
    Config, HttpResponse, Runner, SNAPSHOT_MAGIC, SNAPSHOT_VERSION, ShutdownMode, Snapshot,
    SnapshotError, Timestamp, testing,
};

type Error = Box<dyn std::error::Error>;

/// `data` is a snapshot's flags byte and body: the body is framed with the
/// magic, the version and a correct checksum, so that the fuzzer reaches
/// the decoder (a wrong checksum is refused before it). Restoring never
/// panics; a runner it restores snapshots to bytes that restore to the
/// same bytes again, and it runs a timeout and a shutdown without a panic.
pub fn restore_snapshot(data: &[u8]) {
    let snapshot = Snapshot::from_bytes(framed(data));
    let Ok(mut runner) = Runner::from_snapshot(&snapshot) else {
        return;
    };
    let again = runner.snapshot();
    let copy = Runner::from_snapshot(&again)
        .unwrap_or_else(|e| panic!("a snapshot this build wrote does not restore: {e}"));
    assert!(copy.snapshot() == again, "snapshots of equal states differ");
    let later = runner.poll_timeout().unwrap_or(Timestamp::ZERO);
    runner.handle_timeout(later);
    testing::drain(&mut runner);
    runner.shutdown(later, ShutdownMode::Immediate);
    testing::drain(&mut runner);
}

/// The magic, the version, `data` and its checksum.
fn framed(data: &[u8]) -> Vec<u8> {
    let mut bytes = [&SNAPSHOT_MAGIC[..], &SNAPSHOT_VERSION.to_le_bytes(), data].concat();
    let crc = crc32(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

/// The corpus's seeds (written to `fuzz/corpus/restore_snapshot/` by
/// `tests/tests/fuzz_bodies.rs`): snapshots of a runner at points of a
/// small run — fresh, connected with an actor, an open request, a KV call
/// and a WebSocket, then shutting down — as the target takes them (flags
/// and body, without the frame).
///
/// # Panics
///
/// Never for the fixed script it runs (it would be a bug of the core).
pub fn snapshot_seeds() -> Vec<(String, Vec<u8>)> {
    let snapshots = seed_run().unwrap_or_else(|e| panic!("snapshot seeds: {e}"));
    snapshots
        .into_iter()
        .map(|(name, snapshot)| {
            let bytes = snapshot.into_bytes();
            let body = bytes[SNAPSHOT_MAGIC.len() + 2..bytes.len() - 4].to_vec();
            (format!("seed-{name}"), body)
        })
        .collect()
}

fn seed_run() -> Result<Vec<(&'static str, Snapshot)>, Error> {
    let mut snapshots = Vec::new();
    let mut config: Config = testing::config();
    config.token = Some("secret".into());
    snapshots.push((
        "fresh",
        Runner::new(config.clone(), Timestamp::ZERO)?.snapshot(),
    ));
    let (mut runner, conn) = testing::connected(config)?;
    let actor = testing::started_actor(&mut runner, conn, "A")?;
    let key = testing::http_request(&mut runner, conn, 1, testing::get("A", "/ping"))?;
    let put = KvPutRequest {
        keys: vec![b"k".to_vec().into()],
        values: vec![b"v".to_vec().into()],
    };
    runner.kv(Timestamp::ZERO, &actor, KvRequestData::Put(put))?;
    testing::websocket(&mut runner, conn, 2, "A", "/ws")?;
    // The outputs of the last inputs are still queued: they are in it too.
    snapshots.push(("busy", runner.snapshot()));
    testing::drain(&mut runner);
    runner.respond(Timestamp::from_millis(5), key, HttpResponse::new(204))?;
    runner.shutdown(Timestamp::from_millis(6), ShutdownMode::Graceful);
    snapshots.push(("draining", runner.snapshot()));
    runner.shutdown(Timestamp::from_millis(7), ShutdownMode::Immediate);
    snapshots.push(("shut-down", runner.snapshot()));
    for (name, snapshot) in &snapshots {
        if let Err(e) = Runner::from_snapshot(snapshot) {
            return Err(format!("{name}: {}", SnapshotError::to_string(&e)).into());
        }
    }
    Ok(snapshots)
}
