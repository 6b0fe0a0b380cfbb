//! Cross-rule prefilter for large rule sets.
//!
//! Evaluating 300+ rules one by one for every event costs microseconds, mostly in cache
//! misses. Most rules have a *required* string test at the top level of their `and`
//! (`proc.name in (...)`, `fd.name startswith ...`, `proc.cmdline contains ...`). For
//! each event type this module picks one such "anchor" per rule and indexes the anchors
//! of all rules together, per field: exact values in a hash map (skipped when no value
//! has the event's length), prefixes and suffixes in a byte trie walked once, substrings
//! in one Aho-Corasick automaton. For an event, the
//! indexes name the few rules whose anchor passes; only those (plus the rules without
//! an anchor) are evaluated, still in load order. Candidate sets are bitsets on the
//! stack, so this path does not allocate either.

use super::trie::{Trie, TriePats};
use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::fields::{Field, FieldId, FieldType, Val};
use crate::runtime::matcher::{Check, Mode, Node, Pred, Rule};
use crate::runtime::pred::{NumPred, StrPred};
use crate::syntax::ast::Op;

/// Below this many rules for an event type, plain linear evaluation is as fast.
pub(crate) const INDEX_MIN_RULES: usize = 6;
/// Bitset words kept on the stack (64 × 64 = 4096 rules per event type).
const STACK_WORDS: usize = 64;
/// Bitset words of the common case (256 rules per event type).
const SMALL_WORDS: usize = 4;

type Map = HashMap<Box<str>, Vec<u32>, foldhash::fast::RandomState>;

#[derive(Debug)]
struct Exact {
    field: Field,
    /// Bit `min(len, 63)` set for every pattern length: most values are skipped
    /// without hashing.
    lens: u64,
    map: Map,
}

/// `f` on a string field's value as the checks test it: the string itself, or
/// the text of a value that renders (the time texts of `evt.datetime`...);
/// nothing when the field is missing.
fn text_of(v: Val<'_>, f: impl FnOnce(&str)) {
    match v {
        Val::Missing => {}
        Val::Str(s) => f(s),
        v => crate::runtime::matcher::with_text(v, &[], f),
    }
}

/// A number or an address a rule requires a field to equal (`fd.sport in (...)`,
/// `fd.sip = ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Scalar {
    Num(i64),
    Ip(std::net::IpAddr),
    Bool(bool),
}

impl Scalar {
    /// The value a scalar anchor compares, as `Check::test` reads it.
    fn of(v: Val<'_>) -> Option<Scalar> {
        match v {
            Val::Num(n) => Some(Scalar::Num(n)),
            Val::Time(t) => Some(Scalar::Num(t as i64)),
            Val::Ip(ip) => Some(Scalar::Ip(ip)),
            Val::Bool(b) => Some(Scalar::Bool(b)),
            _ => None,
        }
    }
}

/// Exact numbers or addresses of one field.
#[derive(Debug)]
struct ScalarExact {
    field: Field,
    map: HashMap<Scalar, Vec<u32>, foldhash::fast::RandomState>,
}

fn len_bit(n: usize) -> u64 {
    1 << n.min(63)
}

/// Prefixes (or suffixes, read backwards) of one field in a byte trie: one walk over
/// the value's first bytes names every pattern that is a prefix of it, and stops at the
/// first byte no pattern continues with (most values leave after one or two bytes).
#[derive(Debug)]
struct Prefix {
    field: Field,
    /// Suffixes instead of prefixes.
    suffix: bool,
    trie: Trie,
}

#[derive(Debug)]
struct Contains {
    field: Field,
    ac: AhoCorasick,
    /// The same patterns with the crate's SIMD prefilter, for values of
    /// [`LONG_VALUE`] bytes or more (an environment, a padded command line):
    /// there the DFA's byte-at-a-time walk is what costs.
    ac_long: AhoCorasick,
    positions: Vec<Vec<u32>>,
}

/// From this length on, a value is scanned with [`Contains::ac_long`]. Paths and
/// most command lines are shorter, and on them the prefilter's candidate checks
/// cost more than the DFA's walk (the reason the DFA has none). On a fork+exec
/// loop with a 1.3 KB environment, scanned for the default pack's `proc.env`
/// patterns, this index took 14 % of the agent's CPU with the DFA alone and 3 %
/// with the long values prefiltered (perf, 2026-12-06).
const LONG_VALUE: usize = 256;

