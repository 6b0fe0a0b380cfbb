//! Parser of Falco conditions (the `condition:` of rules and macros).
//!
//! Scannerless recursive descent, because the lexical rules depend on position: after an
//! operator everything up to a blank or a parenthesis is one value (`evt.dir = <`,
//! `fd.name startswith /etc/`). Precedence follows Falco: `not` binds tighter than
//! `and`, which binds tighter than `or`. Errors carry the byte offset of the problem so
//! the caller can turn it into a `file:line:col`.

use crate::syntax::ast::{Expr, FieldRef, Op, Rhs, Span, Transform, Value};

/// A syntax error at a byte offset of the condition text.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

/// Parse `text` (whose spans will refer to source `src`).
pub fn parse(text: &str, src: u32) -> Result<Expr, SyntaxError> {
    let mut p = P { s: text, i: 0, src };
    p.ws();
    if p.i >= p.s.len() {
        return Err(p.err(0, "empty condition"));
    }
    let e = p.or()?;
    p.ws();
    if p.i < p.s.len() {
        let (w, _) = p.peek_token();
        if w == ")" {
            return Err(p.err(p.i, "unbalanced ')'"));
        }
        return Err(p.err(p.i, format!("expected 'and', 'or' or the end of the condition, found '{w}'")));
    }
    Ok(e)
}

struct P<'a> {
    s: &'a str,
    i: usize,
    src: u32,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}
fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'
}

