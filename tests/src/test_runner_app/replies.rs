//! What a route answers: the reply type with its failures, and the shapes
//! of responses and query strings the routes share.

use http::{StatusCode, header};
use runner_core::host::api::{Body, BodyError, Error, Request, Response};
use serde_json::Value;

/// A route's answer; the error side is an answer too (4xx/5xx).
pub(super) type Reply = Result<Response, Failure>;

/// A failed request: status and a plain-text message.
#[derive(Debug)]
pub(super) struct Failure(pub(super) StatusCode, pub(super) String);

impl Failure {
    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Failure(StatusCode::BAD_REQUEST, message.into())
    }

    pub(super) fn into_response(self) -> Response {
        let mut response = text(format!("{}\n", self.1));
        *response.status_mut() = self.0;
        response
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
    }
}

impl From<BodyError> for Failure {
    fn from(err: BodyError) -> Self {
        let status = match err {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        Failure(status, err.to_string())
    }
}

/// A response with `status` and no body.
pub(super) fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// A 200 `text/plain` response.
pub(super) fn text(body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A 200 `application/json` response.
pub(super) fn json_response(value: &Value) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// The value of query parameter `name`, percent-decoded.
pub(super) fn query_param(request: &Request, name: &str) -> Option<String> {
    request
        .uri()
        .query()?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| percent_decode(key, true) == name)
        .map(|(_, value)| percent_decode(value, true))
}

/// Decodes `%XX` escapes (and `+` as a space in query strings); invalid
/// UTF-8 is replaced.
pub(super) fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
                continue;
            }
            (None, b'+') if plus_is_space => out.push(b' '),
            (None, byte) => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%20c+d", true), "a/b c d");
        assert_eq!(percent_decode("a+b", false), "a+b");
        assert_eq!(percent_decode("%zz%4", true), "%zz%4");
        assert_eq!(percent_decode("%C3%A9", false), "é");
    }

    #[test]
    fn query_parameters() {
        let request = http::Request::builder()
            .uri("/kv?prefix=a%2Fb&reverse=true&flag&limit=2")
            .body(Body::empty())
            .unwrap();
        assert_eq!(query_param(&request, "prefix").as_deref(), Some("a/b"));
        assert_eq!(query_param(&request, "reverse").as_deref(), Some("true"));
        assert_eq!(query_param(&request, "flag").as_deref(), Some(""));
        assert_eq!(query_param(&request, "missing"), None);
    }
}
