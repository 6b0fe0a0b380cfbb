//! The field catalogue: Falco field names resolved once, at compile time, to a [`Field`]
//! (an enum plus its optional argument), and the per-event extraction of their values.
//!
//! Extraction borrows from the [`Event`] (`&str`, integers, addresses) and never
//! allocates; output rendering (only done for alerts) is separate and may allocate.

pub mod argflags;
pub mod avail;
pub mod caps;
mod catalog;
pub mod coverage;
pub(crate) mod errno;
// Falco's own catalogue: every field and event name a Falco rule may use.
pub(crate) mod falco;
mod falco_events;
mod falco_fields;
pub(crate) mod fd;
pub(crate) mod flags;
pub(crate) mod glob;
pub mod priority;

pub use crate::runtime::extract::{render_val, Val};

/// Value type of a field, which decides the operators and literals it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Str,
    Num,
    Bool,
    /// An IP address (`fd.sip`): literals are addresses.
    Ip,
    /// An IP address compared with networks (`fd.snet`): literals are CIDRs.
    Net,
    EvtType,
    /// Open flags (`evt.arg.flags`): `contains O_CREAT` tests a bit.
    Flags,
    /// Nanoseconds since the epoch, compared as a number.
    Time,
    /// `evt.dir`: Lanner events are merged enter+exit records, both directions match.
    Dir,
    /// A list of `key:value` strings (`k8s.pod.labels`).
    StrList,
    /// An IP address compared with DNS names (`fd.sip.name`): `=`, `!=`, `in` test
    /// whether the address is among those the literal names resolve to.
    DnsName,
}

impl FieldType {
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Str => "string",
            FieldType::Num => "number",
            FieldType::Bool => "boolean",
            FieldType::Ip => "IP address",
            FieldType::Net => "IP network",
            FieldType::EvtType => "event type",
            FieldType::Flags => "open flags",
            FieldType::Time => "time",
            FieldType::Dir => "event direction",
            FieldType::StrList => "list of strings",
            FieldType::DnsName => "IP address compared with DNS names",
        }
    }
}

