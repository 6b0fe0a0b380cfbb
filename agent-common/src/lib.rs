//! Types shared by Lanner's eBPF probes and its userspace agent.
//!
//! Everything here crosses the kernel/user boundary, so every struct is
//! `#[repr(C)]`, starts with the common [`EventHeader`], has explicit padding
//! and a compile-time size assertion: a layout change on one side that is not
//! made on the other fails the build instead of corrupting events at run time.
//! The crate is `no_std` for the eBPF target; userspace-only code (aya `Pod`
//! impls, serde, the decoder) sits behind the `user` feature.
#![cfg_attr(not(feature = "user"), no_std)]

pub mod config;
pub mod counters;
pub mod event;
pub mod exe;
pub mod pathscan;

#[cfg(feature = "user")]
pub mod comm;
#[cfg(feature = "user")]
pub mod decode;

pub use config::{FilterConfig, KernelOffsets, ProbeConfig};
pub use counters::{Counter, ProbeId};
pub use event::*;
pub use exe::ExecInfo;
