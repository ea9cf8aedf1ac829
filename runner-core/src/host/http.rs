//! Conversions between the core's tunnel types and `http` types.

use http::header::{HeaderName, HeaderValue};

use super::body::Body;
use super::handler::{Request, Response};
use crate::protocol::BareMap;
use crate::{HttpRequest, HttpResponse};

/// Builds the `http::Request` handed to the handler. Header entries that are
/// not valid HTTP are skipped (the gateway only sends valid ones).
pub(crate) fn to_http_request(req: HttpRequest, body: Body) -> Result<Request, http::Error> {
    let mut builder = http::Request::builder()
        .method(req.method.as_str())
        .uri(req.path.as_str());
    if let Some(headers) = builder.headers_mut() {
        for (name, value) in req.headers.iter() {
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                (Ok(name), Ok(value)) => {
                    headers.append(name, value);
                }
                _ => tracing::debug!(name, "invalid request header skipped"),
            }
        }
    }
    builder.body(body)
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
        headers.insert(name.as_str(), value);
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
