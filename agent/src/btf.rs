//! Minimal reader for the kernel's BTF (`/sys/kernel/btf/vmlinux`).
//!
//! Rust eBPF programs get no CO-RE field relocations, so the agent looks up the
//! byte offsets of the few `task_struct`/`signal_struct`/`tty_struct` members
//! the probes read and passes them in as globals. Only the parts of the format
//! needed to walk struct members are decoded; anonymous nested structs/unions
//! are searched recursively. Malformed input yields an error, never a panic.
use std::collections::HashMap;

use lanner_common::{
    config::{CgroupOffsets, ExeOffsets, HookOffsets, SockOffsets, OFFSET_NONE},
    KernelOffsets,
};

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("BTF truncated at byte {0}")]
    Truncated(usize),
    #[error("bad BTF magic {0:#x}")]
    Magic(u16),
    #[error("unknown BTF kind {kind} at type id {id}")]
    Kind { kind: u32, id: u32 },
    #[error("reading {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// `RLIMIT_NOFILE` on x86_64 and arm64 (asm-generic/resource.h).
const RLIMIT_NOFILE: u32 = 7;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_TYPE_TAG: u32 = 18;

#[derive(Debug, Clone)]
struct Member {
    name_off: u32,
    type_id: u32,
    bit_offset: u32,
}

#[derive(Debug, Clone)]
struct Type {
    name_off: u32,
    kind: u32,
    /// size or referenced type id
    size_type: u32,
    members: Vec<Member>,
}

/// Parsed type table with a name index of structs/unions.
pub struct Btf {
    types: Vec<Type>,
    strings: Vec<u8>,
    structs: HashMap<String, u32>,
    /// Every enumerator (ENUM and ENUM64): name offset, value.
    enumerators: Vec<(u32, i64)>,
}

fn u32_at(b: &[u8], off: usize) -> Result<u32, BtfError> {
    b.get(off..off + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]])).ok_or(BtfError::Truncated(off))
}

impl Btf {
    pub fn from_sys_fs() -> Result<Self, BtfError> {
        let path = "/sys/kernel/btf/vmlinux";
        let data = std::fs::read(path).map_err(|source| BtfError::Io { path: path.into(), source })?;
        Self::parse(&data)
    }

