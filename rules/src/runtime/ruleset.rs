//! The compiled rule set and the per-event match path.
//!
//! Rules are indexed by event type: `by_type[t]` lists, in load order, the rules whose
//! condition can be true for type `t` (a rule that does not constrain `evt.type` is in
//! every list). Matching walks the list for the event's type and evaluates each
//! condition tree; every matching rule is reported (Falco's `rule_matching: all`).
//! Kept apart from `matcher.rs` so the per-type index (`index.rs`), which reads rules,
//! and the set, which holds the index, import each other in no cycle.

use crate::error::LoadWarning;
use crate::runtime::event::{Event, EvtType};
use crate::runtime::index::TypeIndex;
use crate::runtime::matcher::{Rule, RuleId};
/// A compiled rule set.
#[derive(Debug)]
pub struct RuleSet {
    pub(crate) rules: Vec<Rule>,
    pub(crate) by_type: [Box<[u32]>; EvtType::COUNT],
    /// Prefilters for event types with many rules.
    pub(crate) index: [Option<TypeIndex>; EvtType::COUNT],
    pub(crate) warnings: Vec<LoadWarning>,
    /// Every defined rule with its state, in definition order.
    pub(crate) states: Vec<crate::inactive::RuleState>,
    pub(crate) files: Vec<String>,
}

impl Default for RuleSet {
    /// No rules (`Default` is not derived: the per-type arrays are longer than 32).
    fn default() -> Self {
        RuleSet {
            rules: Vec::new(),
            by_type: std::array::from_fn(|_| Box::default()),
            index: std::array::from_fn(|_| None),
            warnings: Vec::new(),
            states: Vec::new(),
            files: Vec::new(),
        }
    }
}

impl RuleSet {
    /// Report every rule matching `ev`, in load order, by calling `f`.
    #[inline]
    pub fn for_each_match(&self, ev: &Event, mut f: impl FnMut(RuleId, &Rule)) {
        let t = ev.evt_type.index();
        let ids = &self.by_type[t];
        match &self.index[t] {
            Some(ix) => ix.for_each_candidate(ev, |pos| {
                let i = ids[pos];
                let r = &self.rules[i as usize];
                if r.cond.eval(ev) {
                    f(RuleId(i), r);
                }
            }),
            None => {
                for &i in ids.iter() {
                    let r = &self.rules[i as usize];
                    if r.cond.eval(ev) {
                        f(RuleId(i), r);
                    }
                }
            }
        }
    }

    /// Push the ids of every rule matching `ev` into `out` (cleared first). With a
    /// reused `out`, this does not allocate.
    #[inline]
    pub fn matches(&self, ev: &Event, out: &mut Vec<RuleId>) {
        out.clear();
        self.for_each_match(ev, |id, _| out.push(id));
    }

    /// Number of rules matching `ev`.
    pub fn count_matches(&self, ev: &Event) -> usize {
        let mut n = 0;
        self.for_each_match(ev, |_, _| n += 1);
        n
    }

    pub fn rule(&self, id: RuleId) -> &Rule {
        &self.rules[id.0 as usize]
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn rule_by_name(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// Number of enabled rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Number of rules evaluated for events of type `t`.
    pub fn rules_for_type(&self, t: EvtType) -> usize {
        self.by_type[t.index()].len()
    }

    /// Does any rule's condition (exceptions included) or output read a field
    /// with this id? Tells the agent which parts of an exec record to collect.
    pub fn uses_field(&self, id: crate::fields::FieldId) -> bool {
        let mut used = false;
        for r in &self.rules {
            r.cond.for_each_field(&mut |f| used |= f.id == id);
            used |= r.output.fields().iter().any(|(_, f)| f.is_some_and(|f| f.id == id));
            if used {
                return true;
            }
        }
        false
    }

    /// Warnings of the load that produced this set.
    pub fn warnings(&self) -> &[LoadWarning] {
        &self.warnings
    }

    /// Every defined rule, active or inactive (with its reason), in definition order.
    pub fn states(&self) -> &[crate::inactive::RuleState] {
        &self.states
    }

    /// The rules that are defined but do not run, with their reasons.
    pub fn inactive_rules(&self) -> impl Iterator<Item = &crate::inactive::RuleState> {
        self.states.iter().filter(|s| s.inactive.is_some())
    }

    /// The files (or embedded sources) this set was loaded from.
    pub fn files(&self) -> &[String] {
        &self.files
    }
}