impl<'a> P<'a> {
    fn err(&self, offset: usize, message: impl Into<String>) -> SyntaxError {
        SyntaxError { offset, message: message.into() }
    }
    fn span(&self, start: usize, end: usize) -> Span {
        Span { src: self.src, start: start as u32, end: end as u32 }
    }
    fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
    fn ws(&mut self) {
        let r = self.rest();
        self.i += r.len() - r.trim_start().len();
    }
    /// A short description of what comes next, for messages.
    fn peek_token(&self) -> (String, usize) {
        let r = self.rest();
        let n: String = match r.chars().next() {
            Some(c) if is_ident_char(c) => r.chars().take_while(|c| is_ident_char(*c)).collect(),
            Some(c) => c.to_string(),
            None => "end of condition".to_string(),
        };
        (n, self.i)
    }
    /// Consume keyword `kw` if it is next and is a whole word.
    fn keyword(&mut self, kw: &str) -> bool {
        let r = self.rest();
        if r.starts_with(kw) && !r[kw.len()..].starts_with(is_ident_char) {
            self.i += kw.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, SyntaxError> {
        let mut items = vec![self.and()?];
        loop {
            self.ws();
            if self.keyword("or") {
                items.push(self.and()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 { items.pop().unwrap_or(Expr::Or(vec![])) } else { Expr::Or(items) })
    }

    fn and(&mut self) -> Result<Expr, SyntaxError> {
        let mut items = vec![self.not()?];
        loop {
            self.ws();
            if self.keyword("and") {
                items.push(self.not()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 { items.pop().unwrap_or(Expr::And(vec![])) } else { Expr::And(items) })
    }

    fn not(&mut self) -> Result<Expr, SyntaxError> {
        self.ws();
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        self.ws();
        let start = self.i;
        match self.peek() {
            None => Err(self.err(start, "unexpected end of condition: expected a field check, a macro or '('")),
            Some('(') => {
                self.i += 1;
                let e = self.or()?;
                self.ws();
                let _ = start;
                if self.peek() != Some(')') {
                    let (w, at) = self.peek_token();
                    return Err(self.err(at, format!("expected ')' to close '(', found '{w}'")));
                }
                self.i += 1;
                Ok(e)
            }
            Some(c) if is_ident_start(c) => {
                let word = self.ident();
                if matches!(word, "and" | "or") {
                    return Err(self.err(start, format!("unexpected '{word}': expected a field check, a macro or '('")));
                }
                // transformer call or val(): `tolower(`
                if self.peek() == Some('(') {
                    return match Transform::from_name(word) {
                        Some(_) => {
                            self.i = start;
                            let lhs = self.field_expr()?;
                            self.check(lhs)
                        }
                        None => Err(self.err(
                            start,
                            format!("unknown transformer '{word}' (expected tolower, toupper, basename or len)"),
                        )),
                    };
                }
                let has_arg = self.peek() == Some('[');
                self.i = start;
                if word.contains('.') || has_arg || self.next_is_operator_after_ident() {
                    let lhs = self.field_expr()?;
                    self.check(lhs)
                } else {
                    self.i = start + word.len();
                    Ok(Expr::Macro(word.to_string(), self.span(start, self.i)))
                }
            }
            Some(c) => Err(self.err(start, format!("unexpected '{c}': expected a field check, a macro or '('"))),
        }
    }

    fn ident(&mut self) -> &'a str {
        let r = self.rest();
        let n = r.find(|c: char| !is_ident_char(c)).unwrap_or(r.len());
        self.i += n;
        &r[..n]
    }

    /// After a bare identifier: does an operator follow (so it is a field, not a macro)?
    fn next_is_operator_after_ident(&mut self) -> bool {
        let save = self.i;
        self.ident();
        self.ws();
        let r = self.rest();
        let res = r.starts_with(['=', '!', '<', '>']) || {
            let w: &str = &r[..r.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(r.len())];
            Op::from_word(w).is_some()
        };
        self.i = save;
        res
    }

    /// `name`, `name[arg]`, `tolower(name)`.
    fn field_expr(&mut self) -> Result<FieldRef, SyntaxError> {
        self.ws();
        let start = self.i;
        if !self.peek().is_some_and(is_ident_start) {
            let (w, at) = self.peek_token();
            return Err(self.err(at, format!("expected a field name, found '{w}'")));
        }
        let word = self.ident();
        if self.peek() == Some('(') {
            let Some(t) = Transform::from_name(word) else {
                return Err(self
                    .err(start, format!("unknown transformer '{word}' (expected tolower, toupper, basename or len)")));
            };
            self.i += 1;
            let mut inner = self.field_expr()?;
            self.ws();
            if self.peek() != Some(')') {
                let (w, at) = self.peek_token();
                return Err(self.err(at, format!("expected ')' after the argument of {word}(), found '{w}'")));
            }
            self.i += 1;
            inner.transforms.insert(0, t);
            return Ok(inner);
        }
        let mut arg = None;
        if self.peek() == Some('[') {
            let open = self.i;
            let Some(close) = self.rest().find(']') else {
                return Err(self.err(open, "unterminated field argument: missing ']'"));
            };
            arg = Some(self.s[open + 1..open + close].to_string());
            self.i = open + close + 1;
        }
        Ok(FieldRef { name: word.to_string(), arg, transforms: Vec::new(), span: self.span(start, self.i) })
    }

    fn operator(&mut self) -> Result<(Op, Span), SyntaxError> {
        self.ws();
        let start = self.i;
        let r = self.rest();
        for (sym, op) in [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if r.starts_with(sym) {
                self.i += sym.len();
                return Ok((op, self.span(start, self.i)));
            }
        }
        let n = r.find(|c: char| !c.is_ascii_alphanumeric() && c != '_').unwrap_or(r.len());
        let w = &r[..n];
        if w.is_empty() {
            let (t, at) = self.peek_token();
            return Err(self.err(at, format!("expected an operator, found '{t}'")));
        }
        match Op::from_word(w) {
            Some(op) => {
                self.i += n;
                Ok((op, self.span(start, self.i)))
            }
            None => Err(self.err(start, format!("unknown operator '{w}'"))),
        }
    }

    fn check(&mut self, lhs: FieldRef) -> Result<Expr, SyntaxError> {
        let (op, op_span) = self.operator()?;
        let rhs = if op == Op::Exists {
            Rhs::None
        } else if op.takes_list() {
            self.ws();
            if self.peek() == Some('(') {
                self.list()?
            } else if self.peek().is_some_and(is_ident_start) {
                Rhs::ListRef(self.value()?)
            } else {
                let (w, at) = self.peek_token();
                return Err(self.err(at, format!("expected a list '(a, b)' or a list name after '{op}', found '{w}'")));
            }
        } else {
            self.ws();
            // Lanner extension: `contains (a, b)` means contains a or b (same for
            // icontains, startswith, endswith); list names are expanded as for `in`.
            if self.peek() == Some('(') && matches!(op, Op::Contains | Op::IContains | Op::StartsWith | Op::EndsWith) {
                return Ok(Expr::Check { lhs, op, op_span, rhs: self.list()? });
            }
            if self.rest().starts_with("val(") {
                self.i += 4;
                let f = self.field_expr()?;
                self.ws();
                if self.peek() != Some(')') {
                    let (w, at) = self.peek_token();
                    return Err(self.err(at, format!("expected ')' after val(, found '{w}'")));
                }
                self.i += 1;
                Rhs::Field(f)
            } else {
                Rhs::Value(self.value()?)
            }
        };
        Ok(Expr::Check { lhs, op, op_span, rhs })
    }

    fn list(&mut self) -> Result<Rhs, SyntaxError> {
        let open = self.i;
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(')') {
            self.i += 1;
            return Ok(Rhs::List(items, self.span(open, self.i)));
        }
        loop {
            items.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(',') => self.i += 1,
                Some(')') => {
                    self.i += 1;
                    return Ok(Rhs::List(items, self.span(open, self.i)));
                }
                None => return Err(self.err(open, "unterminated list: missing ')'")),
                Some(_) => {
                    let (w, at) = self.peek_token();
                    return Err(self.err(at, format!("expected ',' or ')' in list, found '{w}'")));
                }
            }
        }
    }

    /// A quoted string or a bare word.
    fn value(&mut self) -> Result<Value, SyntaxError> {
        self.ws();
        let start = self.i;
        match self.peek() {
            Some(q @ ('"' | '\'')) => match unquote(self.rest()) {
                Some((text, n)) => {
                    self.i = start + n;
                    Ok(Value { text, quoted: true, span: self.span(start, self.i) })
                }
                None => Err(self.err(start, format!("unterminated string starting with {q}"))),
            },
            None => Err(self.err(start, "expected a value, found the end of the condition")),
            Some(c) if c == '(' || c == ')' || c == ',' => {
                Err(self.err(start, format!("expected a value, found '{c}'")))
            }
            Some(_) => {
                let r = self.rest();
                let n =
                    r.find(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ',' | '"' | '\'')).unwrap_or(r.len());
                self.i += n;
                Ok(Value { text: r[..n].to_string(), quoted: false, span: self.span(start, self.i) })
            }
        }
    }
}

/// A quoted string at the start of `s` (`"..."` or `'...'`, with `\\`, `\"`, `\'`, `\n`,
/// `\t`, `\r` escapes): its text and the bytes it takes, or `None` when unterminated or
/// not quoted.
pub(crate) fn unquote(s: &str) -> Option<(String, usize)> {
    let q = s.chars().next().filter(|c| matches!(c, '"' | '\''))?;
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((k, c)) = chars.next() {
        if c == q {
            return Some((out, k + 1));
        }
        if c == '\\' {
            match chars.next() {
                Some((_, e @ ('\\' | '"' | '\''))) => out.push(e),
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, e)) => {
                    out.push('\\');
                    out.push(e);
                }
                None => return None,
            }
        } else {
            out.push(c);
        }
    }
    None
}

/// A list item as Falco splices it into a condition: an item that is one quoted string
/// (`'"10.0.0.0/8"'` in YAML) is that string, quoted; anything else is a bare word.
pub(crate) fn list_item(text: &str) -> (String, bool) {
    match unquote(text) {
        Some((v, n)) if n == text.len() => (v, true),
        _ => (text.to_string(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Expr {
        parse(s, 0).unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }
    fn show(e: &Expr) -> String {
        match e {
            Expr::And(v) => format!("and({})", v.iter().map(show).collect::<Vec<_>>().join(", ")),
            Expr::Or(v) => format!("or({})", v.iter().map(show).collect::<Vec<_>>().join(", ")),
            Expr::Not(x) => format!("not({})", show(x)),
            Expr::Macro(m, _) => m.clone(),
            Expr::Check { lhs, op, rhs, .. } => {
                let t: Vec<String> = lhs.transforms.iter().map(|t| format!("{t:?}")).collect();
                let r = match rhs {
                    Rhs::None => String::new(),
                    Rhs::Value(v) => format!(" {}", v.text),
                    Rhs::List(l, _) => format!(" ({})", l.iter().map(|v| v.text.clone()).collect::<Vec<_>>().join("|")),
                    Rhs::ListRef(v) => format!(" @{}", v.text),
                    Rhs::Field(f) => format!(" val({f})"),
                };
                format!("{}{lhs} {op}{r}", t.join(""))
            }
        }
    }

    #[test]
    fn precedence_not_and_or() {
        assert_eq!(show(&p("a or b and c")), "or(a, and(b, c))");
        assert_eq!(show(&p("not a and b")), "and(not(a), b)");
        assert_eq!(show(&p("not (a or b) and c or d")), "or(and(not(or(a, b)), c), d)");
        assert_eq!(show(&p("not not a")), "not(not(a))");
        assert_eq!(show(&p("(a or b) and c")), "and(or(a, b), c)");
    }

    #[test]
    fn checks_values_and_lists() {
        assert_eq!(
            show(&p("evt.type=execve and proc.name in (bash, 'sh', \"z sh\")")),
            "and(evt.type = execve, proc.name in (bash|sh|z sh))"
        );
        assert_eq!(show(&p("evt.dir = <")), "evt.dir = <");
        assert_eq!(show(&p("fd.name startswith /etc/")), "fd.name startswith /etc/");
        assert_eq!(show(&p("proc.aname[2]=sshd")), "proc.aname[2] = sshd");
        assert_eq!(
            show(&p("k8s.pod.label[app.kubernetes.io/name] exists")),
            "k8s.pod.label[app.kubernetes.io/name] exists"
        );
        assert_eq!(show(&p("proc.name in shell_binaries")), "proc.name in @shell_binaries");
        assert_eq!(show(&p("proc.name in ()")), "proc.name in ()");
        assert_eq!(show(&p("proc.cmdline contains (a, 'b c')")), "proc.cmdline contains (a|b c)");
        assert_eq!(show(&p("tolower(basename(fd.name)) = shadow")), "ToLowerBasenamefd.name = shadow");
        assert_eq!(show(&p("proc.name = val(proc.pname)")), "proc.name = val(proc.pname)");
        assert_eq!(show(&p("proc.cmdline contains \"a \\\"b\\\"\"")), "proc.cmdline contains a \"b\"");
        assert_eq!(show(&p("user.uid != 0 and user.uid>=1000")), "and(user.uid != 0, user.uid >= 1000)");
        // a word operator directly after an undotted identifier makes it a field (unknown later)
        assert_eq!(show(&p("foo contains x")), "foo contains x");
        // keywords are whole words
        assert_eq!(show(&p("android or notify")), "or(android, notify)");
    }

    #[test]
    fn errors_have_offsets() {
        let e = parse("proc.name = bash and", 0).unwrap_err();
        assert_eq!(e.offset, 20);
        let e = parse("proc.name equals bash", 0).unwrap_err();
        assert_eq!((e.offset, e.message.as_str()), (10, "unknown operator 'equals'"));
        let e = parse("(proc.name = bash", 0).unwrap_err();
        assert!(e.message.starts_with("expected ')'"), "{e:?}");
        let e = parse("proc.name in (a, b", 0).unwrap_err();
        assert_eq!(e.offset, 13);
        let e = parse("proc.name = 'abc", 0).unwrap_err();
        assert_eq!((e.offset, e.message.as_str()), (12, "unterminated string starting with '"));
        let e = parse("a b", 0).unwrap_err();
        assert_eq!((e.offset, e.message.as_str()), (2, "expected 'and', 'or' or the end of the condition, found 'b'"));
        let e = parse("proc.name", 0).unwrap_err();
        assert_eq!(e.offset, 9);
        let e = parse("a and )", 0).unwrap_err();
        assert_eq!(e.offset, 6);
        let e = parse("   ", 0).unwrap_err();
        assert_eq!(e.message, "empty condition");
        let e = parse("lower(proc.name) = a", 0).unwrap_err();
        assert!(e.message.contains("unknown transformer 'lower'"));
        let e = parse("proc.name in bash)", 0);
        assert!(e.is_err());
    }
}