/// The prefilter of one event type. Each rule has up to two anchors (independent
/// necessary conditions, [`best_two`]) and a candidate bitset per anchor slot; a
/// rule is a candidate when both of its bits are set. `always` is both bitsets'
/// starting value, slot 0's then slot 1's: a rule without a first anchor is
/// always set in both, one without a second anchor in slot 1's.
#[derive(Debug)]
pub(crate) struct TypeIndex {
    always: Box<[u64]>,
    exact: Vec<Exact>,
    scalar: Vec<ScalarExact>,
    prefix: Vec<Prefix>,
    contains: Vec<Contains>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    /// A two-valued field (`proc.is_exe_from_memfd = true`): a last resort,
    /// ranked below everything else, used where a rule has nothing better.
    Weak = 0,
    Contains = 1,
    Prefix = 2,
    Suffix = 3,
    Exact = 4,
}

/// A necessary condition of a rule: `field` has one of `pats` as its value, prefix,
/// suffix or substring, or (`Kind::Exact` with `pats` empty) one of `vals` as its value.
struct Anchor<'a> {
    field: &'a Field,
    kind: Kind,
    pats: Vec<String>,
    vals: Vec<Scalar>,
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
            | FieldId::EvtRawres
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
    if c.mode != Mode::Single || !c.xf.is_empty() || !selective(&c.field) {
        return None;
    }
    let vals: Option<Vec<Scalar>> = match &c.pred {
        Pred::Num(NumPred::In(v)) => Some(v.iter().map(|n| Scalar::Num(*n)).collect()),
        Pred::Num(NumPred::Cmp(Op::Eq, n)) => Some(vec![Scalar::Num(*n)]),
        Pred::Ip { set, eq: true } => Some(set.iter().map(|ip| Scalar::Ip(*ip)).collect()),
        _ => None,
    };
    // An empty `in ()` (a list left for users to fill) is never true: an anchor
    // with no values, so an `or` around it still anchors on its other operands.
    if let Some(vals) = vals {
        return Some(Anchor { field: &c.field, kind: Kind::Exact, pats: Vec::new(), vals });
    }
    if let Pred::Bool { value, eq } = &c.pred {
        let vals = vec![Scalar::Bool(*value == *eq)];
        return Some(Anchor { field: &c.field, kind: Kind::Weak, pats: Vec::new(), vals });
    }
    if c.field.ty() != FieldType::Str {
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
    Some(Anchor { field: &c.field, kind, pats, vals: Vec::new() })
}

/// Necessary conditions of `n`: if `n` is true, one of the anchors holds.
fn anchors(n: &Node) -> Option<Vec<Anchor<'_>>> {
    match n {
        Node::And(_) => anchor_sets(n).into_iter().max_by_key(rank),
        _ => anchor_sets(n).pop(),
    }
}

/// How good a disjunction of anchors is: the weakest kind in it first (an exact
/// value beats a substring), then fewer alternatives.
fn rank(a: &Vec<Anchor<'_>>) -> (Option<Kind>, std::cmp::Reverse<usize>) {
    (a.iter().map(|x| x.kind).min(), std::cmp::Reverse(a.len()))
}

/// Every independent necessary condition of `n`, each a disjunction of anchors: all
/// of them hold when `n` is true (the operands of an `and`, flattened).
fn anchor_sets(n: &Node) -> Vec<Vec<Anchor<'_>>> {
    match n {
        Node::Check(c) => check_anchor(c).map(|a| vec![a]).into_iter().collect(),
        Node::And(v) => v.iter().flat_map(anchor_sets).collect(),
        Node::Or(v) => {
            let mut all = Vec::new();
            for x in v.iter() {
                match anchors(x) {
                    Some(a) => all.extend(a),
                    None => return Vec::new(),
                }
            }
            vec![all]
        }
        Node::Const(_) | Node::Not(_) => Vec::new(),
    }
}

/// The two best necessary conditions of `n` (see [`rank`]): a rule is a candidate
/// only when both hold. The second is never a substring test nor a two-valued
/// field: scanning one more field (say `proc.args` beside `proc.cmdline`), or
/// testing `evt.is_open_read` for every open, costs more than the candidates it
/// saves (measured on the bench mix).
fn best_two(n: &Node) -> (Option<Vec<Anchor<'_>>>, Option<Vec<Anchor<'_>>>) {
    let mut sets = anchor_sets(n);
    sets.sort_by_key(|a| std::cmp::Reverse(rank(a)));
    let mut it = sets.into_iter();
    let first = it.next();
    (first, it.find(|a| a.iter().all(|x| x.kind > Kind::Contains)))
}

