//! Load tests of whole runner processes: a load engine of our own that
//! speaks the engine's side of the runner protocol over a real WebSocket on
//! loopback ([`engine`]), sessions that drive one runner program through it
//! and measure the runner process ([`session`]), the same kind of run through
//! the real engine's gateway ([`real`]), and the tables ([`report`]).
//!
//! Used by `cargo run --release -p tests --bin load_compare` (our runners
//! and the TypeScript one, side by side) and `--bin load_engine` (one runner
//! program of your choice).

pub mod engine;
pub mod pin;
pub mod procstat;
pub mod real;
pub mod report;
pub mod session;
pub mod targets;

use std::fmt;
use std::str::FromStr;

pub use engine::{Conn, LoadEngine, Traffic};
pub use pin::Pinning;
pub use procstat::ProcStats;
pub use session::{ModeReport, RunnerSpec, SessionPlan, SessionReport, StartReport, run_session};

/// What a measured stretch keeps in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Tunnelled `GET /ping` requests.
    HttpPing,
    /// Tunnelled `POST /echo` requests with a body.
    HttpEcho,
    /// Messages on open `/ws` echo sockets, one in flight per socket.
    Ws,
    /// Tunnelled `PUT /kv/<k>` and `GET /kv/<k>`: one KV round trip each.
    Kv,
    /// Actor stop/start cycles (two events each: `Stopped`, `Running`).
    Events,
}

impl Mode {
    /// Every mode.
    pub const ALL: [Mode; 5] = [
        Mode::HttpPing,
        Mode::HttpEcho,
        Mode::Ws,
        Mode::Kv,
        Mode::Events,
    ];

    /// Its name on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Mode::HttpPing => "http-ping",
            Mode::HttpEcho => "http-echo",
            Mode::Ws => "ws",
            Mode::Kv => "kv",
            Mode::Events => "events",
        }
    }

    /// What one operation is, for table headings.
    pub fn unit(self) -> &'static str {
        match self {
            Mode::HttpPing | Mode::HttpEcho => "req",
            Mode::Ws => "msg",
            Mode::Kv => "kv",
            Mode::Events => "event",
        }
    }

    /// Protocol events (or messages) per completed operation: a stop/start
    /// cycle is two events; everything else is one.
    pub fn units_per_op(self) -> u64 {
        match self {
            Mode::Events => 2,
            _ => 1,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!("unknown mode {s:?} (one of http-ping, http-echo, ws, kv, events)")
            })
    }
}

/// Parses a comma-separated list (`"a,b"`); empty or `none` is an empty list.
pub fn parse_list<T: FromStr>(s: &str) -> Result<Vec<T>, T::Err> {
    if s.is_empty() || s == "none" {
        return Ok(Vec::new());
    }
    s.split(',').map(|item| item.trim().parse()).collect()
}
