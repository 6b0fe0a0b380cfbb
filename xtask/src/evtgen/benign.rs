//! The benign phase: what a healthy pod does, which must raise nothing above Notice.
//! Each step exercises an exception of the pack (the reason is in the rule's YAML):
//! - the simulation's workload (`simulate/chain.rs`): package-like file activity in a
//!   temp tree, curl health checks, a `make` build whose test run executes the fresh
//!   binary (`build_context`: not drift);
//! - a package manager (`dpkg`) writing below /etc and /usr/local/bin and chmod-ing its
//!   binary (`package_mgmt_activity` in Write below etc / Write below binary dir /
//!   Change permissions of binary); its launch in a running container is the one
//!   Notice (`Launch package management process in container`) the phase raises;
//! - wget health checks (download tools to the network, no upload, no temp output);
//! - logrotate renaming, truncating and deleting old logs (`log_rotators` in Clear /
//!   Delete log files);
//! - a tar backup of a data directory, listed back with `tar -t` (a backup of a home
//!   directory with SSH keys in it would raise Read SSH private key: on purpose).
use anyhow::Result;

use super::{C2, TOOLS, WORK};
use crate::simulate::Pod;

pub(crate) fn run(p: &Pod) -> Result<()> {
    crate::simulate::chain::benign(p, C2)?;
    // A package manager running a maintainer script (dpkg -> sh) that writes config and
    // a binary and sets its mode.
    p.run_ok(
        &format!("{TOOLS}/dpkg"),
        &[
            "-c",
            "sh -c \"echo conf > /etc/lnr-evtgen-pkg.conf && printf '#!/bin/sh\\n' > /usr/local/bin/lnr-evtgen-pkg \
             && chmod 755 /usr/local/bin/lnr-evtgen-pkg\"; exit $?",
        ],
    )?;
    for _ in 0..2 {
        p.run_ok("wget", &["-q", "-T", "2", "-O", "/dev/null", &format!("http://{C2}:8080/healthz")])?;
    }
    // Log rotation: app.log -> app.log.1 (old .1 removed), app.log truncated.
    p.run_ok(
        &format!("{TOOLS}/logrotate"),
        &[
            "-e",
            "my $l = '/var/log/lnr-evtgen-app.log'; unlink(\"$l.1\"); rename($l, \"$l.1\") or die; \
             open(my $f, '>', $l) or die; close($f); open($f, '>', \"$l.1\") or die; close($f);",
        ],
    )?;
    // A backup.
    p.run_ok("tar", &["-czf", &format!("{WORK}/backup.tgz"), "-C", WORK, "data"])?;
    p.run_ok("tar", &["-tzf", &format!("{WORK}/backup.tgz")])
}
