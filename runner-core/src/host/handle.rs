//! [`RunnerHandle`]: control of the whole runner from outside its event
//! loop (shutdown, state), and the state the loop publishes for it.

use std::sync::{Arc, Mutex};

use super::calls::{Call, CallTx};
use super::metrics::RunnerMetrics;
use crate::ShutdownMode;

/// State the event loop publishes for handles.
#[derive(Debug, Default)]
pub(crate) struct Published {
    pub(crate) runner_id: Option<String>,
    pub(crate) connected: bool,
    pub(crate) shut_down: bool,
    /// Callers of [`RunnerHandle::ready`] waiting for the state to change.
    pub(crate) waiting: Vec<std::task::Waker>,
}

/// Most [`RunnerHandle::ready`] wakers kept between two state changes:
/// past it all are woken at once (each live caller registers again), so
/// callers that give up on `ready` (a timeout in a loop) cannot grow the
/// list while the runner stays disconnected.
const MAX_WAITING: usize = 1024;

impl Published {
    fn wait(&mut self, waker: &std::task::Waker) {
        if self.waiting.iter().any(|w| w.will_wake(waker)) {
            return;
        }
        if self.waiting.len() >= MAX_WAITING {
            self.waiting.drain(..).for_each(std::task::Waker::wake);
        }
        self.waiting.push(waker.clone());
    }
}

/// Controls the whole runner. Cheap to clone.
///
/// # Examples
///
/// ```
/// use runner_tokio::{Handler, ShutdownMode};
///
/// struct Idle;
/// impl Handler for Idle {}
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// // The test kit's runner; `runner.handle()` of a real one is the same.
/// let kit = runner_tokio::testing::start(Idle).await;
/// let handle = kit.handle().clone();
/// // e.g. from an admin endpoint or another task:
/// tokio::spawn(async move { handle.shutdown(ShutdownMode::Immediate).await }).await.unwrap();
/// assert!(kit.handle().is_shut_down());
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct RunnerHandle {
    tx: CallTx,
    published: Arc<Mutex<Published>>,
}

impl RunnerHandle {
    pub(crate) fn new(tx: CallTx, published: Arc<Mutex<Published>>) -> Self {
        RunnerHandle { tx, published }
    }

    /// Sends a call to the event loop; `None` once it has ended.
    pub(crate) async fn send_call(&self, call: Call) -> Option<()> {
        self.tx.send(call).await.ok()
    }

    /// Shuts the runner down and waits until it has. A graceful shutdown
    /// while one is under way escalates to immediate.
    ///
    /// A graceful shutdown closes the connection right after the last
    /// actor's `Stopped` event is written; it does not wait for the engine
    /// to acknowledge the events. The engine acknowledges in batches (every
    /// 250 events of an actor), so such a wait would hold most shutdowns
    /// until `timeouts.shutdown_drain`. Nothing is lost by not waiting: the
    /// engine handles a connection's frames in order and finishes those
    /// received before the close, then applies them asynchronously, so its
    /// API may show an actor as running for a few hundred milliseconds
    /// after the runner exited (50–400 ms measured on loopback) before it
    /// shows it asleep.
    ///
    /// Handles' calls (this one, [`metrics`](Self::metrics)) have a channel
    /// of their own that the event loop reads even while its connection
    /// takes no frame (back-pressure, where handlers' calls wait): a runner
    /// on a frozen connection still shuts down when asked.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{Handler, ShutdownMode};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start(Idle).await;
    /// let handle = kit.handle();
    /// handle.shutdown(ShutdownMode::Graceful).await; // returns once it is down
    /// assert!(handle.is_shut_down());
    /// # });
    /// ```
    pub async fn shutdown(&self, mode: ShutdownMode) {
        let (done, finished) = futures::channel::oneshot::channel();
        if self.tx.send(Call::Shutdown { mode, done }).await.is_ok() {
            let _ = finished.await;
        }
    }

    /// Whether the engine has accepted the current connection.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::Handler;
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// let runner = runner_tokio::builder().endpoint("http://127.0.0.1:6420").runner_name("r").build(Idle)?;
    /// assert!(!runner.handle().is_connected()); // not running yet
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start(Idle).await;
    /// assert!(kit.handle().is_connected());
    /// # });
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// ```
    pub fn is_connected(&self) -> bool {
        self.published.lock().map(|p| p.connected).unwrap_or(false)
    }

