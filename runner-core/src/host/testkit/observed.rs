//! The user's handler, watched: the kit learns when `on_actor_start` has
//! returned (the runner reports an actor running as soon as it is asked to
//! start it, so the engine's messages cannot say), and with what.

use std::sync::{Arc, Mutex};

use super::engine::Engine;
use crate::host::forward::{Forward, Observer};

/// Delegates every call to the user's handler; reports start outcomes.
pub(super) type Observed<H> = Forward<H, StartReports>;

/// Reports each start's outcome to the kit's engine.
pub(super) struct StartReports(pub(super) Arc<Mutex<Engine>>);

impl Observer for StartReports {
    fn start_returned(&self, actor_id: &str, generation: u32, outcome: Result<(), String>) {
        if let Ok(mut engine) = self.0.lock() {
            engine.start_returned(actor_id, generation, outcome);
        }
    }
}

/// The user's handler, observed by the kit's `engine`.
pub(super) fn observed<H>(inner: H, engine: Arc<Mutex<Engine>>) -> Observed<H> {
    Forward {
        inner: Arc::new(inner),
        observer: Arc::new(StartReports(engine)),
    }
}
