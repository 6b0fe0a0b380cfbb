//! YAML loading for the triage files (policy, worker config, eval set) with
//! the rule engine's positioned parser, so every error reads
//! `file:line:col: message` and the whole project has one YAML parser.
use serde::de::DeserializeOwned;

/// A YAML file that does not parse or does not fit its schema.
#[derive(Debug, thiserror::Error)]
#[error("{origin}:{pos}: {message}")]
pub struct YamlError {
    pub origin: String,
    /// `line:col`, or `-` when unknown.
    pub pos: String,
    pub message: String,
}

/// Parse the single YAML document of `text` into `T`.
pub fn from_str<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, YamlError> {
    let docs = lanner_rules::yaml::parse(text).map_err(|e| YamlError {
        origin: origin.into(),
        pos: e.pos.to_string(),
        message: e.message,
    })?;
    let doc = match docs.as_slice() {
        [d] => d,
        [] => return Err(YamlError { origin: origin.into(), pos: "1:1".into(), message: "empty document".into() }),
        _ => {
            return Err(YamlError {
                origin: origin.into(),
                pos: "-".into(),
                message: "expected one YAML document".into(),
            })
        }
    };
    lanner_rules::de::from_node(doc).map_err(|e| YamlError {
        origin: origin.into(),
        pos: e.pos.map_or_else(|| "-".into(), |p| p.to_string()),
        message: e.message,
    })
}

/// `*` (any run) and `?` (one character) glob match, whole string.
pub fn glob(pattern: &str, s: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("lanner-*", "lanner-agent-x7"));
        assert!(glob("*shell*", "Terminal shell in container"));
        assert!(glob("a?c", "abc"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
        assert!(!glob("lanner-*", "my-lanner-x"));
        assert!(glob("*", ""));
    }

    #[test]
    fn errors_carry_positions() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct S {
            a: u32,
        }
        let e = from_str::<S>("a: 1\nb: 2\n", "x.yaml").unwrap_err();
        assert!(e.to_string().starts_with("x.yaml:"), "{e}");
        assert!(e.message.contains("unknown field"), "{e}");
        let e = from_str::<S>("a: [1\n", "y.yaml").unwrap_err();
        assert!(e.to_string().starts_with("y.yaml:"), "{e}");
        assert_eq!(from_str::<S>("a: 7", "z").unwrap().a, 7);
    }
}
