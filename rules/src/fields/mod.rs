//! The field catalogue: Falco field names resolved once, at compile time, to a [`Field`]
//! (an enum plus its optional argument), and the per-event extraction of their values.
//!
//! Extraction borrows from the [`Event`] (`&str`, integers, addresses) and never
//! allocates; output rendering (only done for alerts) is separate and may allocate.

pub mod argflags;
pub mod avail;
pub mod caps;
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
    EvtRes,
    EvtRawres,
    EvtDir,
    EvtIsOpenRead,
    EvtIsOpenWrite,
    EvtArgFlags,
    EvtArgUid,
    EvtRawargUid,
    /// `evt.arg.<name>` of the new event types: the key is the Falco parameter name.
    EvtArg,
    /// `evt.rawarg.<name>`: the argument's number.
    EvtRawarg,
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

macro_rules! f {
    ($n:expr, $id:ident, $ty:ident, $arg:ident, $d:expr) => {
        FieldInfo { name: $n, id: FieldId::$id, ty: FieldType::$ty, arg: Arg::$arg, desc: $d }
    };
}

/// Every supported field.
pub static FIELDS: &[FieldInfo] = &[
    f!("evt.type", EvtType, EvtType, No, "event type: execve, openat, connect, setuid, clone, procexit, the path syscalls (symlink(at), link(at), unlink(at), rename(at/at2), mkdir(at), rmdir, chmod, fchmod(at)), ptrace, socket, init_module, finit_module, delete_module, memfd_create, unshare, setns, mount, umount2, bpf, dup, dup2, dup3, chown, lchown, fchown, fchownat, creat, userfaultfd, bind, listen, accept, accept4, capset, setgid, setresgid, prctl"),
    f!("evt.num", EvtNum, Num, No, "event number: Lanner does not number events, so it is always missing (Falco's never_true macro, evt.num=0, stays false)"),
    f!("evt.time", EvtTime, Time, No, "event time; compared as unix ns, printed HH:MM:SS.nnnnnnnnn"),
    f!("evt.time.iso8601", EvtTimeIso8601, Time, No, "event time printed as RFC 3339"),
    f!("evt.rawtime", EvtRawtime, Num, No, "event time in unix ns"),
    f!("evt.time.s", EvtTimeS, Str, No, "event time as text, whole seconds: HH:MM:SS (UTC)"),
    f!("evt.datetime", EvtDatetime, Str, No, "event date and time as text: YYYY-MM-DD HH:MM:SS.nnnnnnnnn (UTC)"),
    f!("evt.datetime.s", EvtDatetimeS, Str, No, "event date and time as text, whole seconds: YYYY-MM-DD HH:MM:SS (UTC)"),
    f!("evt.rawtime.s", EvtRawtimeS, Num, No, "seconds part of evt.rawtime"),
    f!("evt.rawtime.ns", EvtRawtimeNs, Num, No, "nanoseconds part of evt.rawtime"),
    f!("evt.source", EvtSource, Str, No, "the event source: always syscall"),
    f!("syscall.type", SyscallType, Str, No, "the syscall's name (evt.type); unset for procexit, which is not a syscall"),
    f!("evt.failed", EvtFailed, Bool, No, "true when the syscall returned an error (evt.rawres < 0); false for procexit"),
    f!("evt.is_async", EvtIsAsync, Bool, No, "always false: every Lanner event is a syscall or scheduler event"),
    f!("evt.hostname", EvtHostname, Str, No, "the host name alerts carry (--hostname, else the node name, else the kernel's)"),
    f!("evt.category", EvtCategory, Str, No, "the event type's category in Falco's event table: process, file, net, user, memory, other; dup, dup2 and dup3 by their fd: file, net, ipc, or unknown"),
    f!("evt.type.is", EvtTypeIs, Num, Key, "1 if the event is of the type named after the dot (evt.type.is.openat; the names evt.type accepts, open and openat2 as openat...), else 0"),
    f!("evt.count", EvtCount, Num, No, "always 1"),
    f!("evt.count.error", EvtCountError, Num, No, "1 if the syscall failed, else 0; missing for procexit (no return value)"),
    f!("evt.count.error.file", EvtCountErrorFile, Num, No, "evt.count.error for events on a file (its fd, or an open or creat); missing for other events"),
    f!("evt.count.error.net", EvtCountErrorNet, Num, No, "evt.count.error for events on an IPv4/IPv6 or unix socket (its fd, or connect, accept, accept4); missing for other events"),
    f!("evt.count.error.memory", EvtCountErrorMemory, Num, No, "evt.count.error for memory events (memfd_create); missing for other events"),
    f!("evt.count.error.other", EvtCountErrorOther, Num, No, "evt.count.error for the events none of the three above counts; missing for those"),
    f!("evt.count.exit", EvtCountExit, Num, No, "1 for a syscall's exit event (every Lanner syscall event); missing for procexit"),
    f!("evt.reltime", EvtReltime, Num, No, "ns since the capture started (the agent's start); missing when no capture runs (rule fixtures)"),
    f!("evt.reltime.s", EvtReltimeS, Num, No, "seconds part of evt.reltime"),
    f!("evt.reltime.ns", EvtReltimeNs, Num, No, "nanoseconds part of evt.reltime"),
    f!("evt.outputtime", EvtOutputtime, Time, No, "the event time as outputs print it: evt.time (HH:MM:SS.nnnnnnnnn)"),
    f!("evt.res", EvtRes, Str, No, "SUCCESS or the errno name of a failed syscall"),
    f!("evt.rawres", EvtRawres, Num, No, "raw syscall return value"),
    f!("evt.dir", EvtDir, Dir, No, "always matches both '<' and '>': Lanner events merge enter and exit"),
    f!("evt.is_open_read", EvtIsOpenRead, Bool, No, "openat with O_RDONLY or O_RDWR"),
    f!("evt.is_open_write", EvtIsOpenWrite, Bool, No, "openat with O_WRONLY or O_RDWR; creat"),
    f!("evt.arg.flags", EvtArgFlags, Flags, No, "open flags; 'contains O_CREAT' tests a flag; for other types their flags argument by name as Falco renders it (unshare: CLONE_NEWUSER..., unlinkat: AT_REMOVEDIR), 'contains CLONE_NEWUSER' tests one name"),
    f!("evt.arg.uid", EvtArgUid, Str, No, "setuid target user's name, <NA> when it does not resolve (Falco resolves uid arguments); chown's uid argument"),
    f!("evt.rawarg.uid", EvtRawargUid, Num, No, "setuid target uid (same as lanner.setuid.target); chown's uid argument"),
    f!("evt.arg", EvtArg, Str, Key, "argument by Falco's parameter name (evt.arg.target, evt.arg.request...), rendered as Falco does: flag names, resolved paths"),
    f!("evt.rawarg", EvtRawarg, Num, Key, "numeric argument by Falco's parameter name (evt.rawarg.pid, evt.rawarg.domain...)"),
    f!("proc.name", ProcName, Str, No, "process name (comm)"),
    f!("proc.exepath", ProcExepath, Str, No, "full executable path"),
    f!("proc.exe", ProcExe, Str, No, "argv[0]"),
    f!("proc.cmdline", ProcCmdline, Str, No, "name and arguments"),
    f!("proc.args", ProcArgs, Str, No, "arguments joined with spaces"),
    f!("proc.pid", ProcPid, Num, No, "process id"),
    f!("proc.ppid", ProcPpid, Num, No, "parent process id"),
    f!("thread.tid", ThreadTid, Num, No, "thread id"),
    f!("proc.pname", ProcPname, Str, No, "parent name"),
    f!("proc.pcmdline", ProcPcmdline, Str, No, "parent command line"),
    f!("proc.pexepath", ProcPexepath, Str, No, "parent executable path"),
    f!("proc.pexe", ProcPexe, Str, No, "parent argv[0]"),
    f!("proc.aname", ProcAname, Str, OptIndex, "ancestor name: [0] self, [1] parent...; no index = any ancestor"),
    f!("proc.apid", ProcApid, Num, OptIndex, "ancestor pid: [0] self, [1] parent...; no index = any ancestor"),
    f!("proc.aexepath", ProcAexepath, Str, OptIndex, "ancestor executable path; no index = any ancestor"),
    f!("proc.acmdline", ProcAcmdline, Str, OptIndex, "ancestor command line; no index = any ancestor"),
    f!("proc.tty", ProcTty, Num, No, "controlling terminal's device number as /proc/PID/stat's tty_nr shows it (read in the kernel), 0 if none"),
    f!("proc.cwd", ProcCwd, Str, No, "working directory with a trailing /, read in the kernel at exec (task->fs->pwd)"),
    f!("user.uid", UserUid, Num, No, "user id"),
    f!("user.name", UserName, Str, No, "user name"),
    f!("user.loginuid", UserLoginuid, Num, No, "audit login uid, -1 if unset"),
    f!("group.gid", GroupGid, Num, No, "group id"),
    f!("fd.name", FdName, Str, No, "file path, or cip:cport->sip:sport for sockets"),
    f!("fd.directory", FdDirectory, Str, No, "directory of a file fd"),
    f!("fd.filename", FdFilename, Str, No, "file name of a file fd"),
    f!("fd.num", FdNum, Num, No, "fd number (the result of an open)"),
    f!("fd.sip", FdSip, Ip, No, "server (connect target) IP"),
    f!("fd.sport", FdSport, Num, No, "server (connect target) port"),
    f!("fd.cip", FdCip, Ip, No, "client IP"),
    f!("fd.cport", FdCport, Num, No, "client port"),
    f!("fd.rip", FdRip, Ip, No, "remote IP: the server for connect"),
    f!("fd.rport", FdRport, Num, No, "remote port: the server port for connect"),
    f!("fd.lip", FdLip, Ip, No, "local IP: the client for connect"),
    f!("fd.lport", FdLport, Num, No, "local port: the client port for connect"),
    f!("fd.ip", FdIp, Ip, No, "client or server IP"),
    f!("fd.snet", FdSnet, Net, No, "server IP, compared with CIDR networks"),
    f!("fd.cnet", FdCnet, Net, No, "client IP, compared with CIDR networks"),
    f!("fd.net", FdNet, Net, No, "client or server IP, compared with CIDR networks"),
    f!("fd.typechar", FdTypechar, Str, No, "f, 4, 6, u or p"),
    f!("fd.type", FdType, Str, No, "file, ipv4, ipv6, unix or pipe"),
    f!("fd.l4proto", FdL4proto, Str, No, "tcp or udp"),
    f!("fd.sockfamily", FdSockfamily, Str, No, "ip or unix"),
    f!("fs.path.name", FsPathName, Str, No, "path a successful one-path syscall worked on, made absolute: openat, mkdir(at), rmdir, unlink(at), chmod, fchmodat, chown, lchown, fchownat, umount2"),
    f!("fs.path.source", FsPathSource, Str, No, "source path of a successful two-path syscall, made absolute: rename(at/at2) oldpath, link(at) newpath, symlink(at) linkpath, mount dev (as passed)"),
    f!("fs.path.target", FsPathTarget, Str, No, "target path of a successful two-path syscall: rename(at/at2) newpath, link(at) oldpath, symlink(at) target (as written), mount dir"),
    f!("fs.path.nameraw", FsPathNameraw, Str, No, "fs.path.name as the program passed it (relative paths not made absolute; openat: fd.nameraw)"),
    f!("fs.path.sourceraw", FsPathSourceraw, Str, No, "fs.path.source as the program passed it (relative paths not made absolute)"),
    f!("fs.path.targetraw", FsPathTargetraw, Str, No, "fs.path.target as the program passed it (relative paths not made absolute)"),
    f!("container.id", ContainerId, Str, No, "12-char container id, 'host' outside containers"),
    f!("container.full_id", ContainerFullId, Str, No, "full container id, 'host' outside containers"),
    f!("container.name", ContainerName, Str, No, "container name, 'host' outside containers"),
    f!("container.image.repository", ContainerImageRepository, Str, No, "image repository"),
    f!("container.image.tag", ContainerImageTag, Str, No, "image tag"),
    f!("container.image", ContainerImage, Str, No, "image repository (same as container.image.repository)"),
    f!("k8s.ns.name", K8sNsName, Str, No, "pod namespace"),
    f!("k8s.pod.name", K8sPodName, Str, No, "pod name"),
    f!("k8s.pod.uid", K8sPodUid, Str, No, "pod uid"),
    f!("k8s.pod.labels", K8sPodLabels, StrList, No, "pod labels as key:value items"),
    f!("k8s.pod.label", K8sPodLabel, Str, Key, "value of the pod label [key]"),
    f!("lanner.setuid.target", LannerSetuidTarget, Num, No, "target uid of setuid"),
    f!("lanner.proc.args_truncated", LannerProcArgsTruncated, Bool, No, "the agent could not copy every argument"),
    f!("lanner.container", LannerInContainer, Bool, No, "the process runs in a container"),
    f!("lanner.k8s.owner.kind", LannerK8sOwnerKind, Str, No, "kind of the pod's controller (Deployment, DaemonSet...)"),
    f!("lanner.k8s.owner.name", LannerK8sOwnerName, Str, No, "name of the pod's controller"),
    f!("proc.aexe", ProcAexe, Str, OptIndex, "ancestor argv[0]: [0] self, [1] parent...; no index = any ancestor"),
    f!("proc.exe_ino", ProcExeIno, Num, No, "inode number of the executable (mm->exe_file, read at exec)"),
    f!("proc.exe_ino.ctime", ProcExeInoCtime, Num, No, "executable's inode change time, ns since the epoch"),
    f!("proc.exe_ino.mtime", ProcExeInoMtime, Num, No, "executable's modification time, ns since the epoch"),
    f!("proc.exe_ino.ctime_duration_proc_start", ProcExeInoCtimeDurationProcStart, Num, No, "ns from the executable's inode change to the process start"),
    f!("proc.is_exe_from_memfd", ProcIsExeFromMemfd, Bool, No, "the executable is a memfd (memfd_create + execve of /proc/self/fd/N)"),
    f!("proc.is_exe_upper_layer", ProcIsExeUpperLayer, Bool, No, "the executable is on an overlayfs upper layer (written or changed after the container started)"),
    f!("proc.is_exe_lower_layer", ProcIsExeLowerLayer, Bool, No, "the executable is on an overlayfs lower layer only (from the image)"),
    f!("proc.is_exe_writable", ProcIsExeWritable, Bool, No, "the executable is writable by the process (owner/group/other write bit for its fsuid/fsgid, or CAP_DAC_OVERRIDE)"),
    f!("proc.env", ProcEnv, Str, OptKey, "environment of the image as NAME=value items joined with spaces (first 1023 bytes); [NAME] one variable's value"),
    f!("proc.sid", ProcSid, Num, No, "session id"),
    f!("proc.sname", ProcSname, Str, No, "name of the session leader"),
    f!("proc.is_sid_leader", ProcIsSidLeader, Bool, No, "the process leads its session"),
    f!("proc.vpid", ProcVpid, Num, No, "process id in the process's own pid namespace"),
    f!("thread.vtid", ThreadVtid, Num, No, "thread id in the process's own pid namespace"),
    f!("proc.vpgid", ProcVpgid, Num, No, "process group id in the process's own pid namespace"),
    f!("proc.is_vpgid_leader", ProcIsVpgidLeader, Bool, No, "the process leads its process group"),
    f!("proc.vpgid.name", ProcVpgidName, Str, No, "name of the process group leader"),
    f!("proc.vpgid.exe", ProcVpgidExe, Str, No, "argv[0] of the process group leader"),
    f!("proc.vpgid.exepath", ProcVpgidExepath, Str, No, "executable path of the process group leader"),
    f!("proc.sid.exe", ProcSidExe, Str, No, "argv[0] of the session leader"),
    f!("proc.sid.exepath", ProcSidExepath, Str, No, "executable path of the session leader"),
    f!("proc.pgid", ProcPgid, Num, No, "process group id"),
    f!("proc.is_pgid_leader", ProcIsPgidLeader, Bool, No, "the process leads its process group"),
    f!("proc.pgid.name", ProcPgidName, Str, No, "name of the process group leader"),
    f!("proc.pgid.exe", ProcPgidExe, Str, No, "argv[0] of the process group leader"),
    f!("proc.pgid.exepath", ProcPgidExepath, Str, No, "executable path of the process group leader"),
    f!("proc.pvpid", ProcPvpid, Num, No, "parent's process id in its own pid namespace"),
    f!("proc.pid.ts", ProcPidTs, Num, No, "process start time, ns since the epoch"),
    f!("proc.duration", ProcDuration, Num, No, "ns since the process started"),
    f!("proc.ppid.ts", ProcPpidTs, Num, No, "parent's start time, ns since the epoch"),
    f!("proc.ppid.duration", ProcPpidDuration, Num, No, "ns since the parent started"),
    f!("thread.cap_effective", ThreadCapEffective, Str, No, "effective capabilities at exec, e.g. CAP_CHOWN CAP_SYS_ADMIN"),
    f!("thread.cap_permitted", ThreadCapPermitted, Str, No, "permitted capabilities at exec"),
    f!("thread.cap_inheritable", ThreadCapInheritable, Str, No, "inheritable capabilities at exec"),
    f!("user.loginname", UserLoginname, Str, No, "name of the audit login uid"),
    f!("user.homedir", UserHomedir, Str, No, "user's home directory"),
    f!("user.shell", UserShell, Str, No, "user's login shell"),
    f!("group.name", GroupName, Str, No, "group name"),
    f!("fd.containername", FdContainername, Str, No, "container.id and fd.name chained: CONTAINER_ID:FD_NAME (host:/etc/shadow on the host)"),
    f!("fd.containerdirectory", FdContainerdirectory, Str, No, "container.id and fd.directory chained, for file fds"),
    f!("fd.uid", FdUid, Str, No, "thread id and fd number chained as decimal digits (tid 42, fd 3: 423), unique per fd; missing without an fd number"),
    f!("fd.nameraw", FdNameraw, Str, No, "file path as the program passed it (not made absolute); fd.name for sockets"),
    f!("fd.rnet", FdRnet, Net, No, "remote IP (the server for connect), compared with CIDR networks"),
    f!("fd.lnet", FdLnet, Net, No, "local IP (the client for connect), compared with CIDR networks"),
    f!("fd.port", FdPort, Num, No, "client or server port (either matches)"),
    f!("fd.connected", FdConnected, Bool, No, "the socket is connected: a connect that succeeded (or is in progress); false for files"),
    f!("fd.is_server", FdIsServer, Bool, No, "the process is the server end: false for connect and for files"),
    f!("container.privileged", ContainerPrivileged, Bool, No, "the pod spec runs the container privileged (securityContext.privileged)"),
    f!("container.host_network", ContainerHostNetwork, Bool, No, "the pod shares the host's network namespace (spec.hostNetwork)"),
    f!("container.host_pid", ContainerHostPid, Bool, No, "the pod shares the host's pid namespace (spec.hostPID)"),
    f!("container.host_ipc", ContainerHostIpc, Bool, No, "the pod shares the host's IPC namespace (spec.hostIPC)"),
    f!("container.ip", ContainerIp, Str, No, "the pod's IP (status.podIP; the node's for hostNetwork pods)"),
    f!("container.type", ContainerType, Str, No, "container runtime from the cgroup path (containerd, cri-o, docker, podman)"),
    f!("k8s.pod.ip", K8sPodIp, Str, No, "the pod's IP (status.podIP), as container.ip"),
    f!("k8s.pod.id", K8sPodId, Str, No, "legacy alias of k8s.pod.uid"),
    f!("container.start_ts", ContainerStartTs, Num, No, "container start (pod status state.running.startedAt), ns since the epoch"),
    f!("container.duration", ContainerDuration, Num, No, "ns since container.start_ts"),
    f!("container.image.digest", ContainerImageDigest, Str, No, "image digest (sha256:...) from the pod status imageID"),
    f!("container.mount.dest", ContainerMountDest, Str, Key, "mount point of hostPath mount [N] (0-based, the pod spec's order) or of the first whose host path matches the glob [source]"),
    f!("container.mount.source", ContainerMountSource, Str, Key, "host path of hostPath mount [N] or of the first whose mount point matches the glob [dest]"),
    f!("container.mount.rdwr", ContainerMountRdwr, Str, Key, "\"true\" unless hostPath mount [N] or [source glob] is readOnly"),
    f!("container.mount.mode", ContainerMountMode, Str, Key, "mode of hostPath mount [N] or [source glob]: always empty, as Falco reports CRI mounts"),
    f!("container.mount.propagation", ContainerMountPropagation, Str, Key, "propagation of hostPath mount [N] or [source glob]: private, rslave (HostToContainer), rshared (Bidirectional)"),
    f!("container.mount", ContainerMount, Str, Key, "hostPath mount [N] or [source glob] as source:dest:mode:rdwr:propagation"),
    f!("container.mounts", ContainerMounts, Str, No, "every hostPath mount as source:dest:mode:rdwr:propagation, comma-separated (empty without any)"),
    f!("container.label", ContainerLabel, Str, Key, "value of the container label [key]: the kubelet's io.kubernetes.container.name, .pod.name, .pod.namespace and .pod.uid (values over 100 bytes are not reported)"),
    f!("container.labels", ContainerLabels, Str, No, "the kubelet's container labels as key:value, comma-separated (io.kubernetes.container.name, .pod.name, .pod.namespace, .pod.uid)"),
    f!("proc.is_container_healthcheck", ProcIsContainerHealthcheck, Bool, No, "the process (or an ancestor up to the container's init) runs the image's HEALTHCHECK: always false (Kubernetes runs probes, not image health checks)"),
    f!("proc.is_container_liveness_probe", ProcIsContainerLivenessProbe, Bool, No, "the process, or an ancestor not below the container's init, runs the container's exec livenessProbe command (pod spec)"),
    f!("proc.is_container_readiness_probe", ProcIsContainerReadinessProbe, Bool, No, "the process, or an ancestor not below the container's init, runs the container's exec readinessProbe command (pod spec)"),
    f!("fd.sip.name", FdSipName, DnsName, No, "server IP compared with DNS names: = != in are true when fd.sip is among the addresses the agent's resolver got for the literal names (refreshed every --dns-refresh-secs); printed as the first such name, <NA> if none"),
    f!("fd.cip.name", FdCipName, DnsName, No, "client IP compared with DNS names, as fd.sip.name"),
    f!("fd.rip.name", FdRipName, DnsName, No, "remote IP (the server for connect) compared with DNS names, as fd.sip.name"),
    f!("fd.lip.name", FdLipName, DnsName, No, "local IP (the client for connect) compared with DNS names, as fd.sip.name"),
];

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
        self.info().arg == Arg::OptIndex && self.index.is_none()
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
        let e = Field::resolve("proc.exe_ino.ctime_duration_pidns_start", None).unwrap_err();
        assert!(matches!(&e, FieldError::Unavailable(u) if u.name == "proc.exe_ino.ctime_duration_pidns_start"), "{e}");
        assert!(
            e.to_string().starts_with("field 'proc.exe_ino.ctime_duration_pidns_start' is not supplied by Lanner: "),
            "{e}"
        );
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
