//! Conversions between the core's tunnel types and `http` types.

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
    let headers = header_map(&req.headers).map_err(|_| {
        tracing::debug!(
            headers = req.headers.len(),
            "more headers than a HeaderMap holds: 431"
        );
        error_response(431, "too many request headers")
    })?;
    let mut request = http::Request::builder()
        .method(req.method.as_str())
        .uri(req.path.as_str())
        .body(body)
        .map_err(|e| {
            tracing::debug!(error = %e, "request is not valid HTTP: 400");
            error_response(400, "bad request")
        })?;
    *request.headers_mut() = headers;
    Ok(request)
}

/// The tunnel's headers as an `http::HeaderMap`, without ever panicking:
/// past what a `HeaderMap` holds (about 24 000 names) it is an error.
/// Entries that are not valid HTTP are skipped.
pub(crate) fn header_map(headers: &BareMap<String>) -> Result<HeaderMap, MaxSizeReached> {
    // Reserve only what surely fits; the map grows (fallibly) past it.
    let mut map = HeaderMap::try_with_capacity(headers.len().min(1024))?;
    for (name, value) in headers.iter() {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) => {
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
    let mut headers = BareMap(Vec::with_capacity(parts.headers.keys_len()));
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
}
