//! Syntax tree of Falco conditions, before macro/list/field resolution.
//!
//! The parser (`cond.rs`) produces these; `compile.rs` resolves macros, lists and
//! field names and turns them into the matcher's tree. Every node keeps a [`Span`]
//! so later errors (unknown field, undefined macro, bad value) point into the file.

use std::fmt;

/// A byte range inside one condition source (`src` indexes the load's source map).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Span {
    pub src: u32,
    pub start: u32,
    pub end: u32,
}

/// Comparison operators of the Falco filter language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    IContains,
    BContains,
    StartsWith,
    BStartsWith,
    EndsWith,
    Glob,
    IGlob,
    Regex,
    In,
    Intersects,
    PMatch,
    Exists,
}

impl Op {
    /// Operators written as words, with their Falco spelling.
    pub const WORDS: &'static [(&'static str, Op)] = &[
        ("contains", Op::Contains),
        ("icontains", Op::IContains),
        ("bcontains", Op::BContains),
        ("startswith", Op::StartsWith),
        ("bstartswith", Op::BStartsWith),
        ("endswith", Op::EndsWith),
        ("glob", Op::Glob),
        ("iglob", Op::IGlob),
        ("regex", Op::Regex),
        ("in", Op::In),
        ("intersects", Op::Intersects),
        ("pmatch", Op::PMatch),
        ("exists", Op::Exists),
    ];

    pub fn from_word(w: &str) -> Option<Op> {
        Op::WORDS.iter().find(|(n, _)| *n == w).map(|(_, o)| *o)
    }

    /// Operators whose right-hand side is a list.
    pub fn takes_list(self) -> bool {
        matches!(self, Op::In | Op::Intersects | Op::PMatch)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            _ => Op::WORDS.iter().find(|(_, o)| *o == self).map(|(n, _)| *n).unwrap_or("?"),
        }
    }

    /// Parse any operator spelling (symbols and words), as used in exception `comps`.
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "=" | "==" => Op::Eq,
            "!=" => Op::Ne,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            _ => return Op::from_word(s),
        })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Field transformers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transform {
    ToLower,
    ToUpper,
    Basename,
    Len,
}

impl Transform {
    pub fn from_name(s: &str) -> Option<Transform> {
        Some(match s {
            "tolower" => Transform::ToLower,
            "toupper" => Transform::ToUpper,
            "basename" => Transform::Basename,
            "len" => Transform::Len,
            _ => return None,
        })
    }
}

/// A literal value: `bash`, `"a b"`, `'x'`.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub text: String,
    /// Quoted values are never taken as list names.
    pub quoted: bool,
    pub span: Span,
}

/// `tolower(basename(fd.name))`: a field with optional argument and transformers
/// (outermost first).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldRef {
    pub name: String,
    pub arg: Option<String>,
    pub transforms: Vec<Transform>,
    /// Span of the field name (with its argument).
    pub span: Span,
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(a) = &self.arg {
            write!(f, "[{a}]")?;
        }
        Ok(())
    }
}

/// Right-hand side of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum Rhs {
    /// `exists`.
    None,
    Value(Value),
    /// `(a, b, c)`; items naming a list are expanded at compile time.
    List(Vec<Value>, Span),
    /// A bare list name after `in`/`intersects`/`pmatch`.
    ListRef(Value),
    /// `val(field)`: compare with another field of the same event.
    Field(FieldRef),
}

/// A condition expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// A bare identifier: a macro reference.
    Macro(String, Span),
    Check {
        lhs: FieldRef,
        op: Op,
        op_span: Span,
        rhs: Rhs,
    },
}
