//! Serverless runners on tokio (feature `serverless`, on by default): the
//! engine starts runners on demand by calling an HTTP endpoint that this
//! process serves. See [`runner_core::host::serverless`] for what the
//! endpoint does; mount [`Serverless::call`] (or, with the `tower` feature,
//! the [`Serverless`] `tower::Service`) in any HTTP server, e.g. hyper or
//! axum. `examples/serverless.rs` serves it with hyper.
//!
//! ```
//! use runner_tokio::serverless::{self, Serverless};
//! use runner_tokio::{http, Handler};
//!
//! struct Counter;
//! impl Handler for Counter {}
//!
//! // Endpoint, namespace, runner name and slots come with each /start.
//! let template = runner_tokio::builder().token("dev");
//! let endpoint: Serverless<Counter> = serverless::builder(template).max_runners(16).build(Counter)?;
//! let metadata = endpoint.call(http::Request::get("/api/rivet/metadata").body(())?);
//! assert_eq!(metadata.status(), 200);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use runner_core::host::serverless::{ServerlessBody, StartError};

use crate::{Builder, Tokio};

/// The serverless endpoint on tokio, serving handler `H` in every runner.
///
/// # Examples
///
/// ```
/// use runner_tokio::serverless::{self, Serverless};
/// use runner_tokio::Handler;
///
/// struct Idle;
/// impl Handler for Idle {}
///
/// let endpoint: Serverless<Idle> = serverless::builder(runner_tokio::builder()).build(Idle)?;
/// assert_eq!(endpoint.running(), 0);
/// # Ok::<(), runner_tokio::BuildError>(())
/// ```
pub type Serverless<H> = runner_core::host::serverless::Serverless<Tokio, H>;

/// Settings of a [`Serverless`] endpoint on tokio.
///
/// # Examples
///
/// ```
/// use runner_tokio::serverless::{self, ServerlessBuilder};
///
/// let settings: ServerlessBuilder = serverless::builder(runner_tokio::builder()).max_runners(4);
/// # let _ = settings;
/// ```
pub type ServerlessBuilder = runner_core::host::serverless::ServerlessBuilder<Tokio>;

/// Starts the settings of a serverless endpoint whose runners are built
/// from `template` (everything but endpoint, namespace, runner name, slots
/// and token, which each `/start` brings).
///
/// # Examples
///
/// ```
/// use runner_tokio::Handler;
///
/// struct Idle;
/// impl Handler for Idle {}
///
/// let template = runner_tokio::builder().token("dev");
/// let endpoint = runner_tokio::serverless::builder(template).build(Idle)?;
/// assert_eq!(endpoint.running(), 0);
/// # Ok::<(), runner_tokio::BuildError>(())
/// ```
pub fn builder(template: Builder) -> ServerlessBuilder {
    runner_core::host::serverless::Serverless::builder(template)
}
