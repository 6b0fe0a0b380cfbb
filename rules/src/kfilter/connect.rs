//! The in-kernel connect pre-filter: which connects the loaded rules can possibly match.
//!
//! Most connects are uninteresting to the rules: failed attempts (`ECONNREFUSED`,
//! `ENETUNREACH`), connects to loopback services and unix-socket connects (D-Bus,
//! nscd, the container runtime). The agent's connect probe drops them before they are
//! copied to userspace when no loaded rule can match them. This module derives the three
//! switches of that check from a compiled [`RuleSet`] ([`RuleSet::connect_needs`]) and
//! models the kernel check in userspace ([`ConnectNeeds::passes`]) so tests can prove
//! that the filter never drops a connect that some rule would alert on.
//!
//! The analysis is a sound over-approximation, like the open analysis: every rule
//! condition that applies to `connect` events is abstracted, node by node, into three
//! facts, each a claim "the condition is false for every connect of this class":
//! - `ok_only`: for every failed connect (`ret < 0 && ret != -EINPROGRESS`);
//! - `non_loopback_only`: for every inet connect whose destination is loopback (see
//!   [`ConnectNeeds::is_loopback`]);
//! - `inet_only`: for every unix-socket connect.
//!
//! Loopback is the kernel's (IPv4 `127.0.0.0/8`, IPv6 `::1`, IPv4-mapped
//! `::ffff:127.0.0.0/104`; the agent keeps mapped destinations IPv6), and networks are
//! judged as the matcher judges them: an IPv4 network also contains the IPv4-mapped IPv6
//! addresses of its range, an IPv6 network never contains an IPv4 address. So
//! `not fd.snet in (127.0.0.0/8, "::1/128")` is false for `127.0.0.1`, `::1` and
//! `::ffff:127.0.0.1` alike, while `not fd.snet in ("::ffff:127.0.0.0/104", "::1")` is
//! true for `127.0.0.1`. A negated test must cover all three classes; a positive test
//! must meet none (`fd.sip = "::ffff:127.0.0.1"`, `fd.snet in ("::ffff:0:0/96")` keep
//! loopback). `fd.ip`/`fd.net` look at both ends: only their negation constrains the
//! destination.
//!
//! A unix socket has no address: a comparison on an inet-only field (`fd.sip`,
//! `fd.snet`, `fd.sport`...) is false for it, but its negation is true, so
//! `not fd.snet in (...)` alone keeps unix connects.
//!
//! Unknown constructs (other fields, transformers, negations of anything but a single
//! comparison) abstract to "anything", which only costs precision.

use std::net::IpAddr;

use crate::fields::FieldId as F;
use crate::runtime::event::{Event, EvtType, FdKind};
use crate::runtime::matcher::{Check, Mode, Node, Pred};
use crate::runtime::pred::{Cidr, NumPred};
use crate::runtime::ruleset::RuleSet;

/// `AF_UNIX`, as the connect probe reports it.
pub const AF_UNIX: u16 = 1;
/// `AF_INET`.
pub const AF_INET: u16 = 2;
/// `AF_INET6`.
pub const AF_INET6: u16 = 10;
/// `EINPROGRESS`: a non-blocking connect that is under way is not a failure.
pub const EINPROGRESS: i64 = 115;

/// What the loaded connect rules need from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectNeeds {
    /// Some connect rule can match a connect that failed with an error other than
    /// EINPROGRESS (`ret < 0 && ret != -115`).
    pub failed: bool,
    /// Some connect rule can match a connect to a loopback address (`127.0.0.0/8` or
    /// `::1`; IPv4-mapped `::ffff:127.x` too).
    pub loopback: bool,
    /// Some connect rule can match a unix-socket connect (`AF_UNIX`).
    pub unix: bool,
}

impl ConnectNeeds {
    /// Everything passes.
    pub fn pass_all() -> ConnectNeeds {
        ConnectNeeds { failed: true, loopback: true, unix: true }
    }

