//! The in-kernel unshare pre-filter: which `unshare` calls the loaded rules can
//! possibly match, judged on the call's flags.
//!
//! Runtimes, sandboxes and libc call `unshare` with flags that create no
//! namespace (`unshare(0)`, `CLONE_FS`, `CLONE_FILES`), while the rules look
//! for new namespaces (`evt.arg.flags contains CLONE_NEWUSER`).
//! [`RuleSet::unshare_needs`] derives the flag bits of which a call must have
//! at least one; the exit probe drops any other right after reading its
//! arguments, before a record is built. [`UnshareNeeds::passes`] is the kernel
//! check in userspace, which the rule fixtures run so a filter that would
//! hide an alert fails them.
//!
//! The domain differs from `mask`'s value sets (flags are a bit set, not a
//! small value): a condition abstracts to "true only if the flags have one of
//! the bits in M". `or` unites the sets; `and` may keep either side (both
//! hold), and keeps the one with fewer bits. Only string tests on
//! `evt.arg.flags` narrow it: its text is the names of the set bits joined by
//! `|` in [`CLONE_FLAGS`] order, or `0` when none has a name, so a pattern
//! without `|` that `contains`/`startswith`/`endswith` the text lies inside
//! one set bit's name, and an exact text names all of them.

use crate::fields::argflags::{clone_from_falco, CLONE_FLAGS};
use crate::fields::FieldId as F;
use crate::runtime::event::{Event, EvtType};
use crate::runtime::matcher::{Check, Pred};
use crate::runtime::pred::StrPred;
use crate::runtime::ruleset::RuleSet;

use super::mask::{fold_rules, Lattice};

/// What the loaded unshare rules need from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnshareNeeds {
    /// `None`: any call may match. `Some(bits)`: only a call whose (kernel)
    /// flags have one of `bits` can (no unshare rule at all: `Some(0)`).
    pub any_of: Option<u64>,
}

impl UnshareNeeds {
    /// Everything passes.
    pub fn pass_all() -> UnshareNeeds {
        UnshareNeeds { any_of: None }
    }

    /// The kernel's check: keep an `unshare` call with these kernel flags?
    pub fn passes(&self, flags: u64) -> bool {
        self.any_of.is_none_or(|bits| flags & bits != 0)
    }

    /// [`UnshareNeeds::passes`] for an event (other event types always pass):
    /// the kernel bits of the Falco value, or of the names a fixture gives.
    pub(crate) fn passes_event(&self, ev: &Event) -> bool {
        let Some(a) = ev.arg("flags").filter(|_| ev.evt_type == EvtType::Unshare) else {
            return true;
        };
        let flags = match a.raw {
            Some(r) => clone_from_falco(r as u64),
            None => a.text.split('|').map(|n| name_bits(|x| x == n)).fold(0, |m, b| m | b),
        };
        self.passes(flags)
    }
}

impl RuleSet {
    /// The flag bits of which an `unshare` call must have one for the rules of
    /// this set to match it.
    pub fn unshare_needs(&self) -> UnshareNeeds {
        match fold_rules(self, &[EvtType::Unshare], &leaf) {
            AnyOf::Bottom => UnshareNeeds { any_of: Some(0) },
            AnyOf::Bits(b) => UnshareNeeds { any_of: Some(b) },
            AnyOf::Top => UnshareNeeds::pass_all(),
        }
    }
}

/// True only if the flags have one of `Bits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AnyOf {
    Bottom,
    Bits(u64),
    Top,
}

impl Lattice for AnyOf {
    const TOP: AnyOf = AnyOf::Top;
    const BOTTOM: AnyOf = AnyOf::Bottom;

    fn and(self, other: AnyOf) -> AnyOf {
        match (self, other) {
            (AnyOf::Bottom, _) | (_, AnyOf::Bottom) => AnyOf::Bottom,
            (AnyOf::Top, x) | (x, AnyOf::Top) => x,
            (AnyOf::Bits(a), AnyOf::Bits(b)) => AnyOf::Bits(if b.count_ones() < a.count_ones() { b } else { a }),
        }
    }

