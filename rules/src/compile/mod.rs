//! From definitions to a [`RuleSet`]: parse conditions, expand macros, lists and
//! exceptions, resolve fields, type-check literals, compile outputs, compute each
//! rule's event types, and index rules by event type.
//!
//! All errors of the load are collected, each with its position (inside the condition
//! text where possible) and the item it belongs to (the macro when the problem is in a
//! macro body, else the rule). Literal handling by field type lives in `lower.rs`.

pub(crate) mod exceptions;
pub(crate) mod lower;
pub(crate) mod optimize;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::error::{ErrorKind, Item, LoadError, LoadErrors, Location};
use crate::fields::avail::Unavailable;
use crate::fields::FieldError;
use crate::inactive::{Inactive, RuleState};
use crate::runtime::event::{EvtType, TypeMask};
use crate::runtime::matcher::{Node, Pred, Rule};
use crate::runtime::output::OutputTemplate;
use crate::runtime::ruleset::RuleSet;
use crate::syntax::ast::{Expr, Span, Value};
use crate::syntax::cond;
use crate::syntax::loader::{Defs, RuleDef, Text};
use crate::syntax::yaml::SourceFile;

/// All captured types.
pub(crate) const ALL_TYPES: TypeMask = if EvtType::COUNT == 64 { !0 } else { (1 << EvtType::COUNT) - 1 };

pub(crate) struct Compiler<'a> {
    pub defs: &'a Defs,
    pub srcs: Vec<Text>,
    macro_ast: HashMap<String, Option<Expr>>,
    list_item_src: HashMap<(String, usize), u32>,
    pub used_macros: HashSet<String>,
    pub used_lists: HashSet<String>,
    /// Innermost macro being expanded, for error attribution.
    pub macro_stack: Vec<String>,
    pub item: Item,
    /// `evt.type` names used by the current rule that Lanner does not capture.
    pub unsupported_types: Vec<String>,
    /// Fields the current rule needs that Lanner does not fill.
    pub missing: Vec<Unavailable>,
    pub report: LoadErrors,
}

impl<'a> Compiler<'a> {
    pub fn add_src(&mut self, t: Text) -> u32 {
        self.srcs.push(t);
        (self.srcs.len() - 1) as u32
    }

    pub fn locate(&self, span: Span) -> Location {
        self.srcs[span.src as usize].locate(span.start as usize)
    }

    /// An error at `span`, attributed to the innermost macro or the current rule.
    pub fn error(&self, span: Span, kind: ErrorKind) -> LoadError {
        let item = match self.macro_stack.last() {
            Some(m) => Item::Macro(m.clone()),
            None => self.item.clone(),
        };
        LoadError { loc: self.locate(span), item: Some(item), kind }
    }

    /// Parse a macro once; syntax errors are reported once, at the macro.
    fn macro_expr(&mut self, name: &str) -> Option<Option<Expr>> {
        if let Some(e) = self.macro_ast.get(name) {
            return Some(e.clone());
        }
        let m = self.defs.macros.get(name)?;
        let src = self.add_src(m.cond.clone());
        let parsed = match cond::parse(&m.cond.text, src) {
            Ok(e) => Some(e),
            Err(e) => {
                let loc = self.srcs[src as usize].locate(e.offset);
                self.report.errors.push(LoadError {
                    loc,
                    item: Some(Item::Macro(name.to_string())),
                    kind: ErrorKind::Syntax(e.message),
                });
                None
            }
        };
        self.macro_ast.insert(name.to_string(), parsed.clone());
        Some(parsed)
    }

    /// Span of item `idx` of list `name` (its own source, created on first use).
    fn list_item_span(&mut self, name: &str, idx: usize) -> Span {
        let key = (name.to_string(), idx);
        let src = match self.list_item_src.get(&key) {
            Some(s) => *s,
            None => {
                let it = &self.defs.lists[name].items[idx];
                let s = self.add_src(Text::new(&it.file, &it.node, &it.value));
                self.list_item_src.insert(key, s);
                s
            }
        };
        Span { src, start: 0, end: self.defs.lists[name].items[idx].value.len() as u32 }
    }

