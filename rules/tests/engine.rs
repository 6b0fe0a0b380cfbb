//! Engine behaviour through the public API: operators, transformers, lists, macros,
//! exceptions, append/override, outputs, alerts, event-type indexing, warnings.

use lanner_rules::de::from_node;
use lanner_rules::yaml;
use lanner_rules::{Event, EvtType, Inactive, Priority, Process, RuleSet};

fn ev(y: &str) -> Event {
    let docs = yaml::parse(y).unwrap_or_else(|e| panic!("{e:?}"));
    from_node(&docs[0]).unwrap_or_else(|e| panic!("{e:?}"))
}

fn rules(y: &str) -> RuleSet {
    RuleSet::from_sources(&[("t.yaml", y)]).unwrap_or_else(|e| panic!("{e}"))
}

/// A rule set with one rule per condition, named by its index.
fn conds(cs: &[&str]) -> RuleSet {
    let mut y = String::new();
    for (i, c) in cs.iter().enumerate() {
        y.push_str(&format!(
            "- rule: r{i}\n  desc: d\n  condition: '{}'\n  output: o\n  priority: INFO\n  warn_evttypes: false\n",
            c.replace('\'', "''")
        ));
    }
    rules(&y)
}

fn fired(rs: &RuleSet, e: &Event) -> Vec<String> {
    let mut v = Vec::new();
    rs.for_each_match(e, |_, r| v.push(r.name.clone()));
    v
}

/// Assert which of `cs` match `e` (`expect[i]` for condition i).
fn check(e: &Event, cs: &[(&str, bool)]) {
    let rs = conds(&cs.iter().map(|c| c.0).collect::<Vec<_>>());
    let got = fired(&rs, e);
    for (i, (c, want)) in cs.iter().enumerate() {
        assert_eq!(got.contains(&format!("r{i}")), *want, "condition `{c}`");
    }
}

const EXEC: &str = "type: execve\nproc: {exepath: /usr/bin/Curl, args: [-fsS, 'http://Example.com/x', --max-time, '5'], uid: 1000, pid: 42, tty: 0}\nancestors: [{name: bash, pid: 41}, {name: sshd, pid: 1}]\ncontainer: {id: 0123456789abcdef, image: nginx, k8s: {ns: prod, name: web-1, labels: {app: web, tier: fe}}}\n";

#[test]
fn string_operators() {
    let e = ev(EXEC);
    check(
        &e,
        &[
            ("proc.name = Curl", true),
            ("proc.name == Curl", true),
            ("proc.name != Curl", false),
            ("proc.name = curl", false),
            ("proc.cmdline contains Example.com", true),
            ("proc.cmdline icontains EXAMPLE.COM", true),
            ("proc.cmdline contains EXAMPLE.COM", false),
            ("proc.exepath startswith /usr/", true),
            ("proc.exepath endswith /Curl", true),
            ("proc.exepath glob /usr/*/C?rl", true),
            ("proc.exepath iglob /USR/*/curl", true),
            ("proc.exepath glob /usr/bin", false),
            ("proc.cmdline regex \"max-time +[0-9]+$\"", true),
            ("proc.exepath pmatch (/usr/bin)", true),
            ("proc.exepath pmatch (/usr/b)", false),
            ("proc.name in (wget, Curl)", true),
            ("proc.name intersects (wget, Curl)", true),
            ("proc.name < D", true),
            ("proc.exepath bcontains 2F437572", true),
            ("proc.exepath bstartswith 2F757372", true),
            ("proc.exepath bstartswith 2F657463", false),
            ("proc.args = \"-fsS http://Example.com/x --max-time 5\"", true),
            ("proc.cmdline contains (zzz, max-time)", true),
        ],
    );
}

