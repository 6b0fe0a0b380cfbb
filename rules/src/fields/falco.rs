//! Falco's catalogue of syscall-source field names and of its event table, as plain data.
//!
//! Why: a rule written for Falco may name a field that Lanner does not fill yet. The rule
//! compiler must tell that case ("a Falco field Lanner lacks": a clear, specific message)
//! from a name Falco does not have at all (a typo: an error). This module only knows
//! what Falco knows; Lanner's own fields and how they resolve stay in [`super::FIELDS`].
//!
//! Where the facts come from (read, then written down in our own format; no code copied):
//! - `falcosecurity/libs`, branch master, commit `48dfd53cd23f95720521d41b89883bbc35c8567f`
//!   (2026-07-22, after 0.25.0-rc1; driver schema 4.5.1):
//!   - the field tables of `userspace/libsinsp/sinsp_filtercheck_*.cpp` (gen_event, event,
//!     thread, user, group, fd, fspath, fdlist, utils), with their types and flags, and the
//!     hand-written argument parsing of those files (`parse_field_name`, `extract_arg`),
//!     which decides the argument forms in [`FalcoArg`];
//!   - `driver/event_table.c` for [`FALCO_EVENTS`] and their parameter names;
//!   - the `PPM_SC_FIELDS` list of `driver/ppm_events_public.h` (lower-cased, as
//!     `scap_get_ppm_sc_name` gives them) for [`FALCO_SYSCALL_NAMES`].
//! - `falcosecurity/plugins`, commit `0b3cbd8d84eba83877159cf3c9fdae1820084c26`
//!   (2026-08-04): the `container` plugin v0.7.1 (`plugins/container/src/caps/extract/extract.cpp`),
//!   which now provides `container.*`, the `k8s.*` pod fields and `proc.is_container_*`,
//!   and the `k8smeta` plugin v0.4.1 (`plugins/k8smeta/src/plugin.cpp`, `k8smeta.*`).
//!
//! Falco has no `span.*` or `syslog.*` field class any more (only `evt.is_syslog` remains);
//! the `ka.*` fields belong to the `k8s_audit` source, not to the syscall source.
//!
//! The tables themselves are in `falco_fields.rs` and `falco_events.rs`, sorted by name
//! (the tests check it), so lookups are binary searches.

pub(crate) use super::falco_events::{FALCO_EVENTS, FALCO_SYSCALL_NAMES};
pub(crate) use super::falco_fields::FALCO_FIELDS;

/// The argument a Falco field takes, as libsinsp (or the plugin SDK) parses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FalcoArg {
    /// No argument.
    None,
    /// Optional `[N]`: `proc.aname[2]`; bare, `proc.aname` matches any ancestor.
    Index,
    /// Required `[N]`: `evt.around[T]`.
    IndexRequired,
    /// Optional `[key]`: `proc.env[HOME]`; bare, the whole environment.
    Key,
    /// Required `[key]`: `k8s.pod.label[app]`.
    KeyRequired,
    /// Optional `[N]` or `[key]`: `proc.aenv[2]`, `proc.aenv[HOME]`.
    IndexOrKey,
    /// Required `[N]` or `[key]`: `container.mount[0]`, `container.mount[/usr/local]`.
    IndexOrKeyRequired,
    /// Required, `[N]` (parameter position) or `.NAME` (an event parameter name):
    /// `evt.arg[0]`, `evt.arg.flags`. libsinsp rejects `evt.arg[flags]`.
    IndexOrParam,
    /// Required `.NAME`, an event parameter name: `evt.rawarg.res`.
    Param,
    /// Required `.WORD` that is not an event parameter: `evt.type.is.open` (an event
    /// name or number), `thread.cgroup.cpuacct` (a cgroup subsystem).
    Suffix,
}

impl FalcoArg {
    /// The field is unusable without its argument.
    pub(crate) fn required(self) -> bool {
        matches!(
            self,
            FalcoArg::IndexRequired
                | FalcoArg::KeyRequired
                | FalcoArg::IndexOrKeyRequired
                | FalcoArg::IndexOrParam
                | FalcoArg::Param
                | FalcoArg::Suffix
        )
    }