/// Field identifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldId {
    EvtType,
    EvtNum,
    EvtTime,
    EvtTimeIso8601,
    EvtRawtime,
    EvtRawtimeS,
    EvtRawtimeNs,
    EvtTimeS,
    EvtDatetime,
    EvtDatetimeS,
    EvtSource,
    SyscallType,
    EvtFailed,
    EvtIsAsync,
    EvtHostname,
    EvtCategory,
    /// `evt.type.is.<type>`: the key is the event type's name.
    EvtTypeIs,
    EvtCount,
    EvtCountError,
    EvtCountErrorFile,
    EvtCountErrorNet,
    EvtCountErrorMemory,
    EvtCountErrorOther,
    EvtCountExit,
    EvtReltime,
    EvtReltimeS,
    EvtReltimeNs,
    EvtOutputtime,
    EvtIsIo,
    EvtIsIoRead,
    EvtIsIoWrite,
    EvtIoDir,
    EvtIsWait,
    EvtIsSyslog,
    EvtAbspath,
    EvtAbspathSrc,
    EvtAbspathDst,
    EvtRes,
    EvtRawres,
    EvtDir,
    EvtIsOpenRead,
    EvtIsOpenWrite,
    EvtIsOpenExec,
    EvtArgFlags,
    EvtArgUid,
    EvtRawargUid,
    /// `evt.arg.<name>` of the new event types: the key is the Falco parameter name.
    EvtArg,
    /// `evt.rawarg.<name>`: the argument's number.
    EvtRawarg,
    /// `evt.args` / `evt.info`: every parameter as one string.
    EvtArgs,
    ProcName,
    ProcExepath,
    ProcExe,
    ProcCmdline,
    ProcArgs,
    ProcPid,
    ProcPpid,
    ThreadTid,
    ProcPname,
    ProcPcmdline,
    ProcPexepath,
    ProcPexe,
    ProcAname,
    ProcApid,
    ProcAexepath,
    ProcAcmdline,
    ProcTty,
    ProcCwd,
    UserUid,
    UserName,
    UserLoginuid,
    GroupGid,
    FdName,
    FdDirectory,
    FdFilename,
    FdNum,
    FdSip,
    FdSport,
    FdCip,
    FdCport,
    FdRip,
    FdRport,
    FdLip,
    FdLport,
    FdIp,
    FdSnet,
    FdCnet,
    FdNet,
    FdTypechar,
    FdType,
    FdL4proto,
    FdSockfamily,
    FsPathName,
    FsPathSource,
    FsPathTarget,
    FsPathNameraw,
    FsPathSourceraw,
    FsPathTargetraw,
    ContainerId,
    ContainerFullId,
    ContainerName,
    ContainerImageRepository,
    ContainerImageTag,
    ContainerImage,
    K8sNsName,
    K8sPodName,
    K8sPodUid,
    K8sPodLabels,
    K8sPodLabel,
    LannerSetuidTarget,
    LannerProcArgsTruncated,
    LannerInContainer,
    LannerK8sOwnerKind,
    LannerK8sOwnerName,
    ProcAexe,
    ProcExeIno,
    ProcExeInoCtime,
    ProcExeInoMtime,
    ProcExeInoCtimeDurationProcStart,
    ProcIsExeFromMemfd,
    ProcIsExeUpperLayer,
    ProcIsExeLowerLayer,
    ProcIsExeWritable,
    ProcEnv,
    ProcAenv,
    ProcAargs,
    ProcCmdnargs,
    ProcCmdlenargs,
    ProcExeline,
    ProcLoginshellid,
    ThreadIsmain,
    ThreadNametid,
    ProcSid,
    ProcSname,
    ProcIsSidLeader,
    ProcVpid,
    ThreadVtid,
    ProcVpgid,
    ProcIsVpgidLeader,
    ProcVpgidName,
    ProcVpgidExe,
    ProcVpgidExepath,
    ProcSidExe,
    ProcSidExepath,
    ProcPgid,
    ProcIsPgidLeader,
    ProcPgidName,
    ProcPgidExe,
    ProcPgidExepath,
    ProcPvpid,
    ProcPidTs,
    ProcDuration,
    ProcPpidTs,
    ProcPpidDuration,
    ThreadCapEffective,
    ThreadCapPermitted,
    ThreadCapInheritable,
    UserLoginname,
    UserHomedir,
    UserShell,
    GroupName,
    FdNameraw,
    FdContainername,
    FdContainerdirectory,
    FdUid,
    FdIno,
    FdDev,
    FdDevMajor,
    FdDevMinor,
    FdIsUpperLayer,
    FdIsLowerLayer,
    EvtIsOpenCreate,
    FdRnet,
    FdLnet,
    FdPort,
    FdConnected,
    FdIsServer,
    ContainerPrivileged,
    ContainerHostNetwork,
    ContainerType,
    K8sPodIp,
    K8sPodId,
    ContainerHostPid,
    ContainerHostIpc,
    ContainerIp,
    ContainerStartTs,
    ContainerDuration,
    ContainerImageDigest,
    ContainerMountDest,
    ContainerMountSource,
    ContainerMountRdwr,
    ContainerMountMode,
    ContainerMountPropagation,
    ContainerMount,
    ContainerMounts,
    ContainerLabel,
    ContainerLabels,
    ProcIsContainerHealthcheck,
    ProcIsContainerLivenessProbe,
    ProcIsContainerReadinessProbe,
    FdSipName,
    FdCipName,
    FdRipName,
    FdLipName,
    K8smetaPodName,
    K8smetaPodUid,
    K8smetaPodIp,
    K8smetaPodLabel,
    K8smetaPodLabels,
    K8smetaNsName,
    K8smetaRsName,
    K8smetaRsUid,
    K8smetaRcName,
    K8smetaRcUid,
    K8smetaDeploymentName,
    K8sRsName,
    K8sRsId,
    K8sRcName,
    K8sRcId,
    K8sDeploymentName,
    ProcFdlimit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arg {
    No,
    /// `[N]` optional: without it the field means "any ancestor".
    OptIndex,
    /// `[key]` required.
    Key,
    /// `[key]` optional: without it the field is the whole value (`proc.env`).
    OptKey,
}