#[test]
fn numbers_bools_exists_and_missing() {
    let e = ev(EXEC);
    check(
        &e,
        &[
            ("user.uid = 1000", true),
            ("user.uid != 0", true),
            ("user.uid >= 1000 and user.uid <= 1000 and user.uid > 999 and user.uid < 1001", true),
            ("proc.pid in (1, 42)", true),
            ("proc.apid[1] = 41 and proc.apid[2] = 1", true),
            ("proc.apid = 1", true),
            ("proc.tty = 0", true),
            ("k8s.ns.name exists", true),
            ("fd.name exists", false),
            // a missing value fails every comparison, including !=
            ("fd.name != /etc/passwd", false),
            ("not fd.name = /etc/passwd", true),
            ("user.name = \"<NA>\"", true),
            ("user.name != \"<NA>\"", false),
            ("user.name in (\"<NA>\", root)", true),
            ("evt.is_open_read = true", false),
            ("lanner.proc.args_truncated = false", true),
            ("lanner.container = true", true),
            ("evt.dir = < and evt.dir = >", true),
            ("evt.dir != <", false),
            ("evt.num = 0", false),
        ],
    );
}

#[test]
fn ancestors_containers_and_labels() {
    let e = ev(EXEC);
    check(
        &e,
        &[
            ("proc.pname = bash", true),
            ("proc.aname[0] = Curl and proc.aname[1] = bash and proc.aname[2] = sshd", true),
            ("proc.aname = sshd", true),
            ("proc.aname in (systemd, sshd)", true),
            ("proc.aname = Curl", false),
            ("proc.aname[3] exists", false),
            ("container.id = 0123456789ab", true),
            ("container.full_id = 0123456789abcdef", true),
            ("container.image.repository = nginx", true),
            ("k8s.pod.label[app] = web", true),
            ("k8s.pod.label[nope] exists", false),
            ("k8s.pod.labels intersects (app:web, x:y)", true),
            ("k8s.pod.labels in (app:web, tier:fe, x:y)", true),
            ("k8s.pod.labels in (app:web)", false),
            ("k8s.pod.labels contains tier:", true),
        ],
    );
    let host = ev("type: execve\nproc: {name: ls}\n");
    check(
        &host,
        &[
            ("container.id = host", true),
            ("container.name = host", true),
            ("container.id != host", false),
            ("k8s.pod.name exists", false),
        ],
    );
}

#[test]
fn transformers() {
    let e = ev(EXEC);
    check(
        &e,
        &[
            ("tolower(proc.name) = curl", true),
            ("toupper(proc.name) = CURL", true),
            ("basename(proc.exepath) = Curl", true),
            ("tolower(basename(proc.exepath)) in (wget, curl)", true),
            ("len(proc.name) = 4", true),
            ("len(basename(proc.exepath)) > 3", true),
            ("tolower(proc.cmdline) contains example.com", true),
            ("proc.name = val(proc.aname[0])", true),
            ("proc.name = val(proc.pname)", false),
            ("proc.ppid = val(proc.apid[1])", false),
        ],
    );
}

#[test]
fn files_sockets_and_flags() {
    let open =
        ev("type: openat\nres: 3\nproc: {name: cat}\nfd: {path: /etc/cron.d/job, flags: O_WRONLY|O_CREAT|O_TRUNC}\n");
    check(
        &open,
        &[
            ("evt.is_open_write = true and evt.is_open_read = false", true),
            ("evt.arg.flags contains O_TRUNC and evt.arg.flags contains O_WRONLY", true),
            ("evt.arg.flags contains O_APPEND", false),
            ("evt.arg.flags contains O_RDONLY", false),
            ("fd.directory = /etc/cron.d and fd.filename = job and fd.typechar = f and fd.type = file", true),
            ("fd.num = 3 and evt.res = SUCCESS and evt.rawres = 3", true),
            ("fd.name pmatch (/etc)", true),
        ],
    );
    let conn = ev("type: connect\nres: -115\nproc: {name: nc}\nfd: {sip: 203.0.113.7, sport: 4444, cip: 10.1.2.3, cport: 50000, proto: udp}\n");
    check(
        &conn,
        &[
            ("fd.sip = 203.0.113.7 and fd.sport = 4444", true),
            ("fd.rip = 203.0.113.7 and fd.lport = 50000", true),
            ("fd.sip in (1.1.1.1, 203.0.113.7)", true),
            ("fd.sip != 203.0.113.7", false),
            ("fd.snet in (203.0.113.0/24)", true),
            ("fd.cnet = 10.0.0.0/8", true),
            ("fd.net = 10.0.0.0/8", true),
            ("fd.ip = 10.1.2.3", true),
            ("fd.snet in (10.0.0.0/8, 192.168.0.0/16)", false),
            ("fd.name = \"10.1.2.3:50000->203.0.113.7:4444\"", true),
            ("fd.sip startswith 203.", true),
            ("fd.l4proto = udp and fd.sockfamily = ip and fd.typechar = 4", true),
            ("evt.res = EINPROGRESS and evt.rawres < 0", true),
        ],
    );
}