    /// The argument may be written after a dot (`evt.arg.flags`) rather than in brackets.
    pub(crate) fn dotted(self) -> bool {
        matches!(self, FalcoArg::IndexOrParam | FalcoArg::Param | FalcoArg::Suffix)
    }
}

/// Who defines a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FalcoOrigin {
    /// Built into libsinsp: always there for the syscall source.
    Libsinsp,
    /// The `container` plugin.
    ContainerPlugin,
    /// The `k8smeta` plugin (opt-in).
    K8smetaPlugin,
}

/// One Falco field.
#[derive(Debug)]
pub(crate) struct FalcoField {
    /// Full name, without argument: `proc.aname`, `evt.arg`, `fd.sip.name`.
    pub name: &'static str,
    /// Value type as libsinsp names it, without `PT_`: `CHARBUF`, `UINT64`, `INT64`, `BOOL`,
    /// `IPADDR`, `IPNET`, `PORT`, `RELTIME`, `ABSTIME`, `DOUBLE`, `BYTEBUF`, `DYN` (evt.rawarg:
    /// the parameter's own type)... Plugin strings are written `CHARBUF`.
    pub ty: &'static str,
    pub arg: FalcoArg,
    /// Field class as `falco --list` groups it: `evt`, `process` (proc.* and thread.*),
    /// `user`, `group`, `fd`, `fdlist`, `fs.path`, `util`, and for plugin fields the
    /// plugin's name: `container` (which also holds `k8s.*`), `k8smeta`.
    pub class: &'static str,
    /// A set of the `FalcoField::*` flag bits below.
    pub flags: u8,
    /// Short description, our words.
    pub desc: &'static str,
}

impl FalcoField {
    /// Usable in conditions only, not in outputs (`fd.net`, `fd.ip`, `evt.around`).
    pub(crate) const FILTER_ONLY: u8 = 1 << 0;
    /// Usable in outputs only (`evt.outputtime`).
    pub(crate) const PRINT_ONLY: u8 = 1 << 1;
    /// Cannot be compared with another field (`fd.snet`, `proc.aname`...).
    pub(crate) const NO_RHS: u8 = 1 << 2;
    /// The value is a list (`fd.types`, `k8smeta.pod.labels`).
    pub(crate) const LIST: u8 = 1 << 3;
    /// Transformers (`tolower()`...) do not apply to it.
    pub(crate) const NO_TRANSFORMER: u8 = 1 << 4;
    /// Marked deprecated by its definer.
    pub(crate) const DEPRECATED: u8 = 1 << 5;
    /// Meant for table views (hidden from `falco --list`), still accepted in rules.
    pub(crate) const TABLE_ONLY: u8 = 1 << 6;

    pub(crate) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    pub(crate) fn origin(&self) -> FalcoOrigin {
        match self.class {
            "container" => FalcoOrigin::ContainerPlugin,
            "k8smeta" => FalcoOrigin::K8smetaPlugin,
            _ => FalcoOrigin::Libsinsp,
        }
    }
}

/// What produces an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FalcoEventKind {
    /// A system call (`openat`), or `syscall`: the generic event of untraced syscalls.
    Syscall,
    /// A kernel tracepoint: `procexit`, `switch`, `signaldeliver`, `page_fault`.
    Tracepoint,
    /// Made by libscap/libsinsp or a plugin: `container`, `asyncevent`, `drop`... Some are
    /// only read from old captures (`k8s`, `mesos`, `tracer`).
    Meta,
    /// `pluginevent`, the envelope of plugin-source events.
    Plugin,
    /// Produced while scanning existing processes and files at start (`task`, `task_file_*`).
    Iter,
}

/// One event name of the event table: enter and exit events and every version merged.
#[derive(Debug)]
pub(crate) struct FalcoEvent {
    /// As `evt.type` gives it: `openat`, `execve`, `procexit`.
    pub name: &'static str,
    pub kind: FalcoEventKind,
    /// Union of the parameter names of all its enter/exit events and versions: the newest
    /// exit event's first, in its order, then the ones only older or enter events have.
    pub params: &'static [&'static str],
}

