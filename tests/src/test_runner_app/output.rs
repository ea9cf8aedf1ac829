//! What the test runner prints: one JSON object per line on stdout, camelCase
//! fields, nothing else (logs go to stderr).

use std::io::Write;

use runner_core::host::api::ActorContext;
use serde_json::{Value, json};

/// `{"event":"connected","runnerId":…}`
pub fn connected(runner_id: &str) {
    print(json!({"event": "connected", "runnerId": runner_id}));
}

/// `{"event":"disconnected","code":…,"reason":…}`.
pub fn disconnected(code: Option<u16>, reason: &str) {
    print(disconnected_line(code, reason));
}

/// The code received, or 1006 when the connection ended without a close
/// frame: the contract's `code` is always a number (RFC 6455 §7.1.5 names
/// that case 1006, "abnormal closure").
fn disconnected_line(code: Option<u16>, reason: &str) -> Value {
    const ABNORMAL_CLOSURE: u16 = 1006;
    let code = code.unwrap_or(ABNORMAL_CLOSURE);
    json!({"event": "disconnected", "code": code, "reason": reason})
}

/// `{"event":"actor_start","actorId":…,"generation":…,"name":…,"key":…}`
pub fn actor_start(actor: &ActorContext) {
    print(json!({
        "event": "actor_start",
        "actorId": actor.actor_id(),
        "generation": actor.generation(),
        "name": actor.name(),
        "key": actor.key(),
    }));
}

/// `{"event":"actor_stop","actorId":…,"generation":…}`
pub fn actor_stop(actor: &ActorContext) {
    print(json!({
        "event": "actor_stop",
        "actorId": actor.actor_id(),
        "generation": actor.generation(),
    }));
}

/// `{"event":"listening","addr":"HOST:PORT"}` (serverless mode).
pub fn listening(addr: std::net::SocketAddr) {
    print(json!({"event": "listening", "addr": addr.to_string()}));
}

/// `{"event":"shutdown"}`, printed last.
pub fn shutdown() {
    print(json!({"event": "shutdown"}));
}

/// One line, written whole: the stdout lock is held for the line, and stdout
/// is line-buffered, so lines from concurrent tasks never mix and each is
/// visible at once. A closed stdout is not worth a panic: the line is lost.
fn print(event: Value) {
    let _ = writeln!(std::io::stdout().lock(), "{event}");
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn disconnected_carries_a_numeric_code_1006_without_a_close_frame() {
        let line = disconnected_line(None, "connection reset");
        assert_eq!(
            line,
            json!({"event": "disconnected", "code": 1006, "reason": "connection reset"})
        );
        assert_eq!(disconnected_line(Some(1012), "restart")["code"], 1012);
    }
}