#[test]
fn precedence_and_macros_and_lists() {
    let e = ev(EXEC);
    let rs = rules(
        "- list: a\n  items: [Curl, b_items]\n- list: b_items\n  items: [wget]\n- macro: m\n  condition: proc.name in (a)\n- macro: never\n  condition: proc.name = nope\n\
         - rule: prec\n  desc: d\n  condition: evt.type = execve and never or m and not never\n  output: o\n  priority: INFO\n\
         - rule: nested_list\n  desc: d\n  condition: evt.type = execve and proc.name in (b_items, Curl)\n  output: o\n  priority: INFO\n\
         - rule: quoted_not_a_list\n  desc: d\n  condition: evt.type = execve and proc.name in (\"a\")\n  output: o\n  priority: INFO\n",
    );
    assert_eq!(fired(&rs, &e), vec!["prec", "nested_list"]);
}

#[test]
fn exceptions_compile_to_and_not() {
    let y = "- rule: r\n  desc: d\n  condition: evt.type = execve and proc.name in (Curl, wget)\n  output: o\n  priority: WARNING\n  exceptions:\n\
             \x20   - name: parent\n      fields: [proc.name, proc.pname]\n      comps: [=, in]\n      values:\n        - [Curl, [bash, zsh]]\n\
             \x20   - name: no_values_yet\n      fields: [proc.cmdline]\n      comps: [contains]\n";
    let rs = rules(y);
    assert!(fired(&rs, &ev(EXEC)).is_empty(), "exception should suppress");
    let other = ev("type: execve\nproc: {name: wget}\nancestors: [{name: bash}]\n");
    assert_eq!(fired(&rs, &other), vec!["r"]);
    // single-field form, and values appended by a later file
    let extra = "- rule: r\n  exceptions:\n    - name: no_values_yet\n      values: [[wget]]\n  override:\n    exceptions: append\n";
    let rs = RuleSet::from_sources(&[("a.yaml", y), ("b.yaml", extra)]).unwrap_or_else(|e| panic!("{e}"));
    let wget = ev("type: execve\nproc: {name: wget, args: [x]}\n");
    assert!(fired(&rs, &wget).is_empty());
    let single = "- rule: s\n  desc: d\n  condition: evt.type = execve\n  output: o\n  priority: INFO\n  exceptions:\n    - name: names\n      fields: proc.name\n      values: [Curl, sh]\n";
    assert!(fired(&rules(single), &ev(EXEC)).is_empty());
}

