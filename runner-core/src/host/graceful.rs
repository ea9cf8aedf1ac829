//! Shutdown from the user's own signal, as axum's
//! `with_graceful_shutdown(future)`: the runner serves until the future
//! completes, then shuts down gracefully.

use std::future::Future;

use futures::future::Either;

use super::event_loop::AsyncRunner;
use super::handler::Handler;
use super::runtime::Runtime;
use crate::{ShutdownMode, ShutdownReason};

impl<R: Runtime, H: Handler> AsyncRunner<R, H> {
    /// [`run`](Self::run)s until `signal` completes, then shuts down
    /// gracefully (the engine stops every actor first, as on SIGTERM) and
    /// returns once that is done. The runner also ends earlier by itself
    /// (its own signal handling, unless turned off with
    /// [`Builder::handle_signals`](super::Builder::handle_signals), a
    /// [`RunnerHandle::shutdown`](super::RunnerHandle::shutdown), an
    /// eviction): then `signal` is dropped unfinished.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::Handler;
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// #[tokio::main]
    /// async fn main() -> Result<(), runner_tokio::BuildError> {
    ///     let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    ///     // e.g. an admin endpoint, or your own signal handling:
    ///     tokio::spawn(async move {
    ///         let _ = tokio::signal::ctrl_c().await;
    ///         let _ = stop.send(());
    ///     });
    ///     let runner = runner_tokio::builder()
    ///         .endpoint("http://127.0.0.1:6420")
    ///         .runner_name("hello")
    ///         .handle_signals(false) // the future above is the only way out
    ///         .build(Idle)?;
    ///     runner.run_with_graceful_shutdown(async { let _ = stopped.await; }).await;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// The signal ends the run like a shutdown asked for:
    ///
    /// ```
    /// use runner_tokio::{Handler, ShutdownReason};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let runner = runner_tokio::builder().endpoint("http://127.0.0.1:6420").runner_name("r").build(Idle)?;
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// stop.send(()).unwrap(); // asked for already: the runner stops at once
    /// let reason = runner.run_with_graceful_shutdown(async { let _ = stopped.await; }).await;
    /// assert_eq!(reason, ShutdownReason::Requested);
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub async fn run_with_graceful_shutdown(
        self,
        signal: impl Future<Output = ()> + Send,
    ) -> ShutdownReason {
        let handle = self.handle();
        let run = Box::pin(self.run());
        match futures::future::select(run, Box::pin(signal)).await {
            Either::Left((reason, _)) => reason,
            Either::Right(((), run)) => {
                // The loop must keep being driven while the shutdown is
                // asked for and waited on.
                let ask = handle.shutdown(ShutdownMode::Graceful);
                futures::future::join(run, ask).await.0
            }
        }
    }
}
