//! The event types Lanner captures ([`EvtType`]), one variant per Falco event name, with
//! the syscall aliases Falco rules may write, and the per-type bit mask. Kept apart from
//! the event model (`event.rs`) because the table grows with every probe family.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// Bit set over [`EvtType::index`] (one bit per captured type).
pub type TypeMask = u64;

/// Declares [`EvtType`] with its Falco names in one table.
macro_rules! evt_types {
    ($($v:ident = $i:literal => $name:literal),* $(,)?) => {
        /// The kinds of event Lanner captures. Display/parse use Falco's names.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum EvtType {
            $($v = $i),*
        }

        impl EvtType {
            /// Every captured type, in index order.
            pub const ALL: [EvtType; EvtType::COUNT] = [$(EvtType::$v),*];

            /// Falco's canonical name (`evt.type` value).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EvtType::$v => $name),*
                }
            }

            /// The type with exactly this canonical name.
            fn from_canonical(name: &str) -> Option<EvtType> {
                match name {
                    $($name => Some(EvtType::$v),)*
                    _ => None,
                }
            }
        }
    };
}

evt_types! {
    Execve = 0 => "execve",
    Openat = 1 => "openat",
    Connect = 2 => "connect",
    Setuid = 3 => "setuid",
    Clone = 4 => "clone",
    Procexit = 5 => "procexit",
    Symlink = 6 => "symlink",
    Symlinkat = 7 => "symlinkat",
    Link = 8 => "link",
    Linkat = 9 => "linkat",
    Unlink = 10 => "unlink",
    Unlinkat = 11 => "unlinkat",
    Rename = 12 => "rename",
    Renameat = 13 => "renameat",
    Renameat2 = 14 => "renameat2",
    Mkdir = 15 => "mkdir",
    Mkdirat = 16 => "mkdirat",
    Rmdir = 17 => "rmdir",
    Chmod = 18 => "chmod",
    Fchmod = 19 => "fchmod",
    Fchmodat = 20 => "fchmodat",
    Ptrace = 21 => "ptrace",
    Socket = 22 => "socket",
    InitModule = 23 => "init_module",
    FinitModule = 24 => "finit_module",
    DeleteModule = 25 => "delete_module",
    MemfdCreate = 26 => "memfd_create",
    Unshare = 27 => "unshare",
    Setns = 28 => "setns",
    Mount = 29 => "mount",
    Umount2 = 30 => "umount2",
    Bpf = 31 => "bpf",
    Dup = 32 => "dup",
    Dup2 = 33 => "dup2",
    Dup3 = 34 => "dup3",
    Chown = 35 => "chown",
    Lchown = 36 => "lchown",
    Fchown = 37 => "fchown",
    Fchownat = 38 => "fchownat",
    Creat = 39 => "creat",
    Userfaultfd = 40 => "userfaultfd",
    Bind = 41 => "bind",
    Listen = 42 => "listen",
    Accept = 43 => "accept",
    Accept4 = 44 => "accept4",
    Capset = 45 => "capset",
    Setgid = 46 => "setgid",
    Setresgid = 47 => "setresgid",
    Prctl = 48 => "prctl",
    Execveat = 49 => "execveat",
    ProcessVmReadv = 50 => "process_vm_readv",
    ProcessVmWritev = 51 => "process_vm_writev",
    OpenByHandleAt = 52 => "open_by_handle_at",
    IoUringSetup = 53 => "io_uring_setup",
    Kill = 54 => "kill",
    Chroot = 55 => "chroot",
}

const _: () = assert!(EvtType::COUNT <= TypeMask::BITS as usize);

impl EvtType {
    /// Number of captured types (size of per-type tables).
    pub const COUNT: usize = 56;

    /// Index into per-type tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// This type's bit in a [`TypeMask`].
    pub fn bit(self) -> TypeMask {
        1 << self.index()
    }

    /// Parse a Falco event-type name, accepting syscall aliases that Lanner reports under
    /// one captured type (`open`/`openat2` are reported as `openat`, `fork`/`vfork`/`clone3`
    /// as `clone`). `execveat` is its own type, as in Falco (`spawned_process` is
    /// `evt.type in (execve, execveat)`). Returns `None` for names Falco knows but
    /// Lanner does not capture (e.g. `sendto`).
    pub fn from_falco_name(name: &str) -> Option<EvtType> {
        Some(match name {
            "open" | "openat2" => EvtType::Openat,
            "clone3" | "fork" | "vfork" => EvtType::Clone,
            other => return EvtType::from_canonical(other),
        })
    }
}

impl fmt::Display for EvtType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an event type name that is not captured by Lanner.
#[derive(Debug, thiserror::Error)]
#[error("unknown event type '{0}' (expected one of the event types Lanner captures, e.g. execve, openat, connect)")]
pub struct UnknownEvtType(pub String);

impl FromStr for EvtType {
    type Err = UnknownEvtType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EvtType::from_falco_name(s).ok_or_else(|| UnknownEvtType(s.to_string()))
    }
}

impl<'de> Deserialize<'de> for EvtType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
