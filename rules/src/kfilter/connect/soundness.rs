//! Property-style soundness test of the connect pre-filter: for rule sets (the default
//! pack, the fixtures' rule files, and a set of tricky conditions), generate many connect
//! events from the rule set's own literals plus loopback, non-loopback and IPv4-mapped
//! addresses, unix sockets and results, and check that no event a rule matches is dropped
//! by the kernel model.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::*;
use crate::runtime::event::{Container, Fd, L4Proto, Pod, Process, DEFAULT_FIXTURE_TIME_NS};
use crate::runtime::pred::StrPred;

/// Literals of a rule set's connect rules.
#[derive(Default)]
struct Lits {
    addrs: BTreeSet<IpAddr>,
    ports: BTreeSet<u16>,
    procs: BTreeSet<String>,
    paths: BTreeSet<String>,
}

/// Both spellings of an IPv4 address (plain and IPv4-mapped), or of a mapped IPv6 one.
fn spellings(ip: IpAddr) -> [IpAddr; 2] {
    match ip {
        IpAddr::V4(a) => [ip, IpAddr::V6(a.to_ipv6_mapped())],
        IpAddr::V6(a) => [ip, a.to_ipv4_mapped().map_or(ip, IpAddr::V4)],
    }
}

/// Addresses at and around the edges of a network.
fn edges(c: &Cidr) -> Vec<IpAddr> {
    let (lo, hi) = range(c);
    let mut out = Vec::new();
    for x in [Some(lo), Some(hi), lo.checked_sub(1), hi.checked_add(1), Some(lo + (hi - lo) / 2)].into_iter().flatten()
    {
        match c.addr {
            IpAddr::V4(_) => {
                if let Ok(v) = u32::try_from(x) {
                    out.push(IpAddr::V4(Ipv4Addr::from(v)));
                }
            }
            IpAddr::V6(_) => out.push(IpAddr::V6(Ipv6Addr::from(x))),
        }
    }
    out
}

fn walk(n: &Node, l: &mut Lits) {
    match n {
        Node::Const(_) => {}
        Node::Not(x) => walk(x, l),
        Node::And(v) | Node::Or(v) => v.iter().for_each(|x| walk(x, l)),
        Node::Check(c) => match (&c.field.id, &c.pred) {
            (_, Pred::Ip { set, .. }) => l.addrs.extend(set.iter().flat_map(|a| spellings(*a))),
            (_, Pred::Net { nets, .. }) => {
                l.addrs.extend(nets.iter().flat_map(edges).flat_map(spellings));
            }
            (F::FdSport | F::FdRport | F::FdCport | F::FdLport, Pred::Num(p)) => {
                let v: Vec<i64> = match p {
                    NumPred::Cmp(_, x) => vec![*x],
                    NumPred::In(v) => v.to_vec(),
                };
                for x in v {
                    l.ports.extend([x - 1, x, x + 1].iter().filter_map(|p| u16::try_from(*p).ok()));
                }
            }
            (F::ProcName | F::ProcAname | F::ProcPname, Pred::Str(p)) => l.procs.extend(str_pats(p)),
            (F::FdName, Pred::Str(p)) => l.paths.extend(str_pats(p)),
            _ => {}
        },
    }
}

fn str_pats(p: &StrPred) -> Vec<String> {
    match p {
        StrPred::Eq(x) | StrPred::Ne(x) => vec![x.to_string()],
        StrPred::In { pats, .. }
        | StrPred::Contains { pats, .. }
        | StrPred::StartsWith { pats, .. }
        | StrPred::EndsWith { pats, .. }
        | StrPred::PMatch { pats, .. } => pats.clone(),
        _ => Vec::new(),
    }
}

const FIXED_ADDRS: &[&str] = &[
    "127.0.0.1",
    "127.0.0.53",
    "127.255.255.255",
    "126.255.255.255",
    "128.0.0.0",
    "0.0.0.0",
    "10.0.0.1",
    "8.8.8.8",
    "203.0.113.7",
    "::1",
    "::",
    "::2",
    "::127.0.0.1",
    "::ffff:127.0.0.1",
    "::ffff:127.1.2.3",
    "::ffff:10.0.0.1",
    "::ffff:8.8.8.8",
    "2001:db8::1",
    "fe80::1",
    "fd00::1",
];
const RETS: [i64; 5] = [0, -115, -111, -13, -1];

