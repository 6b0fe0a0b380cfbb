//! `cargo xtask kernels`: the agent on real Debian kernels under QEMU.
//!
//! The pinned manifest (xtask/kernels/manifest.txt) names each kernel package
//! by suite, exact version and sha256; xtask/kernels/kernels.sh fetches them
//! with apt into ~/.cache/lanner/kernels (outside the clone) and builds one
//! initramfs: busybox-static, the release `lanner` with the libraries `ldd`
//! lists, and the payload (xtask/kernels/payload: /init, the smoke rules, a
//! static setuid helper). Each kernel boots in its own TCG guest (KVM is not
//! usable here), at most two at a time, with a timeout and one retry; the
//! serial console is parsed by `check` and the kernel × check table is
//! printed and written to docs/kernels.md.
use std::{
    collections::VecDeque,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

mod check;

const NOTES: &str = include_str!("../kernels/notes.md");
/// Guests at once: the machine has two cores, shared with compiles.
const PARALLEL: usize = 2;
/// One guest, boot to power-off (TCG; the verifier is slow on 5.10).
const GUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// `no_timer_check`: under a loaded TCG host the IO-APIC timer check can
/// fail and panic the boot ("IO-APIC + timer doesn't work", seen on 6.12).
const BASE_APPEND: &str = "console=ttyS0 panic=-1 quiet no_timer_check";

/// One manifest line.
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: String,
    pub suite: String,
    pub package: String,
    pub version: String,
    pub sha256: String,
    /// Extra kernel command line (`-` in the manifest: none).
    pub append: String,
}

/// Parse the manifest: `name suite package version sha256 append` per line.
pub fn parse_manifest(text: &str, file: &str) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 6 {
            bail!("{file}:{}:1: want 6 fields (name suite package version sha256 append), found {}", i + 1, f.len());
        }
        if f[4].len() != 64 || !f[4].bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("{file}:{}: sha256 must be 64 hex digits: {}", i + 1, f[4]);
        }
        let append = if f[5] == "-" { String::new() } else { f[5].to_string() };
        out.push(Entry {
            name: f[0].into(),
            suite: f[1].into(),
            package: f[2].into(),
            version: f[3].into(),
            sha256: f[4].into(),
            append,
        });
    }
    Ok(out)
}

fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("LANNER_KERNEL_CACHE") {
        return d.into();
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/root".into());
    home.join(".cache/lanner/kernels")
}

fn script(root: &Path) -> Command {
    let mut c = Command::new("bash");
    c.arg(root.join("xtask/kernels/kernels.sh")).env("LANNER_KERNEL_CACHE", cache_dir());
    c
}

/// Run the script, return its last stdout line (a path).
fn script_path(root: &Path, args: &[&str]) -> Result<PathBuf> {
    let out = script(root).args(args).stderr(Stdio::inherit()).output().context("running kernels.sh")?;
    if !out.status.success() {
        bail!("kernels.sh {} failed", args.join(" "));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(PathBuf::from(text.lines().last().unwrap_or_default().trim()))
}

/// The payload tree: /init, the rules (default pack + smoke rules), the helpers.
fn payload(root: &Path) -> Result<PathBuf> {
    let src = root.join("xtask/kernels/payload");
    let dir = cache_dir().join("payload");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("kmx"))?;
    std::fs::copy(src.join("init"), dir.join("init"))?;
    for f in ["smoke.yaml", "container-id", "container-id-v1"] {
        std::fs::copy(src.join(f), dir.join("kmx").join(f))?;
    }
    // The default pack, every file of it (loaded in name order from the directory).
    std::fs::create_dir_all(dir.join("kmx/default"))?;
    for e in std::fs::read_dir(root.join("rules/default"))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "yaml") {
            std::fs::copy(&p, dir.join("kmx/default").join(p.file_name().expect("file name")))?;
        }
    }
    // Static helpers: setuid0 (setuid EPERM), opens (open/openat/openat2/creat by raw
    // syscall), execat (execveat, successful and ENOENT), inject (process_vm_readv,
    // io_uring_setup, open_by_handle_at).
    for helper in ["setuid0", "opens", "execat", "inject"] {
        let st = Command::new("cc")
            .args(["-static", "-O2", "-Wall", "-Werror", "-o"])
            .arg(dir.join("kmx").join(helper))
            .arg(src.join(format!("{helper}.c")))
            .status()
            .with_context(|| format!("cc (the static {helper} helper)"))?;
        if !st.success() {
            bail!("compiling xtask/kernels/payload/{helper}.c failed");
        }
    }
    Ok(dir)
}

