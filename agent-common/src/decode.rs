//! Pure decoding of ring-buffer records into typed, owned events.
//!
//! `decode` takes the raw bytes of one record and returns an [`Event`] or a
//! [`DecodeError`]; any byte string is handled without panicking (fuzzed by
//! `fuzz/fuzz_targets/decode.rs`, unit-tested below). Strings are taken up to
//! their recorded length and converted lossily: the kernel gives bytes, not UTF-8.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use crate::{comm::Comm, event::*, exe::ExecInfo};

mod block;
mod env;
mod image;
pub use env::EnvItems;
pub use image::ExecImage;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {got} bytes is shorter than its {what} ({need} bytes)")]
    TooShort { what: &'static str, need: usize, got: usize },
    #[error("unknown event kind {0}")]
    UnknownKind(u16),
    #[error("unknown syscall id {0}")]
    UnknownSyscall(u16),
    #[error("{field} length {len} exceeds its buffer of {max} bytes")]
    BadLength { field: &'static str, len: usize, max: usize },
}

/// Fields every event carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Header {
    pub ts_boot_ns: u64,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub gid: u32,
    pub cgroup_id: u64,
    /// The task's cgroup in the agent's chosen v1 hierarchy (hybrid hosts); 0: none.
    #[serde(skip_serializing_if = "is_zero")]
    pub cgroup_v1_id: u64,
    pub comm: Comm,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exec {
    #[serde(flatten)]
    pub hdr: Header,
    /// `execve` or `execveat` (Falco's two event types).
    pub syscall: &'static str,
    pub ppid: u32,
    pub ret: i32,
    pub loginuid: Option<u32>,
    pub tty: u32,
    pub filename: String,
    pub argv: Vec<String>,
    pub args_truncated: bool,
    pub filename_truncated: bool,
    /// A user-memory read failed: argv or filename may be incomplete.
    pub read_failed: bool,
    /// The resolved executable, credentials, ids and environment (successful exec).
    pub image: Option<Box<ExecImage>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Open {
    #[serde(flatten)]
    pub hdr: Header,
    pub syscall: &'static str,
    pub ret: i32,
    pub dirfd: i32,
    pub flags: u32,
    pub mode: u32,
    pub path: String,
    pub path_truncated: bool,
    pub read_failed: bool,
    /// What the kernel read about the opened file (while a rule needs it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<OpenFile>,
}

/// `OpenEvent::facts`, `dev` and `ino` of a successful open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OpenFile {
    /// The kernel's device number (`MKDEV`: major << 20 | minor).
    pub dev: u32,
    pub ino: u64,
    pub created: bool,
    pub upper_layer: bool,
    pub lower_layer: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Connect {
    #[serde(flatten)]
    pub hdr: Header,
    pub ret: i32,
    pub fd: i32,
    pub family: &'static str,
    pub addr: Option<IpAddr>,
    pub port: u16,
    pub unix_path: Option<String>,
    /// `SOCK_STREAM` 1, `SOCK_DGRAM` 2..., 0 when the socket could not be read.
    pub sock_type: u16,
    /// The socket's local address and port after the connect (the client side),
    /// when the kernel had bound one.
    pub local: Option<(IpAddr, u16)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setuid {
    #[serde(flatten)]
    pub hdr: Header,
    pub syscall: &'static str,
    pub ret: i32,
    pub ruid: Option<u32>,
    pub euid: Option<u32>,
    pub suid: Option<u32>,
    /// The header's credentials are the caller's after the call (`FLAG_CREDS_AFTER`:
    /// taken at exit); else before it (taken at entry).
    pub creds_after: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fork {
    #[serde(flatten)]
    pub hdr: Header,
    pub child_pid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exit {
    #[serde(flatten)]
    pub hdr: Header,
    pub exit_code: i32,
}

/// A path syscall (see [`FileEvent`] for which argument goes where).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct File {
    #[serde(flatten)]
    pub hdr: Header,
    /// Falco's event type name (`symlinkat`, `unlink`...).
    pub syscall: &'static str,
    pub ret: i32,
    pub dirfd: i32,
    pub dirfd2: i32,
    pub flags: u32,
    pub mode: u32,
    pub path: String,
    pub path2: String,
    /// The short third string (mount's filesystem type), empty when none.
    pub aux: String,
    pub path_truncated: bool,
    pub read_failed: bool,
}

/// What the fd of a dup, accept, bind or listen refers to (see [`FdInfo`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SysFd {
    /// The fd number described.
    pub fd: i32,
    /// `ftype::*` (file type bits of the inode), 0 when the fd could not be read.
    pub ftype: u16,
    /// IPv4/IPv6 socket: its type (`SOCK_STREAM` 1, `SOCK_DGRAM` 2) and both endpoints.
    pub sock_type: u16,
    pub local: Option<(IpAddr, u16)>,
    pub remote: Option<(IpAddr, u16)>,
    /// Socket address family (0 when not a socket).
    pub family: u16,
}

impl SysFd {
    fn from_raw(f: &FdInfo) -> Option<SysFd> {
        if f.fd < 0 {
            return None;
        }
        let ip = |a: &[u8; 16]| -> Option<IpAddr> {
            match f.family {
                AF_INET => Some(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
                AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(*a))),
                _ => None,
            }
        };
        Some(SysFd {
            fd: f.fd,
            ftype: f.ftype,
            sock_type: f.sock_type,
            local: ip(&f.laddr).map(|a| (a, f.lport)),
            remote: ip(&f.raddr).map(|a| (a, f.rport)),
            family: f.family,
        })
    }
}

/// A syscall with numeric arguments and at most one string (see [`SysEvent`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sys {
    #[serde(flatten)]
    pub hdr: Header,
    pub syscall: &'static str,
    pub ret: i64,
    pub args: [u64; 6],
    /// The string argument, if the syscall has one.
    pub str: Option<String>,
    /// The fd's type and endpoints ([`sys::has_fd_info`] syscalls).
    pub fd: Option<SysFd>,
    pub read_failed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Exec(Exec),
    Open(Open),
    Connect(Connect),
    Setuid(Setuid),
    Fork(Fork),
    Exit(Exit),
    File(File),
    Sys(Sys),
}

impl Event {
    pub fn header(&self) -> &Header {
        match self {
            Event::Exec(e) => &e.hdr,
            Event::Open(e) => &e.hdr,
            Event::Connect(e) => &e.hdr,
            Event::Setuid(e) => &e.hdr,
            Event::Fork(e) => &e.hdr,
            Event::Exit(e) => &e.hdr,
            Event::File(e) => &e.hdr,
            Event::Sys(e) => &e.hdr,
        }
    }

    pub fn kind(&self) -> EventKind {
        match self {
            Event::Exec(_) => EventKind::Exec,
            Event::Open(_) => EventKind::Open,
            Event::Connect(_) => EventKind::Connect,
            Event::Setuid(_) => EventKind::Setuid,
            Event::Fork(_) => EventKind::Fork,
            Event::Exit(_) => EventKind::Exit,
            Event::File(_) => EventKind::File,
            Event::Sys(_) => EventKind::Sys,
        }
    }
}

fn read<T: Copy>(buf: &[u8], what: &'static str) -> Result<T, DecodeError> {
    let need = core::mem::size_of::<T>();
    if buf.len() < need {
        return Err(DecodeError::TooShort { what, need, got: buf.len() });
    }
    // SAFETY: length checked; T is a repr(C) plain-old-data record (any bit
    // pattern is valid) and read_unaligned has no alignment requirement.
    Ok(unsafe { core::ptr::read_unaligned(buf.as_ptr() as *const T) })
}

/// A record the probe may cut after the used part of its trailing buffer
/// (opens are sent with only `path_len + 1` path bytes): at least `fixed`
/// bytes must be present; the missing tail reads as zeros. Returns the record
/// and how many bytes of the trailing buffer arrived.
fn read_var<T: Copy>(buf: &[u8], what: &'static str, fixed: usize) -> Result<(T, usize), DecodeError> {
    let full = core::mem::size_of::<T>();
    if buf.len() < fixed {
        return Err(DecodeError::TooShort { what, need: fixed, got: buf.len() });
    }
    let n = buf.len().min(full);
    let mut v = core::mem::MaybeUninit::<T>::zeroed();
    // SAFETY: T is a repr(C) plain-old-data record (all-zero and any bit
    // pattern are valid); at most size_of::<T>() bytes are copied into it.
    unsafe {
        core::ptr::copy_nonoverlapping(buf.as_ptr(), v.as_mut_ptr() as *mut u8, n);
        Ok((v.assume_init(), n - fixed))
    }
}

/// The trailing buffer of a record `T` sent cut after its used part (see
/// [`read_var`]): the bytes after the first `fixed`, at most up to
/// `size_of::<T>()`; an error when fewer than `fixed` bytes arrived. The
/// fixed fields are then read in place with [`field!`].
fn var_tail<'a, T>(buf: &'a [u8], what: &'static str, fixed: usize) -> Result<&'a [u8], DecodeError> {
    if buf.len() < fixed {
        return Err(DecodeError::TooShort { what, need: fixed, got: buf.len() });
    }
    Ok(&buf[fixed..buf.len().min(core::mem::size_of::<T>())])
}

/// One field of a `#[repr(C)]` record `$T` read in place from `$buf`, which
/// the caller has checked holds at least the record's fixed part.
macro_rules! field {
    ($buf:expr, $T:ty, $f:ident) => {{
        let off = core::mem::offset_of!($T, $f);
        let bytes = &$buf[off..off + size_of_field(|t: &$T| &t.$f)];
        // SAFETY: `bytes` spans exactly the field (bounds-checked slice); the
        // field is plain data (any bit pattern valid); unaligned read.
        unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast()) }
    }};
}

