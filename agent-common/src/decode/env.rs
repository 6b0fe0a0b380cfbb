//! An exec's environment as decoded, in one buffer.
//!
//! An exec record carries its environment as one NUL-separated block. Splitting
//! it into a `String` per variable cost the agent one allocation and one UTF-8
//! pass per variable on every exec (about 12 % of its CPU on a fork+exec loop
//! with a 1.3 KB environment, perf 2026-12-06), only for the process table to
//! join them again or to find them equal to the parent's. [`EnvItems`] keeps
//! the block as it arrives, NULs turned into the spaces Falco's `proc.env`
//! shows, with the end of each item beside it: the layout of the rule engine's
//! `Env`, which is built from it without a second split.
use serde::{Serialize, Serializer};

/// The `NAME=value` items of an environment: joined with single spaces, and
/// where each item ends (exclusive) in the joined text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvItems {
    joined: String,
    ends: Vec<u32>,
}

impl EnvItems {
    /// From a NUL-separated block; one trailing NUL ends the last item rather
    /// than starting an empty one. Invalid UTF-8 becomes U+FFFD, item by item.
    pub fn from_block(block: &[u8]) -> EnvItems {
        let b = block.strip_suffix(&[0]).unwrap_or(block);
        if b.is_empty() {
            return EnvItems::default();
        }
        let mut bytes = b.to_vec();
        let mut ends = nul_positions(b);
        for &i in &ends {
            bytes[i as usize] = b' ';
        }
        ends.push(bytes.len() as u32);
        match String::from_utf8(bytes) {
            // A NUL never sits inside a multi-byte character, so the items end
            // where the NULs were.
            Ok(joined) => EnvItems { joined, ends },
            // Replacements change the lengths: split, then convert each item.
            Err(_) => b.split(|&c| c == 0).map(String::from_utf8_lossy).collect(),
        }
    }

    /// Append one item.
    pub fn push(&mut self, item: &str) {
        if !self.ends.is_empty() {
            self.joined.push(' ');
        }
        self.joined.push_str(item);
        self.ends.push(self.joined.len() as u32);
    }

    /// The items joined with single spaces (Falco's `proc.env`).
    pub fn joined(&self) -> &str {
        &self.joined
    }

    /// Where each item ends in [`EnvItems::joined`] (exclusive); the next starts one byte later.
    pub fn ends(&self) -> &[u32] {
        &self.ends
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The items, in order.
    pub fn items(&self) -> impl Iterator<Item = &str> + '_ {
        let mut start = 0usize;
        self.ends.iter().map(move |&end| {
            let item = &self.joined[start..end as usize];
            start = end as usize + 1;
            item
        })
    }
}

/// Where `b` holds a NUL, eight bytes per step (`pathscan::bytes_eq`): a
/// byte-by-byte loop over a kilobyte of environment showed in the profile.
fn nul_positions(b: &[u8]) -> Vec<u32> {
    let mut out = Vec::with_capacity(64);
    let mut chunks = b.chunks_exact(8);
    let mut at = 0u32;
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        let mut m = crate::pathscan::bytes_eq(w, 0);
        while m != 0 {
            out.push(at + m.trailing_zeros() / 8);
            m &= m - 1;
        }
        at += 8;
    }
    for (i, &c) in chunks.remainder().iter().enumerate() {
        if c == 0 {
            out.push(at + i as u32);
        }
    }
    out
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
        assert_eq!((e.joined(), e.ends(), e.len()), ("A=1  B=x y", &[3, 4, 10][..], 3));
        assert_eq!(items(&EnvItems::from_block(b"A=1")), ["A=1"], "no trailing NUL");
        assert!(EnvItems::from_block(b"").is_empty() && EnvItems::from_block(b"\0").is_empty());
        assert_eq!(items(&EnvItems::from_block(b"\0\0")), ["", ""], "as the old split: two empty items");
        assert_eq!(e, ["A=1", "", "B=x y"].into_iter().collect::<EnvItems>(), "from items, the same value");
    }

    #[test]
    fn invalid_utf8_is_replaced_per_item_and_the_ends_follow() {
        let e = EnvItems::from_block(b"A=\xff\xfe\0B=\xe2\x82\0C=3");
        assert_eq!(items(&e), ["A=\u{fffd}\u{fffd}", "B=\u{fffd}", "C=3"]);
        let mut pushed = EnvItems::default();
        pushed.push("A=1");
        pushed.push("B=2");
        assert_eq!(items(&pushed), ["A=1", "B=2"]);
    }

    #[test]
    fn nuls_are_found_at_every_offset_of_a_word() {
        for len in 0..40usize {
            for mask in [0u64, 1, 0x0080_0000_0001, 0x0055_5555_5555, u64::MAX] {
                let b: Vec<u8> =
                    (0..len).map(|i| if mask >> (i % 64) & 1 == 1 { 0 } else { b'a' + i as u8 % 26 }).collect();
                let want: Vec<u32> = (0..len as u32).filter(|&i| b[i as usize] == 0).collect();
                assert_eq!(super::nul_positions(&b), want, "len {len} mask {mask:#x}");
            }
        }
    }

    #[test]
    fn it_serializes_as_the_list_of_items() {
        let e = EnvItems::from_block(b"A=1\0B=2\0");
        assert_eq!(serde_json::to_string(&e).expect("json"), r#"["A=1","B=2"]"#);
    }
}
