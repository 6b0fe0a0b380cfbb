//! `lanner-rules`: the rule engine of Lanner, a Falco-compatible runtime security agent.
//!
//! It loads Falco-syntax rule files (`rule`, `macro`, `list`, exceptions,
//! append/override), reports every problem as `file:line:col: item: message`, compiles
//! conditions into allocation-free matchers indexed by event type, renders
//! Falco-compatible alerts, hot-reloads rule files, and runs declarative YAML rule tests.
//!
//! Entry points:
//! - [`RuleSet::load_files`], [`RuleSet::default_pack`] — build a rule set;
//! - [`RuleSet::for_each_match`] / [`RuleSet::matches`] — the per-event match path;
//! - [`Rule::alert`] — the Falco JSON alert of a match;
//! - [`RuleSet::open_needs`], [`RuleSet::connect_needs`] — what the in-kernel open and
//!   connect pre-filters must keep;
//! - [`RuleSetHandle`] and [`Watcher`] — lock-free swapping and polling reload;
//! - [`check_paths`] and [`test_dir`] — `lanner rules check` / `lanner rules test`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod bench;
mod compile;
pub mod error;
pub mod fields;
pub mod fixture;
mod fixture_states;
pub mod inactive;
pub mod kfilter;
pub mod runtime;
pub mod syntax;

// The crate's public face keeps its short paths.
pub use fields::priority;
pub use runtime::{alert, event, reload};
pub use syntax::{de, yaml};

pub use alert::{Alert, FieldValue};
pub use error::{ErrorKind, Item, LoadError, LoadErrors, LoadWarning, Location};
pub use event::{
    Ancestors, Container, Event, EvtArg, EvtType, Fd, FdKind, HealthProbe, L4Proto, Leader, Mount, Mounts, Pod,
    ProbeKind, Process, TypeMask,
};
pub use fixture::FixtureReport;
pub use inactive::{Inactive, RuleState};
pub use kfilter::{ConnectNeeds, DupNeeds, KillNeeds, OpenNeeds, PathSet, SocketNeeds, UnshareNeeds};
pub use priority::Priority;
pub use reload::{ReloadOk, RuleSetHandle, Watcher};
pub use runtime::matcher::{Rule, RuleId};
pub use runtime::ruleset::RuleSet;

/// The embedded default rule pack, as `(name, YAML text)` in load order: shared lists and
/// macros first, then one file per MITRE tactic (`rules/default/*.yaml`, name order, the
/// order `--rules rules/default` loads them in; `rules/tests/default_pack.rs` checks both agree).
pub const DEFAULT_RULES: &[(&str, &str)] = &[
    ("default/00-base.yaml", include_str!("../default/00-base.yaml")),
    ("default/10-execution.yaml", include_str!("../default/10-execution.yaml")),
    ("default/20-persistence.yaml", include_str!("../default/20-persistence.yaml")),
    ("default/30-privilege-escalation.yaml", include_str!("../default/30-privilege-escalation.yaml")),
    ("default/40-defense-evasion.yaml", include_str!("../default/40-defense-evasion.yaml")),
    ("default/50-credential-access.yaml", include_str!("../default/50-credential-access.yaml")),
    ("default/60-discovery.yaml", include_str!("../default/60-discovery.yaml")),
    ("default/70-command-and-control.yaml", include_str!("../default/70-command-and-control.yaml")),
    ("default/80-impact.yaml", include_str!("../default/80-impact.yaml")),
];

/// Expand directories into their `*.yaml`/`*.yml` files (sorted; hidden entries such as
/// a ConfigMap's `..data` and rule-test fixtures `*.test.yaml` skipped); files are kept
/// as given. Unreadable directories become errors.
pub fn expand_paths(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<LoadError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p.is_dir() {
            match std::fs::read_dir(p) {
                Ok(rd) => {
                    let mut files: Vec<PathBuf> = rd
                        .filter_map(|e| e.ok())
                        .map(|e| e.path())
                        .filter(|f| {
                            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                            !name.starts_with('.')
                                && (name.ends_with(".yaml") || name.ends_with(".yml"))
                                && !name.ends_with(".test.yaml")
                                && !name.ends_with(".test.yml")
                                && f.is_file()
                        })
                        .collect();
                    files.sort();
                    out.extend(files);
                }
                Err(e) => errors.push(io_error(p, &e)),
            }
        } else {
            out.push(p.clone());
        }
    }
    (out, errors)
}

fn io_error(p: &Path, e: &std::io::Error) -> LoadError {
    LoadError {
        loc: Location { file: p.display().to_string().into(), pos: None },
        item: None,
        kind: ErrorKind::Io(e.to_string()),
    }
}

