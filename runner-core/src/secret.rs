//! The engine's auth token as a type that keeps it out of every `Debug`
//! output, log line and error message.

use std::fmt;

/// The engine's auth token: a secret. It has no `Display`, and its `Debug`
/// shows that a token is set, never its value, so a configuration, a
/// builder or a connect request can be printed or logged safely.
///
/// # Examples
///
/// ```
/// use runner_core::{Config, Token};
///
/// let mut config = Config::new("https://rivet.example", "r", "k");
/// config.token = Some("s3cret".into());
/// assert_eq!(config.token.as_ref().map(Token::expose), Some("s3cret"));
/// assert_eq!(format!("{:?}", config.token), "Some(Token(<redacted>))");
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Token(String);

impl Token {
    /// A token from its text.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::Token;
    ///
    /// assert_eq!(Token::new("dev"), Token::from("dev"));
    /// ```
    pub fn new(token: impl Into<String>) -> Self {
        Token(token.into())
    }

    /// The token's text, for the one place that sends it.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::Token;
    ///
    /// assert_eq!(Token::new("dev").expose(), "dev");
    /// ```
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Token {
    fn from(token: String) -> Self {
        Token(token)
    }
}

impl From<&str> for Token {
    fn from(token: &str) -> Self {
        Token(token.to_owned())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The sub-protocol that carries the token, before the token itself.
pub(crate) const TOKEN_SUBPROTOCOL_PREFIX: &str = "rivet_token.";

/// `Debug` of a sub-protocol list with the token's value hidden.
pub(crate) struct RedactedSubprotocols<'a>(pub(crate) &'a [String]);

impl fmt::Debug for RedactedSubprotocols<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for protocol in self.0 {
            if protocol.starts_with(TOKEN_SUBPROTOCOL_PREFIX) {
                list.entry(&format_args!("{TOKEN_SUBPROTOCOL_PREFIX}<redacted>"));
            } else {
                list.entry(protocol);
            }
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_subprotocol_is_redacted_and_the_others_kept() {
        let list = ["rivet".to_owned(), "rivet_token.s3cret".to_owned()];
        assert_eq!(
            format!("{:?}", RedactedSubprotocols(&list)),
            r#"["rivet", rivet_token.<redacted>]"#
        );
    }
}
