//! Free loopback ports for engines.
//!
//! Ports are drawn at random from a range *below* the kernel's ephemeral
//! range (`/proc/sys/net/ipv4/ip_local_port_range`). Ports handed out by
//! binding port 0 would come from the ephemeral range, where the kernel also
//! picks the local ports of outgoing connections: a runner reconnecting in a
//! loop while its engine is down could then grab the port the engine needs to
//! bind again on `restart()`. The default ports 6420/6421/6430 are never
//! used, so the engines of other people on the same machine are left alone.

use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::Mutex;

use anyhow::{Result, bail};

/// Lowest port we hand out.
const LOW: u16 = 20_000;
/// Used when the ephemeral range cannot be read or starts too low.
const FALLBACK_HIGH: u16 = 32_000;

/// Ports handed out by this process, never handed out twice, so that two
/// engines started concurrently by one test binary cannot pick the same port
/// in the window before either has bound it.
static TAKEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// Picks `n` distinct ports that are free on 127.0.0.1 right now.
///
/// Another process may still bind one before the engine does; the engine
/// start-up notices that ("Address in use" in its log) and retries with new
/// ports.
pub(crate) fn pick(n: usize) -> Result<Vec<u16>> {
    let high = range_high();
    let span = u64::from(high - LOW);
    let random = RandomState::new();
    let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
    let taken = taken.get_or_insert_with(HashSet::new);
    let mut ports = Vec::with_capacity(n);
    for attempt in 0u64..10_000 {
        if ports.len() == n {
            break;
        }
        let port = LOW + (random.hash_one(attempt) % span) as u16;
        if !taken.contains(&port) && is_free(port) {
            taken.insert(port);
            ports.push(port);
        }
    }
    if ports.len() < n {
        bail!("no free loopback ports found in {LOW}..{high}");
    }
    Ok(ports)
}

/// Whether `port` can be bound on 127.0.0.1 now. Like the engine's own
/// listeners, std's listener sets `SO_REUSEADDR`, so sockets of a killed
/// engine lingering in TIME_WAIT do not count as "in use".
pub(crate) fn is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// Upper bound (exclusive) of our range: the start of the ephemeral range.
fn range_high() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|&start| start > LOW + 1_000)
        .unwrap_or(FALLBACK_HIGH)
}
