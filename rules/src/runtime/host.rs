//! The host's name for `evt.hostname`: the agent sets it once at start, to the
//! name its alerts carry (`--hostname`, the node name, or the kernel's), so a
//! condition or output sees what the alert's `hostname` says. Unset (rule
//! fixtures, `lanner rules test`), the field is missing.

use std::sync::OnceLock;

static HOSTNAME: OnceLock<Box<str>> = OnceLock::new();

/// Set the host name; the first call wins (it is the agent's for its lifetime).
pub fn set_hostname(name: &str) {
    let _ = HOSTNAME.set(name.into());
}

/// The host name, if set and not empty.
pub fn hostname() -> Option<&'static str> {
    HOSTNAME.get().map(|h| &**h).filter(|h| !h.is_empty())
}
