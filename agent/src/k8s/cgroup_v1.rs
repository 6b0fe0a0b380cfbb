//! Hybrid-cgroup hosts: which cgroup v1 hierarchy the probes read an id from.
//!
//! On a host with v1 controllers mounted (hybrid or legacy), a runtime may
//! place a container in the v1 hierarchies only: older runc, Docker's cgroupfs
//! driver. Then the v2 id every event carries names the runtime's own cgroup,
//! not the container, and the only other source was `/proc/PID/cgroup`: read
//! for every new process, and gone when a short process (`uname`, `id`) exits
//! before the agent looks. Instead the agent picks ONE v1 controller here, the
//! probes put the task's cgroup id in that hierarchy into every header
//! (`EventHeader::cgroup_v1_id`, from `task->cgroups->subsys[i]->cgroup->kn->id`),
//! and a second [`super::CgroupResolver`] over that controller's mount turns
//! ids into paths, cached per id like v2 (positive and negative): host
//! processes cost one lookup per cgroup, not one file read per process.
//!
//! Every container runtime puts a container in the memory controller (kubelet
//! requires it), so it is preferred; the others follow in case it is not
//! mounted as v1.
use std::path::PathBuf;

use super::cgroup::find_mount;

/// v1 controllers in order of preference.
pub const PREFERRED: [&str; 6] = ["memory", "pids", "cpu", "cpuacct", "devices", "blkio"];

/// The chosen hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Choice {
    pub controller: String,
    pub mount: PathBuf,
}

/// Mount point of the v1 hierarchy holding `controller`, from a mountinfo
/// text (a mount of the hierarchy's root, `/`, is preferred: the host's view).
pub fn find_v1_mount(mountinfo: &str, controller: &str) -> Option<PathBuf> {
    find_mount(mountinfo, |fs, opts| fs == "cgroup" && opts.split(',').any(|o| o == controller))
}

/// The first [`PREFERRED`] controller mounted as v1 that the kernel's probes
/// can read (`readable`: its `enum cgroup_subsys_id` value and the member
/// chain are in the kernel's BTF). `None` on pure v2 hosts.
pub fn choose(mountinfo: &str, readable: impl Fn(&str) -> bool) -> Option<V1Choice> {
    PREFERRED.iter().find_map(|c| {
        let mount = find_v1_mount(mountinfo, c)?;
        readable(c).then(|| V1Choice { controller: c.to_string(), mount })
    })
}

/// `pid`'s path in `controller`'s v1 hierarchy from a `/proc/PID/cgroup` text
/// (the line `N:a,b:path` whose controller list names it).
pub fn v1_path<'a>(proc_cgroup: &'a str, controller: &str) -> Option<&'a str> {
    proc_cgroup.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        (!controller.is_empty() && ctrls.split(',').any(|c| c == controller)).then_some(path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
        32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n\
        35 31 0:32 /kubepods /host/cg/memory rw - cgroup cgroup rw,memory\n\
        36 31 0:32 / /host/sys/fs/cgroup/mem\\040ory rw - cgroup cgroup rw,memory\n\
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n\
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n\
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

    #[test]
    fn mounts_by_controller_root_view_first_and_unescaped() {
        assert_eq!(find_v1_mount(HYBRID, "memory"), Some(PathBuf::from("/host/sys/fs/cgroup/mem ory")));
        assert_eq!(find_v1_mount(HYBRID, "cpuacct"), Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")));
        assert_eq!(find_v1_mount(HYBRID, "cpu"), Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")));
        assert_eq!(find_v1_mount(HYBRID, "systemd"), None, "name=systemd is not a controller");
        assert_eq!(find_v1_mount(HYBRID, "blkio"), None);
        let v2 = "41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(find_v1_mount(v2, "memory"), None, "pure v2 host");
    }

    #[test]
    fn choice_follows_preference_and_what_the_kernel_can_read() {
        let c = choose(HYBRID, |_| true).unwrap();
        assert_eq!(c.controller, "memory");
        let c = choose(HYBRID, |c| c != "memory").unwrap();
        assert_eq!((c.controller.as_str(), c.mount.to_str().unwrap()), ("pids", "/sys/fs/cgroup/pids"));
        assert_eq!(choose("41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", |_| true), None);
    }

    #[test]
    fn proc_lines_by_controller() {
        let p = "12:pids:/kubepods/pod1/abc\n4:memory:/kubepods/besteffort/pod1/abc\n\
                 2:cpu,cpuacct:/c\n1:name=systemd:/s\n0::/\n";
        assert_eq!(v1_path(p, "memory"), Some("/kubepods/besteffort/pod1/abc"));
        assert_eq!(v1_path(p, "cpuacct"), Some("/c"));
        assert_eq!(v1_path(p, "blkio"), None);
        assert_eq!(v1_path(p, ""), None, "the 0:: line is not a controller's");
    }
}
