//! The test runner's configuration: the `RIVET_*` environment variables of
//! the contract, parsed and checked before anything connects.

use std::fmt;

use runner_core::Token;
use runner_core::host::api::ProtocolVersion;
use runner_core::host::{Builder, Runtime};

/// Everything the environment configures, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `RIVET_ENDPOINT`, default `http://127.0.0.1:6420`.
    pub endpoint: String,
    /// `RIVET_TOKEN`, default `dev` (never shown by `Debug`).
    pub token: Token,
    /// `RIVET_NAMESPACE`, default `default`.
    pub namespace: String,
    /// `RIVET_RUNNER_NAME`, default `test-runner`.
    pub runner_name: String,
    /// `RIVET_RUNNER_KEY`; `None` lets the driver pick a random one.
    pub runner_key: Option<String>,
    /// `RIVET_RUNNER_VERSION`, default 1.
    pub version: u32,
    /// `RIVET_TOTAL_SLOTS`, default 1000.
    pub total_slots: u32,
    /// `RIVET_PROTOCOL_VERSION`, default the newest the core speaks.
    pub protocol_version: u16,
    /// The contents of `RIVET_TLS_CA_FILE`: extra roots for `wss://`.
    pub tls_ca_pem: Option<Vec<u8>>,
    /// `RIVET_METRICS_LISTEN`: where to serve Prometheus text at `/metrics`.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `RIVET_FLIGHT_RECORD`: where to record (see the `recording` module).
    pub flight_record: Option<std::path::PathBuf>,
    /// `RIVET_FLIGHT_RECORD_MAX_BYTES` (this crate's addition to the
    /// contract): the recording's size cap, rotation included; the
    /// builder's default (1 GiB) when unset.
    pub flight_record_max_bytes: Option<u32>,
    /// `RIVET_MAX_ACTORS`: the core's actor limit (default: the core's,
    /// 200 000), and room for twice as many retired generations; the load
    /// engine's million-actor run raises it.
    pub max_actors: Option<usize>,
    /// `RIVET_SPAWN_HANDLERS` (this crate's addition to the contract):
    /// `1` runs each request's and WebSocket's handler as a task of its
    /// own ([`Builder::spawn_handlers`]); `0` or unset, the event loop
    /// polls them. The load engine compares the two.
    pub spawn_handlers: bool,
    /// `RIVET_WORKER_THREADS` (this crate's addition to the contract): the
    /// async runtime's executor threads, read by the examples' `main`
    /// before the runtime starts (see [`RuntimeSettings`]);
    /// `None`, unset: each example's default (tokio: its multi-thread
    /// runtime; async-std: one thread while handlers run on the loop).
    pub worker_threads: Option<usize>,
    /// `RIVET_SERVERLESS_LISTEN`: serverless mode on this address.
    pub serverless_listen: Option<std::net::SocketAddr>,
}

