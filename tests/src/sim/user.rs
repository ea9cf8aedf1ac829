//! "The user": the code behind the runner's start and stop callbacks. Its
//! HTTP and WebSocket handlers are in [`tunnel`].

pub mod tunnel;

use std::collections::BTreeMap;
use std::time::Duration;

use runner_core::{ActorRef, Timestamp};

use self::tunnel::{TunnelAction, TunnelPolicy};

/// How a start or stop callback behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    /// Completes in the same instant.
    Immediate,
    /// Completes after this long.
    After(Duration),
    /// Fails (start only; a stop cannot fail) after this long.
    Fail(Duration, String),
    /// Never completes.
    Hang,
}

/// The user's behaviour, with per-actor-name overrides.
#[derive(Debug, Clone)]
pub struct UserConfig {
    /// Start callback of actors without an override.
    pub on_start: Callback,
    /// Stop callback of actors without an override.
    pub on_stop: Callback,
    /// Start callback by actor name.
    pub start_by_name: BTreeMap<String, Callback>,
    /// Stop callback by actor name.
    pub stop_by_name: BTreeMap<String, Callback>,
    /// HTTP and WebSocket handlers.
    pub tunnel: TunnelPolicy,
}

impl Default for UserConfig {
    fn default() -> Self {
        UserConfig {
            on_start: Callback::Immediate,
            on_stop: Callback::Immediate,
            start_by_name: BTreeMap::new(),
            stop_by_name: BTreeMap::new(),
            tunnel: TunnelPolicy::default(),
        }
    }
}

/// A callback completing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserAction {
    /// `actor_started` with this result.
    Started(ActorRef, Result<(), String>),
    /// `actor_stopped`.
    Stopped(ActorRef),
    /// A tunnel call.
    Tunnel(TunnelAction),
}

/// Callbacks in progress, by completion time.
#[derive(Debug, Default)]
pub struct User {
    /// Behaviour; may be changed between steps.
    pub config: UserConfig,
    pending: BTreeMap<(Timestamp, u64), UserAction>,
    next_seq: u64,
}

impl User {
    /// A user behaving as `config` says.
    pub fn new(config: UserConfig) -> Self {
        User {
            config,
            pending: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// The runner asked to start `actor` (named `name`).
    pub fn on_start(&mut self, now: Timestamp, actor: ActorRef, name: &str) {
        let callback = self
            .config
            .start_by_name
            .get(name)
            .unwrap_or(&self.config.on_start);
        let (delay, result) = match callback.clone() {
            Callback::Immediate => (Duration::ZERO, Ok(())),
            Callback::After(d) => (d, Ok(())),
            Callback::Fail(d, message) => (d, Err(message)),
            Callback::Hang => return,
        };
        self.schedule(now + delay, UserAction::Started(actor, result));
    }

    /// The runner asked to stop `actor` (named `name`).
    pub fn on_stop(&mut self, now: Timestamp, actor: ActorRef, name: &str) {
        let callback = self
            .config
            .stop_by_name
            .get(name)
            .unwrap_or(&self.config.on_stop);
        let delay = match callback {
            Callback::Immediate => Duration::ZERO,
            Callback::After(d) | Callback::Fail(d, _) => *d,
            Callback::Hang => return,
        };
        self.schedule(now + delay, UserAction::Stopped(actor));
    }

    /// When the next callback completes.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.pending.first_key_value().map(|((at, _), _)| *at)
    }

    /// The earliest callback completing at `now`.
    pub fn pop_due(&mut self, now: Timestamp) -> Option<UserAction> {
        let (&(at, _), _) = self.pending.first_key_value()?;
        (at <= now).then(|| self.pending.pop_first().map(|(_, a)| a))?
    }

    /// Schedules a tunnel call at `at`.
    pub fn schedule_tunnel(&mut self, at: Timestamp, action: TunnelAction) {
        self.schedule(at, UserAction::Tunnel(action));
    }

    /// Callbacks in progress.
    pub fn in_progress(&self) -> usize {
        self.pending.len()
    }

    fn schedule(&mut self, at: Timestamp, action: UserAction) {
        self.next_seq += 1;
        self.pending.insert((at, self.next_seq), action);
    }
}
