//! Condition tree optimizations, applied once per rule after compilation.
//!
//! - flatten nested `and`/`or`, fold constants, remove double negation;
//! - merge the operands of an `or` that test the same field with the same kind of
//!   literal: `proc.name = a or proc.name in (b, c)` becomes one hash-set lookup,
//!   several `contains` one Aho-Corasick scan, several `startswith` one anchored
//!   automaton, and so on;
//! - order `and`/`or` operands by estimated cost so cheap tests short-circuit the
//!   expensive ones (conditions have no side effects, so order does not change results).

use crate::fields::Field;
use crate::runtime::matcher::{Check, Mode, Node, Pred};
use crate::runtime::pred::{NumPred, StrPred};
use crate::syntax::ast::Op;
use crate::syntax::ast::Transform;

fn cost(n: &Node) -> u32 {
    match n {
        Node::Const(_) => 0,
        Node::Check(c) => c.cost(),
        Node::Not(x) => cost(x),
        Node::And(v) | Node::Or(v) => v.iter().map(cost).sum::<u32>().min(1000),
    }
}

/// Rough probability that `n` is true for a typical event: literal tests on
/// high-cardinality fields rarely pass, tests on flags, results and low-cardinality
/// fields usually do, negations (exceptions, allowlists) usually pass.
fn pass_prob(n: &Node) -> f32 {
    use crate::fields::FieldId as F;
    match n {
        Node::Const(b) => f32::from(u8::from(*b)),
        Node::Not(x) => 1.0 - pass_prob(x),
        Node::And(v) => v.iter().map(pass_prob).product(),
        Node::Or(v) => 1.0 - v.iter().map(|x| 1.0 - pass_prob(x)).product::<f32>(),
        Node::Check(c) => {
            let low_card = matches!(
                c.field.id,
                F::FdTypechar
                    | F::FdType
                    | F::FdL4proto
                    | F::FdSockfamily
                    | F::EvtRes
                    | F::EvtDir
                    | F::ContainerId
                    | F::ContainerName
            );
            match &c.pred {
                Pred::Types(_) => 0.9,
                Pred::Exists => 0.9,
                Pred::Bool { .. } => 0.5,
                Pred::Num(NumPred::Cmp(Op::Eq, _)) | Pred::Num(NumPred::In(_)) => 0.1,
                Pred::Num(_) => 0.8,
                Pred::Ip { eq, .. } | Pred::Net { eq, .. } | Pred::Dns { eq, .. } => {
                    if *eq {
                        0.1
                    } else {
                        0.9
                    }
                }
                Pred::Str(StrPred::Ne(_)) => 0.9,
                Pred::Str(_) if low_card => 0.8,
                Pred::Str(_) => 0.05,
                Pred::Flag { .. } => 0.3,
                Pred::Field { .. } => 0.5,
            }
        }
    }
}

/// Expected cost of evaluating `n` before deciding an `and`: cost / P(false).
fn and_rank(n: &Node) -> f32 {
    cost(n) as f32 / (1.0 - pass_prob(n)).max(0.01)
}

/// Same for `or`: cost / P(true).
fn or_rank(n: &Node) -> f32 {
    cost(n) as f32 / pass_prob(n).max(0.01)
}

/// Drop top-level `evt.type` tests implied by the event-type index (the rule is only
/// evaluated for the types in `mask`).
pub(crate) fn strip_implied_types(n: Node, mask: crate::runtime::event::TypeMask) -> Node {
    let implied = |c: &Node| matches!(c, Node::Check(c) if matches!(c.pred, Pred::Types(m) if m & mask == mask));
    match n {
        Node::And(v) => finish(v.into_vec().into_iter().filter(|c| !implied(c)).collect(), true),
        other if implied(&other) => Node::Const(true),
        other => other,
    }
}

pub(crate) fn optimize(n: Node) -> Node {
    match n {
        Node::And(v) => {
            let mut out = Vec::with_capacity(v.len());
            for c in v.into_vec() {
                match optimize(c) {
                    Node::Const(true) => {}
                    Node::Const(false) => return Node::Const(false),
                    Node::And(inner) => out.extend(inner.into_vec()),
                    x => out.push(x),
                }
            }
            finish(out, true)
        }
        Node::Or(v) => {
            let mut out = Vec::with_capacity(v.len());
            for c in v.into_vec() {
                match optimize(c) {
                    Node::Const(false) => {}
                    Node::Const(true) => return Node::Const(true),
                    Node::Or(inner) => out.extend(inner.into_vec()),
                    x => out.push(x),
                }
            }
            finish(merge_or(out), false)
        }
        Node::Not(x) => match optimize(*x) {
            Node::Const(b) => Node::Const(!b),
            Node::Not(y) => *y,
            y => Node::Not(Box::new(y)),
        },
        other => other,
    }
}

