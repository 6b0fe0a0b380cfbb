//! Compiled predicates: the literal side of a comparison turned into a structure that
//! tests a borrowed value without allocating.
//!
//! `in` uses a hash set (a linear scan when small), several `contains` on one field
//! share one Aho-Corasick automaton, several `startswith` an anchored automaton,
//! `endswith` a length-bucketed hash set, `pmatch` a set of path prefixes tested per
//! path component, `glob` a precompiled pattern and `regex` a compiled `regex::Regex`.
//! Each structure keeps its source patterns so `optimize.rs` can merge predicates.

use std::collections::HashSet;
use std::net::IpAddr;

use aho_corasick::{AhoCorasick, AhoCorasickKind, Anchored, Input, MatchKind, StartKind};
use memchr::memmem::Finder;

use crate::fields::glob::Glob;
use crate::syntax::ast::Op;

type FastSet<T> = HashSet<T, foldhash::fast::RandomState>;

/// A set of strings.
#[derive(Clone, Debug)]
pub enum StrSet {
    Small(Box<[Box<str>]>),
    Hash(FastSet<Box<str>>),
}

impl StrSet {
    pub fn new(items: &[String]) -> StrSet {
        if items.len() <= 6 {
            StrSet::Small(items.iter().map(|s| s.as_str().into()).collect())
        } else {
            StrSet::Hash(items.iter().map(|s| s.as_str().into()).collect())
        }
    }
    #[inline]
    pub fn contains(&self, s: &str) -> bool {
        match self {
            StrSet::Small(v) => v.iter().any(|x| **x == *s),
            StrSet::Hash(h) => h.contains(s),
        }
    }
}

/// String predicates. `pats` are the literals, kept for merging.
// Sizes differ (automata, regexes); kept inline for the same reason as `Pred`.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum StrPred {
    Eq(Box<str>),
    Ne(Box<str>),
    Cmp(Op, Box<str>),
    In { pats: Vec<String>, set: StrSet },
    Contains { pats: Vec<String>, m: Contains },
    IContains { pats: Vec<String>, ac: AhoCorasick },
    StartsWith { pats: Vec<String>, m: Starts },
    EndsWith { pats: Vec<String>, lens: Box<[usize]>, set: StrSet },
    Glob(Glob),
    Regex(regex::Regex),
    PMatch { pats: Vec<String>, set: StrSet, root: bool },
    BContains(Finder<'static>),
    BStartsWith(Box<[u8]>),
}

/// Up to this many patterns, `contains`/`startswith`/`endswith` test each pattern in
/// turn (SIMD memmem / memcmp) instead of running an automaton.
const FEW: usize = 4;

