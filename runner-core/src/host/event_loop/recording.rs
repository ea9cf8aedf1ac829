//! The loop's side of flight recording (see [`crate::host::recording`]):
//! open the file at the start, collect after every input, hand over when
//! idle, and wait (bounded) for the file at the end.

use std::task::Context;

use super::Host;
use crate::host::handler::Handler;
use crate::host::recording::{FINISH_WAIT, FlightWriter};
use crate::host::runtime::Runtime;
use crate::recording::RecordingState;

impl<R: Runtime, H: Handler> Host<R, H> {
    pub(super) fn open_recording(&mut self) {
        let Some(settings) = &self.settings.recording else {
            return;
        };
        self.flight = FlightWriter::open(settings, self.rt.now());
        if self.flight.is_none() {
            self.core.stop_recording();
        }
    }

    pub(super) fn collect_recording(&mut self) {
        if let Some(flight) = &mut self.flight {
            flight.collect(&mut self.core);
            if self.core.recording_state() != RecordingState::On {
                self.finish_recording_now();
            }
        }
    }

    pub(super) fn recording_idle(&mut self, cx: &mut Context<'_>) {
        if let Some(flight) = &mut self.flight {
            let rt = &self.rt;
            flight.idle(&mut self.core, rt.now(), cx, |at| rt.sleep_until(at));
        }
    }

    /// Recording ended early (write error, cap, overflow): hand over what
    /// is left and forget the writer; the thread ends on its own.
    fn finish_recording_now(&mut self) {
        if let Some(mut flight) = self.flight.take() {
            flight.finish(&mut self.core);
        }
    }

    pub(super) async fn finish_recording(&mut self) {
        let Some(done) = self
            .flight
            .take()
            .and_then(|mut f| f.finish(&mut self.core))
        else {
            return;
        };
        let bound = self.rt.sleep_until(self.rt.now() + FINISH_WAIT);
        futures::future::select(done, bound).await;
    }
}