#[test]
fn append_and_override_across_files() {
    let base = "- list: l\n  items: [a]\n- macro: m\n  condition: proc.name in (l)\n\
                - rule: r\n  desc: base\n  condition: evt.type = execve and m\n  output: \"first %proc.name\"\n  priority: NOTICE\n  tags: [t1]\n";
    let more = "- list: l\n  items: [Curl]\n  append: true\n\
                - rule: r\n  condition: and user.uid = 1000\n  append: true\n\
                - rule: r\n  priority: CRITICAL\n  output: \"second %proc.name\"\n  tags: [t2]\n  override:\n    priority: replace\n    output: replace\n    tags: append\n";
    let rs = RuleSet::from_sources(&[("a.yaml", base), ("b.yaml", more)]).unwrap_or_else(|e| panic!("{e}"));
    let r = rs.rule_by_name("r").unwrap_or_else(|| panic!("no rule"));
    assert_eq!(r.priority, Priority::Critical);
    assert_eq!(r.tags, vec!["t1", "t2"]);
    let e = ev(EXEC);
    assert_eq!(fired(&rs, &e), vec!["r"]);
    assert_eq!(r.format_output(&e), "second Curl");
    // list replace, macro override, rule disabled by a later file
    let third = "- list: l\n  items: [zzz]\n  override:\n    items: replace\n";
    let rs = RuleSet::from_sources(&[("a.yaml", base), ("b.yaml", more), ("c.yaml", third)])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(fired(&rs, &e).is_empty());
    let off = "- rule: r\n  enabled: false\n";
    let rs = RuleSet::from_sources(&[("a.yaml", base), ("d.yaml", off)]).unwrap_or_else(|e| panic!("{e}"));
    assert!(rs.is_empty());
    let off: Vec<_> = rs.inactive_rules().map(|s| (s.name.as_str(), s.inactive.clone())).collect();
    assert_eq!(off, [("r", Some(Inactive::Disabled))]);
    let macro_override = "- macro: m\n  condition: proc.name = Curl\n  override:\n    condition: replace\n";
    let rs = RuleSet::from_sources(&[("a.yaml", base), ("e.yaml", macro_override)]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fired(&rs, &e), vec!["r"]);
}

#[test]
fn evt_type_index_and_warnings() {
    let rs = rules(
        "- rule: exec_only\n  desc: d\n  condition: evt.type in (execve, execveat) and proc.name exists\n  output: o\n  priority: INFO\n\
         - rule: open_or_connect\n  desc: d\n  condition: (evt.type = open or evt.type = connect) and proc.name exists\n  output: o\n  priority: INFO\n\
         - rule: not_exec\n  desc: d\n  condition: evt.type != execve\n  output: o\n  priority: INFO\n\
         - rule: any\n  desc: d\n  condition: proc.name exists\n  output: o\n  priority: INFO\n\
         - rule: never\n  desc: d\n  condition: evt.type = sendto\n  output: o\n  priority: INFO\n",
    );
    let names = |t: EvtType| {
        rs.rules().iter().filter(|r| r.evt_types.contains(&t)).map(|r| r.name.as_str()).collect::<Vec<_>>()
    };
    assert_eq!(names(EvtType::Execve), vec!["exec_only", "any"]);
    assert_eq!(names(EvtType::Openat), vec!["open_or_connect", "not_exec", "any"]);
    assert_eq!(rs.rules_for_type(EvtType::Setuid), 2);
    let w: Vec<String> = rs.warnings().iter().map(|w| w.to_string()).collect();
    assert!(w.iter().any(|w| w.contains("rule 'any': condition does not restrict evt.type")), "{w:?}");
    assert!(!w.iter().any(|w| w.contains("rule 'never'")), "{w:?}");
    let never = rs.states().iter().find(|s| s.name == "never").unwrap_or_else(|| panic!("no state"));
    assert_eq!(never.inactive, Some(Inactive::EventTypes(vec!["sendto".into()])));
    assert!(!w.iter().any(|w| w.contains("rule 'not_exec'")), "{w:?}");
}

