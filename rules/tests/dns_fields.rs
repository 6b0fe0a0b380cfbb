//! `fd.sip.name` / `fd.cip.name` / `fd.rip.name` / `fd.lip.name`: compiled against the
//! DNS table, matched with addresses stored in it as the agent's resolver would, and
//! rendered in outputs. Each test uses its own names and addresses (the table is
//! process-wide).

use lanner_rules::de::from_node;
use lanner_rules::runtime::dns;
use lanner_rules::{yaml, Event, Inactive, RuleSet};

fn ev(y: &str) -> Event {
    let docs = yaml::parse(y).unwrap_or_else(|e| panic!("{e:?}"));
    from_node(&docs[0]).unwrap_or_else(|e| panic!("{e:?}"))
}

fn conds(cs: &[&str]) -> RuleSet {
    let mut y = String::new();
    for (i, c) in cs.iter().enumerate() {
        y.push_str(&format!(
            "- rule: r{i}\n  desc: d\n  condition: '{}'\n  output: 'sip=%fd.sip.name cip=%fd.cip.name'\n  priority: INFO\n",
            c.replace('\'', "''")
        ));
    }
    RuleSet::from_sources(&[("t.yaml", &y)]).unwrap_or_else(|e| panic!("{e}"))
}

fn fired(rs: &RuleSet, e: &Event) -> Vec<String> {
    let mut v = Vec::new();
    rs.for_each_match(e, |_, r| v.push(r.name.clone()));
    v
}

#[test]
fn equality_and_sets_match_resolved_addresses() {
    let conn = ev("type: connect\nres: 0\nproc: {name: curl}\nfd: {sip: 198.51.100.20, sport: 443, cip: 10.20.0.5, cport: 40000}\n");
    let cs = [
        "fd.sip.name = \"api.dns-test-a.example\"",
        "fd.rip.name = \"api.dns-test-a.example\"",
        "fd.sip.name = \"other.dns-test-a.example\"",
        "fd.sip.name != \"other.dns-test-a.example\"",
        "fd.sip.name != \"api.dns-test-a.example\"",
        "fd.sip.name in (\"other.dns-test-a.example\", \"api.dns-test-a.example\")",
        "fd.cip.name = \"client.dns-test-a.example\"",
        "fd.lip.name in (\"client.dns-test-a.example\")",
        "fd.cip.name = \"api.dns-test-a.example\"",
        "fd.sip.name exists",
    ];
    let rs = conds(&cs);
    // Compiled but unresolved: no name has addresses yet.
    assert_eq!(fired(&rs, &conn), vec!["r3", "r4", "r9"]);
    dns::entry("api.dns-test-a.example").set(["198.51.100.21".parse().unwrap(), "198.51.100.20".parse().unwrap()]);
    dns::entry("other.dns-test-a.example").set(["198.51.100.99".parse().unwrap()]);
    dns::entry("client.dns-test-a.example").set(["::ffff:10.20.0.5".parse().unwrap()]);
    assert_eq!(fired(&rs, &conn), vec!["r0", "r1", "r3", "r5", "r6", "r7", "r9"]);
    let rule = rs.rules().iter().find(|r| r.name == "r0").unwrap();
    assert_eq!(rule.format_output(&conn), "sip=api.dns-test-a.example cip=client.dns-test-a.example");
    // A re-resolution that moves the name applies at once to the compiled rules.
    dns::entry("api.dns-test-a.example").set(["198.51.100.30".parse().unwrap()]);
    assert_eq!(fired(&rs, &conn), vec!["r3", "r4", "r6", "r7", "r9"]);
    assert_eq!(rule.format_output(&conn), "sip=<NA> cip=client.dns-test-a.example");
    let alert = lanner_rules::Alert::new(rule, &conn, "h");
    assert_eq!(alert.output_fields["fd.sip.name"], lanner_rules::FieldValue::Null);
    assert_eq!(alert.output_fields["fd.cip.name"], lanner_rules::FieldValue::Str("client.dns-test-a.example".into()));
    // A unix socket has no address: every comparison is false, the output <NA>.
    let unix = ev("type: connect\nres: 0\nproc: {name: curl}\nfd: {type: unix, path: /run/x.sock}\n");
    assert!(fired(&rs, &unix).is_empty());
}

#[test]
fn other_operators_load_inactive_and_transformers_fail() {
    let rs = conds(&["fd.sip.name contains \"example\"", "fd.sip.name startswith \"k\" and evt.type = connect"]);
    let states: Vec<_> = rs.inactive_rules().collect();
    assert_eq!(states.len(), 2);
    for st in states {
        let why = st.inactive.as_ref().map(Inactive::to_string).unwrap_or_default();
        assert!(why.contains("only with =, != and in"), "{why}");
    }
    let e = RuleSet::from_sources(&[(
        "t.yaml",
        "- rule: r\n  desc: d\n  condition: tolower(fd.sip.name) = x\n  output: o\n  priority: INFO\n",
    )])
    .unwrap_err()
    .to_string();
    assert!(e.contains("t.yaml:3:") && e.contains("transformers"), "{e}");
}

/// Falco's stable macro, as written there.
#[test]
fn falco_k8s_api_server_macro_is_active() {
    let y = "- macro: k8s_api_server\n  condition: (fd.sip.name=\"kubernetes.default.svc.cluster.local\")\n\
             - rule: api\n  desc: d\n  condition: evt.type=connect and k8s_api_server\n  output: '%fd.sip.name'\n  priority: NOTICE\n";
    let rs = RuleSet::from_sources(&[("t.yaml", y)]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rs.inactive_rules().count(), 0);
    assert!(dns::names().iter().any(|n| n.name() == "kubernetes.default.svc.cluster.local"));
}