    /// The kernel's loopback test: IPv4 `127.0.0.0/8`, IPv6 `::1`, and IPv4-mapped
    /// `::ffff:127.0.0.0/104`. (The deprecated IPv4-compatible `::127.0.0.1` is not
    /// loopback.)
    pub fn is_loopback(ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => a.octets()[0] == 127,
            IpAddr::V6(a) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.octets()[0] == 127),
        }
    }

    /// Userspace model of the kernel check: would the kernel emit this connect?
    /// `family` is `AF_INET` (2), `AF_INET6` (10) or `AF_UNIX` (1), `addr` the
    /// destination IP (`None` for unix sockets), `ret` the syscall result. Events of
    /// other families pass (unless failed).
    pub fn passes(&self, family: u16, addr: Option<IpAddr>, ret: i64) -> bool {
        if ret < 0 && ret != -EINPROGRESS && !self.failed {
            return false;
        }
        match family {
            AF_UNIX => self.unix,
            AF_INET | AF_INET6 => self.loopback || !addr.is_some_and(ConnectNeeds::is_loopback),
            _ => true,
        }
    }

    /// [`ConnectNeeds::passes`] for an event built by userspace: events other than
    /// connects pass; the family and address come from the fd (an inet fd's family is
    /// its server address's, as in the agent, which keeps mapped addresses IPv6).
    pub(crate) fn passes_event(&self, ev: &Event) -> bool {
        if ev.evt_type != EvtType::Connect {
            return true;
        }
        let (family, addr) = family_addr(ev);
        self.passes(family, addr, ev.res)
    }
}

/// The kernel's view of a userspace connect event: family and destination address.
pub(crate) fn family_addr(ev: &Event) -> (u16, Option<IpAddr>) {
    match ev.fd.as_ref().map(|f| f.kind()) {
        Some(FdKind::Inet { sip: sip @ IpAddr::V4(_), .. }) => (AF_INET, Some(*sip)),
        Some(FdKind::Inet { sip, .. }) => (AF_INET6, Some(*sip)),
        Some(FdKind::Unix) => (AF_UNIX, None),
        _ => (0, None),
    }
}

impl RuleSet {
    /// What the kernel must keep of connect events for the rules of this set (see the
    /// module documentation). With no connect rule at all: nothing (all false).
    pub fn connect_needs(&self) -> ConnectNeeds {
        let mut needs = ConnectNeeds { failed: false, loopback: false, unix: false };
        for &i in self.by_type[EvtType::Connect.index()].iter() {
            let Abs::Cube(c) = node(&self.rules[i as usize].cond) else { continue };
            needs.failed |= !c.ok_only;
            needs.loopback |= !c.non_loopback_only;
            needs.unix |= !c.inet_only;
        }
        needs
    }
}

/// Classes of connect events for which a condition is known to be false.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cube {
    /// False for every connect with `ret < 0 && ret != -EINPROGRESS`.
    ok_only: bool,
    /// False for every inet connect to a loopback destination.
    non_loopback_only: bool,
    /// False for every unix-socket connect.
    inet_only: bool,
}

/// The abstraction of a condition on connect events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Abs {
    /// Never true for a connect event.
    Bottom,
    Cube(Cube),
}

impl Abs {
    const TOP: Abs = Abs::Cube(Cube { ok_only: false, non_loopback_only: false, inet_only: false });

    fn and(self, other: Abs) -> Abs {
        let (Abs::Cube(a), Abs::Cube(b)) = (self, other) else { return Abs::Bottom };
        Abs::Cube(Cube {
            ok_only: a.ok_only || b.ok_only,
            non_loopback_only: a.non_loopback_only || b.non_loopback_only,
            inet_only: a.inet_only || b.inet_only,
        })
    }

    fn or(self, other: Abs) -> Abs {
        let (a, b) = match (self, other) {
            (Abs::Bottom, x) | (x, Abs::Bottom) => return x,
            (Abs::Cube(a), Abs::Cube(b)) => (a, b),
        };
        Abs::Cube(Cube {
            ok_only: a.ok_only && b.ok_only,
            non_loopback_only: a.non_loopback_only && b.non_loopback_only,
            inet_only: a.inet_only && b.inet_only,
        })
    }
}

fn node(n: &Node) -> Abs {
    match n {
        Node::Const(true) => Abs::TOP,
        Node::Const(false) => Abs::Bottom,
        Node::And(v) => v.iter().fold(Abs::TOP, |acc, x| acc.and(node(x))),
        Node::Or(v) => v.iter().fold(Abs::Bottom, |acc, x| acc.or(node(x))),
        // Only a negated comparison is understood (exceptions, `not fd.snet in (...)`).
        Node::Not(x) => match &**x {
            Node::Check(c) => check(c, true),
            _ => Abs::TOP,
        },
        Node::Check(c) => check(c, false),
    }
}

/// No transformer and no field argument.
fn bare(c: &Check) -> bool {
    c.xf.is_empty() && c.field.index.is_none() && c.field.key.is_none()
}

/// One value, no transformer, no argument.
fn plain(c: &Check) -> bool {
    bare(c) && c.mode == Mode::Single
}

