//! `RIVET_FLIGHT_RECORD=<path>`: the runner records every input of its core
//! to `<path>` (see `runner_core::recording`), for
//! `cargo run -p runner-core --bin runner-replay -- <path>`.

use std::path::{Path, PathBuf};

use runner_core::host::{Builder, Runtime};

use super::config::ConfigError;

/// The recording's path from the variable's value; an empty one is refused.
pub(super) fn flight_record(value: Option<String>) -> Result<Option<PathBuf>, ConfigError> {
    match value {
        None => Ok(None),
        Some(path) if path.is_empty() => Err(ConfigError {
            variable: "RIVET_FLIGHT_RECORD",
            problem: "must be a file path".into(),
        }),
        Some(path) => Ok(Some(PathBuf::from(path))),
    }
}

/// Turns recording on when a path is configured.
pub(super) fn apply<R: Runtime>(path: Option<&Path>, builder: Builder<R>) -> Builder<R> {
    match path {
        Some(path) => builder.record_to(path),
        None => builder,
    }
}

#[cfg(test)]
mod unit {
    use std::ffi::OsString;

    use super::super::config::Config;

    #[test]
    fn the_variable_turns_recording_on_and_an_empty_path_is_refused() {
        let with = |value: &str| {
            let value = OsString::from(value);
            Config::from_lookup(|name| (name == "RIVET_FLIGHT_RECORD").then(|| value.clone()))
        };
        let config = with("/tmp/run.rec").unwrap();
        assert_eq!(config.flight_record.as_deref(), Some(std::path::Path::new("/tmp/run.rec")));
        assert_eq!(with("").unwrap_err().variable, "RIVET_FLIGHT_RECORD");
        let unset = Config::from_lookup(|_| None).unwrap();
        assert_eq!(unset.flight_record, None);
    }
}
