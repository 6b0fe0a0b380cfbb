//! Rule items of a rules file: new definitions (required keys), redefinition, `append:
//! true`, `override: {key: append|replace}`, `enabled`-only items, and the parsing of
//! `exceptions`. Split from `loader.rs`, which handles files, macros and lists.

use std::sync::Arc;

use crate::error::{ErrorKind, Item};
use crate::fields::priority::Priority;
use crate::syntax::loader::{key_node, Ctx, Defs, ExceptionDef, OneOrMany, PStr, RuleDef, Text, APPENDABLE, RULE_KEYS};
use crate::syntax::yaml::{Node, NodeKind, SourceFile};

impl Defs {
    pub(crate) fn add_rule(&mut self, file: &Arc<SourceFile>, it: &Node) {
        let mut cx = Ctx { file, item: None };
        let Some((name, name_node)) = self.string(&cx, it, "rule") else {
            return;
        };
        cx.item = Some(Item::Rule(name.clone()));
        self.check_keys(&cx, it, RULE_KEYS);
        let loc = Self::loc(file, &name_node);
        let append = self.boolean(&cx, it, "append").unwrap_or(false);
        let existing = self.rules.iter().position(|r| r.name == name);
        let present: Vec<&str> = match &it.kind {
            NodeKind::Map(e) => e.iter().filter_map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        };
        let rule_keys: Vec<&str> = RULE_KEYS.split(", ").collect();
        let overrides = self.overrides(&cx, it, &rule_keys);
        if overrides.is_some() && it.get("append").is_some() {
            self.err(
                &cx,
                it.get("append").unwrap_or(it),
                ErrorKind::Override("'append' and 'override' cannot be used together".into()),
            );
            return;
        }
        let modifying = overrides.is_some()
            || append
            || (present.iter().all(|k| matches!(*k, "rule" | "enabled")) && present.contains(&"enabled"));
        if modifying {
            let Some(idx) = existing else {
                let how = if overrides.is_some() {
                    "override"
                } else if append {
                    "append"
                } else {
                    "enabled"
                };
                self.err(
                    &cx,
                    &name_node,
                    ErrorKind::Override(format!("'{how}' is given but no rule '{name}' was defined earlier")),
                );
                return;
            };
            let modes: Vec<(String, bool)> = match overrides {
                Some(o) => o,
                None => {
                    let mut v = Vec::new();
                    for k in present.iter().filter(|k| !matches!(**k, "rule" | "append")) {
                        if append && !APPENDABLE.contains(k) && *k != "enabled" {
                            let node = key_node(it, k).unwrap_or(it);
                            self.err(&cx, node, ErrorKind::Override(format!("key '{k}' cannot be appended (with append: true only condition, output, desc, tags and exceptions; use override: {{{k}: replace}})")));
                            continue;
                        }
                        v.push((k.to_string(), append && *k != "enabled"));
                    }
                    v
                }
            };
            self.modify_rule(&cx, it, idx, &modes);
            return;
        }
        for req in ["condition", "output", "desc", "priority"] {
            if it.get(req).is_none() {
                self.err(&cx, &name_node, ErrorKind::MissingKey(req));
            }
        }
        let mut def = RuleDef {
            name: name.clone(),
            loc,
            desc: String::new(),
            condition: None,
            output: None,
            priority: Priority::Debug,
            tags: Vec::new(),
            enabled: true,
            exceptions: Vec::new(),
            skip_if_unknown_filter: false,
            source: "syscall".into(),
            warn_evttypes: true,
        };
        let modes: Vec<(String, bool)> =
            present.iter().filter(|k| !matches!(**k, "rule" | "append")).map(|k| (k.to_string(), false)).collect();
        self.apply_rule_keys(&cx, it, &mut def, &modes);
        match existing {
            Some(i) => self.rules[i] = def,
            None => self.rules.push(def),
        }
    }

    fn modify_rule(&mut self, cx: &Ctx, it: &Node, idx: usize, modes: &[(String, bool)]) {
        let mut def = self.rules[idx].clone();
        self.apply_rule_keys(cx, it, &mut def, modes);
        self.rules[idx] = def;
    }

