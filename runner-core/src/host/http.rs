//! Conversions between the core's tunnel types and `http` types.

use bytes::Bytes;
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue, MaxSizeReached};

use super::body::Body;
use super::handler::{Request, Response};
use crate::protocol::BareMap;
use crate::{HttpRequest, HttpResponse};

/// Builds the `http::Request` handed to the handler. Header entries that are
/// not valid HTTP are skipped (the gateway only sends valid ones).
///
/// Refused with the response to send instead: a request that is not valid
/// HTTP (400), or one with more headers than an `http::HeaderMap` can hold
/// (431). The core refuses requests past `limits.max_request_headers`
/// (431) before they get here; this is the host's own guard, for a limit
/// set above what `HeaderMap` holds, so that no limit can make it panic.
pub(crate) fn to_http_request(req: HttpRequest, body: Body) -> Result<Request, HttpResponse> {
    let count = req.headers.len();
    let headers = owned_header_map(req.headers).map_err(|_| {
        tracing::debug!(headers = count, "more headers than a HeaderMap holds: 431");
        error_response(431, "too many request headers")
    })?;
    let bad_request = |e: http::Error| {
        tracing::debug!(error = %e, "request is not valid HTTP: 400");
        error_response(400, "bad request")
    };
    // The path's bytes become the URI's as they are: no copy.
    let uri = http::Uri::from_maybe_shared(Bytes::from(req.path.into_bytes()))
        .map_err(|e| bad_request(e.into()))?;
    let mut request = http::Request::builder()
        .method(req.method.as_str())
        .uri(uri)
        .body(body)
        .map_err(bad_request)?;
    *request.headers_mut() = headers;
    Ok(request)
}

/// The tunnel's headers as an `http::HeaderMap`, without ever panicking:
/// past what a `HeaderMap` holds (about 24 000 names) it is an error.
/// Entries that are not valid HTTP are skipped.
pub(crate) fn header_map(headers: &BareMap<String>) -> Result<HeaderMap, MaxSizeReached> {
    let values = headers
        .iter()
        .map(|(name, value)| (name, HeaderValue::from_str(value).ok()));
    fill_header_map(headers.len(), values)
}

/// [`header_map`] of headers the caller gives away: each value's bytes
/// move into the map (an allocation and a copy per header saved), checked
/// by the same rule as `HeaderValue::from_str`'s.
fn owned_header_map(headers: BareMap<String>) -> Result<HeaderMap, MaxSizeReached> {
    let count = headers.len();
    let values = headers.0.into_iter().map(|(name, value)| {
        let value = HeaderValue::from_maybe_shared(Bytes::from(value.into_bytes())).ok();
        (name, value)
    });
    fill_header_map(count, values)
}

fn fill_header_map<N: AsRef<str>>(
    count: usize,
    headers: impl Iterator<Item = (N, Option<HeaderValue>)>,
) -> Result<HeaderMap, MaxSizeReached> {
    // Reserve only what surely fits; the map grows (fallibly) past it.
    let mut map = HeaderMap::try_with_capacity(count.min(1024))?;
    for (name, value) in headers {
        let name = name.as_ref();
        match (HeaderName::from_bytes(name.as_bytes()), value) {
            (Ok(name), Some(value)) => {
                map.try_append(name, value)?;
            }
            _ => tracing::debug!(name, "invalid request header skipped"),
        }
    }
    Ok(map)
}

/// Reads the handler's response into the core's form. The body is read up
/// to just past `limit` only: the core, which enforces the limit for every
/// event loop, answers one over it ([`HttpResponse::payload_too_large`]).
/// Repeated header values are joined with `", "` (the tunnel carries one
/// value per name).
pub(crate) async fn from_http_response(response: Response, limit: usize) -> HttpResponse {
    let (parts, body) = response.into_parts();
    let body = match body.collect_capped(limit).await {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!(error = %e, "response body failed: sending 500");
            return error_response(500, "response body failed");
        }
    };
    // One more than the names: room for the `content-length` the core adds
    // (no reallocation then).
    let mut headers = BareMap(Vec::with_capacity(parts.headers.keys_len() + 1));
    for name in parts.headers.keys() {
        let mut values = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let Some(first) = values.next() else { continue };
        // One value (the usual case): one copy, no joining.
        let mut value = first.to_owned();
        for more in values {
            value.push_str(", ");
            value.push_str(more);
        }
        // A HeaderMap's names are unique already: push, not `insert`
        // (which looks the name up, quadratic over ~24 000 names).
        headers.0.push((name.as_str().to_owned(), value));
    }
    HttpResponse {
        status: parts.status.as_u16(),
        headers,
        body,
    }
}

/// A plain-text error response.
pub(crate) fn error_response(status: u16, message: &str) -> HttpResponse {
    HttpResponse::new(status)
        .header("content-type", "text/plain")
        .body(message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_headers_than_a_header_map_holds_are_an_error_not_a_panic() {
        let mut headers = BareMap(
            (0..30_000)
                .map(|i| (format!("x-h{i}"), "v".to_owned()))
                .collect(),
        );
        assert!(header_map(&headers).is_err());
        headers.0.truncate(100);
        assert_eq!(header_map(&headers).map(|m| m.len()).ok(), Some(100));
    }

    #[test]
    fn owned_headers_accept_what_borrowed_ones_accept() {
        // Visible bytes (past ASCII too) and tabs pass, control bytes and
        // invalid names do not: the same entries either way.
        let headers = BareMap(
            [
                ("accept", "*/*"),
                ("x-tab", "a\tb"),
                ("x-utf8", "caf\u{e9}"),
                ("x-newline", "a\nb"),
                ("bad name", "v"),
                ("accept", "text/plain"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        );
        let borrowed = header_map(&headers).unwrap();
        let owned = owned_header_map(headers).unwrap();
        assert_eq!(owned, borrowed);
        assert_eq!(owned.len(), 4);
        assert!(owned.get("x-newline").is_none());
    }

    #[test]
    fn the_request_keeps_method_path_and_headers() {
        let mut req = crate::testing::get("A", "/ping?x=1");
        req.headers.insert("x-id", "7".to_owned());
        let key = crate::RequestKey::new(
            crate::protocol::GatewayId([1, 2, 3, 4]),
            crate::protocol::RequestId([5, 6, 7, 8]),
        );
        let request = HttpRequest {
            key,
            actor: crate::ActorRef::new("A", 1),
            method: req.method,
            path: req.path,
            headers: req.headers,
            body: bytes::Bytes::new(),
            streamed: false,
        };
        let request = to_http_request(request, Body::empty()).unwrap();
        assert_eq!(request.method(), http::Method::GET);
        assert_eq!(
            request.uri().path_and_query().unwrap().as_str(),
            "/ping?x=1"
        );
        assert_eq!(request.headers()["x-id"], "7");
        let mut bad = HttpRequest {
            key,
            actor: crate::ActorRef::new("A", 1),
            method: "GET".into(),
            path: "no spaces allowed".into(),
            headers: BareMap::new(),
            body: bytes::Bytes::new(),
            streamed: false,
        };
        assert_eq!(
            to_http_request(bad.clone(), Body::empty())
                .unwrap_err()
                .status,
            400
        );
        bad.path = "/".into();
        assert!(to_http_request(bad, Body::empty()).is_ok());
    }
}