/// `size_of` of the field a projection names (for [`field!`]).
const fn size_of_field<T, F>(_: fn(&T) -> &F) -> usize {
    core::mem::size_of::<F>()
}

fn string(bytes: &[u8], len: usize, field: &'static str) -> Result<String, DecodeError> {
    if len > bytes.len() {
        return Err(DecodeError::BadLength { field, len, max: bytes.len() });
    }
    Ok(cstr(&bytes[..len]))
}

fn cstr(bytes: &[u8]) -> String {
    text_until_nul(bytes).into_owned()
}

/// The bytes up to the first NUL (all of them without one) as text, invalid
/// UTF-8 replaced. The strict check first: it is much faster than the lossy
/// decoder on the usual valid input. Shared with [`crate::comm::Comm`].
pub(crate) fn text_until_nul(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let b = &bytes[..bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len())];
    match std::str::from_utf8(b) {
        Ok(s) => s.into(),
        Err(_) => String::from_utf8_lossy(b),
    }
}

fn header(h: &EventHeader) -> Header {
    Header {
        ts_boot_ns: h.ts_boot_ns,
        pid: h.tgid,
        tid: h.tid,
        uid: h.uid,
        gid: h.gid,
        cgroup_id: h.cgroup_id,
        cgroup_v1_id: h.cgroup_v1_id,
        comm: Comm::from_kernel(&h.comm),
    }
}

