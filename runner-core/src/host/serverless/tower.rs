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
/// use runner_tokio::tower_service::Service;
/// use runner_tokio::{http, serverless, Handler};
///
/// struct Idle;
/// impl Handler for Idle {}
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mut service = serverless::builder(runner_tokio::builder()).build(Idle)?;
/// let request = http::Request::get("/api/rivet/metadata").body(())?;
/// let response = Service::call(&mut service, request).await?;
/// assert_eq!(response.status(), 200);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
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
