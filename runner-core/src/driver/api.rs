//! The user-facing API that every driver crate re-exports whole.
//!
//! A driver crate (`runner-tokio`, `runner-async-std`) does
//! `pub use runner_core::driver::api::*;` and adds only its runtime-bound
//! names (`builder()`, `Builder`, `Runner<H>` and the runtime type), so the
//! crates expose the same names by construction and actor code moves between
//! them by changing one `use` line.
//!
//! ```
//! use runner_core::driver::api::{ActorContext, Handler, Request, Response};
//!
//! struct Hello;
//!
//! impl Handler for Hello {
//!     async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
//!         Response::new(format!("hello from {}", actor.actor_id()).into())
//!     }
//! }
//! ```
//!
//! Everything actor code handles is named here, so it needs no direct
//! dependency on `runner-core`: e.g. what a hibernatable socket persists,
//! and why a call failed.
//!
//! ```
//! use runner_core::driver::api::{
//!     BareMap, CallError, Error, GatewayId, HibernatedSocket, RequestId, RequestKey,
//! };
//!
//! let restored = HibernatedSocket {
//!     key: RequestKey::new(GatewayId([1, 2, 3, 4]), RequestId([5, 6, 7, 8])),
//!     last_received_index: 3,
//!     next_sent_index: 2,
//!     path: "/chat".into(),
//!     headers: BareMap::new(),
//! };
//! # let _ = restored;
//! let too_big = |e: &Error| matches!(e, Error::Call(CallError::PayloadTooLarge { .. }));
//! # let _ = too_big;
//! ```

pub use super::{
    ActorContext, ActorInfo, Body, BodyError, BoxError, BuildError, CloseFrame, Error, Handler,
    KvList, Message, Request, Response, RunnerHandle, WebSocket, WebSocketRequest,
};
pub use crate::protocol::{BareMap, GatewayId, MessageIndex, ProtocolVersion, RequestId};
pub use crate::{
    ActorRef, CallError, HibernatedSocket, KvError, Limits, ParseRequestKeyError, RequestKey,
    RestoreReport, ShutdownMode, ShutdownReason, SocketIndices, StopReason, Timeouts,
};

/// Declares a driver crate's public API: re-exports [`api`](self) whole and
/// defines the names bound to the crate's runtime — `Builder`, `Runner<H>`
/// and `builder()` — so that every driver offers the same names.
///
/// `$runtime` is the driver's [`Runtime`](super::Runtime), a unit struct in
/// scope; `$name` names the runtime in the generated docs. A driver's
/// `lib.rs` is then its docs, its runtime module and this one line (as
/// `runner-tokio/src/lib.rs` has it, compiled there):
///
/// ```text
/// mod runtime;
/// pub use runtime::Tokio;
/// runner_core::driver_api!(Tokio, "tokio");
/// ```
#[macro_export]
macro_rules! driver_api {
    ($runtime:ident, $name:literal) => {
        #[doc(inline)]
        pub use $crate::driver::api::*;

        #[doc = concat!("Builds a runner on ", $name, ".")]
        pub type Builder = $crate::driver::Builder<$runtime>;

        #[doc = concat!("A runner on ", $name, ": [`run`](Runner::run) it.")]
        pub type Runner<H> = $crate::driver::Runner<$runtime, H>;

        #[doc = concat!("Starts building a runner on ", $name, ".")]
        pub fn builder() -> Builder {
            Builder::new($runtime)
        }
    };
}
