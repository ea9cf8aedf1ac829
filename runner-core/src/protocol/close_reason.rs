//! The engine's WebSocket close reasons: `"{group}.{code}#{rayId}"`.

use std::fmt;

/// A parsed close reason.
///
/// ```
/// use runner_core::protocol::CloseReason;
/// let r = CloseReason::parse("ws.eviction#abc123").unwrap();
/// assert_eq!((r.group, r.code, r.ray_id), ("ws", "eviction", Some("abc123")));
/// assert!(r.is("ws", "eviction"));
/// assert!(CloseReason::parse("nonsense").is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseReason<'a> {
    /// Error group, e.g. `ws`.
    pub group: &'a str,
    /// Error code within the group, e.g. `eviction`.
    pub code: &'a str,
    /// Ray id for tracing the error in the engine's logs, if given.
    pub ray_id: Option<&'a str>,
}

impl<'a> CloseReason<'a> {
    /// Parses `group.code` with an optional `#rayId`. Segments after a second
    /// `.` are ignored, as the reference runner does; an empty group or code
    /// gives `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::protocol::CloseReason;
    ///
    /// let r = CloseReason::parse("ws.eviction.extra").unwrap();
    /// assert_eq!((r.group, r.code, r.ray_id), ("ws", "eviction", None));
    /// assert_eq!(CloseReason::parse("ws.#ray"), None); // empty code
    /// let r = CloseReason::parse("ws.eviction#r1").unwrap();
    /// assert_eq!(r.to_string(), "ws.eviction#r1");
    /// ```
    pub fn parse(reason: &'a str) -> Option<Self> {
        let (main, ray_id) = match reason.split_once('#') {
            Some((main, ray)) => (main, Some(ray)),
            None => (reason, None),
        };
        let mut parts = main.split('.');
        let group = parts.next().filter(|s| !s.is_empty())?;
        let code = parts.next().filter(|s| !s.is_empty())?;
        Some(CloseReason {
            group,
            code,
            ray_id,
        })
    }

    /// Whether this is `group.code`.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::protocol::CloseReason;
    ///
    /// let r = CloseReason::parse("ws.going_away#r1").unwrap();
    /// assert!(r.is("ws", "going_away"));
    /// assert!(!r.is("ws", "eviction"));
    /// ```
    pub fn is(&self, group: &str, code: &str) -> bool {
        self.group == group && self.code == code
    }
}

impl fmt::Display for CloseReason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.group, self.code)?;
        if let Some(ray) = self.ray_id {
            write!(f, "#{ray}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_the_reference() {
        let r = CloseReason::parse("namespace.not_found#r1").unwrap();
        assert_eq!(r.to_string(), "namespace.not_found#r1");
        let r = CloseReason::parse("a.b.c").unwrap();
        assert_eq!((r.group, r.code, r.ray_id), ("a", "b", None));
        assert!(CloseReason::parse(".x").is_none());
        assert!(CloseReason::parse("x.").is_none());
        assert!(CloseReason::parse("").is_none());
        assert!(CloseReason::parse("#ray").is_none());
    }
}
