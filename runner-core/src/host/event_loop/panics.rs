//! Panics of user code: the message of one caught in a handler task, for
//! the log, and the guard around the handler's synchronous hooks.

use tracing::error;

/// Runs a synchronous hook of the handler (`on_connected`,
/// `on_disconnected`, `on_shutdown`) on the loop: a panic in it is caught
/// and logged at error level, and the loop goes on as if it had returned.
pub(super) fn guard_hook(hook: &'static str, call: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        error!(hook, panic = panic_message(panic), "handler hook panicked");
    }
}

/// The message of a caught panic. Takes the box itself: a `&Box<dyn Any>`
/// passed where a `&dyn Any` is expected coerces to the box, whose downcasts
/// all fail (every message came out as "unknown panic").
pub(super) fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(message) => *message,
        Err(panic) => panic
            .downcast_ref::<&str>()
            .map_or_else(|| "unknown panic".into(), |s| (*s).to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::{guard_hook, panic_message};

    #[test]
    fn a_panicking_hook_is_contained() {
        let mut after = false;
        guard_hook("on_connected", || panic!("boom"));
        guard_hook("on_shutdown", || after = true);
        assert!(after);
    }

    #[test]
    fn panic_messages_survive_catch_unwind() {
        let caught = std::panic::catch_unwind(|| panic!("a literal")).unwrap_err();
        assert_eq!(panic_message(caught), "a literal");
        let n = 7;
        let caught = std::panic::catch_unwind(|| panic!("formatted {n}")).unwrap_err();
        assert_eq!(panic_message(caught), "formatted 7");
        let caught = std::panic::catch_unwind(|| std::panic::panic_any(5u8)).unwrap_err();
        assert_eq!(panic_message(caught), "unknown panic");
    }
}