#[test]
fn skip_if_unknown_filter_loads_as_warning() {
    let rs = rules(
        "- rule: future\n  desc: d\n  condition: evt.type = execve and proc.from_the_future = true\n  output: o\n  priority: INFO\n  skip-if-unknown-filter: true\n\
         - rule: ok\n  desc: d\n  condition: evt.type = execve\n  output: o\n  priority: INFO\n",
    );
    assert_eq!(rs.len(), 1);
    let off: Vec<_> = rs.inactive_rules().map(|s| (s.name.as_str(), s.inactive.clone())).collect();
    assert_eq!(off, [("future", Some(Inactive::UnknownFilter(vec!["proc.from_the_future".into()])))]);
    let w: Vec<String> = rs.warnings().iter().map(|w| w.to_string()).collect();
    assert!(
        w.iter().any(|w| w.starts_with("t.yaml:3:")
            && w.contains("rule skipped (skip-if-unknown-filter is set): unknown field 'proc.from_the_future'")),
        "{w:?}"
    );
    // without the flag a name Falco does not have is an error
    let err = RuleSet::from_sources(&[("t.yaml", "- rule: future\n  desc: d\n  condition: evt.type = execve and proc.from_the_future = true\n  output: o\n  priority: INFO\n")]).unwrap_err();
    assert_eq!(err.errors.len(), 1);
    assert_eq!(err.errors[0].to_string(), "t.yaml:3:36: rule 'future': unknown field 'proc.from_the_future'");
    // a Falco field Lanner does not fill: the rule loads inactive with the reason
    let rs = rules("- rule: upper\n  desc: d\n  condition: evt.type = execve and container.image.id = \"4a6c1e2f9b0d\"\n  output: o\n  priority: INFO\n");
    let st = &rs.states()[0];
    assert!(rs.is_empty() && st.name == "upper");
    match &st.inactive {
        Some(Inactive::Fields(f)) => assert_eq!(f[0].name, "container.image.id"),
        other => panic!("{other:?}"),
    }
    // unsupported sources are inactive with the source as reason
    let rs = rules(
        "- rule: audit\n  desc: d\n  condition: ka.verb = create\n  output: o\n  priority: INFO\n  source: k8s_audit\n",
    );
    assert!(rs.is_empty());
    assert_eq!(rs.states()[0].inactive, Some(Inactive::Source("k8s_audit".into())));
}

