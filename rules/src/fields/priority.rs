//! Rule priorities, Falco's eight syslog-like levels.
//!
//! Parsing is case-insensitive and accepts `Info` for `Informational`; display and
//! serialization use the capitalized names Falco prints in alerts (`Critical`,
//! `Warning`, ...). Ordering: `Emergency` is the highest (`>`) priority.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Priority {
    Emergency,
    Alert,
    Critical,
    Error,
    Warning,
    Notice,
    Informational,
    Debug,
}

impl Priority {
    pub const ALL: [Priority; 8] = [
        Priority::Emergency,
        Priority::Alert,
        Priority::Critical,
        Priority::Error,
        Priority::Warning,
        Priority::Notice,
        Priority::Informational,
        Priority::Debug,
    ];

    /// Name as Falco prints it in alerts.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Emergency => "Emergency",
            Priority::Alert => "Alert",
            Priority::Critical => "Critical",
            Priority::Error => "Error",
            Priority::Warning => "Warning",
            Priority::Notice => "Notice",
            Priority::Informational => "Informational",
            Priority::Debug => "Debug",
        }
    }

    /// Severity rank: 0 for Debug up to 7 for Emergency.
    pub fn severity(self) -> u8 {
        7 - self as u8
    }
}

impl PartialOrd for Priority {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Priority {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.severity().cmp(&other.severity())
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown priority name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid priority '{0}'")]
pub struct BadPriority(pub String);

impl FromStr for Priority {
    type Err = BadPriority;
    fn from_str(s: &str) -> Result<Self, BadPriority> {
        let l = s.trim().to_ascii_lowercase();
        Ok(match l.as_str() {
            "emergency" => Priority::Emergency,
            "alert" => Priority::Alert,
            "critical" => Priority::Critical,
            "error" => Priority::Error,
            "warning" => Priority::Warning,
            "notice" => Priority::Notice,
            "informational" | "info" => Priority::Informational,
            "debug" => Priority::Debug,
            _ => return Err(BadPriority(s.to_string())),
        })
    }
}

impl Serialize for Priority {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Priority {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_order() {
        assert_eq!("CRITICAL".parse::<Priority>().unwrap(), Priority::Critical);
        assert_eq!("Info".parse::<Priority>().unwrap(), Priority::Informational);
        assert_eq!("informational".parse::<Priority>().unwrap(), Priority::Informational);
        assert!("high".parse::<Priority>().is_err());
        assert!(Priority::Critical > Priority::Warning);
        assert!(Priority::Notice > Priority::Informational);
        assert_eq!(Priority::Warning.to_string(), "Warning");
        let mut v = Priority::ALL.to_vec();
        v.sort();
        assert_eq!(v.first(), Some(&Priority::Debug));
    }
}
