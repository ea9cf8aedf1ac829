//! [`RunnerHandle`]: control of the whole runner from outside its event
//! loop (shutdown, state), and the state the loop publishes for it.

use std::sync::{Arc, Mutex};

use super::calls::{Call, CallTx};
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
/// Here the runner runs on a test runtime that reaches no engine:
///
/// ```
/// # use futures::executor::block_on;
/// # use runner_core::host::{Builder, Handler, testing::NoEngine as Threads};
/// # struct Idle;
/// # impl Handler for Idle {}
/// # let runner = Builder::new(Threads).endpoint("http://127.0.0.1:6420").runner_name("r").build(Idle)?;
/// use runner_tokio::{ShutdownMode, ShutdownReason};
///
/// let handle = runner.handle();
/// let running = std::thread::spawn(move || block_on(runner.run()));
/// // e.g. from an admin endpoint or another task:
/// block_on(handle.clone().shutdown(ShutdownMode::Immediate));
/// assert!(handle.is_shut_down());
/// assert_eq!(running.join().unwrap(), ShutdownReason::Requested);
/// # Ok::<(), Box<dyn std::error::Error>>(())
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

    /// Shuts the runner down and waits until it has. A graceful shutdown
    /// while one is under way escalates to immediate.
    ///
    /// # Examples
    ///
    /// ```
    /// # use futures::executor::block_on;
    /// # use runner_core::host::{Builder, Handler, testing::NoEngine as Threads};
    /// # struct Idle;
    /// # impl Handler for Idle {}
    /// # let runner = Builder::new(Threads).endpoint("http://127.0.0.1:6420").runner_name("r").build(Idle)?;
    /// use runner_tokio::ShutdownMode;
    ///
    /// let handle = runner.handle();
    /// let running = std::thread::spawn(move || block_on(runner.run()));
    /// block_on(handle.shutdown(ShutdownMode::Graceful)); // returns once it is down
    /// assert!(handle.is_shut_down());
    /// # running.join().unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
    /// # use futures::executor::block_on;
    /// # use runner_core::host::{Builder, Handler, testing::NoEngine as Threads};
    /// # struct Idle;
    /// # impl Handler for Idle {}
    /// # let runner = Builder::new(Threads).endpoint("http://127.0.0.1:6420").runner_name("r").build(Idle)?;
    /// let handle = runner.handle();
    /// let running = std::thread::spawn(move || block_on(runner.run()));
    /// assert!(!handle.is_connected()); // no engine answers here
    /// # block_on(handle.shutdown(runner_core::ShutdownMode::Immediate));
    /// # running.join().unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_connected(&self) -> bool {
        self.published.lock().map(|p| p.connected).unwrap_or(false)
    }

    /// The runner id the engine assigned, once connected.
    ///
    /// # Examples
    ///
    /// ```
    /// # use futures::executor::block_on;
    /// # use runner_core::host::{Builder, Handler, testing::NoEngine as Threads};
    /// # struct Idle;
    /// # impl Handler for Idle {}
    /// # let runner = Builder::new(Threads).endpoint("http://127.0.0.1:6420").runner_name("r").build(Idle)?;
    /// let handle = runner.handle();
    /// assert_eq!(handle.runner_id(), None); // the engine has assigned none yet
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
    /// # use futures::executor::block_on;
    /// # use runner_core::host::{Builder, Handler, testing::NoEngine as Threads};
    /// # struct Idle;
    /// # impl Handler for Idle {}
    /// # let runner = Builder::new(Threads).endpoint("http://127.0.0.1:6420").runner_name("r").build(Idle)?;
    /// use runner_tokio::ShutdownMode;
    ///
    /// let handle = runner.handle();
    /// assert!(!handle.is_shut_down());
    /// let running = std::thread::spawn(move || block_on(runner.run()));
    /// block_on(handle.shutdown(ShutdownMode::Immediate));
    /// assert!(handle.is_shut_down());
    /// # running.join().unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_shut_down(&self) -> bool {
        self.published.lock().map(|p| p.shut_down).unwrap_or(true)
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
