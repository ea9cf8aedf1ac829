//! The simulated network between runner and engine: one ordered stream per
//! connection and direction, with seeded delays.
//!
//! A WebSocket never reorders within one connection, so neither does the link:
//! a message is never delivered before one sent earlier in the same direction
//! on the same connection. Reordering and duplication happen only the way a
//! real reconnect causes them: frames still in flight on an old connection
//! reach the engine after the runner has opened a new one, and the runner
//! resends on the new connection what it cannot know arrived.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use runner_core::{ConnId, Timestamp};

use super::rng::SimRng;

/// Which end a delivery goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// The runner under test.
    Runner,
    /// The simulated engine.
    Engine,
}

/// What travels on the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// To the engine: a WebSocket upgrade request.
    Connect {
        /// Requested URL.
        url: String,
        /// Offered sub-protocols.
        subprotocols: Vec<String>,
    },
    /// To the runner: the upgrade succeeded.
    Open,
    /// To the runner: the connection could not be opened.
    Refused {
        /// HTTP status of a refused upgrade, `None` if nothing answered.
        http_status: Option<u16>,
        /// What went wrong.
        reason: String,
    },
    /// One binary WebSocket message.
    Frame(Bytes),
    /// One text WebSocket message.
    Text(String),
    /// A close frame.
    Close {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// The transport broke without a close frame.
    Reset(String),
}

/// One scheduled delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// When it arrives.
    pub at: Timestamp,
    /// Who receives it.
    pub to: Side,
    /// On which connection.
    pub conn: ConnId,
    /// What.
    pub packet: Packet,
}

/// Delays and faults of the link.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// Shortest one-way delay of a message.
    pub min_delay: Duration,
    /// Longest one-way delay of a message.
    pub max_delay: Duration,
    /// One-way delay of each half of the WebSocket handshake.
    pub handshake_delay: Duration,
    /// Probability that sending a frame breaks the connection instead.
    pub reset_probability: f64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(20),
            handshake_delay: Duration::from_millis(5),
            reset_probability: 0.0,
        }
    }
}

/// The link: scheduled deliveries, earliest first.
#[derive(Debug)]
pub struct Link {
    /// Delays and faults; may be changed between steps.
    pub config: LinkConfig,
    /// Whether connection attempts reach the engine at all.
    pub reachable: bool,
    rng: SimRng,
    queue: BTreeMap<(Timestamp, u64), Delivery>,
    next_seq: u64,
    /// Arrival time of the last message per (connection, direction): FIFO.
    last_arrival: BTreeMap<(ConnId, Side), Timestamp>,
    dead: BTreeSet<ConnId>,
}

impl Link {
    /// A link drawing its delays from `rng`.
    pub fn new(config: LinkConfig, rng: SimRng) -> Self {
        Link {
            config,
            reachable: true,
            rng,
            queue: BTreeMap::new(),
            next_seq: 0,
            last_arrival: BTreeMap::new(),
            dead: BTreeSet::new(),
        }
    }

    /// Sends `packet` to `to` on `conn` with a random delay, after everything
    /// sent before it in the same direction. Packets of broken connections
    /// are lost.
    pub fn send(&mut self, now: Timestamp, to: Side, conn: ConnId, packet: Packet) {
        if self.dead.contains(&conn) {
            return;
        }
        if matches!(packet, Packet::Frame(_)) && self.rng.chance(self.config.reset_probability) {
            return self.reset(now, conn, "connection reset by the link");
        }
        let delay = self.delay(&packet);
        let earliest = self.last_arrival.get(&(conn, to)).copied();
        let at = earliest.map_or(now + delay, |last| (now + delay).max(last));
        self.last_arrival.insert((conn, to), at);
        self.schedule(Delivery {
            at,
            to,
            conn,
            packet,
        });
    }

    fn delay(&mut self, packet: &Packet) -> Duration {
        match packet {
            Packet::Connect { .. } | Packet::Open | Packet::Refused { .. } => {
                self.config.handshake_delay
            }
            _ => {
                let lo = millis(self.config.min_delay);
                let hi = millis(self.config.max_delay).max(lo);
                Duration::from_millis(self.rng.between(lo, hi))
            }
        }
    }

    /// Breaks `conn`: everything in flight on it is lost and both ends learn
    /// of the reset now.
    pub fn reset(&mut self, now: Timestamp, conn: ConnId, why: &str) {
        if !self.dead.insert(conn) {
            return;
        }
        self.queue.retain(|_, d| d.conn != conn);
        for to in [Side::Runner, Side::Engine] {
            self.schedule(Delivery {
                at: now,
                to,
                conn,
                packet: Packet::Reset(why.to_owned()),
            });
        }
    }

    /// Abandons `conn` silently (an attempt given up before it opened):
    /// whatever is in flight on it is lost.
    pub fn forget(&mut self, conn: ConnId) {
        self.dead.insert(conn);
        self.queue.retain(|_, d| d.conn != conn);
    }

    /// When the next delivery arrives.
    pub fn next_delivery(&self) -> Option<Timestamp> {
        self.queue.first_key_value().map(|((at, _), _)| *at)
    }

    /// The earliest delivery due at `now`.
    pub fn pop_due(&mut self, now: Timestamp) -> Option<Delivery> {
        let (&(at, _), _) = self.queue.first_key_value()?;
        if at > now {
            return None;
        }
        self.queue.pop_first().map(|(_, d)| d)
    }

    /// Messages in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    fn schedule(&mut self, delivery: Delivery) {
        self.next_seq += 1;
        self.queue.insert((delivery.at, self.next_seq), delivery);
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_connection_is_fifo_even_with_random_delays() {
        let config = LinkConfig {
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(500),
            ..LinkConfig::default()
        };
        let mut link = Link::new(config, SimRng::new(7));
        let conn = ConnId(1);
        for i in 0..100u8 {
            let now = Timestamp::from_millis(u64::from(i));
            link.send(now, Side::Engine, conn, Packet::Frame(Bytes::from(vec![i])));
        }
        let mut got = vec![];
        while let Some(d) = link.pop_due(Timestamp::from_millis(10_000)) {
            let Packet::Frame(b) = d.packet else { panic!() };
            got.push(b[0]);
        }
        assert_eq!(got, (0..100).collect::<Vec<u8>>());
    }

    #[test]
    fn a_reset_loses_what_is_in_flight_and_tells_both_ends() {
        let mut link = Link::new(LinkConfig::default(), SimRng::new(1));
        let conn = ConnId(3);
        link.send(
            Timestamp::ZERO,
            Side::Engine,
            conn,
            Packet::Frame(Bytes::new()),
        );
        link.reset(Timestamp::ZERO, conn, "boom");
        link.send(
            Timestamp::ZERO,
            Side::Runner,
            conn,
            Packet::Frame(Bytes::new()),
        );
        let mut got = vec![];
        while let Some(d) = link.pop_due(Timestamp::from_millis(1000)) {
            got.push((d.to, d.packet));
        }
        let reset = Packet::Reset("boom".into());
        assert_eq!(got, [(Side::Runner, reset.clone()), (Side::Engine, reset)]);
    }
}