/// The abstraction of `c` (`negated`: of `not c`).
fn check(c: &Check, negated: bool) -> Abs {
    if let (true, F::EvtType, Pred::Types(m)) = (plain(c), c.field.id, &c.pred) {
        // `evt.type` always has a value: `not` flips the test exactly.
        if (m & (1 << EvtType::Connect.index()) != 0) == negated {
            return Abs::Bottom;
        }
    }
    if !negated && empty_set(&c.pred) {
        // `x in ()`: never true (an empty list).
        return Abs::Bottom;
    }
    Abs::Cube(Cube {
        ok_only: ok_only(c, negated),
        non_loopback_only: non_loopback_only(c, negated),
        inet_only: inet_only(c, negated),
    })
}

/// A set test against an empty set: false for every value (and for a missing one).
fn empty_set(p: &Pred) -> bool {
    match p {
        Pred::Str(crate::runtime::pred::StrPred::In { pats, .. }) => pats.is_empty(),
        Pred::Num(NumPred::In(v)) => v.is_empty(),
        Pred::Ip { set, eq: true } => set.is_empty(),
        Pred::Net { nets, eq: true } => nets.is_empty(),
        _ => false,
    }
}

/// Whether (`not`) `c` is false for every failed connect. `evt.rawres`, `evt.res` and
/// `fd.connected` always have a value, so a negation flips the test exactly. (`fd.num` of a connect is
/// the socket, not the result.)
fn ok_only(c: &Check, negated: bool) -> bool {
    if !plain(c) {
        return false;
    }
    match (c.field.id, &c.pred) {
        // `fd.connected` of a connect is true exactly when it succeeded or is in progress.
        (F::FdConnected, Pred::Bool { value, eq }) => (*value != *eq) == negated,
        (F::EvtRawres, Pred::Num(p)) if negated => accepts_all_failures(p),
        (F::EvtRawres, Pred::Num(p)) => !accepts_failure(p),
        // `evt.res` of a failure is its errno name; only -EINPROGRESS is "EINPROGRESS".
        (F::EvtRes, Pred::Str(p)) => {
            crate::fields::errno::failure_names().filter(|n| *n != "EINPROGRESS").all(|n| p.test(n) == negated)
        }
        _ => false,
    }
}

/// Whether `p` accepts some `n < 0` other than `-EINPROGRESS`.
fn accepts_failure(p: &NumPred) -> bool {
    use crate::syntax::ast::Op;
    match p {
        NumPred::In(v) => v.iter().any(|n| *n < 0 && *n != -EINPROGRESS),
        NumPred::Cmp(op, x) => match op {
            Op::Eq => *x < 0 && *x != -EINPROGRESS,
            // `i64::MIN` (`<=`), or one of two failures (`!=`).
            Op::Ne | Op::Le => true,
            Op::Lt => *x > i64::MIN,
            // -1 is the largest failure.
            Op::Gt => *x < -1,
            _ => *x <= -1,
        },
    }
}

/// Whether `p` accepts every `n < 0` other than `-EINPROGRESS`.
fn accepts_all_failures(p: &NumPred) -> bool {
    use crate::syntax::ast::Op;
    match p {
        NumPred::In(_) => false,
        NumPred::Cmp(op, x) => match op {
            Op::Eq | Op::Gt => false,
            Op::Ne => *x >= 0 || *x == -EINPROGRESS,
            Op::Lt => *x >= 0,
            Op::Le => *x >= -1,
            _ => *x == i64::MIN,
        },
    }
}

/// Whether (`not`) `c` is false for every inet connect to a loopback destination.
///
/// `fd.sip`/`fd.rip`/`fd.snet`/`fd.rnet` are the destination, which an inet fd always has, so a
/// negation flips the test exactly. `fd.ip`/`fd.net` test "destination or source":
/// `not fd.net in (N)` implies `not fd.snet in (N)`, while a positive test can pass on
/// the source alone.
fn non_loopback_only(c: &Check, negated: bool) -> bool {
    if !bare(c) {
        return false;
    }
    if let (Some((_, inet_values)), Pred::Str(p), Mode::Single) = (socket_kind_values(c.field.id), &c.pred, c.mode) {
        // False for every inet socket (`fd.typechar = u`): a fortiori for loopback ones.
        return inet_values.iter().all(|v| p.test(v) == negated);
    }
    let pred_eq = match &c.pred {
        Pred::Ip { eq, .. } | Pred::Net { eq, .. } => *eq,
        _ => return false,
    };
    // The test the destination must pass: (destination in the set) == eq.
    let eq = match (c.field.id, c.mode) {
        (F::FdSip | F::FdRip | F::FdSnet | F::FdRnet, Mode::Single) => pred_eq != negated,
        (F::FdIp | F::FdNet, Mode::Any) if negated => !pred_eq,
        _ => return false,
    };
    match &c.pred {
        // Addresses compare exactly (`127.0.0.1` is not `::ffff:127.0.0.1`); a set cannot
        // hold every loopback address.
        Pred::Ip { set, .. } => eq && !set.iter().any(|ip| ConnectNeeds::is_loopback(*ip)),
        Pred::Net { nets, .. } if eq => !nets_meet_loopback(nets),
        Pred::Net { nets, .. } => nets_cover_loopback(nets),
        _ => false,
    }
}