    fn or(self, other: AnyOf) -> AnyOf {
        match (self, other) {
            (AnyOf::Bottom, x) | (x, AnyOf::Bottom) => x,
            (AnyOf::Bits(a), AnyOf::Bits(b)) => AnyOf::Bits(a | b),
            _ => AnyOf::Top,
        }
    }
}

/// The kernel bits of the [`CLONE_FLAGS`] names `keep` accepts.
fn name_bits(keep: impl Fn(&str) -> bool) -> u64 {
    CLONE_FLAGS.iter().filter(|(_, n)| keep(n)).fold(0, |m, (b, _)| m | b)
}

fn leaf(c: &Check) -> AnyOf {
    match (c.field.id, &c.pred) {
        (F::EvtArgFlags, Pred::Str(p)) => str_test(p),
        (F::EvtArg, Pred::Str(p)) if c.field.key.as_deref() == Some("flags") => str_test(p),
        _ => AnyOf::Top,
    }
}

/// A string test on the flags' text. Any test true for `0` (no named bit)
/// is "any"; a pattern holding `|` spans names and is "any" too.
fn str_test(p: &StrPred) -> AnyOf {
    if p.test("0") {
        return AnyOf::Top;
    }
    let inside = |pats: &[String], f: &dyn Fn(&str, &str) -> bool| {
        pats.iter().try_fold(AnyOf::Bottom, |acc, pat| {
            (!pat.contains('|')).then(|| acc.or(AnyOf::Bits(name_bits(|n| f(n, pat)))))
        })
    };
    let got = match p {
        StrPred::Contains { pats, .. } => inside(pats, &|n, pat| n.contains(pat)),
        StrPred::IContains { pats, .. } => {
            inside(pats, &|n, pat| n.to_ascii_lowercase().contains(&pat.to_ascii_lowercase()))
        }
        StrPred::StartsWith { pats, .. } => inside(pats, &|n, pat| n.starts_with(pat)),
        StrPred::EndsWith { pats, .. } => inside(pats, &|n, pat| n.ends_with(pat)),
        StrPred::Eq(x) => Some(exact(x)),
        StrPred::In { pats, .. } => Some(pats.iter().fold(AnyOf::Bottom, |acc, x| acc.or(exact(x)))),
        _ => None,
    };
    // `Bits(0)`: no name holds the pattern, so the test is never true.
    got.unwrap_or(AnyOf::Top)
}

