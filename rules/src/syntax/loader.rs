//! Reading rule files into definitions: items `rule`, `macro`, `list`,
//! `required_engine_version`, with Falco's `append: true` and `override:` semantics.
//!
//! Files are processed in order; a later file may redefine, append to or override
//! items of an earlier one, exactly like Falco's `rules_files`. Conditions are kept as
//! text (appends are textual, as in Falco) together with the positions of each
//! appended piece, and are parsed only after every file is read (`compile.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{ErrorKind, Item, LoadError, LoadErrors, LoadWarning, Location};
use crate::fields::priority::Priority;
use crate::syntax::yaml::{self, Node, NodeKind, ScalarSpan, SourceFile};

/// A condition or output text assembled from one or more YAML scalars.
#[derive(Clone, Debug)]
pub(crate) struct Text {
    pub text: String,
    pub segs: Vec<Seg>,
}

#[derive(Clone, Debug)]
pub(crate) struct Seg {
    pub start: usize,
    pub value: String,
    pub span: ScalarSpan,
}

impl Text {
    pub fn new(file: &Arc<SourceFile>, node: &Node, value: &str) -> Text {
        Text {
            text: value.to_string(),
            segs: vec![Seg { start: 0, value: value.to_string(), span: ScalarSpan::new(file, node) }],
        }
    }

    /// Falco's textual append: `old + " " + new`.
    pub fn append(&mut self, other: Text) {
        self.text.push(' ');
        for mut s in other.segs {
            s.start += self.text.len();
            self.segs.push(s);
        }
        self.text.push_str(&other.text);
    }

    /// File position of a byte offset in `text`.
    pub fn locate(&self, offset: usize) -> Location {
        let seg = self.segs.iter().rev().find(|s| s.start <= offset).unwrap_or(&self.segs[0]);
        let rel = (offset - seg.start.min(offset)).min(seg.value.len());
        let rel = (0..=rel).rev().find(|i| seg.value.is_char_boundary(*i)).unwrap_or(0);
        let chars = seg.value[..rel].chars().count();
        Location { file: seg.span.file.name.as_str().into(), pos: Some(seg.span.locate(&seg.value, chars)) }
    }
}

/// A string with its location.
#[derive(Clone, Debug)]
pub(crate) struct PStr {
    pub value: String,
    pub loc: Location,
    pub node: Node,
    pub file: Arc<SourceFile>,
}

#[derive(Clone, Debug)]
pub(crate) enum OneOrMany {
    One(PStr),
    Many(Vec<PStr>),
}

#[derive(Clone, Debug)]
pub(crate) struct ExceptionDef {
    pub name: String,
    pub loc: Location,
    pub fields: Option<OneOrMany>,
    pub comps: Option<OneOrMany>,
    /// Value nodes (each a tuple, or a single value when `fields` is a single field).
    pub values: Vec<(Arc<SourceFile>, Node)>,
}

#[derive(Clone, Debug)]
pub(crate) struct RuleDef {
    pub name: String,
    pub loc: Location,
    pub desc: String,
    pub condition: Option<Text>,
    pub output: Option<Text>,
    pub priority: Priority,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub exceptions: Vec<ExceptionDef>,
    pub skip_if_unknown_filter: bool,
    pub source: String,
    pub warn_evttypes: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct MacroDef {
    pub loc: Location,
    pub cond: Text,
}

#[derive(Clone, Debug)]
pub(crate) struct ListDef {
    pub loc: Location,
    pub items: Vec<PStr>,
}

/// Everything defined by a sequence of files, after appends/overrides.
#[derive(Default)]
pub(crate) struct Defs {
    pub rules: Vec<RuleDef>,
    pub macros: HashMap<String, MacroDef>,
    pub lists: HashMap<String, ListDef>,
    pub macro_order: Vec<String>,
    pub list_order: Vec<String>,
    pub report: LoadErrors,
}

pub(crate) const RULE_KEYS: &str = "rule, desc, condition, output, priority, tags, enabled, exceptions, override, append, skip-if-unknown-filter, source, warn_evttypes";
const MACRO_KEYS: &str = "macro, condition, append, override";
const LIST_KEYS: &str = "list, items, append, override";
pub(crate) const APPENDABLE: &[&str] = &["condition", "output", "desc", "tags", "exceptions"];
pub(crate) const REPLACEABLE: &[&str] = &[
    "condition",
    "output",
    "desc",
    "priority",
    "tags",
    "exceptions",
    "enabled",
    "warn_evttypes",
    "skip-if-unknown-filter",
];

pub(crate) struct Ctx<'a> {
    pub file: &'a Arc<SourceFile>,
    pub item: Option<Item>,
}

