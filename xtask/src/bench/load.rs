//! The syscall generators of the benchmarks: tight loops for the slowdown
//! figures and a paced open+close generator (optionally spread over threads,
//! one file each, so one core does not cap it) for the sustained-rate figures.
use std::{
    ffi::CString,
    process::Command,
    time::{Duration, Instant},
};

pub fn open_close(n: u64, path: &CString) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        let fd = unsafe { libc::openat(libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY) };
        unsafe { libc::close(fd) };
    }
    t.elapsed()
}

pub fn exec_true(n: u64) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        let _ = Command::new("/bin/true").status();
    }
    t.elapsed()
}

pub fn connect_closed(n: u64, port: u16) -> Duration {
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes([127, 0, 0, 1]) },
        sin_zero: [0; 8],
    };
    let t = Instant::now();
    for _ in 0..n {
        unsafe {
            let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            libc::connect(s, &addr as *const _ as *const libc::sockaddr, std::mem::size_of_val(&addr) as u32);
            libc::close(s);
        }
    }
    t.elapsed()
}

/// Open+close paced at `rate`/s for `secs` on this thread; how many were done
/// (every open succeeds: the file exists).
pub fn paced_opens(rate: u64, secs: f64, path: &CString) -> u64 {
    let start = Instant::now();
    let total = (rate as f64 * secs) as u64;
    let batch = (rate / 1000).max(1);
    let mut done = 0;
    while done < total {
        let n = batch.min(total - done);
        for _ in 0..n {
            let fd = unsafe { libc::openat(libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY) };
            if fd >= 0 {
                unsafe { libc::close(fd) };
            }
        }
        done += n;
        let due = Duration::from_secs_f64(done as f64 / rate as f64);
        let el = start.elapsed();
        if due > el {
            std::thread::sleep(due - el);
        }
    }
    done
}

/// [`paced_opens`] from one thread per path (each its own file, so the
/// threads do not contend on one dentry), each pacing `rate / threads`;
/// (opens done, wall time from the first start to the last finish).
pub fn paced_opens_threads(rate: u64, secs: f64, paths: &[CString]) -> (u64, Duration) {
    let threads = paths.len().max(1) as u64;
    let t = Instant::now();
    let done = std::thread::scope(|s| {
        let hs: Vec<_> = paths.iter().map(|p| s.spawn(move || paced_opens(rate / threads, secs, p))).collect();
        hs.into_iter().map(|h| h.join().expect("generator thread")).sum()
    });
    (done, t.elapsed())
}