    pub fn parse(data: &[u8]) -> Result<Self, BtfError> {
        let magic = data.get(0..2).map(|m| u16::from_le_bytes([m[0], m[1]])).ok_or(BtfError::Truncated(0))?;
        if magic != 0xeb9f {
            return Err(BtfError::Magic(magic));
        }
        let hdr_len = u32_at(data, 4)? as usize;
        let type_off = u32_at(data, 8)? as usize;
        let type_len = u32_at(data, 12)? as usize;
        let str_off = u32_at(data, 16)? as usize;
        let str_len = u32_at(data, 20)? as usize;
        let tstart = hdr_len.checked_add(type_off).ok_or(BtfError::Truncated(8))?;
        let tend = tstart.checked_add(type_len).ok_or(BtfError::Truncated(12))?;
        let sstart = hdr_len.checked_add(str_off).ok_or(BtfError::Truncated(16))?;
        let send = sstart.checked_add(str_len).ok_or(BtfError::Truncated(20))?;
        let tsec = data.get(tstart..tend).ok_or(BtfError::Truncated(tend))?;
        let strings = data.get(sstart..send).ok_or(BtfError::Truncated(send))?.to_vec();

        // Type id 0 is "void".
        let mut types = vec![Type { name_off: 0, kind: 0, size_type: 0, members: vec![] }];
        let mut enumerators = Vec::new();
        let mut off = 0usize;
        while off < tsec.len() {
            let name_off = u32_at(tsec, off)?;
            let info = u32_at(tsec, off + 4)?;
            let size_type = u32_at(tsec, off + 8)?;
            off += 12;
            let vlen = (info & 0xffff) as usize;
            let kind = (info >> 24) & 0x1f;
            let kind_flag = info >> 31 == 1;
            let mut members = Vec::new();
            let extra = match kind {
                1 => 4,                    // INT
                2 | 7..=12 | 16 | 18 => 0, // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG
                3 => 12,                   // ARRAY
                4 | 5 => {
                    for i in 0..vlen {
                        let m = off + i * 12;
                        let raw = u32_at(tsec, m + 8)?;
                        members.push(Member {
                            name_off: u32_at(tsec, m)?,
                            type_id: u32_at(tsec, m + 4)?,
                            bit_offset: if kind_flag { raw & 0x00ff_ffff } else { raw },
                        });
                    }
                    vlen * 12
                }
                6 | 19 => {
                    // ENUM: {name, i32 value}; ENUM64: {name, lo32, hi32}.
                    let step = if kind == 6 { 8 } else { 12 };
                    for i in 0..vlen {
                        let e = off + i * step;
                        let lo = u32_at(tsec, e + 4)?;
                        let val = if kind == 6 {
                            lo as i32 as i64
                        } else {
                            ((u32_at(tsec, e + 8)? as u64) << 32 | lo as u64) as i64
                        };
                        enumerators.push((u32_at(tsec, e)?, val));
                    }
                    vlen * step
                }
                13 => vlen * 8,  // FUNC_PROTO
                14 | 17 => 4,    // VAR, DECL_TAG
                15 => vlen * 12, // DATASEC
                k => return Err(BtfError::Kind { kind: k, id: types.len() as u32 }),
            };
            off += extra;
            if off > tsec.len() {
                return Err(BtfError::Truncated(tstart + off));
            }
            types.push(Type { name_off, kind, size_type, members });
        }
        let mut btf = Btf { types, strings, structs: HashMap::new(), enumerators };
        for (id, t) in btf.types.iter().enumerate() {
            if t.kind == KIND_STRUCT || t.kind == KIND_UNION {
                let name = btf.name(t.name_off);
                if !name.is_empty() {
                    btf.structs.entry(name.to_string()).or_insert(id as u32);
                }
            }
        }
        Ok(btf)
    }

    fn name(&self, off: u32) -> &str {
        let s = self.strings.get(off as usize..).unwrap_or(&[]);
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        std::str::from_utf8(&s[..end]).unwrap_or("")
    }

    fn resolve(&self, mut id: u32) -> u32 {
        for _ in 0..16 {
            match self.types.get(id as usize) {
                Some(t)
                    if matches!(t.kind, KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG) =>
                {
                    id = t.size_type
                }
                _ => break,
            }
        }
        id
    }

    fn find_in(&self, id: u32, member: &str, depth: u32) -> Option<u32> {
        if depth > 8 {
            return None;
        }
        let t = self.types.get(self.resolve(id) as usize)?;
        for m in &t.members {
            let name = self.name(m.name_off);
            if name == member {
                return Some(m.bit_offset / 8);
            }
            if name.is_empty() {
                if let Some(o) = self.find_in(m.type_id, member, depth + 1) {
                    return Some(m.bit_offset / 8 + o);
                }
            }
        }
        None
    }

    /// Byte offset of `member` in `struct name` (searching anonymous members).
    pub fn member_offset(&self, name: &str, member: &str) -> Option<u32> {
        let id = *self.structs.get(name)?;
        self.find_in(id, member, 0)
    }

    /// Size in bytes of `struct name`.
    pub fn struct_size(&self, name: &str) -> Option<u32> {
        let id = *self.structs.get(name)?;
        self.types.get(id as usize).map(|t| t.size_type)
    }

    /// The value of the enumerator `name` (any enum).
    pub fn enum_value(&self, name: &str) -> Option<i64> {
        self.enumerators.iter().find(|(off, _)| self.name(*off) == name).map(|&(_, v)| v)
    }

