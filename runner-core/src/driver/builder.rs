//! [`Builder`]: configuration with validation, for user code.

use std::collections::BTreeMap;
use std::time::Duration;

use thiserror::Error;

use super::context::RunnerHandle;
use super::handler::Handler;
use super::host::Runner;
use super::runtime::Runtime;
use crate::protocol::ProtocolVersion;
use crate::{Config, ConfigError, Limits, Timeouts};

/// Builds a runner.
///
/// ```
/// use runner_core::driver::{Builder, Handler};
/// # #[derive(Clone)] struct Rt;
/// # impl runner_core::driver::Runtime for Rt {
/// #   fn now(&self) -> std::time::Instant { std::time::Instant::now() }
/// #   fn sleep_until(&self, _: std::time::Instant) -> futures::future::BoxFuture<'static, ()> { unimplemented!() }
/// #   fn spawn(&self, _: futures::future::BoxFuture<'static, ()>) {}
/// #   fn connect(&self, _: runner_core::driver::ConnectRequest) -> futures::future::BoxFuture<'static, Result<runner_core::driver::Socket, runner_core::TransportClose>> { unimplemented!() }
/// #   fn shutdown_signals(&self) -> futures::stream::BoxStream<'static, ()> { unimplemented!() }
/// #   fn random_u64(&self) -> u64 { 4 }
/// # }
/// struct Nothing;
/// impl Handler for Nothing {}
///
/// let err = Builder::new(Rt).runner_name("r").build(Nothing).unwrap_err();
/// assert_eq!(err.to_string(), "endpoint is required");
/// let runner = Builder::new(Rt)
///     .endpoint("http://127.0.0.1:6420")
///     .token("dev")
///     .runner_name("my-runner")
///     .build(Nothing)
///     .unwrap();
/// # drop(runner);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Builder<R> {
    runtime: R,
    endpoint: Option<String>,
    token: Option<String>,
    namespace: String,
    runner_name: Option<String>,
    runner_key: Option<String>,
    version: u32,
    total_slots: u32,
    actor_names: BTreeMap<String, serde_json::Value>,
    metadata: Option<serde_json::Value>,
    protocol_version: u16,
    timeouts: Timeouts,
    limits: Limits,
    request_timeout: Duration,
    handle_signals: bool,
    max_message_size: usize,
}

