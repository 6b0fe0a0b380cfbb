//! Declarative rule tests ("fixtures") that rule authors write in YAML, without Rust.
//!
//! A fixture file is named `*.test.yaml` (other YAML files in the directory, such as
//! rule files used by the fixtures, are not fixtures). It holds `cases`, each with one
//! or more events (the `Event` YAML shape, with defaults) and expectations:
//!
//! ```yaml
//! rules: [my-rules.yaml]          # optional, relative to this file; default: the given set
//! defs:                           # optional, ignored: a place for YAML anchors
//!   pod: &pod {id: 3f1c0a9e2b7d, k8s: {ns: default, name: web-1}}
//! cases:
//!   - name: interactive shell in a pod
//!     events:
//!       - type: execve
//!         proc: {exepath: /bin/bash, args: [-i], tty: 34816}
//!         container: {id: 3f1c0a9e2b7d, k8s: {ns: default, name: web-1}}
//!     expect:
//!       - rule: Terminal shell in container
//!         priority: Warning
//!         output_fields: {k8s.pod.name: web-1}
//!         output_contains: "bash -i"
//!   - name: package install stays quiet
//!     events: [...]
//!     max_priority: notice        # or `none: true`
//! ```
//!
//! A `states:` map (rule name → `active` or `inactive: <reason prefix>`) checks which
//! rules of the loaded files run (`fixture_states.rs`).
//!
//! A `dns:` map (name → list of addresses) stands in for the agent's resolver while the
//! file's cases run: `fd.sip.name = "db.example"` matches the listed addresses (nothing is
//! resolved for real, and the addresses are cleared after the file).
//!
//! By default the rules that fire must be exactly the expected ones (`allow_others: true`
//! relaxes this); `not: [rule, ...]` lists rules that must stay silent.
//!
//! Every case is also run through the model of the agent's in-kernel open pre-filter
//! (`kfilter.rs`): the open events it would drop are removed, and the alerts must stay
//! the same, so a fixture fails if the pre-filter derived from its rules would lose an
//! alert.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::error::LoadErrors;
use crate::fields::priority::Priority;
use crate::kfilter::{ConnectNeeds, DupNeeds, KillNeeds, OpenNeeds, SocketNeeds, UnshareNeeds};
use crate::runtime::alert::Alert;
use crate::runtime::dns;
use crate::runtime::event::Event;
use crate::runtime::ruleset::RuleSet;
use crate::syntax::de::from_node;
use crate::syntax::yaml::{self, NodeKind, Pos};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    rules: Option<Vec<String>>,
    #[serde(default)]
    events: Vec<Event>,
    #[serde(default)]
    event: Option<Event>,
    #[serde(default)]
    expect: Vec<Expect>,
    #[serde(default)]
    none: bool,
    #[serde(default)]
    max_priority: Option<Priority>,
    #[serde(default)]
    allow_others: bool,
    #[serde(default)]
    not: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    rule: String,
    #[serde(default)]
    priority: Option<Priority>,
    #[serde(default)]
    output_fields: BTreeMap<String, String>,
    #[serde(default)]
    output_contains: Option<String>,
}

/// Outcome of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub file: String,
    pub name: String,
    pub pos: Option<Pos>,
    /// Empty when the case passed.
    pub failures: Vec<String>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Outcome of a fixture run.
#[derive(Debug, Clone, Default)]
pub struct FixtureReport {
    pub cases: Vec<CaseResult>,
    /// Problems that prevented cases from running (unreadable files, bad YAML, rules
    /// that failed to load). Each counts as a failure.
    pub errors: Vec<String>,
}

impl FixtureReport {
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed()).count()
    }
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed() + self.errors.len()
    }
    pub fn is_ok(&self) -> bool {
        self.failed() == 0 && !self.cases.is_empty()
    }
    /// A report for rules that could not be loaded at all.
    pub fn load_failure(e: LoadErrors) -> FixtureReport {
        FixtureReport { cases: Vec::new(), errors: vec![format!("rules failed to load:\n{e}")] }
    }
}

