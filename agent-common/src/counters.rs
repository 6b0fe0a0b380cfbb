//! Per-probe, per-CPU counters the probes keep in a `PerCpuArray<u64>`.
//!
//! Index = `probe as u32 * Counter::COUNT + counter as u32`. Userspace sums the
//! per-CPU slots for metrics and keeps the per-CPU split for diagnostics, so a
//! ring-buffer drop is never silent.

/// Which program incremented a counter.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeId {
    ExecveEnter = 0,
    SchedExec = 1,
    ExecveExit = 2,
    OpenatEnter = 3,
    OpenatExit = 4,
    ConnectEnter = 5,
    ConnectExit = 6,
    SetuidEnter = 7,
    SetuidExit = 8,
    Fork = 9,
    Exit = 10,
    FileEnter = 11,
    FileExit = 12,
    SysEnter = 13,
    SysExit = 14,
}

impl ProbeId {
    pub const COUNT: u32 = 15;
    pub const ALL: [ProbeId; 15] = [
        ProbeId::ExecveEnter,
        ProbeId::SchedExec,
        ProbeId::ExecveExit,
        ProbeId::OpenatEnter,
        ProbeId::OpenatExit,
        ProbeId::ConnectEnter,
        ProbeId::ConnectExit,
        ProbeId::SetuidEnter,
        ProbeId::SetuidExit,
        ProbeId::Fork,
        ProbeId::Exit,
        ProbeId::FileEnter,
        ProbeId::FileExit,
        ProbeId::SysEnter,
        ProbeId::SysExit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProbeId::ExecveEnter => "execve_enter",
            ProbeId::SchedExec => "sched_process_exec",
            ProbeId::ExecveExit => "execve_exit",
            ProbeId::OpenatEnter => "openat_enter",
            ProbeId::OpenatExit => "openat_exit",
            ProbeId::ConnectEnter => "connect_enter",
            ProbeId::ConnectExit => "connect_exit",
            ProbeId::SetuidEnter => "setuid_enter",
            ProbeId::SetuidExit => "setuid_exit",
            ProbeId::Fork => "sched_process_fork",
            ProbeId::Exit => "sched_process_exit",
            ProbeId::FileEnter => "file_enter",
            ProbeId::FileExit => "file_exit",
            ProbeId::SysEnter => "sys_enter",
            ProbeId::SysExit => "sys_exit",
        }
    }
}

/// What a counter counts.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Records written to the ring buffer.
    Emitted = 0,
    /// `bpf_ringbuf_reserve`/`output` failed: the event is lost.
    RingbufDrop = 1,
    /// A user-memory string read failed.
    StrReadFail = 2,
    /// An exit probe found no entry stashed by its enter probe.
    StashMiss = 3,
    /// The stash map was full.
    StashFull = 4,
    /// Dropped in the kernel by the rule-derived pre-filter.
    Filtered = 5,
    /// The agent's own activity, skipped in the kernel.
    Own = 6,
}

impl Counter {
    pub const COUNT: u32 = 7;
    pub const ALL: [Counter; 7] = [
        Counter::Emitted,
        Counter::RingbufDrop,
        Counter::StrReadFail,
        Counter::StashMiss,
        Counter::StashFull,
        Counter::Filtered,
        Counter::Own,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Counter::Emitted => "emitted",
            Counter::RingbufDrop => "ringbuf_drop",
            Counter::StrReadFail => "str_read_fail",
            Counter::StashMiss => "stash_miss",
            Counter::StashFull => "stash_full",
            Counter::Filtered => "filtered",
            Counter::Own => "own",
        }
    }
}

/// Number of slots in the counters map.
pub const COUNTERS_LEN: u32 = ProbeId::COUNT * Counter::COUNT;

#[inline(always)]
pub const fn counter_index(probe: ProbeId, counter: Counter) -> u32 {
    probe as u32 * Counter::COUNT + counter as u32
}
