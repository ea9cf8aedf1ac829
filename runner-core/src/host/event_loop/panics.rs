//! The message of a panic caught in a handler task, for the log.

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
    use super::panic_message;

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