/// A variable that cannot be used, named so the user knows what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable.
    pub variable: &'static str,
    /// What is wrong with its value.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.problem)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var_os(name))
    }

    /// Reads the variables through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Config, ConfigError> {
        let vars = Vars(lookup);
        let text = |name| vars.text(name);
        let or = |name, default: &str| Ok::<_, ConfigError>(text(name)?.unwrap_or(default.into()));
        let number = |name| vars.number(name);
        let config = Config {
            endpoint: or("RIVET_ENDPOINT", "http://127.0.0.1:6420")?,
            token: Token::new(or("RIVET_TOKEN", "dev")?),
            namespace: or("RIVET_NAMESPACE", "default")?,
            runner_name: or("RIVET_RUNNER_NAME", "test-runner")?,
            runner_key: text("RIVET_RUNNER_KEY")?,
            version: number("RIVET_RUNNER_VERSION")?.unwrap_or(1),
            total_slots: number("RIVET_TOTAL_SLOTS")?.unwrap_or(1000),
            protocol_version: match number("RIVET_PROTOCOL_VERSION")? {
                Some(v) => protocol_version(v)?,
                None => ProtocolVersion::LATEST.number(),
            },
            tls_ca_pem: text("RIVET_TLS_CA_FILE")?
                .map(|path| read_file("RIVET_TLS_CA_FILE", &path))
                .transpose()?,
            metrics_listen: text("RIVET_METRICS_LISTEN")?
                .map(|addr| socket_addr("RIVET_METRICS_LISTEN", &addr))
                .transpose()?,
            max_actors: number("RIVET_MAX_ACTORS")?.map(|n| n as usize),
            flight_record: super::recording::flight_record(text("RIVET_FLIGHT_RECORD")?).map_err(
                |problem| ConfigError {
                    variable: "RIVET_FLIGHT_RECORD",
                    problem: problem.into(),
                },
            )?,
            flight_record_max_bytes: number("RIVET_FLIGHT_RECORD_MAX_BYTES")?,
            spawn_handlers: vars.spawn_handlers()?,
            serverless_listen: text("RIVET_SERVERLESS_LISTEN")?
                .map(|addr| socket_addr("RIVET_SERVERLESS_LISTEN", &addr))
                .transpose()?,
            worker_threads: vars.worker_threads()?,
        };
        check_endpoint(&config.endpoint)?;
        Ok(config)
    }

    /// Sets every configured value on `builder`.
    pub fn apply<R: Runtime>(&self, builder: Builder<R>) -> Builder<R> {
        let builder = builder
            .endpoint(&self.endpoint)
            .token(self.token.clone())
            .namespace(&self.namespace)
            .runner_name(&self.runner_name)
            .version(self.version)
            .total_slots(self.total_slots)
            .protocol_version(self.protocol_version)
            .spawn_handlers(self.spawn_handlers);
        let builder = super::recording::apply(
            self.flight_record.as_deref(),
            self.flight_record_max_bytes,
            builder,
        );
        let builder = match self.max_actors {
            Some(max_actors) => {
                let mut limits = runner_core::Limits::default();
                limits.max_actors = max_actors;
                // Every live actor will retire: room for each of them.
                limits.max_retired_generations = limits.max_retired_generations.max(2 * max_actors);
                builder.limits(limits)
            }
            None => builder,
        };
        let builder = match &self.tls_ca_pem {
            Some(pem) => builder.tls_root_certificates_pem(pem),
            None => builder,
        };
        match &self.runner_key {
            Some(key) => builder.runner_key(key),
            None => builder,
        }
    }
}

/// `HOST:PORT`, resolved now (`localhost:0` works), so that a bad value
/// exits before anything listens.
fn socket_addr(variable: &'static str, value: &str) -> Result<std::net::SocketAddr, ConfigError> {
    use std::net::ToSocketAddrs;
    let problem = |why: String| ConfigError {
        variable,
        problem: format!("{value:?} is not HOST:PORT: {why}"),
    };
    let mut addrs = value
        .to_socket_addrs()
        .map_err(|e| problem(e.to_string()))?;
    addrs.next().ok_or_else(|| problem("no address".into()))
}

fn read_file(variable: &'static str, path: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| ConfigError {
        variable,
        problem: format!("cannot read {path:?}: {e}"),
    })
}

/// What an example's `main` reads before it builds its runtime: how many
/// executor threads, and whether handlers run on the loop (which decides
/// the default). The same parsing as [`Config`]'s, from the same variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RuntimeSettings {
    /// `RIVET_WORKER_THREADS` (see [`Config::worker_threads`]).
    pub worker_threads: Option<usize>,
    /// `RIVET_SPAWN_HANDLERS` (see [`Config::spawn_handlers`]).
    pub spawn_handlers: bool,
}

impl RuntimeSettings {
    /// Reads the process environment. A bad value gives the defaults
    /// here: [`super::main`] reports it and exits before connecting.
    pub fn from_env() -> Self {
        RuntimeSettings::from_lookup(|name| std::env::var_os(name))
    }