    /// The runner id the engine assigned, once connected.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::Handler;
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// let runner = runner_tokio::builder().endpoint("http://127.0.0.1:6420").runner_name("r").build(Idle)?;
    /// assert_eq!(runner.handle().runner_id(), None); // the engine has assigned none yet
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start(Idle).await;
    /// assert_eq!(kit.handle().runner_id().as_deref(), Some("test-kit-runner"));
    /// # });
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// ```
    pub fn runner_id(&self) -> Option<String> {
        self.published.lock().ok().and_then(|p| p.runner_id.clone())
    }

    /// Waits until the engine has accepted the runner and returns the runner
    /// id it assigned (at once if it is connected now); `None` when the
    /// runner shut down first. After a reconnect it waits for the new
    /// connection. No polling: the event loop wakes it.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::Handler;
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start(Idle).await;
    /// assert_eq!(kit.handle().ready().await.as_deref(), Some("test-kit-runner"));
    /// let handle = kit.handle().clone();
    /// kit.shutdown().await;
    /// assert_eq!(handle.ready().await, None); // shut down: never ready again
    /// # });
    /// ```
    pub async fn ready(&self) -> Option<String> {
        futures::future::poll_fn(|cx| {
            let Ok(mut published) = self.published.lock() else {
                return std::task::Poll::Ready(None);
            };
            if published.shut_down {
                return std::task::Poll::Ready(None);
            }
            match (published.connected, &published.runner_id) {
                (true, Some(id)) => std::task::Poll::Ready(Some(id.clone())),
                _ => {
                    published.wait(cx.waker());
                    std::task::Poll::Pending
                }
            }
        })
        .await
    }

    /// Whether the runner has shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{Handler, ShutdownMode};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start(Idle).await;
    /// assert!(!kit.handle().is_shut_down());
    /// kit.handle().shutdown(ShutdownMode::Immediate).await;
    /// assert!(kit.handle().is_shut_down());
    /// # });
    /// ```
    pub fn is_shut_down(&self) -> bool {
        self.published.lock().map(|p| p.shut_down).unwrap_or(true)
    }
}

impl RunnerHandle {
    /// A snapshot of the runner's metrics, or `None` once its event loop
    /// has ended. Taken by the event loop between two inputs: counters are
    /// copied, gauges read from the core's tables (one pass over actors and
    /// open requests), so call it per scrape, not per request.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{ConnectionState, Handler, ShutdownMode};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let runner = runner_tokio::builder()
    ///     .endpoint("http://127.0.0.1:1") // no engine here
    ///     .runner_name("r")
    ///     .handle_signals(false)
    ///     .build(Idle)?;
    /// let handle = runner.handle();
    /// let running = tokio::spawn(runner.run());
    /// let metrics = handle.metrics().await.expect("running");
    /// assert_ne!(metrics.core.connection_state, ConnectionState::Connected);
    /// handle.shutdown(ShutdownMode::Immediate).await;
    /// running.await?;
    /// assert_eq!(handle.metrics().await, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn metrics(&self) -> Option<RunnerMetrics> {
        let (reply, answer) = futures::channel::oneshot::channel();
        self.send_call(super::calls::Call::Metrics { reply })
            .await?;
        answer.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use futures::task::{ArcWake, waker};

    use super::{MAX_WAITING, Published};

    struct Flag(AtomicBool);

    impl ArcWake for Flag {
        fn wake_by_ref(this: &Arc<Self>) {
            this.0.store(true, Ordering::SeqCst);
        }
    }

    /// `ready` callers that give up (a timeout in a loop) leave their
    /// wakers behind: the list stays bounded, and the ones let go are woken
    /// (a live caller registers again).
    #[test]
    fn waiting_callers_are_bounded() {
        let mut published = Published::default();
        let flags: Vec<Arc<Flag>> = (0..MAX_WAITING + 10)
            .map(|_| Arc::new(Flag(AtomicBool::new(false))))
            .collect();
        for flag in &flags {
            let w = waker(flag.clone());
            published.wait(&w);
            published.wait(&w); // the same caller again: kept once
        }
        assert!(published.waiting.len() <= MAX_WAITING);
        assert!(flags[0].0.load(Ordering::SeqCst));
        assert!(!flags[MAX_WAITING + 9].0.load(Ordering::SeqCst));
    }
}
