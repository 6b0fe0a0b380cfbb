//! A compiled rule and its condition tree, and how one event is evaluated against it.
//! The set of rules, indexed by event type, is in `ruleset.rs`.
//!
//! The match path does not allocate: field values are borrowed from the event, and the
//! rare values that must be rendered or transformed (`tolower()`, an IP compared as
//! text) go through two thread-local scratch buffers that are reused.

use std::cell::RefCell;

use crate::error::Location;
use crate::fields::priority::Priority;
use crate::fields::{render_val, Field, Val};
use crate::runtime::event::{Event, EvtType, O_ACCMODE};
use crate::runtime::output::OutputTemplate;
use crate::runtime::pred::{Cidr, NumPred, StrPred};
use crate::syntax::ast::{Op, Transform};

/// A condition tree.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    Const(bool),
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Not(Box<Node>),
    Check(Box<Check>),
}

/// How a field's values combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// One value.
    Single,
    /// True if any value passes (`proc.aname` without index, `fd.ip`, labels).
    Any,
    /// True if every value passes and there is at least one (`k8s.pod.labels in (...)`).
    All,
}

/// A specialized accessor for the common case (single value, no transformer).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fast {
    No,
    Str(crate::runtime::getters::StrGetter),
    Num(crate::runtime::getters::NumGetter),
}

/// One field comparison.
#[derive(Clone, Debug)]
pub(crate) struct Check {
    pub fast: Fast,
    pub field: Field,
    /// Transformers, outermost first.
    pub xf: Box<[Transform]>,
    pub mode: Mode,
    pub pred: Pred,
}

// Variants differ in size (automata, regexes), but a Pred lives inside a boxed Check:
// boxing variants would add a pointer chase per test on the hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub(crate) enum Pred {
    Exists,
    Str(StrPred),
    /// Numeric test; with a `len()` transformer it applies to the string length.
    Num(NumPred),
    Bool {
        value: bool,
        eq: bool,
    },
    Ip {
        set: Box<[std::net::IpAddr]>,
        eq: bool,
    },
    Net {
        nets: Box<[Cidr]>,
        eq: bool,
    },
    /// `fd.sip.name in (names)`: the address is among those the names resolved to.
    Dns {
        names: Box<[std::sync::Arc<crate::runtime::dns::DnsName>]>,
        eq: bool,
    },
    /// Bit mask over `EvtType::index()`.
    Types(crate::runtime::event::TypeMask),
    /// `evt.arg.flags contains O_X`: all `bits` set; for access modes, `acc` must equal.
    Flag {
        bits: u32,
        acc: Option<u32>,
    },
    /// `field op val(other)`.
    Field {
        other: Field,
        op: Op,
    },
}

thread_local! {
    static FMT: RefCell<String> = RefCell::new(String::with_capacity(128));
    static XF: RefCell<String> = RefCell::new(String::with_capacity(256));
}

fn basename(s: &str) -> &str {
    s.rfind('/').map_or(s, |i| &s[i + 1..])
}

/// Apply string transformers (innermost first) and call `f` on the result.
fn with_xf<R>(s: &str, xf: &[Transform], f: impl FnOnce(&str) -> R) -> R {
    if xf.is_empty() {
        return f(s);
    }
    if xf.iter().all(|t| *t == Transform::Basename) {
        return f(basename(s));
    }
    XF.with(|b| {
        let mut b = b.borrow_mut();
        b.clear();
        b.push_str(s);
        let (mut lo, hi) = (0, b.len());
        for t in xf.iter().rev() {
            match t {
                Transform::Basename => lo += b[lo..hi].rfind('/').map_or(0, |i| i + 1),
                Transform::ToLower => b[lo..hi].make_ascii_lowercase(),
                Transform::ToUpper => b[lo..hi].make_ascii_uppercase(),
                Transform::Len => {}
            }
        }
        f(&b[lo..hi])
    })
}

/// The value as text (rendered into a scratch buffer when it is not a string), after
/// transformers.
pub(crate) fn with_text<R>(v: Val<'_>, xf: &[Transform], f: impl FnOnce(&str) -> R) -> R {
    match v {
        Val::Str(s) => with_xf(s, xf, f),
        other => FMT.with(|b| {
            let mut b = b.borrow_mut();
            b.clear();
            render_val(other, false, &mut b);
            with_xf(&b, xf, f)
        }),
    }
}

impl Check {
    /// Pick a specialized accessor when the check allows it.
    pub fn new(field: Field, xf: Box<[Transform]>, mode: Mode, pred: Pred) -> Check {
        let simple = mode == Mode::Single && xf.is_empty() && field.index.is_none() && field.key.is_none();
        let fast = match (&pred, simple) {
            (Pred::Str(_) | Pred::Exists, true) => {
                crate::runtime::getters::str_getter(field.id).map_or(Fast::No, Fast::Str)
            }
            (Pred::Num(_), true) => crate::runtime::getters::num_getter(field.id).map_or(Fast::No, Fast::Num),
            _ => Fast::No,
        };
        let fast = match (fast, &pred) {
            (Fast::No, Pred::Exists) if simple => {
                crate::runtime::getters::num_getter(field.id).map_or(Fast::No, Fast::Num)
            }
            (f, _) => f,
        };
        Check { fast, field, xf, mode, pred }
    }

