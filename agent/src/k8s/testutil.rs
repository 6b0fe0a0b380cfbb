//! Test fixtures: scratch directories, a real kubelet-named cgroup holding
//! a real process (root only), cleaned up on drop, and a kubelet container
//! in a scratch cgroup tree with its pod as two watch events would bring it.
use std::{
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A unique name for this test process and call.
pub fn unique(tag: &str) -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000;
    format!("{tag}-{}-{}-{t}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

/// A scratch directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("lanner-{}", unique(tag)));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// The host's cgroup2 mount, or `None` (after printing why) when not root:
/// the caller skips (CI runs as root).
pub fn writable_cgroup2() -> Option<PathBuf> {
    if !is_root() {
        eprintln!("SKIP: creating cgroups needs root (CI runs as root)");
        return None;
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    Some(super::cgroup::find_cgroup2_mount(&mountinfo).expect("a cgroup2 mount"))
}

/// `<cgroup2>/lanner-test-<unique>/kubepods.slice/kubepods-besteffort.slice/
/// kubepods-besteffort-pod<uid_>.slice/cri-containerd-<id>.scope` with a
/// `sleep` moved into it. The unique top directory keeps tests apart and off
/// any real kubelet's hierarchy; the parser matches segments, so it is
/// resolved like the real thing.
pub struct KubeletCgroup {
    /// Directories created, top first.
    dirs: Vec<PathBuf>,
    child: Option<Child>,
    /// Path below the cgroup2 mount.
    pub rel_path: String,
    /// Inode of the container cgroup directory = its cgroup id.
    pub cgroup_id: u64,
}

impl KubeletCgroup {
    /// `None` (after printing why) when not root: the caller skips.
    pub fn create(tag: &str, pod_uid_underscored: &str, container_id: &str) -> Option<Self> {
        let root = writable_cgroup2()?;
        let top = format!("lanner-test-{}", unique(tag));
        let segs = [
            top,
            "kubepods.slice".to_string(),
            "kubepods-besteffort.slice".to_string(),
            format!("kubepods-besteffort-pod{pod_uid_underscored}.slice"),
            format!("cri-containerd-{container_id}.scope"),
        ];
        let mut me = KubeletCgroup { dirs: Vec::new(), child: None, rel_path: String::new(), cgroup_id: 0 };
        let mut dir = root.clone();
        for s in &segs {
            dir.push(s);
            std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
            me.dirs.push(dir.clone());
            me.rel_path.push('/');
            me.rel_path.push_str(s);
        }
        me.cgroup_id = std::fs::metadata(&dir).unwrap().ino();
        let child = Command::new("sleep").arg("600").stdin(Stdio::null()).spawn().expect("spawn sleep");
        let pid = child.id();
        me.child = Some(child);
        std::fs::write(dir.join("cgroup.procs"), pid.to_string())
            .unwrap_or_else(|e| panic!("moving {pid} into {}: {e}", dir.display()));
        Some(me)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }
}

impl Drop for KubeletCgroup {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // A reaped process leaves its cgroup at once; rmdir bottom-up.
        for d in self.dirs.iter().rev() {
            for _ in 0..50 {
                match std::fs::remove_dir(d) {
                    Ok(()) => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                        std::thread::sleep(std::time::Duration::from_millis(20))
                    }
                    Err(e) => {
                        eprintln!("cleanup: rmdir {}: {e}", d.display());
                        break;
                    }
                }
            }
        }
    }
}

/// A scratch cgroup2 tree holding one cgroupfs-driver kubelet container,
/// `kubepods/besteffort/pod<pod_uid>/<container_id>` (as on the real node of
/// docs), and a resolver over it. Returns the tree (removed on drop), the
/// resolver and the container's cgroup id.
pub fn kubelet_container_tree(pod_uid: &str, container_id: &str) -> (TempDir, super::CgroupResolver, u64) {
    let t = TempDir::new("kubelet-tree");
    let dir = t.path().join(format!("kubepods/besteffort/pod{pod_uid}/{container_id}"));
    std::fs::create_dir_all(&dir).unwrap();
    let r = super::CgroupResolver::new(super::ResolverConfig {
        cgroup_root: Some(t.path().to_path_buf()),
        proc_root: t.path().join("noproc"),
        ..Default::default()
    })
    .unwrap();
    let id = std::fs::metadata(&dir).unwrap().ino();
    (t, r, id)
}

/// Pod `web-1` (namespace `shop`, container `app`, image
/// `ghcr.io/shop/web:1.2`) as the watch delivers it: first without status
/// (`container_id: None`, the scheduler just bound it), then with the
/// kubelet's container status naming `container_id`.
pub fn pod_event(pod_uid: &str, container_id: Option<&str>) -> super::PodMeta {
    let mut pod = serde_json::json!({
        "metadata": {"name": "web-1", "namespace": "shop", "uid": pod_uid, "labels": {"app": "web"}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "ghcr.io/shop/web:1.2"}]},
        "status": {"phase": "Pending"}
    });
    if let Some(id) = container_id {
        pod["status"] = serde_json::json!({"phase": "Running", "containerStatuses": [{
            "name": "app", "image": "ghcr.io/shop/web:1.2", "imageID": "", "ready": true, "restartCount": 0,
            "containerID": format!("containerd://{id}"), "state": {"running": {}}
        }]});
    }
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(pod).unwrap();
    super::PodMeta::from_pod(&pod).unwrap()
}
