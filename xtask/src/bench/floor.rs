//! The floor of the syscall loops: `lanner floor --program P HOOK...` (a hidden
//! subcommand) holds one of the object's floor programs (the EMPTY `floor_tp`,
//! or `floor_path`, which only copies an open's path) on the given
//! tracepoints until its stdin closes. A loop run while it is held measures
//! what the hooks alone cost (one BPF program run per syscall, or two for an
//! enter+exit pair), before any of Lanner's work; Lanner's overhead is then
//! reported above that floor. Also pins the loops to one CPU.
use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, ChildStdin, Command, Stdio},
};

use anyhow::{bail, Context as _, Result};

/// The held empty programs; dropping it closes stdin and waits for the exit
/// (which detaches them).
pub struct Floor {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Floor {
    pub fn start(bin: &Path, program: &str, hooks: &[&str]) -> Result<Floor> {
        let mut child = Command::new(bin)
            .args(["floor", "--program", program])
            .args(hooks)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting lanner floor")?;
        let stdin = child.stdin.take();
        let err = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(err).lines();
        let mut seen = Vec::new();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.starts_with("floor ready") => break,
                Some(Ok(l)) => seen.push(l),
                _ => {
                    let _ = child.wait();
                    bail!("lanner floor {} failed:\n{}", hooks.join(" "), seen.join("\n"));
                }
            }
        }
        // Nothing more is printed until exit; the pipe's reader may go.
        std::thread::spawn(move || for _ in lines {});
        Ok(Floor { child, stdin })
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// Run `f` with the calling thread (and the processes it forks) pinned to the
/// last CPU, then restore the previous affinity: the loop always runs on the
/// same core, whatever the scheduler would do.
pub fn pinned<T>(f: impl FnOnce() -> T) -> T {
    unsafe {
        let mut old: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        let have = libc::sched_getaffinity(0, size, &mut old) == 0;
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpus - 1, &mut one);
        let pinned = libc::sched_setaffinity(0, size, &one) == 0;
        let r = f();
        if pinned && have {
            libc::sched_setaffinity(0, size, &old);
        }
        r
    }
}

/// The CPU [`pinned`] uses.
pub fn pinned_cpu() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) - 1
}
