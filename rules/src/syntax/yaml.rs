//! A YAML tree that keeps the source position of every node.
//!
//! Rule authors need `file:line:col` in every error, including positions *inside* a
//! condition string. `yaml-rust2`'s event parser gives a marker per event; this module
//! builds a small tree from those events ([`Node`]) and can map a character offset inside
//! a scalar's value back to the file position ([`ScalarSpan::locate`]), which also works
//! for folded (`>`) and multi-line plain scalars.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

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

impl From<Marker> for Mark {
    fn from(m: Marker) -> Mark {
        Mark { index: m.index(), pos: Pos { line: m.line() as u32, col: m.col() as u32 + 1 } }
    }
}

/// How a scalar was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
    Block,
}

/// A YAML node with its position.
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
#[derive(Clone, Debug)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

/// Parse every document of `text`. Each document's root node is returned.
pub fn parse(text: &str) -> Result<Vec<Node>, YamlError> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut b, true)
        .map_err(|e| YamlError { pos: Mark::from(*e.marker()).pos, message: e.info().to_string() })?;
    if let Some(err) = b.error {
        return Err(err);
    }
    Ok(b.docs)
}

enum Frame {
    Seq(Mark, usize, Vec<Node>),
    Map(Mark, usize, Vec<(Node, Node)>, Option<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Node>,
    anchors: HashMap<usize, Node>,
    error: Option<YamlError>,
}

impl Builder {
    fn insert(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(_, _, items)) => items.push(node),
            Some(Frame::Map(_, _, items, key)) => match key.take() {
                None => *key = Some(node),
                Some(k) => items.push((k, node)),
            },
        }
    }

    fn anchor(&mut self, id: usize, node: &Node) {
        if id != 0 {
            self.anchors.insert(id, node.clone());
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, marker: Marker) {
        let mark = Mark::from(marker);
        match ev {
            Event::Scalar(value, style, anchor, _tag) => {
                let style = match style {
                    TScalarStyle::Plain => Style::Plain,
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => Style::Quoted,
                    TScalarStyle::Literal | TScalarStyle::Folded => Style::Block,
                };
                let node = Node { mark, kind: NodeKind::Scalar(value, style) };
                self.anchor(anchor, &node);
                self.insert(node);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq(mark, anchor, Vec::new())),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map(mark, anchor, Vec::new(), None)),
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(mark, anchor, items)) => (Node { mark, kind: NodeKind::Seq(items) }, anchor),
                    Some(Frame::Map(mark, anchor, items, _)) => (Node { mark, kind: NodeKind::Map(items) }, anchor),
                    None => return,
                };
                self.anchor(anchor, &node);
                self.insert(node);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(n) => {
                    let mut n = n.clone();
                    n.mark = mark;
                    self.insert(n);
                }
                None => {
                    if self.error.is_none() {
                        self.error = Some(YamlError { pos: mark.pos, message: "unknown alias".into() });
                    }
                }
            },
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd => {}
        }
    }
}

/// Where a scalar string came from, so offsets inside it can be mapped to the file.
#[derive(Clone, Debug)]
pub struct ScalarSpan {
    pub file: Arc<SourceFile>,
    pub mark: Mark,
}

impl ScalarSpan {
    pub fn new(file: &Arc<SourceFile>, node: &Node) -> ScalarSpan {
        ScalarSpan { file: file.clone(), mark: node.mark }
    }

    /// The file position of the character at `char_offset` in `value` (the scalar's
    /// parsed text). Characters of the value are aligned greedily with the source after
    /// the scalar's marker, skipping indentation, quotes and block indicators and
    /// treating a line break as the space it folds to. If the alignment fails (escape
    /// sequences) the scalar's own position is returned.
    pub fn locate(&self, value: &str, char_offset: usize) -> Pos {
        let text = &self.file.text;
        let mut src = text.chars().skip(self.mark.index).peekable();
        let (mut line, mut col) = (self.mark.pos.line, self.mark.pos.col);
        let mut last = self.mark.pos;
        for (i, c) in value.chars().enumerate() {
            let mut skipped = 0;
            loop {
                let Some(s) = src.next() else {
                    return self.mark.pos;
                };
                let here = Pos { line, col };
                if s == '\n' {
                    line += 1;
                    col = 1;
                } else {
                    col += 1;
                }
                if s == c || (c == ' ' && s == '\n') {
                    if i == char_offset {
                        return here;
                    }
                    last = Pos { line: here.line, col: here.col + 1 };
                    break;
                }
                skipped += 1;
                if skipped > 400 {
                    return self.mark.pos;
                }
            }
        }
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Arc<SourceFile> {
        Arc::new(SourceFile { name: "t.yaml".into(), text: text.into() })
    }

    #[test]
    fn tree_and_positions() {
        let text = "- rule: a\n  tags: [x, y]\n- list: l\n  items: &i [1, 2]\n- other: *i\n";
        let docs = parse(text).unwrap();
        assert_eq!(docs.len(), 1);
        let NodeKind::Seq(items) = &docs[0].kind else { panic!("not a seq") };
        assert_eq!(items.len(), 3);
        let rule = items[0].get("rule").unwrap();
        assert_eq!(rule.as_str(), Some("a"));
        assert_eq!(rule.pos(), Pos { line: 1, col: 9 });
        let tags = items[0].get("tags").unwrap();
        let NodeKind::Seq(t) = &tags.kind else { panic!("tags not a seq") };
        assert_eq!(t[1].pos(), Pos { line: 2, col: 13 });
        let alias = items[2].get("other").unwrap();
        assert_eq!(alias.kind_name(), "a list");
    }

    #[test]
    fn syntax_error_position() {
        let err = parse("- rule: a\n  condition: [x\n- b").unwrap_err();
        assert!(err.pos.line >= 2, "{err:?}");
    }

    #[test]
    fn locate_inside_folded_and_plain() {
        let text = "- rule: r\n  condition: >\n    evt.type = execve\n    and proc.nme = x\n";
        let f = file(text);
        let docs = parse(text).unwrap();
        let NodeKind::Seq(items) = &docs[0].kind else { panic!("not a seq") };
        let cond = items[0].get("condition").unwrap();
        let value = cond.as_str().unwrap();
        assert_eq!(value, "evt.type = execve and proc.nme = x\n");
        let span = ScalarSpan::new(&f, cond);
        let off = value.find("proc.nme").unwrap();
        assert_eq!(span.locate(value, off), Pos { line: 4, col: 9 });
        assert_eq!(span.locate(value, 0), Pos { line: 3, col: 5 });

        let text = "- macro: m\n  condition: proc.name = a and\n    proc.bad = b\n";
        let f = file(text);
        let docs = parse(text).unwrap();
        let NodeKind::Seq(items) = &docs[0].kind else { panic!("not a seq") };
        let cond = items[0].get("condition").unwrap();
        let value = cond.as_str().unwrap();
        let span = ScalarSpan::new(&f, cond);
        assert_eq!(span.locate(value, value.find("proc.bad").unwrap()), Pos { line: 3, col: 5 });
    }

    #[test]
    fn locate_quoted() {
        let text = "x: \"proc.name = 'a' and bad\"\n";
        let f = file(text);
        let docs = parse(text).unwrap();
        let v = docs[0].get("x").unwrap();
        let value = v.as_str().unwrap();
        let span = ScalarSpan::new(&f, v);
        assert_eq!(span.locate(value, value.find("bad").unwrap()), Pos { line: 1, col: 25 });
    }
}
