//! An actor's HTTP served by any `tower::Service<http::Request<Body>>` — an
//! axum `Router` in particular (feature `tower`).
//!
//! Two ways in: [`ServiceHandler`], a whole [`Handler`] built from a
//! function that makes the service once per actor generation, and
//! [`serve`], for a handler of one's own (WebSockets, state) that routes
//! its HTTP to a service. Both go through [`Handler::on_request`], so a
//! service's request gets what any request gets: the request timeout (504),
//! the payload limit on the response body (500), a panic caught (500). The
//! actor's [`ActorContext`] rides in each request's extensions (axum's
//! `Extension<ActorContext>`).
//!
//! Why `tower-service` and not `tower`: the trait is all this needs, and it
//! is what axum and hyper implement; `tower`'s combinators stay the user's
//! choice.

use std::future::Future;
use std::sync::Mutex;

use bytes::Bytes;
use tower_service::Service;

use super::body::Body;
use super::context::ActorContext;
use super::handler::{ActorInfo, Handler, Request, Response};
use super::runtime::BoxError;
use super::websocket::WebSocketRequest;
use crate::StopReason;

/// Serves `request` for `actor` with `service`: what a [`Handler`] of one's
/// own calls in `on_request` to hand its HTTP to an axum `Router` (or any
/// tower `Service`) while it keeps WebSockets and state itself.
///
/// The service is cloned for the request (tower's rule: a service that was
/// polled ready serves one call), `actor` is put in the request's
/// extensions, readiness is awaited, and the response body — any
/// `http_body::Body` — is wrapped with [`Body::new`]. A service error
/// becomes a 500 (logged at warn, never shown to the client); a panic
/// unwinds to the runner, which answers 500 too.
///
/// # Examples
///
/// An axum app next to a WebSocket handler in one actor:
///
/// ```
/// use axum::{Extension, Router, routing::get};
/// use runner_tokio::{http, serve, ActorContext, Handler, Message, Request, Response, WebSocketRequest};
///
/// struct App {
///     http: Router,
/// }
///
/// impl Handler for App {
///     async fn on_request(&self, actor: ActorContext, request: Request) -> Response {
///         serve(&self.http, actor, request).await
///     }
///
///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
///         let Ok(mut ws) = socket.accept(false).await else { return };
///         while let Some(Message::Text(text)) = ws.recv().await {
///             let _ = ws.send(text).await;
///         }
///     }
/// }
///
/// async fn whoami(Extension(actor): Extension<ActorContext>) -> String {
///     actor.name().to_owned()
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let app = App { http: Router::new().route("/whoami", get(whoami)) };
/// let kit = runner_tokio::testing::start(app).await;
/// let actor = kit.start_actor("hello").await?;
/// let response = kit.request(&actor, http::Request::get("/whoami").body("")?).await;
/// assert_eq!(response.body(), "hello");
/// let mut ws = kit.websocket(&actor, "/echo").await.expect("accepted");
/// ws.send(Message::Text("hi".into()));
/// assert_eq!(ws.recv().await, Message::Text("hi".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn serve<S, B>(
    service: &S,
    actor: ActorContext,
    mut request: Request,
) -> impl Future<Output = Response> + Send + 'static
where
    S: Service<Request, Response = http::Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    // Cloned before the future: it then owns all it needs, so neither the
    // caller's service nor its borrow has to be `Sync` or outlive the call.
    let mut service = service.clone();
    request.extensions_mut().insert(actor);
    async move {
        let called = async {
            futures::future::poll_fn(|cx| service.poll_ready(cx)).await?;
            service.call(request).await
        };
        match called.await {
            Ok(response) => response.map(Body::new),
            Err(error) => {
                let error: BoxError = error.into();
                tracing::warn!(%error, "the actor's HTTP service failed: 500");
                internal_error()
            }
        }
    }
}

fn internal_error() -> Response {
    let mut response = Response::new(Body::from("internal server error"));
    *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    response
}

