//! The user's handler, shared by every serverless runner, wrapped per
//! runner so that the start stream learns when its runner has connected
//! (the init packet needs the runner id the engine assigned).

use std::sync::{Arc, Mutex};

use futures::channel::oneshot;

use crate::host::forward::{Forward, Observer};

/// One runner's view of the shared handler: every callback goes to the
/// user's handler; the first `on_connected` also tells the start stream.
pub(super) type Tracked<H> = Forward<H, FirstConnect>;

/// Tells the start stream the runner id of the first connection.
pub(super) struct FirstConnect(Mutex<Option<oneshot::Sender<String>>>);

impl Observer for FirstConnect {
    fn connected(&self, runner_id: &str) {
        // Only the first connection counts: a reconnect keeps the runner id,
        // and the engine reads only the first init packet.
        let first = self.0.lock().ok().and_then(|mut tx| tx.take());
        if let Some(tx) = first {
            let _ = tx.send(runner_id.to_owned());
        }
    }
}

/// The wrapper, and what receives the runner id once connected.
pub(super) fn tracked<H>(inner: Arc<H>) -> (Tracked<H>, oneshot::Receiver<String>) {
    let (tx, rx) = oneshot::channel();
    let observer = Arc::new(FirstConnect(Mutex::new(Some(tx))));
    (Forward { inner, observer }, rx)
}
