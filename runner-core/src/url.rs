//! The runner connection's URL and sub-protocols.
//!
//! Pure functions of strings: [`Config`](crate::Config) calls them, so they
//! take its fields rather than the configuration itself.

use crate::protocol::ProtocolVersion;
use crate::secret::TOKEN_SUBPROTOCOL_PREFIX;

/// The endpoint with its scheme turned into `ws`/`wss` and one trailing `/`
/// removed. Unlike the reference runner (which replaces `http://` anywhere in
/// the string), only a leading scheme is rewritten, and an endpoint with a
/// query or fragment is refused rather than turned into a broken URL. The
/// error says what is wrong with it.
pub(crate) fn websocket_base(endpoint: &str) -> Result<String, &'static str> {
    let (scheme, rest) = endpoint.split_once("://").ok_or("no scheme")?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        _ => return Err("scheme must be http, https, ws or wss"),
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err("no host");
    }
    if rest.contains(['?', '#']) {
        return Err("must not contain a query or fragment");
    }
    if rest
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err("contains whitespace");
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    Ok(format!("{scheme}://{rest}"))
}

pub(crate) fn connection_url(
    endpoint: &str,
    version: ProtocolVersion,
    namespace: &str,
    runner_key: &str,
) -> String {
    // `validate` has run before any URL is built; fall back to the raw text so
    // that this function stays total.
    let base = websocket_base(endpoint).unwrap_or_else(|_| endpoint.to_owned());
    format!(
        "{base}/runners/connect?protocol_version={}&namespace={}&runner_key={}",
        version.number(),
        percent_encode(namespace),
        percent_encode(runner_key),
    )
}

pub(crate) fn subprotocols(token: Option<&str>) -> Vec<String> {
    let mut protocols = vec!["rivet".to_owned()];
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        protocols.push(format!("{TOKEN_SUBPROTOCOL_PREFIX}{token}"));
    }
    protocols
}

/// Percent-encodes everything but RFC 3986 unreserved characters. The engine
/// form-decodes the query (`+` is a space), so `+` must be encoded too.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_connect_url() {
        assert_eq!(
            connection_url(
                "HTTPS://h.example/api/",
                ProtocolVersion::V5,
                "ns&x",
                "a+b c/é"
            ),
            "wss://h.example/api/runners/connect?protocol_version=5&namespace=ns%26x&runner_key=a%2Bb%20c%2F%C3%A9"
        );
        assert_eq!(websocket_base("ws://h:1").unwrap(), "ws://h:1");
        assert!(websocket_base("http://h/?q=1").is_err());
        assert!(websocket_base("http:///x").is_err());
        assert!(websocket_base("h:80").is_err());
    }

    #[test]
    fn offers_rivet_and_the_token() {
        assert_eq!(subprotocols(None), ["rivet"]);
        assert_eq!(subprotocols(Some("")), ["rivet"]);
        assert_eq!(subprotocols(Some("dev")), ["rivet", "rivet_token.dev"]);
    }
}
