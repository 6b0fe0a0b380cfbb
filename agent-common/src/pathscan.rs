//! Byte tests on open paths shared by the eBPF pre-filter and its userspace
//! model: the kernel runs them to decide whether a path can be judged by its
//! bytes alone, userspace runs the same code to predict that decision.
//!
//! A path containing `/.` or `//` may be non-canonical (`/tmp/../etc/shadow`);
//! the agent normalises paths before rules see them, so the kernel must not
//! judge such a path by its raw prefix or suffix. The scan takes eight bytes
//! per step (the verifier bounds it at `PATH_LEN / 8` iterations).
use crate::PATH_LEN;

/// `O_WRONLY | O_RDWR | O_CREAT | O_TRUNC`: what counts as an open for writing.
pub const WRITE_FLAGS: u32 = 0o1 | 0o2 | 0o100 | 0o1000;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// High bit set in every byte of `w` equal to `c` (exact, no false positives).
#[inline(always)]
pub fn bytes_eq(w: u64, c: u8) -> u64 {
    let x = w ^ (c as u64).wrapping_mul(ONES);
    !((x & LOW7).wrapping_add(LOW7) | x) & HIGH
}

/// The eight bytes of `path` at `at` as a little-endian word; `at` is masked
/// to a multiple of eight inside the buffer.
///
/// In the kernel it is ONE aligned load: every path buffer the programs scan
/// is an `OpenEvent::path` in map memory, which starts on an 8-byte boundary
/// (asserted in `event.rs`), and the masked offset keeps the load aligned and
/// in bounds for the verifier. LLVM's BPF target cannot assume that of a
/// `[u8]` and assembles such a word from eight byte loads, shifts and ors
/// (about 24 instructions), which the pre-filter did for every word it looked
/// at. Userspace keeps the portable form (one unaligned load on x86_64).
#[inline(always)]
pub fn word_at(path: &[u8; PATH_LEN], at: usize) -> u64 {
    let at = at & (PATH_LEN - 8);
    #[cfg(target_arch = "bpf")]
    {
        // SAFETY: `at + 8 <= PATH_LEN`; the buffer and `at` are 8-aligned (above).
        unsafe { (path.as_ptr().add(at) as *const u64).read() }
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        let mut b = [0u8; 8];
        b.copy_from_slice(&path[at..at + 8]);
        u64::from_le_bytes(b)
    }
}

/// The gate's two words of `path[..len]` (`1 <= len < PATH_LEN`): its first
/// eight bytes (fewer for a shorter path, the rest zero) and its last eight
/// (for a shorter path its bytes in the word's high end over zeros), exactly
/// what [`PathGate::may_match`] builds from a slice. The last word is one
/// aligned [`word_at`] or two spliced, never a byte loop.
#[inline(always)]
pub fn gate_words(path: &[u8; PATH_LEN], len: usize) -> (u64, u64) {
    let first = word_at(path, 0);
    if len < 8 {
        let first = first & ((1u64 << (len * 8)) - 1);
        return (first, first << ((8 - len) * 8));
    }
    let e = len - 8;
    let s = (e & 7) * 8;
    let lo = word_at(path, e);
    let last = if s == 0 { lo } else { (lo >> s) | (word_at(path, e + 8) << (64 - s)) };
    (first, last)
}

/// Does `path[..len]` contain `/.` or `//`? `path` is a NUL-padded buffer of
/// `PATH_LEN` bytes; bytes at and past `len` are ignored (they may be stale).
#[inline(always)]
pub fn maybe_non_canonical(path: &[u8; PATH_LEN], len: usize) -> bool {
    let mut carry = 0u64; // the previous word ended in '/'
    for i in 0..PATH_LEN / 8 {
        let at = i * 8;
        if at >= len {
            break;
        }
        let mut w = word_at(path, at);
        let valid = len - at;
        if valid < 8 {
            w &= (1u64 << (valid * 8)) - 1;
        }
        let slash = bytes_eq(w, b'/');
        let next = slash | bytes_eq(w, b'.');
        if (slash << 8) & next != 0 || (carry != 0 && next & 0x80 != 0) {
            return true;
        }
        carry = slash >> 63;
    }
    false
}

/// Bits per side of [`PathGate`].
pub const GATE_BITS: usize = 1 << 15;
/// `u64` words per side of [`PathGate`].
pub const GATE_WORDS: usize = GATE_BITS / 64;

/// Longest key of a [`PathGate`] side, in bytes: a path's first (last) eight
/// bytes, one `u64` word.
pub const GATE_MAX_K: u32 = 8;

