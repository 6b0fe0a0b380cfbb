//! The per-event modules of `rules/src/runtime/` import each other in no cycle
//! (`matcher` ← `index` ← `ruleset`, `alert` → `matcher`), so each can be read on its
//! own and the graph stays a tree as the engine grows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module → the runtime modules its code (not its comments) names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/runtime");
    let mut g = BTreeMap::new();
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap_or_else(|e| panic!("{e}")).path();
        let name = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        if name == "mod" {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let mut deps = BTreeSet::new();
        for line in text.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
            let mut rest = line;
            while let Some(i) = rest.find("crate::runtime::") {
                rest = &rest[i + "crate::runtime::".len()..];
                let m: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if m != name {
                    deps.insert(m);
                }
            }
        }
        g.insert(name, deps);
    }
    g
}

fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut c = stack[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if !done.insert(n.to_string()) {
            return None;
        }
        stack.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    g.keys().find_map(|k| visit(k, g, &mut Vec::new(), &mut done))
}

#[test]
fn runtime_modules_import_each_other_in_no_cycle() {
    let g = graph();
    assert!(g.len() >= 8 && g["ruleset"].contains("index") && g["index"].contains("matcher"), "{g:?}");
    assert_eq!(cycle(&g), None, "import cycle among rules/src/runtime modules: {g:?}");
    // The check itself finds a cycle when there is one.
    let mut bad = g.clone();
    bad.get_mut("matcher").map(|d| d.insert("ruleset".into()));
    assert!(cycle(&bad).is_some());
}