    /// The chains to a task's cgroup ids: the v2 one (`css_set.dfl_cgrp`), and
    /// the one in the v1 hierarchy of `controller` (`memory`, `pids`, ... as v1
    /// names them; its `<subsys>_cgrp_id` enumerator is the `css_set.subsys`
    /// index). `v1_subsys` is `OFFSET_NONE` without a controller, or when the
    /// kernel lacks it or any member.
    pub fn cgroup_offsets(&self, controller: Option<&str>) -> CgroupOffsets {
        let o = |s: &str, m: &str| self.member_offset(s, m).unwrap_or(OFFSET_NONE);
        let mut c = CgroupOffsets {
            task_cgroups: o("task_struct", "cgroups"),
            css_set_subsys: o("css_set", "subsys"),
            css_cgroup: o("cgroup_subsys_state", "cgroup"),
            cgroup_kn: o("cgroup", "kn"),
            kn_id: o("kernfs_node", "id"),
            v1_subsys: OFFSET_NONE,
            css_set_dfl_cgrp: o("css_set", "dfl_cgrp"),
            _pad: 0,
        };
        let found = [c.task_cgroups, c.css_set_subsys, c.css_cgroup, c.cgroup_kn, c.kn_id];
        if let Some(controller) = controller.filter(|_| found.iter().all(|&f| f != OFFSET_NONE)) {
            // The v1 name of the io controller is its legacy one.
            let subsys = if controller == "blkio" { "io" } else { controller };
            let id = self.enum_value(&format!("{subsys}_cgrp_id"));
            c.v1_subsys = id.and_then(|v| u32::try_from(v).ok()).filter(|&v| v < 32).unwrap_or(OFFSET_NONE);
        }
        c
    }

    /// Offsets of what `sched_process_exec` reads about the image and the task.
    pub fn exe_offsets(&self) -> ExeOffsets {
        let o = |s: &str, m: &str| self.member_offset(s, m).unwrap_or(OFFSET_NONE);
        let plus = |base: u32, n: u32| if base == OFFSET_NONE { OFFSET_NONE } else { base + n };
        // inode times: i_ctime_sec/_nsec (6.11+), else a timespec64 (__i_ctime 6.6+, i_ctime before).
        let time = |new_sec: &str, new_nsec: &str, ts: &[&str]| match self.member_offset("inode", new_sec) {
            Some(sec) => (sec, o("inode", new_nsec)),
            None => {
                let sec = ts.iter().find_map(|m| self.member_offset("inode", m)).unwrap_or(OFFSET_NONE);
                (sec, plus(sec, 8))
            }
        };
        let (ctime_sec, ctime_nsec) = time("i_ctime_sec", "i_ctime_nsec", &["__i_ctime", "i_ctime"]);
        let (mtime_sec, mtime_nsec) = time("i_mtime_sec", "i_mtime_nsec", &["__i_mtime", "i_mtime"]);
        // struct ovl_inode { ...; struct inode vfs_inode; struct dentry *__upperdentry; ... }:
        // from vmlinux when overlayfs is built in, else right after the inode (as Falco assumes).
        let ovl_upper =
            match (self.member_offset("ovl_inode", "__upperdentry"), self.member_offset("ovl_inode", "vfs_inode")) {
                (Some(u), Some(v)) if u > v => u - v,
                _ => self.struct_size("inode").unwrap_or(OFFSET_NONE),
            };
        let name = o("dentry", "d_name");
        ExeOffsets {
            task_cred: o("task_struct", "cred"),
            cred_cap_inheritable: o("cred", "cap_inheritable"),
            cred_cap_permitted: o("cred", "cap_permitted"),
            cred_cap_effective: o("cred", "cap_effective"),
            cred_fsuid: o("cred", "fsuid"),
            cred_fsgid: o("cred", "fsgid"),
            task_fs: o("task_struct", "fs"),
            fs_root: o("fs_struct", "root"),
            task_thread_pid: o("task_struct", "thread_pid"),
            task_group_leader: o("task_struct", "group_leader"),
            task_start_boottime: o("task_struct", "start_boottime"),
            signal_pids: o("signal_struct", "pids"),
            pid_level: o("pid", "level"),
            pid_numbers: o("pid", "numbers"),
            mm_exe_file: o("mm_struct", "exe_file"),
            mm_env_start: o("mm_struct", "env_start"),
            mm_env_end: o("mm_struct", "env_end"),
            file_f_path: o("file", "f_path"),
            file_f_inode: o("file", "f_inode"),
            dentry_d_parent: o("dentry", "d_parent"),
            dentry_d_name: name,
            dentry_d_hash: o("dentry", "d_hash"),
            mount_mnt: o("mount", "mnt"),
            mount_mnt_parent: o("mount", "mnt_parent"),
            mount_mnt_mountpoint: o("mount", "mnt_mountpoint"),
            vfsmount_mnt_root: o("vfsmount", "mnt_root"),
            inode_i_ino: o("inode", "i_ino"),
            inode_i_mode: o("inode", "i_mode"),
            inode_i_uid: o("inode", "i_uid"),
            inode_i_gid: o("inode", "i_gid"),
            inode_i_sb: o("inode", "i_sb"),
            inode_ctime_sec: ctime_sec,
            inode_ctime_nsec: ctime_nsec,
            inode_mtime_sec: mtime_sec,
            inode_mtime_nsec: mtime_nsec,
            sb_s_magic: o("super_block", "s_magic"),
            ovl_upperdentry: ovl_upper,
            fs_pwd: o("fs_struct", "pwd"),
            dentry_d_inode: o("dentry", "d_inode"),
            sb_s_dev: o("super_block", "s_dev"),
            // RLIMIT_NOFILE is 7 on x86_64 and arm64 (asm-generic); a struct rlimit is two u64s.
            signal_rlim_nofile: plus(o("signal_struct", "rlim"), RLIMIT_NOFILE * 16),
        }
    }