impl fmt::Display for FixtureReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.errors {
            writeln!(f, "ERROR {e}")?;
        }
        for c in &self.cases {
            let at = c.pos.map(|p| format!("{}:{}", c.file, p.line)).unwrap_or_else(|| c.file.clone());
            if c.passed() {
                writeln!(f, "PASS {at}: {}", c.name)?;
            } else {
                writeln!(f, "FAIL {at}: {}", c.name)?;
                for l in &c.failures {
                    for (i, line) in l.lines().enumerate() {
                        writeln!(f, "    {}{line}", if i == 0 { "- " } else { "  " })?;
                    }
                }
            }
        }
        if self.cases.is_empty() && self.errors.is_empty() {
            writeln!(f, "no fixture cases found (fixture files are named *.test.yaml)")?;
        }
        write!(f, "{} passed, {} failed", self.passed(), self.failed())
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            collect(&p, out)?;
        } else if name.ends_with(".test.yaml") || name.ends_with(".test.yml") {
            out.push(p);
        }
    }
    Ok(())
}

/// Run every `*.test.yaml` under `dir` (recursively) against `rules` (or the rules a
/// fixture file or case names).
pub fn run_fixture_dir(dir: &Path, rules: &RuleSet) -> FixtureReport {
    let mut report = FixtureReport::default();
    let mut files = Vec::new();
    if let Err(e) = collect(dir, &mut files) {
        report.errors.push(format!("{}: cannot read fixture directory: {e}", dir.display()));
        return report;
    }
    let mut cache: HashMap<Vec<PathBuf>, Result<RuleSet, String>> = HashMap::new();
    for f in files {
        run_fixture_file(&f, rules, &mut cache, &mut report);
    }
    report
}

/// Run one fixture file.
pub fn run_fixture_file_with(path: &Path, rules: &RuleSet) -> FixtureReport {
    let mut report = FixtureReport::default();
    run_fixture_file(path, rules, &mut HashMap::new(), &mut report);
    report
}

fn run_fixture_file(
    path: &Path,
    default: &RuleSet,
    cache: &mut HashMap<Vec<PathBuf>, Result<RuleSet, String>>,
    report: &mut FixtureReport,
) {
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return report.errors.push(format!("{name}: cannot read: {e}")),
    };
    let docs = match yaml::parse(&text) {
        Ok(d) => d,
        Err(e) => {
            return report.errors.push(format!("{name}:{}:{}: YAML syntax error: {}", e.pos.line, e.pos.col, e.message))
        }
    };
    let Some(root) = docs.first() else {
        return report.errors.push(format!("{name}: empty fixture file"));
    };
    let (file_rules, case_nodes) = match (&root.kind, root.get("cases")) {
        (NodeKind::Map(_), Some(c)) => (root.get("rules"), c),
        (NodeKind::Seq(_), _) => (None, root),
        _ => {
            return report.errors.push(format!(
                "{name}:{}: a fixture file is a mapping with 'cases' (and optional 'rules') or a list of cases",
                root.pos()
            ))
        }
    };
    if let NodeKind::Map(entries) = &root.kind {
        for (k, _) in entries {
            if !matches!(k.as_str(), Some("rules" | "cases" | "defs" | "states" | "dns")) {
                return report.errors.push(format!(
                    "{name}:{}: unknown key '{}' (expected rules, cases, defs, states, dns)",
                    k.pos(),
                    k.as_str().unwrap_or("?")
                ));
            }
        }
    }
    let file_rules: Option<Vec<String>> = match file_rules.map(from_node::<Vec<String>>) {
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            return report.errors.push(format!("{name}:{}: rules: {}", e.pos.unwrap_or(root.pos()), e.message))
        }
        None => None,
    };
    // Held for the file: the rules compiled for it share these entries.
    let dns: Vec<Arc<dns::DnsName>> = match root.get("dns").map(from_node::<BTreeMap<String, Vec<IpAddr>>>) {
        None => Vec::new(),
        Some(Ok(m)) => m
            .into_iter()
            .map(|(n, addrs)| {
                let e = dns::entry(&n);
                e.set(addrs);
                e
            })
            .collect(),
        Some(Err(e)) => {
            return report.errors.push(format!("{name}:{}: dns: {}", e.pos.unwrap_or(root.pos()), e.message))
        }
    };
    run_cases(&name, root, case_nodes, file_rules, path, default, cache, report);
    for e in dns {
        e.set([]);
    }
}

