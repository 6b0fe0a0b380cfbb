//! User and group names as the process itself sees them: `/etc/passwd` and
//! `/etc/group` of the process's own root (`/proc/PID/root`), so a container's
//! users resolve from its image, with the host's files as the fallback.
//! Entries are cached per (cgroup, root directory, id): one file read per
//! container and id, and a process that changed its root (chroot, pivot_root in
//! a new mount namespace) inside a cgroup gets its new root's names.
use std::{collections::HashMap, os::unix::fs::MetadataExt as _, sync::Arc};

/// The `/etc/passwd` fields Falco's `user.*` fields show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PwEntry {
    pub name: String,
    pub home: String,
    pub shell: String,
}

/// Most cached entries of each kind before the cache is reset.
const MAX_CACHED: usize = 65_536;

/// Where a process looks its names up: its pid (for `/proc/PID/root`), its
/// cgroup and the device and inode of its root directory (the cache key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scope {
    pid: u32,
    key: (u64, u64, u64),
}

impl Scope {
    /// One `stat` of `/proc/PID/root`; a process gone by then keys by cgroup alone.
    pub fn of(pid: u32, cgroup_id: u64) -> Scope {
        let root = std::fs::metadata(format!("/proc/{pid}/root")).map(|m| (m.dev(), m.ino())).unwrap_or((0, 0));
        Scope { pid, key: (cgroup_id, root.0, root.1) }
    }

    /// The scope of an exec whose record carries the root directory's (device,
    /// inode) as the kernel read them (`ExecImage::root`): no `stat`, which on
    /// a fresh pid is a slow /proc lookup (~27 % of the agent's CPU in a
    /// fork+exec loop). The kernel's device encoding differs from `stat`'s, so
    /// it is tagged to keep the two kinds of keys apart.
    pub fn of_exec(pid: u32, cgroup_id: u64, root: Option<(u32, u64)>) -> Scope {
        match root {
            Some((dev, ino)) => Scope { pid, key: (cgroup_id, KERNEL_DEV | u64::from(dev), ino) },
            None => Scope::of(pid, cgroup_id),
        }
    }
}

/// Marks a root device number read by the probes (never set in a `stat` `st_dev`).
const KERNEL_DEV: u64 = 1 << 63;

type Key = ((u64, u64, u64), u32);

#[derive(Default)]
pub struct Users {
    passwd: HashMap<Key, Option<Arc<PwEntry>>>,
    groups: HashMap<Key, Option<Arc<str>>>,
}

/// The entry of `uid` in a passwd file's text.
pub fn passwd_entry(passwd: &str, uid: u32) -> Option<PwEntry> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 7 || f[2].parse::<u32>().ok()? != uid {
            return None;
        }
        Some(PwEntry { name: f[0].to_string(), home: f[5].to_string(), shell: f[6].to_string() })
    })
}

/// The name of `gid` in a group file's text.
pub fn group_name(group: &str, gid: u32) -> Option<String> {
    group.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _pw = f.next()?;
        (f.next()?.parse::<u32>().ok()? == gid).then(|| name.to_string())
    })
}

/// `/etc/<file>` in the root of `pid`, else the host's.
fn read_etc(pid: u32, file: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/root/etc/{file}"))
        .or_else(|_| std::fs::read_to_string(format!("/etc/{file}")))
        .ok()
}

impl Users {
    /// The passwd entry of `uid` for the process of `scope`.
    pub fn user(&mut self, scope: Scope, uid: u32) -> Option<Arc<PwEntry>> {
        if let Some(e) = self.passwd.get(&(scope.key, uid)) {
            return e.clone();
        }
        let entry = read_etc(scope.pid, "passwd").and_then(|p| passwd_entry(&p, uid)).map(Arc::new);
        if self.passwd.len() > MAX_CACHED {
            self.passwd.clear();
        }
        self.passwd.insert((scope.key, uid), entry.clone());
        entry
    }

    /// The name of group `gid` for the process of `scope`.
    pub fn group(&mut self, scope: Scope, gid: u32) -> Option<Arc<str>> {
        if let Some(g) = self.groups.get(&(scope.key, gid)) {
            return g.clone();
        }
        let name = read_etc(scope.pid, "group").and_then(|g| group_name(&g, gid)).map(Arc::from);
        if self.groups.len() > MAX_CACHED {
            self.groups.clear();
        }
        self.groups.insert((scope.key, gid), name.clone());
        name
    }

    /// The user name of `uid` (`root` for 0 even without a passwd file).
    pub fn name(&mut self, scope: Scope, uid: u32) -> Option<String> {
        self.user(scope, uid).map(|e| e.name.clone()).or_else(|| (uid == 0).then(|| "root".to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_and_group_lookup() {
        let p = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/:/usr/sbin/nologin\nbad:x:zz\n";
        assert_eq!(
            passwd_entry(p, 65534),
            Some(PwEntry { name: "nobody".into(), home: "/".into(), shell: "/usr/sbin/nologin".into() })
        );
        assert_eq!(passwd_entry(p, 0).map(|e| e.home), Some("/root".into()));
        assert_eq!(passwd_entry(p, 7), None);
        let g = "root:x:0:\nadm:x:4:syslog,me\n";
        assert_eq!(group_name(g, 4).as_deref(), Some("adm"));
        assert_eq!(group_name(g, 5), None);
    }

    #[test]
    fn an_exec_scope_keys_by_the_kernels_root_without_a_stat() {
        // A pid that does not exist: `of` would key by cgroup alone, `of_exec` by the root it is given.
        let gone = u32::MAX - 1;
        assert_eq!(Scope::of(gone, 9).key, (9, 0, 0));
        let a = Scope::of_exec(gone, 9, Some((0x0080_0003, 2)));
        let b = Scope::of_exec(gone, 9, Some((0x0080_0004, 2)));
        assert_eq!(a.key, (9, KERNEL_DEV | 0x0080_0003, 2));
        assert_ne!(a.key, b.key, "another root directory, another cache entry");
        // Without a kernel root it is the stat as before.
        let me = std::process::id();
        assert_eq!(Scope::of_exec(me, 1, None), Scope::of(me, 1));
        // Names resolve through the pid's root either way (here the host's /etc).
        let mut u = Users::default();
        assert_eq!(u.name(Scope::of_exec(me, 1, Some((1, 2))), 0).as_deref(), Some("root"));
    }

    #[test]
    fn the_hosts_root_user_resolves_and_is_cached() {
        let mut u = Users::default();
        let me = Scope::of(std::process::id(), 1);
        assert_ne!(me.key, (1, 0, 0), "this process's root is stat'ed");
        let root = u.user(me, 0).expect("root in this machine's /etc/passwd");
        assert_eq!(root.name, "root");
        assert!(Arc::ptr_eq(&root, &u.user(me, 0).unwrap()), "second lookup from the cache");
        assert_eq!(u.group(me, 0).as_deref(), Some("root"));
        assert_eq!(u.name(me, 4_000_000_000), None);
    }
}
