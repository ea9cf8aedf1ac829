//! Close reasons the runner puts on the wire (at most 123 bytes each).

pub(crate) const ACTOR_NOT_FOUND: &str = "actor.not_found";
pub(crate) const ACTOR_STOPPED: &str = "actor.stopped";
pub(crate) const TOO_MANY_REQUESTS: &str = "runner.too_many_requests";
pub(crate) const TOO_MANY_HEADERS: &str = "runner.too_many_headers";
pub(crate) const INDEX_SKIP: &str = "ws.message_index_skip";
pub(crate) const META_NOT_FOUND: &str = "ws.meta_not_found_during_restore";
pub(crate) const SHUTDOWN: &str = "ws.tunnel_shutdown";