/// Catalogue entry.
pub struct FieldInfo {
    pub name: &'static str,
    pub id: FieldId,
    pub ty: FieldType,
    arg: Arg,
    pub desc: &'static str,
}

pub use catalog::FIELDS;

/// A resolved field with its argument.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    pub id: FieldId,
    pub index: Option<u32>,
    pub key: Option<Box<str>>,
}

/// Why a field name did not resolve.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FieldError {
    #[error("unknown field '{name}'{hint}")]
    Unknown { name: String, hint: String },
    /// A Falco field Lanner does not fill: the rule needing it loads inactive.
    #[error("field '{}' is not supplied by Lanner: {}", .0.name, .0.reason)]
    Unavailable(avail::Unavailable),
    #[error("field '{0}' needs an argument, e.g. {0}[app]")]
    ArgRequired(String),
    #[error("field '{0}' takes no argument")]
    ArgNotAllowed(String),
    #[error("field '{name}' needs a numeric index, found '[{arg}]'")]
    BadIndex { name: String, arg: String },
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

impl Field {
    /// Resolve `name` with its optional `[arg]`.
    pub fn resolve(name: &str, arg: Option<&str>) -> Result<Field, FieldError> {
        // `evt.arg.target`: a parameter some captured type fills (libsinsp takes
        // parameter names only after a dot; `evt.arg[N]` by position is not supplied).
        let param = match (name.strip_prefix("evt.arg."), name.strip_prefix("evt.rawarg."), arg) {
            (Some(p), _, None) => Some((FieldId::EvtArg, p)),
            (_, Some(p), None) => Some((FieldId::EvtRawarg, p)),
            _ => None,
        };
        if let Some((id, p)) = param {
            if FIELDS.iter().all(|f| f.name != name) && crate::runtime::event::ARG_NAMES.contains(&p) {
                return Ok(Field { id, index: None, key: Some(p.into()) });
            }
        }
        // `evt.type.is.openat`: an event type name Falco knows after the dot.
        if let (Some(t), None) = (name.strip_prefix("evt.type.is."), arg) {
            if !falco::is_event_type(t) {
                return Err(FieldError::Unknown { name: name.to_string(), hint: format!(" (no event type '{t}')") });
            }
            return Ok(Field { id: FieldId::EvtTypeIs, index: None, key: Some(t.into()) });
        }
        let by_name = |f: &&FieldInfo| f.name == name && !matches!(f.id, FieldId::EvtArg | FieldId::EvtRawarg);
        let Some(info) = FIELDS.iter().find(by_name) else {
            if falco::falco_field(name).is_some_and(|f| f.arg.required()) && arg.is_none() {
                return Err(FieldError::ArgRequired(name.to_string()));
            }
            if let Some(u) = avail::unavailable(name, arg) {
                return Err(FieldError::Unavailable(u));
            }
            let known = FIELDS.iter().map(|f| f.name).chain(falco::FALCO_FIELDS.iter().map(|f| f.name));
            let hint = known
                .map(|n| (distance(name, n), n))
                .filter(|(d, _)| *d <= 2)
                .min()
                .map(|(_, n)| format!(" (did you mean '{n}'?)"))
                .unwrap_or_default();
            return Err(FieldError::Unknown { name: name.to_string(), hint });
        };
        let (index, key) = match (info.arg, arg) {
            (Arg::No, None) | (Arg::OptIndex, None) | (Arg::OptKey, None) => (None, None),
            (Arg::No, Some(_)) => return Err(FieldError::ArgNotAllowed(name.to_string())),
            (Arg::OptIndex, Some(a)) => match a.trim().parse::<u32>() {
                Ok(i) => (Some(i), None),
                Err(_) => return Err(FieldError::BadIndex { name: name.to_string(), arg: a.to_string() }),
            },
            (Arg::Key | Arg::OptKey, Some(a)) if !a.is_empty() => (None, Some(a.into())),
            (Arg::OptKey, Some(_)) => return Err(FieldError::ArgRequired(name.to_string())),
            (Arg::Key, _) => return Err(FieldError::ArgRequired(name.to_string())),
        };
        Ok(Field { id: info.id, index, key })
    }

