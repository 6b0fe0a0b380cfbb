//! Policy lint: `match.rules` names a later rule can never receive.
//!
//! The policy is first-match-wins, so an exact rule name listed by a later
//! policy rule is dead when an earlier rule that matches on rule names alone
//! already takes it through one of its globs. The policy still loads (the
//! first match is well defined); the worker and `lanner triage eval` log one
//! warning per dead name, so a policy author sees that an edit did nothing.
//! The embedded default policy must have none (tested below).
use super::{policy::Policy, yaml::glob};

/// One message per exact rule name that an earlier names-only rule takes.
pub fn shadowed(p: &Policy) -> Vec<String> {
    let mut out = Vec::new();
    for (j, later) in p.rules.iter().enumerate() {
        for name in later.rule_globs().iter().filter(|n| !n.contains(['*', '?'])) {
            let taken = p.rules[..j].iter().filter(|r| r.names_only()).find_map(|r| {
                let g = r.rule_globs().iter().find(|g| glob(g, name));
                match g {
                    Some(g) => Some((r, g.as_str())),
                    None if r.rule_globs().is_empty() => Some((r, "any rule")),
                    None => None,
                }
            });
            if let Some((earlier, by)) = taken {
                out.push(format!(
                    "policy rule {:?}: match.rules {name:?} is never reached: the earlier rule {:?} takes every such \
                     alert ({by:?})",
                    later.name, earlier.name
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(rules: &str) -> Policy {
        Policy::parse(&format!("rules:\n{rules}"), "test.yaml").unwrap()
    }

    #[test]
    fn an_exact_name_behind_an_earlier_glob_is_reported() {
        let p = policy(
            "  - {name: tokens, match: {rules: [\"*ervice account token*\"]}, action: quarantine_pod}\n\
             \x20 - {name: privesc, match: {rules: [\"PTRACE attached to process\", \"Read service account token with file utility\"]}, action: escalate}\n",
        );
        let w = shadowed(&p);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("\"privesc\"") && w[0].contains("Read service account token with file utility"));
        assert!(w[0].contains("\"tokens\"") && w[0].contains("*ervice account token*"), "{}", w[0]);
    }

    #[test]
    fn an_earlier_rule_with_other_criteria_does_not_shadow() {
        // The first rule only takes the name in one namespace or at one priority: the later one is live.
        let p = policy(
            "  - {name: a, match: {rules: [\"*shell*\"], namespaces: [dev]}, action: ignore}\n\
             \x20 - {name: b, match: {rules: [\"*shell*\"], priority: Critical}, action: ignore}\n\
             \x20 - {name: c, match: {rules: [\"Terminal shell in container\"]}, action: quarantine_pod}\n",
        );
        assert_eq!(shadowed(&p), Vec::<String>::new());
        // A names-only rule with no names at all takes everything.
        let p = policy(
            "  - {name: all, action: escalate}\n  - {name: c, match: {rules: [\"Terminal shell in container\"]}, action: ignore}\n",
        );
        assert_eq!(shadowed(&p).len(), 1);
    }

    #[test]
    fn the_embedded_default_policy_has_no_dead_names() {
        assert_eq!(shadowed(&Policy::default_policy()), Vec::<String>::new());
    }
}
