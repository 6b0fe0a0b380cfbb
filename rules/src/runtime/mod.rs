//! What runs per event: the indexed matcher, predicates, value extraction, alert
//! rendering, and the lock-free hot-reload handle.

pub mod alert;
pub(crate) mod container;
pub mod dns;
pub mod env;
pub mod event;
pub(crate) mod evt_args;
pub(crate) mod evt_type;
pub(crate) mod extract;
pub(crate) mod extract_ctr;
pub(crate) mod extract_k8s;
pub(crate) mod extract_meta;
pub(crate) mod extract_proc;
pub(crate) mod getters;
pub mod host;
pub(crate) mod index;
pub(crate) mod matcher;
pub(crate) mod output;
pub(crate) mod pred;
pub mod reload;
pub(crate) mod ruleset;
pub(crate) mod trie;
pub(crate) mod value;