/// The field of that exact name (no argument): `proc.aname`, `evt.arg`, `fd.sip.name`.
pub(crate) fn falco_field(name: &str) -> Option<&'static FalcoField> {
    FALCO_FIELDS.binary_search_by(|f| f.name.cmp(name)).ok().map(|i| &FALCO_FIELDS[i])
}

/// A name as rules spell it, with the dotted argument forms: `evt.arg.flags` gives
/// `(evt.arg, "flags")`, `thread.cgroup.cpuacct` gives `(thread.cgroup, "cpuacct")`,
/// `proc.name` gives `(proc.name, "")`. Bracket arguments are not part of the name.
/// The suffix is not checked: for [`FalcoArg::Param`] and [`FalcoArg::IndexOrParam`]
/// Falco requires an event parameter name ([`is_event_param`]).
pub(crate) fn falco_field_dotted(name: &str) -> Option<(&'static FalcoField, &str)> {
    if let Some(f) = falco_field(name) {
        return Some((f, ""));
    }
    FALCO_FIELDS.iter().filter(|f| f.arg.dotted()).find_map(|f| {
        let rest = name.strip_prefix(f.name)?.strip_prefix('.')?;
        (!rest.is_empty()).then_some((f, rest))
    })
}

/// The event of that name (`openat`, `procexit`), enter and exit merged.
pub(crate) fn falco_event(name: &str) -> Option<&'static FalcoEvent> {
    FALCO_EVENTS.binary_search_by(|e| e.name.cmp(name)).ok().map(|i| &FALCO_EVENTS[i])
}

/// A syscall (or tracepoint) name of the libs' `ppm_sc` table, whether or not an event
/// of its own carries it: `openat`, `getpid`, `sched_process_exit`.
pub(crate) fn is_syscall_name(name: &str) -> bool {
    FALCO_SYSCALL_NAMES.binary_search(&name).is_ok()
}

/// A value Falco accepts for `evt.type`: an event name or a `ppm_sc` name (plugins may
/// add names of their asynchronous events, which this catalogue does not know).
pub(crate) fn is_event_type(name: &str) -> bool {
    falco_event(name).is_some() || is_syscall_name(name)
}

