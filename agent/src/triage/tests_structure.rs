//! The triage modules import each other in no cycle, and `model.rs` (the
//! worker's vocabulary) imports none of them.
//!
//! The graph is read from the sources: a module imports a sibling when its
//! file names `super::NAME` or `crate::triage::NAME`, including each item of
//! a `use super::{…}` group. Names that are not sibling modules (`super::*`
//! in a test module, items of `mod.rs`) are left out.
use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The sibling modules that `src` names.
fn imports(src: &str, siblings: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for prefix in ["super::", "crate::triage::"] {
        for (at, _) in src.match_indices(prefix) {
            let rest = &src[at + prefix.len()..];
            let names = match rest.strip_prefix('{') {
                Some(group) => top_level_items(group),
                None => vec![rest],
            };
            for item in names {
                let name: String =
                    item.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if siblings.contains(&name) {
                    found.insert(name);
                }
            }
        }
    }
    found
}

/// The items of a `{…}` group (text after the `{`), split on top-level commas.
fn top_level_items(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
}

/// A cycle of `g` as a path (first module repeated at the end), if any.
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit<'a>(
        g: &'a Graph,
        m: &'a str,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| *p == m) {
            let mut cycle: Vec<String> = path[i..].iter().map(|s| s.to_string()).collect();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if !done.insert(m) {
            return None;
        }
        path.push(m);
        for next in g.get(m).into_iter().flatten() {
            if let Some(c) = visit(g, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    g.keys().find_map(|m| visit(g, m, &mut Vec::new(), &mut done))
}

/// The import graph of the modules in `agent/src/triage`.
fn triage_graph() -> Graph {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/triage");
    let mut sources = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("agent/src/triage is readable") {
        let path = entry.expect("directory entry").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else { continue };
        if path.extension().is_some_and(|e| e == "rs") && stem != "mod" {
            sources.insert(stem.to_string(), std::fs::read_to_string(&path).expect("source is readable"));
        }
    }
    let siblings: BTreeSet<String> = sources.keys().cloned().collect();
    sources
        .iter()
        .map(|(m, src)| {
            let mut deps = imports(src, &siblings);
            deps.remove(m);
            (m.clone(), deps)
        })
        .collect()
}

#[test]
fn triage_modules_import_each_other_in_no_cycle() {
    let g = triage_graph();
    for m in ["actions", "guard", "llm", "model", "policy", "prompt"] {
        assert!(g.contains_key(m), "module {m} not found in {:?}", g.keys());
    }
    if let Some(cycle) = find_cycle(&g) {
        panic!("triage modules import each other in a cycle: {}\ngraph: {g:#?}", cycle.join(" → "));
    }
    assert!(g["model"].is_empty(), "model.rs (the vocabulary) imports {:?}", g["model"]);
    for m in ["actions", "guard", "llm", "policy", "prompt"] {
        assert!(g[m].contains("model"), "{m} does not take its vocabulary from model.rs: {:?}", g[m]);
    }
}

#[test]
fn import_parser_reads_groups_and_paths() {
    let siblings: BTreeSet<String> =
        ["alert", "model", "prompt", "yaml", "guard", "policy"].into_iter().map(String::from).collect();
    let src = "use super::{\n    alert::{self, Alert},\n    model::{Action, Proposal},\n    prompt,\n};\n\
               fn f() { super::yaml::glob(\"a\", \"b\"); }\n\
               mod tests { use super::*; use crate::triage::guard::Source; }\n";
    let got = imports(src, &siblings);
    let want: BTreeSet<String> = ["alert", "model", "prompt", "yaml", "guard"].into_iter().map(String::from).collect();
    assert_eq!(got, want);
}

#[test]
fn cycle_finder_reports_a_cycle_and_accepts_a_tree() {
    let edges = |pairs: &[(&str, &str)]| -> Graph {
        let mut g = Graph::new();
        for (a, b) in pairs {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    let cyclic = edges(&[("prompt", "llm"), ("llm", "prompt"), ("llm", "model")]);
    let cycle = find_cycle(&cyclic).expect("the cycle is found");
    assert_eq!(cycle.first(), cycle.last());
    assert!(cycle.contains(&"llm".to_string()) && cycle.contains(&"prompt".to_string()), "{cycle:?}");
    let long = edges(&[("policy", "actions"), ("actions", "guard"), ("guard", "policy")]);
    assert_eq!(find_cycle(&long).expect("a three-module cycle").len(), 4);
    let tree = edges(&[("llm", "prompt"), ("llm", "model"), ("prompt", "model"), ("guard", "policy")]);
    assert_eq!(find_cycle(&tree), None);
}