/// Restate an anchor on `fd.directory` or `fd.filename` (or an exact `fd.name`) as a
/// weaker prefix or suffix of `fd.name`, so an open event walks two tries over one
/// value instead of extracting and hashing three: `fd.directory = D` implies `fd.name`
/// starts with `D/`, `fd.filename = F` (or ends with F) implies it ends with `F`. Only
/// the candidate set grows (every candidate is still evaluated in full).
fn on_fd_name(a: Anchor<'_>) -> (Field, Kind, Vec<String>) {
    let plain = a.field.index.is_none() && a.field.key.is_none();
    let nonempty = a.pats.iter().all(|p| !p.is_empty());
    let fd_name = || Field { id: FieldId::FdName, index: None, key: None };
    match (a.field.id, a.kind) {
        (FieldId::FdName, Kind::Exact) if plain && nonempty => (fd_name(), Kind::Prefix, a.pats),
        (FieldId::FdDirectory, Kind::Exact) if plain && nonempty => {
            let pats = a.pats.into_iter().map(|p| if p.ends_with('/') { p } else { p + "/" }).collect();
            (fd_name(), Kind::Prefix, pats)
        }
        // `fd.directory startswith D` (and `pmatch`, stored as its prefix) implies
        // `fd.name` starts with D: the name is the directory, `/`, the file name.
        (FieldId::FdDirectory, Kind::Prefix) if plain && nonempty => (fd_name(), Kind::Prefix, a.pats),
        (FieldId::FdFilename, Kind::Exact | Kind::Suffix) if plain && nonempty => (fd_name(), Kind::Suffix, a.pats),
        _ => (a.field.clone(), a.kind, a.pats),
    }
}

/// Marks a pattern of a rule's second anchor (see [`TypeIndex`]) in its position.
const SLOT1: u32 = 1 << 31;

fn set(bits: &mut [u64], pos: u32) {
    bits[pos as usize / 64] |= 1 << (pos % 64);
}

/// Set `pos` in the bitset of its slot: the first anchor's, or the second's
/// (stored after the first's `words`).
#[inline]
fn set_slot(bits: &mut [u64], words: usize, pos: u32) {
    set(bits, if pos & SLOT1 != 0 { (words * 64) as u32 + (pos & !SLOT1) } else { pos });
}

