//! [`Health`]: what a readiness or liveness probe asks of a runner, from
//! [`RunnerHandle::health`].

use std::time::Duration;

use super::handle::RunnerHandle;
use super::metrics::RunnerMetrics;
use crate::ConnectionState;

/// A runner's health, for readiness and liveness probes.
///
/// * **ready** (send traffic here): connected, the engine's init received,
///   and not shutting down;
/// * **live** (don't restart me): the event loop answers and has not ended,
///   and, once connected, the engine was heard from recently
///   ([`is_live`](Self::is_live) takes the bound; the engine pings every
///   few seconds, so a bound of a few liveness windows is generous).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use runner_tokio::{Health, RunnerMetrics};
///
/// let health = RunnerMetrics::default().health(); // a runner not started yet
/// assert!(!health.ready && !health.shut_down);
/// assert!(health.is_live(Duration::from_secs(60)));
/// assert!(!Health::ended().is_live(Duration::from_secs(60)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Connected and initialised, not shutting down.
    pub ready: bool,
    /// Where the connection stands.
    pub connection: ConnectionState,
    /// A shutdown has begun.
    pub shutting_down: bool,
    /// The runner's event loop has ended.
    pub shut_down: bool,
    /// Time since the engine was last heard from; `None` before the first
    /// connection.
    pub engine_contact_age: Option<Duration>,
}

impl Health {
    /// The health of a runner whose event loop has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::Health;
    /// assert!(Health::ended().shut_down && !Health::ended().ready);
    /// ```
    pub fn ended() -> Self {
        Health {
            ready: false,
            connection: ConnectionState::Closed,
            shutting_down: true,
            shut_down: true,
            engine_contact_age: None,
        }
    }

    /// Live: not ended, and the engine heard from within `max_contact_age`
    /// (a runner that never connected is live while it keeps trying).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runner_tokio::{RunnerMetrics, Timestamp};
    ///
    /// let mut snapshot = RunnerMetrics::default();
    /// snapshot.core.last_engine_contact = Some(Timestamp::ZERO);
    /// snapshot.core.at = Timestamp::from_millis(90_000);
    /// assert!(!snapshot.health().is_live(Duration::from_secs(60)));
    /// assert!(snapshot.health().is_live(Duration::from_secs(120)));
    /// ```
    pub fn is_live(&self, max_contact_age: Duration) -> bool {
        !self.shut_down
            && self
                .engine_contact_age
                .is_none_or(|age| age <= max_contact_age)
    }
}

impl RunnerMetrics {
    /// The health this snapshot shows.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::RunnerMetrics;
    /// assert!(!RunnerMetrics::default().health().ready);
    /// ```
    pub fn health(&self) -> Health {
        let m = &self.core;
        let connected = m.connection_state == ConnectionState::Connected;
        Health {
            ready: connected && !m.shutting_down,
            connection: m.connection_state,
            shutting_down: m.shutting_down,
            shut_down: false,
            engine_contact_age: m.engine_contact_age(),
        }
    }
}

impl RunnerHandle {
    /// The runner's health, as of now (asked of its event loop: a loop
    /// that does not answer is not live — give the call a timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runner_tokio::{Handler, ShutdownMode};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let runner = runner_tokio::builder()
    ///     .endpoint("http://127.0.0.1:1") // no engine here
    ///     .runner_name("r")
    ///     .handle_signals(false)
    ///     .build(Idle)?;
    /// let handle = runner.handle();
    /// let running = tokio::spawn(runner.run());
    /// let health = handle.health().await;
    /// assert!(!health.ready);
    /// assert!(health.is_live(Duration::from_secs(60)));
    /// handle.shutdown(ShutdownMode::Immediate).await;
    /// running.await?;
    /// assert!(handle.health().await.shut_down);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn health(&self) -> Health {
        match self.metrics().await {
            Some(snapshot) => snapshot.health(),
            None => Health::ended(),
        }
    }
}
