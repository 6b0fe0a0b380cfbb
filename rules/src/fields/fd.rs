//! File descriptors of events: files (path, open flags), inet sockets, unix sockets and pipes.
//!
//! `fd.name` is precomputed when the fd is built (for sockets Falco's
//! `cip:cport->sip:sport`), so the matcher only borrows it; fields are private to keep
//! the name consistent with the parts.

use std::net::IpAddr;

use serde::Deserialize;

use crate::fields::flags::parse_open_flags;

/// Layer-4 protocol of an inet socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum L4Proto {
    #[default]
    Tcp,
    Udp,
    Unknown,
}

impl L4Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            L4Proto::Tcp => "tcp",
            L4Proto::Udp => "udp",
            L4Proto::Unknown => "unknown",
        }
    }
}

/// What an fd refers to. The `name` (Falco's `fd.name`) is precomputed by the
/// constructors, so fields are private to keep it consistent.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "FdSpec")]
pub struct Fd {
    name: Box<str>,
    /// The path as the program passed it (`fd.nameraw`), when it differs from `name`.
    raw: Option<Box<str>>,
    num: Option<i64>,
    kind: FdKind,
    /// What the kernel read about an opened file, when a rule needed it.
    facts: Option<FileFacts>,
}

/// What the kernel reads about the file an open returned (only while a rule
/// needs it): device and inode, whether the open created it, its overlayfs layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileFacts {
    /// Device number as `stat(2)` gives it (`st_dev`: glibc's encoding of major and minor).
    pub dev: u64,
    pub ino: u64,
    pub created: bool,
    pub upper_layer: bool,
    pub lower_layer: bool,
}

impl FileFacts {
    /// From the kernel's `MKDEV` device (major << 20 | minor), as `stat(2)` encodes it.
    pub fn kernel_dev(kdev: u32) -> u64 {
        let (major, minor) = (u64::from(kdev >> 20), u64::from(kdev & 0xfffff));
        (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
    }
    /// `st_dev`'s major number (glibc's `major()`).
    pub fn major(&self) -> u64 {
        ((self.dev >> 8) & 0xfff) | ((self.dev >> 32) & !0xfff)
    }
    /// `st_dev`'s minor number (glibc's `minor()`).
    pub fn minor(&self) -> u64 {
        (self.dev & 0xff) | ((self.dev >> 12) & !0xff)
    }
}

/// The kind-specific part of an [`Fd`].
#[derive(Clone, Debug, PartialEq)]
pub enum FdKind {
    /// A file; `flags` are the raw `O_*` bits passed to open, `mode` the creation mode.
    File { flags: u32, mode: u32 },
    /// An IPv4/IPv6 socket. `sip:sport` is the server side (the connect target),
    /// `cip:cport` the client side when known.
    Inet { sip: IpAddr, sport: u16, cip: Option<IpAddr>, cport: Option<u16>, proto: L4Proto },
    /// A unix socket (path may be empty for abstract/unnamed sockets).
    Unix,
    /// A pipe or FIFO (`fd.name` as `/proc/PID/fd` shows it: `pipe:[inode]` or the FIFO's path).
    Pipe,
}

impl Fd {
    /// A file opened with raw `O_*` `flags`.
    pub fn file(path: impl Into<String>, flags: u32, mode: u32) -> Fd {
        Fd { name: path.into().into_boxed_str(), raw: None, num: None, kind: FdKind::File { flags, mode }, facts: None }
    }

    /// An inet socket. `fd.name` is `cip:cport->sip:sport`, or `sip:sport` when the
    /// client side is unknown (IPv6 addresses are not bracketed, as in Falco).
    pub fn inet(sip: IpAddr, sport: u16, client: Option<(IpAddr, u16)>, proto: L4Proto) -> Fd {
        let name = match client {
            Some((cip, cport)) => format!("{cip}:{cport}->{sip}:{sport}"),
            None => format!("{sip}:{sport}"),
        };
        Fd {
            name: name.into_boxed_str(),
            raw: None,
            num: None,
            kind: FdKind::Inet { sip, sport, cip: client.map(|c| c.0), cport: client.map(|c| c.1), proto },
            facts: None,
        }
    }

    /// A unix socket.
    pub fn unix(path: impl Into<String>) -> Fd {
        Fd { name: path.into().into_boxed_str(), raw: None, num: None, kind: FdKind::Unix, facts: None }
    }

    /// A pipe or FIFO.
    pub fn pipe(name: impl Into<String>) -> Fd {
        Fd { name: name.into().into_boxed_str(), raw: None, num: None, kind: FdKind::Pipe, facts: None }
    }

    /// Set the fd number (`fd.num`); when unset, open events use their return value.
    pub fn with_num(mut self, num: i64) -> Fd {
        self.num = Some(num);
        self
    }

    /// Keep the path as the program passed it (`fd.nameraw`) when `name` was made absolute.
    /// Copies `raw` only when it differs (the common absolute path costs no allocation).
    pub fn with_raw_name(mut self, raw: &str) -> Fd {
        self.raw = (raw != &*self.name).then(|| raw.into());
        self
    }

