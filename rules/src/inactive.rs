//! Why a defined rule does not run, and the per-rule state `lanner rules check` prints.
//!
//! Falco loads a rule file even when some rules cannot run on the current engine (an
//! event type the driver does not capture, a plugin source that is not loaded) and
//! skips those rules. Lanner does the same: a rule that needs an uncaptured event type
//! or a field Lanner does not fill loads *inactive with its reason*, the rest of the file
//! loads and runs, and `--strict` turns any inactive rule into an error for CI.

use std::fmt;

use crate::error::Location;
use crate::fields::avail::Unavailable;

/// Why a rule is inactive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inactive {
    /// `enabled: false`.
    Disabled,
    /// `source:` other than syscall (a plugin's event source).
    Source(String),
    /// Every event type the condition allows is one Lanner does not capture.
    EventTypes(Vec<String>),
    /// The condition needs fields Lanner does not fill.
    Fields(Vec<Unavailable>),
    /// `skip-if-unknown-filter: true` and the condition names unknown fields.
    UnknownFilter(Vec<String>),
}

impl Inactive {
    /// A short category for summaries and metrics ("disabled", "event type", ...).
    pub fn category(&self) -> &'static str {
        match self {
            Inactive::Disabled => "disabled",
            Inactive::Source(_) => "source",
            Inactive::EventTypes(_) => "event type not captured",
            Inactive::Fields(_) => "field not supplied",
            Inactive::UnknownFilter(_) => "skip-if-unknown-filter",
        }
    }
}

impl fmt::Display for Inactive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Inactive::Disabled => f.write_str("disabled (enabled: false)"),
            Inactive::Source(s) => write!(f, "source '{s}' is not supported (only syscall)"),
            Inactive::EventTypes(t) => write!(f, "event types not captured by Lanner: {}", t.join(", ")),
            Inactive::Fields(fs) => {
                f.write_str("needs ")?;
                for (i, u) in fs.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{} ({})", u.name, u.reason)?;
                }
                Ok(())
            }
            Inactive::UnknownFilter(n) => write!(f, "skip-if-unknown-filter: unknown fields {}", n.join(", ")),
        }
    }
}

/// One defined rule, active or not, in definition order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleState {
    pub name: String,
    pub location: Location,
    /// `None` when the rule runs.
    pub inactive: Option<Inactive>,
}

impl RuleState {
    /// The state as `lanner rules check` prints it: `active` or `inactive: <reason>`.
    pub fn state(&self) -> String {
        match &self.inactive {
            None => "active".to_string(),
            Some(i) => format!("inactive: {i}"),
        }
    }
}
