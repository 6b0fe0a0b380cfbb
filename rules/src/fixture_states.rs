//! The `states:` section of a rule fixture: which rules of the loaded files run and
//! which load inactive, with the reason, checked without Rust.
//!
//! ```yaml
//! rules: [site-rules.yaml]
//! states:
//!   Outbound to a private network: active
//!   Symlink over shadow: "inactive: event types not captured by Lanner: symlink, symlinkat"
//!   Capabilities in a shell: "inactive: needs thread.cap_effective"
//! cases: [...]
//! ```
//!
//! Each expected text must be a prefix of the state `lanner rules check` prints for that
//! rule (`active`, or `inactive: <reason>`), and every rule the files define must be
//! listed, so a rule that silently turns inactive (or active) fails its fixture.

use std::collections::BTreeMap;

use crate::runtime::ruleset::RuleSet;

/// Differences between `expected` and the states of `rs`, one message each.
pub(crate) fn check(expected: &BTreeMap<String, String>, rs: &RuleSet) -> Vec<String> {
    let mut out = Vec::new();
    for st in rs.states() {
        let got = st.state();
        match expected.get(&st.name) {
            None => out.push(format!("rule '{}' ({}) is not listed in states: it is {got}", st.name, st.location)),
            Some(want) if !got.starts_with(want.as_str()) => {
                out.push(format!("rule '{}': expected state '{want}', got '{got}'", st.name))
            }
            Some(_) => {}
        }
    }
    for name in expected.keys() {
        if !rs.states().iter().any(|s| &s.name == name) {
            out.push(format!("states names rule '{name}', which the rule files do not define"));
        }
    }
    out
}
