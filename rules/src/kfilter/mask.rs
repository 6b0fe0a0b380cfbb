//! The small-value analysis shared by the dup result filter (`dup`) and the
//! socket domain filter (`sock`): which values 0..63 of one event property a
//! rule set can match for some event types, as a 64-bit mask the kernel tests
//! with one AND.
//!
//! A sound over-approximation like the open and connect analyses: a rule's
//! condition abstracts to the set of values it can be true for, or "any";
//! `and` intersects, `or` unites, and anything the analysis does not know
//! (other fields, negations, transformers) is "any". Each filter says which
//! plain checks narrow it (its `leaf`). The walk over the rules is generic in
//! the abstract domain ([`Lattice`]): the unshare filter (`unshare`) folds
//! "needs one of these flag bits" over the same conditions. The socket and kill
//! filters share their leaf and kernel check too (`named_arg_leaf`,
//! `mask_passes`): one small argument, by name or number.

use crate::fields::FieldId as F;
use crate::runtime::event::{Event, EvtType};
use crate::runtime::matcher::{Check, Mode, Node, Pred};
use crate::runtime::ruleset::RuleSet;

/// The values a condition can be true for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Abs {
    /// Never true for this event type.
    Bottom,
    /// `None`: any value; `Some(mask)`: only these values.
    Mask(Option<u64>),
}

/// An abstract domain for [`fold_rules`]: what a condition can be true for.
pub(super) trait Lattice: Copy {
    /// Anything: the analysis knows nothing.
    const TOP: Self;
    /// Never true for this event type.
    const BOTTOM: Self;
    fn and(self, other: Self) -> Self;
    fn or(self, other: Self) -> Self;
}

impl Abs {
    pub(super) const TOP: Abs = Abs::Mask(None);
}

impl Lattice for Abs {
    const TOP: Abs = Abs::Mask(None);
    const BOTTOM: Abs = Abs::Bottom;

    fn and(self, other: Abs) -> Abs {
        match (self, other) {
            (Abs::Bottom, _) | (_, Abs::Bottom) => Abs::Bottom,
            (Abs::Mask(None), x) | (x, Abs::Mask(None)) => x,
            (Abs::Mask(Some(a)), Abs::Mask(Some(b))) => Abs::Mask(Some(a & b)),
        }
    }

    fn or(self, other: Abs) -> Abs {
        match (self, other) {
            (Abs::Bottom, x) | (x, Abs::Bottom) => x,
            (Abs::Mask(Some(a)), Abs::Mask(Some(b))) => Abs::Mask(Some(a | b)),
            _ => Abs::TOP,
        }
    }
}

/// The values (`None`: any) the rules on `types` can match, `leaf` judging a
/// plain check (no transformer, index or list mode) other than `evt.type`.
/// No rule on these types at all: `Some(0)`.
pub(super) fn needs_mask(rs: &RuleSet, types: &[EvtType], leaf: &dyn Fn(&Check) -> Abs) -> Option<u64> {
    match fold_rules(rs, types, leaf) {
        Abs::Bottom => Some(0),
        Abs::Mask(m) => m,
    }
}

/// The union (`or`) over the rules on `types` of what each condition can be
/// true for, `leaf` judging a plain check (no transformer, index or list
/// mode) other than `evt.type`. No rule on these types: `L::BOTTOM`.
pub(super) fn fold_rules<L: Lattice>(rs: &RuleSet, types: &[EvtType], leaf: &dyn Fn(&Check) -> L) -> L {
    let mut acc = L::BOTTOM;
    for &t in types {
        for &i in rs.by_type[t.index()].iter() {
            acc = acc.or(node(&rs.rules[i as usize].cond, t, leaf));
        }
    }
    acc
}

fn node<L: Lattice>(n: &Node, t: EvtType, leaf: &dyn Fn(&Check) -> L) -> L {
    match n {
        Node::Const(true) | Node::Not(_) => L::TOP,
        Node::Const(false) => L::BOTTOM,
        Node::And(v) => v.iter().fold(L::TOP, |acc, x| acc.and(node(x, t, leaf))),
        Node::Or(v) => v.iter().fold(L::BOTTOM, |acc, x| acc.or(node(x, t, leaf))),
        Node::Check(c) => {
            if !c.xf.is_empty() || c.mode != Mode::Single || c.field.index.is_some() {
                return L::TOP;
            }
            match (c.field.id, &c.pred) {
                (F::EvtType, Pred::Types(m)) if m & (1 << t.index()) == 0 => L::BOTTOM,
                _ => leaf(c),
            }
        }
    }
}

/// The mask of the values in 0..63 for which `test` holds.
pub(super) fn mask_of(test: impl Fn(i64) -> bool) -> u64 {
    (0..64).filter(|&v| test(v)).fold(0u64, |m, v| m | 1u64 << v)
}

/// The leaf of a filter on one small numeric argument `key` that `evt.arg.<key>`
/// renders by name (`text`: the name, or the number past the named ones) and
/// `evt.rawarg.<key>` gives as the number: any string or numeric test narrows
/// it, judged on each value 0..63 (the socket family, the kill signal).
pub(super) fn named_arg_leaf(c: &Check, key: &str, text: impl Fn(i64) -> String) -> Abs {
    if c.field.key.as_deref() != Some(key) {
        return Abs::TOP;
    }
    match (c.field.id, &c.pred) {
        (F::EvtArg, Pred::Str(p)) => Abs::Mask(Some(mask_of(|v| p.test(&text(v))))),
        (F::EvtRawarg, Pred::Num(p)) => Abs::Mask(Some(mask_of(|v| p.test(v)))),
        _ => Abs::TOP,
    }
}

/// The kernel's check of such an argument: keep value `v`? `None` keeps all;
/// values from 64 on always pass.
pub(super) fn mask_passes(mask: Option<u64>, v: u64) -> bool {
    mask.is_none_or(|m| v >= 64 || m & (1u64 << v) != 0)
}

/// [`mask_passes`] for an event of type `t` (other types always pass): argument
/// `key`'s number, or the number of its name in `names` (a fixture may give only
/// that).
pub(super) fn event_passes(mask: Option<u64>, ev: &Event, t: EvtType, key: &str, names: &[&str]) -> bool {
    let Some(a) = ev.arg(key).filter(|_| ev.evt_type == t) else {
        return true;
    };
    let v = a.raw.map(|v| v as u64).or_else(|| names.iter().position(|n| **n == *a.text).map(|v| v as u64));
    v.is_none_or(|v| mask_passes(mask, v))
}
