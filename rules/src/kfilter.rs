//! The in-kernel open pre-filter: which opens the loaded rules can possibly match.
//!
//! Opens are by far the most frequent event, and most of them (shared libraries, `/proc`
//! reads, caches) can never match a rule. The agent's eBPF open probes drop such opens
//! before they are copied to userspace. This module derives what the probes must keep
//! from a compiled [`RuleSet`] ([`RuleSet::open_needs`]) and models the kernel check in
//! userspace ([`OpenNeeds::passes`]) so tests can prove that the filter never drops an
//! open that some rule would alert on.
//!
//! The analysis is a sound over-approximation. Every rule condition that applies to
//! `openat` events is abstracted, node by node, into a "cube": the paths the condition
//! can accept (a set of prefixes and suffixes, or any path), whether it can only be true
//! for a successful open, and whether it can only be true for an open for writing.
//! Unknown constructs (negations, transformers, regexes, other fields) abstract to
//! "anything", which only costs precision. The kernel passes every path it cannot judge
//! cheaply (relative paths, paths containing `/.` or `//` that userspace normalizes).
//!
//! The connect pre-filter ([`RuleSet::connect_needs`], [`ConnectNeeds`]) is derived the
//! same way in the `connect` submodule, the dup-family result filter
//! ([`RuleSet::dup_needs`], [`DupNeeds`]) in `dup` and the socket family filter
//! ([`RuleSet::socket_needs`], [`SocketNeeds`]) in `sock`, both on `mask`, and
//! the unshare flags filter ([`RuleSet::unshare_needs`], [`UnshareNeeds`]) in
//! `unshare`, on `mask`'s walk with a domain of its own; the kill signal filter
//! ([`RuleSet::kill_needs`], [`KillNeeds`]) in `sig`, on `mask`.

use std::cmp::Reverse;

use crate::fields::glob::Glob;
use crate::fields::FieldId as F;
use crate::runtime::event::{EvtType, O_ACCMODE};
use crate::runtime::matcher::{Check, Mode, Node, Pred};
use crate::runtime::pred::{NumPred, StrPred};
use crate::runtime::ruleset::RuleSet;

mod connect;
mod dup;
mod mask;
mod sig;
mod sock;
mod unshare;
pub(crate) use connect::family_addr as connect_family_addr;
pub use connect::{ConnectNeeds, AF_INET, AF_INET6, AF_UNIX, EINPROGRESS};
pub use dup::{DupNeeds, DUP_TYPES};
pub use sig::{signal_name, KillNeeds};
pub use sock::{socket_domain_name, SocketNeeds};
pub use unshare::UnshareNeeds;

/// Bytes of a path the kernel compares (the LPM trie key length).
pub const KEY_LEN: usize = 64;

/// `O_WRONLY|O_RDWR|O_CREAT|O_TRUNC`: an open with any of these bits is "for writing".
pub const WRITE_FLAGS: u32 = 0o1 | 0o2 | 0o100 | 0o1000;

/// Paths this long or longer are truncated by the probes' 512-byte buffer
/// (511 bytes and the NUL): the kernel passes them unjudged.
pub const TRUNCATED_AT: usize = 511;

/// Does the path hold `/.` or `//`, so it may be non-canonical (`/tmp/../etc/shadow`)?
/// The kernel lets such paths through (agent-common's `pathscan` is its word-at-a-time
/// twin), and the agent normalises them before rules see them.
pub fn maybe_non_canonical(b: &[u8]) -> bool {
    b.windows(2).any(|w| w[0] == b'/' && (w[1] == b'/' || w[1] == b'.'))
}

/// What the loaded open rules need from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenNeeds {
    /// Some open rule can match an open that failed (ret < 0).
    pub failed: bool,
    /// `None`: some rule can match any path. `Some`: an absolute, canonical path
    /// must start with one of `prefixes` or end with one of `suffixes`.
    pub paths: Option<PathSet>,
    /// Some rule matches opens *for writing* whatever the path (only meaningful with
    /// `paths: Some`; always false with `paths: None`).
    pub writes_any_path: bool,
    /// Paths only rules on writes need: an open for writing also passes if it
    /// matches these (a read below `/etc/` is not kept because of a rule on
    /// writes below `/etc/`).
    pub write_paths: PathSet,
}

