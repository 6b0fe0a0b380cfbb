//! Maps shared by the probes: the event ring buffer, counters, per-thread
//! stashes (enter → exit) and per-CPU scratch space for records too large for
//! the 512-byte BPF stack.
use aya_ebpf::{
    macros::map,
    maps::{LruHashMap, PerCpuArray, RingBuf},
};
use lanner_common::{
    counters::COUNTERS_LEN, ConnectEvent, ExecEvent, OpenEvent, SetuidEvent,
};

/// Default size; userspace may resize it before load.
pub const RINGBUF_BYTES: u32 = 16 * 1024 * 1024;

#[map(name = "EVENTS")]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(RINGBUF_BYTES, 0);

#[map(name = "COUNTERS")]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTERS_LEN, 0);

/// execve arguments captured at sys_enter_execve, keyed by thread id.
#[map(name = "EXEC_STASH")]
pub static EXEC_STASH: LruHashMap<u32, ExecEvent> = LruHashMap::with_max_entries(2048, 0);

#[map(name = "OPEN_STASH")]
pub static OPEN_STASH: LruHashMap<u32, OpenEvent> = LruHashMap::with_max_entries(8192, 0);

#[map(name = "CONNECT_STASH")]
pub static CONNECT_STASH: LruHashMap<u32, ConnectEvent> = LruHashMap::with_max_entries(8192, 0);

#[map(name = "SETUID_STASH")]
pub static SETUID_STASH: LruHashMap<u32, SetuidEvent> = LruHashMap::with_max_entries(1024, 0);

#[map(name = "EXEC_SCRATCH")]
pub static EXEC_SCRATCH: PerCpuArray<ExecEvent> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "OPEN_SCRATCH")]
pub static OPEN_SCRATCH: PerCpuArray<OpenEvent> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "CONNECT_SCRATCH")]
pub static CONNECT_SCRATCH: PerCpuArray<ConnectEvent> = PerCpuArray::with_max_entries(1, 0);