/// One guest run: the console text, the whole run's time and the boot's (QEMU start
/// to the guest's /init printing its first `KMX kernel` line; `None` if it never did).
fn boot(
    name: &str,
    vmlinuz: &Path,
    initrd: &Path,
    append: &str,
    attempt: u32,
) -> Result<(String, Duration, Option<Duration>)> {
    let log = cache_dir().join(format!("runs/{name}.{attempt}.log"));
    std::fs::create_dir_all(log.parent().expect("runs dir"))?;
    let out = std::fs::File::create(&log)?;
    let cmdline = format!("{BASE_APPEND} {append}");
    let t = Instant::now();
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg,thread=single", "-cpu", "max", "-m", "1G", "-smp", "2"])
        .args(["-nographic", "-no-reboot", "-monitor", "none", "-serial", "stdio"])
        .arg("-kernel")
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", cmdline.trim()])
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("spawning qemu-system-x86_64")?;
    let mut booted = None;
    let timed_out = loop {
        if booted.is_none() && std::fs::read(&log).is_ok_and(|b| b.windows(11).any(|w| w == b"KMX kernel ")) {
            booted = Some(t.elapsed());
        }
        if child.try_wait()?.is_some() {
            break false;
        }
        if t.elapsed() > GUEST_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break true;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let mut text = String::from_utf8_lossy(&std::fs::read(&log)?).into_owned();
    if timed_out {
        text.push_str(&format!("\nKMX-TIMEOUT after {} s\n", GUEST_TIMEOUT.as_secs()));
    }
    let booted = booted.or_else(|| text.contains("KMX kernel ").then(|| t.elapsed()));
    Ok((text, t.elapsed(), booted))
}

/// One kernel's row in the table.
pub struct Row {
    pub entry: Entry,
    pub outcome: check::Outcome,
    pub secs: f64,
    /// The last attempt's boot time (to the guest's /init), 0 if it never booted.
    pub boot_secs: f64,
    pub attempts: u32,
}

fn run_guest(entry: &Entry, vmlinuz: &Path, initrd: &Path) -> Row {
    let mut attempts = 0;
    let mut secs = 0.0;
    let mut boot_secs = 0.0;
    loop {
        attempts += 1;
        let (outcome, took) = match boot(&entry.name, vmlinuz, initrd, &entry.append, attempts) {
            Ok((text, took, booted)) => {
                boot_secs = booted.unwrap_or_default().as_secs_f64();
                (check::parse(&text), took)
            }
            Err(e) => {
                eprintln!("xtask: kernels: {}: {e:#}", entry.name);
                (check::parse(""), Duration::ZERO)
            }
        };
        secs += took.as_secs_f64();
        eprintln!(
            "xtask: kernels: {} ({}) attempt {attempts}: {} in {:.0} s",
            entry.name,
            outcome.uname,
            if outcome.passed() {
                "pass"
            } else if outcome.done {
                "checks failed"
            } else {
                "did not finish"
            },
            took.as_secs_f64()
        );
        // One retry, for a guest that did not get to the end (boot crash, timeout) or
        // whose checks failed (a TCG guest on a loaded host); the table marks it
        // "(retried)" and keeps the first console log (runs/<kernel>.1.log).
        if outcome.passed() || attempts >= 2 {
            return Row { entry: entry.clone(), outcome, secs, boot_secs, attempts };
        }
    }
}

/// Kernel × check table in Markdown.
pub fn table(rows: &[Row]) -> String {
    let mut t = String::from("| kernel | uname | ");
    t.push_str(&check::COLUMNS.join(" | "));
    t.push_str(" | boot + test |\n|---|---|");
    t.push_str(&"---|".repeat(check::COLUMNS.len() + 1));
    t.push('\n');
    for r in rows {
        let _ = write!(t, "| {} | {} |", r.entry.name, r.outcome.uname);
        for c in &r.outcome.cells {
            let _ = write!(t, " {}{} |", if c.ok { "" } else { "**FAIL** " }, c.text.replace('|', "\\|"));
        }
        let retry = if r.attempts > 1 { " (retried)" } else { "" };
        let test = (r.secs - r.boot_secs).max(0.0);
        let _ = writeln!(t, " {:.0} s + {test:.0} s{retry} |", r.boot_secs);
    }
    t
}

fn details(rows: &[Row]) -> String {
    let mut d = String::new();
    for r in rows {
        let e = &r.entry;
        let _ = writeln!(
            d,
            "- **{}**: `{}={}` ({}), sha256 `{}`; command line `{} {}`; active LSMs `{}`; {} probes on {}.",
            e.name,
            e.package,
            e.version,
            e.suite,
            &e.sha256[..16],
            BASE_APPEND,
            e.append,
            r.outcome.lsm,
            r.outcome.hooks.len(),
            summarize_hooks(&r.outcome.hooks)
        );
        for p in &r.outcome.fallbacks {
            let _ = writeln!(d, "  - preferred probe not loaded, fallback used: {p}");
        }
        for p in &r.outcome.failed_probes {
            let _ = writeln!(d, "  - not loaded: {p}");
        }
        for p in &r.outcome.skipped_probes {
            let _ = writeln!(d, "  - skipped by the probe table: {p}");
        }
    }
    d
}

/// "61 tracepoint, 1 raw_tracepoint": the hook kinds the probes used.
fn summarize_hooks(hooks: &[String]) -> String {
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for h in hooks {
        let kind = h.split_whitespace().nth(1).and_then(|x| x.split('/').next()).unwrap_or("?").to_string();
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((kind, 1)),
        }
    }
    kinds.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", ")
}