/// Path prefixes and suffixes, sorted and deduplicated. Entries derived by
/// [`RuleSet::open_needs`] are at most [`KEY_LEN`] bytes (cut at a character boundary),
/// absolute (prefixes), and none is covered by a shorter entry of the same list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PathSet {
    pub prefixes: Vec<String>,
    pub suffixes: Vec<String>,
}

impl PathSet {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.prefixes.len() + self.suffixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Normalize: cut entries to `KEY_LEN` bytes, drop relative prefixes (only a
    /// relative raw path can give a relative `fd.name`, and the kernel passes those),
    /// drop entries covered by shorter ones. `None` when the set covers every absolute
    /// path (a prefix `""` or `/`, a suffix `""`).
    fn build(prefixes: Vec<String>, suffixes: Vec<String>) -> Option<PathSet> {
        if prefixes.iter().any(|p| p.is_empty() || p == "/") || suffixes.iter().any(|s| s.is_empty()) {
            return None;
        }
        let mut prefixes: Vec<String> =
            prefixes.into_iter().filter(|p| p.starts_with('/')).map(|p| cut_front(&p).to_string()).collect();
        prefixes.sort();
        prefixes.dedup();
        let mut kept: Vec<String> = Vec::with_capacity(prefixes.len());
        for p in prefixes {
            // Sorted: a prefix of `p` sorts before it, and everything in between starts with it.
            if !kept.last().is_some_and(|k| p.starts_with(k.as_str())) {
                kept.push(p);
            }
        }
        let mut suffixes: Vec<String> = suffixes.iter().map(|s| cut_back(s).to_string()).collect();
        suffixes.sort_by(|a, b| a.bytes().rev().cmp(b.bytes().rev()));
        suffixes.dedup();
        let mut kept_s: Vec<String> = Vec::with_capacity(suffixes.len());
        for s in suffixes {
            if !kept_s.last().is_some_and(|k| s.ends_with(k.as_str())) {
                kept_s.push(s);
            }
        }
        kept_s.sort();
        Some(PathSet { prefixes: kept, suffixes: kept_s })
    }

    /// The kernel's test: a (cut) prefix starts the path's first `KEY_LEN` bytes,
    /// or a (cut) suffix ends its last `KEY_LEN` bytes.
    pub fn matches(&self, path: &[u8]) -> bool {
        let head = &path[..path.len().min(KEY_LEN)];
        if self.prefixes.iter().any(|p| head.starts_with(&p.as_bytes()[..p.len().min(KEY_LEN)])) {
            return true;
        }
        let tail = &path[path.len().saturating_sub(KEY_LEN)..];
        self.suffixes.iter().any(|s| tail.ends_with(&s.as_bytes()[s.len().saturating_sub(KEY_LEN)..]))
    }

    fn union(self, other: PathSet) -> Option<PathSet> {
        let mut p = self.prefixes;
        p.extend(other.prefixes);
        let mut s = self.suffixes;
        s.extend(other.suffixes);
        PathSet::build(p, s)
    }

    /// A sound over-approximation of the intersection (for `and`).
    fn meet(self, other: PathSet) -> PathSet {
        let longer = |a: &[String], b: &[String], prefix: bool| -> Vec<String> {
            let mut out = Vec::new();
            for x in a {
                for y in b {
                    let (long, short) = if x.len() >= y.len() { (x, y) } else { (y, x) };
                    if (prefix && long.starts_with(short.as_str())) || (!prefix && long.ends_with(short.as_str())) {
                        out.push(long.clone());
                    }
                }
            }
            out
        };
        // Exact when both sides are prefix-only or suffix-only.
        let exact = if self.suffixes.is_empty() && other.suffixes.is_empty() {
            PathSet::build(longer(&self.prefixes, &other.prefixes, true), Vec::new())
        } else if self.prefixes.is_empty() && other.prefixes.is_empty() {
            PathSet::build(Vec::new(), longer(&self.suffixes, &other.suffixes, false))
        } else {
            None
        };
        if let Some(x) = exact {
            return x;
        }
        // Otherwise keep the more specific side: longest shortest entry, then fewest entries.
        let rank = |p: &PathSet| {
            let min = p.prefixes.iter().chain(&p.suffixes).map(String::len).min().unwrap_or(usize::MAX);
            (min, Reverse(p.len()))
        };
        if rank(&other) > rank(&self) {
            other
        } else {
            self
        }
    }
}

/// The first `KEY_LEN` bytes, shortened to a character boundary.
fn cut_front(s: &str) -> &str {
    let mut i = s.len().min(KEY_LEN);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

/// The last `KEY_LEN` bytes, shortened to a character boundary.
fn cut_back(s: &str) -> &str {
    let mut i = s.len().saturating_sub(KEY_LEN);
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

impl OpenNeeds {
    /// Everything passes.
    pub fn pass_all() -> OpenNeeds {
        OpenNeeds { failed: true, paths: None, writes_any_path: false, write_paths: PathSet::default() }
    }

    /// Userspace model of the kernel check: would the kernel emit this open?
    /// `raw_path` is the path as passed to openat, `flags` the raw open flags, `ret` the
    /// syscall result.
    pub fn passes(&self, raw_path: &str, flags: u32, ret: i64) -> bool {
        if ret < 0 && !self.failed {
            return false;
        }
        let Some(set) = &self.paths else { return true };
        let b = raw_path.as_bytes();
        // Relative, truncated by the probe's path buffer, ending in '/', or
        // possibly non-canonical: the kernel cannot judge those by their bytes.
        if b.first() != Some(&b'/') || b.len() >= TRUNCATED_AT || b.last() == Some(&b'/') || maybe_non_canonical(b) {
            return true;
        }
        if flags & WRITE_FLAGS != 0 && (self.writes_any_path || self.write_paths.matches(b)) {
            return true;
        }
        set.matches(b)
    }

    /// [`OpenNeeds::passes`] for an event built by userspace: events other than opens
    /// pass, and `fd.name` stands for the raw path.
    pub(crate) fn passes_event(&self, ev: &crate::runtime::event::Event) -> bool {
        if ev.evt_type != EvtType::Openat {
            return true;
        }
        let fd = ev.fd.as_ref();
        self.passes(fd.map_or("", |f| f.name()), fd.and_then(|f| f.flags()).unwrap_or(0), ev.res)
    }
}

impl RuleSet {
    /// What the kernel must keep of open events for the rules of this set (see the
    /// module documentation). With no open rule at all: nothing (`failed: false`,
    /// `paths: Some(empty)`).
    pub fn open_needs(&self) -> OpenNeeds {
        let mut needs = OpenNeeds {
            failed: false,
            paths: Some(PathSet::default()),
            writes_any_path: false,
            write_paths: PathSet::default(),
        };
        for &i in self.by_type[EvtType::Openat.index()].iter() {
            let Abs::Cube(c) = node(&self.rules[i as usize].cond) else { continue };
            needs.failed |= !c.success_only;
            match c.path {
                None if c.write_only => needs.writes_any_path = true,
                None => needs.paths = None,
                Some(p) if c.write_only => match std::mem::take(&mut needs.write_paths).union(p) {
                    Some(w) => needs.write_paths = w,
                    None => needs.writes_any_path = true,
                },
                Some(p) => needs.paths = needs.paths.take().and_then(|acc| acc.union(p)),
            }
        }
        if needs.paths.is_none() || needs.writes_any_path {
            needs.write_paths = PathSet::default();
        }
        if needs.paths.is_none() {
            needs.writes_any_path = false;
        }
        needs
    }
}

/// What an open event must be like for a condition to be true.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Cube {
    /// `None`: any path.
    path: Option<PathSet>,
    /// True only if the open succeeded.
    success_only: bool,
    /// True only if `flags & WRITE_FLAGS != 0`.
    write_only: bool,
}

/// The abstraction of a condition on open events.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Abs {
    /// Never true for an open event.
    Bottom,
    Cube(Cube),
}

impl Abs {
    const TOP: Abs = Abs::Cube(Cube { path: None, success_only: false, write_only: false });

