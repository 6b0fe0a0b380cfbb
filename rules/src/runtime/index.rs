//! Cross-rule prefilter for large rule sets.
//!
//! Evaluating 300+ rules one by one for every event costs microseconds, mostly in cache
//! misses. Most rules have a *required* string test at the top level of their `and`
//! (`proc.name in (...)`, `fd.name startswith ...`, `proc.cmdline contains ...`). For
//! each event type this module picks one such "anchor" per rule and indexes the anchors
//! of all rules together, per field: exact values in a hash map, prefixes in a hash map
//! per prefix length, substrings in one Aho-Corasick automaton. For an event, the
//! indexes name the few rules whose anchor passes; only those (plus the rules without
//! an anchor) are evaluated, still in load order. Candidate sets are bitsets on the
//! stack, so this path does not allocate either.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::fields::{Field, FieldId, FieldType, Val};
use crate::runtime::matcher::{Check, Mode, Node, Pred, Rule};
use crate::runtime::pred::StrPred;

/// Below this many rules for an event type, plain linear evaluation is as fast.
pub(crate) const INDEX_MIN_RULES: usize = 6;
/// Bitset words kept on the stack (64 × 64 = 4096 rules per event type).
const STACK_WORDS: usize = 64;

type Map = HashMap<Box<str>, Vec<u32>, foldhash::fast::RandomState>;

#[derive(Debug)]
struct Exact {
    field: Field,
    map: Map,
}

#[derive(Debug)]
struct Prefix {
    field: Field,
    /// Suffixes instead of prefixes.
    suffix: bool,
    lens: Vec<usize>,
    map: Map,
}

#[derive(Debug)]
struct Contains {
    field: Field,
    ac: AhoCorasick,
    positions: Vec<Vec<u32>>,
}

/// The prefilter of one event type.
#[derive(Debug)]
pub(crate) struct TypeIndex {
    always: Box<[u64]>,
    exact: Vec<Exact>,
    prefix: Vec<Prefix>,
    contains: Vec<Contains>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Contains = 1,
    Prefix = 2,
    Suffix = 3,
    Exact = 4,
}

/// A necessary condition of a rule: `field` has one of `pats` as its value, prefix,
/// suffix or substring.
struct Anchor<'a> {
    field: &'a Field,
    kind: Kind,
    pats: Vec<String>,
}

/// Fields with few distinct values make poor anchors.
fn selective(f: &Field) -> bool {
    !matches!(
        f.id,
        FieldId::FdTypechar
            | FieldId::FdType
            | FieldId::FdL4proto
            | FieldId::FdSockfamily
            | FieldId::EvtRes
            | FieldId::EvtDir
            | FieldId::ContainerId
            | FieldId::ContainerName
    )
}

/// The literal prefix of a glob pattern (up to its first wildcard).
fn glob_prefix(g: &str) -> &str {
    &g[..g.find(['*', '?', '[', '\\']).unwrap_or(g.len())]
}

fn check_anchor(c: &Check) -> Option<Anchor<'_>> {
    if c.mode != Mode::Single || !c.xf.is_empty() || c.field.ty() != FieldType::Str || !selective(&c.field) {
        return None;
    }
    let (kind, pats) = match &c.pred {
        Pred::Str(StrPred::In { pats, .. }) => (Kind::Exact, pats.clone()),
        Pred::Str(StrPred::Eq(p)) => (Kind::Exact, vec![p.to_string()]),
        Pred::Str(StrPred::StartsWith { pats, .. }) => (Kind::Prefix, pats.clone()),
        Pred::Str(StrPred::EndsWith { pats, .. }) => (Kind::Suffix, pats.clone()),
        Pred::Str(StrPred::Contains { pats, .. }) => (Kind::Contains, pats.clone()),
        Pred::Str(StrPred::PMatch { pats, root: false, .. }) => {
            (Kind::Prefix, pats.iter().map(|p| p.trim_end_matches('/').to_string()).collect())
        }
        Pred::Str(StrPred::Glob(g)) if !g.icase() => (Kind::Prefix, vec![glob_prefix(g.pattern()).to_string()]),
        _ => return None,
    };
    if pats.iter().any(|p| p.is_empty() && kind != Kind::Exact) {
        return None;
    }
    Some(Anchor { field: &c.field, kind, pats })
}

/// Necessary conditions of `n`: if `n` is true, one of the anchors holds.
fn anchors(n: &Node) -> Option<Vec<Anchor<'_>>> {
    match n {
        Node::Check(c) => check_anchor(c).map(|a| vec![a]),
        Node::And(v) => {
            v.iter().filter_map(anchors).max_by_key(|a| (a.iter().map(|x| x.kind).min(), std::cmp::Reverse(a.len())))
        }
        Node::Or(v) => {
            let mut all = Vec::new();
            for x in v.iter() {
                all.extend(anchors(x)?);
            }
            Some(all)
        }
        Node::Const(_) | Node::Not(_) => None,
    }
}