/// Fetch, build the initramfs, run every guest; write docs/kernels.md.
/// Returns the rows (one per kernel) for the caller to count.
pub fn run(root: &Path, lanner: &Path) -> Result<Vec<Row>> {
    let t = Instant::now();
    let manifest_path = root.join("xtask/kernels/manifest.txt");
    let entries = parse_manifest(&std::fs::read_to_string(&manifest_path)?, "xtask/kernels/manifest.txt")?;
    let (busybox, kernels): (Vec<Entry>, Vec<Entry>) = entries.into_iter().partition(|e| e.name == "busybox");
    let bb = busybox.first().context("manifest has no busybox line")?;
    if !script(root).arg("tools").status()?.success() {
        bail!("installing qemu-system-x86 failed");
    }
    let mut jobs = VecDeque::new();
    for e in &kernels {
        let vmlinuz = script_path(root, &["fetch", &e.suite, &e.package, &e.version, &e.sha256])?;
        jobs.push_back((e.clone(), vmlinuz));
    }
    let payload = payload(root)?;
    let initrd = cache_dir().join("initrd.cpio");
    let lanner_s = lanner.to_string_lossy();
    let (p, i) = (payload.to_string_lossy(), initrd.to_string_lossy());
    script_path(root, &["initrd", &i, &lanner_s, &p, &bb.version, &bb.sha256])?;
    let prep = t.elapsed().as_secs_f64();

    let jobs = Arc::new(Mutex::new(jobs));
    let rows = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..PARALLEL)
        .map(|_| {
            let (jobs, rows, initrd) = (jobs.clone(), rows.clone(), initrd.clone());
            std::thread::spawn(move || loop {
                let Some((entry, vmlinuz)) = jobs.lock().expect("jobs").pop_front() else { break };
                let row = run_guest(&entry, &vmlinuz, &initrd);
                rows.lock().expect("rows").push(row);
            })
        })
        .collect();
    for w in workers {
        w.join().map_err(|_| anyhow::anyhow!("a guest thread panicked"))?;
    }
    let mut rows = std::mem::take(&mut *rows.lock().expect("rows"));
    let order = |r: &Row| kernels.iter().position(|e| e.name == r.entry.name);
    rows.sort_by_key(order);

    let table = table(&rows);
    println!("{table}");
    let total = t.elapsed().as_secs_f64();
    let date = Command::new("date").arg("-u").arg("+%Y-%m-%d %H:%M UTC").output()?.stdout;
    let doc = format!(
        "# Kernel matrix\n\nLatest `cargo xtask kernels` run, {}: {} kernels, {:.0} s in all ({:.0} s fetch and \
         initramfs, then at most {PARALLEL} TCG guests at a time).\n\n{table}\n{}\n{NOTES}",
        String::from_utf8_lossy(&date).trim(),
        rows.len(),
        total,
        prep,
        details(&rows)
    );
    std::fs::write(root.join("docs/kernels.md"), doc)?;
    eprintln!("xtask: kernels: wrote docs/kernels.md ({total:.0} s)");
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_manifest_pins_five_kernels_and_busybox() {
        let text = include_str!("../kernels/manifest.txt");
        let m = parse_manifest(text, "manifest.txt").unwrap();
        let names: Vec<&str> = m.iter().map(|e| e.name.as_str()).collect();
        for want in ["busybox", "5.10", "6.1", "6.12", "6.18"] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(names.iter().any(|n| n.starts_with("7.")), "a 7.x kernel");
        let k510 = m.iter().find(|e| e.name == "5.10").unwrap();
        assert!(k510.append.contains("bpf"), "5.10 needs lsm=...,bpf on its command line");
        // One guest shows the fallback: an explicit LSM list without bpf.
        assert!(
            m.iter().any(|e| e.append.contains("lsm=") && !e.append.split(['=', ',']).any(|x| x == "bpf")),
            "a guest booted without bpf in its LSM list"
        );
    }

    #[test]
    fn a_bad_manifest_line_names_file_and_line() {
        let e = parse_manifest("# c\nx y z\n", "m.txt").unwrap_err().to_string();
        assert!(e.starts_with("m.txt:2:1:"), "{e}");
        let e = parse_manifest("a b c d 123 -\n", "m.txt").unwrap_err().to_string();
        assert!(e.contains("sha256"), "{e}");
    }
}