    pub fn info(&self) -> &'static FieldInfo {
        FIELDS.iter().find(|f| f.id == self.id).unwrap_or(&FIELDS[0])
    }

    pub fn ty(&self) -> FieldType {
        self.info().ty
    }

    /// `proc.aname` without index: true for any ancestor.
    pub fn is_any_ancestor(&self) -> bool {
        // Bare `proc.aargs` is one value: every ancestor's arguments joined.
        self.info().arg == Arg::OptIndex && self.index.is_none() && self.id != FieldId::ProcAargs
    }

    /// The name as written in rules, e.g. `proc.aname[2]`.
    pub fn display_name(&self) -> String {
        let n = self.info().name;
        if let (FieldId::EvtArg | FieldId::EvtRawarg | FieldId::EvtTypeIs, Some(k)) = (self.id, &self.key) {
            return format!("{n}.{k}");
        }
        match (&self.index, &self.key) {
            (Some(i), _) => format!("{n}[{i}]"),
            (_, Some(k)) => format!("{n}[{k}]"),
            _ => n.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_errors() {
        let e = Field::resolve("proc.nme", None).unwrap_err();
        assert_eq!(e.to_string(), "unknown field 'proc.nme' (did you mean 'proc.name'?)");
        assert_eq!(Field::resolve("zzz.qqq", None).unwrap_err().to_string(), "unknown field 'zzz.qqq'");
        let e = Field::resolve("proc.nthreads", None).unwrap_err();
        assert!(matches!(&e, FieldError::Unavailable(u) if u.name == "proc.nthreads"), "{e}");
        assert!(e.to_string().starts_with("field 'proc.nthreads' is not supplied by Lanner: "), "{e}");
        assert_eq!(Field::resolve("proc.env", Some("HOME")).unwrap().display_name(), "proc.env[HOME]");
        assert_eq!(Field::resolve("proc.env", None).unwrap().display_name(), "proc.env");
        let e = Field::resolve("proc.vmrss", None).unwrap_err();
        assert!(matches!(&e, FieldError::Unavailable(u) if u.name == "proc.vmrss"), "{e}");
        assert_eq!(Field::resolve("evt.arg.target", None).unwrap().display_name(), "evt.arg.target");
        assert_eq!(Field::resolve("evt.rawarg.pid", None).unwrap().id, FieldId::EvtRawarg);
        let e = Field::resolve("evt.arg.queuepct", None).unwrap_err();
        assert!(e.to_string().contains("argument of accept, accept4 not read by Lanner's probes yet"), "{e}");
        let e = Field::resolve("evt.arg.whence", None).unwrap_err();
        assert!(e.to_string().contains("events, which Lanner does not capture"), "{e}");
        assert!(matches!(Field::resolve("evt.arg", Some("0")), Err(FieldError::Unavailable(_))));
        // Falco's names count for suggestions too.
        let e = Field::resolve("thread.cap_efective", None).unwrap_err();
        assert_eq!(e.to_string(), "unknown field 'thread.cap_efective' (did you mean 'thread.cap_effective'?)");
        assert!(matches!(Field::resolve("k8s.pod.label", None), Err(FieldError::ArgRequired(_))));
        assert!(matches!(Field::resolve("proc.name", Some("1")), Err(FieldError::ArgNotAllowed(_))));
        assert!(matches!(Field::resolve("proc.aname", Some("x")), Err(FieldError::BadIndex { .. })));
        assert_eq!(Field::resolve("proc.aname", Some("2")).unwrap().display_name(), "proc.aname[2]");
    }
}
