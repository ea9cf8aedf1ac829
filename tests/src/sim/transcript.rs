//! Everything that happened in a simulation, in order, for assertions and
//! for comparing two runs byte for byte.

use std::fmt::Write as _;

use runner_core::protocol::{ProtocolVersion, ToServer, decode_to_server};
use runner_core::{ConnId, Event, Timestamp, Transmit};

use super::link::{Packet, Side};

/// One entry of the transcript.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// The runner emitted a transmit; `conn` is the connection a frame went on.
    Transmit {
        /// Connection of a `Frame` (the one of the last `Connect`).
        conn: Option<ConnId>,
        /// The transmit.
        transmit: Transmit,
    },
    /// The runner emitted an event.
    Event(Event),
    /// The link delivered a packet.
    Delivered {
        /// Receiver.
        to: Side,
        /// Connection.
        conn: ConnId,
        /// What.
        packet: Packet,
    },
    /// A call into the runner (user or callback completion) and its result.
    Call(String),
}

/// A timestamped entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Virtual time.
    pub at: Timestamp,
    /// What happened.
    pub entry: Entry,
}

/// The full record of one simulation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    records: Vec<Record>,
}

impl Transcript {
    pub(super) fn push(&mut self, at: Timestamp, entry: Entry) {
        self.records.push(Record { at, entry });
    }

    /// Every record, in order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing happened.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Every event the runner emitted, with its time.
    pub fn events(&self) -> Vec<(Timestamp, Event)> {
        self.records
            .iter()
            .filter_map(|r| match &r.entry {
                Entry::Event(e) => Some((r.at, e.clone())),
                _ => None,
            })
            .collect()
    }

    /// Every transmit the runner emitted, with its time and connection.
    pub fn transmits(&self) -> Vec<(Timestamp, Option<ConnId>, Transmit)> {
        self.records
            .iter()
            .filter_map(|r| match &r.entry {
                Entry::Transmit { conn, transmit } => Some((r.at, *conn, transmit.clone())),
                _ => None,
            })
            .collect()
    }

    /// Every frame the runner sent, decoded.
    pub fn sent(&self, version: ProtocolVersion) -> Vec<(Timestamp, ConnId, ToServer)> {
        self.transmits()
            .into_iter()
            .filter_map(|(at, conn, t)| match t {
                Transmit::Frame(bytes) => {
                    let msg = decode_to_server(version, &bytes)
                        .unwrap_or_else(|e| panic!("the runner sent an undecodable frame: {e}"));
                    Some((at, conn?, msg))
                }
                _ => None,
            })
            .collect()
    }

    /// The transcript as text: one line per record, frames as hex. Two runs
    /// are identical iff their texts are.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for r in &self.records {
            let _ = match &r.entry {
                Entry::Transmit {
                    conn,
                    transmit: Transmit::Frame(bytes),
                } => writeln!(out, "{:?} frame {conn:?} {}", r.at, hex(bytes)),
                entry => writeln!(out, "{:?} {entry:?}", r.at),
            };
        }
        out
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
