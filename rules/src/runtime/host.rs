//! What the agent sets once at start for the fields that describe the capture
//! rather than the event: the host's name for `evt.hostname` (the name its alerts
//! carry: `--hostname`, the node name, or the kernel's), so a condition or output
//! sees what the alert's `hostname` says, and the capture's start for
//! `evt.reltime`. Unset (rule fixtures, `lanner rules test`), those fields are
//! missing.

use std::sync::OnceLock;

static HOSTNAME: OnceLock<Box<str>> = OnceLock::new();
static CAPTURE_START_NS: OnceLock<u64> = OnceLock::new();

/// Set the host name; the first call wins (it is the agent's for its lifetime).
pub fn set_hostname(name: &str) {
    let _ = HOSTNAME.set(name.into());
}

/// The host name, if set and not empty.
pub fn hostname() -> Option<&'static str> {
    HOSTNAME.get().map(|h| &**h).filter(|h| !h.is_empty())
}

/// Set the capture's start (unix ns, the clock events carry); the first call wins.
pub fn set_capture_start(unix_ns: u64) {
    let _ = CAPTURE_START_NS.set(unix_ns);
}

/// The capture's start, if set.
pub fn capture_start() -> Option<u64> {
    CAPTURE_START_NS.get().copied()
}
