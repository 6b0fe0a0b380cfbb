//! Reading rule files: YAML with positions → typed definitions (rules, macros, lists,
//! append/override) → condition ASTs. Nothing here knows about fields or events.

pub(crate) mod ast;
pub(crate) mod cond;
pub mod de;
pub(crate) mod loader;
pub(crate) mod loader_rules;
pub mod yaml;