    /// Expand list references among `vals` (unquoted values naming a list).
    pub fn expand(&mut self, vals: &[Value], out: &mut Vec<Value>, errs: &mut Vec<LoadError>, stack: &mut Vec<String>) {
        for v in vals {
            if v.quoted || !self.defs.lists.contains_key(&v.text) {
                out.push(v.clone());
                continue;
            }
            if stack.contains(&v.text) {
                errs.push(self.error(v.span, ErrorKind::ListCycle(v.text.clone())));
                continue;
            }
            self.used_lists.insert(v.text.clone());
            let n = self.defs.lists[&v.text].items.len();
            let items: Vec<Value> = (0..n)
                .map(|i| {
                    let span = self.list_item_span(&v.text, i);
                    let (text, quoted) = cond::list_item(&self.defs.lists[&v.text].items[i].value);
                    Value { text, quoted, span }
                })
                .collect();
            stack.push(v.text.clone());
            self.expand(&items, out, errs, stack);
            stack.pop();
        }
    }

    pub fn lower(&mut self, e: &Expr, errs: &mut Vec<LoadError>) -> Option<Node> {
        match e {
            Expr::And(v) | Expr::Or(v) => {
                let mut out = Vec::with_capacity(v.len());
                let mut ok = true;
                let missing_before = self.missing.len();
                for x in v {
                    match self.lower(x, errs) {
                        Some(n) => out.push(n),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                if matches!(e, Expr::Or(_)) {
                    return Some(Node::Or(out.into()));
                }
                let n = Node::And(out.into());
                // A conjunction no captured event type can satisfy is false whatever the
                // fields Lanner does not fill would say: they are not needed
                // (`evt.type in (sendto, sendmsg) and fd.connected = false`).
                if type_mask(&n) == 0 {
                    self.missing.truncate(missing_before);
                }
                Some(n)
            }
            Expr::Not(x) => self.lower(x, errs).map(|n| Node::Not(Box::new(n))),
            Expr::Macro(name, span) => {
                if self.macro_stack.contains(name) {
                    let cycle = format!("{} -> {name}", self.macro_stack.join(" -> "));
                    errs.push(self.error(*span, ErrorKind::MacroCycle(name.clone(), cycle)));
                    return None;
                }
                match self.macro_expr(name) {
                    None => {
                        errs.push(self.error(*span, ErrorKind::UndefinedMacro(name.clone())));
                        None
                    }
                    // The syntax error was reported once, at the macro; the load fails.
                    Some(None) => None,
                    Some(Some(body)) => {
                        self.used_macros.insert(name.clone());
                        self.macro_stack.push(name.clone());
                        let r = self.lower(&body, errs);
                        self.macro_stack.pop();
                        r
                    }
                }
            }
            Expr::Check { lhs, op, op_span, rhs } => self.lower_check(lhs, *op, *op_span, rhs, errs),
        }
    }

    /// Compile one rule: `Ok` when it runs, `Err(Some(reason))` when it loads inactive,
    /// `Err(None)` when it has errors (pushed to the report).
    fn compile_rule(&mut self, r: &RuleDef) -> Result<Rule, Option<Inactive>> {
        self.item = Item::Rule(r.name.clone());
        self.unsupported_types.clear();
        self.missing.clear();
        let (Some(cond_text), Some(out_text)) = (&r.condition, &r.output) else {
            return Err(None);
        };
        let src = self.add_src(cond_text.clone());
        let mut errs = Vec::new();
        let cond = match cond::parse(&cond_text.text, src) {
            Ok(e) => Some(e),
            Err(e) => {
                errs.push(LoadError {
                    loc: self.srcs[src as usize].locate(e.offset),
                    item: Some(self.item.clone()),
                    kind: ErrorKind::Syntax(e.message),
                });
                None
            }
        };
        let mut parts = cond.into_iter().collect::<Vec<_>>();
        let has_cond = !parts.is_empty();
        for ex in &r.exceptions {
            if let Some(x) = self.exception_expr(r, ex, &mut errs) {
                parts.push(Expr::Not(Box::new(x)));
            }
        }
        let node = if has_cond { self.lower(&Expr::And(parts), &mut errs) } else { None };
        let output = match OutputTemplate::parse(&out_text.text) {
            Ok(t) => Some(t),
            Err(es) => {
                for e in es {
                    errs.push(LoadError {
                        loc: out_text.locate(e.offset),
                        item: Some(self.item.clone()),
                        kind: ErrorKind::Field(e.error),
                    });
                }
                None
            }
        };
        let only_unknown_fields =
            !errs.is_empty() && errs.iter().all(|e| matches!(e.kind, ErrorKind::Field(FieldError::Unknown { .. })));
        // A disabled rule may also name macros and lists no loaded file defines.
        let only_unknown_names = !errs.is_empty()
            && errs.iter().all(|e| {
                matches!(
                    e.kind,
                    ErrorKind::Field(FieldError::Unknown { .. })
                        | ErrorKind::UndefinedMacro(_)
                        | ErrorKind::UndefinedList(_)
                )
            });
        if (only_unknown_fields && r.skip_if_unknown_filter) || (only_unknown_names && !r.enabled) {
            let why = if r.enabled { "skip-if-unknown-filter is set" } else { "the rule is disabled" };
            let mut names = Vec::new();
            for e in errs {
                if let ErrorKind::Field(FieldError::Unknown { name, .. }) = &e.kind {
                    names.push(name.clone());
                }
                self.report.warnings.push(crate::error::LoadWarning {
                    loc: e.loc,
                    item: e.item,
                    message: format!("rule skipped ({why}): {}", e.kind),
                });
            }
            return Err(Some(if r.enabled { Inactive::UnknownFilter(names) } else { Inactive::Disabled }));
        }
        if !errs.is_empty() {
            self.report.errors.extend(errs);
            return Err(None);
        }
        let node = node.ok_or(None)?;
        // The type mask before optimizing: placeholders of unavailable fields must not
        // fold a negation into `false`.
        let raw_mask = type_mask(&node);
        if raw_mask == 0 && !self.unsupported_types.is_empty() {
            return Err(Some(Inactive::EventTypes(std::mem::take(&mut self.unsupported_types))));
        }
        if !self.missing.is_empty() {
            let mut fields: Vec<Unavailable> = Vec::new();
            for u in self.missing.drain(..) {
                if !fields.contains(&u) {
                    fields.push(u);
                }
            }
            return Err(Some(Inactive::Fields(fields)));
        }
        let cond = optimize::optimize(node);
        let mask = type_mask(&cond);
        let warn = |this: &mut Self, msg: String| {
            this.report.warnings.push(crate::error::LoadWarning {
                loc: r.loc.clone(),
                item: Some(Item::Rule(r.name.clone())),
                message: msg,
            });
        };
        if mask == 0 {
            warn(self, "rule can never match: its condition excludes every event type".into());
        } else if mask == ALL_TYPES && r.warn_evttypes && r.enabled {
            warn(
                self,
                "condition does not restrict evt.type: the rule is evaluated for every event (add an evt.type check)"
                    .into(),
            );
        }
        let cond = optimize::strip_implied_types(cond, mask);
        Ok(Rule {
            name: r.name.clone(),
            desc: r.desc.clone(),
            priority: r.priority,
            tags: r.tags.clone(),
            location: r.loc.clone(),
            evt_types: EvtType::ALL.iter().copied().filter(|t| mask & (1 << t.index()) != 0).collect(),
            cond,
            output: output.ok_or(None)?,
        })
    }
}

/// Event types for which `n` can be true (an over-approximation).
pub(crate) fn type_mask(n: &Node) -> TypeMask {
    match n {
        Node::Const(true) => ALL_TYPES,
        Node::Const(false) => 0,
        Node::And(v) => v.iter().fold(ALL_TYPES, |m, x| m & type_mask(x)),
        Node::Or(v) => v.iter().fold(0, |m, x| m | type_mask(x)),
        Node::Not(x) => match &**x {
            Node::Check(c) if matches!(c.pred, Pred::Types(_)) => !type_mask(x) & ALL_TYPES,
            _ => ALL_TYPES,
        },
        Node::Check(c) => match c.pred {
            Pred::Types(m) => m,
            _ => ALL_TYPES,
        },
    }
}

/// Compile the definitions read from `files` (in order) into a rule set.
pub(crate) fn build(files: &[Arc<SourceFile>], load_errors: Vec<LoadError>) -> Result<RuleSet, LoadErrors> {
    let mut defs = Defs::default();
    defs.report.errors = load_errors;
    for f in files {
        defs.add_file(f);
    }
    let mut c = Compiler {
        defs: &defs,
        srcs: Vec::new(),
        macro_ast: HashMap::new(),
        list_item_src: HashMap::new(),
        used_macros: HashSet::new(),
        used_lists: HashSet::new(),
        macro_stack: Vec::new(),
        item: Item::Rule(String::new()),
        unsupported_types: Vec::new(),
        missing: Vec::new(),
        report: LoadErrors::default(),
    };
    for name in &defs.macro_order {
        c.macro_expr(name);
    }
    let mut rules = Vec::new();
    let mut states = Vec::new();
    for r in &defs.rules {
        let inactive = if r.source != "syscall" {
            Some(Inactive::Source(r.source.clone()))
        } else {
            match c.compile_rule(r) {
                Ok(rule) if r.enabled => {
                    rules.push(rule);
                    None
                }
                Ok(_) | Err(None) if !r.enabled => Some(Inactive::Disabled),
                Ok(_) | Err(None) => None,
                Err(Some(why)) => Some(if r.enabled { why } else { Inactive::Disabled }),
            }
        };
        states.push(RuleState { name: r.name.clone(), location: r.loc.clone(), inactive });
    }
    // Macros only used by other unused macros are reported too.
    let mut warnings = std::mem::take(&mut c.report.warnings);
    for name in &defs.macro_order {
        if !c.used_macros.contains(name) {
            let m = &defs.macros[name];
            warnings.push(crate::error::LoadWarning {
                loc: m.loc.clone(),
                item: Some(Item::Macro(name.clone())),
                message: "macro is not used by any rule".into(),
            });
        }
    }
    for name in &defs.list_order {
        if !c.used_lists.contains(name) {
            let l = &defs.lists[name];
            warnings.push(crate::error::LoadWarning {
                loc: l.loc.clone(),
                item: Some(Item::List(name.clone())),
                message: "list is not used by any rule".into(),
            });
        }
    }
    let mut report = defs.report.clone();
    report.errors.extend(c.report.errors);
    report.warnings.extend(warnings);
    report.normalize();
    if !report.errors.is_empty() {
        return Err(report);
    }
    let mut by_type: [Vec<u32>; EvtType::COUNT] = std::array::from_fn(|_| Vec::new());
    for (i, r) in rules.iter().enumerate() {
        for t in &r.evt_types {
            by_type[t.index()].push(i as u32);
        }
    }
    let index = std::array::from_fn(|t| crate::runtime::index::TypeIndex::build(&rules, &by_type[t]));
    Ok(RuleSet {
        index,
        rules,
        by_type: by_type.map(|v| v.into_boxed_slice()),
        warnings: report.warnings,
        states,
        files: files.iter().map(|f| f.name.clone()).collect(),
    })
}
