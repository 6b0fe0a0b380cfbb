//! The in-kernel socket pre-filter: which address families (`domain`) of a
//! `socket` call the loaded rules can possibly match.
//!
//! Every process opens sockets (DNS lookups, HTTP clients, logging), while the
//! rules on `socket` look for one rare family (`evt.arg.domain contains
//! AF_PACKET`: a sniffer). [`RuleSet::socket_needs`] derives the families to
//! keep; the exit probe drops any other socket call right after reading its
//! arguments, before a record is built. [`SocketNeeds::passes`] is the kernel
//! check in userspace, which the rule fixtures run so a filter that would hide
//! an alert fails them.
//!
//! The analysis is `mask`'s. `evt.arg.domain` (the family's name as Lanner
//! renders it, [`socket_domain_name`]) and `evt.rawarg.domain` (its number)
//! narrow it with any string or numeric test, judged on each family 0..63;
//! the kernel keeps every family from 64 on (no such family exists today, the
//! call fails, and a rule could still name the number).

use crate::runtime::event::{Event, EvtType};
use crate::runtime::matcher::Check;
use crate::runtime::ruleset::RuleSet;

use super::mask::{event_passes, mask_passes, named_arg_leaf, needs_mask, Abs};

/// Address family names by number, as Falco prints them (`AF_UNIX` for 1).
#[rustfmt::skip]
const DOMAINS: [&str; 46] = [
    "AF_UNSPEC", "AF_UNIX", "AF_INET", "AF_AX25", "AF_IPX", "AF_APPLETALK", "AF_NETROM", "AF_BRIDGE",
    "AF_ATMPVC", "AF_X25", "AF_INET6", "AF_ROSE", "AF_DECnet", "AF_NETBEUI", "AF_SECURITY", "AF_KEY",
    "AF_NETLINK", "AF_PACKET", "AF_ASH", "AF_ECONET", "AF_ATMSVC", "AF_RDS", "AF_SNA", "AF_IRDA", "AF_PPPOX",
    "AF_WANPIPE", "AF_LLC", "AF_IB", "AF_MPLS", "AF_CAN", "AF_TIPC", "AF_BLUETOOTH", "AF_IUCV", "AF_RXRPC",
    "AF_ISDN", "AF_PHONET", "AF_IEEE802154", "AF_CAIF", "AF_ALG", "AF_NFC", "AF_VSOCK", "AF_KCM", "AF_QIPCRTR",
    "AF_SMC", "AF_XDP", "AF_MCTP",
];

/// The name of address family `d` (`None` past the known ones: shown as the number).
pub fn socket_domain_name(d: u64) -> Option<&'static str> {
    DOMAINS.get(usize::try_from(d).ok()?).copied()
}

/// `evt.arg.domain`'s text for family `d`.
fn domain_text(d: i64) -> String {
    socket_domain_name(d as u64).map_or_else(|| d.to_string(), str::to_string)
}

/// What the loaded socket rules need from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketNeeds {
    /// `None`: any family may match. `Some(mask)`: only a family `d` in 0..63
    /// with bit `d` set, or any from 64 on (no socket rule at all: `Some(0)`).
    pub domains: Option<u64>,
}

impl SocketNeeds {
    /// Everything passes.
    pub fn pass_all() -> SocketNeeds {
        SocketNeeds { domains: None }
    }

    /// The kernel's check: keep a `socket` call on family `domain`?
    pub fn passes(&self, domain: u64) -> bool {
        mask_passes(self.domains, domain)
    }

    /// [`SocketNeeds::passes`] for an event (other event types always pass): the
    /// family's number, or the number of its name (a fixture may give only that).
    pub(crate) fn passes_event(&self, ev: &Event) -> bool {
        event_passes(self.domains, ev, EvtType::Socket, "domain", &DOMAINS)
    }
}

impl RuleSet {
    /// The `socket` families the kernel must keep for the rules of this set.
    pub fn socket_needs(&self) -> SocketNeeds {
        SocketNeeds { domains: needs_mask(self, &[EvtType::Socket], &leaf) }
    }
}