impl Defs {
    pub(crate) fn loc(file: &Arc<SourceFile>, node: &Node) -> Location {
        Location { file: file.name.as_str().into(), pos: Some(node.pos()) }
    }

    pub(crate) fn err(&mut self, cx: &Ctx, node: &Node, kind: ErrorKind) {
        self.report.errors.push(LoadError { loc: Self::loc(cx.file, node), item: cx.item.clone(), kind });
    }

    pub fn warn(&mut self, loc: Location, item: Option<Item>, message: impl Into<String>) {
        self.report.warnings.push(LoadWarning { loc, item, message: message.into() });
    }

    /// Read one file's text.
    pub fn add_file(&mut self, file: &Arc<SourceFile>) {
        let docs = match yaml::parse(&file.text) {
            Ok(d) => d,
            Err(e) => {
                self.report.errors.push(LoadError {
                    loc: Location { file: file.name.as_str().into(), pos: Some(e.pos) },
                    item: None,
                    kind: ErrorKind::Yaml(e.message),
                });
                return;
            }
        };
        let cx = Ctx { file, item: None };
        for doc in &docs {
            match &doc.kind {
                NodeKind::Seq(items) => {
                    for it in items {
                        self.add_item(file, it);
                    }
                }
                _ if doc.is_null() => {}
                _ => self.err(
                    &cx,
                    doc,
                    ErrorKind::Structure(format!("a rules file must be a list of items, found {}", doc.kind_name())),
                ),
            }
        }
    }