/// `evt.arg.flags = text`: every name in it is set, so the call has the
/// first; a text that is not names joined by `|` never matches.
fn exact(text: &str) -> AnyOf {
    let bits: Option<Vec<u64>> = text.split('|').map(|t| Some(name_bits(|n| n == t)).filter(|b| *b != 0)).collect();
    match bits {
        Some(b) => AnyOf::Bits(b[0]),
        None => AnyOf::Bottom,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::event::{EvtArg, Process};

    fn needs(conds: &[&str]) -> Option<u64> {
        crate::kfilter::testutil::rules_with("", conds).unshare_needs().any_of
    }

    const NEWNS: u64 = 0x0002_0000;
    const NEWUSER: u64 = 0x1000_0000;
    const NEWPID: u64 = 0x2000_0000;
    const NEWNET: u64 = 0x4000_0000;
    const NEWCGROUP: u64 = 0x0200_0000;
    const NEWIPC: u64 = 0x0800_0000;
    const NEWUTS: u64 = 0x0400_0000;

    #[test]
    fn flag_tests_narrow_to_the_bits_named() {
        assert_eq!(needs(&["evt.type = open"]), Some(0), "no unshare rule: nothing to keep");
        assert_eq!(needs(&["evt.type = unshare and evt.arg.flags contains CLONE_NEWUSER"]), Some(NEWUSER));
        assert_eq!(
            needs(&["evt.type = unshare and evt.arg.flags startswith CLONE_NEWN"]),
            Some(NEWNS | NEWNET),
            "a pattern inside several names keeps each"
        );
        assert_eq!(
            needs(&["evt.type = unshare and evt.arg.flags startswith CLONE_NEW"]),
            Some(NEWNS | NEWUSER | NEWPID | NEWNET | NEWCGROUP | NEWIPC | NEWUTS),
        );
        assert_eq!(
            needs(&[
                "evt.type = unshare and (evt.arg.flags contains CLONE_NEWUSER or evt.arg.flags contains CLONE_NEWNS)"
            ]),
            Some(NEWUSER | NEWNS),
            "or unites"
        );
        assert_eq!(
            needs(&[
                "evt.type = unshare and evt.arg.flags contains CLONE_NEWUSER and evt.arg.flags startswith CLONE_NEW"
            ]),
            Some(NEWUSER),
            "and keeps the narrower side"
        );
        assert_eq!(needs(&["evt.type = unshare and evt.arg.flags = \"CLONE_NEWNS|CLONE_NEWUSER\""]), Some(NEWNS));
        assert_eq!(needs(&["evt.type = unshare and evt.arg.flags = CLONE_BOGUS"]), Some(0), "never true");
        assert_eq!(needs(&["evt.type = unshare and evt.arg.flags startswith CLONE_NEWU"]), Some(NEWUSER | NEWUTS));
        assert_eq!(needs(&["evt.type = unshare and evt.arg.flags endswith NEWPID"]), Some(NEWPID));
        assert_eq!(needs(&["evt.type = unshare and evt.arg.flags icontains clone_newuser"]), Some(NEWUSER));
        assert_eq!(
            needs(&["evt.type = unshare and evt.arg.flags in (CLONE_NEWPID, CLONE_NEWNET)"]),
            Some(NEWPID | NEWNET)
        );
        assert_eq!(needs(&["evt.type = unshare and evt.arg.flags contains O_CREAT"]), None, "an open flag: any");
    }

    #[test]
    fn what_the_analysis_cannot_judge_keeps_every_call() {
        for c in [
            "evt.type = unshare",
            "evt.type = unshare and proc.name = unshare",
            "evt.type = unshare and evt.arg.flags = 0",
            "evt.type = unshare and evt.arg.flags startswith 0",
            "evt.type = unshare and evt.arg.flags endswith \"NS|CLONE_NEWUSER\"",
            "evt.type = unshare and not evt.arg.flags contains CLONE_NEWUSER",
            "evt.type = unshare and evt.arg.flags != CLONE_NEWUSER",
            "evt.type = unshare and evt.rawarg.flags > 0",
            "evt.type = unshare and evt.arg.flags glob '*NEWUSER*'",
        ] {
            assert_eq!(needs(&[c]), None, "{c}");
        }
        assert_eq!(
            needs(&["evt.type = unshare and evt.arg.flags contains CLONE_NEWUSER", "evt.type = unshare"]),
            None,
            "one rule on any call keeps all"
        );
    }

    #[test]
    fn the_kernel_check_and_its_fixture_model() {
        let n = UnshareNeeds { any_of: Some(NEWUSER | NEWNS) };
        assert!(n.passes(NEWUSER) && n.passes(NEWNS | 0x200) && !n.passes(0) && !n.passes(0x200 | 0x400));
        assert!(UnshareNeeds::pass_all().passes(0));
        assert!(!UnshareNeeds { any_of: Some(0) }.passes(NEWUSER));
        let proc = std::sync::Arc::new(Process::default());
        let mut ev = Event::new(EvtType::Unshare, 0, proc.clone());
        let falco = crate::fields::argflags::clone_to_falco(NEWUSER);
        ev.args = vec![EvtArg::named("flags", falco as i64, "CLONE_NEWUSER")];
        assert!(n.passes_event(&ev));
        ev.args = vec![EvtArg::named("flags", 0, "0")];
        assert!(!n.passes_event(&ev));
        ev.args = vec![EvtArg::text("flags", "CLONE_FS|CLONE_NEWNS")];
        assert!(n.passes_event(&ev), "a fixture's names alone");
        ev.args = vec![EvtArg::text("flags", "CLONE_FS")];
        assert!(!n.passes_event(&ev));
        assert!(n.passes_event(&Event::new(EvtType::Openat, 0, proc)), "other types pass");
    }

    /// Every rule set's unshare rules against generated calls: flags of no
    /// bit, each named bit, each pair of them and an unnamed one (CLONE_NEWTIME),
    /// by a few processes, in a container and not; none that matches may be dropped.
    fn check_sound(label: &str, rs: &RuleSet) -> usize {
        use crate::fields::argflags::{clone_to_falco, flag_names};
        use crate::runtime::event::{Container, Pod, DEFAULT_FIXTURE_TIME_NS};
        let needs = rs.unshare_needs();
        let bits: Vec<u64> = CLONE_FLAGS.iter().map(|(b, _)| *b).collect();
        let mut all = vec![0u64, 0x80];
        all.extend(bits.iter().copied());
        for (i, a) in bits.iter().enumerate() {
            all.extend(bits[i + 1..].iter().map(|b| a | b));
        }
        let procs: Vec<std::sync::Arc<Process>> = ["unshare", "bash", "python3", "bwrap"]
            .iter()
            .map(|n| {
                let mut p = Process::new(n, &format!("/usr/bin/{n}"), &["-U"]);
                p.user_name = Some("root".into());
                p.precompute();
                std::sync::Arc::new(p)
            })
            .collect();
        let pod = std::sync::Arc::new(Container {
            id: "0123456789abcdef".into(),
            name: "web".into(),
            image_repository: "docker.io/acme/web".into(),
            k8s: Some(Pod { ns: "prod".into(), name: "web-1".into(), ..Default::default() }),
            ..Default::default()
        });
        let (mut matched, mut dropped, mut bad) = (0usize, 0usize, Vec::new());
        for &flags in &all {
            let falco = clone_to_falco(flags);
            let text = flag_names(clone_from_falco(falco), CLONE_FLAGS);
            for p in &procs {
                for in_pod in [false, true] {
                    let mut ev = Event::new(EvtType::Unshare, DEFAULT_FIXTURE_TIME_NS, p.clone());
                    ev.args = vec![EvtArg::named("flags", falco as i64, text.clone())];
                    if in_pod {
                        ev.container = Some(pod.clone());
                    }
                    let pass = needs.passes(flags);
                    assert_eq!(pass, needs.passes_event(&ev), "{label}: model and fixture check differ");
                    dropped += usize::from(!pass);
                    rs.for_each_match(&ev, |_, r| {
                        matched += 1;
                        if !pass {
                            bad.push(format!("'{}': flags={text} proc={}", r.name, p.name));
                        }
                    });
                }
            }
        }
        assert!(bad.is_empty(), "{label}: the pre-filter drops unshares that rules match:\n{}", bad.join("\n"));
        assert!(rs.rules_for_type(EvtType::Unshare) == 0 || dropped > 0 || needs.any_of.is_none(), "{label}");
        matched
    }

    #[test]
    fn the_filter_never_drops_an_unshare_a_rule_matches() {
        let rs = RuleSet::default_pack().expect("default pack");
        assert!(check_sound("default pack", &rs) > 0, "no generated unshare matched the default pack");
        for f in crate::kfilter::testutil::fixture_rule_files() {
            let rs = RuleSet::load_files(&f).unwrap_or_else(|e| panic!("{e}"));
            check_sound(&format!("{f:?}"), &rs);
        }
    }

    #[test]
    fn the_default_pack_keeps_new_namespaces_only() {
        let rs = RuleSet::default_pack().expect("default pack");
        let bits = rs.unshare_needs().any_of.expect("the default pack narrows unshare");
        assert_eq!(bits, NEWUSER | NEWNS | NEWPID | NEWNET | NEWCGROUP);
        assert!(!rs.unshare_needs().passes(0) && !rs.unshare_needs().passes(0x200 | 0x400 | 0x40000));
    }
}