/// The `states:` check and the cases of one fixture file.
#[allow(clippy::too_many_arguments)]
fn run_cases(
    name: &str,
    root: &yaml::Node,
    case_nodes: &yaml::Node,
    file_rules: Option<Vec<String>>,
    path: &Path,
    default: &RuleSet,
    cache: &mut HashMap<Vec<PathBuf>, Result<RuleSet, String>>,
    report: &mut FixtureReport,
) {
    let name = name.to_string();
    let base = path.parent().unwrap_or(Path::new("."));
    if let Some(states) = root.get("states") {
        let mut result = CaseResult {
            file: name.clone(),
            name: "rule states".into(),
            pos: Some(states.pos()),
            failures: Vec::new(),
        };
        match from_node::<BTreeMap<String, String>>(states) {
            Err(e) => result.failures.push(format!("{name}:{}: states: {}", e.pos.unwrap_or(states.pos()), e.message)),
            Ok(want) => match rule_set(base, file_rules.as_deref(), default, cache, &name, report) {
                Ok(rs) => result.failures = crate::fixture_states::check(&want, rs),
                Err(e) => result.failures.push(e),
            },
        }
        report.cases.push(result);
    }
    let NodeKind::Seq(items) = &case_nodes.kind else {
        return report.errors.push(format!("{name}:{}: 'cases' must be a list", case_nodes.pos()));
    };
    for item in items {
        let case_name = item.get("name").and_then(|n| n.as_str()).unwrap_or("<unnamed>").to_string();
        let mut result =
            CaseResult { file: name.clone(), name: case_name, pos: Some(item.pos()), failures: Vec::new() };
        match from_node::<Case>(item) {
            Err(e) => {
                result.failures.push(format!("{name}:{}: invalid case: {}", e.pos.unwrap_or(item.pos()), e.message))
            }
            Ok(case) => {
                let rule_files = case.rules.clone().or_else(|| file_rules.clone());
                let rs = rule_set(base, rule_files.as_deref(), default, cache, &name, report);
                result.name = case.name.clone();
                match rs {
                    Ok(rs) => result.failures = run_case(&case, rs),
                    Err(e) => result.failures.push(e),
                }
            }
        }
        report.cases.push(result);
    }
}

/// The rule set a fixture names (loaded once per list of files), or `default`.
fn rule_set<'a>(
    base: &Path,
    list: Option<&[String]>,
    default: &'a RuleSet,
    cache: &'a mut HashMap<Vec<PathBuf>, Result<RuleSet, String>>,
    name: &str,
    report: &mut FixtureReport,
) -> Result<&'a RuleSet, String> {
    let Some(list) = list else {
        return Ok(default);
    };
    let paths: Vec<PathBuf> = list.iter().map(|p| base.join(p)).collect();
    let fresh = !cache.contains_key(&paths);
    let entry = cache.entry(paths.clone()).or_insert_with(|| RuleSet::load_files(&paths).map_err(|e| e.to_string()));
    if let (true, Err(e)) = (fresh, &entry) {
        report.errors.push(format!("{name}: rules {list:?} failed to load:\n{e}"));
    }
    entry.as_ref().map_err(|_| format!("rules {list:?} failed to load (errors above)"))
}

fn describe(a: &Alert) -> String {
    format!("'{}' ({}): {}", a.rule, a.priority, a.output)
}

