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
pub mod kfilter;
pub mod runtime;
pub mod syntax;

// The crate's public face keeps its short paths.
pub use fields::priority;
pub use runtime::{alert, event, reload};
pub use syntax::{de, yaml};

pub use alert::{Alert, FieldValue};
pub use error::{ErrorKind, Item, LoadError, LoadErrors, LoadWarning, Location};
pub use event::{Container, Event, EvtType, Fd, FdKind, L4Proto, Pod, Process};
pub use fixture::FixtureReport;
pub use kfilter::{ConnectNeeds, OpenNeeds, PathSet};
pub use priority::Priority;
pub use reload::{ReloadOk, RuleSetHandle, Watcher};
pub use runtime::matcher::{Rule, RuleId, RuleSet};

/// The embedded default rule pack, as `(name, YAML text)` in load order.
pub const DEFAULT_RULES: &[(&str, &str)] =
    &[("default/lanner-rules.yaml", include_str!("../default/lanner-rules.yaml"))];

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

/// Result of `lanner rules check`: every error and warning of loading the given files.
#[derive(Debug)]
pub struct CheckReport {
    pub files: Vec<String>,
    pub errors: Vec<LoadError>,
    pub warnings: Vec<LoadWarning>,
    /// Enabled rules (0 when the load failed).
    pub rules: usize,
    /// Disabled or skipped rules.
    pub inactive: usize,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
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
        if self.is_ok() {
            write!(
                f,
                "OK: {} rules loaded from {} file(s), {} inactive, {} warning(s)",
                self.rules,
                self.files.len(),
                self.inactive,
                self.warnings.len()
            )
        } else {
            write!(
                f,
                "FAILED: {} error(s), {} warning(s) in {} file(s)",
                self.errors.len(),
                self.warnings.len(),
                self.files.len()
            )
        }
    }
}

/// Load `paths` (like the agent would) and report every error and warning.
pub fn check_paths(paths: &[PathBuf]) -> CheckReport {
    let (files, _) = expand_paths(paths);
    let files = files.iter().map(|p| p.display().to_string()).collect();
    match RuleSet::load_files(paths) {
        Ok(rs) => CheckReport {
            files,
            errors: Vec::new(),
            warnings: rs.warnings().to_vec(),
            rules: rs.len(),
            inactive: rs.inactive_rules().len(),
        },
        Err(e) => CheckReport { files, errors: e.errors, warnings: e.warnings, rules: 0, inactive: 0 },
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
