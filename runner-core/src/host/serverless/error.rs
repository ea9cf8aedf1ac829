//! Why a serverless request was refused, and the HTTP status each reason
//! is answered with.

use http::StatusCode;
use thiserror::Error;

use crate::host::BuildError;

/// Why [`Serverless`](super::Serverless) refused a request. Nothing was
/// started; the process keeps serving. The response carries the status of
/// [`status`](Self::status) and the message as a `text/plain` body, which the
/// engine shows in its runner-pool errors.
///
/// # Examples
///
/// ```
/// use runner_tokio::http::StatusCode;
/// use runner_tokio::serverless::StartError;
///
/// let missing = StartError::MissingHeader("x-rivet-endpoint");
/// assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
/// assert_eq!(missing.to_string(), "missing header x-rivet-endpoint");
/// let full = StartError::TooManyRunners { max: 4 };
/// assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StartError {
    /// A header the engine always sends with `/start` is absent (400).
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header is there but unusable (400).
    #[error("header {header} is malformed: {problem}")]
    MalformedHeader {
        /// The header's name.
        header: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The headers make a runner configuration the builder refuses, e.g. an
    /// endpoint that is not a URL (400).
    #[error("the runner configuration from the headers is invalid: {0}")]
    Config(BuildError),
    /// The configured shared-secret header is absent or wrong (401).
    #[error("missing or wrong shared secret")]
    Unauthorized,
    /// As many runners as allowed are running already (503); the engine
    /// retries with backoff.
    #[error("too many serverless runners (at most {max})")]
    TooManyRunners {
        /// The bound, [`ServerlessBuilder::max_runners`](super::ServerlessBuilder::max_runners).
        max: usize,
    },
    /// [`Serverless::shutdown`](super::Serverless::shutdown) has begun (503).
    #[error("shutting down")]
    ShuttingDown,
    /// No such route under the base path (404).
    #[error("not found")]
    NotFound,
    /// A route under the base path asked with another method than GET (405).
    #[error("method not allowed (use GET)")]
    MethodNotAllowed,
}

impl StartError {
    /// The HTTP status the refusal is answered with.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::http::StatusCode;
    /// use runner_tokio::serverless::StartError;
    ///
    /// assert_eq!(StartError::Unauthorized.status(), StatusCode::UNAUTHORIZED);
    /// assert_eq!(StartError::ShuttingDown.status(), StatusCode::SERVICE_UNAVAILABLE);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            StartError::MissingHeader(_)
            | StartError::MalformedHeader { .. }
            | StartError::Config(_) => StatusCode::BAD_REQUEST,
            StartError::Unauthorized => StatusCode::UNAUTHORIZED,
            StartError::TooManyRunners { .. } | StartError::ShuttingDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            StartError::NotFound => StatusCode::NOT_FOUND,
            StartError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }
}