    /// Offsets from a connect's fd to its socket's type.
    pub fn sock_offsets(&self) -> SockOffsets {
        let o = |s: &str, m: &str| self.member_offset(s, m).unwrap_or(OFFSET_NONE);
        SockOffsets {
            task_files: o("task_struct", "files"),
            files_fdt: o("files_struct", "fdt"),
            fdtable_fd: o("fdtable", "fd"),
            file_private_data: o("file", "private_data"),
            socket_type: o("socket", "type"),
            socket_sk: o("socket", "sk"),
            skc_family: o("sock_common", "skc_family"),
            skc_daddr: o("sock_common", "skc_daddr"),
            skc_rcv_saddr: o("sock_common", "skc_rcv_saddr"),
            skc_dport: o("sock_common", "skc_dport"),
            skc_num: o("sock_common", "skc_num"),
            skc_v6_daddr: o("sock_common", "skc_v6_daddr"),
            skc_v6_rcv_saddr: o("sock_common", "skc_v6_rcv_saddr"),
            file_f_mode: o("file", "f_mode"),
        }
    }

    /// Offsets for the BPF LSM exec program and the fexit open program.
    pub fn hook_offsets(&self) -> HookOffsets {
        let o = |s: &str, m: &str| self.member_offset(s, m).unwrap_or(OFFSET_NONE);
        HookOffsets {
            bprm_p: o("linux_binprm", "p"),
            bprm_argc: o("linux_binprm", "argc"),
            bprm_envc: o("linux_binprm", "envc"),
            bprm_exec: o("linux_binprm", "exec"),
            bprm_filename: o("linux_binprm", "filename"),
            task_stack: o("task_struct", "stack"),
        }
    }

