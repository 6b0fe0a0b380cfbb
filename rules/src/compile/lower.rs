//! Lowering one field comparison: resolve the field, check the operator against the
//! field's type, convert the literals (numbers, IP addresses, networks, event types,
//! open flags, globs, regexes) and pick the predicate structure.
//!
//! Every problem becomes an error at the exact span of the field, operator or value.

use std::net::IpAddr;

use crate::compile::{Compiler, ALL_TYPES};
use crate::error::{ErrorKind, LoadError};
use crate::fields::avail::Unavailable;
use crate::fields::glob::Glob;
use crate::fields::{Field, FieldError, FieldId, FieldType};
use crate::runtime::event::{EvtType, OPEN_FLAGS};
use crate::runtime::matcher::{Check, Mode, Node, Pred};
use crate::runtime::pred::{Cidr, NumPred, StrPred};
use crate::syntax::ast::{FieldRef, Op, Rhs, Span, Transform, Value};

fn hex(s: &str) -> Result<Vec<u8>, String> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !s.len().is_multiple_of(2) || s.is_empty() {
        return Err("expected an even number of hex digits".into());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| "expected hex digits".to_string()))
        .collect()
}

impl Compiler<'_> {
    /// A comparison on a field Lanner does not fill: recorded, so the rule loads
    /// inactive with the reason; the placeholder keeps the rest of the condition
    /// checked for real errors.
    fn unavailable(&mut self, u: Unavailable) -> Node {
        self.missing.push(u);
        Node::Const(true)
    }

    pub(crate) fn lower_check(
        &mut self,
        lhs: &FieldRef,
        op: Op,
        op_span: Span,
        rhs: &Rhs,
        errs: &mut Vec<LoadError>,
    ) -> Option<Node> {
        let field = match Field::resolve(&lhs.name, lhs.arg.as_deref()) {
            Ok(f) => f,
            Err(FieldError::Unavailable(u)) => return Some(self.unavailable(u)),
            Err(e) => {
                errs.push(self.error(lhs.span, ErrorKind::Field(e)));
                return None;
            }
        };
        let fname = lhs.to_string();
        let base = field.ty();
        let xf = &lhs.transforms;
        if let Some(p) = xf.iter().position(|t| *t == Transform::Len) {
            if p != 0 {
                errs.push(self.error(
                    lhs.span,
                    ErrorKind::BadOperator {
                        op: "len()".into(),
                        field: fname,
                        ty: "value already transformed; len() must be the outermost transformer",
                    },
                ));
                return None;
            }
        }
        if !xf.is_empty() && !matches!(base, FieldType::Str | FieldType::Ip | FieldType::EvtType | FieldType::Flags) {
            errs.push(
                self.error(
                    lhs.span,
                    ErrorKind::BadOperator { op: "transformers".into(), field: fname, ty: base.name() },
                ),
            );
            return None;
        }
        let ty = match xf.first() {
            Some(Transform::Len) => FieldType::Num,
            Some(_) => FieldType::Str,
            None => base,
        };
        let mode = if field.is_any_ancestor() || matches!(field.id, FieldId::FdIp | FieldId::FdNet | FieldId::FdPort) {
            Mode::Any
        } else if field.is_list() {
            if op == Op::In {
                Mode::All
            } else {
                Mode::Any
            }
        } else {
            Mode::Single
        };
        let check = |pred: Pred| Some(Node::Check(Box::new(Check::new(field.clone(), xf.clone().into(), mode, pred))));
        let bad_op = |this: &Self| {
            this.error(op_span, ErrorKind::BadOperator { op: op.to_string(), field: fname.clone(), ty: ty.name() })
        };

        if op == Op::Exists {
            return if ty == FieldType::Dir { Some(Node::Const(true)) } else { check(Pred::Exists) };
        }
        if let Rhs::Field(other) = rhs {
            let o = match Field::resolve(&other.name, other.arg.as_deref()) {
                Ok(f) => f,
                Err(FieldError::Unavailable(u)) => return Some(self.unavailable(u)),
                Err(e) => {
                    errs.push(self.error(other.span, ErrorKind::Field(e)));
                    return None;
                }
            };
            let ok_op = matches!(
                op,
                Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::Contains | Op::StartsWith | Op::EndsWith
            );
            let same = (ty == FieldType::Str && o.ty() == FieldType::Str)
                || (ty == FieldType::Num && o.ty() == FieldType::Num);
            if !ok_op || !same || !xf.is_empty() || !other.transforms.is_empty() || mode != Mode::Single {
                errs.push(self.error(other.span, ErrorKind::BadValue {
                    value: format!("val({other})"),
                    field: fname,
                    reason: format!("val() compares two single-valued fields of the same type (string or number) without transformers, with =, !=, <, <=, >, >=, contains, startswith or endswith; {other} is a {}", o.ty().name()),
                }));
                return None;
            }
            return check(Pred::Field { other: o, op });
        }
        let raw: Vec<Value> = match rhs {
            Rhs::Value(v) => vec![v.clone()],
            Rhs::List(vs, _) => vs.clone(),
            Rhs::ListRef(v) => {
                if !self.defs.lists.contains_key(&v.text) {
                    errs.push(self.error(v.span, ErrorKind::UndefinedList(v.text.clone())));
                    return None;
                }
                vec![v.clone()]
            }
            Rhs::None | Rhs::Field(_) => Vec::new(),
        };
        let mut vals = Vec::new();
        let n_errs = errs.len();
        self.expand(&raw, &mut vals, errs, &mut Vec::new());
        if errs.len() > n_errs {
            return None;
        }
        // Falco prints missing values as <NA> and rules test for it (`user.name != "<NA>"`,
        // `user.name in ("<NA>", "")`): a missing string value equals the literal <NA>.
        if ty == FieldType::Str
            && mode == Mode::Single
            && matches!(op, Op::Eq | Op::Ne | Op::In | Op::Intersects)
            && vals.iter().any(|v| v.text == "<NA>")
        {
            let missing = Node::Not(Box::new(check(Pred::Exists)?));
            let rest: Vec<Value> = vals.iter().filter(|v| v.text != "<NA>").cloned().collect();
            return match op {
                Op::Ne => check(Pred::Exists),
                Op::Eq => Some(missing),
                _ if rest.is_empty() => Some(missing),
                _ => Some(Node::Or(
                    vec![self.str_pred(op, &rest, &fname, errs).and_then(|p| check(Pred::Str(p)))?, missing].into(),
                )),
            };
        }
        let bad_val = |this: &Self, v: &Value, reason: &str| {
            this.error(
                v.span,
                ErrorKind::BadValue { value: v.text.clone(), field: fname.clone(), reason: reason.to_string() },
            )
        };
        let set_op = matches!(op, Op::Eq | Op::In | Op::Intersects);

        match ty {
            FieldType::Dir => {
                if !matches!(op, Op::Eq | Op::Ne | Op::In | Op::Intersects) {
                    errs.push(bad_op(self));
                    return None;
                }
                if let Some(v) = vals.iter().find(|v| v.text != "<" && v.text != ">") {
                    errs.push(bad_val(self, v, "expected < or >"));
                    return None;
                }
                // Lanner events carry both the enter arguments and the exit result.
                Some(Node::Const(op != Op::Ne))
            }
            FieldType::EvtType if set_op || op == Op::Ne => {
                let mut mask: crate::runtime::event::TypeMask = 0;
                for v in &vals {
                    match EvtType::from_falco_name(&v.text) {
                        Some(t) => mask |= 1 << t.index(),
                        None if !crate::fields::falco::is_event_type(&v.text) => {
                            errs.push(bad_val(self, v, "not an event type Falco knows (an event or syscall name)"));
                        }
                        None => {
                            if !self.unsupported_types.contains(&v.text) {
                                self.unsupported_types.push(v.text.clone());
                            }
                        }
                    }
                }
                check(Pred::Types(if op == Op::Ne { !mask & ALL_TYPES } else { mask }))
            }
            FieldType::Bool => {
                if !matches!(op, Op::Eq | Op::Ne) {
                    errs.push(bad_op(self));
                    return None;
                }
                let v = &vals[0];
                let value = match v.text.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        errs.push(bad_val(self, v, "expected true or false"));
                        return None;
                    }
                };
                check(Pred::Bool { value, eq: op == Op::Eq })
            }
            FieldType::Num | FieldType::Time => {
                let mut nums = Vec::new();
                for v in &vals {
                    match v.text.trim().parse::<i64>() {
                        Ok(n) => nums.push(n),
                        Err(_) => errs.push(bad_val(self, v, "expected an integer")),
                    }
                }
                if errs.len() > n_errs {
                    return None;
                }
                match op {
                    Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge => check(Pred::Num(NumPred::Cmp(op, nums[0]))),
                    Op::In | Op::Intersects => check(Pred::Num(NumPred::in_set(nums))),
                    _ => {
                        errs.push(bad_op(self));
                        None
                    }
                }
            }
            FieldType::Ip if set_op || op == Op::Ne => {
                let mut set = Vec::new();
                for v in &vals {
                    match v.text.trim().parse::<IpAddr>() {
                        Ok(ip) => set.push(ip),
                        Err(_) => errs.push(bad_val(
                            self,
                            v,
                            "expected an IP address (use fd.snet/fd.cnet/fd.net for CIDR networks)",
                        )),
                    }
                }
                (errs.len() == n_errs).then_some(())?;
                check(Pred::Ip { set: set.into(), eq: op != Op::Ne })
            }
            FieldType::DnsName if set_op || op == Op::Ne => {
                // As Falco: true when the address is among those the names resolve to.
                let names = vals.iter().map(|v| crate::runtime::dns::entry(v.text.trim())).collect();
                check(Pred::Dns { names, eq: op != Op::Ne })
            }
            FieldType::DnsName => {
                // Falco accepts the rule and fails at run time unless the address happens
                // to be in its DNS cache; Lanner loads it inactive with the reason.
                let reason = format!(
                    "'{op}' on {fname} is not supported: these fields compare the address with the names                      the agent resolves, only with =, != and in"
                );
                Some(self.unavailable(Unavailable { name: fname, reason }))
            }
            FieldType::Net => {
                if !(set_op || op == Op::Ne) {
                    errs.push(bad_op(self));
                    return None;
                }
                let mut nets = Vec::new();
                for v in &vals {
                    match Cidr::parse(v.text.trim()) {
                        Some(c) => nets.push(c),
                        None => errs.push(bad_val(self, v, "expected a network like 10.0.0.0/8 or an IP address")),
                    }
                }
                (errs.len() == n_errs).then_some(())?;
                check(Pred::Net { nets: nets.into(), eq: op != Op::Ne })
            }
            FieldType::Flags if matches!(op, Op::Contains | Op::IContains) => {
                let v = &vals[0];
                let name = v.text.trim().to_ascii_uppercase();
                let acc = match name.as_str() {
                    "O_RDONLY" => Some(0),
                    "O_WRONLY" => Some(1),
                    "O_RDWR" => Some(2),
                    _ => None,
                };
                if let Some(a) = acc {
                    return check(Pred::Flag { bits: 0, acc: Some(a) });
                }
                // The opens' flags are typed (a bit test); the flags arguments of the other
                // event types are their rendered names (CLONE_NEWNS|CLONE_NEWUSER), tested by
                // name: the value must be a flag some captured type's argument can hold.
                let in_args = crate::fields::argflags::types_with_flag(&name) != 0;
                match (OPEN_FLAGS.iter().find(|(n, _)| *n == name), in_args) {
                    (Some((_, bits)), _) => check(Pred::Flag { bits: *bits, acc: None }),
                    (None, true) => check(Pred::Str(StrPred::contains(vec![name]))),
                    (None, false) => {
                        errs.push(bad_val(
                            self,
                            v,
                            "expected a flag name of the event's flags argument: an open flag such as O_CREAT or \
                             O_TRUNC, or another event type's such as CLONE_NEWUSER (unshare) or AT_REMOVEDIR \
                             (unlinkat)",
                        ));
                        None
                    }
                }
            }
            FieldType::Str
                if field.id == FieldId::EvtRes && matches!(op, Op::Eq | Op::Ne | Op::In | Op::Intersects) =>
            {
                // Falco compares evt.res as a string: any other value loads (it never
                // matches), so it is a warning, not an error.
                for v in vals.iter().filter(|v| !crate::fields::errno::is_known(&v.text)) {
                    let e = bad_val(
                        self,
                        v,
                        "evt.res is SUCCESS or an errno name such as ENOENT, so this value never matches",
                    );
                    self.report.warnings.push(crate::error::LoadWarning {
                        loc: e.loc,
                        item: e.item,
                        message: e.kind.to_string(),
                    });
                }
                self.str_pred(op, &vals, &fname, errs).and_then(|p| check(Pred::Str(p)))
            }
            // Strings, and string operators on other types (compared as their text).
            _ => self.str_pred(op, &vals, &fname, errs).and_then(|p| check(Pred::Str(p))),
        }
    }

    fn str_pred(&self, op: Op, vals: &[Value], fname: &str, errs: &mut Vec<LoadError>) -> Option<StrPred> {
        let bad = |v: &Value, reason: String| {
            self.error(v.span, ErrorKind::BadValue { value: v.text.clone(), field: fname.to_string(), reason })
        };
        let texts: Vec<String> = vals.iter().map(|v| v.text.clone()).collect();
        let Some(v0) = vals.first() else {
            return match op {
                Op::In | Op::Intersects => Some(StrPred::set(Vec::new())),
                _ => Some(StrPred::pmatch(Vec::new())),
            };
        };
        let one = || v0.text.as_str();
        Some(match op {
            Op::Eq => StrPred::Eq(one().into()),
            Op::Ne => StrPred::Ne(one().into()),
            Op::Lt | Op::Le | Op::Gt | Op::Ge => StrPred::Cmp(op, one().into()),
            Op::Contains => StrPred::contains(texts),
            Op::IContains => StrPred::icontains(texts),
            Op::StartsWith => StrPred::starts(texts),
            Op::EndsWith => StrPred::ends(texts),
            Op::Glob | Op::IGlob => match Glob::new(one(), op == Op::IGlob) {
                Ok(g) => StrPred::Glob(g),
                Err(e) => {
                    errs.push(bad(v0, e.to_string()));
                    return None;
                }
            },
            Op::Regex => match regex::Regex::new(one()) {
                Ok(r) => StrPred::Regex(r),
                Err(e) => {
                    let msg = e.to_string();
                    let last =
                        msg.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid regex").trim().to_string();
                    errs.push(bad(v0, format!("invalid regex: {last}")));
                    return None;
                }
            },
            Op::BContains | Op::BStartsWith => match hex(one()) {
                Ok(b) if op == Op::BContains => StrPred::BContains(memchr::memmem::Finder::new(&b).into_owned()),
                Ok(b) => StrPred::BStartsWith(b.into()),
                Err(e) => {
                    errs.push(bad(v0, e));
                    return None;
                }
            },
            Op::In | Op::Intersects => StrPred::set(texts),
            Op::PMatch => StrPred::pmatch(texts),
            Op::Exists => return None,
        })
    }
}
