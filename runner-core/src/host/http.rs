//! Conversions between the core's tunnel types and `http` types.

use http::header::{HeaderName, HeaderValue};

use super::body::{Body, BodyError};
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

/// Reads the handler's response into the core's form. A body over `limit`
/// becomes a 500 right here, before more of it is buffered; repeated header
/// values are joined with `", "` (the tunnel carries one value per name).
pub(crate) async fn from_http_response(response: Response, limit: usize) -> HttpResponse {
    let (parts, body) = response.into_parts();
    let body = match body.collect(limit).await {
        Ok(body) => body,
        Err(BodyError::TooLarge { limit }) => {
            tracing::warn!(limit, "response body over the tunnel limit: sending 500");
            return error_response(
                500,
                &format!("response body exceeds the runner's {limit}-byte limit"),
            );
        }
        Err(BodyError::Failed(e)) => {
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
