//! [`Builder::from_env`]: the usual `RIVET_*` variables (those of the test
//! runner contract), read into a builder. A value that cannot work is
//! reported by [`build`](Builder::build), like any other bad setting.

use super::builder::{BuildError, Builder};
use super::runtime::Runtime;

/// The variables [`Builder::from_env`] reads, and the builder setting each
/// one sets.
///
/// # Examples
///
/// ```
/// use runner_tokio::ENV_VARIABLES;
///
/// // e.g. for a `--help` text:
/// let endpoint = ENV_VARIABLES.iter().find(|(name, _)| *name == "RIVET_ENDPOINT");
/// assert_eq!(endpoint, Some(&("RIVET_ENDPOINT", "endpoint")));
/// ```
pub const ENV_VARIABLES: [(&str, &str); 9] = [
    ("RIVET_ENDPOINT", "endpoint"),
    ("RIVET_TOKEN", "token"),
    ("RIVET_NAMESPACE", "namespace"),
    ("RIVET_RUNNER_NAME", "runner_name"),
    ("RIVET_RUNNER_KEY", "runner_key"),
    ("RIVET_RUNNER_VERSION", "version"),
    ("RIVET_TOTAL_SLOTS", "total_slots"),
    ("RIVET_PROTOCOL_VERSION", "protocol_version"),
    (
        "RIVET_TLS_CA_FILE",
        "tls_root_certificates_pem (the file's contents)",
    ),
];

impl<R: Runtime> Builder<R> {
    /// Applies the `RIVET_*` environment variables that are set (see
    /// [`ENV_VARIABLES`]) over this builder's settings; those not set leave
    /// the builder's values (set them before for defaults, after to
    /// override). A value that cannot work — a number that does not parse,
    /// an unreadable CA file — makes [`build`](Self::build) fail with
    /// [`BuildError::Env`] naming the variable; an endpoint that is not a
    /// URL or an unknown protocol version fail as they do when set in code.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use runner_tokio::Handler;
    /// # struct MyActors;
    /// # impl Handler for MyActors {}
    /// # fn main() -> Result<(), runner_tokio::BuildError> {
    /// // RIVET_ENDPOINT=https://engine.example RIVET_TOKEN=… RIVET_RUNNER_NAME=app ./my-runner
    /// let runner = runner_tokio::builder()
    ///     .runner_name("app") // a default: RIVET_RUNNER_NAME overrides it
    ///     .from_env()
    ///     .build(MyActors)?;
    /// # Ok(()) }
    /// ```
    pub fn from_env(self) -> Self {
        self.from_vars(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables looked up by
    /// `lookup` instead of in the process environment (tests, a config
    /// file's map).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use runner_tokio::{BuildError, Handler};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// let vars = HashMap::from([
    ///     ("RIVET_ENDPOINT", "http://127.0.0.1:6420"),
    ///     ("RIVET_RUNNER_NAME", "app"),
    ///     ("RIVET_TOTAL_SLOTS", "many"),
    /// ]);
    /// let lookup = |name: &str| vars.get(name).map(|v| v.to_string());
    /// let err = runner_tokio::builder().from_vars(lookup).build(Idle).unwrap_err();
    /// assert_eq!(err.to_string(), r#"RIVET_TOTAL_SLOTS: "many" is not a number from 0 to 4294967295"#);
    /// let fixed = runner_tokio::builder().from_vars(lookup).total_slots(10); // set again: fine
    /// assert!(fixed.build(Idle).is_ok());
    /// ```
    pub fn from_vars(self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut builder = self;
        if let Some(endpoint) = lookup("RIVET_ENDPOINT") {
            builder = builder.endpoint(endpoint);
        }
        if let Some(token) = lookup("RIVET_TOKEN") {
            builder = builder.token(token);
        }
        if let Some(namespace) = lookup("RIVET_NAMESPACE") {
            builder = builder.namespace(namespace);
        }
        if let Some(name) = lookup("RIVET_RUNNER_NAME") {
            builder = builder.runner_name(name);
        }
        if let Some(key) = lookup("RIVET_RUNNER_KEY") {
            builder = builder.runner_key(key);
        }
        if let Some(value) = lookup("RIVET_RUNNER_VERSION") {
            builder = match number::<u32>("RIVET_RUNNER_VERSION", &value) {
                Ok(version) => builder.version(version),
                Err(e) => builder.settle("version".into(), Err(e)),
            };
        }
        if let Some(value) = lookup("RIVET_TOTAL_SLOTS") {
            builder = match number::<u32>("RIVET_TOTAL_SLOTS", &value) {
                Ok(slots) => builder.total_slots(slots),
                Err(e) => builder.settle("total_slots".into(), Err(e)),
            };
        }
        if let Some(value) = lookup("RIVET_PROTOCOL_VERSION") {
            builder = match number::<u16>("RIVET_PROTOCOL_VERSION", &value) {
                Ok(version) => builder.protocol_version(version),
                Err(e) => builder.settle("protocol_version".into(), Err(e)),
            };
        }
        if let Some(path) = lookup("RIVET_TLS_CA_FILE") {
            builder = match std::fs::read(&path) {
                Ok(pem) => builder.tls_root_certificates_pem(pem),
                Err(e) => builder.settle(
                    "tls_ca_file".into(),
                    Err(BuildError::Env {
                        variable: "RIVET_TLS_CA_FILE",
                        reason: format!("cannot read {path}: {e}"),
                    }),
                ),
            };
        }
        builder
    }
}

/// A number of type `T` from a variable's value, or the error naming it.
fn number<T: std::str::FromStr + Bounds>(
    variable: &'static str,
    value: &str,
) -> Result<T, BuildError> {
    value.trim().parse().map_err(|_| BuildError::Env {
        variable,
        reason: format!("{value:?} is not a number from 0 to {}", T::MAX),
    })
}

/// The largest value of a number type, for error messages.
trait Bounds {
    const MAX: u64;
}

impl Bounds for u16 {
    const MAX: u64 = u16::MAX as u64;
}

impl Bounds for u32 {
    const MAX: u64 = u32::MAX as u64;
}