/// An inclusive range of addresses.
type Range = (u128, u128);

/// IPv4 loopback, in the IPv4 space.
const LOOP4: Range = (0x7f00_0000, 0x7fff_ffff);
/// IPv6 loopback classes: `::1` and `::ffff:127.0.0.0/104`.
const LOOP6: [Range; 2] = [(1, 1), (0xffff_7f00_0000, 0xffff_7fff_ffff)];
/// `::ffff:0.0.0.0`: IPv4-mapped addresses are this plus the IPv4 address.
const MAPPED: u128 = 0xffff_0000_0000;

/// The addresses of `c`, in its family's space.
fn range(c: &Cidr) -> Range {
    match c.addr {
        IpAddr::V4(a) => {
            let mask = if c.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(c.prefix.min(32))) };
            let lo = u32::from(a) & mask;
            (u128::from(lo), u128::from(lo | !mask))
        }
        IpAddr::V6(a) => {
            let mask = if c.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(c.prefix.min(128))) };
            let lo = u128::from(a) & mask;
            (lo, lo | !mask)
        }
    }
}

/// What `nets` contain, as [`Cidr::contains`] decides it: IPv4 addresses by IPv4
/// networks; IPv6 addresses by IPv6 networks, and IPv4-mapped IPv6 addresses also by
/// IPv4 networks. Returns (IPv4 space, IPv6 space).
fn spaces(nets: &[Cidr]) -> (Vec<Range>, Vec<Range>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for c in nets {
        let r = range(c);
        if c.addr.is_ipv4() {
            v4.push(r);
            v6.push((MAPPED | r.0, MAPPED | r.1));
        } else {
            v6.push(r);
        }
    }
    (v4, v6)
}

/// Whether the union of `ranges` contains every address of `want`.
fn covers(mut ranges: Vec<Range>, want: Range) -> bool {
    ranges.sort_unstable();
    let mut next = want.0;
    for (lo, hi) in ranges {
        if lo > next {
            return false;
        }
        if hi >= next {
            if hi >= want.1 {
                return true;
            }
            next = hi + 1;
        }
    }
    false
}

fn meets(a: Range, b: Range) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// Some loopback destination is in `nets`.
fn nets_meet_loopback(nets: &[Cidr]) -> bool {
    let (v4, v6) = spaces(nets);
    v4.iter().any(|r| meets(*r, LOOP4)) || v6.iter().any(|r| LOOP6.iter().any(|l| meets(*r, *l)))
}

/// Every loopback destination is in `nets`.
fn nets_cover_loopback(nets: &[Cidr]) -> bool {
    let (v4, v6) = spaces(nets);
    covers(v4, LOOP4) && LOOP6.iter().all(|l| covers(v6.clone(), *l))
}

/// Fields only inet sockets have: missing for a unix socket, where every comparison
/// (whatever the operator, transformer or mode) is false.
fn inet_field(id: F) -> bool {
    matches!(
        id,
        F::FdSip
            | F::FdSport
            | F::FdCip
            | F::FdCport
            | F::FdRip
            | F::FdRport
            | F::FdLip
            | F::FdLport
            | F::FdIp
            | F::FdSnet
            | F::FdCnet
            | F::FdNet
            | F::FdRnet
            | F::FdLnet
            | F::FdPort
            | F::FdL4proto
            | F::FdSipName
            | F::FdCipName
            | F::FdRipName
            | F::FdLipName
    )
}

/// For the fields naming the kind of socket (always present on a socket fd): the value
/// of a unix socket and the values of inet sockets.
fn socket_kind_values(id: F) -> Option<(&'static str, &'static [&'static str])> {
    match id {
        F::FdTypechar => Some(("u", &["4", "6"])),
        F::FdType => Some(("unix", &["ipv4", "ipv6"])),
        F::FdSockfamily => Some(("unix", &["ip"])),
        _ => None,
    }
}

/// Whether (`not`) `c` is false for every unix-socket connect.
fn inet_only(c: &Check, negated: bool) -> bool {
    if inet_field(c.field.id) {
        return !negated;
    }
    let Some((unix_value, _)) = socket_kind_values(c.field.id) else { return false };
    match (&c.pred, plain(c)) {
        // The value is present for a unix fd: a negation flips the test exactly.
        (Pred::Str(p), true) => p.test(unix_value) == negated,
        _ => false,
    }
}

#[cfg(test)]
mod soundness;
#[cfg(test)]
mod tests;