fn set(bits: &mut [u64], pos: u32) {
    bits[pos as usize / 64] |= 1 << (pos % 64);
}

impl TypeIndex {
    /// Index the rules `ids` (positions 0..n in that order).
    pub fn build(rules: &[Rule], ids: &[u32]) -> Option<TypeIndex> {
        if ids.len() < INDEX_MIN_RULES {
            return None;
        }
        let words = ids.len().div_ceil(64);
        let mut always = vec![0u64; words];
        let mut exact: Vec<Exact> = Vec::new();
        let mut prefix: Vec<Prefix> = Vec::new();
        let mut contains: Vec<(Field, Vec<String>, Vec<Vec<u32>>)> = Vec::new();
        for (pos, id) in ids.iter().enumerate() {
            let pos = pos as u32;
            let Some(list) = anchors(&rules[*id as usize].cond) else {
                set(&mut always, pos);
                continue;
            };
            for Anchor { field, kind, pats } in list {
                match kind {
                    Kind::Exact => {
                        let i = match exact.iter().position(|e| e.field == *field) {
                            Some(i) => i,
                            None => {
                                exact.push(Exact { field: field.clone(), map: Map::default() });
                                exact.len() - 1
                            }
                        };
                        for p in pats {
                            exact[i].map.entry(p.into()).or_default().push(pos);
                        }
                    }
                    Kind::Prefix | Kind::Suffix => {
                        let suffix = kind == Kind::Suffix;
                        let i = match prefix.iter().position(|e| e.field == *field && e.suffix == suffix) {
                            Some(i) => i,
                            None => {
                                prefix.push(Prefix {
                                    field: field.clone(),
                                    suffix,
                                    lens: Vec::new(),
                                    map: Map::default(),
                                });
                                prefix.len() - 1
                            }
                        };
                        let e = &mut prefix[i];
                        for p in pats {
                            if !e.lens.contains(&p.len()) {
                                e.lens.push(p.len());
                            }
                            e.map.entry(p.into()).or_default().push(pos);
                        }
                    }
                    Kind::Contains => {
                        let i = match contains.iter().position(|e| e.0 == *field) {
                            Some(i) => i,
                            None => {
                                contains.push((field.clone(), Vec::new(), Vec::new()));
                                contains.len() - 1
                            }
                        };
                        let e = &mut contains[i];
                        for p in pats {
                            match e.1.iter().position(|x| *x == p) {
                                Some(k) => e.2[k].push(pos),
                                None => {
                                    e.1.push(p);
                                    e.2.push(vec![pos]);
                                }
                            }
                        }
                    }
                }
            }
        }
        for p in &mut prefix {
            p.lens.sort_unstable();
        }
        let contains = contains
            .into_iter()
            .map(|(field, pats, positions)| {
                let ac = AhoCorasick::builder().match_kind(MatchKind::Standard).build(&pats).ok()?;
                Some(Contains { field, ac, positions })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(TypeIndex { always: always.into(), exact, prefix, contains })
    }

    fn fill(&self, ev: &crate::runtime::event::Event, bits: &mut [u64]) {
        bits.copy_from_slice(&self.always);
        for e in &self.exact {
            if let Val::Str(s) = e.field.extract(ev) {
                if let Some(ps) = e.map.get(s) {
                    ps.iter().for_each(|p| set(bits, *p));
                }
            }
        }
        for e in &self.prefix {
            if let Val::Str(s) = e.field.extract(ev) {
                for &l in e.lens.iter().take_while(|l| **l <= s.len()) {
                    let at = if e.suffix { s.len() - l } else { l };
                    if s.is_char_boundary(at) {
                        let part = if e.suffix { &s[at..] } else { &s[..at] };
                        if let Some(ps) = e.map.get(part) {
                            ps.iter().for_each(|p| set(bits, *p));
                        }
                    }
                }
            }
        }
        for e in &self.contains {
            if let Val::Str(s) = e.field.extract(ev) {
                for m in e.ac.find_overlapping_iter(s) {
                    e.positions[m.pattern().as_usize()].iter().for_each(|p| set(bits, *p));
                }
            }
        }
    }

    /// Call `f` with the position (in load order) of every candidate rule for `ev`.
    #[inline]
    pub fn for_each_candidate(&self, ev: &crate::runtime::event::Event, mut f: impl FnMut(usize)) {
        let words = self.always.len();
        let mut stack = [0u64; STACK_WORDS];
        let mut heap;
        let bits: &mut [u64] = if words <= STACK_WORDS {
            &mut stack[..words]
        } else {
            heap = vec![0u64; words];
            &mut heap
        };
        self.fill(ev, bits);
        for (w, mut word) in bits.iter().copied().enumerate() {
            while word != 0 {
                let b = word.trailing_zeros() as usize;
                word &= word - 1;
                f(w * 64 + b);
            }
        }
    }
}
