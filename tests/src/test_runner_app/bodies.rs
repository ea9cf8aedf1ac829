//! Response bodies beyond plain bytes: a generated one for `/big`, and one
//! that tells when the runner has taken it (to act "after the response").

use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::channel::oneshot;
use http_body::{Body as HttpBody, Frame, SizeHint};
use runner_core::host::api::{Body, BoxError};

/// Bytes per chunk of [`digits`]: a multiple of 10, so every chunk starts
/// with `0`.
const DIGITS_CHUNK: usize = 64 * 1000;

/// `n` bytes of `0123456789` repeated, produced chunk by chunk: a body past
/// the tunnel limit is refused by the driver (500) after reading just over
/// the limit, never built whole.
pub(super) fn digits(n: u64) -> Body {
    Body::new(Digits { remaining: n })
}

struct Digits {
    remaining: u64,
}

fn digits_chunk() -> Bytes {
    static CHUNK: OnceLock<Bytes> = OnceLock::new();
    CHUNK
        .get_or_init(|| b"0123456789".repeat(DIGITS_CHUNK / 10).into())
        .clone()
}

impl HttpBody for Digits {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let len = self.remaining.min(DIGITS_CHUNK as u64);
        self.remaining -= len;
        let chunk = digits_chunk().slice(..len as usize);
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Wraps `body` so that the returned receiver completes once the runner has
/// read the body whole (or dropped it): the response is then on its way.
pub(super) fn notify_when_taken(body: Body) -> (Body, oneshot::Receiver<()>) {
    let (guard, taken) = oneshot::channel();
    (
        Body::new(Guarded {
            inner: body,
            _guard: guard,
        }),
        taken,
    )
}

/// A body holding a sender that is dropped with it.
struct Guarded {
    inner: Body,
    _guard: oneshot::Sender<()>,
}

impl HttpBody for Guarded {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
