//! PLACEHOLDER: replaced by the full Falco field and event catalogue (branch `catalog`).

#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FalcoArg {
    None,
    Index,
    IndexRequired,
    Key,
    KeyRequired,
    IndexOrKey,
}

#[allow(dead_code)]
pub(crate) struct FalcoField {
    pub name: &'static str,
    pub ty: &'static str,
    pub arg: FalcoArg,
    pub desc: &'static str,
    pub class: &'static str,
}

pub(crate) static FALCO_FIELDS: &[FalcoField] = &[];

pub(crate) fn falco_field(name: &str) -> Option<&'static FalcoField> {
    FALCO_FIELDS.iter().find(|f| f.name == name)
}

#[allow(dead_code)]
pub(crate) struct FalcoEvent {
    pub name: &'static str,
    pub params: &'static [&'static str],
}

pub(crate) static FALCO_EVENTS: &[FalcoEvent] = &[];

pub(crate) fn falco_event(name: &str) -> Option<&'static FalcoEvent> {
    FALCO_EVENTS.iter().find(|e| e.name == name)
}

pub(crate) fn is_event_param(param: &str) -> bool {
    FALCO_EVENTS.iter().any(|e| e.params.contains(&param))
}
