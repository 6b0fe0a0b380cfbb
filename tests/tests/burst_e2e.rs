//! Privileged burst test: 20,000 execs and 1,000,000 opens while the agent
//! runs. Every event must arrive, or every missing one must be counted as a
//! ring-buffer drop; and every record the kernel emitted must be read.
use std::{ffi::CString, process::Command, time::Instant};

use lanner_tests::{nonce, require_root, Agent, Keep};

const EXECS: u64 = 20_000;
const OPENS: u64 = 1_000_000;

fn check(name: &str, got: u64, want: u64, drops: u64) {
    eprintln!("{name}: generated {want}, received {got}, ring-buffer drops (all probes) {drops}");
    if drops == 0 {
        assert_eq!(got, want, "{name}: no drops were counted, so every event must arrive");
    } else {
        assert!(got <= want, "{name}: more events than generated");
        assert!(got + drops >= want, "{name}: {} events missing but only {drops} drops counted", want - got);
    }
}

#[test]
fn burst_of_execs_is_delivered_or_counted() {
    if !require_root("burst_of_execs_is_delivered_or_counted") {
        return;
    }
    let n = nonce();
    let agent = Agent::start(&["--events"], Keep::Count(format!("\"{n}\"")));
    let t = Instant::now();
    for _ in 0..EXECS {
        let st = Command::new("/bin/true").arg(&n).status().expect("spawn /bin/true");
        assert!(st.success());
    }
    eprintln!("{EXECS} execs in {:?}", t.elapsed());
    let out = agent.stop();
    out.assert_accounting();
    check("exec", out.needle_count, EXECS, out.ringbuf_drops());
}

#[test]
fn burst_of_opens_is_delivered_or_counted() {
    if !require_root("burst_of_opens_is_delivered_or_counted") {
        return;
    }
    let n = nonce();
    let path = format!("/tmp/{n}.burst");
    std::fs::write(&path, b"x").unwrap();
    let agent = Agent::start(&["--events"], Keep::Count(format!("\"{path}\"")));
    let c = CString::new(path.clone()).unwrap();
    let t = Instant::now();
    for _ in 0..OPENS {
        let fd = unsafe { libc::openat(libc::AT_FDCWD, c.as_ptr(), libc::O_RDONLY) };
        assert!(fd >= 0);
        unsafe { libc::close(fd) };
    }
    let secs = t.elapsed().as_secs_f64();
    eprintln!("{OPENS} opens in {secs:.2} s ({:.0}/s)", OPENS as f64 / secs);
    let out = agent.stop();
    out.assert_accounting();
    check("open", out.needle_count, OPENS, out.ringbuf_drops());
    let _ = std::fs::remove_file(&path);
}
