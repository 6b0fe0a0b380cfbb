//! Rule output templates: `%field` and `%field[arg]` tokens resolved at load time.
//!
//! A token is `%` followed by a field name (letters, digits, `_`, `.`; a trailing `.` is
//! punctuation, not part of the name) and an optional `[arg]`. `%%` is a literal `%`,
//! and a `%` not followed by a name is kept as is. Missing values render as `<NA>`, as
//! in Falco. Rendering happens only for alerts, so it may allocate.

use crate::fields::{Field, FieldError};
use crate::runtime::event::Event;

#[derive(Clone, Debug)]
enum Part {
    Lit(String),
    Field {
        field: Field,
        key: String,
    },
    /// A Falco field Lanner does not fill: always `<NA>` (null in `output_fields`), as
    /// Falco prints a field without a value.
    Missing {
        key: String,
    },
}

/// A compiled output template.
#[derive(Clone, Debug, Default)]
pub(crate) struct OutputTemplate {
    parts: Vec<Part>,
}

/// An unknown field in an output, with its byte offset in the template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutputError {
    pub offset: usize,
    pub error: FieldError,
}

impl OutputTemplate {
    /// Parse; returns every unknown field.
    pub fn parse(s: &str) -> Result<OutputTemplate, Vec<OutputError>> {
        let mut parts = Vec::new();
        let mut errors = Vec::new();
        let mut lit = String::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'%' {
                let next = s[i..].find('%').map_or(s.len(), |n| i + n);
                lit.push_str(&s[i..next]);
                i = next;
                continue;
            }
            if b.get(i + 1) == Some(&b'%') {
                lit.push('%');
                i += 2;
                continue;
            }
            let start = i + 1;
            let mut end = start;
            while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_' || b[end] == b'.') {
                end += 1;
            }
            while end > start && b[end - 1] == b'.' {
                end -= 1;
            }
            if end == start || !b[start].is_ascii_alphabetic() {
                lit.push('%');
                i += 1;
                continue;
            }
            let name = &s[start..end];
            let mut arg = None;
            let mut after = end;
            if b.get(end) == Some(&b'[') {
                if let Some(close) = s[end..].find(']') {
                    arg = Some(&s[end + 1..end + close]);
                    after = end + close + 1;
                }
            }
            match Field::resolve(name, arg) {
                Ok(field) => {
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    let key = field.display_name();
                    parts.push(Part::Field { field, key });
                }
                Err(FieldError::Unavailable(u)) => {
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Missing { key: u.name });
                }
                Err(error) => errors.push(OutputError { offset: start, error }),
            }
            i = after;
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        if errors.is_empty() {
            Ok(OutputTemplate { parts })
        } else {
            Err(errors)
        }
    }

    pub fn render(&self, ev: &Event) -> String {
        let mut out = String::with_capacity(256);
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Field { field, .. } => field.render(ev, &mut out),
                Part::Missing { .. } => out.push_str("<NA>"),
            }
        }
        out
    }

    /// The fields used, as `(name as written, field)`, without duplicates; `None` for a
    /// field Lanner does not fill.
    pub fn fields(&self) -> Vec<(&str, Option<&Field>)> {
        let mut v: Vec<(&str, Option<&Field>)> = Vec::new();
        for p in &self.parts {
            let (key, field) = match p {
                Part::Field { field, key } => (key.as_str(), Some(field)),
                Part::Missing { key } => (key.as_str(), None),
                Part::Lit(_) => continue,
            };
            if !v.iter().any(|(k, _)| *k == key) {
                v.push((key, field));
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::event::{EvtType, Process};
    use std::sync::Arc;

    #[test]
    fn render_with_na_and_args() {
        let mut ev = Event::new(EvtType::Execve, 0, Arc::new(Process::new("bash", "/bin/bash", &["-i"])));
        ev.ancestors = vec![Arc::new(Process::new("sshd", "/usr/sbin/sshd", &[]))].into();
        let t = OutputTemplate::parse("Shell (user=%user.name cmd=%proc.cmdline parent=%proc.aname[1] pod=%k8s.pod.name 100%% %) done %proc.name.").unwrap();
        assert_eq!(t.render(&ev), "Shell (user=<NA> cmd=bash -i parent=sshd pod=<NA> 100% %) done bash.");
        let keys: Vec<&str> = t.fields().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, vec!["user.name", "proc.cmdline", "proc.aname[1]", "k8s.pod.name", "proc.name"]);
    }

    #[test]
    fn unknown_fields_with_offsets() {
        let t = OutputTemplate::parse("rss=%proc.vmrss user=%user.name").unwrap();
        let ev = Event::new(EvtType::Execve, 0, Arc::new(Process::new("bash", "/bin/bash", &[])));
        assert_eq!(t.render(&ev), "rss=<NA> user=<NA>");
        assert!(t.fields()[0].0 == "proc.vmrss" && t.fields()[0].1.is_none());
        let errs = OutputTemplate::parse("a %proc.nme b %fd.nam %user.name").unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].offset, 3);
        assert_eq!(errs[1].offset, 15);
        assert!(errs[0].error.to_string().contains("did you mean 'proc.name'"));
    }
}