/// A one-lookup gate in front of the pre-filter's LPM tries (the `PATH_GATE`
/// map, written by the agent with the tries): bit `gate_bit(first K bytes)` of
/// `prefix` is set for every prefix `OPEN_PREFIXES` holds, of `suffix` for every
/// suffix of `OPEN_SUFFIXES` (by its last K bytes), and the `write_*` sides do
/// the same for the tries only opens for writing consult. A path whose bit is
/// clear can match no pattern of that trie, so its walk is skipped; a set bit
/// only means "look", so the gate never changes a decision, it only spares
/// most paths the walks. Each side's K (1..=8) is its shortest pattern's
/// length capped at 8, so a side of long patterns tells `/etc/ld.so.cache`
/// from `/etc/shadow` (the default pack's read prefixes are all 11 bytes or
/// more, while its write prefixes include `/etc/`); 0 turns that side off
/// (every path looks), which is also what a zeroed entry does.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PathGate {
    pub prefix_k: u32,
    pub suffix_k: u32,
    pub write_prefix_k: u32,
    pub write_suffix_k: u32,
    pub prefix: [u64; GATE_WORDS],
    pub suffix: [u64; GATE_WORDS],
    pub write_prefix: [u64; GATE_WORDS],
    pub write_suffix: [u64; GATE_WORDS],
}

const _: () = assert!(core::mem::size_of::<PathGate>() == 16 + 4 * GATE_WORDS * 8);

#[cfg(feature = "user")]
// SAFETY: repr(C), Copy, only integer fields, no implicit padding.
unsafe impl aya::Pod for PathGate {}

/// The gate bit of `word` (a path's first or last eight bytes, little-endian)
/// for a key of `k` (1..=8) bytes: the first `k` bytes (`last` false) or the last `k`.
#[inline(always)]
pub fn gate_bit(word: u64, k: u32, last: bool) -> usize {
    let drop = (GATE_MAX_K - k) * 8;
    let key = if last { word >> drop } else { word & (u64::MAX >> drop) };
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - 15)) as usize & (GATE_BITS - 1)
}

/// Is the bit of `word` (key `k`, 0: side off, every path looks) set in one gate side?
#[inline(always)]
pub fn gate_has(side: &[u64; GATE_WORDS], word: u64, k: u32, last: bool) -> bool {
    if k == 0 {
        return true;
    }
    let bit = gate_bit(word, if k > GATE_MAX_K { GATE_MAX_K } else { k }, last);
    side[(bit >> 6) & (GATE_WORDS - 1)] & (1u64 << (bit & 63)) != 0
}

impl PathGate {
    /// All zero, what the map holds before the agent writes it: every side
    /// off, every path looks.
    pub const OPEN: PathGate = PathGate {
        prefix_k: 0,
        suffix_k: 0,
        write_prefix_k: 0,
        write_suffix_k: 0,
        prefix: [0; GATE_WORDS],
        suffix: [0; GATE_WORDS],
        write_prefix: [0; GATE_WORDS],
        write_suffix: [0; GATE_WORDS],
    };

    /// Must the prefix tries (`last` false) or the suffix tries be walked for a
    /// path whose first (last) eight bytes are `word`, an open for writing or not?
    /// The one decision the kernel (`path_wanted`) and userspace both take.
    #[inline(always)]
    pub fn look(&self, word: u64, last: bool, write: bool) -> bool {
        let (side, k, wside, wk) = if last {
            (&self.suffix, self.suffix_k, &self.write_suffix, self.write_suffix_k)
        } else {
            (&self.prefix, self.prefix_k, &self.write_prefix, self.write_prefix_k)
        };
        gate_has(side, word, k, last) || (write && gate_has(wside, word, wk, last))
    }
}

/// The patterns of the four tries, for [`PathGate::build`].
#[cfg(feature = "user")]
pub struct GatePatterns<'a> {
    pub prefixes: &'a [String],
    pub suffixes: &'a [String],
    pub write_prefixes: &'a [String],
    pub write_suffixes: &'a [String],
}

