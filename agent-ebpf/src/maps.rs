//! Maps shared by the probes: the event ring buffer, counters, per-thread
//! stashes (enter → exit) and per-CPU scratch space for records too large for
//! the 512-byte BPF stack.
use aya_ebpf::{
    macros::map,
    maps::{lpm_trie::Key, Array, LpmTrie, LruHashMap, PerCpuArray, RingBuf},
};
use lanner_common::{
    config::PREFIX_KEY_LEN, counters::COUNTERS_LEN, ConnectEvent, ExecEvent, FileEvent, FilterConfig, OpenEvent,
    SetuidEvent, SysEvent,
};

/// Default size; userspace may resize it before load.
pub const RINGBUF_BYTES: u32 = 16 * 1024 * 1024;

#[map(name = "EVENTS")]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(RINGBUF_BYTES, 0);

/// 1 = the reader is idle and waits for a wake-up (set by the reader, cleared
/// by the probe that wakes it); see `common::wakeup_flags`.
#[map(name = "READER_IDLE")]
pub static READER_IDLE: Array<u32> = Array::with_max_entries(1, 0);

#[map(name = "COUNTERS")]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTERS_LEN, 0);

/// `execve(filename, argv)` / `execveat(.., filename, argv, ..)` user pointers
/// and the syscall (`EXEC_EXECVE`/`EXEC_EXECVEAT`) captured at entry, keyed by
/// thread id: a failed exec reads them at exit (the old image is intact); a
/// successful one reads argv from the new `mm` and takes only the syscall.
#[map(name = "EXEC_STASH")]
pub static EXEC_STASH: LruHashMap<u32, [u64; 3]> = LruHashMap::with_max_entries(8192, 0);

/// An upper bound on the entries in [`EXEC_STASH`]: raised (atomically) by
/// each insert, lowered by each remove that found its entry, never lowered by
/// an LRU eviction or an insert that replaced an entry. `sched_exec` skips its
/// stash lookup while it reads 0 (`probes::execve_enter::stash_may_hold`):
/// with `execve_regs` only execveat stashes, so nearly every exec saves a
/// hash-map miss (~150-200 ns on a cold bucket).
#[map(name = "EXEC_STASHED")]
pub static EXEC_STASHED: Array<u64> = Array::with_max_entries(1, 0);

/// Per-CPU LRU lists (`BPF_F_NO_COMMON_LRU`): the hottest stash takes no
/// shared LRU lock; lookups still see every CPU's entries.
#[map(name = "OPEN_STASH")]
pub static OPEN_STASH: LruHashMap<u32, OpenEvent> =
    LruHashMap::with_max_entries(8192, aya_ebpf::bindings::BPF_F_NO_COMMON_LRU);

#[map(name = "CONNECT_STASH")]
pub static CONNECT_STASH: LruHashMap<u32, ConnectEvent> = LruHashMap::with_max_entries(8192, 0);

#[map(name = "SETUID_STASH")]
pub static SETUID_STASH: LruHashMap<u32, SetuidEvent> = LruHashMap::with_max_entries(1024, 0);

/// Path syscalls (symlink, link, unlink, rename, mkdir, rmdir, chmod) between enter and exit.
#[map(name = "FILE_STASH")]
pub static FILE_STASH: LruHashMap<u32, FileEvent> = LruHashMap::with_max_entries(1024, 0);

/// Syscalls with numeric arguments (ptrace, socket, modules) between enter and exit.
#[map(name = "SYS_STASH")]
pub static SYS_STASH: LruHashMap<u32, SysEvent> = LruHashMap::with_max_entries(1024, 0);

#[map(name = "FILE_SCRATCH")]
pub static FILE_SCRATCH: PerCpuArray<FileEvent> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "SYS_SCRATCH")]
pub static SYS_SCRATCH: PerCpuArray<SysEvent> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "EXEC_SCRATCH")]
pub static EXEC_SCRATCH: PerCpuArray<ExecEvent> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "OPEN_SCRATCH")]
pub static OPEN_SCRATCH: PerCpuArray<OpenEvent> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "CONNECT_SCRATCH")]
pub static CONNECT_SCRATCH: PerCpuArray<ConnectEvent> = PerCpuArray::with_max_entries(1, 0);

/// Scratch of the executable's dentry walk at exec (`exe::read_exe`).
#[map(name = "EXE_WALK")]
pub static EXE_WALK: PerCpuArray<crate::exe::ExeWalk> = PerCpuArray::with_max_entries(1, 0);

/// Runtime pre-filter (one entry), written by the agent when rules change.
#[map(name = "FILTER")]
pub static FILTER: Array<FilterConfig> = Array::with_max_entries(1, 0);

/// Path prefixes an open must match when the prefix filter is on.
#[map(name = "OPEN_PREFIXES")]
pub static OPEN_PREFIXES: LpmTrie<[u8; PREFIX_KEY_LEN], u8> =
    LpmTrie::with_max_entries(4096, aya_ebpf::bindings::BPF_F_NO_PREALLOC);

/// Path suffixes (reversed) an open may match instead of a prefix.
#[map(name = "OPEN_SUFFIXES")]
pub static OPEN_SUFFIXES: LpmTrie<[u8; PREFIX_KEY_LEN], u8> =
    LpmTrie::with_max_entries(4096, aya_ebpf::bindings::BPF_F_NO_PREALLOC);

/// Path prefixes that only opens for writing may match (rules on writes).
#[map(name = "WRITE_PREFIXES")]
pub static WRITE_PREFIXES: LpmTrie<[u8; PREFIX_KEY_LEN], u8> =
    LpmTrie::with_max_entries(4096, aya_ebpf::bindings::BPF_F_NO_PREALLOC);

/// Path suffixes (reversed) that only opens for writing may match.
#[map(name = "WRITE_SUFFIXES")]
pub static WRITE_SUFFIXES: LpmTrie<[u8; PREFIX_KEY_LEN], u8> =
    LpmTrie::with_max_entries(4096, aya_ebpf::bindings::BPF_F_NO_PREALLOC);

/// One lookup before the tries: may any prefix / suffix match at all?
/// (`lanner_common::pathscan::PathGate`; a zeroed entry looks every time).
#[map(name = "PATH_GATE")]
pub static PATH_GATE: Array<lanner_common::pathscan::PathGate> = Array::with_max_entries(1, 0);

#[map(name = "PREFIX_SCRATCH")]
pub static PREFIX_SCRATCH: PerCpuArray<Key<[u8; PREFIX_KEY_LEN]>> = PerCpuArray::with_max_entries(1, 0);