/// Some event has a parameter of that name (what `evt.arg.X` / `evt.rawarg.X` require).
pub(crate) fn is_event_param(param: &str) -> bool {
    FALCO_EVENTS.iter().any(|e| e.params.contains(&param))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str) -> &'static FalcoField {
        falco_field(name).unwrap_or_else(|| panic!("{name} missing"))
    }

    fn params(name: &str) -> &'static [&'static str] {
        falco_event(name).unwrap_or_else(|| panic!("{name} missing")).params
    }

    #[test]
    fn tables_sorted_without_duplicates() {
        assert!(FALCO_FIELDS.windows(2).all(|w| w[0].name < w[1].name));
        assert!(FALCO_EVENTS.windows(2).all(|w| w[0].name < w[1].name));
        assert!(FALCO_SYSCALL_NAMES.windows(2).all(|w| w[0] < w[1]));
        for e in FALCO_EVENTS {
            for (i, p) in e.params.iter().enumerate() {
                assert!(!e.params[..i].contains(p), "{} lists {p} twice", e.name);
            }
        }
        // Every entry is found by its own lookup.
        assert!(FALCO_FIELDS.iter().all(|f| std::ptr::eq(field(f.name), f)));
        assert!(FALCO_EVENTS.iter().all(|e| falco_event(e.name).is_some_and(|x| std::ptr::eq(x, e))));
        assert!(FALCO_SYSCALL_NAMES.iter().all(|n| is_syscall_name(n)));
        assert!(FALCO_FIELDS.iter().all(|f| !f.desc.is_empty() && !f.ty.is_empty() && !f.class.is_empty()));
    }

    #[test]
    fn counts() {
        assert_eq!(FALCO_FIELDS.len(), 321);
        assert_eq!(FALCO_FIELDS.iter().filter(|f| f.origin() == FalcoOrigin::Libsinsp).count(), 235);
        assert_eq!(FALCO_FIELDS.iter().filter(|f| f.origin() == FalcoOrigin::ContainerPlugin).count(), 61);
        assert_eq!(FALCO_FIELDS.iter().filter(|f| f.origin() == FalcoOrigin::K8smetaPlugin).count(), 25);
        assert_eq!(FALCO_EVENTS.len(), 193);
        assert_eq!(FALCO_SYSCALL_NAMES.len(), 454);
    }

    #[test]
    fn field_facts() {
        assert_eq!(field("proc.aname").arg, FalcoArg::Index);
        assert!(field("proc.aname").has(FalcoField::NO_RHS));
        assert_eq!(field("proc.apid").ty, "INT64");
        assert_eq!(field("proc.args").arg, FalcoArg::Index);
        assert_eq!(field("proc.env").arg, FalcoArg::Key);
        assert_eq!(field("k8s.pod.label").arg, FalcoArg::KeyRequired);
        assert_eq!(field("k8s.pod.label").origin(), FalcoOrigin::ContainerPlugin);
        assert_eq!(field("k8s.pod.labels").arg, FalcoArg::None);
        assert!(field("k8smeta.pod.labels").has(FalcoField::LIST));
        assert_eq!(field("container.mount").arg, FalcoArg::IndexOrKeyRequired);
        assert_eq!(field("evt.arg").arg, FalcoArg::IndexOrParam);
        assert_eq!(field("evt.rawarg").arg, FalcoArg::Param);
        assert_eq!(field("evt.rawarg").ty, "DYN");
        assert_eq!(field("evt.around").arg, FalcoArg::IndexRequired);
        assert_eq!(field("thread.cgroup").arg, FalcoArg::Suffix);
        assert_eq!(field("evt.args").arg, FalcoArg::None);
        assert!(FALCO_FIELDS.iter().all(|f| f.arg.required()
            != matches!(f.arg, FalcoArg::None | FalcoArg::Index | FalcoArg::Key | FalcoArg::IndexOrKey)));
        assert_eq!(field("fd.sip").ty, "IPADDR");
        assert_eq!(field("fd.sport").ty, "PORT");
        assert_eq!(field("fd.snet").ty, "IPNET");
        assert!(field("fd.snet").has(FalcoField::FILTER_ONLY));
        assert!(field("evt.outputtime").has(FalcoField::PRINT_ONLY));
        assert!(field("evt.dir").has(FalcoField::DEPRECATED));
        assert_eq!(field("evt.rawtime").ty, "ABSTIME");
        assert_eq!(field("proc.duration").ty, "RELTIME");
        assert_eq!(field("evt.is_open_read").ty, "BOOL");
        assert_eq!(field("fd.sip.name").class, "fd");
        assert_eq!(field("proc.is_exe_upper_layer").class, "process");
        assert_eq!(field("thread.cap_effective").class, "process");
        assert_eq!(field("fs.path.name").class, "fs.path");
        assert_eq!(field("fdlist.sips").class, "fdlist");
        assert_eq!(field("evt.num").class, "evt");
        assert_eq!(field("container.privileged").ty, "BOOL");
        assert_eq!(field("container.start_ts").ty, "ABSTIME");
        for f in [
            "proc.is_exe_from_memfd",
            "proc.sname",
            "proc.vpid",
            "proc.is_container_healthcheck",
            "container.mounts",
            "evt.buffer",
            "k8s.deployment.name",
            "k8s.ns.name",
            "k8s.pod.uid",
            "k8s.pod.ip",
            "k8s.pod.cni.json",
            "user.loginname",
            "group.name",
            "evt.abspath.dst",
            "util.cnt",
        ] {
            field(f);
        }
        for bad in ["proc.nme", "evt.arg.flags", "container.info", "ka.verb", "span.id", "syslog.facility", "proc", ""]
        {
            assert!(falco_field(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn dotted_names() {
        let (f, rest) = falco_field_dotted("evt.arg.flags").unwrap();
        assert_eq!((f.name, rest), ("evt.arg", "flags"));
        let (f, rest) = falco_field_dotted("evt.rawarg.res").unwrap();
        assert_eq!((f.name, rest), ("evt.rawarg", "res"));
        let (f, rest) = falco_field_dotted("evt.type.is.open").unwrap();
        assert_eq!((f.name, rest), ("evt.type.is", "open"));
        let (f, rest) = falco_field_dotted("thread.cgroup.cpuacct").unwrap();
        assert_eq!((f.name, rest), ("thread.cgroup", "cpuacct"));
        assert_eq!(falco_field_dotted("evt.args").map(|(f, r)| (f.name, r)), Some(("evt.args", "")));
        assert_eq!(falco_field_dotted("thread.cgroups").map(|(f, r)| (f.name, r)), Some(("thread.cgroups", "")));
        assert!(falco_field_dotted("evt.arg.").is_none());
        assert!(falco_field_dotted("proc.name.x").is_none());
        assert!(falco_field_dotted("k8s.pod.label.app").is_none());
    }

    #[test]
    fn lanner_fields_are_falco_fields() {
        // Lanner's own names, its `lanner.*` extensions aside, are all Falco's.
        for f in crate::fields::FIELDS.iter().filter(|f| !f.name.starts_with("lanner.")) {
            let (falco, rest) = falco_field_dotted(f.name).unwrap_or_else(|| panic!("{} is not a Falco field", f.name));
            let param = matches!(falco.arg, FalcoArg::IndexOrParam | FalcoArg::Param) && is_event_param(rest);
            assert!(rest.is_empty() || param, "{}", f.name);
        }
    }

    #[test]
    fn event_facts() {
        let p = params("symlinkat");
        assert!(p.contains(&"target") && p.contains(&"linkpath") && p.contains(&"linkdirfd"));
        assert!(params("ptrace").contains(&"request"));
        assert!(params("socket").contains(&"domain"));
        assert_eq!(params("openat"), ["fd", "dirfd", "name", "flags", "mode", "dev", "ino"]);
        assert!(params("openat2").contains(&"resolve"));
        assert!(params("open").contains(&"name"));
        // execve: the newest exit event plus the old enter event's filename.
        let p = params("execve");
        assert_eq!(p[..3], ["res", "exe", "args"]);
        assert!(["cwd", "env", "tty", "loginuid", "trusted_exepath", "filename"].iter().all(|x| p.contains(x)));
        assert!(params("execveat").contains(&"dirfd"));
        assert!(params("setuid").contains(&"uid"));
        assert!(params("connect").contains(&"tuple"));
        assert!(params("clone").contains(&"flags"));
        assert_eq!(params("procexit"), ["status", "ret", "sig", "core", "reaper_tid"]);
        assert_eq!(falco_event("procexit").unwrap().kind, FalcoEventKind::Tracepoint);
        assert_eq!(falco_event("container").unwrap().kind, FalcoEventKind::Meta);
        assert_eq!(falco_event("syscall").unwrap().kind, FalcoEventKind::Syscall);
        assert_eq!(falco_event("task").unwrap().kind, FalcoEventKind::Iter);
        assert_eq!(falco_event("pluginevent").unwrap().kind, FalcoEventKind::Plugin);
        assert!(params("getsockname").is_empty());
        assert!(falco_event("NA").is_none());
        assert!(falco_event("getpid").is_none());
        assert!(falco_event("no_such_event").is_none());
    }

    #[test]
    fn event_types_and_params() {
        for t in ["openat", "execve", "procexit", "switch", "container", "getpid", "sched_process_exit", "_llseek"] {
            assert!(is_event_type(t), "{t}");
        }
        assert!(is_syscall_name("getpid") && is_syscall_name("openat"));
        assert!(!is_syscall_name("procexit"));
        for t in ["NA", "open_at", "Openat", ""] {
            assert!(!is_event_type(t), "{t}");
        }
        for p in ["flags", "uid", "target", "request", "domain", "name", "res", "fd", "ID"] {
            assert!(is_event_param(p), "{p}");
        }
        assert!(!is_event_param("no_such_param"));
        assert!(!is_event_param(""));
    }
}