#[cfg(feature = "user")]
impl PathGate {
    /// The gate of the four tries' patterns.
    pub fn build(p: &GatePatterns<'_>) -> Box<PathGate> {
        let mut g = Box::new(PathGate::OPEN);
        let k = |a: &[String]| a.iter().map(String::len).min().map_or(0, |m| m.min(GATE_MAX_K as usize) as u32);
        (g.prefix_k, g.suffix_k) = (k(p.prefixes), k(p.suffixes));
        (g.write_prefix_k, g.write_suffix_k) = (k(p.write_prefixes), k(p.write_suffixes));
        let ks = (g.prefix_k, g.suffix_k, g.write_prefix_k, g.write_suffix_k);
        for (side, k, last, pats) in [
            (&mut g.prefix, ks.0, false, p.prefixes),
            (&mut g.suffix, ks.1, true, p.suffixes),
            (&mut g.write_prefix, ks.2, false, p.write_prefixes),
            (&mut g.write_suffix, ks.3, true, p.write_suffixes),
        ] {
            if k == 0 {
                continue;
            }
            for pat in pats {
                let (b, k) = (pat.as_bytes(), k as usize);
                let mut w = [0u8; 8];
                if last {
                    w[8 - k..].copy_from_slice(&b[b.len() - k..]);
                } else {
                    w[..k].copy_from_slice(&b[..k]);
                }
                let bit = gate_bit(u64::from_le_bytes(w), k as u32, last);
                side[bit >> 6] |= 1 << (bit & 63);
            }
        }
        g
    }

    /// Must the kernel walk the prefix tries (`last` false) or the suffix tries
    /// for `path`, an open for writing or not? What `path_wanted` asks, on the
    /// word [`slice_word`] builds.
    pub fn may_match(&self, path: &[u8], last: bool, write: bool) -> bool {
        self.look(slice_word(path, last), last, write)
    }
}

/// The gate word of `path` in userspace: its first eight bytes (`last`: its
/// last eight); a path shorter than eight bytes fills the word's low (`last`:
/// high) bytes and the rest are zero, as [`gate_words`] gives the kernel.
#[cfg(feature = "user")]
pub fn slice_word(path: &[u8], last: bool) -> u64 {
    let n = path.len().min(8);
    let mut w = [0u8; 8];
    if last {
        w[8 - n..].copy_from_slice(&path[path.len() - n..]);
    } else {
        w[..n].copy_from_slice(&path[..n]);
    }
    u64::from_le_bytes(w)
}

#[cfg(all(test, feature = "user"))]
mod tests {
    use super::*;

    fn naive(s: &str) -> bool {
        s.contains("/.") || s.contains("//")
    }

    fn buf(s: &str, stale: u8) -> [u8; PATH_LEN] {
        let mut b = [stale; PATH_LEN];
        b[..s.len()].copy_from_slice(s.as_bytes());
        b[s.len()] = 0;
        b
    }

