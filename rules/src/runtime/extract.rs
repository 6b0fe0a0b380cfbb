//! Per-event extraction of field values; their type and rendering are in `value.rs`.
//!
//! Extraction borrows from the [`Event`] (`&str`, integers, addresses) and never
//! allocates; rendering (only done for alerts) may allocate.

use std::fmt::Write as _;

use crate::fields::errno;
use crate::fields::{Field, FieldId};
use crate::runtime::event::{Event, EvtType, FdKind, Process, O_ACCMODE};
pub use crate::runtime::value::{render_val, rfc3339_nanos, EventRef, Lineage, TimeText, Val};

fn dir_of(s: &str) -> &str {
    match s.rfind('/') {
        Some(0) => "/",
        Some(i) => &s[..i],
        None => "",
    }
}

/// Falco's `fs.path.name`/`source`/`target`: which argument of which event type, only
/// when the syscall succeeded (openat: its fd name). The arguments are already made
/// absolute against the dirfd or the working directory (symlink targets stay as written).
/// The `*raw` fields give the same argument as the program passed it.
fn fs_path(ev: &Event, id: FieldId) -> Option<&str> {
    use EvtType as T;
    let ok = if ev.evt_type == T::Openat { ev.res >= 0 } else { ev.res == 0 };
    if !ok {
        return None;
    }
    let (id, raw) = match id {
        FieldId::FsPathNameraw => (FieldId::FsPathName, true),
        FieldId::FsPathSourceraw => (FieldId::FsPathSource, true),
        FieldId::FsPathTargetraw => (FieldId::FsPathTarget, true),
        other => (other, false),
    };
    let arg = match (id, ev.evt_type) {
        (FieldId::FsPathName, T::Openat) => return ev.fd.as_ref().map(|f| if raw { f.name_raw() } else { f.name() }),
        (FieldId::FsPathName, T::Mkdir | T::Mkdirat | T::Rmdir | T::Unlink | T::Chown | T::Lchown) => "path",
        (FieldId::FsPathName, T::Unlinkat | T::Umount2) => "name",
        (FieldId::FsPathName, T::Chmod | T::Fchmodat) => "filename",
        (FieldId::FsPathName, T::Fchownat) => "pathname",
        (FieldId::FsPathSource, T::Rename | T::Renameat | T::Renameat2) => "oldpath",
        (FieldId::FsPathSource, T::Link | T::Linkat) => "newpath",
        (FieldId::FsPathSource, T::Symlink | T::Symlinkat) => "linkpath",
        (FieldId::FsPathSource, T::Mount) => "dev",
        (FieldId::FsPathTarget, T::Rename | T::Renameat | T::Renameat2) => "newpath",
        (FieldId::FsPathTarget, T::Link | T::Linkat) => "oldpath",
        (FieldId::FsPathTarget, T::Symlink | T::Symlinkat) => "target",
        (FieldId::FsPathTarget, T::Mount) => "dir",
        _ => return None,
    };
    ev.arg(arg).map(|a| if raw { a.as_passed() } else { &*a.text })
}

fn proc_str(p: &Process, id: FieldId) -> Val<'_> {
    match id {
        FieldId::ProcAexepath => Val::non_empty(&p.exepath),
        FieldId::ProcAexe => Val::non_empty(&p.exe),
        FieldId::ProcAcmdline => Val::Str(p.cmdline()),
        FieldId::ProcApid => Val::Num(i64::from(p.pid)),
        _ => Val::non_empty(&p.name),
    }
}