fn leaf(c: &Check) -> Abs {
    named_arg_leaf(c, "domain", domain_text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::event::{EvtArg, Process};

    fn needs(conds: &[&str]) -> Option<u64> {
        crate::kfilter::testutil::rules_with("", conds).socket_needs().domains
    }

    const PACKET: u64 = 1 << 17;

    #[test]
    fn families_are_narrowed_by_domain_tests() {
        assert_eq!(needs(&["evt.type = open"]), Some(0), "no socket rule: nothing to keep");
        assert_eq!(needs(&["evt.type = socket and evt.arg.domain contains AF_PACKET"]), Some(PACKET));
        assert_eq!(needs(&["evt.type = socket and evt.arg.domain = AF_INET6"]), Some(1 << 10));
        assert_eq!(needs(&["evt.type = socket and evt.arg.domain in (AF_PACKET, AF_INET)"]), Some(PACKET | 4));
        assert_eq!(needs(&["evt.type = socket and evt.rawarg.domain = 17"]), Some(PACKET));
        assert_eq!(needs(&["evt.type = socket and evt.rawarg.domain > 60"]), Some(0b111 << 61));
        assert_eq!(
            needs(&["evt.type = socket and evt.arg.domain startswith AF_INET"]),
            Some(4 | 1 << 10),
            "judged on each family's name"
        );
        assert_eq!(needs(&["evt.type = socket and evt.arg.domain = 50"]), Some(1 << 50), "unnamed: its number");
        assert_eq!(needs(&["evt.type = socket and not evt.arg.domain = AF_INET"]), None, "negation: any");
        assert_eq!(needs(&["evt.type = socket and proc.name = nc"]), None, "no domain test: any");
        assert_eq!(needs(&["evt.type = socket and evt.arg.type contains RAW"]), None, "another argument: any");
        assert_eq!(
            needs(&[
                "evt.type = socket and evt.arg.domain contains AF_PACKET",
                "evt.type = socket and evt.rawarg.domain = 2"
            ]),
            Some(PACKET | 4),
            "rules unite"
        );
        assert_eq!(
            needs(&["evt.type in (open, socket) and (evt.type = open or evt.arg.domain = AF_UNIX)"]),
            Some(2),
            "the open branch is false for socket"
        );
    }

    #[test]
    fn the_kernel_check_keeps_masked_and_unknown_families() {
        let n = SocketNeeds { domains: Some(PACKET) };
        assert!(n.passes(17) && n.passes(64) && n.passes(u64::MAX));
        assert!(!n.passes(2) && !n.passes(10) && !n.passes(0));
        assert!(SocketNeeds::pass_all().passes(2));
        let mut ev = Event::new(EvtType::Socket, 0, std::sync::Arc::new(Process::default()));
        ev.args = vec![EvtArg::named("domain", 2, "AF_INET")];
        assert!(!n.passes_event(&ev));
        ev.args = vec![EvtArg::named("domain", 17, "AF_PACKET")];
        assert!(n.passes_event(&ev));
        ev.args = vec![EvtArg::text("domain", "AF_INET")];
        assert!(!n.passes_event(&ev), "a fixture's name alone");
        assert!(n.passes_event(&Event::new(EvtType::Connect, 0, ev.proc.clone())), "other types pass");
    }

    #[test]
    fn the_default_pack_keeps_packet_sockets_only() {
        let rs = RuleSet::default_pack().expect("default pack");
        assert_eq!(rs.socket_needs().domains, Some(PACKET));
    }

    #[test]
    fn names_are_falcos() {
        assert_eq!(socket_domain_name(1), Some("AF_UNIX"));
        assert_eq!(socket_domain_name(17), Some("AF_PACKET"));
        assert_eq!(socket_domain_name(45), Some("AF_MCTP"));
        assert_eq!(socket_domain_name(46), None);
    }
}
