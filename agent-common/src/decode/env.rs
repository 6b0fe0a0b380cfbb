//! An exec's environment as decoded, in one buffer.
//!
//! An exec record carries its environment as one NUL-separated block. Splitting
//! it into a `String` per variable cost the agent one allocation and one UTF-8
//! pass per variable on every exec (about 12 % of its CPU on a fork+exec loop
//! with a 1.3 KB environment, perf 2026-12-06), only for the process table to
//! join them again or to find them equal to the parent's. [`EnvItems`] keeps
//! the block as it arrives, converted to UTF-8 once; the rule engine's `Env`
//! is built from it in one pass (`Env::from_nul_separated`).
use serde::{Serialize, Serializer};

/// The `NAME=value` items of an environment, as the record's block has them:
/// separated by NULs (no item contains one), converted to UTF-8 once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvItems {
    text: String,
    /// How many items (`text` is empty both for none and for one empty item).
    n: usize,
}

impl EnvItems {
    /// From a NUL-separated block; one trailing NUL ends the last item rather
    /// than starting an empty one. Invalid UTF-8 becomes U+FFFD: a NUL is never
    /// part of a character, so converting the whole block converts each item.
    pub fn from_block(block: &[u8]) -> EnvItems {
        let b = block.strip_suffix(&[0]).unwrap_or(block);
        if b.is_empty() {
            return EnvItems::default();
        }
        let n = b.iter().filter(|&&c| c == 0).count() + 1;
        EnvItems { text: String::from_utf8_lossy(b).into_owned(), n }
    }

    /// Append one item (a NUL in it would split it: the kernel's blocks have none).
    pub fn push(&mut self, item: &str) {
        if self.n > 0 {
            self.text.push('\0');
        }
        self.text.push_str(item);
        self.n += 1;
    }

    /// The items separated by NULs.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The items, in order.
    pub fn items(&self) -> impl Iterator<Item = &str> + '_ {
        self.text.split('\0').take(self.n)
    }
}

impl<S: AsRef<str>> FromIterator<S> for EnvItems {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut e = EnvItems::default();
        for item in iter {
            e.push(item.as_ref());
        }
        e
    }
}

/// As the list of items, as the decoded record always showed it.
impl Serialize for EnvItems {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.items())
    }
}

#[cfg(test)]
mod tests {
    use super::EnvItems;

    fn items(e: &EnvItems) -> Vec<&str> {
        e.items().collect()
    }

    #[test]
    fn a_block_splits_as_it_did_one_string_per_item() {
        let e = EnvItems::from_block(b"A=1\0\0B=x y\0");
        assert_eq!(items(&e), ["A=1", "", "B=x y"], "empty items kept, one trailing NUL ends the last");
        assert_eq!((e.text(), e.len()), ("A=1\0\0B=x y", 3));
        assert_eq!(items(&EnvItems::from_block(b"A=1")), ["A=1"], "no trailing NUL");
        assert!(EnvItems::from_block(b"").is_empty() && EnvItems::from_block(b"\0").is_empty());
        assert_eq!(items(&EnvItems::from_block(b"\0\0")), ["", ""], "as the old split: two empty items");
        assert_eq!(e, ["A=1", "", "B=x y"].into_iter().collect::<EnvItems>(), "from items, the same value");
        let one_empty: EnvItems = [""].into_iter().collect();
        assert_eq!((items(&one_empty), one_empty.len()), (vec![""], 1), "one empty item is not none");
    }

    #[test]
    fn invalid_utf8_is_replaced_per_item() {
        let e = EnvItems::from_block(b"A=\xff\xfe\0B=\xe2\x82\0C=3");
        assert_eq!(items(&e), ["A=\u{fffd}\u{fffd}", "B=\u{fffd}", "C=3"]);
        let mut pushed = EnvItems::default();
        pushed.push("A=1");
        pushed.push("B=2");
        assert_eq!(items(&pushed), ["A=1", "B=2"]);
    }

    #[test]
    fn it_serializes_as_the_list_of_items() {
        let e = EnvItems::from_block(b"A=1\0B=2\0");
        assert_eq!(serde_json::to_string(&e).expect("json"), r#"["A=1","B=2"]"#);
    }
}