fn run_case(case: &Case, rs: &RuleSet) -> Vec<String> {
    run_case_with(
        case,
        rs,
        &Needs {
            open: rs.open_needs(),
            connect: rs.connect_needs(),
            dup: rs.dup_needs(),
            socket: rs.socket_needs(),
            unshare: rs.unshare_needs(),
            kill: rs.kill_needs(),
        },
    )
}

/// The in-kernel pre-filters derived from a rule set.
struct Needs {
    open: OpenNeeds,
    connect: ConnectNeeds,
    dup: DupNeeds,
    socket: SocketNeeds,
    unshare: UnshareNeeds,
    kill: KillNeeds,
}

impl Needs {
    fn passes(&self, ev: &Event) -> bool {
        self.open.passes_event(ev)
            && self.connect.passes_event(ev)
            && self.dup.passes_event(ev)
            && self.socket.passes_event(ev)
            && self.unshare.passes_event(ev)
            && self.kill.passes_event(ev)
    }
}

/// Run `case`, and again with the open and connect events that `needs` drops removed.
fn run_case_with(case: &Case, rs: &RuleSet, needs: &Needs) -> Vec<String> {
    let mut failures = Vec::new();
    let events: Vec<&Event> = case.events.iter().chain(case.event.as_ref()).collect();
    if events.is_empty() {
        failures.push("case has no events (give 'events' or 'event')".into());
    }
    if case.expect.is_empty() && !case.none && case.max_priority.is_none() && case.not.is_empty() {
        failures.push("case has no expectation: give 'expect', 'none: true', 'max_priority' or 'not'".into());
    }
    if !failures.is_empty() {
        return failures;
    }
    let mut alerts = Vec::new();
    for ev in &events {
        rs.for_each_match(ev, |_, rule| alerts.push(rule.alert(ev, "fixture-host")));
    }
    let fired: Vec<String> = alerts.iter().map(describe).collect();
    let fired_list = if fired.is_empty() { "no alert".to_string() } else { fired.join("\n") };
    prefilter_failures(&events, rs, needs, &fired, &mut failures);
    for exp in &case.expect {
        if rs.rule_by_name(&exp.rule).is_none() {
            failures.push(format!("expected rule '{}' is not in the rule set (typo, disabled or skipped?)", exp.rule));
            continue;
        }
        let candidates: Vec<&Alert> = alerts.iter().filter(|a| a.rule == exp.rule).collect();
        if candidates.is_empty() {
            failures.push(format!("expected rule '{}' to fire; fired:\n{fired_list}", exp.rule));
            continue;
        }
        let mut best: Option<Vec<String>> = None;
        for a in &candidates {
            let mut diffs = Vec::new();
            if let Some(p) = exp.priority {
                if a.priority != p {
                    diffs.push(format!("priority: expected {p}, got {}", a.priority));
                }
            }
            for (k, v) in &exp.output_fields {
                match a.output_fields.get(k) {
                    Some(got) if got.to_text() == *v => {}
                    Some(got) => diffs.push(format!("output_fields[{k}]: expected '{v}', got '{}'", got.to_text())),
                    None => diffs.push(format!(
                        "output_fields[{k}]: expected '{v}', but the alert has no such field (fields: {})",
                        a.output_fields.keys().cloned().collect::<Vec<_>>().join(", ")
                    )),
                }
            }
            if let Some(c) = &exp.output_contains {
                if !a.output.contains(c.as_str()) {
                    diffs.push(format!("output: expected to contain '{c}', got '{}'", a.output));
                }
            }
            if diffs.is_empty() {
                best = None;
                break;
            }
            if best.as_ref().is_none_or(|b| diffs.len() < b.len()) {
                best = Some(diffs);
            }
        }
        if let Some(d) = best {
            failures.push(format!("rule '{}' fired but did not match:\n{}", exp.rule, d.join("\n")));
        }
    }
    if case.none && !alerts.is_empty() {
        failures.push(format!("expected no alert; fired:\n{fired_list}"));
    }
    if let Some(maxp) = case.max_priority {
        for a in alerts.iter().filter(|a| a.priority > maxp) {
            failures.push(format!("alert above {maxp}: {}", describe(a)));
        }
    }
    for n in &case.not {
        if let Some(a) = alerts.iter().find(|a| &a.rule == n) {
            failures.push(format!("rule '{n}' must not fire, but did: {}", describe(a)));
        }
    }
    if !case.allow_others && !case.expect.is_empty() {
        for a in &alerts {
            if !case.expect.iter().any(|e| e.rule == a.rule) {
                failures.push(format!(
                    "unexpected alert {} (list it under expect, or set allow_others: true)",
                    describe(a)
                ));
            }
        }
    }
    failures
}