impl TypeIndex {
    /// Index the rules `ids` (positions 0..n in that order).
    pub fn build(rules: &[Rule], ids: &[u32]) -> Option<TypeIndex> {
        if ids.len() < INDEX_MIN_RULES {
            return None;
        }
        let words = ids.len().div_ceil(64);
        let mut always = vec![0u64; 2 * words];
        let mut exact: Vec<Exact> = Vec::new();
        let mut scalar: Vec<ScalarExact> = Vec::new();
        let mut prefix: Vec<(Field, bool, TriePats)> = Vec::new();
        let mut contains: Vec<(Field, Vec<String>, Vec<Vec<u32>>)> = Vec::new();
        for (pos, id) in ids.iter().enumerate() {
            let pos = pos as u32;
            let (first, second) = best_two(&rules[*id as usize].cond);
            let Some(first) = first else {
                set_slot(&mut always, words, pos);
                set_slot(&mut always, words, pos | SLOT1);
                continue;
            };
            if second.is_none() {
                set_slot(&mut always, words, pos | SLOT1);
            }
            let slots = std::iter::once((first, pos)).chain(second.map(|s| (s, pos | SLOT1)));
            for (a, pos) in slots.flat_map(|(list, pos)| list.into_iter().map(move |a| (a, pos))) {
                if a.vals.is_empty() && a.pats.is_empty() {
                    continue; // never true: no pattern to index
                }
                if !a.vals.is_empty() {
                    let i = match scalar.iter().position(|e| e.field == *a.field) {
                        Some(i) => i,
                        None => {
                            scalar.push(ScalarExact { field: a.field.clone(), map: Default::default() });
                            scalar.len() - 1
                        }
                    };
                    for v in a.vals {
                        let ps = scalar[i].map.entry(v).or_default();
                        if !ps.contains(&pos) {
                            ps.push(pos);
                        }
                    }
                    continue;
                }
                let (field, kind, pats) = on_fd_name(a);
                let field = &field;
                match kind {
                    // Weak anchors carry values (handled above), never patterns.
                    Kind::Weak => {}
                    Kind::Exact => {
                        let i = match exact.iter().position(|e| e.field == *field) {
                            Some(i) => i,
                            None => {
                                exact.push(Exact { field: field.clone(), lens: 0, map: Map::default() });
                                exact.len() - 1
                            }
                        };
                        for p in pats {
                            exact[i].lens |= len_bit(p.len());
                            exact[i].map.entry(p.into()).or_default().push(pos);
                        }
                    }
                    Kind::Prefix | Kind::Suffix => {
                        let suffix = kind == Kind::Suffix;
                        let i = match prefix.iter().position(|e| e.0 == *field && e.1 == suffix) {
                            Some(i) => i,
                            None => {
                                prefix.push((field.clone(), suffix, Vec::new()));
                                prefix.len() - 1
                            }
                        };
                        for p in pats {
                            let mut b = p.into_bytes();
                            if suffix {
                                b.reverse();
                            }
                            prefix[i].2.push((b, pos));
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
        let prefix = prefix
            .into_iter()
            .map(|(field, suffix, pats)| Prefix { field, suffix, trie: Trie::build(&pats) })
            .collect();
        let contains = contains
            .into_iter()
            .map(|(field, pats, positions)| {
                // A DFA without prefilter, as for `contains` itself (`pred::ac`): the
                // values are short and full of the prefilter's rare bytes.
                let ac = AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .kind(Some(AhoCorasickKind::DFA))
                    .prefilter(false)
                    .build(&pats)
                    .or_else(|_| AhoCorasick::builder().match_kind(MatchKind::Standard).build(&pats))
                    .ok()?;
                let ac_long = AhoCorasick::builder().match_kind(MatchKind::Standard).build(&pats).ok()?;
                Some(Contains { field, ac, ac_long, positions })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(TypeIndex { always: always.into(), exact, scalar, prefix, contains })
    }

    /// Fill both slots' bitsets (`bits`: slot 0's `words`, then slot 1's).
    fn fill(&self, ev: &crate::runtime::event::Event, bits: &mut [u64], words: usize) {
        bits.copy_from_slice(&self.always);
        for e in &self.exact {
            text_of(e.field.extract(ev), |s| {
                if e.lens & len_bit(s.len()) != 0 {
                    if let Some(ps) = e.map.get(s) {
                        ps.iter().for_each(|p| set_slot(bits, words, *p));
                    }
                }
            });
        }
        for e in &self.scalar {
            if let Some(ps) = Scalar::of(e.field.extract(ev)).and_then(|v| e.map.get(&v)) {
                ps.iter().for_each(|p| set_slot(bits, words, *p));
            }
        }
        for e in &self.prefix {
            text_of(e.field.extract(ev), |s| {
                let s = s.as_bytes();
                if e.suffix {
                    e.trie.walk(s.iter().rev().copied(), |p| set_slot(bits, words, p));
                } else {
                    e.trie.walk(s.iter().copied(), |p| set_slot(bits, words, p));
                }
            });
        }
        for e in &self.contains {
            text_of(e.field.extract(ev), |s| {
                // Most values hold no pattern: one plain DFA scan says so; only a
                // hit pays the overlapping walk (measured: its per-byte state
                // bookkeeping costs more than the scan).
                let ac = if s.len() >= LONG_VALUE { &e.ac_long } else { &e.ac };
                if !ac.is_match(s) {
                    return;
                }
                for m in ac.find_overlapping_iter(s) {
                    e.positions[m.pattern().as_usize()].iter().for_each(|p| set_slot(bits, words, *p));
                }
            });
        }
    }

    /// Call `f` with the position (in load order) of every candidate rule for `ev`.
    #[inline]
    pub fn for_each_candidate(&self, ev: &crate::runtime::event::Event, mut f: impl FnMut(usize)) {
        let words = self.always.len() / 2;
        // A small array for the common case: zeroing 1 KiB per event shows in profiles.
        let mut small = [0u64; 2 * SMALL_WORDS];
        let mut stack;
        let mut heap;
        let bits: &mut [u64] = if words <= SMALL_WORDS {
            &mut small[..2 * words]
        } else if words <= STACK_WORDS {
            stack = [0u64; 2 * STACK_WORDS];
            &mut stack[..2 * words]
        } else {
            heap = vec![0u64; 2 * words];
            &mut heap
        };
        self.fill(ev, bits, words);
        let (first, second) = bits.split_at(words);
        for (w, (a, b)) in first.iter().zip(second).enumerate() {
            let mut word = a & b;
            while word != 0 {
                let b = word.trailing_zeros() as usize;
                word &= word - 1;
                f(w * 64 + b);
            }
        }
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
