//! The open path pre-filter: decides in the kernel whether an absolute open
//! path can matter to any loaded rule, before the open is stashed.
//!
//! The agent derives LPM tries from the rules (`lanner_rules::OpenNeeds`):
//! path prefixes (`OPEN_PREFIXES`, keyed by the path's first 64 bytes) and path
//! suffixes (`OPEN_SUFFIXES`, keyed by the path's last 64 bytes reversed), plus
//! the same pair for paths only rules on writes need (`WRITE_*`, consulted for
//! opens for writing only). A path passes if a consulted trie holds a match.
//! In front of the tries, `PATH_GATE` (`lanner_common::pathscan::PathGate`)
//! answers in one array lookup whether any pattern shares the path's first
//! (last) bytes at all; most paths share none and skip both trie walks. Paths the userspace model cannot
//! judge from their bytes always pass: relative paths, truncated paths and
//! possibly non-canonical ones (containing `/.` or `//`, e.g.
//! `/tmp/../etc/shadow`), because userspace normalises those before matching.
//! `lanner_rules::OpenNeeds::passes` is the same check in userspace; the rule
//! fixtures and the e2e equivalence test hold the two together.
use lanner_common::{
    config::PREFIX_KEY_LEN,
    pathscan::{gate_words, maybe_non_canonical, WRITE_FLAGS},
    FilterConfig, PATH_LEN,
};

use aya_ebpf::helpers::generated::bpf_probe_read_kernel;

use crate::maps::{OPEN_PREFIXES, OPEN_SUFFIXES, PATH_GATE, PREFIX_SCRATCH, WRITE_PREFIXES, WRITE_SUFFIXES};

/// Should this absolute (or relative) open path be kept? `len` excludes the NUL.
///
/// Written for the verifier: the prefix and suffix keys are built with
/// constant indices only (the suffix through one helper read that ends at the
/// path's last byte, then eight byte-swapped words in reverse order), the
/// gate's first and last eight bytes through indices masked to the buffer, and the
/// one data-dependent loop (the `/.` scan) comes last, where each of its exits
/// leads straight to a result.
#[inline(always)]
pub fn path_wanted(path: &[u8; PATH_LEN], len: usize, truncated: bool, flags: u32, f: &FilterConfig) -> bool {
    if len == 0 || len >= PATH_LEN || path[0] != b'/' || truncated || path[(len - 1) & (PATH_LEN - 1)] == b'/' {
        return true;
    }
    let write = flags & WRITE_FLAGS != 0;
    if write && f.open_writes_always != 0 {
        return true;
    }
    let Some(gate) = PATH_GATE.get(0) else {
        return true;
    };
    // The gate: a clear bit means no prefix (suffix) shares the path's first
    // (last) K bytes, so no trie walk (`gate_words`: the same words
    // `PathGate::may_match` takes in userspace, from aligned loads). The
    // 64-byte suffix key is only built when the gate says look.
    let (first, last) = gate_words(path, len);
    let look_prefix = gate.look(first, false, write);
    let look_suffix = gate.look(last, true, write);
    if !look_prefix && !look_suffix {
        return maybe_non_canonical(path, len);
    }
    let Some(key) = PREFIX_SCRATCH.get_ptr_mut(0) else {
        return true;
    };
    let key = unsafe { &mut *key };
    // Prefix: the first 64 bytes (bytes after the NUL never match a rule prefix,
    // which holds no NUL, so stale scratch bytes there are harmless).
    if look_prefix {
        key.prefix_len = (PREFIX_KEY_LEN * 8) as u32;
        key.data.copy_from_slice(&path[..PREFIX_KEY_LEN]);
        if OPEN_PREFIXES.get(&*key).is_some() || (write && WRITE_PREFIXES.get(&*key).is_some()) {
            return true;
        }
    }
    if !look_suffix {
        return maybe_non_canonical(path, len);
    }
    // Suffix: the 64 bytes ending at the path's last byte (for a shorter path
    // they start inside the record's fixed fields: those land past
    // `prefix_len` once reversed and are ignored), reversed.
    let n = if len < PREFIX_KEY_LEN { len } else { PREFIX_KEY_LEN };
    let src = unsafe { path.as_ptr().add(len).sub(PREFIX_KEY_LEN) };
    if unsafe { bpf_probe_read_kernel(key.data.as_mut_ptr().cast(), PREFIX_KEY_LEN as u32, src.cast()) } != 0 {
        return true;
    }
    let words = key.data.as_mut_ptr() as *mut u64;
    let mut w = [0u64; PREFIX_KEY_LEN / 8];
    for (j, x) in w.iter_mut().enumerate() {
        *x = unsafe { core::ptr::read_unaligned(words.add(j)) };
    }
    for (j, x) in w.iter().rev().enumerate() {
        unsafe { core::ptr::write_unaligned(words.add(j), x.swap_bytes()) };
    }
    key.prefix_len = (n * 8) as u32;
    if OPEN_SUFFIXES.get(&*key).is_some() || (write && WRITE_SUFFIXES.get(&*key).is_some()) {
        return true;
    }
    maybe_non_canonical(path, len)
}
