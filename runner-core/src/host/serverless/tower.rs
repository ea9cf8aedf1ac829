//! [`Serverless`] as a `tower::Service` (feature `tower`), so it mounts in
//! axum (`Router::route_service`, `nest_service`) or behind tower layers.

use std::convert::Infallible;
use std::task::{Context, Poll};

use futures::future::{Ready, ready};

use super::{Serverless, ServerlessBody};
use crate::host::{Handler, Runtime};

/// Always ready; answers at once (see [`Serverless::call`]).
///
/// # Examples
///
/// ```
/// use futures::executor::block_on;
/// use runner_core::host::serverless::Serverless;
/// use runner_core::host::{Builder, Handler, testing::NoEngine};
/// use tower_service::Service;
///
/// struct Idle;
/// impl Handler for Idle {}
///
/// let mut service = Serverless::builder(Builder::new(NoEngine)).build(Idle)?;
/// let request = http::Request::get("/api/rivet/metadata").body(())?;
/// let response = block_on(Service::call(&mut service, request))?;
/// assert_eq!(response.status(), 200);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<R: Runtime, H: Handler, B> tower_service::Service<http::Request<B>> for Serverless<R, H> {
    type Response = http::Response<ServerlessBody>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        ready(Ok(Serverless::call(self, request)))
    }
}
