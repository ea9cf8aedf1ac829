//! The task that writes a connection's frames to its socket, so that the
//! engine keeps reading while a write is blocked.

use bytes::Bytes;
use futures::SinkExt;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// Writes batches of frames, flushing when no more are waiting.
pub(super) async fn write_loop(
    mut sink: futures::stream::SplitSink<WebSocketStream<TcpStream>, Message>,
    mut batches: tokio::sync::mpsc::UnboundedReceiver<Vec<Vec<u8>>>,
) {
    while let Some(batch) = batches.recv().await {
        let mut batch = Some(batch);
        while let Some(frames) = batch.take() {
            for frame in frames {
                if sink
                    .feed(Message::Binary(Bytes::from(frame)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            batch = batches.try_recv().ok();
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}
