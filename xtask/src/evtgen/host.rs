//! Host-side preparation of the actions (image-like tools, files the actions read, remove
//! or chmod) and the removal of everything evtgen writes outside its work directory.
use std::path::Path;

use anyhow::{Context as _, Result};

use super::{NAMES, TOOLS, WORK};
use crate::simulate::{cleanup_host, Kube};

/// Files the actions create outside [`WORK`] (removed at the start and the end).
pub(crate) const HOST_FILES: &[&str] = &[
    "/etc/cron.d/lnr-evtgen",
    "/etc/sudoers.d/lnr-evtgen",
    "/etc/systemd/system/lnr-evtgen.service",
    "/etc/profile.d/lnr-evtgen.sh",
    "/etc/init.d/lnr-evtgen",
    "/etc/lnr-evtgen.conf",
    "/etc/lnr-evtgen-pkg.conf",
    "/usr/local/bin/lnr-evtgen-w",
    "/usr/local/bin/lnr-evtgen-creat",
    "/usr/local/bin/lnr-evtgen-chmod",
    "/usr/local/bin/lnr-evtgen-pkg",
    "/var/log/lnr-evtgen.log",
    "/var/log/lnr-evtgen-old.log",
    "/var/log/lnr-evtgen-app.log",
    "/var/log/lnr-evtgen-app.log.1",
    "/dev/shm/lnr-evtgen-payload",
    "/dev/lnr-evtgen",
    "/etc/kubernetes/pki/lnr-evtgen.key",
];
/// Directories the actions create (removed when empty).
const HOST_DIRS: &[&str] =
    &["/usr/local/bin/lnr-evtgen.d", "/etc/.lnr-evtgen", "/etc/kubernetes/pki", "/etc/kubernetes"];
/// Present when this run created /etc/ld.so.preload (empty): it is then removed.
const LD_PRELOAD_MARK: &str = "/tmp/lnr-evtgen.ld-so-preload-created";

/// Tools an image could ship that this host lacks: copies of /bin/true under these names.
const TRUE_TOOLS: &[&str] = &["nc", "socat", "nmap", "chisel", "xmrig", "worker", "insmod", "modprobe"];

pub(crate) fn prepare(kube: &Kube) -> Result<()> {
    let w = Path::new(WORK);
    for d in ["home/.ssh", "home/.aws", "empty", "cgrp", "mnt", "root/etc", "data"] {
        std::fs::create_dir_all(w.join(d))?;
    }
    std::fs::write(w.join("home/.ssh/id_rsa"), "-----BEGIN OPENSSH PRIVATE KEY-----\nlnr-evtgen fake\n")?;
    std::fs::write(w.join("home/.aws/credentials"), "[default]\naws_access_key_id = LNREVTGENFAKE\n")?;
    std::fs::write(w.join("home/.bash_history"), "ls\n")?;
    std::fs::write(w.join("home/.zsh_history"), ": 1:0;ls\n")?;
    std::fs::write(w.join("empty/notes.txt"), "nothing secret here\n")?;
    std::fs::write(w.join("data/orders.csv"), "id,total\n1,42\n")?;
    for f in ["suid", "sgid", "capfile", "victim.dat", "secret.txt", "stamp", "preload.so", "lnr.ko"] {
        std::fs::write(w.join(f), "lnr-evtgen\n")?;
    }
    for (f, text) in [
        ("root/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        ("root/etc/group", "root:x:0:\n"),
        ("root/etc/shadow", "root:*:19000:0:99999:7:::\n"),
        ("root/etc/gshadow", "root:*::\n"),
    ] {
        std::fs::write(w.join(f), text)?;
    }
    // Image-like tools.
    std::fs::create_dir_all(TOOLS)?;
    for t in TRUE_TOOLS {
        std::fs::copy("/bin/true", Path::new(TOOLS).join(t)).with_context(|| format!("install {t}"))?;
    }
    // A web server, a package manager and a database (a shell under the names nginx, dpkg
    // and postgres) and a log rotator (perl under logrotate's name).
    std::fs::copy("/bin/bash", Path::new(TOOLS).join("nginx"))?;
    std::fs::copy("/bin/bash", Path::new(TOOLS).join("dpkg"))?;
    std::fs::copy("/bin/bash", Path::new(TOOLS).join("postgres"))?;
    std::fs::copy("/usr/bin/perl", Path::new(TOOLS).join("logrotate"))?;
    // A security agent the pod can signal (sleep under Falco's process name).
    std::fs::copy("/bin/sleep", Path::new(TOOLS).join("falco"))?;
    // kubectl as an image ships it: the real client copied in. Run from PATH it could sit
    // below /tmp or /root (the test infrastructure's run and cache dirs), where the drift
    // rule rightly fires as well.
    let kubectl = Some(kube.kubectl.clone())
        .filter(|k| k.is_file())
        .or_else(|| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path).map(|d| d.join("kubectl")).find(|k| k.is_file())
        })
        .context("kubectl: neither the test apiserver's nor one in PATH")?;
    std::fs::copy(&kubectl, Path::new(TOOLS).join("kubectl")).with_context(|| format!("install {kubectl:?}"))?;
    // Files the actions remove, chmod, execute or read.
    std::fs::write("/var/log/lnr-evtgen-old.log", "old\n")?;
    std::fs::write("/var/log/lnr-evtgen-app.log", "app log line\n")?;
    std::fs::write("/usr/local/bin/lnr-evtgen-chmod", "#!/bin/sh\n")?;
    std::fs::copy("/bin/true", "/dev/shm/lnr-evtgen-payload")?;
    std::fs::create_dir_all("/etc/kubernetes/pki")?;
    std::fs::write("/etc/kubernetes/pki/lnr-evtgen.key", "lnr-evtgen fake key\n")?;
    std::fs::create_dir_all("/etc/cron.d")?;
    std::fs::create_dir_all("/etc/sudoers.d")?;
    std::fs::create_dir_all("/etc/systemd/system")?;
    std::fs::create_dir_all("/etc/profile.d")?;
    std::fs::create_dir_all("/etc/init.d")?;
    if !Path::new("/etc/ld.so.preload").exists() {
        std::fs::write(LD_PRELOAD_MARK, "")?;
    }
    Ok(())
}

pub(crate) fn cleanup(kube: &Kube) {
    // The tmpfs the mount action made, before the work directory goes.
    detach(&format!("{WORK}/mnt"));
    cleanup_host(&NAMES, HOST_FILES);
    kube.delete_sim_pods(&NAMES);
    for d in HOST_DIRS {
        let _ = std::fs::remove_dir(d);
    }
    let _ = std::fs::remove_dir_all("/opt/lnr-evtgen");
    if Path::new(LD_PRELOAD_MARK).exists() {
        // Only an empty file we created goes.
        if std::fs::metadata("/etc/ld.so.preload").map(|m| m.len() == 0).unwrap_or(false) {
            let _ = std::fs::remove_file("/etc/ld.so.preload");
        }
        let _ = std::fs::remove_file(LD_PRELOAD_MARK);
    }
}

/// Lazily unmount whatever is mounted at `path` (nothing when nothing is).
pub(crate) fn detach(path: &str) {
    if let Ok(p) = std::ffi::CString::new(path) {
        unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
    }
}