    #[test]
    fn the_gate_never_hides_a_pattern_and_closes_for_most_other_paths() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (prefixes, suffixes) =
            (v(&["/etc/", "/root/.ssh/", "/var/run/secrets/", "/proc/"]), v(&["/id_rsa", ".pem", "/.bashrc"]));
        let (wp, ws) = (v(&["/usr/bin/"]), v(&["/authorized_keys"]));
        let pats = GatePatterns { prefixes: &prefixes, suffixes: &suffixes, write_prefixes: &wp, write_suffixes: &ws };
        let g = PathGate::build(&pats);
        assert_eq!((g.prefix_k, g.suffix_k, g.write_prefix_k, g.write_suffix_k), (5, 4, 8, 8));
        for path in ["/etc/shadow", "/root/.ssh/id_ed25519", "/proc/1/environ", "/var/run/secrets/x"] {
            assert!(g.may_match(path.as_bytes(), false, false), "{path}");
        }
        for path in ["/home/a/.ssh/id_rsa", "/tmp/k.pem", "/home/b/.bashrc"] {
            assert!(g.may_match(path.as_bytes(), true, false), "{path}");
        }
        // Write-only patterns open the gate for writes only.
        assert!(g.may_match(b"/usr/bin/ls", false, true) && !g.may_match(b"/usr/bin/ls", false, false));
        assert!(g.may_match(b"/x/authorized_keys", true, true) && !g.may_match(b"/x/authorized_keys", true, false));
        let others = ["/tmp/lanner-bench-1", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/dev/nullx", "/sys/fs/cgroup/x"];
        let closed = others
            .iter()
            .filter(|p| !g.may_match(p.as_bytes(), false, false) && !g.may_match(p.as_bytes(), true, false));
        assert_eq!(closed.count(), others.len(), "these share no first or last K bytes with a pattern");
        // Long patterns make a long key: a path that shares only their first
        // four bytes does not look (the default pack's /etc/ reads).
        let long = v(&["/etc/shadow", "/etc/sudoers"]);
        let g8 = PathGate::build(&GatePatterns {
            prefixes: &long,
            suffixes: &[],
            write_prefixes: &v(&["/etc/"]),
            write_suffixes: &[],
        });
        assert_eq!((g8.prefix_k, g8.write_prefix_k), (8, 5));
        assert!(g8.may_match(b"/etc/shadow-", false, false) && g8.may_match(b"/etc/sudoers.d/x", false, false));
        assert!(!g8.may_match(b"/etc/ld.so.cache", false, false), "a read below /etc/ that no read prefix names");
        assert!(g8.may_match(b"/etc/ld.so.cache", false, true), "a write: /etc/ is a write prefix");
        // Shorter than eight bytes: the key is the path's own bytes.
        assert!(!g8.may_match(b"/etc/x", false, false) && g8.may_match(b"/etc/x", false, true));
        let g5 = PathGate::build(&GatePatterns { prefixes: &v(&["/proc/"]), suffixes: &v(&["/mem"]), ..pats });
        assert!(g5.may_match(b"/proc/1", false, false) && !g5.may_match(b"/tmp/x", false, false));
        assert!(g5.may_match(b"/x/mem", true, false) && !g5.may_match(b"/x/men", true, false));
        // Short patterns shorten the key; none turns a side off.
        let (root, none) = (v(&["/"]), Vec::new());
        let g = PathGate::build(&GatePatterns {
            prefixes: &root,
            suffixes: &none,
            write_prefixes: &none,
            write_suffixes: &none,
        });
        assert_eq!((g.prefix_k, g.suffix_k), (1, 0));
        assert!(g.may_match(b"/anything", false, false) && g.may_match(b"/anything", true, false));
        assert!(!g.may_match(b"relative", false, false));
        let sh = v(&[".sh"]);
        let g = PathGate::build(&GatePatterns {
            prefixes: &none,
            suffixes: &sh,
            write_prefixes: &none,
            write_suffixes: &none,
        });
        assert!(g.may_match(b"/tmp/x.sh", true, false) && !g.may_match(b"/tmp/x.py", true, false));
        // A zeroed entry (before the agent writes it) is open.
        let z = PathGate::OPEN;
        assert!(z.may_match(b"/tmp/x", false, false) && z.may_match(b"/tmp/x", true, false));
    }

    #[test]
    fn agrees_with_the_naive_scan_at_every_alignment() {
        let stems = ["/etc/shadow", "/tmp/../etc/shadow", "//etc", "/a/.b", "/a./b", "a/", "/", "/.", "x.y/z"];
        for stem in stems {
            for pad in 0..17 {
                for tail in ["", "/", "/.", "x", "//", "./"] {
                    let s = format!("{}{}{}", "a".repeat(pad), stem, tail);
                    for stale in [0u8, b'/', b'.'] {
                        assert_eq!(maybe_non_canonical(&buf(&s, stale), s.len()), naive(&s), "{s:?} stale {stale}");
                    }
                }
            }
        }
    }

    #[test]
    fn word_boundaries_and_length_limit() {
        // '/' as the last byte of a word, '.' as the first of the next.
        let s = "/abcdef/.ssh";
        assert_eq!(&s[7..9], "/.");
        assert!(maybe_non_canonical(&buf(s, 0), s.len()));
        // The pair lies past `len`: ignored.
        assert!(!maybe_non_canonical(&buf(s, 0), 8));
        let long = format!("/{}", "a".repeat(PATH_LEN - 2));
        assert!(!maybe_non_canonical(&buf(&long, 0), long.len()));
    }

    #[test]
    fn gate_words_are_the_words_may_match_takes() {
        let text: Vec<u8> = (0..PATH_LEN as u32).map(|i| (i * 7 % 251) as u8 + 1).collect();
        for len in (1..40).chain(PATH_LEN - 20..PATH_LEN) {
            for stale in [0u8, 0xff] {
                let mut b = [stale; PATH_LEN];
                b[..len].copy_from_slice(&text[..len]);
                let (first, last) = gate_words(&b, len);
                assert_eq!(first, slice_word(&b[..len], false), "first, len {len}");
                assert_eq!(last, slice_word(&b[..len], true), "last, len {len}");
            }
        }
    }

    #[test]
    fn exact_byte_equality() {
        let w = u64::from_le_bytes(*b"/./a\x01/\x00.");
        assert_eq!(bytes_eq(w, b'/'), 0x0000_8000_0080_0080);
        assert_eq!(bytes_eq(w, b'.'), 0x8000_0000_0000_8000);
    }
}
