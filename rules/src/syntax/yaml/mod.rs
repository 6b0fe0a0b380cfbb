//! A YAML tree that keeps the source position of every node.
//!
//! Rule authors need `file:line:col` in every error, including positions *inside* a
//! condition string. libyaml's event parser ([`libyaml`], the parser Falco's rule authors
//! validate with, so Lanner accepts the same files) gives a byte offset per event; this
//! module builds a small tree from those events ([`Node`]), placing each node where its
//! content starts ([`source`]), and can map a character offset inside a scalar's value
//! back to the file position ([`ScalarSpan::locate`]), which also works for folded (`>`)
//! and multi-line plain scalars.

mod libyaml;
mod source;
mod span;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;

use libyaml::{EventKind, ScalarStyle};
use source::LineIndex;
pub use span::ScalarSpan;

/// Collections nested deeper than this are rejected: the tree and everything that walks
/// it recurse once per level.
pub const MAX_DEPTH: usize = 256;

/// A loaded source file (rules file or fixture).
#[derive(Debug)]
pub struct SourceFile {
    /// Path as given by the caller, used in messages.
    pub name: String,
    pub text: String,
}

/// A 1-based line/column position (columns count characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Raw marker kept to re-scan a scalar's source text on demand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Mark {
    /// Character index into the file.
    pub index: usize,
    pub pos: Pos,
}

/// How a scalar was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
    Block,
}

/// A YAML node with its position: where its content starts (a block mapping's first
/// key, a block scalar's first content character, past any `&anchor`/`!tag`; an empty
/// value right after its `:` or `-`).
#[derive(Clone, Debug)]
pub struct Node {
    pub mark: Mark,
    pub kind: NodeKind,
}

#[derive(Clone, Debug)]
pub enum NodeKind {
    Scalar(String, Style),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn pos(&self) -> Pos {
        self.mark.pos
    }

    /// The scalar text, if this node is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// `~`, `null` or an empty plain scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar(s, Style::Plain) if matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// What this node is, for messages ("a string", "a list", "a mapping").
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar(..) if self.is_null() => "null",
            NodeKind::Scalar(..) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// Look a key up in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(items) => items.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// A YAML syntax error with its position.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

/// Parse every document of `text`. Each document's root node is returned.
pub fn parse(text: &str) -> Result<Vec<Node>, YamlError> {
    let lines = LineIndex::new(text);
    let syntax_error = |e: libyaml::Error| {
        let message = match e.context {
            Some((context, at)) => format!("{} ({context} at {})", e.problem, lines.mark(at).pos),
            None => e.problem,
        };
        YamlError { pos: lines.mark(e.offset).pos, message }
    };
    let mut parser = libyaml::Parser::new(text).map_err(syntax_error)?;
    let mut b = Builder::default();
    loop {
        let ev = parser.next_event().map_err(syntax_error)?;
        match ev.kind {
            EventKind::Scalar { value, style, props } => {
                let mut at = ev.start;
                if props.any() && !(style == ScalarStyle::Plain && value.is_empty()) {
                    at = source::skip_properties(text, at);
                }
                if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
                    at = source::block_content_start(text, at, &value).unwrap_or(at);
                }
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => Style::Quoted,
                    ScalarStyle::Literal | ScalarStyle::Folded => Style::Block,
                };
                let node = Node { mark: lines.mark(at), kind: NodeKind::Scalar(value, style) };
                b.anchor(props.anchor, &node);
                b.insert(node);
            }
            EventKind::SequenceStart(props) => b.open(text, &lines, ev.start, props, NodeKind::Seq(Vec::new()))?,
            EventKind::MappingStart(props) => b.open(text, &lines, ev.start, props, NodeKind::Map(Vec::new()))?,
            EventKind::SequenceEnd | EventKind::MappingEnd => {
                if let Some(f) = b.stack.pop() {
                    b.anchor(f.anchor, &f.node);
                    b.insert(f.node);
                }
            }
            EventKind::Alias(name) => match b.anchors.get(&name) {
                Some(n) => {
                    let mut n = n.clone();
                    n.mark = lines.mark(ev.start);
                    b.insert(n);
                }
                None => {
                    let pos = lines.mark(ev.start).pos;
                    return Err(YamlError { pos, message: format!("unknown alias '{name}'") });
                }
            },
            EventKind::Boundary => {}
            EventKind::StreamEnd => return Ok(b.docs),
        }
    }
}

/// A collection being built, with its anchor and, for a mapping, a key waiting for
/// its value.
struct Frame {
    node: Node,
    anchor: Option<String>,
    key: Option<Node>,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Node>,
    anchors: HashMap<String, Node>,
}

impl Builder {
    /// Start a collection whose event is marked at byte `start`.
    fn open(
        &mut self,
        text: &str,
        lines: &LineIndex,
        start: usize,
        props: libyaml::Props,
        kind: NodeKind,
    ) -> Result<(), YamlError> {
        let at = if props.any() { source::skip_properties(text, start) } else { start };
        let mark = lines.mark(at);
        if self.stack.len() >= MAX_DEPTH {
            let message = format!("collections nested deeper than {MAX_DEPTH} levels");
            return Err(YamlError { pos: mark.pos, message });
        }
        self.stack.push(Frame { node: Node { mark, kind }, anchor: props.anchor, key: None });
        Ok(())
    }

    fn insert(&mut self, node: Node) {
        let Some(frame) = self.stack.last_mut() else {
            return self.docs.push(node);
        };
        match &mut frame.node.kind {
            NodeKind::Seq(items) => items.push(node),
            NodeKind::Map(items) => match frame.key.take() {
                None => frame.key = Some(node),
                Some(k) => items.push((k, node)),
            },
            NodeKind::Scalar(..) => {}
        }
    }

    /// Remember an anchored node; a later anchor of the same name replaces it.
    fn anchor(&mut self, anchor: Option<String>, node: &Node) {
        if let Some(name) = anchor {
            self.anchors.insert(name, node.clone());
        }
    }
}