impl Field {
    /// The value of a single-valued field (for `proc.aname` without index: the parent).
    #[inline(always)]
    pub fn extract<'a>(&self, ev: &'a Event) -> Val<'a> {
        use FieldId as F;
        let p = &*ev.proc;
        let fd = ev.fd.as_ref();
        let c = ev.container.as_deref();
        let pod = c.and_then(|c| c.k8s.as_ref());
        let inet = || match fd.map(|f| f.kind()) {
            Some(FdKind::Inet { sip, sport, cip, cport, proto }) => Some((*sip, *sport, *cip, *cport, *proto)),
            _ => None,
        };
        let file = || fd.filter(|f| matches!(f.kind(), FdKind::File { .. }));
        match self.id {
            F::EvtType => Val::Type(ev.evt_type),
            F::EvtNum => Val::Missing,
            F::EvtTime | F::EvtTimeIso8601 => Val::Time(ev.time_ns),
            F::EvtRawtime => Val::Num(ev.time_ns as i64),
            F::EvtTimeS => Val::TimeText(ev.time_ns, TimeText::Clock),
            F::EvtDatetime => Val::TimeText(ev.time_ns, TimeText::Date),
            F::EvtDatetimeS => Val::TimeText(ev.time_ns, TimeText::DateSecs),
            F::EvtRawtimeS => Val::Num((ev.time_ns / 1_000_000_000) as i64),
            F::EvtRawtimeNs => Val::Num((ev.time_ns % 1_000_000_000) as i64),
            F::EvtSource => Val::Str("syscall"),
            F::SyscallType => match ev.evt_type {
                EvtType::Procexit => Val::Missing,
                t => Val::Str(t.as_str()),
            },
            F::EvtFailed => Val::Bool(ev.evt_type != EvtType::Procexit && ev.res < 0),
            F::EvtIsAsync => Val::Bool(false),
            F::EvtHostname => crate::runtime::host::hostname().map_or(Val::Missing, Val::Str),
            F::EvtRes => Val::Str(errno::res_name(ev.res)),
            F::EvtRawres => Val::Num(ev.res),
            F::EvtDir => Val::Str("<"),
            F::EvtIsOpenRead | F::EvtIsOpenWrite => match (ev.evt_type, fd.and_then(|f| f.flags())) {
                (EvtType::Openat, Some(fl)) => {
                    let acc = fl & O_ACCMODE;
                    Val::Bool(if self.id == F::EvtIsOpenRead { acc != 1 } else { acc != 0 })
                }
                // creat is open(O_CREAT|O_WRONLY|O_TRUNC): a write, never a read (as in Falco).
                (EvtType::Creat, _) => Val::Bool(self.id == F::EvtIsOpenWrite),
                _ => Val::Missing,
            },
            // Open flags; other event types' `flags` argument as its rendered text.
            // The event's own flags argument first (dup3's O_CLOEXEC is not its file's).
            F::EvtArgFlags => match (ev.arg("flags"), fd.and_then(|f| f.flags())) {
                (Some(a), _) => Val::Str(&a.text),
                (None, Some(fl)) => Val::Flags(fl),
                (None, None) => Val::Missing,
            },
            F::EvtArgUid => match ev.setuid_target_name.as_deref() {
                Some(n) => Val::Str(n),
                // chown's uid argument.
                None => ev.arg("uid").map_or(Val::Missing, |a| Val::Str(&a.text)),
            },
            F::EvtArg => match &self.key {
                Some(k) => ev.arg(k).map_or(Val::Missing, |a| Val::Str(&a.text)),
                None => Val::Missing,
            },
            F::EvtArgs => Val::EvtArgs(EventRef(ev)),
            F::EvtRawarg => match &self.key {
                Some(k) => ev.arg(k).and_then(|a| a.raw).map_or(Val::Missing, Val::Num),
                None => Val::Missing,
            },
            F::EvtRawargUid => match ev.setuid_target {
                Some(u) => Val::Num(i64::from(u)),
                None => ev.arg("uid").and_then(|a| a.raw).map_or(Val::Missing, Val::Num),
            },
            F::LannerSetuidTarget => ev.setuid_target.map_or(Val::Missing, |u| Val::Num(i64::from(u))),
            F::ProcName => Val::non_empty(&p.name),
            F::ProcExepath => Val::non_empty(&p.exepath),
            F::ProcExe => Val::non_empty(&p.exe),
            F::ProcCmdline => Val::Str(p.cmdline()),
            F::ProcArgs => Val::Str(p.args()),
            F::ProcPid => Val::Num(i64::from(p.pid)),
            F::ProcPpid => Val::Num(i64::from(p.ppid)),
            F::ThreadTid => Val::Num(i64::from(p.tid)),
            F::ProcPname => ev.parent().map_or(Val::Missing, |q| Val::non_empty(&q.name)),
            F::ProcPcmdline => ev.parent().map_or(Val::Missing, |q| Val::Str(q.cmdline())),
            F::ProcPexepath => ev.parent().map_or(Val::Missing, |q| Val::non_empty(&q.exepath)),
            F::ProcPexe => ev.parent().map_or(Val::Missing, |q| Val::non_empty(&q.exe)),
            F::ProcAname | F::ProcApid | F::ProcAexepath | F::ProcAexe | F::ProcAcmdline => {
                match self.index.unwrap_or(1) {
                    0 => proc_str(p, self.id),
                    n => ev.ancestors.get(n as usize - 1).map_or(Val::Missing, |a| proc_str(a, self.id)),
                }
            }
            F::ProcAargs => match self.index {
                None if ev.ancestors.iter().all(|a| a.args.is_empty()) => Val::Missing,
                None => Val::AncestorArgs(Lineage(&ev.ancestors)),
                Some(0) => Val::Str(p.args()),
                Some(n) => ev.ancestors.get(n as usize - 1).map_or(Val::Missing, |a| Val::Str(a.args())),
            },
            F::ProcTty => Val::Num(i64::from(p.tty)),
            F::ProcCwd => p.cwd.as_deref().map_or(Val::Missing, Val::non_empty),
            F::UserUid => Val::Num(i64::from(p.uid)),
            F::UserName => p.user_name.as_deref().map_or(Val::Missing, Val::non_empty),
            F::UserLoginuid => Val::Num(p.loginuid_i64()),
            F::GroupGid => Val::Num(i64::from(p.gid)),
            F::FdName => fd.map_or(Val::Missing, |f| Val::non_empty(f.name())),
            F::FdDirectory => file().map_or(Val::Missing, |f| Val::non_empty(dir_of(f.name()))),
            F::FdFilename => file().map_or(Val::Missing, |f| Val::non_empty(f.name().rsplit('/').next().unwrap_or(""))),
            F::FdNum => match fd.and_then(|f| f.num()) {
                Some(n) => Val::Num(n),
                None if ev.evt_type == EvtType::Openat && fd.is_some() => Val::Num(ev.res),
                None => Val::Missing,
            },
            F::FdSip | F::FdSnet | F::FdRip | F::FdRnet | F::FdSipName | F::FdRipName => {
                inet().map_or(Val::Missing, |i| Val::Ip(i.0))
            }
            F::FdSport | F::FdRport | F::FdPort => inet().map_or(Val::Missing, |i| Val::Num(i64::from(i.1))),
            F::FdCip | F::FdCnet | F::FdLip | F::FdLnet | F::FdCipName | F::FdLipName => {
                inet().and_then(|i| i.2).map_or(Val::Missing, Val::Ip)
            }
            F::FdCport | F::FdLport => inet().and_then(|i| i.3).map_or(Val::Missing, |p| Val::Num(i64::from(p))),
            F::FdIp | F::FdNet => inet().map_or(Val::Missing, |i| Val::Ip(i.0)),
            F::FdTypechar => fd.map_or(Val::Missing, |f| Val::Str(f.typechar())),
            F::FdType => fd.map_or(Val::Missing, |f| Val::Str(f.type_name())),
            F::FdL4proto => inet().map_or(Val::Missing, |i| Val::Str(i.4.as_str())),
            F::FdSockfamily => match fd.map(|f| f.kind()) {
                Some(FdKind::Inet { .. }) => Val::Str("ip"),
                Some(FdKind::Unix) => Val::Str("unix"),
                _ => Val::Missing,
            },
            F::FsPathName
            | F::FsPathSource
            | F::FsPathTarget
            | F::FsPathNameraw
            | F::FsPathSourceraw
            | F::FsPathTargetraw => fs_path(ev, self.id).map_or(Val::Missing, Val::Str),
            F::ContainerId => c.map_or(Val::Str("host"), |c| Val::non_empty(c.short_id())),
            F::ContainerFullId => c.map_or(Val::Str("host"), |c| Val::non_empty(&c.id)),
            F::ContainerName => c.map_or(Val::Str("host"), |c| Val::non_empty(&c.name)),
            F::ContainerImageRepository | F::ContainerImage => {
                c.map_or(Val::Missing, |c| Val::non_empty(&c.image_repository))
            }
            F::ContainerImageTag => c.map_or(Val::Missing, |c| Val::non_empty(&c.image_tag)),
            F::K8sNsName | F::K8smetaNsName => pod.map_or(Val::Missing, |p| Val::non_empty(&p.ns)),
            F::K8sPodName | F::K8smetaPodName => pod.map_or(Val::Missing, |p| Val::non_empty(&p.name)),
            F::K8sPodUid | F::K8sPodId | F::K8smetaPodUid => pod.map_or(Val::Missing, |p| Val::non_empty(&p.uid)),
            F::K8sPodLabels | F::K8smetaPodLabels => match pod.and_then(|p| p.labels.iter().next()) {
                Some((k, v)) => Val::KV(k, v),
                None => Val::Missing,
            },
            F::K8sPodLabel | F::K8smetaPodLabel => match (pod, &self.key) {
                (Some(p), Some(k)) => p.labels.get(&**k).map_or(Val::Missing, |v| Val::Str(v)),
                _ => Val::Missing,
            },
            F::LannerProcArgsTruncated => Val::Bool(p.args_truncated),
            F::LannerInContainer => Val::Bool(c.is_some()),
            F::LannerK8sOwnerKind => pod.and_then(|p| p.owner_kind.as_deref()).map_or(Val::Missing, Val::non_empty),
            F::LannerK8sOwnerName => pod.and_then(|p| p.owner_name.as_deref()).map_or(Val::Missing, Val::non_empty),
            F::ProcExeIno
            | F::ProcExeInoCtime
            | F::ProcExeInoMtime
            | F::ProcExeInoCtimeDurationProcStart
            | F::ProcIsExeFromMemfd
            | F::ProcIsExeUpperLayer
            | F::ProcIsExeLowerLayer
            | F::ProcIsExeWritable
            | F::ProcEnv
            | F::ProcAenv
            | F::ProcCmdnargs
            | F::ProcCmdlenargs
            | F::ProcExeline
            | F::ProcLoginshellid
            | F::ThreadIsmain
            | F::ThreadNametid
            | F::ProcSid
            | F::ProcSname
            | F::ProcIsSidLeader
            | F::ProcVpid
            | F::ThreadVtid
            | F::ProcVpgid
            | F::ProcFdlimit
            | F::ProcIsVpgidLeader
            | F::ProcVpgidName
            | F::ProcVpgidExe
            | F::ProcVpgidExepath
            | F::ProcSidExe
            | F::ProcSidExepath
            | F::ProcPgid
            | F::ProcIsPgidLeader
            | F::ProcPgidName
            | F::ProcPgidExe
            | F::ProcPgidExepath
            | F::ProcPvpid
            | F::ProcPidTs
            | F::ProcDuration
            | F::ProcPpidTs
            | F::ProcPpidDuration
            | F::ThreadCapEffective
            | F::ThreadCapPermitted
            | F::ThreadCapInheritable
            | F::UserLoginname
            | F::UserHomedir
            | F::UserShell
            | F::GroupName => crate::runtime::extract_proc::extract(self.id, self.key.as_deref(), ev),
            F::FdNameraw
            | F::FdConnected
            | F::FdIsServer
            | F::ContainerPrivileged
            | F::ContainerHostNetwork
            | F::ContainerHostPid
            | F::ContainerHostIpc
            | F::ContainerIp
            | F::ContainerType
            | F::K8sPodIp
            | F::K8smetaPodIp
            | F::ContainerStartTs
            | F::ContainerDuration
            | F::ContainerImageDigest
            | F::ContainerMountDest
            | F::ContainerMountSource
            | F::ContainerMountRdwr
            | F::ContainerMountMode
            | F::ContainerMountPropagation
            | F::ContainerMount
            | F::ContainerMounts
            | F::ContainerLabel
            | F::ContainerLabels
            | F::ProcIsContainerHealthcheck
            | F::ProcIsContainerLivenessProbe
            | F::ProcIsContainerReadinessProbe => {
                crate::runtime::extract_ctr::extract(self.id, self.key.as_deref(), ev)
            }
            F::EvtCategory
            | F::EvtTypeIs
            | F::EvtCount
            | F::EvtCountError
            | F::EvtCountErrorFile
            | F::EvtCountErrorNet
            | F::EvtCountErrorMemory
            | F::EvtCountErrorOther
            | F::EvtCountExit
            | F::EvtReltime
            | F::EvtReltimeS
            | F::EvtReltimeNs
            | F::EvtOutputtime
            | F::EvtIsIo
            | F::EvtIsIoRead
            | F::EvtIsIoWrite
            | F::EvtIoDir
            | F::EvtIsWait
            | F::EvtIsSyslog
            | F::EvtIsOpenExec
            | F::EvtIsOpenCreate
            | F::FdIno
            | F::FdDev
            | F::FdDevMajor
            | F::FdDevMinor
            | F::FdIsUpperLayer
            | F::FdIsLowerLayer
            | F::EvtAbspath
            | F::EvtAbspathSrc
            | F::EvtAbspathDst
            | F::FdContainername
            | F::FdContainerdirectory
            | F::FdUid => crate::runtime::extract_meta::extract(self.id, self.key.as_deref(), ev),
            F::K8smetaRsName
            | F::K8smetaRsUid
            | F::K8smetaRcName
            | F::K8smetaRcUid
            | F::K8smetaDeploymentName
            | F::K8sRsName
            | F::K8sRsId
            | F::K8sRcName
            | F::K8sRcId
            | F::K8sDeploymentName => crate::runtime::extract_k8s::extract(self.id, ev),
        }
    }

    /// Call `f` on each value of the field until it returns true; returns whether it did.
    /// Single-valued fields call it once (not at all when missing); `proc.aname`
    /// without index visits every ancestor; `k8s.pod.labels` every label; `fd.ip` and
    /// `fd.net` the server then the client address; `fd.port` the server then the client port.
    pub fn any<'a>(&self, ev: &'a Event, mut f: impl FnMut(Val<'a>) -> bool) -> bool {
        if self.is_any_ancestor() {
            return ev.ancestors.iter().any(|a| {
                let v = proc_str(a, self.id);
                v != Val::Missing && f(v)
            });
        }
        match self.id {
            FieldId::K8sPodLabels | FieldId::K8smetaPodLabels => {
                match ev.container.as_deref().and_then(|c| c.k8s.as_ref()) {
                    Some(p) => p.labels.iter().any(|(k, v)| f(Val::KV(k, v))),
                    None => false,
                }
            }
            FieldId::FdIp | FieldId::FdNet => match ev.fd.as_ref().map(|f| f.kind()) {
                Some(FdKind::Inet { sip, cip, .. }) => f(Val::Ip(*sip)) || cip.is_some_and(|c| f(Val::Ip(c))),
                _ => false,
            },
            FieldId::FdPort => match ev.fd.as_ref().map(|f| f.kind()) {
                Some(FdKind::Inet { sport, cport, .. }) => {
                    f(Val::Num(i64::from(*sport))) || cport.is_some_and(|c| f(Val::Num(i64::from(c))))
                }
                _ => false,
            },
            _ => match self.extract(ev) {
                Val::Missing => false,
                v => f(v),
            },
        }
    }

    /// Whether the field has multiple values (so `in` means "all values in the set").
    pub fn is_list(&self) -> bool {
        matches!(self.id, FieldId::K8sPodLabels | FieldId::K8smetaPodLabels)
    }

    /// Append the value as Falco prints it (`<NA>` when missing).
    pub fn render(&self, ev: &Event, out: &mut String) {
        if self.is_list() {
            match ev.container.as_deref().and_then(|c| c.k8s.as_ref()) {
                Some(p) if !p.labels.is_empty() => {
                    out.push('(');
                    for (i, (k, v)) in p.labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{k}:{v}");
                    }
                    out.push(')');
                }
                _ => out.push_str("<NA>"),
            }
            return;
        }
        if self.ty() == crate::fields::FieldType::DnsName {
            // Falco prints the name the address resolved to; <NA> when none did.
            match self.extract(ev) {
                Val::Ip(ip) => match crate::runtime::dns::name_of(ip) {
                    Some(n) => out.push_str(&n),
                    None => out.push_str("<NA>"),
                },
                _ => out.push_str("<NA>"),
            }
            return;
        }
        render_val(self.extract(ev), self.id == FieldId::EvtTimeIso8601, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::event::{Container, Fd, L4Proto, Pod};
    use std::sync::Arc;

    fn ev() -> Event {
        let mut e = Event::new(
            EvtType::Openat,
            1_795_435_200_123_456_789,
            Arc::new(Process::new("cat", "/usr/bin/cat", &["/etc/shadow"])),
        );
        e.ancestors = vec![
            Arc::new(Process::new("bash", "/bin/bash", &[])),
            Arc::new(Process::new("sshd", "/usr/sbin/sshd", &["-D"])),
        ]
        .into();
        e.fd = Some(Fd::file("/etc/shadow", 0, 0));
        e.res = 3;
        e
    }

    fn get(name: &str, arg: Option<&str>, e: &Event) -> String {
        let f = Field::resolve(name, arg).unwrap();
        let mut s = String::new();
        f.render(e, &mut s);
        s
    }

    #[test]
    fn values() {
        let e = ev();
        assert_eq!(get("fd.directory", None, &e), "/etc");
        assert_eq!(get("fd.filename", None, &e), "shadow");
        assert_eq!(get("evt.is_open_read", None, &e), "true");
        assert_eq!(get("evt.is_open_write", None, &e), "false");
        assert_eq!(get("evt.res", None, &e), "SUCCESS");
        assert_eq!(get("fd.num", None, &e), "3");
        assert_eq!(get("proc.aname", Some("0"), &e), "cat");
        assert_eq!(get("proc.aname", Some("2"), &e), "sshd");
        assert_eq!(get("proc.aname", Some("3"), &e), "<NA>");
        assert_eq!(get("proc.pcmdline", None, &e), "bash");
        assert_eq!(get("container.id", None, &e), "host");
        assert_eq!(get("k8s.ns.name", None, &e), "<NA>");
        assert_eq!(get("evt.time", None, &e), "12:00:00.123456789");
        assert_eq!(get("evt.time.iso8601", None, &e), "2026-11-23T12:00:00.123456789Z");
        assert_eq!(get("evt.arg.flags", None, &e), "O_RDONLY");
        assert_eq!(get("user.loginuid", None, &e), "-1");
        let f = Field::resolve("proc.aname", None).unwrap();
        let mut seen = vec![];
        f.any(&e, |v| {
            seen.push(format!("{v:?}"));
            false
        });
        assert_eq!(seen, vec!["Str(\"bash\")", "Str(\"sshd\")"]);
    }

    #[test]
    fn event_source_type_failure_and_time_parts() {
        let mut e = ev();
        assert_eq!(get("evt.source", None, &e), "syscall");
        assert_eq!(get("syscall.type", None, &e), "openat");
        assert_eq!(get("evt.failed", None, &e), "false");
        assert_eq!(get("evt.is_async", None, &e), "false");
        assert_eq!(
            (get("evt.rawtime.s", None, &e), get("evt.rawtime.ns", None, &e)),
            ("1795435200".into(), "123456789".into())
        );
        assert_eq!(get("evt.time.s", None, &e), "12:00:00");
        assert_eq!(get("evt.datetime", None, &e), "2026-11-23 12:00:00.123456789");
        assert_eq!(get("evt.datetime.s", None, &e), "2026-11-23 12:00:00");
        assert_eq!(get("evt.time.iso8601", None, &e), "2026-11-23T12:00:00.123456789Z");
        e.res = -13;
        assert_eq!(get("evt.failed", None, &e), "true");
        e.evt_type = EvtType::Procexit;
        assert_eq!(get("syscall.type", None, &e), "<NA>", "procexit is not a syscall");
        assert_eq!(get("evt.failed", None, &e), "false", "an exit status is not a syscall error");
    }

    #[test]
    fn socket_and_pod_values() {
        let mut e = ev();
        e.evt_type = EvtType::Connect;
        e.fd =
            Some(Fd::inet("10.1.2.3".parse().unwrap(), 6443, Some(("10.0.0.9".parse().unwrap(), 40000)), L4Proto::Tcp));
        let mut labels = std::collections::BTreeMap::new();
        labels.insert("app".to_string(), "web".to_string());
        labels.insert("tier".to_string(), "fe".to_string());
        e.container = Some(Arc::new(Container {
            id: "0123456789abcdef".into(),
            k8s: Some(Pod { ns: "prod".into(), name: "web-1".into(), labels, ..Default::default() }),
            ..Default::default()
        }));
        assert_eq!(get("fd.name", None, &e), "10.0.0.9:40000->10.1.2.3:6443");
        assert_eq!(get("fd.sip", None, &e), "10.1.2.3");
        assert_eq!(get("fd.cport", None, &e), "40000");
        assert_eq!(get("fd.l4proto", None, &e), "tcp");
        assert_eq!(get("fd.directory", None, &e), "<NA>");
        assert_eq!(get("evt.is_open_read", None, &e), "<NA>");
        assert_eq!(get("container.id", None, &e), "0123456789ab");
        assert_eq!(get("container.full_id", None, &e), "0123456789abcdef");
        assert_eq!(get("container.name", None, &e), "<NA>");
        assert_eq!(get("k8s.pod.label", Some("tier"), &e), "fe");
        assert_eq!(get("k8s.pod.labels", None, &e), "(app:web,tier:fe)");
        assert_eq!(get("lanner.container", None, &e), "true");
    }

    #[test]
    fn fs_path_fields_follow_falco_per_event_type() {
        use crate::runtime::event::EvtArg;
        let mut e = ev();
        assert_eq!(get("fs.path.name", None, &e), "/etc/shadow", "openat: the fd name");
        assert_eq!(get("fs.path.source", None, &e), "<NA>");
        e.res = -2;
        assert_eq!(get("fs.path.name", None, &e), "<NA>", "only successful calls");
        e.res = 0;
        e.evt_type = EvtType::Symlinkat;
        e.args = vec![EvtArg::text("target", "../etc/shadow"), EvtArg::path("linkpath", "/tmp/l", "l")];
        assert_eq!(get("fs.path.source", None, &e), "/tmp/l");
        assert_eq!(get("fs.path.sourceraw", None, &e), "l", "as passed, relative to the dirfd");
        assert_eq!(get("fs.path.target", None, &e), "../etc/shadow");
        assert_eq!(get("fs.path.targetraw", None, &e), "../etc/shadow", "unchanged: the text itself");
        assert_eq!(get("fs.path.name", None, &e), "<NA>");
        e.evt_type = EvtType::Link;
        e.args = vec![EvtArg::text("oldpath", "/etc/shadow"), EvtArg::text("newpath", "/tmp/h")];
        assert_eq!(
            (get("fs.path.source", None, &e), get("fs.path.target", None, &e)),
            ("/tmp/h".into(), "/etc/shadow".into())
        );
        e.evt_type = EvtType::Unlinkat;
        e.args = vec![EvtArg::num("dirfd", 3), EvtArg::text("name", "/tmp/x")];
        assert_eq!(get("fs.path.name", None, &e), "/tmp/x");
    }
}
