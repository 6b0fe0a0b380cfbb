//! The in-kernel kill pre-filter: which signals of a `kill` call the loaded
//! rules can possibly match.
//!
//! Supervisors, pid files and shells call `kill(pid, 0)` all day to ask
//! whether a process lives, while the rules on `kill` look for the few signals
//! that stop or end one (`evt.arg.sig in (SIGKILL, SIGSTOP)`).
//! [`RuleSet::kill_needs`] derives the signals to keep; the exit probe drops
//! any other call right after reading its arguments, before a record is built.
//! [`KillNeeds::passes`] is the kernel check in userspace, which the rule
//! fixtures run so a filter that would hide an alert fails them.
//!
//! The analysis is `mask`'s. `evt.arg.sig` (the signal's name as Falco renders
//! it, [`signal_name`], or its number past the named ones) and
//! `evt.rawarg.sig` (its number) narrow it with any string or numeric test,
//! judged on each signal 0..63; the kernel keeps every signal from 64 on.

use crate::runtime::event::{Event, EvtType};
use crate::runtime::matcher::Check;
use crate::runtime::ruleset::RuleSet;

use super::mask::{event_passes, mask_passes, named_arg_leaf, needs_mask, Abs};

/// Signal names by number, as Falco prints them (libsinsp `signal_to_str`):
/// 1..31; 0 and the real-time signals have none.
#[rustfmt::skip]
const SIGNALS: [&str; 32] = [
    "", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1",
    "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP",
    "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR",
    "SIGSYS",
];

/// The name of signal `s` (`None` for 0, real-time and unknown signals: shown as the number).
pub fn signal_name(s: i64) -> Option<&'static str> {
    SIGNALS.get(usize::try_from(s).ok()?).copied().filter(|n| !n.is_empty())
}

/// `evt.arg.sig`'s text for signal `s`.
fn signal_text(s: i64) -> String {
    signal_name(s).map_or_else(|| s.to_string(), str::to_string)
}

/// What the loaded kill rules need from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KillNeeds {
    /// `None`: any signal may match. `Some(mask)`: only a signal `s` in 0..63
    /// with bit `s` set, or any from 64 on (no kill rule at all: `Some(0)`).
    pub signals: Option<u64>,
}

impl KillNeeds {
    /// Everything passes.
    pub fn pass_all() -> KillNeeds {
        KillNeeds { signals: None }
    }

    /// The kernel's check: keep a `kill` sending signal `sig`?
    pub fn passes(&self, sig: u64) -> bool {
        mask_passes(self.signals, sig)
    }

    /// [`KillNeeds::passes`] for an event (other event types always pass): the
    /// signal's number, or the number of its name (a fixture may give only that).
    pub(crate) fn passes_event(&self, ev: &Event) -> bool {
        event_passes(self.signals, ev, EvtType::Kill, "sig", &SIGNALS)
    }
}

impl RuleSet {
    /// The `kill` signals the kernel must keep for the rules of this set.
    pub fn kill_needs(&self) -> KillNeeds {
        KillNeeds { signals: needs_mask(self, &[EvtType::Kill], &leaf) }
    }
}

fn leaf(c: &Check) -> Abs {
    named_arg_leaf(c, "sig", signal_text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(conds: &[&str]) -> Option<u64> {
        crate::kfilter::testutil::rules_with("", conds).kill_needs().signals
    }

    const KILL: u64 = 1 << 9;
    const STOP: u64 = 1 << 19;

    #[test]
    fn signals_are_narrowed_by_sig_tests() {
        assert_eq!(needs(&["evt.type = open"]), Some(0), "no kill rule: nothing to keep");
        assert_eq!(needs(&["evt.type = kill and evt.arg.sig = SIGKILL"]), Some(KILL));
        assert_eq!(needs(&["evt.type = kill and evt.arg.sig in (SIGKILL, SIGSTOP)"]), Some(KILL | STOP));
        assert_eq!(needs(&["evt.type = kill and evt.rawarg.sig = 9"]), Some(KILL));
        assert_eq!(needs(&["evt.type = kill and evt.rawarg.sig != 0"]), Some(!1));
        assert_eq!(needs(&["evt.type = kill and evt.arg.sig = 40"]), Some(1 << 40), "a real-time signal by number");
        assert_eq!(
            needs(&["evt.type = kill and evt.arg.sig startswith SIGT"]),
            Some(1 << 5 | 1 << 15 | 1 << 20 | 1 << 21 | 1 << 22)
        );
    }

    #[test]
    fn anything_unknown_keeps_every_signal() {
        assert_eq!(needs(&["evt.type = kill"]), None);
        assert_eq!(needs(&["evt.type = kill and proc.name = bash"]), None);
        assert_eq!(needs(&["evt.type = kill and not evt.arg.sig = SIGKILL"]), None);
        assert_eq!(needs(&["evt.type = kill and evt.arg.sig = SIGKILL", "evt.type in (kill, open)"]), None);
        assert_eq!(
            needs(&["evt.type = kill and (evt.arg.sig = SIGKILL or evt.arg.sig = SIGSTOP) and proc.name = sh"]),
            Some(KILL | STOP)
        );
    }

    #[test]
    fn the_kernel_check_keeps_what_the_mask_says() {
        let n = KillNeeds { signals: Some(KILL) };
        assert!(n.passes(9) && !n.passes(0) && !n.passes(15) && n.passes(64), "64 and up always pass");
        assert!(KillNeeds::pass_all().passes(0));
        assert_eq!(signal_name(9), Some("SIGKILL"));
        assert_eq!((signal_name(0), signal_name(34), signal_name(-1)), (None, None, None));
    }
}
