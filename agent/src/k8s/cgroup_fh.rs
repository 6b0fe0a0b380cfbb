//! cgroup id → cgroup path in one lookup, by file handle.
//!
//! cgroup file systems (v2 and every v1 hierarchy) are kernfs, which exports
//! its nodes to `open_by_handle_at(2)`: a handle of type `FILEID_KERNFS`
//! (0xfe) whose 8 bytes are the node's 64-bit id, the very id the probes read
//! (`kn->id`, `bpf_get_current_cgroup_id`). Opening it and reading the fd's
//! link names the cgroup's directory at once: no `/proc/<pid>/cgroup` (gone
//! once a short-lived process exited) and no walk of the hierarchy (rate
//! limited). A cgroup that no longer exists answers `ESTALE`.
//!
//! This is what closes the window at a container's start: its first
//! processes (runc's, the entrypoint, a `kubectl exec` right after the pod is
//! Ready) often exit before the agent reads their `/proc` files, and the last
//! walk predates the cgroup. Needs `CAP_DAC_READ_SEARCH` (the DaemonSet adds
//! it; the default seccomp profiles allow the call with that capability).
//! `name_to_handle_at(2)` is not needed (containerd's default seccomp profile
//! refuses it): on 64-bit kernels a kernfs id is its directory's inode number.
//! [`FileHandles::probe`] checks the whole path on the mount's root at start;
//! when anything is missing the resolver keeps `/proc` and walks.
use std::{
    ffi::CString,
    io,
    os::{
        fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
        unix::{ffi::OsStrExt as _, fs::MetadataExt as _},
    },
    path::{Path, PathBuf},
};

/// `FILEID_KERNFS` (include/linux/exportfs.h).
const FILEID_KERNFS: i32 = 0xfe;
/// `statfs` magics of cgroup v2 and v1 mounts (include/uapi/linux/magic.h).
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;

/// `struct file_handle` with kernfs's 8-byte payload.
#[repr(C)]
struct KernfsHandle {
    handle_bytes: u32,
    handle_type: i32,
    id: u64,
}

/// An open cgroup mount whose ids resolve by file handle.
#[derive(Debug)]
pub struct FileHandles {
    mount: OwnedFd,
    /// The mount's root as `/proc/self/fd/N` links show it.
    prefix: PathBuf,
}

impl FileHandles {
    /// Opens `root` and checks the round trip on it: a cgroup file system,
    /// whose root directory's inode, opened as a kernfs handle, names `root`
    /// again. `Err` says why file handles are not used (not a cgroup mount,
    /// no capability, seccomp).
    pub fn probe(root: &Path) -> Result<Self, String> {
        let c = CString::new(root.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
        // SAFETY: a NUL-terminated path; the fd is owned below.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(format!("open {}: {}", root.display(), io::Error::last_os_error()));
        }
        // SAFETY: `fd` was just opened and is not owned elsewhere.
        let mount = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: `st` is written by the call.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstatfs(mount.as_raw_fd(), &mut st) } != 0 {
            return Err(format!("statfs {}: {}", root.display(), io::Error::last_os_error()));
        }
        let magic = st.f_type as i64;
        if magic != CGROUP2_SUPER_MAGIC && magic != CGROUP_SUPER_MAGIC {
            return Err(format!("{} is not a cgroup mount (statfs type {magic:#x})", root.display()));
        }
        let id = std::fs::metadata(root).map_err(|e| format!("stat {}: {e}", root.display()))?.ino();
        let prefix = link_of(&mount).map_err(|e| format!("readlink of {}: {e}", root.display()))?;
        let me = Self { mount, prefix };
        match me.path(id) {
            Ok(Some(p)) if p == "/" => Ok(me),
            Ok(other) => Err(format!("the root's own handle named {other:?}, not /")),
            Err(e) => Err(format!("open_by_handle_at on {}: {e}", root.display())),
        }
    }

    /// The path below the mount (starting with `/`) of the cgroup with kernfs
    /// id `id`; `Ok(None)` when no such cgroup exists (any more).
    pub fn path(&self, id: u64) -> io::Result<Option<String>> {
        let mut h = KernfsHandle { handle_bytes: 8, handle_type: FILEID_KERNFS, id };
        // SAFETY: `h` is a valid `struct file_handle` with 8 payload bytes.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_open_by_handle_at,
                self.mount.as_raw_fd(),
                &mut h as *mut KernfsHandle,
                libc::O_RDONLY | libc::O_CLOEXEC | libc::O_PATH,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ESTALE) | Some(libc::ENOENT) => Ok(None),
                _ => Err(e),
            };
        }
        // SAFETY: the syscall returned a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let link = link_of(&fd)?;
        if link.as_os_str().as_bytes().ends_with(b" (deleted)") {
            return Ok(None);
        }
        let rel = link.strip_prefix(&self.prefix).map_err(|_| {
            io::Error::other(format!("{} is not below the mount {}", link.display(), self.prefix.display()))
        })?;
        let rel = rel.to_str().ok_or_else(|| io::Error::other("cgroup path is not UTF-8"))?;
        Ok(Some(format!("/{rel}")))
    }
}

fn link_of(fd: &OwnedFd) -> io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt as _;

    use super::*;
    use crate::k8s::testutil::TempDir;

    #[test]
    fn not_kernfs_is_refused_with_the_reason() {
        let t = TempDir::new("cgfh");
        let e = FileHandles::probe(t.path()).unwrap_err();
        assert!(e.contains("is not a cgroup mount"), "{e}");
        let e = FileHandles::probe(&t.path().join("missing")).unwrap_err();
        assert!(e.contains("open"), "{e}");
    }

    /// Root only: a real cgroup, resolved with no process in it, then gone.
    #[test]
    fn real_cgroup_by_id_then_stale() {
        let Some(root) = crate::k8s::testutil::writable_cgroup2() else {
            return;
        };
        let fh = FileHandles::probe(&root).expect("cgroup2 resolves by file handle as root");
        let dir = root.join(format!("lanner-fh-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let id = std::fs::metadata(&dir).unwrap().ino();
        let got = fh.path(id);
        std::fs::remove_dir(&dir).unwrap();
        assert_eq!(got.unwrap().as_deref(), Some(format!("/lanner-fh-{}", std::process::id()).as_str()));
        assert_eq!(fh.path(id).unwrap(), None, "a removed cgroup is stale");
        assert_eq!(fh.path(u64::MAX - 7).unwrap(), None, "an id that never existed");
    }
}
