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
        let mut b = [0u8; 8];
        b.copy_from_slice(&path[at & (PATH_LEN - 8)..(at & (PATH_LEN - 8)) + 8]);
        let mut w = u64::from_le_bytes(b);
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
    fn exact_byte_equality() {
        let w = u64::from_le_bytes(*b"/./a\x01/\x00.");
        assert_eq!(bytes_eq(w, b'/'), 0x0000_8000_0080_0080);
        assert_eq!(bytes_eq(w, b'.'), 0x8000_0000_0000_8000);
    }
}
