//! `floor_tp`: an EMPTY tracepoint program, never in the agent's probe table.
//! `cargo xtask bench` attaches it (through the hidden `lanner floor`
//! subcommand) on the hooks Lanner uses for open, connect and exec, to measure
//! what one program run costs a syscall before Lanner does any work: the floor
//! Lanner's own overhead is compared with.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};

#[tracepoint]
pub fn floor_tp(_ctx: TracePointContext) -> u32 {
    0
}