/// A [`Handler`] whose HTTP is a tower `Service` — an axum `Router` — made
/// once per actor generation by a function of the actor's
/// [`ActorContext`], and kept in that generation's state (so this handler
/// uses [`ActorContext::set_state`]; state of the app's own goes in the
/// service, e.g. axum's `with_state`). Requests go through [`serve`]; a
/// WebSocket is refused (1011) — for WebSockets next to a service, write a
/// [`Handler`] that calls [`serve`].
///
/// The service is dropped when the generation stops, so a service holding
/// the generation's `ActorContext` (axum's `State<ActorContext>`) does not
/// keep the generation alive. A request that comes after that, or for a
/// generation whose start failed, is answered 503.
///
/// # Examples
///
/// An axum app with path, query and JSON extractors and KV through the
/// context — reached both ways: as axum state and as a request extension.
///
/// ```
/// use std::collections::HashMap;
/// use axum::extract::{Json, Path, Query, State};
/// use axum::{Extension, Router, routing::get};
/// use runner_tokio::{http, ActorContext, ServiceHandler};
///
/// async fn get_item(State(actor): State<ActorContext>, Path(key): Path<String>) -> Result<String, http::StatusCode> {
///     match actor.kv_get_one(key).await {
///         Ok(Some(value)) => Ok(String::from_utf8_lossy(&value).into_owned()),
///         Ok(None) => Err(http::StatusCode::NOT_FOUND),
///         Err(_) => Err(http::StatusCode::SERVICE_UNAVAILABLE),
///     }
/// }
///
/// async fn put_item(
///     Extension(actor): Extension<ActorContext>,
///     Path(key): Path<String>,
///     Query(query): Query<HashMap<String, String>>,
///     Json(value): Json<runner_tokio::serde_json::Value>,
/// ) -> http::StatusCode {
///     let value = if query.contains_key("upper") { value.to_string().to_uppercase() } else { value.to_string() };
///     match actor.kv_put([(key, value)]).await {
///         Ok(()) => http::StatusCode::NO_CONTENT,
///         Err(_) => http::StatusCode::SERVICE_UNAVAILABLE,
///     }
/// }
///
/// let handler = ServiceHandler::new(|actor: &ActorContext| {
///     Router::new()
///         .route("/items/{key}", get(get_item).put(put_item))
///         .with_state(actor.clone())
/// });
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let kit = runner_tokio::testing::start(handler).await;
/// let actor = kit.start_actor("store").await?;
/// let put = http::Request::put("/items/a?upper")
///     .header("content-type", "application/json")
///     .body(r#""hello""#)?;
/// assert_eq!(kit.request(&actor, put).await.status(), 204);
/// let got = kit.request(&actor, http::Request::get("/items/a").body("")?).await;
/// assert_eq!(got.body(), r#""HELLO""#);
/// assert_eq!(kit.request(&actor, http::Request::get("/items/b").body("")?).await.status(), 404);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct ServiceHandler<F> {
    make: F,
}

impl<F> std::fmt::Debug for ServiceHandler<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceHandler").finish_non_exhaustive()
    }
}

/// The generation's service, in its state slot until the generation stops.
/// A lock, not the bare service: a tower `Service` need not be `Sync`, and
/// the slot is emptied at the stop (see [`ServiceHandler`]).
struct Slot<S>(Mutex<Option<S>>);

impl<S: Clone> Slot<S> {
    fn service(&self) -> Option<S> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn clear(&self) {
        // Dropped outside the lock: a service's drop may do anything.
        let service = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(service);
    }
}

impl<F> ServiceHandler<F> {
    /// A handler that serves each actor generation's HTTP with the service
    /// `make` returns for it, called once in `on_actor_start` (a panic in
    /// it fails the start).
    ///
    /// # Examples
    ///
    /// Any tower `Service` will do, not only a `Router`; an error it
    /// returns is a 500.
    ///
    /// ```
    /// use runner_tokio::{http, tower_service, ActorContext, Body, Request, Response, ServiceHandler};
    ///
    /// #[derive(Clone)]
    /// struct Hello(String);
    ///
    /// impl tower_service::Service<Request> for Hello {
    ///     type Response = Response;
    ///     type Error = std::io::Error;
    ///     type Future = std::future::Ready<Result<Response, std::io::Error>>;
    ///
    ///     fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
    ///         std::task::Poll::Ready(Ok(()))
    ///     }
    ///
    ///     fn call(&mut self, request: Request) -> Self::Future {
    ///         std::future::ready(match request.uri().path() {
    ///             "/fail" => Err(std::io::Error::other("disk on fire")),
    ///             _ => Ok(Response::new(Body::from(format!("hello from {}", self.0)))),
    ///         })
    ///     }
    /// }
    ///
    /// let handler = ServiceHandler::new(|actor: &ActorContext| Hello(actor.name().to_owned()));
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start(handler).await;
    /// let actor = kit.start_actor("greeter").await?;
    /// let hello = kit.request(&actor, http::Request::get("/").body("")?).await;
    /// assert_eq!(hello.body(), "hello from greeter");
    /// let failed = kit.request(&actor, http::Request::get("/fail").body("")?).await;
    /// assert_eq!(failed.status(), 500);
    /// assert_eq!(failed.body(), "internal server error"); // the error itself is logged, not shown
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn new<S, B>(make: F) -> Self
    where
        F: Fn(&ActorContext) -> S + Send + Sync + 'static,
        S: Service<Request, Response = http::Response<B>> + Clone + Send + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        ServiceHandler { make }
    }
}

impl<F, S, B> Handler for ServiceHandler<F>
where
    F: Fn(&ActorContext) -> S + Send + Sync + 'static,
    S: Service<Request, Response = http::Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    async fn on_actor_start(&self, actor: ActorContext, _info: ActorInfo) -> Result<(), BoxError> {
        let service = (self.make)(&actor);
        actor
            .set_state(Slot(Mutex::new(Some(service))))
            .map_err(|_| "the actor's state was already set")?;
        Ok(())
    }

    async fn on_actor_stop(&self, actor: ActorContext, _reason: StopReason) {
        if let Some(slot) = actor.state::<Slot<S>>() {
            slot.clear();
        }
    }

    async fn on_request(&self, actor: ActorContext, request: Request) -> Response {
        let Some(service) = actor.state::<Slot<S>>().and_then(Slot::service) else {
            let mut response = Response::new(Body::from("actor not running"));
            *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
            return response;
        };
        serve(&service, actor, request).await
    }

    async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
        let _ = socket
            .reject(1011, "this actor serves HTTP only (ServiceHandler)")
            .await;
    }
}
