//! Field accessors specialized per field at compile time.
//!
//! `Field::extract` dispatches on the field id for every call. For the common checks (a
//! single string or number field without transformer) the compiler instead stores a
//! plain function pointer whose body is `extract` inlined for one constant id, so the
//! per-event dispatch disappears (see `Check::new` in `matcher.rs`).

use crate::fields::{Field, FieldId, Val};
use crate::runtime::event::Event;

/// A direct accessor of a string field, specialized at compile time (no dispatch on
/// the field id per event).
pub(crate) type StrGetter = for<'a> fn(&'a Event) -> Option<&'a str>;
/// Same for numeric fields.
pub(crate) type NumGetter = fn(&Event) -> Option<i64>;

macro_rules! getters {
    (str: $($s:ident),*; num: $($n:ident),*) => {
        /// Specialized accessor of an argument-less string field, if it has one.
        pub(crate) fn str_getter(id: FieldId) -> Option<StrGetter> {
            match id {
                $(FieldId::$s => Some(|ev| match (Field { id: FieldId::$s, index: None, key: None }).extract(ev) {
                    Val::Str(s) => Some(s),
                    _ => None,
                }),)*
                _ => None,
            }
        }
        /// Specialized accessor of an argument-less numeric field, if it has one.
        pub(crate) fn num_getter(id: FieldId) -> Option<NumGetter> {
            match id {
                $(FieldId::$n => Some(|ev| match (Field { id: FieldId::$n, index: None, key: None }).extract(ev) {
                    Val::Num(n) => Some(n),
                    _ => None,
                }),)*
                _ => None,
            }
        }
    };
}

getters! {
    str: EvtRes, ProcName, ProcExepath, ProcExe, ProcCmdline, ProcArgs, ProcPname, ProcPcmdline,
         ProcPexepath, ProcPexe, ProcCwd, UserName, FdName, FdDirectory, FdFilename, FdTypechar, FdType,
         FdL4proto, FdSockfamily, ContainerId, ContainerFullId, ContainerName, ContainerImageRepository,
         ContainerImageTag, ContainerImage, K8sNsName, K8sPodName, K8sPodUid, LannerK8sOwnerKind,
         LannerK8sOwnerName, K8smetaPodName, K8smetaNsName, EvtArgUid, EvtSource, SyscallType, EvtHostname;
    num: EvtRawtime, EvtRawtimeS, EvtRawtimeNs, EvtRawres, EvtRawargUid, ProcPid, ProcPpid, ThreadTid, ProcTty, UserUid, UserLoginuid,
         GroupGid, FdNum, FdSport, FdCport, FdRport, FdLport, LannerSetuidTarget
}
