//! Serverless runners on async-std (feature `serverless`, on by default): the
//! engine starts runners on demand by calling an HTTP endpoint that this
//! process serves. See [`runner_core::host::serverless`] for what the
//! endpoint does; mount [`Serverless::call`] (or, with the `tower` feature,
//! the [`Serverless`] `tower::Service`) in any HTTP server, e.g. hyper over
//! async-io (`examples/serverless.rs`).
//!
//! ```
//! use runner_async_std::serverless::{self, Serverless};
//! use runner_async_std::{http, Handler};
//!
//! struct Counter;
//! impl Handler for Counter {}
//!
//! // Endpoint, namespace, runner name and slots come with each /start.
//! let template = runner_async_std::builder().token("dev");
//! let endpoint: Serverless<Counter> = serverless::builder(template).max_runners(16).build(Counter)?;
//! let metadata = endpoint.call(http::Request::get("/api/rivet/metadata").body(())?);
//! assert_eq!(metadata.status(), 200);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use runner_core::host::serverless::{ServerlessBody, StartError};

use crate::{AsyncStd, Builder};

/// The serverless endpoint on async-std, serving handler `H` in every runner.
///
/// # Examples
///
/// ```
/// use runner_async_std::serverless::{self, Serverless};
/// use runner_async_std::Handler;
///
/// struct Idle;
/// impl Handler for Idle {}
///
/// let endpoint: Serverless<Idle> = serverless::builder(runner_async_std::builder()).build(Idle)?;
/// assert_eq!(endpoint.running(), 0);
/// # Ok::<(), runner_async_std::BuildError>(())
/// ```
pub type Serverless<H> = runner_core::host::serverless::Serverless<AsyncStd, H>;

/// Settings of a [`Serverless`] endpoint on async-std.
///
/// # Examples
///
/// ```
/// use runner_async_std::serverless::{self, ServerlessBuilder};
///
/// let settings: ServerlessBuilder = serverless::builder(runner_async_std::builder()).max_runners(4);
/// # let _ = settings;
/// ```
pub type ServerlessBuilder = runner_core::host::serverless::ServerlessBuilder<AsyncStd>;

/// Starts the settings of a serverless endpoint whose runners are built
/// from `template` (everything but endpoint, namespace, runner name, slots
/// and token, which each `/start` brings).
///
/// # Examples
///
/// ```
/// use runner_async_std::Handler;
///
/// struct Idle;
/// impl Handler for Idle {}
///
/// let template = runner_async_std::builder().token("dev");
/// let endpoint = runner_async_std::serverless::builder(template).build(Idle)?;
/// assert_eq!(endpoint.running(), 0);
/// # Ok::<(), runner_async_std::BuildError>(())
/// ```
pub fn builder(template: Builder) -> ServerlessBuilder {
    runner_core::host::serverless::Serverless::builder(template)
}
