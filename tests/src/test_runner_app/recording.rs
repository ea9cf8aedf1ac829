//! `RIVET_FLIGHT_RECORD=<path>`: the runner records every input of its core
//! to `<path>` (see `runner_core::recording`), for
//! `cargo run -p runner-core --bin runner-replay -- <path>`.
//! `RIVET_FLIGHT_RECORD_MAX_BYTES=<n>` (an addition to the contract) caps
//! it: past half the cap the recording rotates (`<path>.1` holds the
//! previous segment), so that an end-to-end test can make it rotate.

use std::path::{Path, PathBuf};

use runner_core::host::{Builder, Runtime};

/// The recording's path from the variable's value; an empty one is
/// refused (with what is wrong).
pub(super) fn flight_record(value: Option<String>) -> Result<Option<PathBuf>, &'static str> {
    match value {
        None => Ok(None),
        Some(path) if path.is_empty() => Err("must be a file path"),
        Some(path) => Ok(Some(PathBuf::from(path))),
    }
}

/// Turns recording on when a path is configured, capped at `max_bytes`
/// when given.
pub(super) fn apply<R: Runtime>(
    path: Option<&Path>,
    max_bytes: Option<u32>,
    builder: Builder<R>,
) -> Builder<R> {
    let Some(path) = path else {
        return builder;
    };
    let builder = builder.record_to(path);
    match max_bytes {
        Some(cap) => builder.record_max_bytes(u64::from(cap)),
        None => builder,
    }
}

#[cfg(test)]
mod unit {
    use std::path::Path;

    use super::flight_record;

    #[test]
    fn a_path_turns_recording_on_and_an_empty_one_is_refused() {
        let on = flight_record(Some("/tmp/run.rec".into())).unwrap();
        assert_eq!(on.as_deref(), Some(Path::new("/tmp/run.rec")));
        assert!(flight_record(Some(String::new())).is_err());
        assert_eq!(flight_record(None), Ok(None));
    }
}