fn finish(mut out: Vec<Node>, and: bool) -> Node {
    match out.len() {
        0 => Node::Const(and),
        1 => out.pop().unwrap_or(Node::Const(and)),
        _ => {
            if and {
                out.sort_by(|a, b| and_rank(a).total_cmp(&and_rank(b)));
            } else {
                out.sort_by(|a, b| or_rank(a).total_cmp(&or_rank(b)));
            }
            if and {
                Node::And(out.into())
            } else {
                Node::Or(out.into())
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Set,
    Contains,
    IContains,
    Starts,
    Ends,
    PMatch,
    Num,
    Types,
    Ip,
}

enum Pats {
    Str(Vec<String>),
    Num(Vec<i64>),
    Mask(crate::runtime::event::TypeMask),
    Ip(Vec<std::net::IpAddr>),
}

fn classify(c: &Check) -> Option<(Kind, Pats)> {
    if c.mode == Mode::All {
        return None;
    }
    Some(match &c.pred {
        Pred::Str(StrPred::Eq(x)) => (Kind::Set, Pats::Str(vec![x.to_string()])),
        Pred::Str(StrPred::In { pats, .. }) => (Kind::Set, Pats::Str(pats.clone())),
        Pred::Str(StrPred::Contains { pats, .. }) => (Kind::Contains, Pats::Str(pats.clone())),
        Pred::Str(StrPred::IContains { pats, .. }) => (Kind::IContains, Pats::Str(pats.clone())),
        Pred::Str(StrPred::StartsWith { pats, .. }) => (Kind::Starts, Pats::Str(pats.clone())),
        Pred::Str(StrPred::EndsWith { pats, .. }) => (Kind::Ends, Pats::Str(pats.clone())),
        Pred::Str(StrPred::PMatch { pats, .. }) => (Kind::PMatch, Pats::Str(pats.clone())),
        Pred::Num(NumPred::Cmp(Op::Eq, x)) => (Kind::Num, Pats::Num(vec![*x])),
        Pred::Num(NumPred::In(v)) => (Kind::Num, Pats::Num(v.to_vec())),
        Pred::Types(m) => (Kind::Types, Pats::Mask(*m)),
        Pred::Ip { set, eq: true } => (Kind::Ip, Pats::Ip(set.to_vec())),
        _ => return None,
    })
}

struct Group {
    field: Field,
    xf: Box<[Transform]>,
    mode: Mode,
    kind: Kind,
    pats: Pats,
    first: Node,
    count: usize,
    slot: usize,
}

fn merge_or(nodes: Vec<Node>) -> Vec<Node> {
    let mut groups: Vec<Group> = Vec::new();
    let mut out: Vec<Option<Node>> = Vec::new();
    for n in nodes {
        let Node::Check(c) = &n else {
            out.push(Some(n));
            continue;
        };
        let Some((kind, pats)) = classify(c) else {
            out.push(Some(n));
            continue;
        };
        match groups.iter_mut().find(|g| g.kind == kind && g.field == c.field && g.xf == c.xf && g.mode == c.mode) {
            Some(g) => {
                g.count += 1;
                match (&mut g.pats, pats) {
                    (Pats::Str(a), Pats::Str(b)) => a.extend(b),
                    (Pats::Num(a), Pats::Num(b)) => a.extend(b),
                    (Pats::Mask(a), Pats::Mask(b)) => *a |= b,
                    (Pats::Ip(a), Pats::Ip(b)) => a.extend(b),
                    _ => {}
                }
            }
            None => {
                out.push(None);
                groups.push(Group {
                    field: c.field.clone(),
                    xf: c.xf.clone(),
                    mode: c.mode,
                    kind,
                    pats,
                    first: n,
                    count: 1,
                    slot: out.len() - 1,
                });
            }
        }
    }
    for g in groups {
        let node = if g.count == 1 {
            g.first
        } else {
            let pred = match (g.kind, g.pats) {
                (Kind::Set, Pats::Str(p)) => Pred::Str(StrPred::set(p)),
                (Kind::Contains, Pats::Str(p)) => Pred::Str(StrPred::contains(p)),
                (Kind::IContains, Pats::Str(p)) => Pred::Str(StrPred::icontains(p)),
                (Kind::Starts, Pats::Str(p)) => Pred::Str(StrPred::starts(p)),
                (Kind::Ends, Pats::Str(p)) => Pred::Str(StrPred::ends(p)),
                (Kind::PMatch, Pats::Str(p)) => Pred::Str(StrPred::pmatch(p)),
                (Kind::Num, Pats::Num(v)) => Pred::Num(NumPred::in_set(v)),
                (Kind::Types, Pats::Mask(m)) => Pred::Types(m),
                (Kind::Ip, Pats::Ip(mut v)) => {
                    v.sort();
                    v.dedup();
                    Pred::Ip { set: v.into(), eq: true }
                }
                _ => {
                    out[g.slot] = Some(g.first);
                    continue;
                }
            };
            Node::Check(Box::new(Check::new(g.field, g.xf, g.mode, pred)))
        };
        out[g.slot] = Some(node);
    }
    out.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::Field;

    fn chk(pred: Pred) -> Node {
        Node::Check(Box::new(Check::new(Field::resolve("proc.name", None).unwrap(), Box::new([]), Mode::Single, pred)))
    }

    #[test]
    fn merges_and_folds() {
        let n = Node::Or(
            vec![
                chk(Pred::Str(StrPred::Eq("a".into()))),
                chk(Pred::Str(StrPred::contains(vec!["x".into()]))),
                chk(Pred::Str(StrPred::set(vec!["b".into(), "c".into()]))),
                chk(Pred::Str(StrPred::contains(vec!["y".into()]))),
                Node::Const(false),
            ]
            .into(),
        );
        let Node::Or(v) = optimize(n) else { panic!("expected or") };
        assert_eq!(v.len(), 2);
        assert!(v.iter().any(
            |n| matches!(n, Node::Check(c) if matches!(&c.pred, Pred::Str(StrPred::In { pats, .. }) if pats.len() == 3))
        ));
        assert!(v.iter().any(|n| matches!(n, Node::Check(c) if matches!(&c.pred, Pred::Str(StrPred::Contains { pats, .. }) if pats.len() == 2))));

        assert!(matches!(optimize(Node::And(vec![Node::Const(true), Node::Const(false)].into())), Node::Const(false)));
        assert!(matches!(optimize(Node::Not(Box::new(Node::Not(Box::new(Node::Const(true)))))), Node::Const(true)));
        let one = optimize(Node::And(vec![Node::Const(true), chk(Pred::Exists)].into()));
        assert!(matches!(one, Node::Check(_)));
    }
}