    #[inline]
    pub fn eval(&self, ev: &Event) -> bool {
        match self.fast {
            Fast::Str(g) => {
                return match (g(ev), &self.pred) {
                    (Some(s), Pred::Str(p)) => p.test(s),
                    (Some(_), Pred::Exists) => true,
                    _ => false,
                }
            }
            Fast::Num(g) => {
                return match (g(ev), &self.pred) {
                    (Some(n), Pred::Num(p)) => p.test(n),
                    (Some(_), Pred::Exists) => true,
                    _ => false,
                }
            }
            Fast::No => {}
        }
        match self.mode {
            Mode::Single => self.test(self.field.extract(ev), ev),
            Mode::Any => self.field.any(ev, |v| self.test(v, ev)),
            Mode::All => {
                let mut seen = false;
                let failed = self.field.any(ev, |v| {
                    seen = true;
                    !self.test(v, ev)
                });
                seen && !failed
            }
        }
    }

    #[inline]
    fn test(&self, v: Val<'_>, ev: &Event) -> bool {
        match (&self.pred, v) {
            (_, Val::Missing) => false,
            (Pred::Exists, _) => true,
            (Pred::Num(p), Val::Num(n)) if self.xf.is_empty() => p.test(n),
            (Pred::Num(p), Val::Time(t)) => p.test(t as i64),
            (Pred::Num(p), v) if !self.xf.is_empty() => with_text(v, &self.xf[1..], |s| p.test(s.len() as i64)),
            (Pred::Bool { value, eq }, Val::Bool(b)) => (b == *value) == *eq,
            (Pred::Ip { set, eq }, Val::Ip(ip)) => set.contains(&ip) == *eq,
            (Pred::Net { nets, eq }, Val::Ip(ip)) => nets.iter().any(|n| n.contains(ip)) == *eq,
            (Pred::Dns { names, eq }, Val::Ip(ip)) => names.iter().any(|n| n.contains(ip)) == *eq,
            (Pred::Types(m), Val::Type(t)) => m & (1 << t.index()) != 0,
            (Pred::Flag { bits, acc }, Val::Flags(f)) => match acc {
                Some(a) => f & O_ACCMODE == *a,
                None => f & bits == *bits,
            },
            // An open flag in another type's rendered flags (dup3's O_CLOEXEC).
            (Pred::Flag { bits, acc: None }, Val::Str(s)) => crate::fields::flags::OPEN_FLAGS
                .iter()
                .find(|(_, b)| b == bits)
                .is_some_and(|(n, _)| s.split('|').any(|x| x == *n)),
            (Pred::Str(p), v) => with_text(v, &self.xf, |s| p.test(s)),
            (Pred::Field { other, op }, v) => cmp_fields(v, other.extract(ev), *op),
            _ => false,
        }
    }

    /// Relative cost, to evaluate cheap operands first.
    pub fn cost(&self) -> u32 {
        let base = match &self.pred {
            Pred::Types(_) => 1,
            Pred::Exists
            | Pred::Bool { .. }
            | Pred::Num(_)
            | Pred::Flag { .. }
            | Pred::Ip { .. }
            | Pred::Net { .. } => 2,
            Pred::Dns { .. } => 3,
            Pred::Str(p) => p.cost(),
            Pred::Field { .. } => 4,
        };
        let xf = if self.xf.iter().any(|t| matches!(t, Transform::ToLower | Transform::ToUpper)) { 2 } else { 0 };
        let many = if self.mode == Mode::Single { 1 } else { 3 };
        (base + xf) * many
    }
}

fn cmp_fields(a: Val<'_>, b: Val<'_>, op: Op) -> bool {
    match (a, b) {
        (Val::Num(x), Val::Num(y)) => NumPred::Cmp(op, y).test(x),
        (Val::Str(x), Val::Str(y)) => match op {
            Op::Eq => x == y,
            Op::Ne => x != y,
            Op::Lt => x < y,
            Op::Le => x <= y,
            Op::Gt => x > y,
            Op::Ge => x >= y,
            Op::Contains => x.contains(y),
            Op::StartsWith => x.starts_with(y),
            Op::EndsWith => x.ends_with(y),
            _ => false,
        },
        _ => false,
    }
}

impl Node {
    #[inline]
    pub fn eval(&self, ev: &Event) -> bool {
        match self {
            Node::Const(b) => *b,
            Node::And(v) => v.iter().all(|n| n.eval(ev)),
            Node::Or(v) => v.iter().any(|n| n.eval(ev)),
            Node::Not(n) => !n.eval(ev),
            Node::Check(c) => c.eval(ev),
        }
    }
}

/// Index of a rule in its [`crate::RuleSet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(pub u32);

/// A compiled, enabled rule. Cloning copies the compiled condition (automata are
/// shared); prefer holding the `Arc<RuleSet>` and a [`RuleId`] when that is enough.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub desc: String,
    pub priority: Priority,
    pub tags: Vec<String>,
    /// Where the rule's name is written (of its last definition).
    pub location: Location,
    /// Event types the rule applies to.
    pub evt_types: Vec<EvtType>,
    pub(crate) cond: Node,
    pub(crate) output: OutputTemplate,
}

impl Node {
    /// Calls `f` with every field the condition reads (`val()` operands included).
    pub(crate) fn for_each_field(&self, f: &mut impl FnMut(&Field)) {
        match self {
            Node::Const(_) => {}
            Node::And(v) | Node::Or(v) => v.iter().for_each(|n| n.for_each_field(f)),
            Node::Not(n) => n.for_each_field(f),
            Node::Check(c) => {
                f(&c.field);
                if let Pred::Field { other, .. } = &c.pred {
                    f(other);
                }
            }
        }
    }
}

impl Rule {
    /// Evaluate the condition (ignoring the event-type index).
    pub fn matches(&self, ev: &Event) -> bool {
        self.cond.eval(ev)
    }

    /// The rendered output line (`%field` replaced, `<NA>` when missing).
    pub fn format_output(&self, ev: &Event) -> String {
        self.output.render(ev)
    }

    pub(crate) fn output_template(&self) -> &OutputTemplate {
        &self.output
    }
}