/// The alerts of `events` minus the open and connect events the pre-filters `needs`
/// drop must be `fired`; otherwise name each dropped event and the rules it fires.
fn prefilter_failures(events: &[&Event], rs: &RuleSet, needs: &Needs, fired: &[String], out: &mut Vec<String>) {
    let mut filtered = Vec::new();
    for ev in events.iter().filter(|ev| needs.passes(ev)) {
        rs.for_each_match(ev, |_, rule| filtered.push(describe(&rule.alert(ev, "fixture-host"))));
    }
    if filtered == fired {
        return;
    }
    for (n, ev) in events.iter().enumerate().filter(|(_, ev)| !needs.passes(ev)) {
        let fd = ev.fd.as_ref();
        let what = match ev.evt_type {
            crate::runtime::event::EvtType::Connect => {
                let (family, addr) = crate::kfilter::connect_family_addr(ev);
                let addr = addr.map_or_else(|| "-".to_string(), |a| a.to_string());
                format!("connect fd.name={:?} family={family} addr={addr} res={}", fd.map_or("", |f| f.name()), ev.res)
            }
            _ => format!(
                "fd.name={:?} flags={:#o} res={}",
                fd.map_or("", |f| f.name()),
                fd.and_then(|f| f.flags()).unwrap_or(0),
                ev.res
            ),
        };
        rs.for_each_match(ev, |_, rule| {
            out.push(format!(
                "pre-filter would drop an event that alerts: event {} ({what}) fires rule '{}'",
                n + 1,
                rule.name
            ))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kfilter::PathSet;

    #[test]
    fn prefilter_mismatch_is_reported() {
        let rs = RuleSet::from_sources(&[(
            "r.yaml",
            "- rule: Shadow read\n  desc: d\n  condition: evt.type = openat and fd.name = /etc/shadow\n  output: o\n  priority: WARNING\n",
        )])
        .unwrap_or_else(|e| panic!("{e}"));
        let docs = yaml::parse(
            "name: read\nevents:\n  - {type: openat, res: -13, fd: {path: /etc/shadow}}\n  - {type: openat, res: 3, fd: {path: /etc/shadow}}\nexpect: [{rule: Shadow read}]\n",
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let case: Case = from_node(&docs[0]).unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(run_case(&case, &rs), Vec::<String>::new());
        // A (wrong) filter that drops failed opens and every path.
        let wrong = OpenNeeds {
            failed: false,
            paths: Some(PathSet::default()),
            writes_any_path: false,
            write_paths: PathSet::default(),
        };
        let f = run_case_with(
            &case,
            &rs,
            &Needs {
                open: wrong,
                connect: ConnectNeeds::pass_all(),
                dup: DupNeeds::pass_all(),
                socket: SocketNeeds::pass_all(),
                unshare: UnshareNeeds::pass_all(),
                kill: KillNeeds::pass_all(),
            },
        );
        assert_eq!(f.len(), 2, "{f:#?}");
        assert!(
            f[0].starts_with("pre-filter would drop an event that alerts: event 1 (fd.name=\"/etc/shadow\""),
            "{f:#?}"
        );
        assert!(f.iter().all(|l| l.ends_with("fires rule 'Shadow read'")), "{f:#?}");
    }

    #[test]
    fn connect_prefilter_mismatch_is_reported() {
        let rs = RuleSet::from_sources(&[(
            "r.yaml",
            "- rule: Any connect\n  desc: d\n  condition: evt.type = connect and proc.name = curl\n  output: o %fd.name\n  priority: WARNING\n",
        )])
        .unwrap_or_else(|e| panic!("{e}"));
        let docs = yaml::parse(concat!(
            "name: connects\nevents:\n",
            "  - {type: connect, res: -111, proc: {exepath: /usr/bin/curl}, fd: {sip: 203.0.113.7, sport: 443}}\n",
            "  - {type: connect, proc: {exepath: /usr/bin/curl}, fd: {type: ipv6, sip: \"::ffff:127.0.0.1\", sport: 80}}\n",
            "  - {type: connect, proc: {exepath: /usr/bin/curl}, fd: {type: unix, path: /run/x.sock}}\n",
            "  - {type: connect, res: -115, proc: {exepath: /usr/bin/curl}, fd: {sip: 203.0.113.7, sport: 443}}\n",
            "expect: [{rule: Any connect}]\n",
        ))
        .unwrap_or_else(|e| panic!("{e:?}"));
        let case: Case = from_node(&docs[0]).unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(rs.connect_needs(), ConnectNeeds::pass_all());
        assert_eq!(run_case(&case, &rs), Vec::<String>::new());
        // A (wrong) filter that drops failures, loopback and unix sockets.
        let wrong = ConnectNeeds { failed: false, loopback: false, unix: false };
        let f = run_case_with(
            &case,
            &rs,
            &Needs {
                open: OpenNeeds::pass_all(),
                connect: wrong,
                dup: DupNeeds::pass_all(),
                socket: SocketNeeds::pass_all(),
                unshare: UnshareNeeds::pass_all(),
                kill: KillNeeds::pass_all(),
            },
        );
        assert_eq!(
            f,
            [
                "pre-filter would drop an event that alerts: event 1 (connect fd.name=\"203.0.113.7:443\" family=2 addr=203.0.113.7 res=-111) fires rule 'Any connect'",
                "pre-filter would drop an event that alerts: event 2 (connect fd.name=\"::ffff:127.0.0.1:80\" family=10 addr=::ffff:127.0.0.1 res=0) fires rule 'Any connect'",
                "pre-filter would drop an event that alerts: event 3 (connect fd.name=\"/run/x.sock\" family=1 addr=- res=0) fires rule 'Any connect'",
            ],
            "{f:#?}"
        );
    }

    #[test]
    fn dup_prefilter_mismatch_is_reported() {
        let rs = RuleSet::from_sources(&[(
            "r.yaml",
            "- rule: Stdout dup\n  desc: d\n  condition: evt.type = dup2 and evt.rawres = 1\n  output: o\n  priority: WARNING\n",
        )])
        .unwrap_or_else(|e| panic!("{e}"));
        let docs = yaml::parse(
            "name: dups\nevents:\n  - {type: dup2, res: 1, proc: {exepath: /bin/bash}}\nexpect: [{rule: Stdout dup}]\n",
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let case: Case = from_node(&docs[0]).unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(rs.dup_needs(), DupNeeds { results: Some(0b10) });
        assert_eq!(run_case(&case, &rs), Vec::<String>::new());
        // A (wrong) filter that keeps only result 0.
        let wrong = DupNeeds { results: Some(1) };
        let needs = Needs {
            open: OpenNeeds::pass_all(),
            connect: ConnectNeeds::pass_all(),
            dup: wrong,
            socket: SocketNeeds::pass_all(),
            unshare: UnshareNeeds::pass_all(),
            kill: KillNeeds::pass_all(),
        };
        let f = run_case_with(&case, &rs, &needs);
        assert_eq!(
            f,
            ["pre-filter would drop an event that alerts: event 1 (fd.name=\"\" flags=0o0 res=1) fires rule 'Stdout dup'"],
            "{f:#?}"
        );
    }
}
