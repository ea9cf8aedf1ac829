//! The runner's configuration in the recording's primitives: the body of a
//! recording's header and the start of a snapshot. The token is never
//! written; what is read back has a placeholder when there was one.

use std::collections::BTreeMap;

use super::codec::{Cursor, Malformed, Put};
use crate::config::{Backoff, Config, Limits, Timeouts};
use crate::protocol::ProtocolVersion;
use crate::secret::Token;

/// The token a replayed configuration gets in place of the real one.
pub(crate) const TOKEN_PLACEHOLDER: &str = "recorded-token-withheld";

pub(crate) fn put_config(buf: &mut Vec<u8>, config: &Config) {
    buf.put_str(&config.endpoint);
    buf.put_str(&config.namespace);
    buf.put_str(&config.runner_name);
    buf.put_str(&config.runner_key);
    buf.put_varint(u64::from(config.version));
    buf.put_varint(u64::from(config.total_slots));
    buf.put_varint(config.prepopulate_actor_names.len() as u64);
    for (name, metadata) in &config.prepopulate_actor_names {
        buf.put_str(name);
        buf.put_str(metadata);
    }
    buf.put_opt_str(config.metadata.as_deref());
    buf.put_varint(u64::from(config.protocol_version.number()));
    buf.put_varint(config.rng_seed);
    let t = &config.timeouts;
    for d in [
        t.connect,
        t.init,
        t.liveness,
        t.actor_start,
        t.actor_stop,
        t.kv_request,
        t.shutdown_drain,
        t.close,
        t.retention,
    ] {
        buf.put_duration(d);
    }
    buf.put_duration(config.backoff.initial);
    buf.put_duration(config.backoff.max);
    buf.extend_from_slice(&config.backoff.jitter.to_bits().to_le_bytes());
    for limit in limits(&config.limits) {
        buf.put_varint(limit as u64);
    }
}

fn limits(l: &Limits) -> [usize; 14] {
    [
        l.max_pending_kv,
        l.max_queued_kv,
        l.max_unacked_events_per_actor,
        l.max_retired_generations,
        l.events_per_frame,
        l.max_actors,
        l.max_tunnel_payload,
        l.max_request_body,
        l.max_requests_per_actor,
        l.max_request_headers,
        l.max_inbox_messages,
        l.max_inbox_bytes,
        l.max_buffered_messages,
        l.max_buffered_bytes,
    ]
}

pub(crate) fn get_config(c: &mut Cursor<'_>, has_token: bool) -> Result<Config, Malformed> {
    let mut config = Config::new(c.string()?, String::new(), String::new());
    config.namespace = c.string()?;
    config.runner_name = c.string()?;
    config.runner_key = c.string()?;
    config.version = c.u32()?;
    config.total_slots = c.u32()?;
    let mut names = BTreeMap::new();
    for _ in 0..c.count()? {
        names.insert(c.string()?, c.string()?);
    }
    config.prepopulate_actor_names = names;
    config.metadata = c.opt_string()?;
    config.protocol_version =
        ProtocolVersion::new(c.u16()?).map_err(|_| "unknown protocol version")?;
    config.rng_seed = c.varint()?;
    config.token = has_token.then(|| Token::new(TOKEN_PLACEHOLDER));
    config.timeouts = get_timeouts(c)?;
    config.backoff = Backoff {
        initial: c.duration()?,
        max: c.duration()?,
        jitter: f64::from_bits(u64::from_le_bytes(c.fixed()?)),
    };
    config.limits = get_limits(c)?;
    Ok(config)
}

fn get_timeouts(c: &mut Cursor<'_>) -> Result<Timeouts, Malformed> {
    Ok(Timeouts {
        connect: c.duration()?,
        init: c.duration()?,
        liveness: c.duration()?,
        actor_start: c.duration()?,
        actor_stop: c.duration()?,
        kv_request: c.duration()?,
        shutdown_drain: c.duration()?,
        close: c.duration()?,
        retention: c.duration()?,
    })
}

fn get_limits(c: &mut Cursor<'_>) -> Result<Limits, Malformed> {
    Ok(Limits {
        max_pending_kv: c.usize()?,
        max_queued_kv: c.usize()?,
        max_unacked_events_per_actor: c.usize()?,
        max_retired_generations: c.usize()?,
        events_per_frame: c.usize()?,
        max_actors: c.usize()?,
        max_tunnel_payload: c.usize()?,
        max_request_body: c.usize()?,
        max_requests_per_actor: c.usize()?,
        max_request_headers: c.usize()?,
        max_inbox_messages: c.usize()?,
        max_inbox_bytes: c.usize()?,
        max_buffered_messages: c.usize()?,
        max_buffered_bytes: c.usize()?,
    })
}
