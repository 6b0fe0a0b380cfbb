//! From libyaml's byte offsets to the positions Lanner reports.
//!
//! libyaml marks every event with a byte offset (and its own line/column, which also
//! counts U+0085, U+2028 and U+2029 as line breaks). Lanner's positions are 1-based
//! line:column in characters with `\n`, `\r\n` and `\r` as the only line breaks, and a
//! node's position is where its content starts: libyaml marks a node with an anchor or
//! tag at its first property and a block scalar at its `|`/`>` indicator, so both are
//! moved here to the first character of the content, by the same rules libyaml's
//! scanner used to read them. [`LineIndex`] maps an offset to a [`Mark`] in O(log n).

use super::{Mark, Pos};

/// Line starts of a text, to turn byte offsets into [`Mark`]s.
pub(super) struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset of the first character of each line (after a leading byte-order
    /// mark on the first line, which is not counted as a column).
    starts: Vec<usize>,
    /// Number of characters before each line start.
    chars_before: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> LineIndex<'a> {
        let bom = text.strip_prefix('\u{feff}').map_or(0, |_| '\u{feff}'.len_utf8());
        let (mut starts, mut chars_before) = (vec![bom], vec![usize::from(bom > 0)]);
        let bytes = text.as_bytes();
        let mut chars = 0;
        for (i, &b) in bytes.iter().enumerate() {
            // Count characters by their first byte (UTF-8 continuation bytes are 0b10xxxxxx).
            if b & 0xC0 != 0x80 {
                chars += 1;
            }
            let line_end = b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
            if line_end {
                starts.push(i + 1);
                chars_before.push(chars);
            }
        }
        LineIndex { text, starts, chars_before }
    }

    /// The mark of the character at byte `offset` (clamped to the text).
    pub fn mark(&self, offset: usize) -> Mark {
        let mut offset = offset.clamp(self.starts[0], self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let col = self.text[self.starts[line - 1]..offset].chars().count();
        Mark { index: self.chars_before[line - 1] + col, pos: Pos { line: line as u32, col: col as u32 + 1 } }
    }
}

/// Past a node's properties (`&anchor`, `!tag`, in either order) and the blanks,
/// comments and line breaks after them: the byte offset of the node's content.
pub(super) fn skip_properties(text: &str, mut at: usize) -> usize {
    let b = text.as_bytes();
    let anchor_char = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    loop {
        match b.get(at) {
            Some(b'&') => {
                at += 1;
                while b.get(at).is_some_and(|&c| anchor_char(c)) {
                    at += 1;
                }
            }
            Some(b'!') if b.get(at + 1) == Some(&b'<') => match text[at..].find('>') {
                Some(i) => at += i + 1,
                None => return at,
            },
            Some(b'!') => {
                // A tag shorthand ends at whitespace (or ',' in a flow collection).
                while b.get(at).is_some_and(|&c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b',')) {
                    at += 1;
                }
            }
            _ => return at,
        }
        loop {
            match b.get(at) {
                Some(b' ' | b'\t' | b'\r' | b'\n') => at += 1,
                Some(b'#') => {
                    while b.get(at).is_some_and(|&c| c != b'\r' && c != b'\n') {
                        at += 1;
                    }
                }
                _ => break,
            }
        }
    }
}

/// The byte offset of the first content character of a block scalar whose `|`/`>`
/// indicator is at `indicator` and whose value is `value`; `None` when the scalar has
/// no content line (then its position stays at the indicator).
///
/// The content starts on the first line after the header that is not all spaces; the
/// value's first line is that line minus the scalar's indentation, so the indentation
/// is the line's leading spaces minus the value's.
pub(super) fn block_content_start(text: &str, indicator: usize, value: &str) -> Option<usize> {
    let first = value.trim_start_matches('\n').split('\n').next()?;
    let extra = first.len() - first.trim_start_matches(' ').len();
    let lead = first[extra..].chars().next()?;
    let mut at = indicator + text.get(indicator..)?.find(['\r', '\n'])?;
    loop {
        // Past the line break ending the previous line.
        at += if text[at..].starts_with("\r\n") { 2 } else { 1 };
        let rest = text.get(at..)?;
        let line = &rest[..rest.find(['\r', '\n']).unwrap_or(rest.len())];
        let spaces = line.len() - line.trim_start_matches(' ').len();
        if spaces < line.len() {
            let ok = spaces >= extra && line[spaces..].starts_with(lead);
            return ok.then_some(at + spaces - extra);
        }
        if line.len() == rest.len() {
            return None;
        }
        at += line.len();
    }
}