    /// Reads the variables through `lookup`, as [`Config::from_lookup`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<std::ffi::OsString>) -> Self {
        let vars = Vars(lookup);
        RuntimeSettings {
            worker_threads: vars.worker_threads().unwrap_or_default(),
            spawn_handlers: vars.spawn_handlers().unwrap_or_default(),
        }
    }
}

/// The variables, read through a lookup (the environment, or a map in
/// tests); every parse names its variable when it fails.
struct Vars<L>(L);

impl<L: Fn(&str) -> Option<std::ffi::OsString>> Vars<L> {
    fn text(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        match (self.0)(name) {
            None => Ok(None),
            Some(value) => value.into_string().map(Some).map_err(|_| ConfigError {
                variable: name,
                problem: "not valid UTF-8".into(),
            }),
        }
    }

    fn number(&self, name: &'static str) -> Result<Option<u32>, ConfigError> {
        self.text(name)?.map(|v| parse_number(name, &v)).transpose()
    }

    fn spawn_handlers(&self) -> Result<bool, ConfigError> {
        match self.text("RIVET_SPAWN_HANDLERS")?.as_deref() {
            None | Some("0") => Ok(false),
            Some("1") => Ok(true),
            Some(other) => Err(ConfigError {
                variable: "RIVET_SPAWN_HANDLERS",
                problem: format!("{other:?} is not 0 or 1"),
            }),
        }
    }

    /// At least one thread, if set.
    fn worker_threads(&self) -> Result<Option<usize>, ConfigError> {
        match self.number("RIVET_WORKER_THREADS")? {
            Some(0) => Err(ConfigError {
                variable: "RIVET_WORKER_THREADS",
                problem: "0 threads cannot run anything".into(),
            }),
            threads => Ok(threads.map(|n| n as usize)),
        }
    }
}

fn parse_number(variable: &'static str, value: &str) -> Result<u32, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError {
        variable,
        problem: format!("{value:?} is not a number from 0 to {}", u32::MAX),
    })
}

fn protocol_version(number: u32) -> Result<u16, ConfigError> {
    u16::try_from(number)
        .ok()
        .and_then(|n| ProtocolVersion::new(n).ok())
        .map(ProtocolVersion::number)
        .ok_or_else(|| ConfigError {
            variable: "RIVET_PROTOCOL_VERSION",
            problem: format!("{number} is not a supported version (5, 6 or 7)"),
        })
}

/// An `http(s)://` or `ws(s)://` URL with a host. The driver checks the rest
/// (query, fragment) when the runner is built, still before connecting.
fn check_endpoint(endpoint: &str) -> Result<(), ConfigError> {
    let rest = ["http://", "https://", "ws://", "wss://"]
        .iter()
        .find_map(|scheme| endpoint.strip_prefix(scheme));
    let problem = match rest {
        None => "is not an http://, https://, ws:// or wss:// URL",
        Some(rest) if rest.split(['/', '?', '#']).next().unwrap_or("").is_empty() => "has no host",
        Some(_) => return Ok(()),
    };
    Err(ConfigError {
        variable: "RIVET_ENDPOINT",
        problem: format!("{endpoint:?} {problem}"),
    })
}

