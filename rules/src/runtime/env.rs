//! `proc.env` storage: a process image's environment in one shared buffer.
//!
//! Each process in the agent's table holds its image's environment for as
//! long as it lives (plus the exit grace), so its layout decides the table's
//! memory under an exec storm: one `String` per variable plus a joined copy
//! for `proc.env` cost about 3 KiB per process. Here the items are stored
//! once, already joined with spaces as Falco's `proc.env` shows them, with
//! the end of each item beside them; both are `Arc`s, so a forked child
//! shares its parent's buffer until it execs. Nothing is computed per event:
//! `proc.env` is the buffer itself, `proc.env[NAME]` a scan over the items.
use std::sync::Arc;

/// The `NAME=value` items of an environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Env {
    /// The items joined with single spaces.
    joined: Arc<str>,
    /// Where each item ends in `joined` (exclusive).
    ends: Arc<[u32]>,
}

impl Env {
    pub fn new<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Env {
        let mut joined = String::new();
        let mut ends = Vec::new();
        for item in items {
            if !ends.is_empty() {
                joined.push(' ');
            }
            joined.push_str(item.as_ref());
            ends.push(joined.len() as u32);
        }
        Env { joined: joined.into(), ends: ends.into() }
    }

    /// From `n` items separated by NULs (the decoder's `EnvItems`): one pass
    /// finds the ends and turns the NULs into the spaces `proc.env` shows.
    /// Items hold no NUL (the kernel's block is split on them); one with a NUL
    /// would read as two.
    pub fn from_nul_separated(text: &str, n: usize) -> Env {
        if n == 0 {
            return Env::default();
        }
        let mut ends: Vec<u32> = memchr::memchr_iter(0, text.as_bytes()).map(|i| i as u32).collect();
        ends.push(text.len() as u32);
        Env { joined: text.replace('\0', " ").into(), ends: ends.into() }
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// `proc.env`: the items joined with spaces.
    pub fn joined(&self) -> &str {
        &self.joined
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

    /// `proc.env[NAME]`: the value of the first item named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.items().find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_even_with_spaces_and_empty_items() {
        let e = Env::new(["A=1", "", "B=x y", "A2=x=y"]);
        assert_eq!(e.items().collect::<Vec<_>>(), ["A=1", "", "B=x y", "A2=x=y"]);
        assert_eq!(e.joined(), "A=1  B=x y A2=x=y");
        assert_eq!((e.get("B"), e.get("A2"), e.get("A"), e.get("C")), (Some("x y"), Some("x=y"), Some("1"), None));
        assert_eq!(e.len(), 4);
        let none = Env::new(Vec::<String>::new());
        assert!(none.is_empty() && none.joined().is_empty() && none.items().next().is_none());
        assert_eq!(none, Env::default());
    }

    #[test]
    fn from_nul_separated_is_new_over_the_items() {
        let e = Env::from_nul_separated("A=1\0\0B=x y", 3);
        assert_eq!(e, Env::new(["A=1", "", "B=x y"]));
        assert_eq!(Env::from_nul_separated("", 0), Env::default());
        assert_eq!(Env::from_nul_separated("", 1), Env::new([""]), "one empty item");
        assert_eq!(Env::from_nul_separated("\u{e9}=\u{fffd}\0B=2", 2).get("\u{e9}"), Some("\u{fffd}"));
    }

    #[test]
    fn a_clone_shares_the_buffer() {
        let e = Env::new(["PATH=/bin"]);
        let c = e.clone();
        assert!(Arc::ptr_eq(&e.joined, &c.joined) && Arc::ptr_eq(&e.ends, &c.ends));
    }
}