/// Check `rs` on generated events; returns the number of matching events per connect rule.
fn check_rule_set(label: &str, rs: &RuleSet) -> BTreeMap<String, usize> {
    let needs = rs.connect_needs();
    let mut l = Lits::default();
    for &i in rs.by_type[EvtType::Connect.index()].iter() {
        walk(&rs.rules[i as usize].cond, &mut l);
    }
    l.addrs.extend(FIXED_ADDRS.iter().map(|s| s.parse::<IpAddr>().unwrap_or_else(|e| panic!("{s}: {e}"))));
    l.ports.extend([0, 22, 53, 80, 443, 4444, 6443, 8888]);
    l.paths.extend(["", "/run/containerd/containerd.sock", "/var/run/docker.sock", "@abstract"].map(String::from));
    let mut names: Vec<String> = l.procs.iter().cloned().collect();
    names.extend(["curl", "bash", "python3", "nc", "server", "manager"].map(String::from));
    let procs: Vec<Arc<Process>> = names
        .iter()
        .map(|n| {
            let mut p = Process::new(n, &format!("/usr/bin/{n}"), &["-k", "https://10.96.0.1:6443/api"]);
            p.user_name = Some("root".into());
            p.precompute();
            Arc::new(p)
        })
        .collect();
    let parent = Arc::new(Process::new("bash", "/bin/bash", &[]));
    let pod = |ns: &str, image: &str| {
        Some(Arc::new(Container {
            id: "0123456789abcdef".into(),
            name: "web".into(),
            image_repository: image.into(),
            k8s: Some(Pod { ns: ns.into(), name: "web-1".into(), ..Default::default() }),
            ..Default::default()
        }))
    };
    let containers = [None, pod("prod", "docker.io/acme/web"), pod("kube-system", "registry.k8s.io/coredns/coredns")];
    // Sockets: every address and port, without or with a source (same family, loopback
    // or not), and unix sockets.
    let mut fds: Vec<Fd> = Vec::new();
    for (n, addr) in l.addrs.iter().enumerate() {
        for (m, port) in l.ports.iter().enumerate() {
            let client = match ((n + m) % 3, addr) {
                (0, _) => None,
                (1, IpAddr::V4(_)) => Some((IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)), 40000)),
                (1, IpAddr::V6(_)) => Some((IpAddr::V6("fd00::5".parse().unwrap_or(Ipv6Addr::LOCALHOST)), 40000)),
                (_, IpAddr::V4(_)) => Some((IpAddr::V4(Ipv4Addr::LOCALHOST), 40000)),
                (_, IpAddr::V6(_)) => Some((IpAddr::V6(Ipv6Addr::LOCALHOST), 40000)),
            };
            let proto = if m % 2 == 0 { L4Proto::Tcp } else { L4Proto::Udp };
            fds.push(Fd::inet(*addr, *port, client, proto).with_num(3));
            // A loopback source with a public destination (fd.net looks at both ends).
            if n % 5 == 0 {
                fds.push(Fd::inet(*addr, *port, Some((IpAddr::V4(Ipv4Addr::LOCALHOST), 1)), proto));
            }
        }
    }
    fds.extend(l.paths.iter().map(|p| Fd::unix(p.clone()).with_num(4)));
    let (mut events, mut dropped, mut bad) = (0usize, 0usize, Vec::new());
    let mut hits: BTreeMap<String, usize> = BTreeMap::new();
    let mut k = 0usize;
    for fd in &fds {
        for ret in RETS {
            // A rotating few processes and contexts per socket and result.
            for _ in 0..3 {
                k += 1;
                // A cheap hash, so the process and the context vary independently.
                let h = k.wrapping_mul(0x9e37_79b9) >> 5;
                let p = &procs[h % procs.len()];
                let mut ev = Event::new(EvtType::Connect, DEFAULT_FIXTURE_TIME_NS, p.clone());
                ev.fd = Some(fd.clone());
                ev.res = ret;
                ev.container = containers[(h / procs.len()) % containers.len()].clone();
                if (h / procs.len() / containers.len()).is_multiple_of(2) {
                    ev.ancestors = vec![parent.clone()].into();
                }
                events += 1;
                let (family, addr) = family_addr(&ev);
                let pass = needs.passes(family, addr, ret);
                assert_eq!(pass, needs.passes_event(&ev));
                dropped += usize::from(!pass);
                rs.for_each_match(&ev, |_, r| {
                    *hits.entry(r.name.clone()).or_default() += 1;
                    if !pass && bad.len() < 20 {
                        bad.push(format!("'{}': fd.name={:?} ret={ret} proc={}", r.name, fd.name(), p.name));
                    }
                });
            }
        }
    }
    println!("{label}: {needs:?}, {events} events over {} sockets, {dropped} dropped, matches: {hits:?}", fds.len());
    assert!(bad.is_empty(), "{label}: the pre-filter drops events that rules match:\n{}", bad.join("\n"));
    assert!(events > 1_000, "{label}: the test exercises nothing");
    assert!(dropped > 0 || needs == ConnectNeeds::pass_all(), "{label}: nothing dropped with {needs:?}");
    hits
}