    fn path(path: Option<PathSet>) -> Abs {
        Abs::Cube(Cube { path, success_only: false, write_only: false })
    }

    fn success_only(yes: bool) -> Abs {
        Abs::Cube(Cube { path: None, success_only: yes, write_only: false })
    }

    fn write_only(yes: bool) -> Abs {
        Abs::Cube(Cube { path: None, success_only: false, write_only: yes })
    }

    fn and(self, other: Abs) -> Abs {
        let (Abs::Cube(a), Abs::Cube(b)) = (self, other) else { return Abs::Bottom };
        let path = match (a.path, b.path) {
            (None, p) | (p, None) => p,
            (Some(x), Some(y)) => Some(x.meet(y)),
        };
        Abs::Cube(Cube {
            path,
            success_only: a.success_only || b.success_only,
            write_only: a.write_only || b.write_only,
        })
    }

    fn or(self, other: Abs) -> Abs {
        let (a, b) = match (self, other) {
            (Abs::Bottom, x) | (x, Abs::Bottom) => return x,
            (Abs::Cube(a), Abs::Cube(b)) => (a, b),
        };
        let path = match (a.path, b.path) {
            (Some(x), Some(y)) => x.union(y),
            _ => None,
        };
        Abs::Cube(Cube {
            path,
            success_only: a.success_only && b.success_only,
            write_only: a.write_only && b.write_only,
        })
    }
}

fn node(n: &Node) -> Abs {
    match n {
        Node::Const(true) | Node::Not(_) => Abs::TOP,
        Node::Const(false) => Abs::Bottom,
        Node::And(v) => v.iter().fold(Abs::TOP, |acc, x| acc.and(node(x))),
        Node::Or(v) => v.iter().fold(Abs::Bottom, |acc, x| acc.or(node(x))),
        Node::Check(c) => check(c),
    }
}

fn check(c: &Check) -> Abs {
    let plain = c.xf.is_empty() && c.mode == Mode::Single && c.field.index.is_none() && c.field.key.is_none();
    if !plain {
        return Abs::TOP;
    }
    match (c.field.id, &c.pred) {
        (F::FdName, Pred::Str(p)) => name_check(p),
        (F::FdDirectory, Pred::Str(p)) => directory_check(p),
        (F::FdFilename, Pred::Str(p)) => filename_check(p),
        (F::FdContainername, Pred::Str(p)) => chained_check(p, false),
        (F::FdContainerdirectory, Pred::Str(p)) => chained_check(p, true),
        (F::EvtType, Pred::Types(m)) if m & (1 << EvtType::Openat.index()) == 0 => Abs::Bottom,
        // For opens, `fd.num` is the result: the agent sets it only for ret >= 0, and
        // without it the field falls back to `evt.rawres`.
        (F::EvtRawres | F::FdNum, Pred::Num(p)) => Abs::success_only(!accepts_negative(p)),
        (F::EvtRes, Pred::Str(p)) => Abs::success_only(!crate::fields::errno::failure_names().any(|n| p.test(n))),
        // Accepted value is `value` for `=`, `!value` for `!=`.
        (F::EvtIsOpenWrite, Pred::Bool { value, eq }) => Abs::write_only(value == eq),
        // `evt.is_open_read = false` means O_WRONLY.
        (F::EvtIsOpenRead, Pred::Bool { value, eq }) => Abs::write_only(value != eq),
        (F::EvtArgFlags, Pred::Flag { bits, acc }) => Abs::write_only(match acc {
            Some(a) => a & O_ACCMODE != 0,
            None => bits & WRITE_FLAGS != 0,
        }),
        _ => Abs::TOP,
    }
}

/// Whether a negative number can pass `p`.
fn accepts_negative(p: &NumPred) -> bool {
    use crate::syntax::ast::Op;
    match p {
        NumPred::In(v) => v.iter().any(|n| *n < 0),
        NumPred::Cmp(op, x) => match op {
            Op::Eq => *x < 0,
            Op::Ne | Op::Le => true,
            Op::Lt => *x > i64::MIN,
            Op::Gt => *x < -1,
            _ => *x <= -1,
        },
    }
}

/// Prefixes (`suffix == false`) or suffixes from literals; `Bottom` when there are none
/// (an empty list can never match).
fn from_lits<'a>(lits: impl Iterator<Item = &'a str>, map: impl Fn(&str) -> String, suffix: bool) -> Abs {
    let v: Vec<String> = lits.filter(|s| !s.is_empty()).map(map).collect();
    if v.is_empty() {
        return Abs::Bottom;
    }
    Abs::path(if suffix { PathSet::build(Vec::new(), v) } else { PathSet::build(v, Vec::new()) })
}