#[test]
fn outputs_alerts_and_json() {
    let rs = rules(
        "- rule: Shell\n  desc: d\n  condition: evt.type = execve\n  output: \"cmd=%proc.cmdline user=%user.name gp=%proc.aname[2] uid=%user.uid fd=%fd.name\"\n  priority: Critical\n  tags: [b_tag, a_tag, T1059]\n",
    );
    let e = ev(&format!("time_ns: 1795435200123456789\n{EXEC}"));
    let r = rs.rule_by_name("Shell").unwrap_or_else(|| panic!("no rule"));
    let a = r.alert(&e, "node-1");
    assert_eq!(a.output, "12:00:00.123456789: Critical cmd=Curl -fsS http://Example.com/x --max-time 5 user=<NA> gp=sshd uid=1000 fd=<NA>");
    assert_eq!(a.time, "2026-11-23T12:00:00.123456789Z");
    assert_eq!(a.tags, vec!["T1059", "a_tag", "b_tag"]);
    let json: serde_json::Value = serde_json::from_str(&a.to_json()).unwrap_or_else(|e| panic!("{e}"));
    let obj = json.as_object().unwrap_or_else(|| panic!("not an object"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["hostname", "output", "output_fields", "priority", "rule", "source", "tags", "time", "uuid"]);
    assert_eq!(json["priority"], "Critical");
    assert_eq!(json["source"], "syscall");
    assert_eq!(json["hostname"], "node-1");
    assert_eq!(json["output_fields"]["user.name"], serde_json::Value::Null);
    assert_eq!(json["output_fields"]["user.uid"], 1000);
    assert_eq!(json["output_fields"]["proc.aname[2]"], "sshd");
    assert_eq!(json["output_fields"]["k8s.pod.name"], "web-1");
    assert_eq!(json["output_fields"]["k8s.ns.name"], "prod");
    assert_eq!(json["output_fields"]["container.id"], "0123456789ab");
    let uuid = json["uuid"].as_str().unwrap_or_default();
    assert_eq!((uuid.len(), &uuid[14..15]), (36, "4"), "v4 uuid: {uuid}");
    let back: lanner_rules::Alert = serde_json::from_str(&a.to_json()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, a);
    let ids = {
        let mut v = Vec::new();
        rs.matches(&e, &mut v);
        v
    };
    assert_eq!(rs.rule(ids[0]).name, "Shell");
}

#[test]
fn condition_errors_map_into_the_file() {
    let y = "- rule: r\n  desc: d\n  condition: >\n    evt.type = execve and\n    (proc.name = a or fd.sport = x)\n  output: o\n  priority: INFO\n";
    let err = RuleSet::from_sources(&[("f.yaml", y)]).unwrap_err();
    assert_eq!(err.errors[0].to_string(), "f.yaml:5:34: rule 'r': invalid value 'x' for fd.sport: expected an integer");
    let appended = "- rule: r\n  desc: d\n  condition: evt.type = execve\n  output: o\n  priority: INFO\n";
    let more = "- rule: r\n  condition: and proc.nme = a\n  append: true\n";
    let err = RuleSet::from_sources(&[("a.yaml", appended), ("b.yaml", more)]).unwrap_err();
    assert_eq!(
        err.errors[0].to_string(),
        "b.yaml:2:18: rule 'r': unknown field 'proc.nme' (did you mean 'proc.name'?)"
    );
}

/// The cross-rule prefilter must return exactly what evaluating every rule returns.
#[test]
fn index_agrees_with_linear_evaluation() {
    let generated = lanner_rules::bench::generated_rules(300);
    let mut sources: Vec<(&str, &str)> = lanner_rules::DEFAULT_RULES.to_vec();
    sources.push(("generated.yaml", &generated));
    let rs = RuleSet::from_sources(&sources).unwrap_or_else(|e| panic!("{e}"));
    let mut events = lanner_rules::bench::event_mix();
    for y in [
        "type: execve\nproc: {name: tool3a, uid: 1000}\n",
        "type: execve\nproc: {name: helper-6, uid: 1000}\n",
        "type: openat\nres: 3\nproc: {name: x}\nfd: {path: /opt/app4/data, flags: O_WRONLY}\n",
        "type: openat\nres: 3\nproc: {name: x}\nfd: {path: /srv/data7/a/b, flags: O_RDWR}\n",
        "type: execve\nproc: {name: java, args: [--secret-5, token8=abc]}\n",
        "type: connect\nproc: {name: j, args: [--secret-299]}\nfd: {sip: 1.2.3.4, sport: 4444}\n",
        "type: execve\nproc: {exepath: /dev/shm/x}\ncontainer: {id: abc}\n",
        "type: execve\nproc: {exepath: /bin/sh, cwd: /dev/shm, exe: ./run}\n",
        "type: openat\nres: 3\nproc: {name: cat}\nfd: {path: /proc/12/environ}\n",
        "type: openat\nres: 3\nproc: {name: cat}\nfd: {path: /home/a/.ssh/k.pem}\n",
        "type: openat\nres: 3\nproc: {name: cat}\nfd: {path: /etc/pam.d/sshd}\n",
        "type: openat\nres: 3\nproc: {name: bash}\nfd: {path: /etc/cron.d/x, flags: O_WRONLY|O_TRUNC}\n",
        "type: openat\nres: 3\nproc: {name: cat}\nfd: {path: /run/secrets/kubernetes.io/serviceaccount/..data/token}\n",
        "type: execve\nproc: {name: socat, args: [EXEC:/bin/sh]}\n",
        "type: execve\nproc: {name: find, args: [/, -name, id_rsa]}\n",
        "type: connect\nproc: {name: curl}\nfd: {sip: 169.254.169.254, sport: 80}\ncontainer: {id: abc}\n",
        "type: connect\nproc: {name: python3}\nfd: {sip: 10.96.0.1, sport: 6443}\ncontainer: {id: abc}\n",
        "type: connect\nproc: {name: python3}\nfd: {sip: 203.0.113.7, sport: 9050}\n",
        "type: connect\nres: -115\nproc: {name: sh}\nfd: {sip: 198.51.100.4, sport: 3333}\ncontainer: {id: abc}\n",
    ] {
        events.push(ev(y));
    }
    let mut total = 0;
    for e in &events {
        let mut fast = Vec::new();
        rs.for_each_match(e, |_, r| fast.push(r.name.clone()));
        let slow: Vec<String> = rs
            .rules()
            .iter()
            .filter(|r| r.evt_types.contains(&e.evt_type) && r.matches(e))
            .map(|r| r.name.clone())
            .collect();
        assert_eq!(fast, slow, "event {e:?}");
        total += fast.len();
    }
    assert!(total >= 20, "only {total} matches: the crafted events should match");
}

#[test]
fn shared_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RuleSet>();
    assert_send_sync::<lanner_rules::RuleSetHandle>();
    assert_send_sync::<Event>();
    assert_send_sync::<lanner_rules::Alert>();
    assert_send_sync::<lanner_rules::LoadErrors>();
}