/// prctl's `PR_SET_NAME` (its second argument is the new name, copied as the string).
pub const PR_SET_NAME: u64 = 15;

fn opt_uid(v: u32) -> Option<u32> {
    (v != UID_UNCHANGED).then_some(v)
}

/// Split NUL-separated argv bytes.
fn split_args(bytes: &[u8], len: usize) -> Result<Vec<String>, DecodeError> {
    if len > bytes.len() {
        return Err(DecodeError::BadLength { field: "args", len, max: bytes.len() });
    }
    let mut used = &bytes[..len];
    if used.last() == Some(&0) {
        used = &used[..used.len() - 1];
    }
    if used.is_empty() {
        return Ok(Vec::new());
    }
    Ok(used.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect())
}

/// Decode one ring-buffer record.
pub fn decode(buf: &[u8]) -> Result<Event, DecodeError> {
    let h: EventHeader = read(buf, "header")?;
    let kind = EventKind::from_u16(h.kind).ok_or(DecodeError::UnknownKind(h.kind))?;
    let flags = h.flags;
    Ok(match kind {
        EventKind::Exec => {
            // Fixed fields read in place; the packed tail's sections sliced
            // from the record (only their used bytes arrived).
            let tail = var_tail::<ExecEvent>(buf, "exec event", EXEC_FIXED_LEN)?;
            let info: ExecInfo = field!(buf, ExecEvent, info);
            let (args_len, filename_len): (u16, u16) =
                (field!(buf, ExecEvent, args_len), field!(buf, ExecEvent, filename_len));
            let s = ExecSections::new(args_len, info.env_len, filename_len, info.exe_path_len, info.cwd_len);
            let block = flags & FLAG_EXEC_BLOCK != 0;
            let limits = [
                ("args", &s.args, if block { ARGS_LEN } else { ARGS_LEN + ARG_MAX_ONE - 1 }),
                ("env", &s.env, crate::exe::ENV_LEN),
                ("filename", &s.filename, PATH_LEN - 1),
                ("exe_path", &s.exe_path, crate::exe::EXE_PATH_BUF),
                ("cwd", &s.cwd, crate::exe::EXE_PATH_BUF),
            ];
            for (field, r, most) in limits {
                let max = most.min(tail.len().saturating_sub(r.start));
                if r.len() > max {
                    return Err(DecodeError::BadLength { field, len: r.len(), max });
                }
            }
            let hdr: EventHeader = field!(buf, ExecEvent, hdr);
            let loginuid: u32 = field!(buf, ExecEvent, loginuid);
            let (argv, args_truncated, env) = if block {
                let (argc, envc): (u16, u16) = (field!(buf, ExecEvent, args_count), field!(buf, ExecEvent, env_count));
                let b = block::split(&tail[s.args], &tail[s.env], argc, envc, flags & FLAG_EXEC_BLOCK_GAP != 0);
                (b.argv, b.args_truncated, image::Env::Split(b.env, b.env_truncated))
            } else {
                let argv = split_args(&tail[s.args.clone()], s.args.len())?;
                (argv, flags & FLAG_ARGS_TRUNCATED != 0, image::Env::Bytes(&tail[s.env]))
            };
            Event::Exec(Exec {
                hdr: header(&hdr),
                syscall: if hdr.subtype == EXEC_EXECVEAT { "execveat" } else { "execve" },
                ppid: field!(buf, ExecEvent, ppid),
                ret: field!(buf, ExecEvent, ret),
                loginuid: (loginuid != u32::MAX).then_some(loginuid),
                tty: field!(buf, ExecEvent, tty),
                filename: string(&tail[s.filename.clone()], s.filename.len(), "filename")?,
                argv,
                args_truncated,
                filename_truncated: flags & FLAG_PATH_TRUNCATED != 0,
                read_failed: flags & FLAG_READ_FAILED != 0,
                image: image::image(&info, env, &tail[s.exe_path], &tail[s.cwd])?.map(Box::new),
            })
        }
        EventKind::Open => {
            // The most frequent record: its fields are read in place and the
            // path sliced from the buffer, without copying the whole 600-byte
            // record into a zeroed struct first (`read_var`).
            let path = var_tail::<OpenEvent>(buf, "open event", OPEN_FIXED_LEN)?;
            let path_len: u16 = field!(buf, OpenEvent, path_len);
            Event::Open(Open {
                hdr: header(&h),
                syscall: match h.subtype {
                    crate::OPEN_OPENAT2 => "openat2",
                    crate::OPEN_OPEN => "open",
                    _ => "openat",
                },
                ret: field!(buf, OpenEvent, ret),
                dirfd: field!(buf, OpenEvent, dirfd),
                flags: field!(buf, OpenEvent, flags),
                mode: field!(buf, OpenEvent, mode),
                path: string(path, path_len as usize, "path")?,
                path_truncated: flags & FLAG_PATH_TRUNCATED != 0,
                read_failed: flags & FLAG_READ_FAILED != 0,
                file: {
                    let facts: u16 = field!(buf, OpenEvent, facts);
                    (facts & crate::OPEN_FACTS_READ != 0).then(|| OpenFile {
                        dev: field!(buf, OpenEvent, dev),
                        ino: field!(buf, OpenEvent, ino),
                        created: facts & crate::OPEN_FACT_CREATED != 0,
                        upper_layer: facts & crate::OPEN_FACT_UPPER != 0,
                        lower_layer: facts & crate::OPEN_FACT_LOWER != 0,
                    })
                },
            })
        }
        EventKind::Connect => {
            let e: ConnectEvent = read(buf, "connect event")?;
            let (family, addr, unix_path) = match e.family {
                AF_INET => {
                    let a = Ipv4Addr::new(e.addr[0], e.addr[1], e.addr[2], e.addr[3]);
                    ("inet", Some(IpAddr::V4(a)), None)
                }
                AF_INET6 => ("inet6", Some(IpAddr::V6(Ipv6Addr::from(e.addr))), None),
                AF_UNIX => ("unix", None, Some(string(&e.unix_path, e.path_len as usize, "unix_path")?)),
                other => return Err(DecodeError::BadLength { field: "family", len: other as usize, max: 10 }),
            };
            Event::Connect(Connect {
                hdr: header(&e.hdr),
                ret: e.ret,
                fd: e.fd,
                family,
                addr,
                port: e.port,
                unix_path,
                sock_type: e.sock_type,
                local: match (e.family, e.lport) {
                    (_, 0) => None,
                    (AF_INET, p) => {
                        Some((IpAddr::V4(Ipv4Addr::new(e.laddr[0], e.laddr[1], e.laddr[2], e.laddr[3])), p))
                    }
                    (AF_INET6, p) => Some((IpAddr::V6(Ipv6Addr::from(e.laddr)), p)),
                    _ => None,
                },
            })
        }
        EventKind::Setuid => {
            let e: SetuidEvent = read(buf, "setuid event")?;
            let syscall = match e.hdr.subtype {
                SETUID_SETREUID => "setreuid",
                SETUID_SETRESUID => "setresuid",
                _ => "setuid",
            };
            Event::Setuid(Setuid {
                hdr: header(&e.hdr),
                syscall,
                ret: e.ret,
                ruid: opt_uid(e.ruid),
                euid: opt_uid(e.euid),
                suid: opt_uid(e.suid),
                creds_after: e.hdr.flags & FLAG_CREDS_AFTER != 0,
            })
        }
        EventKind::Fork => {
            let e: ForkEvent = read(buf, "fork event")?;
            Event::Fork(Fork { hdr: header(&e.hdr), child_pid: e.child_tgid })
        }
        EventKind::Exit => {
            let e: ExitEvent = read(buf, "exit event")?;
            Event::Exit(Exit { hdr: header(&e.hdr), exit_code: e.exit_code })
        }
        EventKind::File => {
            let (e, tail): (FileEvent, usize) = read_var(buf, "file event", FILE_FIXED_LEN)?;
            if e.path2_len as usize > tail {
                return Err(DecodeError::BadLength { field: "path2", len: e.path2_len as usize, max: tail });
            }
            let syscall = sys::name(e.hdr.subtype).ok_or(DecodeError::UnknownSyscall(e.hdr.subtype))?;
            Event::File(File {
                hdr: header(&e.hdr),
                syscall,
                ret: e.ret,
                dirfd: e.dirfd,
                dirfd2: e.dirfd2,
                flags: e.flags,
                mode: e.mode,
                path: string(&e.path, e.path_len as usize, "path")?,
                path2: string(&e.path2, e.path2_len as usize, "path2")?,
                aux: cstr(&e.aux),
                path_truncated: flags & FLAG_PATH_TRUNCATED != 0,
                read_failed: flags & FLAG_READ_FAILED != 0,
            })
        }
        EventKind::Sys => {
            let e: SysEvent = read(buf, "sys event")?;
            let syscall = sys::name(e.hdr.subtype).ok_or(DecodeError::UnknownSyscall(e.hdr.subtype))?;
            let has_str =
                matches!(e.hdr.subtype, sys::INIT_MODULE | sys::FINIT_MODULE | sys::DELETE_MODULE | sys::MEMFD_CREATE)
                    || (e.hdr.subtype == sys::PRCTL && e.args[0] == PR_SET_NAME);
            Event::Sys(Sys {
                hdr: header(&e.hdr),
                syscall,
                ret: e.ret,
                args: e.args,
                str: if has_str { Some(string(&e.str, e.str_len as usize, "str")?) } else { None },
                fd: if sys::has_fd_info(e.hdr.subtype) { SysFd::from_raw(&e.fd) } else { None },
                read_failed: flags & FLAG_READ_FAILED != 0,
            })
        }
    })
}

/// Encode helpers for tests and fuzz seeds: the raw bytes of a record.
pub fn as_bytes<T: Copy>(v: &T) -> Vec<u8> {
    // SAFETY: T is a repr(C) POD record; we only read its bytes.
    unsafe { core::slice::from_raw_parts(v as *const T as *const u8, core::mem::size_of::<T>()).to_vec() }
}

#[cfg(test)]
mod tests;
