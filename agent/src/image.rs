//! Applies what `sched_process_exec` read about the new image and the task
//! (`decode::ExecImage`) to the process-table entry: resolved executable path
//! and inode facts, capability sets rendered as Falco does, session and
//! pid-namespace ids, start time and environment.
use lanner_common::decode::ExecImage;
use lanner_rules::fields::caps::{CapNames, CAP_DAC_OVERRIDE};

use crate::proctable::ProcInfo;

const S_IWUSR: u16 = 0o200;
const S_IWGRP: u16 = 0o020;
const S_IWOTH: u16 = 0o002;

/// Falco's `proc.is_exe_writable`: the write bit of the class the process's
/// fsuid/fsgid falls in (owner, else group, else other), or `CAP_DAC_OVERRIDE`.
pub fn exe_writable(img: &ExecImage) -> bool {
    let m = img.exe_mode;
    let by_mode = if img.fsuid == img.exe_uid {
        m & S_IWUSR != 0
    } else if img.fsgid == img.exe_gid {
        m & S_IWGRP != 0
    } else {
        m & S_IWOTH != 0
    };
    by_mode || img.cap_effective & (1 << CAP_DAC_OVERRIDE) != 0
}

/// The executable path to show: the resolved one unless its walk was cut.
pub fn exepath<'a>(img: Option<&'a ExecImage>, filename: &'a str) -> &'a str {
    match img.and_then(|i| i.exe_path.as_deref().filter(|_| !i.exe_path_truncated)) {
        Some(p) => p,
        None => filename,
    }
}

/// Fill `p` from the image facts; `boot_offset_ns` turns boot-clock ns into unix ns.
/// `p.env` may hold the environment before the exec (the pid's table entry, else
/// its parent's): kept, shared, when the new image's is the same. `caps` interns the
/// capability strings.
pub fn apply(p: &mut ProcInfo, img: &ExecImage, boot_offset_ns: i128, caps: &mut CapNames) {
    if img.exe_path.is_some() {
        p.exe_ino = Some(img.exe_ino);
        p.exe_ctime_ns = Some(img.exe_ctime_ns);
        p.exe_mtime_ns = Some(img.exe_mtime_ns);
        p.exe_from_memfd = Some(img.exe_memfd);
        p.exe_upper_layer = Some(img.exe_upper_layer);
        p.exe_lower_layer = Some(img.exe_lower_layer);
        p.exe_writable = Some(exe_writable(img));
    }
    p.cap_inheritable = Some(caps.get(img.cap_inheritable));
    p.cap_permitted = Some(caps.get(img.cap_permitted));
    p.cap_effective = Some(caps.get(img.cap_effective));
    let id = |v: u32| (v != 0).then_some(v);
    p.sid = id(img.sid);
    p.pgid = id(img.pgid);
    p.vpid = id(img.vpid);
    p.vtid = id(img.vtid);
    p.vpgid = id(img.vpgid);
    p.fdlimit = img.fdlimit;
    p.start_ns = (img.start_boot_ns != 0).then(|| (img.start_boot_ns as i128 + boot_offset_ns).max(0) as u64);
    // An unchanged environment (non-shell exec chains; a shell sets `_` per
    // command) keeps the buffer the assembler offered: no copy for that exec.
    if p.env.len() != img.env.len() || !p.env.items().eq(img.env.items()) {
        p.env = lanner_rules::runtime::env::Env::from_nul_separated(img.env.text(), img.env.len());
    }
    p.env_truncated = img.env_truncated;
    if img.cwd.is_some() {
        p.cwd = img.cwd.clone();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn img() -> ExecImage {
        ExecImage {
            exe_path: Some("/usr/bin/true".into()),
            exe_path_truncated: false,
            exe_ino: 7,
            exe_ctime_ns: 1,
            exe_mtime_ns: 2,
            exe_mode: 0o100755,
            exe_uid: 0,
            exe_gid: 0,
            exe_memfd: false,
            exe_upper_layer: false,
            exe_lower_layer: false,
            cap_inheritable: 0,
            cap_permitted: 0,
            cap_effective: 0,
            fsuid: 1000,
            fsgid: 1000,
            sid: 10,
            vpid: 1,
            vtid: 1,
            vpgid: 1,
            pgid: 12,
            start_boot_ns: 100,
            root: None,
            env: ["A=1"].into_iter().collect(),
            env_truncated: false,
            cwd: Some("/srv/app/".into()),
            fdlimit: Some(1024),
        }
    }

    #[test]
    fn writable_follows_the_mode_class_then_dac_override() {
        let mut i = img();
        assert!(!exe_writable(&i), "other class, 0755");
        i.exe_mode = 0o100757;
        assert!(exe_writable(&i), "other write bit");
        i.exe_mode = 0o100575;
        i.exe_uid = 1000;
        assert!(!exe_writable(&i), "owner class without u+w");
        i.cap_effective = 1 << CAP_DAC_OVERRIDE;
        assert!(exe_writable(&i), "CAP_DAC_OVERRIDE");
    }

    #[test]
    fn apply_fills_the_process() {
        let mut p = ProcInfo::default();
        let mut i = img();
        i.cap_effective = 1 << 21;
        apply(&mut p, &i, 1_000, &mut CapNames::default());
        assert_eq!(p.cap_effective.as_deref(), Some("CAP_SYS_ADMIN"));
        assert_eq!(p.cap_permitted.as_deref(), Some(""));
        assert_eq!((p.sid, p.vpid, p.pgid, p.start_ns), (Some(10), Some(1), Some(12), Some(1_100)));
        assert_eq!((p.exe_ino, p.exe_writable), (Some(7), Some(false)));
        assert_eq!(p.env.items().collect::<Vec<_>>(), ["A=1"]);
        assert_eq!(p.cwd.as_deref(), Some("/srv/app/"));
        assert_eq!(p.fdlimit, Some(1024));
        let mut t = img();
        t.exe_path_truncated = true;
        assert_eq!(exepath(Some(&t), "/bin/true"), "/bin/true");
        assert_eq!(exepath(Some(&img()), "/bin/true"), "/usr/bin/true");
        assert_eq!(exepath(None, "/bin/true"), "/bin/true");
    }

    #[test]
    fn an_exec_that_keeps_the_environment_keeps_the_buffer_and_caps_are_shared() {
        let caps = &mut CapNames::default();
        let mut parent = ProcInfo::default();
        apply(&mut parent, &img(), 0, caps);
        let mut child = parent.clone();
        apply(&mut child, &img(), 0, caps);
        assert_eq!(child.env.joined().as_ptr(), parent.env.joined().as_ptr(), "same items: shared");
        let cap = |p: &ProcInfo| p.cap_effective.clone().expect("caps");
        assert!(std::sync::Arc::ptr_eq(&cap(&child), &cap(&parent)));
        let mut changed = img();
        changed.env.push("B=2");
        apply(&mut child, &changed, 0, caps);
        assert_eq!(child.env.items().collect::<Vec<_>>(), ["A=1", "B=2"]);
        assert_ne!(child.env.joined().as_ptr(), parent.env.joined().as_ptr());
    }
}