impl RuleSet {
    /// Load rule files in order (directories expand to their YAML files). Later files
    /// append to and override earlier ones. All errors of all files are returned.
    pub fn load_files(paths: &[PathBuf]) -> Result<RuleSet, LoadErrors> {
        let (files, mut errors) = expand_paths(paths);
        let mut sources = Vec::new();
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(text) => sources.push(Arc::new(syntax::yaml::SourceFile { name: f.display().to_string(), text })),
                Err(e) => errors.push(io_error(&f, &e)),
            }
        }
        compile::build(&sources, errors)
    }

    /// Load from in-memory `(name, text)` sources, in order.
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<RuleSet, LoadErrors> {
        let files: Vec<_> = sources
            .iter()
            .map(|(n, t)| Arc::new(syntax::yaml::SourceFile { name: n.to_string(), text: t.to_string() }))
            .collect();
        compile::build(&files, Vec::new())
    }

    /// The embedded default pack.
    pub fn default_pack() -> Result<RuleSet, LoadErrors> {
        RuleSet::from_sources(DEFAULT_RULES)
    }
}

/// Result of `lanner rules check`: every error and warning of loading the given files,
/// and the state of every defined rule.
#[derive(Debug)]
pub struct CheckReport {
    pub files: Vec<String>,
    pub errors: Vec<LoadError>,
    pub warnings: Vec<LoadWarning>,
    /// Every defined rule with its state (empty when the load failed).
    pub states: Vec<RuleState>,
    /// `--strict`: an inactive rule is an error.
    pub strict: bool,
}

impl CheckReport {
    /// Rules that run.
    pub fn active(&self) -> usize {
        self.states.iter().filter(|s| s.inactive.is_none()).count()
    }

    /// Rules defined but not running.
    pub fn inactive(&self) -> usize {
        self.states.len() - self.active()
    }

    /// No error, and under `--strict` no inactive rule.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty() && !(self.strict && self.inactive() > 0)
    }

    /// Inactive rules by reason category, most frequent first.
    pub fn inactive_by_category(&self) -> Vec<(&'static str, usize)> {
        let mut v: Vec<(&'static str, usize)> = Vec::new();
        for i in self.states.iter().filter_map(|s| s.inactive.as_ref()) {
            match v.iter_mut().find(|(c, _)| *c == i.category()) {
                Some((_, n)) => *n += 1,
                None => v.push((i.category(), 1)),
            }
        }
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v
    }

    /// The rule table: rule, where it is defined, its state.
    fn table(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w_rule = self.states.iter().map(|s| s.name.chars().count()).max().unwrap_or(4).clamp(4, 60);
        let w_loc = self.states.iter().map(|s| s.location.to_string().len()).max().unwrap_or(6).max(6);
        writeln!(f, "{:w_rule$}  {:w_loc$}  STATE", "RULE", "SOURCE")?;
        for s in &self.states {
            writeln!(f, "{:w_rule$}  {:w_loc$}  {}", s.name, s.location.to_string(), s.state())?;
        }
        Ok(())
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.errors {
            writeln!(f, "{e}")?;
        }
        for w in &self.warnings {
            writeln!(f, "{w}")?;
        }
        if !self.errors.is_empty() {
            return write!(
                f,
                "FAILED: {} error(s), {} warning(s) in {} file(s)",
                self.errors.len(),
                self.warnings.len(),
                self.files.len()
            );
        }
        self.table(f)?;
        write!(f, "{} rules: {} active, {} inactive", self.states.len(), self.active(), self.inactive())?;
        let cats = self.inactive_by_category();
        if !cats.is_empty() {
            let parts: Vec<String> = cats.iter().map(|(c, n)| format!("{n} {c}")).collect();
            write!(f, " ({})", parts.join(", "))?;
        }
        write!(f, "; {} file(s), {} warning(s)", self.files.len(), self.warnings.len())?;
        if self.strict && self.inactive() > 0 {
            write!(f, "\nFAILED (--strict): {} inactive rule(s)", self.inactive())?;
        }
        Ok(())
    }
}

/// Load `paths` (like the agent would) and report every error and warning, and every
/// rule's state. With `strict`, an inactive rule makes the report fail.
pub fn check_paths(paths: &[PathBuf], strict: bool) -> CheckReport {
    let (files, _) = expand_paths(paths);
    let files = files.iter().map(|p| p.display().to_string()).collect();
    match RuleSet::load_files(paths) {
        Ok(rs) => CheckReport {
            files,
            errors: Vec::new(),
            warnings: rs.warnings().to_vec(),
            states: rs.states().to_vec(),
            strict,
        },
        Err(e) => CheckReport { files, errors: e.errors, warnings: e.warnings, states: Vec::new(), strict },
    }
}

/// Run the rule fixtures of `dir` (recursively) against `rule_paths`, or the embedded
/// default pack when `None`. Fixture files may name their own rule files.
pub fn test_dir(dir: &Path, rule_paths: Option<&[PathBuf]>) -> FixtureReport {
    let rules = match rule_paths {
        Some(p) => RuleSet::load_files(p),
        None => RuleSet::default_pack(),
    };
    match rules {
        Ok(rs) => fixture::run_fixture_dir(dir, &rs),
        Err(e) => FixtureReport::load_failure(e),
    }
}
