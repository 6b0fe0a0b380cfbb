//! Container and pod enrichment: which container and pod an event's process
//! belongs to.
//!
//! - [`cgroup::CgroupResolver`]: event `cgroup_id` → cgroup path → container
//!   id, runtime and pod UID (patterns in [`crate::container`]).
//! - [`cache::PodCache`]: this node's pods from the API server, by UID and
//!   container id, fed by [`watch::watch_pods`] (one field-selected watch per node).
//! - [`cgroup_fh`]: a cgroup id → its path with one `open_by_handle_at(2)`,
//!   the resolver's first answer (no `/proc` read, no walk).
//! - [`cgroup_v1`]: on hybrid-cgroup hosts, the v1 hierarchy whose id the
//!   probes also put in every header, for runtimes that skip cgroup v2.
//! - [`enrich::Enricher`]: `(pid, cgroup ids)` → [`enrich::ContainerInfo`], with
//!   the short "hold" for pods not cached yet.
//!
//! Without Kubernetes (no in-cluster config, no `KUBECONFIG`, or `--no-k8s`)
//! the pod cache stays empty and one info line says so; container ids still
//! resolve from cgroups. See docs/enrichment.md.
#![allow(dead_code)] // A library-style API: the binary need not use every entry point.

pub mod bench;
pub mod cache;
pub mod cgroup;
pub mod cgroup_fh;
pub mod cgroup_v1;
pub mod enrich;
pub mod facts;
pub mod pod;
pub mod watch;

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;

use std::time::Duration;

#[allow(unused_imports)]
pub use cache::{PodCache, PodCacheStats};
#[allow(unused_imports)]
pub use cgroup::{CgroupResolver, ResolverConfig};
#[allow(unused_imports)]
pub use enrich::{ContainerInfo, Enricher};
#[allow(unused_imports)]
pub use pod::{ContainerMeta, PodMeta};

/// `lanner run` flags for pod metadata (flattened into `RunArgs`).
#[derive(clap::Args, Debug, Clone)]
pub struct K8sArgs {
    /// This node's name: only its pods are watched (field selector
    /// spec.nodeName). Default: the host name.
    #[arg(long, env = "NODE_NAME")]
    pub node_name: Option<String>,
    /// Do not talk to the Kubernetes API server (container ids still resolve).
    #[arg(long)]
    pub no_k8s: bool,
    /// Keep a deleted pod's metadata this long for late alerts.
    #[arg(long, default_value_t = 5000)]
    pub pod_grace_ms: u64,
    /// Hold an alert up to this long when its container's pod is not cached yet.
    #[arg(long, default_value_t = 2000)]
    pub hold_ms: u64,
}

impl Default for K8sArgs {
    fn default() -> Self {
        Self { node_name: None, no_k8s: false, pod_grace_ms: 5000, hold_ms: 2000 }
    }
}

impl K8sArgs {
    pub fn pod_grace(&self) -> Duration {
        Duration::from_millis(self.pod_grace_ms)
    }

    pub fn hold(&self) -> Duration {
        Duration::from_millis(self.hold_ms)
    }
}

/// Starts pod metadata and returns its cache at once. Must be called inside a
/// tokio runtime: the config lookup and the watch run on a spawned task. When
/// Kubernetes is off or unreachable by config, the cache is disabled (holds
/// end at once) and one info line says why.
pub fn start(args: &K8sArgs) -> PodCache {
    if args.no_k8s {
        tracing::info!("pod metadata disabled (--no-k8s)");
        return PodCache::disabled();
    }
    let cache = PodCache::new(args.pod_grace());
    let node = args.node_name.clone().filter(|n| !n.is_empty());
    let c = cache.clone();
    tokio::spawn(async move {
        let config = match kube::Config::infer().await {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(reason = %e, "no Kubernetes config (in-cluster or KUBECONFIG): pod metadata disabled");
                c.disable();
                return;
            }
        };
        let client = match kube::Client::try_from(config) {
            Ok(cl) => cl,
            Err(e) => {
                tracing::warn!(error = %e, "Kubernetes client setup failed: pod metadata disabled");
                c.disable();
                return;
            }
        };
        let node = match node {
            Some(n) => n,
            None => {
                let h = hostname();
                tracing::info!(node = %h, "NODE_NAME not set: watching the pods of the node named like this host");
                h
            }
        };
        tracing::info!(node = %node, "watching this node's pods");
        watch::watch_pods(client, node, c).await;
    });
    cache
}

/// The kernel's host name, lowercased (kubelet's default node name).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_lowercase()).unwrap_or_default()
}
