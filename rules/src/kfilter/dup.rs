//! The in-kernel dup pre-filter: which results of `dup`, `dup2` and `dup3` the
//! loaded rules can possibly match.
//!
//! The rules on these syscalls look for a socket duplicated onto stdin, stdout
//! or stderr (a reverse shell: `evt.rawres in (0, 1, 2)`), while shells and
//! daemons duplicate descriptors all the time. The exit probe reads what the
//! new descriptor refers to (several kernel reads, ~3.7 µs per call here), so
//! a result no rule can match is dropped before that. [`RuleSet::dup_needs`]
//! derives the results to keep; [`DupNeeds::passes`] is the kernel check in
//! userspace, which the rule fixtures run so a filter that would hide an alert
//! fails them.
//!
//! The analysis is `mask`'s: only `evt.rawres in (...)` and `evt.rawres = N`
//! with every value in 0..63 narrow it.

use crate::fields::FieldId as F;
use crate::runtime::event::{Event, EvtType};
use crate::runtime::matcher::{Check, Pred};
use crate::runtime::pred::NumPred;
use crate::runtime::ruleset::RuleSet;

use super::mask::{needs_mask, Abs};

/// The event types this filter covers.
pub const DUP_TYPES: [EvtType; 3] = [EvtType::Dup, EvtType::Dup2, EvtType::Dup3];

/// What the loaded dup rules need from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DupNeeds {
    /// `None`: any result may match. `Some(mask)`: only a result `r` in 0..63
    /// with bit `r` set can (no dup rule at all: `Some(0)`).
    pub results: Option<u64>,
}

impl DupNeeds {
    /// Everything passes.
    pub fn pass_all() -> DupNeeds {
        DupNeeds { results: None }
    }

    /// The kernel's check: keep a dup-family call with result `ret`?
    pub fn passes(&self, ret: i64) -> bool {
        match self.results {
            None => true,
            Some(mask) => (0..64).contains(&ret) && mask & (1u64 << ret) != 0,
        }
    }

    /// [`DupNeeds::passes`] for an event (other event types always pass).
    pub(crate) fn passes_event(&self, ev: &Event) -> bool {
        !DUP_TYPES.contains(&ev.evt_type) || self.passes(ev.res)
    }
}

impl RuleSet {
    /// The dup-family results the kernel must keep for the rules of this set.
    pub fn dup_needs(&self) -> DupNeeds {
        DupNeeds { results: needs_mask(self, &DUP_TYPES, &leaf) }
    }
}

fn leaf(c: &Check) -> Abs {
    match (c.field.id, &c.pred) {
        (F::EvtRawres, Pred::Num(p)) if c.field.key.is_none() => Abs::Mask(small_values(p)),
        _ => Abs::TOP,
    }
}

/// The mask of the values `p` accepts when they are all in 0..63, else `None`.
fn small_values(p: &NumPred) -> Option<u64> {
    use crate::syntax::ast::Op;
    let bit = |v: i64| (0..64).contains(&v).then(|| 1u64 << v);
    match p {
        NumPred::In(v) => v.iter().try_fold(0u64, |m, &x| bit(x).map(|b| m | b)),
        NumPred::Cmp(Op::Eq, x) => bit(*x),
        NumPred::Cmp(..) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(conds: &[&str]) -> DupNeeds {
        crate::kfilter::testutil::rules_with("", conds).dup_needs()
    }

    #[test]
    fn results_are_narrowed_only_by_small_rawres_values() {
        assert_eq!(needs(&["evt.type = open"]).results, Some(0), "no dup rule: nothing to keep");
        assert_eq!(needs(&["evt.type in (dup, dup2, dup3) and evt.rawres in (0, 1, 2)"]).results, Some(0b111));
        assert_eq!(needs(&["evt.type = dup2 and evt.rawres = 1"]).results, Some(0b10));
        assert_eq!(
            needs(&["evt.type = dup2 and evt.rawres = 1", "evt.type = dup3 and evt.rawres = 5"]).results,
            Some(0b100010),
            "rules unite"
        );
        assert_eq!(needs(&["evt.type = dup2 and (evt.rawres = 1 or evt.rawres = 2)"]).results, Some(0b110));
        assert_eq!(needs(&["evt.type = dup2 and evt.rawres < 3"]).results, None, "a range admits negatives");
        assert_eq!(needs(&["evt.type = dup2 and evt.rawres in (1, 99)"]).results, None, "99 is past the mask");
        assert_eq!(needs(&["evt.type = dup2 and not evt.rawres in (0, 1, 2)"]).results, None);
        assert_eq!(
            needs(&["evt.type in (dup, dup2, dup3) and evt.rawres in (0, 1, 2)", "evt.type = dup and proc.name = x"])
                .results,
            None,
            "one rule on any result keeps them all"
        );
        assert_eq!(
            needs(&["evt.type in (open, dup2) and (evt.type = open or evt.rawres = 0)"]).results,
            Some(1),
            "the open branch is false for dup2"
        );
    }

    #[test]
    fn the_kernel_check_keeps_only_masked_non_negative_results() {
        let n = DupNeeds { results: Some(0b111) };
        assert!(n.passes(0) && n.passes(2));
        assert!(!n.passes(3) && !n.passes(-9) && !n.passes(64));
        assert!(DupNeeds::pass_all().passes(-1));
    }

    #[test]
    fn the_default_pack_keeps_stdio_results_only() {
        let rs = RuleSet::default_pack().expect("default pack");
        assert_eq!(rs.dup_needs().results, Some(0b111));
    }
}
