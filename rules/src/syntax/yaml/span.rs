//! Positions inside a scalar's value.
//!
//! Errors in a condition or output string point at the offending character, not just at
//! the string: [`ScalarSpan::locate`] maps a character offset in a scalar's parsed value
//! back to the file by aligning the value with the source text after the scalar's mark
//! (which also works for folded `>` and multi-line plain scalars, whose line breaks fold
//! to spaces).

use std::sync::Arc;

use super::{Mark, Node, Pos, SourceFile};

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
        // A block scalar is marked at its first content character: the line breaks its
        // value starts with come from blank lines before the mark.
        let blank_lines = value.chars().take_while(|&c| c == '\n').count();
        if char_offset < blank_lines {
            return self.mark.pos;
        }
        for (i, c) in value.chars().enumerate().skip(blank_lines) {
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