fn strs(v: &[String]) -> impl Iterator<Item = &str> {
    v.iter().map(String::as_str)
}

/// `pmatch` patterns as prefixes: `x pmatch (/a)` holds for `/a` and `/a/...`.
fn pmatch(pats: &[String], root: bool) -> Abs {
    if root {
        return Abs::TOP;
    }
    from_lits(pats.iter().map(|p| p.trim_end_matches('/')), str::to_string, false)
}

const GLOB_SPECIAL: [char; 5] = ['*', '?', '[', ']', '\\'];

/// The literal text before a glob's first wildcard, if the glob is case-sensitive.
fn glob_head(g: &Glob) -> Option<&str> {
    let p = g.pattern();
    (!g.icase()).then(|| &p[..p.find(['*', '?', '[', '\\']).unwrap_or(p.len())])
}

/// The literal text after a glob's last special character, if case-sensitive.
fn glob_tail(g: &Glob) -> Option<&str> {
    let p = g.pattern();
    (!g.icase()).then(|| p.rfind(GLOB_SPECIAL).map_or(p, |i| &p[i + 1..]))
}

fn name_check(p: &StrPred) -> Abs {
    let prefix = |v: Vec<String>| Abs::path(PathSet::build(v, Vec::new()));
    let suffix = |t: &str| Abs::path(PathSet::build(Vec::new(), vec![t.to_string()]));
    match p {
        StrPred::Eq(x) => from_lits(std::iter::once(&**x), str::to_string, false),
        StrPred::In { pats, .. } => from_lits(strs(pats), str::to_string, false),
        StrPred::StartsWith { pats, .. } if pats.is_empty() => Abs::Bottom,
        StrPred::StartsWith { pats, .. } => prefix(pats.clone()),
        StrPred::EndsWith { pats, .. } if pats.is_empty() => Abs::Bottom,
        StrPred::EndsWith { pats, .. } => Abs::path(PathSet::build(Vec::new(), pats.clone())),
        StrPred::PMatch { pats, root, .. } => pmatch(pats, *root),
        // A glob gives a prefix (text before the first wildcard) or a suffix (after the
        // last one). A suffix that is a whole last component (`/proc/*/environ`) is
        // usually far more selective than a directory prefix (`/proc/`), so it wins.
        StrPred::Glob(g) => match (glob_head(g), glob_tail(g)) {
            (_, Some(t)) if t.len() > 1 && t.starts_with('/') => suffix(t),
            (Some(h), _) if h.starts_with('/') => prefix(vec![h.to_string()]),
            (_, Some(t)) if !t.is_empty() => suffix(t),
            _ => Abs::TOP,
        },
        StrPred::BStartsWith(b) => match std::str::from_utf8(b) {
            Ok(s) => prefix(vec![s.to_string()]),
            Err(_) => Abs::TOP,
        },
        _ => Abs::TOP,
    }
}

