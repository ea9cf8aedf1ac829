//! The connection to the engine: the open socket the loop reads, and the
//! task that writes frames to it.

use futures::channel::mpsc;
use futures::future::{AbortHandle, Abortable};
use futures::stream::BoxStream;
use futures::{FutureExt, SinkExt, StreamExt};

use super::Host;
use crate::ConnId;
use crate::host::BoxError;
use crate::host::handler::Handler;
use crate::host::runtime::{Inbound, Outbound, Runtime, Socket};

/// Frames waiting for the socket writer.
const WRITE_BACKLOG: usize = 1024;

/// The open connection to the engine: its frames in, and the sender to
/// its writer task.
pub(super) struct OpenSocket {
    pub(super) conn: ConnId,
    pub(super) incoming: BoxStream<'static, Inbound>,
    pub(super) writer: mpsc::Sender<Outbound>,
    abort: AbortHandle,
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        // A writer stuck on a frozen connection must not outlive it.
        self.abort.abort();
    }
}

impl<R: Runtime, H: Handler> Host<R, H> {
    pub(super) fn open_socket(&mut self, conn: ConnId, socket: Socket) {
        let (writer, rx) = mpsc::channel(WRITE_BACKLOG);
        let (abort, registration) = AbortHandle::new_pair();
        let task = Abortable::new(write_loop(socket.outgoing, rx), registration).map(drop);
        self.rt.spawn(task.boxed());
        self.socket = Some(OpenSocket {
            conn,
            incoming: socket.incoming,
            writer,
            abort,
        });
    }
}

/// Moves frames from the loop to the socket, flushing once per burst.
async fn write_loop(
    mut sink: std::pin::Pin<Box<dyn futures::Sink<Outbound, Error = BoxError> + Send>>,
    mut frames: mpsc::Receiver<Outbound>,
) {
    while let Some(first) = frames.next().await {
        let mut closing = matches!(first, Outbound::Close { .. });
        if sink.feed(first).await.is_err() {
            return;
        }
        while !closing {
            match frames.try_recv() {
                Ok(next) => {
                    closing = matches!(next, Outbound::Close { .. });
                    if sink.feed(next).await.is_err() {
                        return;
                    }
                }
                _ => break,
            }
        }
        if sink.flush().await.is_err() || closing {
            return;
        }
    }
}
