//! HTTP requests: serving each one with the handler and its streamed body
//! — answered at once when the handler does not wait, otherwise as a
//! handler task under the request's timeout. (A stopping actor's wait for
//! its requests is the core's.)

use std::panic::AssertUnwindSafe;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::FutureExt;
use futures::channel::mpsc;
use futures::future::{AbortHandle, Abortable, BoxFuture, Either};
use futures::task::noop_waker_ref;
use tracing::{Instrument, Span, debug, warn};

use super::Host;
use super::panics::panic_message;
use crate::host::Body;
use crate::host::calls::Call;
use crate::host::handler::Handler;
use crate::host::http::{error_response, from_http_response, to_http_request};
use crate::host::runtime::Runtime;
use crate::host::spans;
use crate::{HttpRequest, HttpResponse, RequestKey};

/// A request being served: the sender of its streamed body (until the
/// body finishes), and the handle that aborts its task.
pub(super) struct RequestTask {
    body: Option<mpsc::UnboundedSender<Bytes>>,
    pub(super) abort: AbortHandle,
}

/// The handler's answer to one request, its body read: a panic (in the
/// handler or in its response body) is caught.
type Serve = BoxFuture<'static, std::thread::Result<HttpResponse>>;

impl<R: Runtime, H: Handler> Host<R, H> {
    pub(super) fn spawn_request(&mut self, request: HttpRequest) {
        let key = request.key;
        let Some((serve, span, body)) = self.serve(request) else {
            return;
        };
        // Handlers on the loop (see `local`) are polled once at once: one
        // that answers without waiting (most do) is answered in this turn,
        // with no timer and no trip through the call channel.
        let serve = if self.settings.spawn_handlers {
            serve
        } else {
            match self.answer_at_once(key, serve, &span) {
                Some(serve) => serve,
                None => return,
            }
        };
        self.run_request(key, serve, span, body);
    }

    /// The handler's answer to `request`, its span, and the sender of its
    /// streamed body; `None` when the host refused the request (answered).
    fn serve(
        &mut self,
        request: HttpRequest,
    ) -> Option<(Serve, Span, Option<mpsc::UnboundedSender<Bytes>>)> {
        let key = request.key;
        let ctx = self.context(&request.actor);
        let span = spans::request(
            (ctx.actor_ref(), ctx.name()),
            &request.method,
            &request.path,
            &request.headers,
        );
        let (body, body_tx) = if request.streamed {
            let (tx, rx) = mpsc::unbounded();
            if !request.body.is_empty() {
                let _ = tx.unbounded_send(request.body.clone());
            }
            (Body::channel(rx), Some(tx))
        } else {
            (Body::from(request.body.clone()), None)
        };
        let request = match to_http_request(request, body) {
            Ok(request) => request,
            Err(refusal) => {
                debug!(%key, status = refusal.status, "request refused by the host");
                let now = self.now();
                let _ = self.core.respond(now, key, refusal);
                return None;
            }
        };
        let handler = self.handler.clone();
        let limit = self.core.config().limits.max_tunnel_payload;
        // The body is part of the answer: reading it runs under the same
        // timeout (a stalled body is a 504) and the same panic guard (a
        // panicking body is a 500) as the handler itself.
        let serve = async move {
            let response = handler.on_request(ctx, request).await;
            from_http_response(response, limit).await
        };
        let serve = AssertUnwindSafe(serve)
            .catch_unwind()
            .instrument(span.clone());
        Some((serve.boxed(), span, body_tx))
    }

    /// Polls `serve` once (with a waker that does nothing: if it waits, the
    /// loop polls it again as a task) and answers if it is done; gives it
    /// back if it waits.
    fn answer_at_once(&mut self, key: RequestKey, mut serve: Serve, span: &Span) -> Option<Serve> {
        let polled = span.in_scope(|| serve.poll_unpin(&mut Context::from_waker(noop_waker_ref())));
        let Poll::Ready(outcome) = polled else {
            return Some(serve);
        };
        let response = settle(key, outcome);
        span.record("status", response.status);
        let now = self.now();
        if let Err(e) = self.core.respond(now, key, response) {
            debug!(%key, error = %e, "response not sent");
        }
        None
    }

    /// Serves a request whose handler waits: a handler task under the
    /// request's timeout, whose answer comes back as a call.
    fn run_request(
        &mut self,
        key: RequestKey,
        serve: Serve,
        span: Span,
        body: Option<mpsc::UnboundedSender<Bytes>>,
    ) {
        let tx = self.tx.clone();
        let timeout = self
            .rt
            .sleep_until(self.rt.now() + self.settings.request_timeout);
        let work = async move {
            let response = match futures::future::select(serve, timeout).await {
                Either::Left((outcome, _)) => settle(key, outcome),
                Either::Right(_) => {
                    warn!(%key, "request handler or its response body timed out: 504");
                    error_response(504, "handler timed out")
                }
            };
            tracing::Span::current().record("status", response.status);
            let _ = tx.send(Call::Respond { key, response }).await;
        }
        .instrument(span);
        let (abort, registration) = AbortHandle::new_pair();
        self.run_handler(Abortable::new(work, registration).map(drop).boxed());
        self.requests.insert(key, RequestTask { body, abort });
    }

    /// Forgets a finished request.
    pub(super) fn request_done(&mut self, key: RequestKey) -> Option<RequestTask> {
        self.requests.remove(&key)
    }

    pub(super) fn on_chunk(&mut self, key: RequestKey, data: Bytes, finish: bool) {
        let Some(task) = self.requests.get_mut(&key) else {
            return;
        };
        if let Some(body) = &task.body {
            let _ = body.unbounded_send(data);
        }
        if finish {
            task.body = None;
        }
    }
}

/// The response for a handler's outcome: a panic (in the handler or in its
/// response body) is a 500.
fn settle(key: RequestKey, outcome: std::thread::Result<HttpResponse>) -> HttpResponse {
    outcome.unwrap_or_else(|panic| {
        warn!(%key, panic = panic_message(panic), "request handler or its response body panicked: 500");
        error_response(500, "internal server error")
    })
}
