//! HTTP bodies: [`Body`] implements [`http_body::Body`], so it works with
//! `http` types and with anything built on them (tower, axum, hyper).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use http_body::{Frame, SizeHint};

use super::runtime::BoxError;

/// An HTTP request or response body.
///
/// ```
/// use runner_core::driver::Body;
/// # futures::executor::block_on(async {
/// let body = Body::from("hello");
/// assert_eq!(&body.collect(1024).await.unwrap()[..], b"hello");
/// # });
/// ```
pub struct Body(Inner);

enum Inner {
    Full(Option<Bytes>),
    Channel(mpsc::UnboundedReceiver<Bytes>),
    Boxed(Pin<Box<dyn http_body::Body<Data = Bytes, Error = BoxError> + Send>>),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Inner::Full(b) => write!(f, "Body({} bytes)", b.as_ref().map_or(0, Bytes::len)),
            Inner::Channel(_) => f.write_str("Body(streamed)"),
            Inner::Boxed(_) => f.write_str("Body(boxed)"),
        }
    }
}

/// The body was larger than allowed, or failed while being read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// More than the limit.
    #[error("body exceeds {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body's own error.
    #[error("body failed: {0}")]
    Failed(BoxError),
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Body(Inner::Full(None))
    }

    /// Wraps any `http_body::Body` with `Bytes` chunks.
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Body(Inner::Boxed(Box::pin(MapErr(Box::pin(body)))))
    }

    /// A body fed chunk by chunk (streamed requests).
    pub(crate) fn channel(rx: mpsc::UnboundedReceiver<Bytes>) -> Self {
        Body(Inner::Channel(rx))
    }

    /// Reads the whole body, failing past `limit` bytes.
    pub async fn collect(mut self, limit: usize) -> Result<Bytes, BodyError> {
        if let Inner::Full(full) = &mut self.0 {
            let bytes = full.take().unwrap_or_default();
            return if bytes.len() > limit {
                Err(BodyError::TooLarge { limit })
            } else {
                Ok(bytes)
            };
        }
        let mut buf = BytesMut::new();
        while let Some(frame) =
            futures::future::poll_fn(|cx| Pin::new(&mut self).poll_frame_inner(cx)).await
        {
            let chunk = frame.map_err(BodyError::Failed)?;
            if buf.len() + chunk.len() > limit {
                return Err(BodyError::TooLarge { limit });
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    fn poll_frame_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BoxError>>> {
        match &mut self.0 {
            Inner::Full(full) => Poll::Ready(full.take().filter(|b| !b.is_empty()).map(Ok)),
            Inner::Channel(rx) => rx.poll_next_unpin(cx).map(|o| o.map(Ok)),
            Inner::Boxed(body) => loop {
                match body.as_mut().poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                        Ok(data) => return Poll::Ready(Some(Ok(data))),
                        Err(_trailers) => continue,
                    },
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending => return Poll::Pending,
                }
            },
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.poll_frame_inner(cx)
            .map(|o| o.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        matches!(&self.0, Inner::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Inner::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Inner::Channel(_) => SizeHint::default(),
            Inner::Boxed(b) => b.size_hint(),
        }
    }
}

impl Stream for Body {
    type Item = Result<Bytes, BoxError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_frame_inner(cx)
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body(Inner::Full(Some(b)))
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::from(Bytes::from(v))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::from(Bytes::from(s))
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::from(Bytes::from_static(s.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Body::from(Bytes::from_static(s))
    }
}

impl From<()> for Body {
    fn from(_: ()) -> Self {
        Body::empty()
    }
}

/// Adapts a body's error type to [`BoxError`]. The inner body is boxed so
/// that projecting the pin needs no unsafe code.
struct MapErr<B>(Pin<Box<B>>);

impl<B> http_body::Body for MapErr<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        this.0
            .as_mut()
            .poll_frame(cx)
            .map(|o| o.map(|r| r.map_err(Into::into)))
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}
