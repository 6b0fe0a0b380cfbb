//! The Falco coverage report: which of Falco's fields and event types Lanner supplies,
//! and why the others are not, generated from the catalogues so it cannot drift.
//!
//! `docs/falco-coverage.md` is this report; a test fails when the file and the tables
//! disagree (`LANNER_BLESS=1 cargo test -p lanner-rules --test coverage_doc` rewrites it).

use std::fmt::Write as _;

use super::avail;
use super::falco::{self, FalcoEventKind, FalcoField, FalcoOrigin};
use crate::runtime::event::EvtType;

/// How Lanner stands on one Falco field.
fn status(f: &FalcoField) -> String {
    if super::FIELDS.iter().any(|l| l.name == f.name) {
        return "supplied".into();
    }
    match avail::unavailable(f.name, None) {
        Some(u) => format!("not supplied: {}", u.reason),
        None => "not supplied".into(),
    }
}

fn origin(f: &FalcoField) -> &'static str {
    match f.origin() {
        FalcoOrigin::Libsinsp => "libsinsp",
        FalcoOrigin::ContainerPlugin => "container plugin",
        FalcoOrigin::K8smetaPlugin => "k8smeta plugin",
    }
}

/// The whole report, as Markdown.
pub fn markdown() -> String {
    let mut out = String::new();
    let fields = falco::FALCO_FIELDS;
    let supplied = fields.iter().filter(|f| super::FIELDS.iter().any(|l| l.name == f.name)).count();
    let syscalls: Vec<_> = falco::FALCO_EVENTS.iter().filter(|e| e.kind == FalcoEventKind::Syscall).collect();
    let captured: Vec<_> = syscalls.iter().filter(|e| EvtType::from_falco_name(e.name).is_some()).collect();
    let _ = writeln!(out, "# Falco coverage: fields and event types\n");
    let _ = writeln!(
        out,
        "Generated from Lanner's catalogue of Falco's fields and event table (`rules/src/fields/falco*.rs`) by\n\
         `LANNER_BLESS=1 cargo test -p lanner-rules --test coverage_doc`; a test fails when this file is stale.\n\
         A rule that needs a field or event type marked *not supplied* loads **inactive** with that reason\n\
         (`lanner rules check` prints it); a name Falco does not have is an error.\n"
    );
    let _ = writeln!(
        out,
        "- Fields: {supplied} of {} supplied (`evt.arg.<name>`/`evt.rawarg.<name>` by Falco's parameter names for the captured types, plus Lanner's own `lanner.*`).",
        fields.len()
    );
    let _ = writeln!(
        out,
        "- Syscall event types: {} of {} captured ({}).\n",
        captured.len(),
        syscalls.len(),
        captured.iter().map(|e| format!("`{}`", e.name)).collect::<Vec<_>>().join(", ")
    );
    let mut by_class: Vec<&FalcoField> = fields.iter().collect();
    by_class.sort_by_key(|f| (f.class, f.name));
    let mut class = "";
    for f in by_class {
        if f.class != class {
            class = f.class;
            let _ = writeln!(out, "\n## `{class}` fields\n");
            let _ = writeln!(out, "| field | type | from | meaning | Lanner |");
            let _ = writeln!(out, "|---|---|---|---|---|");
        }
        let dep = if f.has(FalcoField::DEPRECATED) { " (deprecated)" } else { "" };
        let _ = writeln!(out, "| `{}`{dep} | {} | {} | {} | {} |", f.name, f.ty, origin(f), f.desc, status(f));
    }
    let _ = writeln!(out, "\n## Syscall event types\n");
    let _ = writeln!(out, "| event | parameters (`evt.arg.*`) | Lanner |");
    let _ = writeln!(out, "|---|---|---|");
    for e in syscalls {
        let st = match EvtType::from_falco_name(e.name) {
            Some(t) if t.as_str() == e.name => "captured".to_string(),
            Some(t) => format!("captured, reported as `{}`", t.as_str()),
            None => "not captured".to_string(),
        };
        let _ = writeln!(out, "| `{}` | {} | {st} |", e.name, e.params.join(", "));
    }
    out
}
