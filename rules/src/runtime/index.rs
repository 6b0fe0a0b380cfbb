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

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::fields::{Field, FieldId, FieldType, Val};
use crate::runtime::matcher::{Check, Mode, Node, Pred, Rule};
use crate::runtime::pred::StrPred;

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

#[derive(Debug, Default)]
struct TrieNode {
    /// Children: `labels[first..first + n]`, targets alike.
    first: u32,
    n: u32,
    /// Rule positions whose pattern ends here: `hits[hit..hit + nhits]`.
    hit: u32,
    nhits: u32,
}

/// `(pattern bytes, rule position)` pairs a trie is built from.
type TriePats = Vec<(Vec<u8>, u32)>;

#[derive(Debug, Default)]
struct Trie {
    nodes: Vec<TrieNode>,
    labels: Vec<u8>,
    targets: Vec<u32>,
    hits: Vec<u32>,
}

impl Trie {
    /// Build from `(pattern bytes, rule position)` pairs.
    fn build(pats: &TriePats) -> Trie {
        // A pointer trie first, flattened breadth-first afterwards.
        let mut kids: Vec<std::collections::BTreeMap<u8, usize>> = vec![Default::default()];
        let mut ends: Vec<Vec<u32>> = vec![Vec::new()];
        for (p, pos) in pats {
            let mut n = 0;
            for &b in p {
                n = match kids[n].get(&b) {
                    Some(&c) => c,
                    None => {
                        kids.push(Default::default());
                        ends.push(Vec::new());
                        let c = kids.len() - 1;
                        kids[n].insert(b, c);
                        c
                    }
                };
            }
            if !ends[n].contains(pos) {
                ends[n].push(*pos);
            }
        }
        let mut order = vec![0usize];
        let mut id = vec![0u32; kids.len()];
        let mut i = 0;
        while i < order.len() {
            let n = order[i];
            id[n] = i as u32;
            order.extend(kids[n].values().copied());
            i += 1;
        }
        let mut t = Trie::default();
        for &n in &order {
            let first = t.labels.len() as u32;
            for (&b, &c) in &kids[n] {
                t.labels.push(b);
                t.targets.push(c as u32);
            }
            let hit = t.hits.len() as u32;
            t.hits.extend(&ends[n]);
            t.nodes.push(TrieNode { first, n: kids[n].len() as u32, hit, nhits: ends[n].len() as u32 });
        }
        for c in &mut t.targets {
            *c = id[*c as usize];
        }
        t
    }

    /// Call `f` with the positions of every pattern that `bytes` starts with.
    #[inline]
    fn walk(&self, bytes: impl Iterator<Item = u8>, mut f: impl FnMut(u32)) {
        let mut node = &self.nodes[0];
        for b in bytes {
            let (first, n) = (node.first as usize, node.n as usize);
            let Some(k) = self.labels[first..first + n].iter().position(|&x| x == b) else {
                return;
            };
            node = &self.nodes[self.targets[first + k] as usize];
            let (hit, nhits) = (node.hit as usize, node.nhits as usize);
            self.hits[hit..hit + nhits].iter().for_each(|&p| f(p));
        }
    }
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
        (FieldId::FdFilename, Kind::Exact | Kind::Suffix) if plain && nonempty => (fd_name(), Kind::Suffix, a.pats),
        _ => (a.field.clone(), a.kind, a.pats),
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
        let mut prefix: Vec<(Field, bool, TriePats)> = Vec::new();
        let mut contains: Vec<(Field, Vec<String>, Vec<Vec<u32>>)> = Vec::new();
        for (pos, id) in ids.iter().enumerate() {
            let pos = pos as u32;
            let Some(list) = anchors(&rules[*id as usize].cond) else {
                set(&mut always, pos);
                continue;
            };
            for a in list {
                let (field, kind, pats) = on_fd_name(a);
                let field = &field;
                match kind {
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
                if e.lens & len_bit(s.len()) != 0 {
                    if let Some(ps) = e.map.get(s) {
                        ps.iter().for_each(|p| set(bits, *p));
                    }
                }
            }
        }
        for e in &self.prefix {
            if let Val::Str(s) = e.field.extract(ev) {
                let s = s.as_bytes();
                if e.suffix {
                    e.trie.walk(s.iter().rev().copied(), |p| set(bits, p));
                } else {
                    e.trie.walk(s.iter().copied(), |p| set(bits, p));
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
        // A small array for the common case: zeroing 512 bytes per event shows in profiles.
        let mut small = [0u64; SMALL_WORDS];
        let mut stack;
        let mut heap;
        let bits: &mut [u64] = if words <= SMALL_WORDS {
            &mut small[..words]
        } else if words <= STACK_WORDS {
            stack = [0u64; STACK_WORDS];
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
