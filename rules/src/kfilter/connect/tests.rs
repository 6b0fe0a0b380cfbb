//! Unit tests of the connect pre-filter: what each construct derives, and the kernel model.

use std::net::IpAddr;
use std::sync::Arc;

use super::*;
use crate::fields::Field;
use crate::runtime::event::{Fd, L4Proto, Process};
use crate::runtime::pred::StrPred;

const LISTS: &str = "- list: loopback_nets\n  items: [127.0.0.0/8, \"::1/128\"]\n- list: nothing\n  items: []\n";

fn rules_raw(conds: &[&str]) -> RuleSet {
    crate::kfilter::testutil::rules_with(LISTS, conds)
}

/// Needs of rules `evt.type = connect and (<cond>)`.
fn needs(conds: &[&str]) -> ConnectNeeds {
    let wrapped: Vec<String> = conds.iter().map(|c| format!("evt.type = connect and ({c})")).collect();
    rules_raw(&wrapped.iter().map(String::as_str).collect::<Vec<_>>()).connect_needs()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

const NONE: ConnectNeeds = ConnectNeeds { failed: false, loopback: false, unix: false };

#[test]
fn default_pack_needs() {
    let rs = RuleSet::default_pack().unwrap_or_else(|e| panic!("{e}"));
    assert!(rs.rules_for_type(EvtType::Connect) >= 5);
    let n = rs.connect_needs();
    println!("default pack connect needs: {n:?}");
    // Every default connect rule uses `outbound`: inet, successful or in progress, and not
    // to 127.0.0.0/8 or ::1 (nor ::ffff:127.x, which fd.snet compares with 127.0.0.0/8).
    assert_eq!(n, NONE);
    for (family, addr, ret, pass) in [
        (AF_INET, Some("203.0.113.7"), 0, true),
        (AF_INET, Some("203.0.113.7"), -115, true),
        (AF_INET, Some("203.0.113.7"), -111, false),
        (AF_INET, Some("10.0.0.1"), 0, true),
        (AF_INET, Some("127.0.0.53"), 0, false),
        (AF_INET6, Some("::1"), 0, false),
        (AF_INET6, Some("::ffff:127.0.0.1"), 0, false),
        (AF_INET6, Some("::ffff:10.0.0.1"), 0, true),
        (AF_INET6, Some("2001:db8::1"), -115, true),
        (AF_INET6, Some("2001:db8::1"), -13, false),
        (AF_UNIX, None, 0, false),
    ] {
        assert_eq!(n.passes(family, addr.map(ip), ret), pass, "{family} {addr:?} {ret}");
    }
}

fn failed(cond: &str) -> bool {
    needs(&[&format!("fd.typechar = 4 and fd.sip = 10.0.0.1 and ({cond})")]).failed
}

#[test]
fn ok_only() {
    for (cond, can_fail) in [
        ("evt.rawres >= 0", false),
        ("evt.rawres > -1", false),
        ("evt.rawres = 0", false),
        ("evt.rawres in (0, -115)", false),
        ("evt.rawres = -115", false),
        ("evt.rawres >= 0 or evt.res = EINPROGRESS", false),
        ("evt.rawres >= 0 or evt.rawres = -115", false),
        ("evt.res = SUCCESS", false),
        ("evt.res = EINPROGRESS", false),
        ("evt.res in (SUCCESS, EINPROGRESS)", false),
        ("evt.res = SUCCESS or evt.res = EINPROGRESS", false),
        ("not evt.rawres < 0", false),
        ("not evt.rawres != -115", false),
        ("not evt.res != SUCCESS", false),
        ("not evt.rawres < -115", true),
        ("evt.rawres in (0, -111)", true),
        ("evt.rawres > -2", true),
        ("evt.rawres > -115", true),
        ("evt.rawres >= -115", true),
        ("evt.rawres != -111", true),
        ("evt.rawres < 0", true),
        ("evt.res = ECONNREFUSED", true),
        ("evt.res != ECONNREFUSED", true),
        ("evt.res in (EINPROGRESS, EALREADY)", true),
        // EINTR, EINVAL.
        ("evt.res startswith EIN", true),
        ("not evt.res = EPERM", true),
        ("not evt.rawres exists", true),
        ("tolower(evt.res) startswith success", true),
        // For a connect, fd.num is the socket (unlike opens, not the result).
        ("fd.num >= 0", true),
        ("evt.rawres >= 0 or proc.name = curl", true),
        ("evt.rawres >= 0 and proc.name = curl", false),
        ("proc.name = curl", true),
        ("fd.connected = true", false),
        ("fd.connected = false", true),
        ("not fd.connected = false", false),
        ("not fd.connected = true", true),
        ("fd.connected != true", true),
    ] {
        assert_eq!(failed(cond), can_fail, "{cond}");
    }
}

#[test]
fn einprogress_is_the_only_failure_named_so() {
    for e in 1..5000 {
        assert_eq!(crate::fields::errno::res_name(-e) == "EINPROGRESS", e == EINPROGRESS, "{e}");
    }
}

fn loopback(cond: &str) -> bool {
    needs(&[&format!("fd.typechar in (4, 6) and evt.rawres >= 0 and ({cond})")]).loopback
}

#[test]
fn non_loopback_only() {
    for (cond, keeps_loopback) in [
        ("not fd.snet in (127.0.0.0/8, \"::1/128\")", false),
        ("not fd.snet in (loopback_nets)", false),
        ("not fd.snet in (10.0.0.0/8, 127.0.0.0/8, \"::1\")", false),
        // Host bits in a network are ignored by the matcher.
        ("not fd.snet in (127.0.0.1/8, \"::1\")", false),
        // The union of networks counts.
        ("not fd.snet in (127.0.0.0/9, 127.128.0.0/9, \"::1\")", false),
        ("not fd.snet in (0.0.0.0/0, \"::/0\")", false),
        // IPv4 networks also contain IPv4-mapped IPv6 addresses: ::ffff:127.x is covered.
        ("not fd.snet in (0.0.0.0/0, \"::1\")", false),
        ("not fd.snet in (127.0.0.0/8, \"::ffff:127.0.0.0/104\", \"::1\")", false),
        ("fd.snet != 127.0.0.0/8 and not fd.snet in (127.0.0.0/8, \"::1\")", false),
        // `not fd.net in (N)`: neither end in N, so not the destination.
        ("not fd.net in (127.0.0.0/8, \"::1/128\")", false),
        ("not fd.rip = 127.0.0.1 and not fd.snet in (loopback_nets)", false),
        ("not fd.snet in (127.0.0.0/8)", true),
        ("not fd.snet in (\"::1/128\")", true),
        ("not fd.snet in (127.0.0.0/9, \"::1\")", true),
        ("not fd.snet in (\"::/0\")", true),
        // An IPv6 network does not contain an IPv4 address: 127.0.0.1 passes.
        ("not fd.snet in (\"::ffff:127.0.0.0/104\", \"::1\")", true),
        ("fd.snet != 127.0.0.0/8", true),
        // Sound but imprecise: the conjunction excludes every loopback address, each side alone does not.
        ("fd.snet != 127.0.0.0/8 and fd.snet != \"::1/128\"", true),
        ("not fd.cnet in (127.0.0.0/8, \"::1\")", true),
        ("not fd.snet in (nothing)", true),
        // Positive tests on the destination.
        ("fd.snet in (10.0.0.0/8, \"fd00::/8\", \"::ffff:10.0.0.0/104\")", false),
        ("fd.snet in (nothing)", false),
        ("fd.snet in (0.0.0.0/0)", true),
        ("fd.snet in (126.0.0.0/7)", true),
        ("fd.snet in (\"::/127\")", true),
        ("fd.snet in (\"::ffff:0:0/96\")", true),
        ("fd.snet in (\"::/0\")", true),
        ("fd.sip = 10.0.0.1", false),
        ("fd.sip in (10.0.0.1, \"2001:db8::1\", \"::2\", \"::127.0.0.1\")", false),
        ("fd.rip = 10.0.0.1", false),
        ("not fd.sip != 10.0.0.1", false),
        ("fd.sip in (10.0.0.1, 127.0.0.53)", true),
        ("fd.sip = \"::1\"", true),
        ("fd.sip = \"::ffff:127.0.0.1\"", true),
        ("fd.sip != 127.0.0.1", true),
        ("not fd.sip = 127.0.0.1", true),
        ("fd.sip startswith \"10.\"", true),
        // A name's addresses are only known at run time (localhost is loopback).
        ("fd.sip.name = \"localhost\"", true),
        ("fd.sip.name != \"localhost\"", true),
        // fd.ip / fd.net: either end may pass a positive test.
        ("fd.ip = 10.0.0.1", true),
        ("fd.net in (10.0.0.0/8)", true),
        ("fd.net != 127.0.0.0/8", true),
        ("not fd.ip = 127.0.0.1", true),
        ("fd.cip = 10.0.0.1", true),
        // Connectives.
        ("(not fd.snet in (loopback_nets)) or fd.sip = 10.0.0.1", false),
        ("(not fd.snet in (loopback_nets)) or proc.name = curl", true),
        ("not (fd.snet in (loopback_nets) or proc.name = curl)", true),
        ("proc.name = curl", true),
    ] {
        assert_eq!(loopback(cond), keeps_loopback, "{cond}");
    }
    // A rule only on unix sockets needs no inet connect at all.
    for (cond, keeps_loopback) in [
        ("fd.typechar = u", false),
        ("fd.type = unix", false),
        ("fd.sockfamily = unix", false),
        ("not fd.typechar in (4, 6)", false),
        ("fd.sockfamily != ip", false),
        ("fd.typechar in (u, 6)", true),
        ("fd.typechar != u", true),
        ("fd.typechar exists", true),
    ] {
        assert_eq!(needs(&[&format!("evt.rawres >= 0 and {cond}")]).loopback, keeps_loopback, "{cond}");
    }
}

fn unix(cond: &str) -> bool {
    needs(&[&format!("evt.rawres >= 0 and ({cond})")]).unix
}

#[test]
fn inet_only() {
    for (cond, keeps_unix) in [
        ("fd.typechar in (4, 6)", false),
        ("fd.typechar = 4", false),
        ("fd.typechar != u", false),
        ("not fd.typechar = u", false),
        ("fd.type in (ipv4, ipv6)", false),
        ("fd.type = ipv6", false),
        ("fd.sockfamily = ip", false),
        ("fd.sockfamily != unix", false),
        // Values only inet sockets have: any test on them is false for a unix socket.
        ("fd.sport = 4444", false),
        ("fd.sport != 4444", false),
        ("fd.l4proto = tcp", false),
        ("fd.l4proto != <NA>", false),
        ("fd.sip exists", false),
        ("fd.sip != 10.0.0.1", false),
        ("fd.sip.name != \"db.example\"", false),
        ("fd.ip != 10.0.0.1", false),
        ("fd.net != 127.0.0.0/8", false),
        ("fd.cport > 0", false),
        ("len(fd.sip) > 3", false),
        ("fd.typechar = u", true),
        ("fd.typechar in (4, 6, u)", true),
        ("not fd.typechar in (4, 6)", true),
        ("fd.type = unix", true),
        ("fd.sockfamily = unix", true),
        ("fd.typechar exists", true),
        ("toupper(fd.typechar) = 4", true),
        // A negated test on a missing value is true: `not fd.snet in (...)` matches unix sockets.
        ("not fd.snet in (loopback_nets)", true),
        ("not fd.sip exists", true),
        ("fd.l4proto = <NA>", true),
        ("fd.name startswith /run/", true),
        ("proc.name = curl", true),
        ("fd.typechar = 4 or proc.name = curl", true),
        ("fd.typechar = 4 or fd.sport = 53", false),
    ] {
        assert_eq!(unix(cond), keeps_unix, "{cond}");
    }
}

fn chk(field: &str, mode: Mode, pred: Pred) -> Node {
    Node::Check(Box::new(Check::new(Field::resolve(field, None).unwrap(), Box::new([]), mode, pred)))
}

#[test]
fn bottom_and_top_algebra() {
    use crate::syntax::ast::Op;
    let ok = || chk("evt.rawres", Mode::Single, Pred::Num(NumPred::Cmp(Op::Ge, 0)));
    let inet = || chk("fd.typechar", Mode::Single, Pred::Str(StrPred::set(vec!["4".into(), "6".into()])));
    let nets = || {
        let nets = ["127.0.0.0/8", "::1/128"].map(|s| Cidr::parse(s).unwrap());
        chk("fd.snet", Mode::Single, Pred::Net { nets: nets.into(), eq: true })
    };
    let connect = || chk("evt.type", Mode::Single, Pred::Types(1 << EvtType::Connect.index()));
    let execve = || chk("evt.type", Mode::Single, Pred::Types(1 << EvtType::Execve.index()));
    let cube = |o: bool, l: bool, i: bool| Abs::Cube(Cube { ok_only: o, non_loopback_only: l, inet_only: i });
    let not = |n: Node| Node::Not(Box::new(n));
    assert_eq!(node(&Node::Const(false)), Abs::Bottom);
    assert_eq!(node(&Node::Const(true)), Abs::TOP);
    assert_eq!(node(&Node::Or(Box::new([]))), Abs::Bottom);
    assert_eq!(node(&Node::And(Box::new([]))), Abs::TOP);
    assert_eq!(node(&Node::And(vec![ok(), inet(), not(nets())].into())), cube(true, true, true));
    assert_eq!(node(&Node::Or(vec![ok(), inet()].into())), cube(false, false, false));
    assert_eq!(node(&Node::Or(vec![Node::Const(false), ok()].into())), cube(true, false, false));
    assert_eq!(node(&Node::And(vec![Node::Const(false), ok()].into())), Abs::Bottom);
    // `fd.snet in (loopback)` is true only for loopback destinations; its negation
    // excludes them, and is true for unix sockets.
    assert_eq!(node(&nets()), cube(false, false, true));
    assert_eq!(node(&not(nets())), cube(false, true, false));
    assert_eq!(node(&not(Node::Const(false))), Abs::TOP);
    assert_eq!(node(&not(Node::And(vec![ok(), inet()].into()))), Abs::TOP);
    // Event types.
    assert_eq!(node(&execve()), Abs::Bottom);
    assert_eq!(node(&not(connect())), Abs::Bottom);
    assert_eq!(node(&connect()), Abs::TOP);
    assert_eq!(node(&not(execve())), Abs::TOP);
    assert_eq!(
        node(&Node::Or(vec![Node::And(vec![execve(), ok()].into()), Node::And(vec![connect(), inet()].into())].into())),
        cube(false, false, true)
    );
    // Mode::Any: only the negation of fd.net constrains the destination.
    let net_any = |eq: bool| {
        let nets = ["127.0.0.0/8", "::1/128"].map(|s| Cidr::parse(s).unwrap());
        chk("fd.net", Mode::Any, Pred::Net { nets: nets.into(), eq })
    };
    assert_eq!(node(&not(net_any(true))), cube(false, true, false));
    assert_eq!(node(&net_any(false)), cube(false, false, true));
    assert_eq!(node(&not(net_any(false))), cube(false, false, false));
}

#[test]
fn branches_for_other_types_and_empty_sets() {
    let rs = rules_raw(&[
        "(evt.type = execve and proc.name = bash) or (evt.type = connect and fd.typechar = 4 and evt.rawres >= 0 and fd.sip = 10.0.0.1)",
    ]);
    let c = &rs.rules[0].cond;
    assert_eq!(rs.connect_needs(), NONE, "{c:#?}");
    // A rule that cannot match (empty list) contributes nothing.
    assert_eq!(needs(&["proc.name in (nothing)"]), NONE);
    // Rules combine: each switch is needed by some rule.
    let n = needs(&[
        "fd.typechar = 4 and not fd.snet in (loopback_nets)",
        "evt.rawres >= 0 and fd.typechar = u",
        "evt.rawres = 0 and fd.sport = 53",
    ]);
    assert_eq!(n, ConnectNeeds { failed: true, loopback: true, unix: true });
    let n = needs(&["fd.typechar = 4 and not fd.snet in (loopback_nets)", "evt.rawres = 0 and fd.sport = 53"]);
    assert_eq!(n, ConnectNeeds { failed: true, loopback: true, unix: false });
}

#[test]
fn no_connect_rules() {
    let rs = rules_raw(&["evt.type = execve and proc.name = bash", "evt.type = openat and fd.name = /etc/shadow"]);
    assert_eq!(rs.connect_needs(), NONE);
    assert_eq!(RuleSet::default().connect_needs(), NONE);
    // A rule without an evt.type test applies to connects too.
    let rs = rules_raw(&["proc.name = nc"]);
    assert_eq!(rs.connect_needs(), ConnectNeeds::pass_all());
}

#[test]
fn passes_semantics() {
    assert!(ConnectNeeds::is_loopback(ip("127.0.0.1")) && ConnectNeeds::is_loopback(ip("127.255.255.255")));
    assert!(ConnectNeeds::is_loopback(ip("::1")) && ConnectNeeds::is_loopback(ip("::ffff:127.0.0.1")));
    assert!(ConnectNeeds::is_loopback(ip("::ffff:127.255.0.1")));
    for x in ["126.255.255.255", "128.0.0.1", "0.0.0.0", "::", "::2", "::127.0.0.1", "::ffff:10.0.0.1", "::1:0:0:1"] {
        assert!(!ConnectNeeds::is_loopback(ip(x)), "{x}");
    }
    let all = ConnectNeeds::pass_all();
    let none = NONE;
    for (family, addr, ret, pass_none) in [
        (AF_INET, Some("8.8.8.8"), 0, true),
        (AF_INET, Some("8.8.8.8"), 3, true),
        (AF_INET, Some("8.8.8.8"), -115, true),
        (AF_INET, Some("8.8.8.8"), -111, false),
        (AF_INET, Some("8.8.8.8"), -1, false),
        (AF_INET, Some("8.8.8.8"), i64::MIN, false),
        (AF_INET, Some("127.0.0.1"), 0, false),
        (AF_INET, Some("127.0.0.1"), -115, false),
        (AF_INET, None, 0, true),
        (AF_INET6, Some("::1"), 0, false),
        (AF_INET6, Some("::ffff:127.0.0.1"), 0, false),
        (AF_INET6, Some("::127.0.0.1"), 0, true),
        (AF_INET6, Some("fe80::1"), 0, true),
        (AF_UNIX, None, 0, false),
        (AF_UNIX, None, -2, false),
        // Other families pass unless failed.
        (16, None, 0, true),
        (0, None, 0, true),
        (16, None, -13, false),
    ] {
        let addr = addr.map(ip);
        assert_eq!(none.passes(family, addr, ret), pass_none, "{family} {addr:?} {ret}");
        assert!(all.passes(family, addr, ret), "{family} {addr:?} {ret}");
    }
    let keep_failed = ConnectNeeds { failed: true, ..NONE };
    assert!(keep_failed.passes(AF_INET, Some(ip("8.8.8.8")), -111));
    assert!(!keep_failed.passes(AF_INET, Some(ip("127.0.0.1")), -111));
    assert!(!keep_failed.passes(AF_UNIX, None, -111));
    let keep_loop = ConnectNeeds { loopback: true, ..NONE };
    assert!(keep_loop.passes(AF_INET6, Some(ip("::ffff:127.0.0.1")), -115));
    assert!(!keep_loop.passes(AF_INET6, Some(ip("::1")), -111) && !keep_loop.passes(AF_UNIX, None, 0));
    let keep_unix = ConnectNeeds { unix: true, ..NONE };
    assert!(keep_unix.passes(AF_UNIX, None, 0) && !keep_unix.passes(AF_UNIX, None, -13));
    assert!(!keep_unix.passes(AF_INET, Some(ip("127.0.0.1")), 0));
}

#[test]
fn passes_event_reads_the_fd() {
    let p = Arc::new(Process::new("curl", "/usr/bin/curl", &[]));
    let ev = |fd: Option<Fd>, res: i64| {
        let mut e = Event::new(EvtType::Connect, 0, p.clone());
        e.fd = fd;
        e.res = res;
        e
    };
    let inet = |s: &str| Some(Fd::inet(ip(s), 80, None, L4Proto::Tcp));
    let n = NONE;
    assert!(n.passes_event(&ev(inet("8.8.8.8"), 0)));
    assert!(!n.passes_event(&ev(inet("8.8.8.8"), -111)));
    assert!(!n.passes_event(&ev(inet("127.0.0.1"), 0)));
    assert!(!n.passes_event(&ev(inet("::ffff:127.0.0.1"), 0)));
    assert!(!n.passes_event(&ev(Some(Fd::unix("/run/x.sock")), 0)));
    assert!(n.passes_event(&ev(None, 0)));
    assert_eq!(family_addr(&ev(inet("::ffff:127.0.0.1"), 0)), (AF_INET6, Some(ip("::ffff:127.0.0.1"))));
    assert_eq!(family_addr(&ev(inet("10.0.0.1"), 0)), (AF_INET, Some(ip("10.0.0.1"))));
    assert_eq!(family_addr(&ev(Some(Fd::unix("")), 0)), (AF_UNIX, None));
    // Other event types pass.
    let mut open = ev(Some(Fd::file("/etc/shadow", 0, 0)), -13);
    open.evt_type = EvtType::Openat;
    assert!(n.passes_event(&open));
}

/// The matcher behaviours the analysis relies on, checked on events.
#[test]
fn matcher_facts() {
    let rs = rules_raw(&[
        "evt.type = connect and not fd.snet in (127.0.0.0/8, \"::1/128\")",
        "evt.type = connect and not fd.net in (127.0.0.0/8, \"::1/128\")",
        "evt.type = connect and fd.net != 127.0.0.0/8",
    ]);
    let p = Arc::new(Process::new("curl", "/usr/bin/curl", &[]));
    let hits = |fd: Fd| {
        let mut e = Event::new(EvtType::Connect, 0, p.clone());
        e.fd = Some(fd);
        let mut v = Vec::new();
        rs.for_each_match(&e, |_, r| v.push(r.name.clone()));
        v
    };
    let inet = |s: &str, c: Option<&str>| Fd::inet(ip(s), 80, c.map(|c| (ip(c), 40000)), L4Proto::Tcp);
    // An IPv4-mapped loopback destination is in 127.0.0.0/8 for fd.snet.
    assert_eq!(hits(inet("::ffff:127.0.0.1", None)), Vec::<String>::new());
    assert_eq!(hits(inet("::ffff:10.0.0.1", None)), ["r0", "r1", "r2"]);
    // A unix socket has no address: `not fd.snet in (...)` / `not fd.net in (...)` are true.
    assert_eq!(hits(Fd::unix("/run/x.sock")), ["r0", "r1"]);
    // fd.net looks at both ends: a loopback destination with another source passes `!=`.
    assert_eq!(hits(inet("127.0.0.1", Some("10.0.0.5"))), ["r2"]);
    assert_eq!(hits(inet("10.0.0.1", Some("127.0.0.1"))), ["r0", "r2"]);
}
