//! Decoding of [`ExecInfo`]: the executable's resolved path and inode facts,
//! capability sets, session and pid-namespace ids, start time, environment.
use serde::Serialize;

use super::{DecodeError, EnvItems};
use crate::exe::*;

/// What a successful exec reports about its image and task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecImage {
    /// `mm->exe_file` as `d_path` shows it (`/memfd:x (deleted)` for a memfd).
    pub exe_path: Option<String>,
    pub exe_path_truncated: bool,
    pub exe_ino: u64,
    pub exe_ctime_ns: u64,
    pub exe_mtime_ns: u64,
    pub exe_mode: u16,
    pub exe_uid: u32,
    pub exe_gid: u32,
    /// A pseudo file whose name starts with `memfd:`.
    pub exe_memfd: bool,
    pub exe_upper_layer: bool,
    pub exe_lower_layer: bool,
    pub cap_inheritable: u64,
    pub cap_permitted: u64,
    pub cap_effective: u64,
    pub fsuid: u32,
    pub fsgid: u32,
    pub sid: u32,
    pub vpid: u32,
    pub vtid: u32,
    pub vpgid: u32,
    pub pgid: u32,
    pub start_boot_ns: u64,
    /// The root directory's (device, inode) as the kernel has them; `None` when unread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<(u32, u64)>,
    pub env: EnvItems,
    pub env_truncated: bool,
    /// The working directory at exec, with a trailing `/` as Falco shows it.
    pub cwd: Option<String>,
    /// The open-files soft limit (`RLIMIT_NOFILE`); `None` when unread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fdlimit: Option<u32>,
}

/// The environment as the record carries it.
pub(super) enum Env<'a> {
    /// The env section, NUL-separated (`EXE_ENV_TRUNCATED` says whether it was cut).
    Bytes(&'a [u8]),
    /// Already split from an argv+environment block, and whether strings are missing.
    Split(Vec<String>, bool),
}

/// The image facts of `info`; `env`, `exe` and `cwd` are the record's
/// environment, executable-path and working-directory sections (their
/// lengths checked by the caller).
pub(super) fn image(info: &ExecInfo, env: Env, exe: &[u8], cwd: &[u8]) -> Result<Option<ExecImage>, DecodeError> {
    let f = info.exe_flags;
    if f & EXE_PRESENT == 0 && info.start_boot_ns == 0 {
        return Ok(None);
    }
    let leaf = exe.split(|&b| b == 0).next().unwrap_or_default();
    let (env, env_truncated) = match env {
        // Both ends of a long environment: the whole strings of each window.
        Env::Bytes(b) if f & EXE_ENV_ENDS != 0 && b.len() > ENV_HEAD => {
            (super::block::split(&b[..ENV_HEAD], &b[ENV_HEAD..], 0, u16::MAX, true).env.into_iter().collect(), true)
        }
        Env::Bytes(b) => (EnvItems::from_block(b), f & EXE_ENV_TRUNCATED != 0),
        Env::Split(v, cut) => (v.into_iter().collect(), cut),
    };
    Ok(Some(ExecImage {
        exe_path: exe_path(exe, exe.len(), f),
        exe_path_truncated: f & EXE_TRUNCATED != 0,
        exe_ino: info.exe_ino,
        exe_ctime_ns: info.exe_ctime_ns,
        exe_mtime_ns: info.exe_mtime_ns,
        exe_mode: info.exe_mode,
        exe_uid: info.exe_uid,
        exe_gid: info.exe_gid,
        exe_memfd: f & EXE_PSEUDO != 0 && leaf.starts_with(b"memfd:"),
        exe_upper_layer: f & EXE_UPPER_LAYER != 0,
        exe_lower_layer: f & EXE_LOWER_LAYER != 0,
        cap_inheritable: info.cap_inheritable,
        cap_permitted: info.cap_permitted,
        cap_effective: info.cap_effective,
        fsuid: info.fsuid,
        fsgid: info.fsgid,
        sid: info.sid,
        vpid: info.vpid,
        vtid: info.vtid,
        vpgid: info.vpgid,
        pgid: info.pgid,
        start_boot_ns: info.start_boot_ns,
        root: (info.root_ino != 0).then_some((info.root_dev, info.root_ino)),
        env,
        env_truncated,
        cwd: cwd_path(cwd, cwd.len(), info.cwd_flags),
        fdlimit: (f & EXE_FDLIMIT != 0).then_some(info.fdlimit),
    }))
}
