//! Rule exceptions (`exceptions: [{name, fields, comps, values}]`) turned into condition
//! syntax trees: each exception becomes `(f1 c1 v1 and f2 c2 v2) or ...`, which the rule
//! compiler negates and appends to the condition. Every value keeps its YAML position so
//! errors (tuple length, operator, unknown field) point at it.

use std::sync::Arc;

use crate::compile::Compiler;
use crate::error::{ErrorKind, Item, LoadError, Location};
use crate::syntax::ast::{Expr, FieldRef, Op, Rhs, Span, Value};
use crate::syntax::loader::{ExceptionDef, OneOrMany, RuleDef, Text};
use crate::syntax::yaml::{Node as YNode, NodeKind, SourceFile};

impl Compiler<'_> {
    /// The exception as a condition (`None` when it has no values or is invalid).
    pub(crate) fn exception_expr(
        &mut self,
        rule: &RuleDef,
        ex: &ExceptionDef,
        errs: &mut Vec<LoadError>,
    ) -> Option<Expr> {
        let item = Some(Item::Exception { rule: rule.name.clone(), name: ex.name.clone() });
        let err = |loc: &Location, msg: String| LoadError {
            loc: loc.clone(),
            item: item.clone(),
            kind: ErrorKind::Exception(msg),
        };
        let Some(fields) = &ex.fields else {
            errs.push(err(&ex.loc, "exception has no 'fields'".into()));
            return None;
        };
        let fields: Vec<_> = match fields {
            OneOrMany::One(f) => vec![f.clone()],
            OneOrMany::Many(v) => v.clone(),
        };
        let single = matches!(ex.fields, Some(OneOrMany::One(_)));
        let comps: Vec<_> = match (&ex.comps, single) {
            (None, true) => vec![None],
            (None, false) => vec![None; fields.len()],
            (Some(OneOrMany::One(c)), true) => vec![Some(c.clone())],
            (Some(OneOrMany::Many(c)), false) if c.len() == fields.len() => c.iter().cloned().map(Some).collect(),
            (Some(OneOrMany::Many(c)), false) => {
                errs.push(err(&ex.loc, format!("'comps' has {} items but 'fields' has {}", c.len(), fields.len())));
                return None;
            }
            (Some(OneOrMany::One(c)), false) => {
                errs.push(err(&c.loc, "'comps' must be a list when 'fields' is a list".into()));
                return None;
            }
            (Some(OneOrMany::Many(c)), true) => {
                errs.push(err(
                    &c.first().map_or(ex.loc.clone(), |c| c.loc.clone()),
                    "'comps' must be a single operator when 'fields' is a single field".into(),
                ));
                return None;
            }
        };
        let mut lhs = Vec::new();
        let mut ops = Vec::new();
        for (f, c) in fields.iter().zip(&comps) {
            let src = self.add_src(Text::new(&f.file, &f.node, &f.value));
            let (name, arg) = match f.value.split_once('[') {
                Some((n, a)) => (n.trim().to_string(), Some(a.trim_end_matches(']').to_string())),
                None => (f.value.trim().to_string(), None),
            };
            lhs.push(FieldRef {
                name,
                arg,
                transforms: Vec::new(),
                span: Span { src, start: 0, end: f.value.len() as u32 },
            });
            let op = match c {
                None if single => Op::In,
                None => Op::Eq,
                Some(c) => match Op::parse(c.value.trim()) {
                    Some(op) => op,
                    None => {
                        errs.push(LoadError {
                            loc: c.loc.clone(),
                            item: item.clone(),
                            kind: ErrorKind::UnknownOperator(c.value.clone()),
                        });
                        return None;
                    }
                },
            };
            ops.push(op);
        }
        let value_of = |this: &mut Self, file: &Arc<SourceFile>, n: &YNode, quoted: bool| -> Option<Value> {
            let s = n.as_str()?;
            let src = this.add_src(Text::new(file, n, s));
            Some(Value { text: s.to_string(), quoted, span: Span { src, start: 0, end: s.len() as u32 } })
        };
        if ex.values.is_empty() {
            return None;
        }
        let mut alts = Vec::new();
        if single {
            let mut vals = Vec::new();
            for (file, n) in &ex.values {
                match value_of(self, file, n, !ops[0].takes_list()) {
                    Some(v) => vals.push(v),
                    None => errs.push(err(
                        &Location { file: file.name.as_str().into(), pos: Some(n.pos()) },
                        format!("values of a single-field exception must be strings, found {}", n.kind_name()),
                    )),
                }
            }
            if ops[0].takes_list() {
                let span = vals.first().map(|v| v.span).unwrap_or_default();
                alts.push(Expr::Check { lhs: lhs[0].clone(), op: ops[0], op_span: span, rhs: Rhs::List(vals, span) });
            } else {
                for v in vals {
                    alts.push(Expr::Check { lhs: lhs[0].clone(), op: ops[0], op_span: v.span, rhs: Rhs::Value(v) });
                }
            }
        } else {
            for (file, t) in &ex.values {
                let here = Location { file: file.name.as_str().into(), pos: Some(t.pos()) };
                let NodeKind::Seq(items) = &t.kind else {
                    errs.push(err(
                        &here,
                        format!(
                            "each value must be a list with one item per field ({}), found {}",
                            fields.len(),
                            t.kind_name()
                        ),
                    ));
                    continue;
                };
                if items.len() != fields.len() {
                    errs.push(err(
                        &here,
                        format!("value has {} items, expected {} (one per field)", items.len(), fields.len()),
                    ));
                    continue;
                }
                let mut checks = Vec::new();
                for ((item_node, f), op) in items.iter().zip(&lhs).zip(&ops) {
                    let rhs = match &item_node.kind {
                        NodeKind::Seq(vs) if op.takes_list() => {
                            let vals: Vec<Value> = vs.iter().filter_map(|v| value_of(self, file, v, true)).collect();
                            let span = vals.first().map(|v| v.span).unwrap_or(f.span);
                            Rhs::List(vals, span)
                        }
                        NodeKind::Seq(_) => {
                            errs.push(err(
                                &Location { file: file.name.as_str().into(), pos: Some(item_node.pos()) },
                                format!("a list value needs comps in, intersects or pmatch, not '{op}'"),
                            ));
                            continue;
                        }
                        _ => match value_of(self, file, item_node, !op.takes_list()) {
                            Some(v) if op.takes_list() => Rhs::List(vec![v.clone()], v.span),
                            Some(v) => Rhs::Value(v),
                            None => continue,
                        },
                    };
                    checks.push(Expr::Check { lhs: f.clone(), op: *op, op_span: f.span, rhs });
                }
                alts.push(Expr::And(checks));
            }
        }
        Some(Expr::Or(alts))
    }
}