    /// Apply `key: (append?)` pairs of item `it` to `def`.
    fn apply_rule_keys(&mut self, cx: &Ctx, it: &Node, def: &mut RuleDef, modes: &[(String, bool)]) {
        for (key, append) in modes {
            let append = *append;
            match key.as_str() {
                "condition" | "output" => {
                    let Some((v, n)) = self.string(cx, it, key) else {
                        continue;
                    };
                    let v = if key == "output" { v.trim_end().to_string() } else { v };
                    let t = Text::new(cx.file, &n, &v);
                    let slot = if key == "condition" { &mut def.condition } else { &mut def.output };
                    match (slot.as_mut(), append) {
                        (Some(old), true) => old.append(t),
                        _ => *slot = Some(t),
                    }
                }
                "desc" => {
                    if let Some((v, _)) = self.string(cx, it, key) {
                        if append && !def.desc.is_empty() {
                            def.desc.push(' ');
                            def.desc.push_str(&v);
                        } else {
                            def.desc = v;
                        }
                    }
                }
                "priority" => {
                    if let Some((v, n)) = self.string(cx, it, key) {
                        match v.parse() {
                            Ok(p) => def.priority = p,
                            Err(_) => self.err(cx, &n, ErrorKind::BadPriority(v)),
                        }
                    }
                }
                "tags" => {
                    if let Some(tags) = self.strings(cx, it, key) {
                        if !append {
                            def.tags.clear();
                        }
                        for t in tags {
                            if !def.tags.contains(&t.value) {
                                def.tags.push(t.value);
                            }
                        }
                    }
                }
                "enabled" => def.enabled = self.boolean(cx, it, key).unwrap_or(def.enabled),
                "skip-if-unknown-filter" => def.skip_if_unknown_filter = self.boolean(cx, it, key).unwrap_or(false),
                "warn_evttypes" => def.warn_evttypes = self.boolean(cx, it, key).unwrap_or(true),
                "source" => {
                    if let Some((v, _)) = self.string(cx, it, key) {
                        def.source = v;
                    }
                }
                "exceptions" => {
                    let new = self.exceptions(cx, it);
                    if !append {
                        def.exceptions = new;
                        continue;
                    }
                    for e in new {
                        match def.exceptions.iter_mut().find(|x| x.name == e.name) {
                            Some(old) => old.values.extend(e.values),
                            None => def.exceptions.push(e),
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn exceptions(&mut self, cx: &Ctx, it: &Node) -> Vec<ExceptionDef> {
        let Some(v) = it.get("exceptions") else {
            return Vec::new();
        };
        let NodeKind::Seq(items) = &v.kind else {
            if !v.is_null() {
                self.err(
                    cx,
                    v,
                    ErrorKind::WrongType { key: "exceptions".into(), expected: "a list", found: v.kind_name().into() },
                );
            }
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in items {
            if !matches!(e.kind, NodeKind::Map(_)) {
                self.err(
                    cx,
                    e,
                    ErrorKind::WrongType {
                        key: "exceptions item".into(),
                        expected: "a mapping",
                        found: e.kind_name().into(),
                    },
                );
                continue;
            }
            self.check_keys(cx, e, "name, fields, comps, values");
            let Some((name, name_node)) = self.string(cx, e, "name") else {
                if e.get("name").is_none() {
                    self.err(cx, e, ErrorKind::MissingKey("name"));
                }
                continue;
            };
            let one_or_many = |d: &mut Defs, key: &str| -> Option<OneOrMany> {
                let n = e.get(key)?;
                match &n.kind {
                    NodeKind::Scalar(s, _) => Some(OneOrMany::One(PStr {
                        value: s.clone(),
                        loc: Self::loc(cx.file, n),
                        node: n.clone(),
                        file: cx.file.clone(),
                    })),
                    NodeKind::Seq(_) => d.strings(cx, e, key).map(OneOrMany::Many),
                    NodeKind::Map(_) => {
                        d.err(
                            cx,
                            n,
                            ErrorKind::WrongType {
                                key: key.into(),
                                expected: "a string or a list",
                                found: "a mapping".into(),
                            },
                        );
                        None
                    }
                }
            };
            let fields = one_or_many(self, "fields");
            let comps = one_or_many(self, "comps");
            let values = match e.get("values") {
                None => Vec::new(),
                Some(n) => match &n.kind {
                    NodeKind::Seq(vs) => vs.iter().map(|v| (cx.file.clone(), v.clone())).collect(),
                    _ if n.is_null() => Vec::new(),
                    _ => {
                        self.err(
                            cx,
                            n,
                            ErrorKind::WrongType {
                                key: "values".into(),
                                expected: "a list",
                                found: n.kind_name().into(),
                            },
                        );
                        Vec::new()
                    }
                },
            };
            out.push(ExceptionDef { name, loc: Self::loc(cx.file, &name_node), fields, comps, values });
        }
        out
    }
}
