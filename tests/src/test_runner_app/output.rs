//! What the test runner prints: one JSON object per line on stdout, camelCase
//! fields, nothing else (logs go to stderr).

use std::io::Write;

use runner_core::host::api::ActorContext;
use serde_json::{Value, json};

/// `{"event":"connected","runnerId":…}`
pub fn connected(runner_id: &str) {
    print(json!({"event": "connected", "runnerId": runner_id}));
}

/// `{"event":"disconnected","code":…,"reason":…}` (`code` is null when the
/// connection ended without a close frame).
pub fn disconnected(code: Option<u16>, reason: &str) {
    print(json!({"event": "disconnected", "code": code, "reason": reason}));
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
