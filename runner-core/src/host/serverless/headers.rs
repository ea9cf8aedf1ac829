//! What a `/start` request says about the runner to start: the engine's
//! `x-rivet-*` headers, read strictly (a missing or malformed one refuses
//! the start before anything runs).

use http::HeaderMap;

use super::error::StartError;

/// The engine's public URL (the runner connects to `<endpoint>/runners/connect`).
pub(super) const ENDPOINT: &str = "x-rivet-endpoint";
/// Slots of the runner to start.
pub(super) const TOTAL_SLOTS: &str = "x-rivet-total-slots";
/// Runner name of the serverless config.
pub(super) const RUNNER_NAME: &str = "x-rivet-runner-name";
/// Namespace of the serverless config.
pub(super) const NAMESPACE: &str = "x-rivet-namespace-name";
/// The engine's token, sent only when the engine has auth configured.
pub(super) const TOKEN: &str = "x-rivet-token";

/// The runner a `/start` request asks for.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct StartHeaders {
    pub(super) endpoint: String,
    pub(super) total_slots: u32,
    pub(super) runner_name: String,
    pub(super) namespace: String,
    pub(super) token: Option<String>,
}

// By hand: the token never reaches a log.
impl std::fmt::Debug for StartHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartHeaders")
            .field("endpoint", &self.endpoint)
            .field("total_slots", &self.total_slots)
            .field("runner_name", &self.runner_name)
            .field("namespace", &self.namespace)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl StartHeaders {
    /// Reads the headers; the first missing or malformed one is the error.
    pub(super) fn parse(headers: &HeaderMap) -> Result<Self, StartError> {
        let total_slots = required(headers, TOTAL_SLOTS)?;
        let total_slots = total_slots
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|slots| *slots > 0)
            .ok_or(StartError::MalformedHeader {
                header: TOTAL_SLOTS,
                problem: "not a whole number from 1 to 4294967295",
            })?;
        Ok(StartHeaders {
            endpoint: required(headers, ENDPOINT)?.to_owned(),
            total_slots,
            runner_name: required(headers, RUNNER_NAME)?.to_owned(),
            namespace: required(headers, NAMESPACE)?.to_owned(),
            token: optional(headers, TOKEN)?.map(str::to_owned),
        })
    }
}

/// A header that must be there, as non-empty text.
fn required<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, StartError> {
    optional(headers, name)?.ok_or(StartError::MissingHeader(name))
}

/// A header that may be absent; when present it is non-empty text and
/// appears once (two values would leave the runner's settings ambiguous).
fn optional<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<Option<&'h str>, StartError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(StartError::MalformedHeader {
            header: name,
            problem: "given more than once",
        });
    }
    let text = value.to_str().map_err(|_| StartError::MalformedHeader {
        header: name,
        problem: "not visible ASCII text",
    })?;
    if text.trim().is_empty() {
        return Err(StartError::MalformedHeader {
            header: name,
            problem: "empty",
        });
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    const GOOD: [(&str, &str); 4] = [
        (ENDPOINT, "http://127.0.0.1:6420/"),
        (TOTAL_SLOTS, "5"),
        (RUNNER_NAME, "r"),
        (NAMESPACE, "default"),
    ];

    #[test]
    fn the_engine_headers_make_a_runner_config() {
        let parsed = StartHeaders::parse(&headers(&GOOD)).unwrap();
        assert_eq!(parsed.endpoint, "http://127.0.0.1:6420/");
        assert_eq!(parsed.total_slots, 5);
        assert_eq!(
            (parsed.runner_name.as_str(), parsed.namespace.as_str()),
            ("r", "default")
        );
        assert_eq!(parsed.token, None);
        let mut with_token = GOOD.to_vec();
        with_token.push((TOKEN, "s3cret"));
        let parsed = StartHeaders::parse(&headers(&with_token)).unwrap();
        assert_eq!(parsed.token.as_deref(), Some("s3cret"));
        assert!(!format!("{parsed:?}").contains("s3cret"));
    }

    #[test]
    fn each_missing_header_is_named() {
        for missing in [ENDPOINT, TOTAL_SLOTS, RUNNER_NAME, NAMESPACE] {
            let rest: Vec<_> = GOOD
                .iter()
                .copied()
                .filter(|(n, _)| *n != missing)
                .collect();
            let err = StartHeaders::parse(&headers(&rest)).unwrap_err();
            assert_eq!(err, StartError::MissingHeader(missing));
        }
    }

    #[test]
    fn malformed_headers_are_refused() {
        for (name, value) in [
            (TOTAL_SLOTS, "0"),
            (TOTAL_SLOTS, "-1"),
            (TOTAL_SLOTS, "many"),
            (TOTAL_SLOTS, "4294967296"),
            (RUNNER_NAME, " "),
            (TOKEN, ""),
        ] {
            let mut pairs: Vec<_> = GOOD.iter().copied().filter(|(n, _)| *n != name).collect();
            pairs.push((name, value));
            let err = StartHeaders::parse(&headers(&pairs)).unwrap_err();
            assert!(
                matches!(err, StartError::MalformedHeader { header, .. } if header == name),
                "{name}: {value:?} gave {err:?}"
            );
        }
        let mut twice = GOOD.to_vec();
        twice.push((RUNNER_NAME, "other"));
        let err = StartHeaders::parse(&headers(&twice)).unwrap_err();
        assert!(matches!(
            err,
            StartError::MalformedHeader {
                header: RUNNER_NAME,
                ..
            }
        ));
    }
}
