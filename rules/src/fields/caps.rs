//! Linux capability sets rendered as Falco renders `thread.cap_*`: the names of
//! the set bits, lowest first, separated by one space (`CAP_CHOWN CAP_KILL`).

/// `CAP_*` names by bit number (include/uapi/linux/capability.h).
pub const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// `CAP_DAC_OVERRIDE`'s bit.
pub const CAP_DAC_OVERRIDE: u32 = 1;

/// The set `caps` as Falco prints it; bits without a name are skipped.
pub fn caps_to_string(caps: u64) -> String {
    let mut s = String::new();
    for (i, name) in CAP_NAMES.iter().enumerate() {
        if caps & (1u64 << i) != 0 {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(name);
        }
    }
    s
}

/// Interned capability strings: a node runs few distinct capability sets (root's
/// full set, none, a container runtime's default), so every process of the same
/// set shares one `Arc<str>` instead of three fresh strings of up to ~600 bytes per
/// exec. Bounded: past [`CapNames::MAX`] distinct sets the cache starts over.
#[derive(Debug, Default)]
pub struct CapNames {
    sets: std::collections::HashMap<u64, std::sync::Arc<str>>,
}

impl CapNames {
    pub const MAX: usize = 256;

    /// The shared string of `caps` (see [`caps_to_string`]).
    pub fn get(&mut self, caps: u64) -> std::sync::Arc<str> {
        if let Some(s) = self.sets.get(&caps) {
            return s.clone();
        }
        if self.sets.len() >= Self::MAX {
            self.sets.clear();
        }
        let s: std::sync::Arc<str> = caps_to_string(caps).into();
        self.sets.insert(caps, s.clone());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_sets_are_shared_and_the_cache_is_bounded() {
        let mut n = CapNames::default();
        let a = n.get((1 << 21) | 1);
        let b = n.get((1 << 21) | 1);
        assert!(std::sync::Arc::ptr_eq(&a, &b));
        assert_eq!(&*a, "CAP_CHOWN CAP_SYS_ADMIN");
        for i in 0..(CapNames::MAX as u64 + 10) {
            assert_eq!(&*n.get(i << 2), caps_to_string(i << 2));
        }
        assert!(n.sets.len() <= CapNames::MAX);
    }

    #[test]
    fn rendering_matches_falco() {
        assert_eq!(caps_to_string(0), "");
        assert_eq!(caps_to_string((1 << 21) | 1 | (1 << 40)), "CAP_CHOWN CAP_SYS_ADMIN CAP_CHECKPOINT_RESTORE");
        assert_eq!(caps_to_string(1 << 63), "", "unnamed bits are skipped");
        assert_eq!(caps_to_string((1 << 41) - 1).split(' ').count(), 41);
        assert_eq!(CAP_NAMES[CAP_DAC_OVERRIDE as usize], "CAP_DAC_OVERRIDE");
    }
}
