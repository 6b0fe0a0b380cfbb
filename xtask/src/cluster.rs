//! `cargo xtask cluster up|down|status|test` and `cargo xtask image`: thin
//! wrappers over xtask/kube/cluster.sh (a real single-node cluster: kubelet +
//! containerd, control plane built by kube.sh), image.sh (Lanner's images
//! without a registry) and cluster-e2e.sh (helm install + the attack in a real
//! pod). The scripts hold the logic so they also run by hand; this module only
//! sequences them and guarantees the teardown of the CI tier.
use std::process::Command;

use anyhow::{bail, Result};
use clap::Subcommand;

use crate::sh;

#[derive(Subcommand, Clone, Copy)]
pub enum ClusterCmd {
    /// Start etcd, the control plane, containerd and the kubelet; wait for the node to be Ready.
    Up,
    /// Stop everything and remove every trace (processes, mounts, cgroups, network, sysctls).
    Down,
    /// Say what is up (exit status 0 only when the node is Ready).
    Status,
    /// Build and import the images, `helm install` the chart, attack a real pod, check the alerts.
    Test,
}

fn script(name: &str, arg: &str) -> Result<()> {
    sh(Command::new("bash").arg(format!("xtask/kube/{name}")).arg(arg))
}

pub fn run(cmd: ClusterCmd) -> Result<()> {
    match cmd {
        ClusterCmd::Up => script("cluster.sh", "up"),
        ClusterCmd::Down => script("cluster.sh", "down"),
        ClusterCmd::Status => script("cluster.sh", "status"),
        ClusterCmd::Test => {
            script("cluster.sh", "up")?;
            script("cluster-e2e.sh", "test")
        }
    }
}

/// Is a cluster up (the node Ready)?
fn is_up() -> bool {
    Command::new("bash")
        .args(["xtask/kube/cluster.sh", "status"])
        .current_dir(crate::root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// `cargo xtask image`: build the four images; import them when the cluster is up.
pub fn image() -> Result<()> {
    script("image.sh", if is_up() { "import" } else { "build" })
}

/// The CI tier: cluster up, images, helm install, e2e, and always cluster down.
/// Needs root; never skips (a non-root run is an error).
pub fn tier() -> Result<()> {
    if !crate::is_root() {
        bail!("the real-cluster tier needs root (kubelet, containerd)");
    }
    let t = std::time::Instant::now();
    // A cluster left up by `cargo xtask cluster test` (it stays up for inspection) holds
    // state of another tree: its pods, PersistentVolume, agent and images. The tier tests
    // a cluster it started itself.
    let dir = std::env::var("LANNER_CLUSTER_DIR").unwrap_or_else(|_| "/tmp/lanner-cluster".into());
    if is_up() || std::path::Path::new(&dir).exists() {
        eprintln!("xtask: a cluster this run did not start is up ({dir}): tearing it down first");
        script("cluster.sh", "down")?;
    }
    let r = run(ClusterCmd::Test);
    let down = script("cluster.sh", "down");
    eprintln!("xtask: real-cluster tier (up, images, helm install, e2e, down) took {:.0} s", t.elapsed().as_secs_f64());
    r?;
    down
}