/// `fd.directory` is the path up to its last `/` (`/` for `/x`), so a path whose
/// directory is `D` starts with `D/` (with `/` when `D` is `/`).
fn directory_check(p: &StrPred) -> Abs {
    let dir = dir_prefix;
    let prefix = |v: Vec<String>| Abs::path(PathSet::build(v, Vec::new()));
    match p {
        StrPred::Eq(x) => from_lits(std::iter::once(&**x), dir, false),
        StrPred::In { pats, .. } => from_lits(strs(pats), dir, false),
        StrPred::StartsWith { pats, .. } if pats.is_empty() => Abs::Bottom,
        StrPred::StartsWith { pats, .. } => prefix(pats.clone()),
        StrPred::PMatch { pats, root, .. } => pmatch(pats, *root),
        StrPred::Glob(g) => match glob_head(g) {
            Some(h) if h.starts_with('/') => prefix(vec![h.to_string()]),
            _ => Abs::TOP,
        },
        StrPred::BStartsWith(b) => match std::str::from_utf8(b) {
            Ok(s) => prefix(vec![s.to_string()]),
            Err(_) => Abs::TOP,
        },
        _ => Abs::TOP,
    }
}

/// `fd.containername` / `fd.containerdirectory` (`dir`) of an open are `ID:PATH` /
/// `ID:DIRECTORY`, where the container id (`host` or hex) has no `:`: an exact
/// value, or a prefix with a `:` in it, names the path (or directory) after its
/// first `:`, and a suffix's text after its last `:` ends the path. A value with
/// no `:` can never be equal; anything else keeps every path.
fn chained_check(p: &StrPred, dir: bool) -> Abs {
    let after_id = |v: &str| v.split_once(':').map(|(_, rest)| rest.to_string());
    let path_of = |v: Vec<String>| -> Vec<String> { v.iter().filter_map(|x| after_id(x)).collect() };
    let inner = match p {
        StrPred::Eq(x) => match after_id(x) {
            Some(rest) => StrPred::Eq(rest.into()),
            None => return Abs::Bottom,
        },
        StrPred::In { pats, .. } => {
            let v = path_of(pats.clone());
            if v.is_empty() {
                return Abs::Bottom;
            }
            return if dir {
                from_lits(strs(&v), dir_prefix, false)
            } else {
                from_lits(strs(&v), str::to_string, false)
            };
        }
        StrPred::StartsWith { pats, .. } if pats.iter().all(|x| x.contains(':')) && !pats.is_empty() => {
            let heads = path_of(pats.clone());
            if heads.iter().any(String::is_empty) {
                return Abs::TOP;
            }
            return Abs::path(PathSet::build(heads, Vec::new()));
        }
        StrPred::EndsWith { pats, .. } if !dir && !pats.is_empty() => {
            let tails: Vec<String> = pats.iter().map(|x| x.rsplit(':').next().unwrap_or(x).to_string()).collect();
            if tails.iter().any(String::is_empty) {
                return Abs::TOP;
            }
            return Abs::path(PathSet::build(Vec::new(), tails));
        }
        _ => return Abs::TOP,
    };
    if dir {
        directory_check(&inner)
    } else {
        name_check(&inner)
    }
}

/// A directory as the prefix of the paths in it (`/` stays `/`).
fn dir_prefix(d: &str) -> String {
    if d == "/" {
        d.to_string()
    } else {
        format!("{d}/")
    }
}

/// `fd.filename` is the text after the path's last `/`.
fn filename_check(p: &StrPred) -> Abs {
    let file = |n: &str| format!("/{n}");
    match p {
        StrPred::Eq(x) => from_lits(std::iter::once(&**x), file, true),
        StrPred::In { pats, .. } => from_lits(strs(pats), file, true),
        StrPred::EndsWith { pats, .. } if pats.is_empty() => Abs::Bottom,
        StrPred::EndsWith { pats, .. } => Abs::path(PathSet::build(Vec::new(), pats.clone())),
        StrPred::Glob(g) => match glob_tail(g) {
            Some(t) if t == g.pattern() => from_lits(std::iter::once(t), file, true),
            Some(t) if !t.is_empty() => Abs::path(PathSet::build(Vec::new(), vec![t.to_string()])),
            _ => Abs::TOP,
        },
        _ => Abs::TOP,
    }
}

#[cfg(test)]
mod soundness;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;