#[test]
fn new_event_types_past_the_eighth_index_and_their_arguments() {
    use lanner_rules::EvtArg;
    let rs = rules(
        "- rule: modules\n  desc: d\n  condition: evt.type in (init_module, finit_module, delete_module)\n  output: o\n  priority: INFO\n\
         - rule: attach\n  desc: d\n  condition: evt.type = ptrace and evt.arg.request contains PTRACE_ATTACH and evt.rawarg.pid > 1\n  output: o %evt.arg.pid\n  priority: INFO\n\
         - rule: not_exec\n  desc: d\n  condition: evt.type != execve and proc.name = x\n  output: o\n  priority: INFO\n",
    );
    let types = |n: &str| rs.rules().iter().find(|r| r.name == n).map(|r| r.evt_types.clone()).unwrap_or_default();
    assert_eq!(types("modules"), vec![EvtType::InitModule, EvtType::FinitModule, EvtType::DeleteModule]);
    assert_eq!(types("attach"), vec![EvtType::Ptrace]);
    assert_eq!(types("not_exec").len(), EvtType::COUNT - 1, "every captured type but execve");
    assert_eq!(EvtType::ALL.len(), EvtType::COUNT);
    for t in EvtType::ALL {
        assert_eq!(EvtType::from_falco_name(t.as_str()), Some(t), "{t}");
    }
    let mut e = Event::new(EvtType::Ptrace, 0, std::sync::Arc::new(Process::new("x", "/usr/bin/x", &[])));
    e.args = vec![EvtArg::named("request", 16, "PTRACE_ATTACH"), EvtArg::named("pid", 42, "sleep")];
    assert_eq!(fired(&rs, &e), vec!["attach", "not_exec"]);
    e.args[1] = EvtArg::named("pid", 1, "init");
    assert_eq!(fired(&rs, &e), vec!["not_exec"], "evt.rawarg.pid > 1 compares the number");
}

/// `fd.directory`, `fd.filename` and exact `fd.name` anchors are indexed as prefixes and
/// suffixes of `fd.name` (one trie walk each way): the candidates may grow, the matches
/// must not change, including the root directory and names that only share a prefix.
#[test]
fn fd_anchors_restated_on_fd_name_keep_matches() {
    let rs = conds(&[
        "evt.type = openat and fd.directory = /",
        "evt.type = openat and fd.directory = /etc",
        "evt.type = openat and fd.filename = passwd",
        "evt.type = openat and fd.filename endswith .pem",
        "evt.type = openat and fd.name = /etc/hosts",
        "evt.type = openat and fd.name endswith shadow",
        "evt.type = openat and fd.name startswith /etc/ssl/",
        "evt.type = openat and fd.directory in (/var/log, /tmp/) and fd.filename in (a.log, b)",
    ]);
    let cases: [(&str, &[&str]); 9] = [
        ("/passwd", &["r0", "r2"]),
        ("/etc/passwd", &["r1", "r2"]),
        ("/etc/mypasswd", &["r1"]),
        ("/etc/ssl/k.pem", &["r3", "r6"]),
        ("/etc/hosts", &["r1", "r4"]),
        ("/etc/hostsx", &["r1"]),
        ("/etc/gshadow", &["r1", "r5"]),
        ("/var/log/a.log", &["r7"]),
        ("/var/logs/a.log", &[]),
    ];
    for (path, want) in cases {
        let e = ev(&format!("type: openat\nres: 3\nproc: {{name: cat}}\nfd: {{path: {path}}}\n"));
        let slow: Vec<String> = rs.rules().iter().filter(|r| r.matches(&e)).map(|r| r.name.clone()).collect();
        assert_eq!(fired(&rs, &e), slow, "{path}: index and linear evaluation differ");
        assert_eq!(slow, want.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{path}");
    }
}
