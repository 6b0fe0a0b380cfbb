//! Glob matching for the `glob`/`iglob` operators (fnmatch without `FNM_PATHNAME`, as
//! Falco uses: `*` also matches `/`). Supports `*`, `?`, `[abc]`, `[a-z]`, `[!x]`/`[^x]`
//! and `\` escapes. Matching is iterative with single-star backtracking, so it runs in
//! O(pattern × text) worst case and never allocates.

/// A compiled glob pattern.
#[derive(Clone, Debug)]
pub struct Glob {
    source: Box<str>,
    pat: Box<[u8]>,
    icase: bool,
}

/// Why a pattern is invalid.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GlobError {
    #[error("unterminated character class '[' in glob")]
    UnterminatedClass,
    #[error("trailing backslash in glob")]
    TrailingEscape,
}

impl Glob {
    pub fn new(pattern: &str, icase: bool) -> Result<Glob, GlobError> {
        let p = pattern.as_bytes();
        let mut i = 0;
        while i < p.len() {
            match p[i] {
                b'\\' if i + 1 == p.len() => return Err(GlobError::TrailingEscape),
                b'\\' => i += 2,
                b'[' => i = class_end(p, i).ok_or(GlobError::UnterminatedClass)? + 1,
                _ => i += 1,
            }
        }
        let pat: Box<[u8]> = if icase { pattern.to_ascii_lowercase().into_bytes().into() } else { p.into() };
        Ok(Glob { source: pattern.into(), pat, icase })
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.source
    }

    pub fn icase(&self) -> bool {
        self.icase
    }

    pub fn is_match(&self, text: &str) -> bool {
        let (p, t) = (&*self.pat, text.as_bytes());
        let (mut pi, mut ti) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            let c = if self.icase { t[ti].to_ascii_lowercase() } else { t[ti] };
            if pi < p.len() {
                match p[pi] {
                    b'*' => {
                        star = Some((pi, ti));
                        pi += 1;
                        continue;
                    }
                    b'?' => {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                    b'[' => {
                        let end = class_end(p, pi).unwrap_or(p.len() - 1);
                        if class_match(&p[pi + 1..end], c, self.icase) {
                            pi = end + 1;
                            ti += 1;
                            continue;
                        }
                    }
                    b'\\' if pi + 1 < p.len() && p[pi + 1] == c => {
                        pi += 2;
                        ti += 1;
                        continue;
                    }
                    b'\\' => {}
                    x if x == c => {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                    _ => {}
                }
            }
            match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            }
        }
        while pi < p.len() && p[pi] == b'*' {
            pi += 1;
        }
        pi == p.len()
    }
}

/// Index of the `]` closing the class that starts at `start` (`[`).
fn class_end(p: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if i < p.len() && (p[i] == b'!' || p[i] == b'^') {
        i += 1;
    }
    if i < p.len() && p[i] == b']' {
        i += 1;
    }
    while i < p.len() {
        if p[i] == b']' {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn class_match(class: &[u8], c: u8, icase: bool) -> bool {
    let (neg, body) = match class.first() {
        Some(b'!' | b'^') => (true, &class[1..]),
        _ => (false, class),
    };
    let mut i = 0;
    let mut hit = false;
    while i < body.len() {
        let lo = body[i];
        if i + 2 < body.len() && body[i + 1] == b'-' {
            let hi = body[i + 2];
            let in_range = |x: u8| lo <= x && x <= hi;
            if in_range(c) || (icase && (in_range(c.to_ascii_uppercase()) || in_range(c.to_ascii_lowercase()))) {
                hit = true;
            }
            i += 3;
        } else {
            if lo == c || (icase && lo.eq_ignore_ascii_case(&c)) {
                hit = true;
            }
            i += 1;
        }
    }
    hit != neg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        Glob::new(p, false).unwrap().is_match(t)
    }

    #[test]
    fn basics() {
        assert!(m("/proc/*/environ", "/proc/123/environ"));
        assert!(m("/proc/*/environ", "/proc/self/task/1/environ"));
        assert!(!m("/proc/*/environ", "/proc/123/environ2"));
        assert!(m("*.pem", "/home/a/.ssh/key.pem"));
        assert!(m("a?c", "abc") && !m("a?c", "ac"));
        assert!(m("[ab]x", "bx") && !m("[ab]x", "cx"));
        assert!(m("[!ab]x", "cx") && !m("[!ab]x", "ax"));
        assert!(m("id_[a-z]*", "id_rsa"));
        assert!(m("a\\*b", "a*b") && !m("a\\*b", "axb"));
        assert!(m("*", "") && m("**a", "a") && !m("a", ""));
        assert!(m("*a*b*c", "xxaxxbxxc"));
        assert!(!m("*a*b*c", "xxaxxbxx"));
    }

    #[test]
    fn icase_and_errors() {
        let g = Glob::new("*.PEM", true).unwrap();
        assert!(g.is_match("KEY.pem") && g.is_match("key.Pem"));
        assert!(Glob::new("/etc/[ab", false).is_err());
        assert!(Glob::new("x\\", false).is_err());
    }
}
