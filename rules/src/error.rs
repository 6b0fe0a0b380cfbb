//! Load errors and warnings, each with `file:line:col` and the item it concerns.
//!
//! A load collects *all* problems of all files (not only the first) so `lanner rules
//! check` can show a rule author everything at once. Each error prints as
//! `file:line:col: rule 'name': message`.

use std::fmt;
use std::sync::Arc;

use crate::syntax::yaml::Pos;

/// Where something is: a file and (when known) a position in it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub file: Arc<str>,
    pub pos: Option<Pos>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(f, "{}:{}:{}", self.file, p.line, p.col),
            None => write!(f, "{}", self.file),
        }
    }
}

/// The item an error is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Item {
    Rule(String),
    Macro(String),
    List(String),
    Exception { rule: String, name: String },
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Rule(n) => write!(f, "rule '{n}'"),
            Item::Macro(n) => write!(f, "macro '{n}'"),
            Item::List(n) => write!(f, "list '{n}'"),
            Item::Exception { rule, name } => write!(f, "rule '{rule}' exception '{name}'"),
        }
    }
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ErrorKind {
    #[error("cannot read rules: {0}")]
    Io(String),
    #[error("YAML syntax error: {0}")]
    Yaml(String),
    #[error("{0}")]
    Structure(String),
    #[error("unknown key '{key}' (expected one of: {expected})")]
    UnknownKey { key: String, expected: &'static str },
    #[error("missing required key '{0}'")]
    MissingKey(&'static str),
    #[error("'{key}' must be {expected}, found {found}")]
    WrongType { key: String, expected: &'static str, found: String },
    #[error(
        "invalid priority '{0}' (expected Emergency, Alert, Critical, Error, Warning, Notice, Informational or Debug)"
    )]
    BadPriority(String),
    #[error("condition syntax error: {0}")]
    Syntax(String),
    #[error("{0}")]
    Field(#[from] crate::fields::FieldError),
    #[error("undefined macro '{0}'")]
    UndefinedMacro(String),
    #[error("undefined list '{0}'")]
    UndefinedList(String),
    #[error("macro '{0}' refers to itself (cycle: {1})")]
    MacroCycle(String, String),
    #[error("list '{0}' refers to itself")]
    ListCycle(String),
    #[error("operator '{op}' cannot be used with {field} (a {ty})")]
    BadOperator { op: String, field: String, ty: &'static str },
    #[error("invalid operator '{0}'")]
    UnknownOperator(String),
    #[error("invalid value '{value}' for {field}: {reason}")]
    BadValue { value: String, field: String, reason: String },
    #[error("{0}")]
    Override(String),
    #[error("{0}")]
    Exception(String),
}

/// One load error.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{loc}: {}{kind}", item.as_ref().map(|i| format!("{i}: ")).unwrap_or_default())]
pub struct LoadError {
    pub loc: Location,
    pub item: Option<Item>,
    pub kind: ErrorKind,
}

/// One load warning (the load still succeeds).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LoadWarning {
    pub loc: Location,
    pub item: Option<Item>,
    pub message: String,
}

impl fmt::Display for LoadWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: warning: ", self.loc)?;
        if let Some(i) = &self.item {
            write!(f, "{i}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every error (and warning) of a failed load.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadErrors {
    pub errors: Vec<LoadError>,
    pub warnings: Vec<LoadWarning>,
}

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.errors {
            writeln!(f, "{e}")?;
        }
        for w in &self.warnings {
            writeln!(f, "{w}")?;
        }
        write!(f, "{} error(s), {} warning(s)", self.errors.len(), self.warnings.len())
    }
}

impl std::error::Error for LoadErrors {}

impl LoadErrors {
    /// Sort by file and position and drop duplicates (a broken macro used by several
    /// rules is reported once).
    pub(crate) fn normalize(&mut self) {
        let mut seen = std::collections::HashSet::new();
        self.errors.retain(|e| seen.insert(e.to_string()));
        let mut seen = std::collections::HashSet::new();
        self.warnings.retain(|w| seen.insert(w.to_string()));
    }
}
