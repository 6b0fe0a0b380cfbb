//! Falco fields Lanner knows but does not fill (yet), and why.
//!
//! A Falco rule file may name any field of Falco's catalogue ([`super::falco`]). A field
//! Lanner supplies resolves to a [`super::Field`]; a field Falco has and Lanner does not
//! fill resolves to [`Unavailable`], so the rule that needs it loads *inactive with its
//! reason* (as Falco skips a rule whose event types it does not capture) instead of
//! failing the whole file. Only a name Falco does not have is an error.

use super::falco::{self, FalcoArg, FalcoEventKind};
use crate::runtime::event::EvtType;

/// A known field that Lanner does not fill, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable {
    /// The field as written (`evt.arg.target`, `proc.aexe[2]`).
    pub name: String,
    pub reason: String,
}

/// Reasons by field-name prefix, most specific first.
const REASONS: &[(&str, &str)] = &[
    ("proc.exe_ino.ctime_duration_pidns_start", "the pid namespace's start time is not read"),
    ("proc.pidns_init_start_ts", "the pid namespace's start time is not read"),
    ("proc.aenv", "ancestors' environments are not kept in the process table"),
    ("fd.", "not recorded for Lanner's open and connect events yet"),
    ("fdlist.", "fd lists of poll events are not captured"),
    ("fs.path.", "the unresolved path arguments (fs.path.*raw) are not kept"),
    ("container.", "only container id, name, image, privileged, host namespaces, pod IP, start time, hostPath mounts and the kubelet's labels are collected"),
    (
        "k8smeta.",
        "Lanner keeps a pod's own metadata and controller owner reference (one field-selected pod watch per node); \
         namespaces, services and controllers are not watched",
    ),
    ("k8s.pod.ip", "the pod status IP is not collected"),
    (
        "k8s.",
        "only the pod's name, namespace, uid and labels are collected (the other k8s.* fields are deprecated in Falco)",
    ),
];

/// Why Lanner does not fill `name` (written with `arg`), if it is a Falco field.
pub(crate) fn unavailable(name: &str, arg: Option<&str>) -> Option<Unavailable> {
    let written = match arg {
        Some(a) => format!("{name}[{a}]"),
        None => name.to_string(),
    };
    let (f, suffix) = falco::falco_field_dotted(name)?;
    if arg.is_some() && f.arg == FalcoArg::None {
        return None;
    }
    let reason = if matches!(f.arg, FalcoArg::Param | FalcoArg::IndexOrParam) && !suffix.is_empty() {
        param_reason(suffix)?
    } else if matches!(f.name, "evt.arg" | "evt.rawarg" | "evt.args") {
        "event arguments are filled by parameter name (evt.arg.target), not by position".to_string()
    } else {
        REASONS
            .iter()
            .find(|(p, _)| name.starts_with(p))
            .map_or("not supplied by Lanner's events yet", |(_, r)| r)
            .to_string()
    };
    Some(Unavailable { name: written, reason })
}

/// The reason for `evt.arg.<param>`, or `None` when no Falco event has that parameter.
fn param_reason(param: &str) -> Option<String> {
    if !falco::is_event_param(param) {
        return None;
    }
    let events: Vec<&str> = falco::FALCO_EVENTS
        .iter()
        .filter(|e| e.kind == FalcoEventKind::Syscall && e.params.contains(&param))
        .map(|e| e.name)
        .collect();
    if events.is_empty() {
        return Some("argument of event types Lanner does not capture".into());
    }
    let captured: Vec<&str> = events.iter().copied().filter(|e| EvtType::from_falco_name(e).is_some()).collect();
    Some(if captured.is_empty() {
        format!("argument of {} events, which Lanner does not capture", list(&events))
    } else {
        format!("argument of {} not read by Lanner's probes yet", list(&captured))
    })
}

fn list(names: &[&str]) -> String {
    const MAX: usize = 4;
    let mut s = names.iter().take(MAX).copied().collect::<Vec<_>>().join(", ");
    if names.len() > MAX {
        s.push_str(&format!(" and {} more", names.len() - MAX));
    }
    s
}
