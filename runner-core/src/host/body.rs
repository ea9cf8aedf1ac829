//! HTTP bodies: [`Body`] implements [`http_body::Body`], so it works with
//! `http` types and with anything built on them (tower, axum, hyper).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use http_body::{Frame, SizeHint};
use sync_wrapper::SyncWrapper;

use super::runtime::BoxError;

/// An HTTP request or response body.
///
/// ```
/// use runner_tokio::Body;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let body = Body::from("hello");
/// assert_eq!(&body.collect(1024).await.unwrap()[..], b"hello");
/// # });
/// ```
///
/// `Body` is `Send` and `Sync` whatever it wraps (it is only ever read through
/// `&mut`), so a handler may hold a `&Request` across an `.await`.
pub struct Body {
    inner: SyncWrapper<Inner>,
    /// Known without reading: kept outside the wrapper for `&self` access.
    hint: SizeHint,
    ended: bool,
}

enum Inner {
    Full(Option<Bytes>),
    Channel(mpsc::UnboundedReceiver<Bytes>),
    Boxed(Pin<Box<dyn http_body::Body<Data = Bytes, Error = BoxError> + Send>>),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("size_hint", &self.hint)
            .field("ended", &self.ended)
            .finish()
    }
}

/// The body was larger than allowed, or failed while being read.
///
/// # Examples
///
/// ```
/// use runner_tokio::{Body, BodyError};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let err = Body::from("too long").collect(3).await.unwrap_err();
/// assert!(matches!(err, BodyError::TooLarge { limit: 3 }));
/// assert_eq!(err.to_string(), "body exceeds 3 bytes");
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::http_body::Body as _;
    /// use runner_tokio::Body;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let body = Body::empty();
    /// assert!(body.is_end_stream());
    /// assert_eq!(body.size_hint().exact(), Some(0));
    /// assert!(body.collect(0).await.unwrap().is_empty());
    /// # });
    /// ```
    pub fn empty() -> Self {
        Body::with(Inner::Full(None), SizeHint::with_exact(0))
    }

    fn with(inner: Inner, hint: SizeHint) -> Self {
        let ended = matches!(inner, Inner::Full(None));
        Body {
            inner: SyncWrapper::new(inner),
            hint,
            ended,
        }
    }

    /// Wraps any `http_body::Body` with `Bytes` chunks.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::Body;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// // `String` is an `http_body::Body` too; so are other crates' bodies.
    /// let body = Body::new(String::from("streamed"));
    /// assert_eq!(runner_tokio::http_body::Body::size_hint(&body).exact(), Some(8));
    /// assert_eq!(&body.collect(1024).await.unwrap()[..], b"streamed");
    /// # });
    /// ```
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let hint = body.size_hint();
        Body::with(Inner::Boxed(Box::pin(MapErr(Box::pin(body)))), hint)
    }

    /// A body fed chunk by chunk (streamed requests).
    pub(crate) fn channel(rx: mpsc::UnboundedReceiver<Bytes>) -> Self {
        Body::with(Inner::Channel(rx), SizeHint::default())
    }

    /// Reads the whole body, failing past `limit` bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{Body, BodyError};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// assert_eq!(&Body::from(vec![1u8, 2, 3]).collect(3).await.unwrap()[..], [1, 2, 3]);
    /// let err = Body::from(vec![1u8, 2, 3]).collect(2).await.unwrap_err();
    /// assert!(matches!(err, BodyError::TooLarge { limit: 2 }));
    /// # });
    /// ```
    pub async fn collect(self, limit: usize) -> Result<Bytes, BodyError> {
        let bytes = self
            .collect_capped(limit)
            .await
            .map_err(BodyError::Failed)?;
        if bytes.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        Ok(bytes)
    }

    /// Reads the body, but not past `limit + 1` bytes: a body over `limit`
    /// comes back cut there, so that the core, which enforces the limit,
    /// sees it is over without more of it being buffered.
    pub(crate) async fn collect_capped(mut self, limit: usize) -> Result<Bytes, BoxError> {
        if let Inner::Full(full) = self.inner.get_mut() {
            // Already in memory: nothing more to buffer.
            return Ok(full.take().unwrap_or_default());
        }
        let cap = limit.saturating_add(1);
        let mut buf = BytesMut::new();
        while let Some(frame) =
            futures::future::poll_fn(|cx| Pin::new(&mut self).poll_frame_inner(cx)).await
        {
            let chunk = frame?;
            let room = cap - buf.len();
            if chunk.len() >= room {
                buf.extend_from_slice(&chunk[..room]);
                break;
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    fn poll_frame_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BoxError>>> {
        let polled = Self::poll_inner(self.inner.get_mut(), cx);
        if let Poll::Ready(None) = polled {
            self.ended = true;
        }
        polled
    }

    fn poll_inner(
        inner: &mut Inner,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, BoxError>>> {
        match inner {
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
        self.ended
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
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
        let hint = SizeHint::with_exact(b.len() as u64);
        Body::with(Inner::Full(Some(b)), hint)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn bodies_are_send_and_sync_and_report_their_end() {
        assert_send_sync::<Body>();
        assert_send_sync::<http::Request<Body>>();
        let mut body = Body::from("ab");
        assert!(!http_body::Body::is_end_stream(&body));
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(2));
        let cx = &mut Context::from_waker(futures::task::noop_waker_ref());
        assert!(matches!(
            body.poll_frame_inner(cx),
            Poll::Ready(Some(Ok(_)))
        ));
        assert!(matches!(body.poll_frame_inner(cx), Poll::Ready(None)));
        assert!(http_body::Body::is_end_stream(&body));
    }
}

#[cfg(test)]
mod capped {
    use super::*;

    /// A streamed body over the limit is read only to one byte past it.
    #[test]
    fn a_streamed_body_is_read_to_one_byte_past_the_limit() {
        let (tx, rx) = mpsc::unbounded();
        for _ in 0..3 {
            tx.unbounded_send(Bytes::from(vec![b'x'; 60])).unwrap();
        }
        drop(tx);
        let read = futures::executor::block_on(Body::channel(rx).collect_capped(100)).unwrap();
        assert_eq!(read.len(), 101);
        let small = futures::executor::block_on(Body::from(vec![1u8; 3]).collect_capped(100));
        assert_eq!(small.unwrap().len(), 3);
    }
}