    /// Attach what the kernel read about the opened file.
    pub fn with_facts(mut self, facts: FileFacts) -> Fd {
        self.facts = Some(facts);
        self
    }

    /// What the kernel read about the opened file, if it did.
    pub fn facts(&self) -> Option<&FileFacts> {
        self.facts.as_ref()
    }

    /// `fd.name`.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// `fd.nameraw`: the path as passed (for sockets and unchanged paths, `fd.name`).
    pub fn name_raw(&self) -> &str {
        self.raw.as_deref().unwrap_or(&self.name)
    }
    pub fn num(&self) -> Option<i64> {
        self.num
    }
    pub fn kind(&self) -> &FdKind {
        &self.kind
    }
    /// Open flags for files, `None` for sockets.
    pub fn flags(&self) -> Option<u32> {
        match self.kind {
            FdKind::File { flags, .. } => Some(flags),
            _ => None,
        }
    }
    /// A file's creation mode (0 unless the open could create it).
    pub fn mode(&self) -> Option<u32> {
        match self.kind {
            FdKind::File { mode, .. } => Some(mode),
            _ => None,
        }
    }
    /// `fd.typechar`: `f`, `4`, `6`, `u` or `p`.
    pub fn typechar(&self) -> &'static str {
        match &self.kind {
            FdKind::File { .. } => "f",
            FdKind::Inet { sip: IpAddr::V4(_), .. } => "4",
            FdKind::Inet { .. } => "6",
            FdKind::Unix => "u",
            FdKind::Pipe => "p",
        }
    }
    /// `fd.type`: `file`, `ipv4`, `ipv6`, `unix` or `pipe`.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            FdKind::File { .. } => "file",
            FdKind::Inet { sip: IpAddr::V4(_), .. } => "ipv4",
            FdKind::Inet { .. } => "ipv6",
            FdKind::Unix => "unix",
            FdKind::Pipe => "pipe",
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FlagsSpec {
    Num(u32),
    Names(String),
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct FdSpec {
    #[serde(rename = "type")]
    kind: Option<String>,
    path: Option<String>,
    #[serde(rename = "name")]
    name_alias: Option<String>,
    nameraw: Option<String>,
    flags: Option<FlagsSpec>,
    mode: u32,
    num: Option<i64>,
    sip: Option<IpAddr>,
    sport: Option<u16>,
    cip: Option<IpAddr>,
    cport: Option<u16>,
    proto: Option<L4Proto>,
    /// What the kernel read about the opened file (`fd.ino`, `fd.dev`, ...).
    facts: Option<FileFacts>,
}

impl TryFrom<FdSpec> for Fd {
    type Error = String;
    fn try_from(s: FdSpec) -> Result<Fd, String> {
        let kind = match (&s.kind, &s.sip) {
            (Some(k), _) => k.as_str(),
            (None, Some(_)) => "ipv4",
            (None, None) => "file",
        };
        let path = s.path.or(s.name_alias);
        let fd = match kind {
            "file" | "f" => {
                let flags = match s.flags {
                    None => 0,
                    Some(FlagsSpec::Num(n)) => n,
                    Some(FlagsSpec::Names(n)) => parse_open_flags(&n)?,
                };
                Fd::file(path.ok_or("a file fd needs 'path'")?, flags, s.mode)
            }
            "ipv4" | "ipv6" | "4" | "6" | "inet" => {
                let sip = s.sip.ok_or("an inet fd needs 'sip'")?;
                let sport = s.sport.ok_or("an inet fd needs 'sport'")?;
                let client = match (s.cip, s.cport) {
                    (Some(ip), Some(port)) => Some((ip, port)),
                    (None, None) => None,
                    _ => return Err("give both 'cip' and 'cport' or neither".into()),
                };
                Fd::inet(sip, sport, client, s.proto.unwrap_or_default())
            }
            "unix" | "u" => Fd::unix(path.unwrap_or_default()),
            "pipe" | "p" => Fd::pipe(path.unwrap_or_default()),
            other => return Err(format!("unknown fd type '{other}' (expected file, ipv4, ipv6, unix or pipe)")),
        };
        let fd = match s.nameraw {
            Some(raw) => fd.with_raw_name(&raw),
            None => fd,
        };
        let fd = match s.facts {
            Some(f) => fd.with_facts(f),
            None => fd,
        };
        Ok(match s.num {
            Some(n) => fd.with_num(n),
            None => fd,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_names() {
        let fd = Fd::inet("10.0.0.1".parse().unwrap(), 443, None, L4Proto::Tcp);
        assert_eq!(fd.name(), "10.0.0.1:443");
        assert_eq!(fd.typechar(), "4");
        let fd = Fd::inet("10.0.0.1".parse().unwrap(), 443, Some(("10.0.0.2".parse().unwrap(), 51000)), L4Proto::Tcp);
        assert_eq!(fd.name(), "10.0.0.2:51000->10.0.0.1:443");
        let fd6 = Fd::inet("::1".parse().unwrap(), 80, None, L4Proto::Udp);
        assert_eq!((fd6.typechar(), fd6.type_name()), ("6", "ipv6"));
    }
}
