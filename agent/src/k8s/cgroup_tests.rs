//! Tests of [`super::cgroup`]: scratch trees for the walk, /proc and the
//! caches; a real cgroup (root) for file handles, /proc and the walk.
use super::*;
use crate::{container::Runtime, k8s::testutil::TempDir};

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const UID_: &str = "8f2c5a1e_3b4d_4c6e_9f70_1a2b3c4d5e6f";

fn kubelet_path() -> String {
    format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice/cri-containerd-{ID}.scope")
}

fn ino(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().ino()
}

fn resolver(root: &Path, proc_root: &Path) -> CgroupResolver {
    CgroupResolver::new(ResolverConfig {
        cgroup_root: Some(root.to_path_buf()),
        proc_root: proc_root.to_path_buf(),
        walk_interval: Duration::from_secs(3600),
        negative_ttl: Duration::from_secs(10),
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn mountinfo_hybrid_pure_v2_and_escaped() {
    let hybrid = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
    assert_eq!(find_cgroup2_mount(hybrid), Some(PathBuf::from("/sys/fs/cgroup/unified")));
    let v2 = "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
    assert_eq!(find_cgroup2_mount(v2), Some(PathBuf::from("/sys/fs/cgroup")));
    // A container's own namespaced mount first, the host's bind mount second: the host's wins.
    let both = "900 800 0:26 /kubepods.slice/x.scope /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n\
        901 800 0:26 / /host/sys/fs/cgroup\\040x ro - cgroup2 cgroup2 rw\n";
    assert_eq!(find_cgroup2_mount(both), Some(PathBuf::from("/host/sys/fs/cgroup x")));
    assert_eq!(find_cgroup2_mount("35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"), None);
}

#[test]
fn proc_cgroup_lines() {
    let text = format!("12:memory:/kubepods/besteffort/pod{}/{ID}\n0::/\n", UID_.replace('_', "-"));
    assert_eq!(unified_path(&text), Some("/"));
    let c = container_from_v1_lines(&text).unwrap();
    assert_eq!(c.id, ID);
    assert_eq!(container_from_v1_lines("4:memory:/process_api/3e56fe41\n0::/\n"), None);
}

#[test]
fn resolves_by_walk_then_caches_and_evicts() {
    let t = TempDir::new("cgwalk");
    let dir = t.path().join(kubelet_path().trim_start_matches('/'));
    std::fs::create_dir_all(&dir).unwrap();
    let r = resolver(t.path(), &t.path().join("noproc"));
    let id = ino(&dir);
    let info = r.resolve(id, 0).expect("walk finds it");
    assert_eq!(info.path, kubelet_path());
    let c = info.container.as_ref().unwrap();
    assert_eq!((c.id.as_str(), c.runtime), (ID, Runtime::Containerd));
    assert_eq!(c.pod_uid.as_deref(), Some("8f2c5a1e-3b4d-4c6e-9f70-1a2b3c4d5e6f"));
    assert_eq!(r.resolve(ino(t.path()), 0).unwrap().path, "/");
    // Its parents came from the same walk, without another one.
    let parent = r.resolve(ino(dir.parent().unwrap()), 0).unwrap();
    assert!(parent.container.is_none());
    assert!(r.resolve(id, 0).is_some());
    let s = r.stats();
    assert_eq!((s.walks, s.hits, s.walk_resolved), (1, 1, 3));

    // A directory made after the walk: rate-limited, so a negative answer, cached.
    let late = t.path().join("docker").join(ID);
    std::fs::create_dir_all(&late).unwrap();
    assert!(r.resolve(ino(&late), 0).is_none());
    assert!(r.resolve(ino(&late), 0).is_none());
    let s = r.stats();
    assert_eq!((s.walks, s.unresolved, s.negative_hits), (1, 1, 1));
}

#[test]
fn walks_again_after_the_interval_and_bounds_the_cache() {
    let t = TempDir::new("cgwalk2");
    let r = CgroupResolver::new(ResolverConfig {
        cgroup_root: Some(t.path().to_path_buf()),
        proc_root: t.path().join("noproc"),
        walk_interval: Duration::ZERO,
        negative_ttl: Duration::ZERO,
        capacity: 4,
        ..Default::default()
    })
    .unwrap();
    let mut ids = Vec::new();
    for i in 0..8 {
        let d = t.path().join(format!("system.slice/docker-{i}{}.scope", &ID[1..]));
        std::fs::create_dir_all(&d).unwrap();
        let info = r.resolve(ino(&d), 0).expect("fresh walk");
        assert_eq!(info.container.as_ref().unwrap().runtime, Runtime::Docker);
        ids.push(ino(&d));
    }
    let s = r.stats();
    assert_eq!(s.cached, 4);
    assert_eq!(s.evictions, 4);
    assert_eq!(s.walks, 8);
    // Evicted ids come back from the last walk's index without walking.
    assert!(r.resolve(ids[0], 0).is_some());
    assert_eq!(r.stats().walks, 8);
}

#[test]
fn resolves_through_proc_and_verifies_the_inode() {
    let t = TempDir::new("cgproc");
    let root = t.path().join("cg");
    let dir = root.join(kubelet_path().trim_start_matches('/'));
    std::fs::create_dir_all(&dir).unwrap();
    let proc_root = t.path().join("proc");
    std::fs::create_dir_all(proc_root.join("42")).unwrap();
    std::fs::write(proc_root.join("42/cgroup"), format!("0::{}\n", kubelet_path())).unwrap();
    std::fs::create_dir_all(proc_root.join("43")).unwrap();
    std::fs::write(proc_root.join("43/cgroup"), format!("0::/../..{}\n", kubelet_path())).unwrap();
    let r = resolver(&root, &proc_root);
    let id = ino(&dir);
    // Wrong id for pid 42's path: the inode check refuses it, the walk settles it.
    assert!(r.resolve(id + 1_000_000, 42).is_none());
    assert_eq!(r.stats().proc_resolved, 0);
    // Our walk budget is spent (interval 1 h); /proc alone must do it now.
    let info = r.resolve(id, 42).unwrap();
    assert_eq!(info.container.as_ref().unwrap().id, ID);
    assert_eq!(r.stats().proc_resolved, 0, "found in the first walk's index");

    let dir2 = root.join("kubepods.slice/other.scope");
    std::fs::create_dir_all(&dir2).unwrap();
    std::fs::write(proc_root.join("42/cgroup"), "0::/kubepods.slice/other.scope\n").unwrap();
    assert_eq!(r.resolve(ino(&dir2), 42).unwrap().path, "/kubepods.slice/other.scope");
    assert_eq!(r.stats().proc_resolved, 1);
    // `..` paths (another cgroup namespace's view) are never joined.
    let dir3 = root.join("x.scope");
    std::fs::create_dir_all(&dir3).unwrap();
    assert!(r.resolve(ino(&dir3), 43).is_none());
}

#[test]
fn missing_mount_is_an_error() {
    let t = TempDir::new("cgnomount");
    std::fs::create_dir_all(t.path().join("self")).unwrap();
    std::fs::write(t.path().join("self/mountinfo"), "1 0 0:1 / / rw - ext4 /dev/sda rw\n").unwrap();
    let e = CgroupResolver::new(ResolverConfig { proc_root: t.path().to_path_buf(), ..Default::default() });
    assert!(matches!(e, Err(CgroupError::NoCgroup2(_))));
}

/// Root only: a real kubelet-named cgroup with a real process in it, by each
/// of the three ways: file handle, `/proc/<pid>/cgroup`, walk.
#[test]
fn real_cgroup_with_a_real_process() {
    let Some(cg) = crate::k8s::testutil::KubeletCgroup::create("cgreal", UID_, ID) else {
        return;
    };
    // By file handle: no pid needed, no walk.
    let r = CgroupResolver::new(ResolverConfig::default()).unwrap();
    assert_eq!(r.file_handles(), Ok(()), "cgroup2 as root resolves by file handle");
    let info = r.resolve(cg.cgroup_id, 0).expect("resolved");
    assert_eq!(info.path, cg.rel_path);
    let c = info.container.clone().unwrap();
    assert_eq!(c.id, ID);
    assert_eq!(c.pod_uid.as_deref(), Some("8f2c5a1e-3b4d-4c6e-9f70-1a2b3c4d5e6f"));
    let s = r.stats();
    assert_eq!((s.handle_resolved, s.proc_resolved, s.walks), (1, 0, 0));
    let no_fh = || CgroupResolver::new(ResolverConfig { file_handles: false, ..Default::default() }).unwrap();
    // Via /proc/<pid>/cgroup.
    let r = no_fh();
    assert_eq!(r.file_handles(), Err("turned off by configuration"));
    assert_eq!(r.resolve(cg.cgroup_id, cg.pid()).unwrap().container.as_ref(), Some(&c));
    assert_eq!(r.stats().proc_resolved, 1);
    // The child's own view names the same container.
    let proc = std::fs::read_to_string(format!("/proc/{}/cgroup", cg.pid())).unwrap();
    assert_eq!(unified_path(&proc), Some(cg.rel_path.as_str()));
    assert_eq!(parse_cgroup_path(unified_path(&proc).unwrap()).unwrap(), c);
    // Via the walk, without a pid.
    let r2 = no_fh();
    assert_eq!(r2.resolve(cg.cgroup_id, 0).unwrap().container.as_ref(), Some(&c));
    assert_eq!(r2.stats().walks, 1);
}

/// Root only. The cluster tier's failure: a container's cgroup made just
/// after a walk, whose processes exit before the agent looks (runc's, a quick
/// `kubectl exec`). By file handle it resolves at once; without, the negative
/// answer lasts only until the next walk may run, not the whole negative TTL.
#[test]
fn a_cgroup_newer_than_the_last_walk_with_its_process_gone() {
    let Some(root) = crate::k8s::testutil::writable_cgroup2() else {
        return;
    };
    let cfg = |file_handles| ResolverConfig {
        walk_interval: Duration::from_millis(300),
        negative_ttl: Duration::from_secs(3600),
        file_handles,
        ..Default::default()
    };
    let (fh, no_fh) = (CgroupResolver::new(cfg(true)).unwrap(), CgroupResolver::new(cfg(false)).unwrap());
    // Both just walked (an earlier container's first event).
    assert!(fh.resolve(ino(&root), 0).is_some() && no_fh.resolve(ino(&root), 0).is_some());
    let top = root.join(crate::k8s::testutil::unique("lanner-test-late"));
    let dir = top.join(format!("kubepods/besteffort/pod{}/{ID}", UID_.replace('_', "-")));
    std::fs::create_dir_all(&dir).unwrap();
    let id = ino(&dir);
    let t0 = Instant::now();
    let now_fh = fh.resolve(id, 0).and_then(|i| i.container.clone());
    let now_no_fh = no_fh.resolve(id, 0);
    let again = no_fh.resolve(id, 0);
    std::thread::sleep(Duration::from_millis(350).saturating_sub(t0.elapsed()));
    let later = no_fh.resolve(id, 0).and_then(|i| i.container.clone());
    for d in [dir.as_path(), dir.parent().unwrap(), dir.parent().unwrap().parent().unwrap()] {
        let _ = std::fs::remove_dir(d);
    }
    let _ = std::fs::remove_dir(top.join("kubepods"));
    let _ = std::fs::remove_dir(&top);
    assert_eq!(now_fh.map(|c| c.id).as_deref(), Some(ID), "by file handle: at once");
    assert!(now_no_fh.is_none() && again.is_none(), "without: walk throttled, negative");
    assert_eq!(no_fh.stats().negative_hits, 1);
    assert_eq!(later.map(|c| c.id).as_deref(), Some(ID), "without: found by the next walk, not after an hour");
}