#[test]
fn connect_prefilter_is_sound_on_generated_events() {
    let rs = RuleSet::default_pack().unwrap_or_else(|e| panic!("{e}"));
    let hits = check_rule_set("default pack", &rs);
    for &i in rs.by_type[EvtType::Connect.index()].iter() {
        let name = &rs.rules[i as usize].name;
        assert!(hits.get(name).copied().unwrap_or(0) > 0, "no generated event matches connect rule '{name}'");
    }
    // Rule files the fixtures load, as they are and with every rule enabled
    // (the Falco miner-port rule is disabled).
    for f in crate::kfilter::testutil::fixture_rule_files() {
        let rs = RuleSet::load_files(&f).unwrap_or_else(|e| panic!("{e}"));
        let name = format!("{f:?}");
        check_rule_set(&name, &rs);
        let texts: Vec<(String, String)> = f
            .iter()
            .map(|p| (p.display().to_string(), std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{e}"))))
            .collect();
        let with = |extra: &str| {
            let mut srcs: Vec<(&str, &str)> = texts.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
            srcs.push(("enable.yaml", extra));
            RuleSet::from_sources(&srcs)
        };
        // Enable every disabled rule that compiles when enabled (a disabled rule may
        // name fields no engine has).
        let mut enable = String::new();
        for st in rs.inactive_rules().filter(|s| s.inactive == Some(crate::Inactive::Disabled)) {
            let one = format!("- rule: {}\n  enabled: true\n", st.name);
            if with(&one).is_ok() {
                enable.push_str(&one);
            }
        }
        let all = with(&enable).unwrap_or_else(|e| panic!("{e}"));
        let hits = check_rule_set(&format!("{name} (all enabled)"), &all);
        let active_connect_rules = all.by_type[EvtType::Connect.index()].len();
        assert!(active_connect_rules == 0 || !hits.is_empty(), "{name}: no connect rule matched");
    }
}

#[test]
fn connect_prefilter_is_sound_on_tricky_conditions() {
    let need = |failed, loopback, unix| ConnectNeeds { failed, loopback, unix };
    let cases = [
        (
            "fd.typechar in (4, 6) and (evt.rawres >= 0 or evt.res = EINPROGRESS) and not fd.snet in (127.0.0.0/8, \"::1/128\")",
            need(false, false, false),
        ),
        (
            "evt.rawres = -115 and not fd.net in (127.0.0.0/9, 127.128.0.0/9, \"::1\") and fd.sport = 4444",
            need(false, false, false),
        ),
        ("not fd.snet in (0.0.0.0/0, \"::1\") and fd.sport = 443 and evt.res in (SUCCESS)", need(false, false, false)),
        ("not fd.snet in (\"::ffff:127.0.0.0/104\", \"::1\") and evt.rawres >= 0", need(false, true, true)),
        ("fd.net != 127.0.0.0/8 and fd.sport = 6443", need(true, true, false)),
        ("fd.snet in (126.0.0.0/7, \"::/127\") and fd.sport = 80", need(true, true, false)),
        ("fd.sip in (10.0.0.1, \"::ffff:127.0.0.1\") and evt.rawres >= 0", need(false, true, false)),
        ("not fd.sip != \"::1\" and evt.rawres >= 0", need(false, true, true)),
        ("fd.typechar = u and fd.name startswith /run/ and evt.rawres >= 0", need(false, false, true)),
        ("not fd.typechar in (4, 6) and evt.res != ECONNREFUSED", need(true, false, true)),
        ("not fd.snet in (10.0.0.0/8) and evt.rawres >= 0", need(false, true, true)),
        (
            "not evt.rawres < 0 and fd.sockfamily != unix and not fd.snet in (\"::/1\", 0.0.0.0/0)",
            need(false, false, false),
        ),
        ("evt.rawres in (0, -111) and fd.sip = 203.0.113.7", need(true, false, false)),
        ("fd.connected = true and fd.sport = 443", need(false, true, false)),
        ("fd.connected = false and fd.sport = 443", need(true, true, false)),
        // Either end passes fd.net / fd.ip: a loopback destination with another source matches.
        ("fd.net in (10.0.0.0/8) and fd.sport = 443", need(true, true, false)),
        ("fd.ip = 10.0.0.5 and evt.rawres >= 0", need(false, true, false)),
        // IPv4-mapped loopback destinations are in ::ffff:0:0/96.
        ("fd.snet in (\"::ffff:0:0/96\") and evt.rawres >= 0", need(false, true, false)),
    ];
    let rule = |i: usize, c: &str| {
        format!("- rule: t{i}\n  desc: d\n  condition: >\n    evt.type = connect and ({c})\n  output: o\n  priority: WARNING\n")
    };
    // Each rule alone (so that the filter drops something), then all together.
    let mut all = String::new();
    for (i, (cond, want)) in cases.iter().enumerate() {
        let y = rule(i, cond);
        let rs = RuleSet::from_sources(&[("tricky.yaml", &y)]).unwrap_or_else(|e| panic!("{e}"));
        let hits = check_rule_set(cond, &rs);
        assert_eq!(rs.connect_needs(), *want, "{cond}");
        assert!(hits.get(&format!("t{i}")).copied().unwrap_or(0) > 0, "no generated event matches '{cond}'");
        all.push_str(&y);
    }
    let rs = RuleSet::from_sources(&[("tricky.yaml", &all)]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rs.connect_needs(), ConnectNeeds::pass_all());
    check_rule_set("tricky conditions", &rs);
}