    /// The offsets the probes need; missing members are `OFFSET_NONE`.
    pub fn kernel_offsets(&self) -> KernelOffsets {
        let o = |s: &str, m: &str| self.member_offset(s, m).unwrap_or(OFFSET_NONE);
        KernelOffsets {
            task_pid: o("task_struct", "pid"),
            task_tgid: o("task_struct", "tgid"),
            task_real_parent: o("task_struct", "real_parent"),
            task_exit_code: o("task_struct", "exit_code"),
            task_loginuid: o("task_struct", "loginuid"),
            task_signal: o("task_struct", "signal"),
            signal_tty: o("signal_struct", "tty"),
            tty_index: o("tty_struct", "index"),
            tty_driver: o("tty_struct", "driver"),
            driver_major: o("tty_driver", "major"),
            driver_minor_start: o("tty_driver", "minor_start"),
            task_mm: o("task_struct", "mm"),
            mm_arg_start: o("mm_struct", "arg_start"),
            mm_arg_end: o("mm_struct", "arg_end"),
            task_comm: o("task_struct", "comm"),
            cred_uid: o("cred", "uid"),
            cred_gid: o("cred", "gid"),
        }
    }
}

/// How many of the offsets in `v` (a `#[repr(C)]` struct of `u32` fields,
/// padding zero) were found in the kernel's BTF: (resolved, total).
pub fn resolved<T: Copy>(v: &T) -> (usize, usize) {
    const { assert!(std::mem::size_of::<T>().is_multiple_of(4) && std::mem::align_of::<T>() >= 4) };
    // SAFETY: T is a plain struct of u32 fields (size and alignment checked above).
    let words = unsafe { std::slice::from_raw_parts((v as *const T).cast::<u32>(), std::mem::size_of::<T>() / 4) };
    (words.iter().filter(|w| **w != OFFSET_NONE).count(), words.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolved_counts_the_offsets_found() {
        #[derive(Clone, Copy)]
        #[repr(C)]
        struct Three {
            a: u32,
            b: u32,
            _pad: u32,
        }
        let v = Three { a: 8, b: OFFSET_NONE, _pad: 0 };
        assert_eq!((v.a, v.b), (8, OFFSET_NONE));
        assert_eq!(resolved(&v), (2, 3), "padding counts as resolved, OFFSET_NONE does not");
    }

    /// Build a tiny BTF blob: struct outer { int a; union { int b; int c; }; }.
    fn blob() -> Vec<u8> {
        let strings = b"\0int\0outer\0a\0b\0c\0".to_vec();
        let mut types = Vec::new();
        let push = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
        // id 1: int, size 4
        push(&mut types, 1);
        push(&mut types, 1 << 24);
        push(&mut types, 4);
        push(&mut types, 32);
        // id 2: anonymous union { b: int @0, c: int @0 }
        push(&mut types, 0);
        push(&mut types, (5 << 24) | 2);
        push(&mut types, 4);
        for n in [13u32, 15] {
            push(&mut types, n);
            push(&mut types, 1);
            push(&mut types, 0);
        }
        // id 3: struct outer { a @0, <anon> @32 bits }
        push(&mut types, 5);
        push(&mut types, (4 << 24) | 2);
        push(&mut types, 8);
        push(&mut types, 11);
        push(&mut types, 1);
        push(&mut types, 0);
        push(&mut types, 0);
        push(&mut types, 2);
        push(&mut types, 32);
        let mut out = Vec::new();
        out.extend_from_slice(&0xeb9fu16.to_le_bytes());
        out.push(1);
        out.push(0);
        push(&mut out, 24);
        push(&mut out, 0);
        push(&mut out, types.len() as u32);
        push(&mut out, types.len() as u32);
        push(&mut out, strings.len() as u32);
        out.extend_from_slice(&types);
        out.extend_from_slice(&strings);
        out
    }

    #[test]
    fn finds_direct_and_anonymous_members() {
        let btf = Btf::parse(&blob()).expect("parse");
        assert_eq!(btf.member_offset("outer", "a"), Some(0));
        assert_eq!(btf.member_offset("outer", "c"), Some(4));
        assert_eq!(btf.member_offset("outer", "zzz"), None);
        assert_eq!(btf.member_offset("nope", "a"), None);
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let b = blob();
        for cut in 0..b.len() {
            let _ = Btf::parse(&b[..cut]);
        }
        assert!(matches!(Btf::parse(&[0x9f, 0xeb, 1]), Err(BtfError::Truncated(_))));
        assert!(matches!(Btf::parse(&[0, 0, 0, 0]), Err(BtfError::Magic(0))));
    }

    #[test]
    fn running_kernel_has_task_offsets() {
        // Every kernel Lanner supports (5.10+) ships BTF; this VM does too.
        let btf = Btf::from_sys_fs().expect("kernel BTF at /sys/kernel/btf/vmlinux");
        let o = btf.kernel_offsets();
        assert_ne!(o.task_pid, OFFSET_NONE);
        assert_ne!(o.task_tgid, OFFSET_NONE);
        assert_ne!(o.task_real_parent, OFFSET_NONE);
        assert_eq!(o.task_tgid, o.task_pid + 4, "pid and tgid are adjacent in task_struct");
        let e = btf.exe_offsets();
        // Stable layouts: struct path { mnt; dentry }, qstr { hash, len; name }, upid { nr; ns }.
        assert_eq!(btf.member_offset("path", "dentry"), Some(8));
        assert_eq!(btf.member_offset("qstr", "name"), Some(8));
        assert_eq!(btf.struct_size("upid"), Some(16));
        for (name, v) in [
            ("mm_exe_file", e.mm_exe_file),
            ("dentry_d_parent", e.dentry_d_parent),
            ("mount_mnt_parent", e.mount_mnt_parent),
            ("cred_cap_effective", e.cred_cap_effective),
            ("inode_ctime_sec", e.inode_ctime_sec),
            ("inode_mtime_nsec", e.inode_mtime_nsec),
            ("signal_pids", e.signal_pids),
            ("ovl_upperdentry", e.ovl_upperdentry),
            ("fs_pwd", e.fs_pwd),
            ("dentry_d_inode", e.dentry_d_inode),
            ("sb_s_dev", e.sb_s_dev),
            ("socket_type", btf.sock_offsets().socket_type),
            ("fdtable_fd", btf.sock_offsets().fdtable_fd),
            ("socket_sk", btf.sock_offsets().socket_sk),
            ("skc_family", btf.sock_offsets().skc_family),
            ("skc_dport", btf.sock_offsets().skc_dport),
            ("skc_rcv_saddr", btf.sock_offsets().skc_rcv_saddr),
            ("skc_num", btf.sock_offsets().skc_num),
            ("skc_v6_daddr", btf.sock_offsets().skc_v6_daddr),
            ("skc_v6_rcv_saddr", btf.sock_offsets().skc_v6_rcv_saddr),
            ("file_f_mode", btf.sock_offsets().file_f_mode),
        ] {
            assert_ne!(v, OFFSET_NONE, "{name}");
        }
    }

    #[test]
    fn running_kernel_has_the_v1_cgroup_chain() {
        // /proc/cgroups lists the controllers in `enum cgroup_subsys_id` order.
        let text = std::fs::read_to_string("/proc/cgroups").expect("/proc/cgroups");
        let order: Vec<&str> =
            text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split('\t').next()).collect();
        let btf = Btf::from_sys_fs().expect("kernel BTF");
        for (i, name) in order.iter().enumerate() {
            let c = btf.cgroup_offsets(Some(name));
            assert_eq!(c.v1_subsys, i as u32, "{name}");
            assert_ne!(c.kn_id, OFFSET_NONE);
        }
        assert_eq!(btf.cgroup_offsets(Some("no_such_controller")).v1_subsys, OFFSET_NONE);
        // Without a controller only the v2 chain (the header's cgroup id as plain loads).
        let v2 = btf.cgroup_offsets(None);
        assert_eq!(v2.v1_subsys, OFFSET_NONE);
        assert!([v2.task_cgroups, v2.css_set_dfl_cgrp, v2.cgroup_kn, v2.kn_id].iter().all(|&o| o != OFFSET_NONE));
        assert_eq!(btf.enum_value("no_such_enumerator_xyz"), None);
    }
}
