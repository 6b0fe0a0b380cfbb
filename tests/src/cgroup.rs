//! A kubelet-like container for tests: a cgroup v2 directory laid out as the
//! systemd driver + containerd lay it out, or (hybrid hosts) a directory in ONE
//! v1 hierarchy laid out as the cgroupfs driver does, and processes started inside it.
use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::Command,
};

/// The cgroup2 mount point (from /proc/self/mountinfo).
pub fn cgroup2_root() -> PathBuf {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    for l in mi.lines() {
        if let Some((pre, post)) = l.split_once(" - ") {
            if post.starts_with("cgroup2 ") {
                return PathBuf::from(pre.split_whitespace().nth(4).expect("mount point"));
            }
        }
    }
    panic!("no cgroup2 mount in /proc/self/mountinfo");
}

/// The mount point of the cgroup v1 hierarchy holding `controller`, if any
/// (hybrid or legacy hosts).
pub fn v1_root(controller: &str) -> Option<PathBuf> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    mi.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mut f = post.split_whitespace();
        let (fs, opts) = (f.next()?, f.nth(1)?);
        (fs == "cgroup" && opts.split(',').any(|o| o == controller))
            .then(|| PathBuf::from(pre.split_whitespace().nth(4).expect("mount point")))
    })
}

pub struct FakeContainer {
    pub pod_uid: String,
    pub container_id: String,
    dirs: Vec<PathBuf>,
}

impl FakeContainer {
    /// `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/cri-containerd-<id>.scope`
    pub fn create(pod_uid: &str, container_id: &str) -> FakeContainer {
        let root = cgroup2_root();
        let uid_ = pod_uid.replace('-', "_");
        let parts = [
            "kubepods.slice".to_string(),
            "kubepods-besteffort.slice".to_string(),
            format!("kubepods-besteffort-pod{uid_}.slice"),
            format!("cri-containerd-{container_id}.scope"),
        ];
        let mut dirs = Vec::new();
        let mut p = root;
        for part in parts {
            p = p.join(part);
            if !p.exists() {
                std::fs::create_dir(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
                dirs.push(p.clone());
            }
        }
        FakeContainer { pod_uid: pod_uid.into(), container_id: container_id.into(), dirs }
    }

    /// `kubepods/besteffort/pod<uid>/<id>` below `v1_root` only (the cgroupfs
    /// driver's layout, in one v1 hierarchy; nothing in cgroup v2): what a
    /// runtime without cgroup v2 support leaves on a hybrid host.
    pub fn create_v1(v1_root: &Path, pod_uid: &str, container_id: &str) -> FakeContainer {
        let mut dirs = Vec::new();
        let mut p = v1_root.to_path_buf();
        for part in ["kubepods".to_string(), "besteffort".into(), format!("pod{pod_uid}"), container_id.into()] {
            p = p.join(part);
            if !p.exists() {
                std::fs::create_dir(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
                dirs.push(p.clone());
            }
        }
        FakeContainer { pod_uid: pod_uid.into(), container_id: container_id.into(), dirs }
    }

    pub fn dir(&self) -> &Path {
        self.dirs.last().expect("container dir")
    }

    /// A command whose process joins the container's cgroup before exec.
    pub fn command(&self, program: &str) -> Command {
        let procs = self.dir().join("cgroup.procs");
        let mut c = Command::new(program);
        unsafe {
            c.pre_exec(move || std::fs::write(&procs, b"0"));
        }
        c
    }
}

impl Drop for FakeContainer {
    fn drop(&mut self) {
        // Processes have exited by now; directories go bottom-up.
        for d in self.dirs.iter().rev() {
            for _ in 0..50 {
                if std::fs::remove_dir(d).is_ok() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

/// A random-looking 64-hex container id derived from a seed.
pub fn hex_id(seed: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    let mut out = String::new();
    for round in 0..4u64 {
        for b in seed.bytes().chain(round.to_le_bytes()) {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out
}