#[derive(Clone, Debug)]
pub enum Contains {
    Few(Box<[Finder<'static>]>),
    Many(AhoCorasick),
}

#[derive(Clone, Debug)]
pub enum Starts {
    Few(Box<[Box<str>]>),
    Many(AhoCorasick),
}

fn ac(pats: &[String], anchored: bool, icase: bool) -> AhoCorasick {
    let mut b = AhoCorasick::builder();
    b.ascii_case_insensitive(icase);
    if anchored {
        b.start_kind(StartKind::Anchored).match_kind(MatchKind::Standard).kind(Some(AhoCorasickKind::DFA));
    } else if pats.len() <= 64 {
        // Values are short (command lines, paths): the prefilter's rare bytes (`/`, ` `,
        // `=`) are frequent in them, and restarting at each costs more than the DFA's
        // plain scan (295 → 60 ns on a curl command line with six `contains`).
        b.kind(Some(AhoCorasickKind::DFA)).prefilter(false);
    }
    // Patterns are plain strings: building cannot fail below the automaton size limits.
    b.build(pats).unwrap_or_else(|_| AhoCorasick::new(pats).unwrap_or_else(|e| panic!("aho-corasick: {e}")))
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

impl StrPred {
    pub fn set(pats: Vec<String>) -> StrPred {
        let pats = dedup(pats);
        let set = StrSet::new(&pats);
        StrPred::In { pats, set }
    }
    pub fn contains(pats: Vec<String>) -> StrPred {
        let pats = dedup(pats);
        let m = if pats.len() <= FEW {
            Contains::Few(pats.iter().map(|p| Finder::new(p.as_bytes()).into_owned()).collect())
        } else {
            Contains::Many(ac(&pats, false, false))
        };
        StrPred::Contains { pats, m }
    }
    pub fn icontains(pats: Vec<String>) -> StrPred {
        let pats = dedup(pats);
        let ac = ac(&pats, false, true);
        StrPred::IContains { pats, ac }
    }
    pub fn starts(pats: Vec<String>) -> StrPred {
        let pats = dedup(pats);
        let m = if pats.len() <= FEW {
            Starts::Few(pats.iter().map(|p| p.as_str().into()).collect())
        } else {
            Starts::Many(ac(&pats, true, false))
        };
        StrPred::StartsWith { pats, m }
    }
    pub fn ends(pats: Vec<String>) -> StrPred {
        let pats = dedup(pats);
        let mut lens: Vec<usize> = pats.iter().map(|p| p.len()).collect();
        lens.sort_unstable();
        lens.dedup();
        let set = StrSet::new(&pats);
        StrPred::EndsWith { pats, lens: lens.into(), set }
    }
    pub fn pmatch(pats: Vec<String>) -> StrPred {
        let pats = dedup(pats);
        let root = pats.iter().any(|p| p.trim_end_matches('/').is_empty());
        let norm: Vec<String> =
            pats.iter().map(|p| p.trim_end_matches('/').to_string()).filter(|p| !p.is_empty()).collect();
        let set = StrSet::new(&norm);
        StrPred::PMatch { pats, set, root }
    }

    #[inline]
    pub fn test(&self, s: &str) -> bool {
        match self {
            StrPred::Eq(x) => **x == *s,
            StrPred::Ne(x) => **x != *s,
            StrPred::Cmp(op, x) => match op {
                Op::Lt => s < &**x,
                Op::Le => s <= &**x,
                Op::Gt => s > &**x,
                _ => s >= &**x,
            },
            StrPred::In { set, .. } => set.contains(s),
            StrPred::Contains { m: Contains::Few(fs), .. } => fs.iter().any(|f| f.find(s.as_bytes()).is_some()),
            StrPred::Contains { m: Contains::Many(ac), .. } => ac.is_match(s),
            StrPred::IContains { ac, .. } => ac.is_match(s),
            StrPred::StartsWith { m: Starts::Few(ps), .. } => ps.iter().any(|p| s.starts_with(&**p)),
            StrPred::StartsWith { m: Starts::Many(ac), .. } => ac.is_match(Input::new(s).anchored(Anchored::Yes)),
            StrPred::EndsWith { pats, .. } if pats.len() <= FEW => pats.iter().any(|p| s.ends_with(p.as_str())),
            StrPred::EndsWith { lens, set, .. } => lens
                .iter()
                .take_while(|l| **l <= s.len())
                .any(|l| s.is_char_boundary(s.len() - l) && set.contains(&s[s.len() - l..])),
            StrPred::Glob(g) => g.is_match(s),
            StrPred::Regex(r) => r.is_match(s),
            StrPred::PMatch { set, root, .. } => {
                if *root && s.starts_with('/') {
                    return true;
                }
                let t = s.trim_end_matches('/');
                if set.contains(t) {
                    return true;
                }
                t.match_indices('/').any(|(i, _)| i > 0 && set.contains(&t[..i]))
            }
            StrPred::BContains(f) => f.find(s.as_bytes()).is_some(),
            StrPred::BStartsWith(b) => s.as_bytes().starts_with(b),
        }
    }

    /// Relative evaluation cost, to order `and`/`or` operands.
    pub fn cost(&self) -> u32 {
        match self {
            StrPred::Eq(_) | StrPred::Ne(_) | StrPred::Cmp(..) | StrPred::In { .. } | StrPred::BStartsWith(_) => 3,
            StrPred::StartsWith { .. } | StrPred::EndsWith { .. } => 4,
            StrPred::Contains { .. } | StrPred::IContains { .. } | StrPred::PMatch { .. } | StrPred::BContains(_) => 5,
            StrPred::Glob(_) => 6,
            StrPred::Regex(_) => 9,
        }
    }
}

/// Numeric predicates (also used for times).
#[derive(Clone, Debug)]
pub enum NumPred {
    Cmp(Op, i64),
    In(Box<[i64]>),
}

impl NumPred {
    pub fn in_set(mut v: Vec<i64>) -> NumPred {
        v.sort_unstable();
        v.dedup();
        NumPred::In(v.into())
    }
    #[inline]
    pub fn test(&self, n: i64) -> bool {
        match self {
            NumPred::Cmp(op, x) => match op {
                Op::Eq => n == *x,
                Op::Ne => n != *x,
                Op::Lt => n < *x,
                Op::Le => n <= *x,
                Op::Gt => n > *x,
                _ => n >= *x,
            },
            NumPred::In(v) => {
                if v.len() <= 8 {
                    v.contains(&n)
                } else {
                    v.binary_search(&n).is_ok()
                }
            }
        }
    }
}

/// An IPv4/IPv6 network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `fd00::/8`, or a bare address (a host network).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Cidr { addr, prefix })
    }

    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - self.prefix) };
                u128::from(n) & mask == u128::from(a) & mask
            }
            (IpAddr::V4(_), IpAddr::V6(a)) => a.to_ipv4_mapped().is_some_and(|v4| self.contains(IpAddr::V4(v4))),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: &[&str]) -> Vec<String> {
        x.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn string_structures() {
        let p = StrPred::set(v(&["a", "b", "c", "d", "e", "f", "g", "h"]));
        assert!(matches!(p, StrPred::In { set: StrSet::Hash(_), .. }));
        assert!(p.test("h") && !p.test("z"));
        let p = StrPred::contains(v(&["stratum+tcp://", "xmrig"]));
        assert!(p.test("./xmrig -o x") && p.test("m -o stratum+tcp://pool:3333") && !p.test("ls -la"));
        let p = StrPred::contains(v(&["-e "]));
        assert!(p.test("nc -e /bin/sh") && !p.test("nc -l"));
        let p = StrPred::icontains(v(&["XMRig"]));
        assert!(p.test("/tmp/xmrig") && !p.test("xmr"));
        let p = StrPred::starts(v(&["/etc/", "/root/.ssh/"]));
        assert!(p.test("/etc/passwd") && p.test("/root/.ssh/authorized_keys") && !p.test("/tmp/etc/"));
        let p = StrPred::ends(v(&[".pem", "_rsa"]));
        assert!(p.test("/a/id_rsa") && p.test("k.pem") && !p.test("pem") && !p.test("x.pub"));
        let p = StrPred::pmatch(v(&["/etc/cron.d", "/var/spool/cron/"]));
        assert!(p.test("/etc/cron.d") && p.test("/etc/cron.d/job") && p.test("/var/spool/cron/crontabs/root"));
        assert!(!p.test("/etc/cron.daily/x") && !p.test("/etc"));
        assert!(StrPred::pmatch(v(&["/"])).test("/anything"));
        assert!(StrPred::Cmp(Op::Lt, "b".into()).test("a"));
    }

    #[test]
    fn numbers_and_networks() {
        assert!(NumPred::in_set(vec![4444, 1337, 22]).test(1337));
        assert!(!NumPred::in_set((0..20).collect()).test(25));
        assert!(NumPred::in_set((0..20).collect()).test(19));
        assert!(NumPred::Cmp(Op::Ge, 1000).test(1000) && !NumPred::Cmp(Op::Lt, 0).test(0));
        let n = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.9.8.7".parse().unwrap()) && !n.contains("11.0.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.1.1".parse().unwrap()));
        let n6 = Cidr::parse("fd00::/8").unwrap();
        assert!(n6.contains("fd12::1".parse().unwrap()) && !n6.contains("fe80::1".parse().unwrap()));
        assert!(Cidr::parse("1.2.3.4").unwrap().contains("1.2.3.4".parse().unwrap()));
        assert!(Cidr::parse("1.2.3.4/33").is_none() && Cidr::parse("x/8").is_none());
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
    }
}