/// A configuration that cannot work, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No endpoint was set.
    #[error("endpoint is required")]
    MissingEndpoint,
    /// No runner name was set.
    #[error("runner name is required")]
    MissingRunnerName,
    /// The protocol version is not one this crate speaks.
    #[error("protocol version {0} is not supported (supported: 5, 6, 7)")]
    UnsupportedVersion(u16),
    /// Metadata must be a JSON object.
    #[error("{0} must be a JSON object")]
    NotAnObject(&'static str),
    /// A timeout that must be positive is zero.
    #[error("request timeout must be greater than zero")]
    ZeroRequestTimeout,
    /// The core refused the configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl<R: Runtime> Builder<R> {
    /// A builder with defaults: namespace `default`, version 1, 1000 slots,
    /// protocol v5, a random runner key, signal handling on.
    pub fn new(runtime: R) -> Self {
        Builder {
            runtime,
            endpoint: None,
            token: None,
            namespace: "default".into(),
            runner_name: None,
            runner_key: None,
            version: 1,
            total_slots: 1000,
            actor_names: BTreeMap::new(),
            metadata: None,
            protocol_version: 5,
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            request_timeout: Duration::from_secs(300),
            handle_signals: true,
            max_message_size: 64 << 20,
        }
    }

    /// Engine endpoint (`http(s)://` or `ws(s)://`).
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Auth token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Namespace (default `default`).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Runner name; actors select runners by it.
    pub fn runner_name(mut self, name: impl Into<String>) -> Self {
        self.runner_name = Some(name.into());
        self
    }

    /// Runner key (default: random per process). Two live runners must not share one.
    pub fn runner_key(mut self, key: impl Into<String>) -> Self {
        self.runner_key = Some(key.into());
        self
    }

    /// Runner version (default 1).
    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// How many actors the engine may place here (default 1000).
    pub fn total_slots(mut self, slots: u32) -> Self {
        self.total_slots = slots;
        self
    }

    /// Declares an actor name this runner hosts, with metadata (a JSON object).
    pub fn actor_name(mut self, name: impl Into<String>, metadata: serde_json::Value) -> Self {
        self.actor_names.insert(name.into(), metadata);
        self
    }

    /// Runner metadata (a JSON object).
    pub fn metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Runner protocol version: 5 (default), 6 or 7.
    pub fn protocol_version(mut self, version: u16) -> Self {
        self.protocol_version = version;
        self
    }

    /// Every core timeout at once.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Every core limit at once.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Longest an `on_actor_start` may run before the actor is stopped with an error.
    pub fn actor_start_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.actor_start = timeout;
        self
    }

    /// Longest an `on_actor_stop` may run before the actor is dropped anyway.
    pub fn actor_stop_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.actor_stop = timeout;
        self
    }

    /// Longest a graceful shutdown waits for the engine to stop every actor.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.shutdown_drain = timeout;
        self
    }

    /// Longest an `on_request` may run before the client gets a 504 (default 300 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Whether SIGINT/SIGTERM trigger a graceful shutdown, and a second one
    /// an immediate one (default on).
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.handle_signals = on;
        self
    }

    /// Validates the configuration and creates the runner (not yet running).
    pub fn build<H: Handler>(self, handler: H) -> Result<Runner<R, H>, BuildError> {
        let settings = self.host_settings();
        let runtime = self.runtime.clone();
        let core = crate::Runner::new(self.core_config()?, crate::Timestamp::ZERO)?;
        Ok(Runner::new(runtime, core, handler, settings))
    }

    fn host_settings(&self) -> HostSettings {
        HostSettings {
            request_timeout: self.request_timeout,
            handle_signals: self.handle_signals,
            max_message_size: self.max_message_size,
        }
    }

    fn core_config(self) -> Result<Config, BuildError> {
        let endpoint = self.endpoint.ok_or(BuildError::MissingEndpoint)?;
        let runner_name = self.runner_name.ok_or(BuildError::MissingRunnerName)?;
        let protocol_version = ProtocolVersion::new(self.protocol_version)
            .map_err(|e| BuildError::UnsupportedVersion(e.0))?;
        if self.request_timeout.is_zero() {
            return Err(BuildError::ZeroRequestTimeout);
        }
        let runner_key = self.runner_key.unwrap_or_else(|| random_key(&self.runtime));
        let mut config = Config::new(endpoint, runner_name, runner_key);
        config.token = self.token;
        config.namespace = self.namespace;
        config.version = self.version;
        config.total_slots = self.total_slots;
        config.protocol_version = protocol_version;
        config.rng_seed = self.runtime.random_u64();
        config.timeouts = self.timeouts;
        config.limits = self.limits;
        config.metadata = self
            .metadata
            .map(|m| json_object(m, "runner metadata"))
            .transpose()?;
        for (name, metadata) in self.actor_names {
            config
                .prepopulate_actor_names
                .insert(name, json_object(metadata, "actor name metadata")?);
        }
        config.validate()?;
        Ok(config)
    }
}

/// Settings the host (not the core) uses.
#[derive(Debug, Clone)]
pub(crate) struct HostSettings {
    pub(crate) request_timeout: Duration,
    pub(crate) handle_signals: bool,
    pub(crate) max_message_size: usize,
}

fn json_object(value: serde_json::Value, what: &'static str) -> Result<String, BuildError> {
    if !value.is_object() {
        return Err(BuildError::NotAnObject(what));
    }
    Ok(value.to_string())
}

/// A random runner key: 128 bits as hex.
fn random_key(runtime: &impl Runtime) -> String {
    format!("{:016x}{:016x}", runtime.random_u64(), runtime.random_u64())
}

impl<R, H> Runner<R, H> {
    /// A handle to control the runner (shutdown, state).
    pub fn handle(&self) -> RunnerHandle {
        self.handle.clone()
    }
}