    fn add_item(&mut self, file: &Arc<SourceFile>, it: &Node) {
        let cx = Ctx { file, item: None };
        let NodeKind::Map(entries) = &it.kind else {
            self.err(
                &cx,
                it,
                ErrorKind::Structure(format!(
                    "expected an item (a mapping with rule, macro, list or required_engine_version), found {}",
                    it.kind_name()
                )),
            );
            return;
        };
        let first = entries.iter().find_map(|(k, _)| {
            k.as_str().filter(|k| {
                matches!(*k, "rule" | "macro" | "list" | "required_engine_version" | "required_plugin_versions")
            })
        });
        match first {
            Some("rule") => self.add_rule(file, it),
            Some("macro") => self.add_macro(file, it),
            Some("list") => self.add_list(file, it),
            Some("required_engine_version") => {
                let v = it.get("required_engine_version").filter(|v| !v.is_null());
                match v.and_then(|v| v.as_str()) {
                    Some(s) if s.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) => {}
                    _ => self.err(
                        &cx,
                        v.unwrap_or(it),
                        ErrorKind::Structure("required_engine_version must be a version like 0.26.0 or 26".into()),
                    ),
                }
            }
            Some(_) => {
                self.warn(Self::loc(file, it), None, "required_plugin_versions is ignored: Lanner has no plugins")
            }
            None => self.err(
                &cx,
                it,
                ErrorKind::Structure(
                    "unknown item: expected a mapping with one of the keys rule, macro, list, required_engine_version"
                        .into(),
                ),
            ),
        }
    }

    pub(crate) fn check_keys(&mut self, cx: &Ctx, it: &Node, allowed: &'static str) {
        if let NodeKind::Map(entries) = &it.kind {
            for (k, _) in entries {
                match k.as_str() {
                    Some(key) if allowed.split(", ").any(|a| a == key) => {}
                    Some(key) => self.err(cx, k, ErrorKind::UnknownKey { key: key.to_string(), expected: allowed }),
                    None => {
                        self.err(cx, k, ErrorKind::Structure(format!("keys must be strings, found {}", k.kind_name())))
                    }
                }
            }
        }
    }

    pub(crate) fn string(&mut self, cx: &Ctx, it: &Node, key: &str) -> Option<(String, Node)> {
        let v = it.get(key)?;
        match &v.kind {
            NodeKind::Scalar(s, _) if !v.is_null() => Some((s.clone(), v.clone())),
            _ => {
                self.err(
                    cx,
                    v,
                    ErrorKind::WrongType {
                        key: key.to_string(),
                        expected: "a string",
                        found: v.kind_name().to_string(),
                    },
                );
                None
            }
        }
    }

    pub(crate) fn boolean(&mut self, cx: &Ctx, it: &Node, key: &str) -> Option<bool> {
        let v = it.get(key)?;
        match v.as_str() {
            Some("true" | "True" | "TRUE" | "yes") => Some(true),
            Some("false" | "False" | "FALSE" | "no") => Some(false),
            _ => {
                let found = v.as_str().map(|s| format!("'{s}'")).unwrap_or_else(|| v.kind_name().to_string());
                self.err(cx, v, ErrorKind::WrongType { key: key.to_string(), expected: "true or false", found });
                None
            }
        }
    }

    pub(crate) fn strings(&mut self, cx: &Ctx, it: &Node, key: &str) -> Option<Vec<PStr>> {
        let v = it.get(key)?;
        let NodeKind::Seq(items) = &v.kind else {
            if v.is_null() {
                return Some(Vec::new());
            }
            self.err(
                cx,
                v,
                ErrorKind::WrongType { key: key.to_string(), expected: "a list", found: v.kind_name().to_string() },
            );
            return None;
        };
        let mut out = Vec::new();
        for n in items {
            match n.as_str() {
                Some(s) => out.push(PStr {
                    value: s.to_string(),
                    loc: Self::loc(cx.file, n),
                    node: n.clone(),
                    file: cx.file.clone(),
                }),
                None => self.err(
                    cx,
                    n,
                    ErrorKind::WrongType {
                        key: format!("{key} item"),
                        expected: "a string",
                        found: n.kind_name().to_string(),
                    },
                ),
            }
        }
        Some(out)
    }

    /// `override: {key: append|replace}` entries, validated.
    pub(crate) fn overrides(&mut self, cx: &Ctx, it: &Node, item_keys: &[&str]) -> Option<Vec<(String, bool)>> {
        let ov = it.get("override")?;
        let NodeKind::Map(entries) = &ov.kind else {
            self.err(
                cx,
                ov,
                ErrorKind::WrongType {
                    key: "override".into(),
                    expected: "a mapping of key: append|replace",
                    found: ov.kind_name().into(),
                },
            );
            return Some(Vec::new());
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            let key = k.as_str().unwrap_or_default().to_string();
            let mode = v.as_str().unwrap_or_default();
            let append = match mode {
                "append" => true,
                "replace" => false,
                _ => {
                    self.err(
                        cx,
                        v,
                        ErrorKind::Override(format!(
                            "override mode for '{key}' must be append or replace, found '{mode}'"
                        )),
                    );
                    continue;
                }
            };
            if !item_keys.contains(&key.as_str()) {
                self.err(cx, k, ErrorKind::Override(format!("key '{key}' cannot be overridden")));
                continue;
            }
            let allowed = if append { APPENDABLE } else { REPLACEABLE };
            if !allowed.contains(&key.as_str()) && matches!(cx.item, Some(Item::Rule(_))) {
                self.err(cx, v, ErrorKind::Override(format!("key '{key}' cannot be overridden with {mode}")));
                continue;
            }
            if it.get(&key).is_none() {
                self.err(
                    cx,
                    k,
                    ErrorKind::Override(format!("an override is given for '{key}' but the item has no '{key}' key")),
                );
                continue;
            }
            out.push((key, append));
        }
        if let NodeKind::Map(entries) = &it.kind {
            for (k, _) in entries {
                let key = k.as_str().unwrap_or_default();
                if !matches!(key, "rule" | "macro" | "list" | "override")
                    && !out.iter().any(|(o, _)| o == key)
                    && entries_has_override_for(ov, key).is_none()
                {
                    self.err(cx, k, ErrorKind::Override(format!("key '{key}' is given without an override entry (add '{key}: append' or '{key}: replace' under override)")));
                }
            }
        }
        Some(out)
    }

    fn add_macro(&mut self, file: &Arc<SourceFile>, it: &Node) {
        let mut cx = Ctx { file, item: None };
        let Some((name, name_node)) = self.string(&cx, it, "macro") else {
            return;
        };
        cx.item = Some(Item::Macro(name.clone()));
        self.check_keys(&cx, it, MACRO_KEYS);
        let append = self.boolean(&cx, it, "append").unwrap_or(false);
        let ov = self.overrides(&cx, it, &["condition"]);
        let append = append || ov.as_ref().is_some_and(|o| o.iter().any(|(_, a)| *a));
        let Some((cond, cond_node)) = self.string(&cx, it, "condition") else {
            if it.get("condition").is_none() {
                self.err(&cx, &name_node, ErrorKind::MissingKey("condition"));
            }
            return;
        };
        let text = Text::new(file, &cond_node, &cond);
        let modifying = append || ov.is_some();
        match (self.macros.get_mut(&name), modifying) {
            (Some(m), true) if append => m.cond.append(text),
            (Some(m), true) => m.cond = text,
            (None, true) => self.err(
                &cx,
                &name_node,
                ErrorKind::Override(format!("macro '{name}' is appended to or overridden but was not defined earlier")),
            ),
            (existing, false) => {
                if existing.is_none() {
                    self.macro_order.push(name.clone());
                }
                self.macros.insert(name.clone(), MacroDef { loc: Self::loc(file, &name_node), cond: text });
            }
        }
    }

    fn add_list(&mut self, file: &Arc<SourceFile>, it: &Node) {
        let mut cx = Ctx { file, item: None };
        let Some((name, name_node)) = self.string(&cx, it, "list") else {
            return;
        };
        cx.item = Some(Item::List(name.clone()));
        self.check_keys(&cx, it, LIST_KEYS);
        let append = self.boolean(&cx, it, "append").unwrap_or(false);
        let ov = self.overrides(&cx, it, &["items"]);
        let append = append || ov.as_ref().is_some_and(|o| o.iter().any(|(_, a)| *a));
        let Some(items) = self.strings(&cx, it, "items") else {
            if it.get("items").is_none() {
                self.err(&cx, &name_node, ErrorKind::MissingKey("items"));
            }
            return;
        };
        let modifying = append || ov.is_some();
        match (self.lists.get_mut(&name), modifying) {
            (Some(l), true) if append => l.items.extend(items),
            (Some(l), true) => l.items = items,
            (None, true) => self.err(
                &cx,
                &name_node,
                ErrorKind::Override(format!("list '{name}' is appended to or overridden but was not defined earlier")),
            ),
            (existing, false) => {
                if existing.is_none() {
                    self.list_order.push(name.clone());
                }
                self.lists.insert(name.clone(), ListDef { loc: Self::loc(file, &name_node), items });
            }
        }
    }
}

pub(crate) fn key_node<'a>(it: &'a Node, key: &str) -> Option<&'a Node> {
    match &it.kind {
        NodeKind::Map(e) => e.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(k, _)| k),
        _ => None,
    }
}

fn entries_has_override_for<'a>(ov: &'a Node, key: &str) -> Option<&'a Node> {
    ov.get(key)
}