#[cfg(test)]
mod unit {
    use std::collections::HashMap;
    use std::ffi::OsString;

    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.endpoint, "http://127.0.0.1:6420");
        assert_eq!(config.token.expose(), "dev");
        assert_eq!(config.tls_ca_pem, None);
        assert_eq!(config.metrics_listen, None);
        assert_eq!(config.namespace, "default");
        assert_eq!(config.runner_name, "test-runner");
        assert_eq!(config.runner_key, None);
        assert_eq!((config.version, config.total_slots), (1, 1000));
        assert_eq!(config.protocol_version, ProtocolVersion::LATEST.number());
        assert!(!config.spawn_handlers);
        assert_eq!(config.worker_threads, None);
    }

    /// The thread count is the example's to default: only a set value
    /// (one or more) comes through.
    #[test]
    fn worker_threads_are_passed_on_when_set() {
        let threads = |vars: &[(&str, &str)]| parse(vars).unwrap().worker_threads;
        assert_eq!(threads(&[("RIVET_SPAWN_HANDLERS", "1")]), None);
        assert_eq!(threads(&[("RIVET_WORKER_THREADS", "1")]), Some(1));
        assert_eq!(threads(&[("RIVET_WORKER_THREADS", "3")]), Some(3));
    }

    /// What the examples read before building their runtime agrees with
    /// the configuration, and falls back to the defaults on a bad value
    /// (which `Config` then refuses).
    #[test]
    fn runtime_settings_agree_with_the_config() {
        let cases: [&[(&str, &str)]; 4] = [
            &[],
            &[
                ("RIVET_WORKER_THREADS", " 2 "),
                ("RIVET_SPAWN_HANDLERS", "1"),
            ],
            &[("RIVET_WORKER_THREADS", "1")],
            &[("RIVET_SPAWN_HANDLERS", "0")],
        ];
        for vars in cases {
            let config = parse(vars).unwrap();
            let map: HashMap<String, OsString> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), OsString::from(v)))
                .collect();
            let settings = RuntimeSettings::from_lookup(|name| map.get(name).cloned());
            assert_eq!(settings.worker_threads, config.worker_threads, "{vars:?}");
            assert_eq!(settings.spawn_handlers, config.spawn_handlers, "{vars:?}");
        }
        let bad = [("RIVET_WORKER_THREADS", "0")];
        assert!(parse(&bad).is_err());
        let settings =
            RuntimeSettings::from_lookup(|name| (name == bad[0].0).then(|| bad[0].1.into()));
        assert_eq!(settings, RuntimeSettings::default());
    }

    #[test]
    fn every_variable_is_read() {
        let config = parse(&[
            ("RIVET_ENDPOINT", "https://engine.example:443"),
            ("RIVET_TOKEN", "t"),
            ("RIVET_NAMESPACE", "ns"),
            ("RIVET_RUNNER_NAME", "r"),
            ("RIVET_RUNNER_KEY", "k"),
            ("RIVET_RUNNER_VERSION", "3"),
            ("RIVET_TOTAL_SLOTS", "20"),
            ("RIVET_PROTOCOL_VERSION", "5"),
            ("RIVET_METRICS_LISTEN", "127.0.0.1:9090"),
            ("RIVET_SPAWN_HANDLERS", "1"),
        ])
        .unwrap();
        assert!(config.spawn_handlers);
        assert_eq!(config.metrics_listen, Some(([127, 0, 0, 1], 9090).into()));
        assert_eq!(config.endpoint, "https://engine.example:443");
        assert_eq!(config.runner_key.as_deref(), Some("k"));
        assert_eq!(
            (config.version, config.total_slots, config.protocol_version),
            (3, 20, 5)
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let cases = [
            ("RIVET_TOTAL_SLOTS", "lots"),
            ("RIVET_RUNNER_VERSION", "-1"),
            ("RIVET_PROTOCOL_VERSION", "4"),
            ("RIVET_PROTOCOL_VERSION", "70000"),
            ("RIVET_ENDPOINT", "not a url"),
            ("RIVET_ENDPOINT", "http://"),
            ("RIVET_ENDPOINT", "ftp://host"),
            ("RIVET_TLS_CA_FILE", "/nonexistent/ca.pem"),
            ("RIVET_SERVERLESS_LISTEN", "127.0.0.1"),
            ("RIVET_SERVERLESS_LISTEN", "127.0.0.1:http-alt"),
            ("RIVET_METRICS_LISTEN", "not an address"),
            ("RIVET_FLIGHT_RECORD", ""),
            ("RIVET_FLIGHT_RECORD_MAX_BYTES", "1 GiB"),
            ("RIVET_SPAWN_HANDLERS", "yes"),
            ("RIVET_WORKER_THREADS", "0"),
            ("RIVET_WORKER_THREADS", "two"),
        ];
        for (variable, value) in cases {
            let err = parse(&[(variable, value)]).unwrap_err();
            assert_eq!(err.variable, variable, "{value}");
            assert!(err.to_string().starts_with(variable), "{err}");
        }
    }
}
