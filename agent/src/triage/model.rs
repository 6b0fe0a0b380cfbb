//! The triage worker's vocabulary: the types and names that the policy, the
//! guard, the LLM client, the prompts and the cluster actions all speak.
//!
//! It imports no other triage module; `prompt`, `llm`, `policy`, `guard` and
//! `actions` take these names from here rather than from each other, so they
//! import each other in no cycle (`tests_structure.rs` checks it).
use std::{collections::BTreeMap, fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// The pod label that puts a pod in quarantine (the deny-all NetworkPolicy
/// `lanner-quarantine` selects it); a policy may not set it itself.
pub const QUARANTINE_LABEL: &str = "lanner.io/quarantine";
/// Annotation on a quarantined pod: the uuid of the alert that quarantined it.
pub const QUARANTINE_ALERT_ANNOTATION: &str = "lanner.io/quarantine-alert";
/// Annotation on a quarantined pod: the rule of that alert.
pub const QUARANTINE_RULE_ANNOTATION: &str = "lanner.io/quarantine-rule";

/// What the worker does about an incident, least to most disruptive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Ignore,
    Escalate,
    QuarantinePod,
    DeletePod,
}

impl Action {
    pub const ALL: [Action; 4] = [Action::Ignore, Action::Escalate, Action::QuarantinePod, Action::DeletePod];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Ignore => "ignore",
            Action::Escalate => "escalate",
            Action::QuarantinePod => "quarantine_pod",
            Action::DeletePod => "delete_pod",
        }
    }

    /// Writes to the workload (needs every guard to pass).
    pub fn is_destructive(self) -> bool {
        matches!(self, Action::QuarantinePod | Action::DeletePod)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Action::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| format!("unknown action {s:?}"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    TruePositive,
    FalsePositive,
    Benign,
    #[default]
    Unknown,
}

impl Classification {
    pub const ALL: [Classification; 4] =
        [Classification::TruePositive, Classification::FalsePositive, Classification::Benign, Classification::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Classification::TruePositive => "true_positive",
            Classification::FalsePositive => "false_positive",
            Classification::Benign => "benign",
            Classification::Unknown => "unknown",
        }
    }
}

impl FromStr for Classification {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Classification::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| format!("unknown classification {s:?}"))
    }
}

/// The analysis (ROSES) answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub summary: String,
    pub evidence: Vec<String>,
    pub benign_explanation: String,
}

/// The decision (RACE) answer, validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub action: Action,
    pub classification: Classification,
    pub confidence: u8,
    pub rationale: String,
}

/// The answers the model may give for one alert (`prompt.rs` turns them
/// into the JSON schema's enums): the actions inside the policy's
/// `[min_action, max_action]` that the guards would not refuse, and the
/// classifications the policy leaves open. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Choices {
    pub actions: Vec<Action>,
    pub classifications: Vec<Classification>,
}

impl Choices {
    /// Every action and classification (no constraint).
    #[cfg_attr(not(test), allow(dead_code))] // used by tests
    pub fn all() -> Choices {
        Choices { actions: Action::ALL.to_vec(), classifications: Classification::ALL.to_vec() }
    }

    pub fn allows(&self, p: &Proposal) -> bool {
        self.actions.contains(&p.action) && self.classifications.contains(&p.classification)
    }
}

/// What the worker knows about the alert's pod.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodFacts {
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Kinds of the owner references (`ReplicaSet`, `DaemonSet`, `Node`, …).
    #[serde(default)]
    pub owner_kinds: Vec<String>,
    /// Static pod (mirror annotation `kubernetes.io/config.mirror`).
    #[serde(default)]
    pub mirror: bool,
    /// `containerStatuses[].containerID` without the runtime scheme.
    #[serde(default)]
    pub container_ids: Vec<String>,
}

/// Result of looking the pod up.
#[derive(Debug, Clone, PartialEq)]
pub enum PodLookup {
    Found(PodFacts),
    NotFound,
    /// Could not be checked (API error, no cluster access): fail closed.
    Unknown(String),
}

impl PodLookup {
    pub fn labels(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            PodLookup::Found(f) => Some(&f.labels),
            _ => None,
        }
    }
}
