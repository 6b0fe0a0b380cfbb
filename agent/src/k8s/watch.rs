//! The one pod watch per node: `LIST` + `WATCH` of pods with the field
//! selector `spec.nodeName=<node>`, feeding a [`PodCache`].
//!
//! kube-runtime's watcher lists once, then watches from the list's
//! resourceVersion and resumes from the last seen version when a watch ends
//! (every ~290 s) or drops; it relists only when the version is too old
//! (410 Gone). Bookmarks keep that version fresh. Errors are retried with
//! kube's default exponential backoff (800 ms → 30 s, jittered). The list is
//! paginated ([`LIST_PAGE`] pods per request, `limit`/`continue`), so the agent
//! holds one page of full Pod objects at a time, never the whole node's list:
//! with 1,000 pods the peak RSS of the first list stays near the at-rest size.
//! Pages are read from etcd (no `resourceVersion`): the API server's watch
//! cache (`resourceVersion=0`) ignores `limit` before Kubernetes 1.27 and
//! answers with everything at once. Streaming lists (`sendInitialEvents`) are
//! not used: older API servers (1.20 in our tests) reject them.
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Pod;
use kube::{
    runtime::{watcher, WatchStreamExt as _},
    Api, Client,
};

use super::{cache::PodCache, pod::PodMeta};

/// Pods per list request.
pub const LIST_PAGE: u32 = 50;

/// The watcher configuration for one node's pods.
pub fn watch_config(node: &str) -> watcher::Config {
    watcher::Config::default().fields(&format!("spec.nodeName={node}")).page_size(LIST_PAGE)
}

/// Feeds `cache` from the API server until the task is dropped. Logs
/// "pod cache synced" (info, with the pod count) when the first list is in,
/// the first error of a run of errors at warn and the rest at most once a
/// minute.
pub async fn watch_pods(client: Client, node: String, cache: PodCache) {
    let api: Api<Pod> = Api::all(client);
    let mut stream = watcher(api, watch_config(&node)).default_backoff().boxed();
    let mut purge = tokio::time::interval(Duration::from_secs(1));
    purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_warn: Option<Instant> = None;
    let mut failing = false;
    let mut synced_once = false;
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            _ = purge.tick() => {
                cache.purge_expired();
                continue;
            }
        };
        let Some(item) = item else {
            tracing::warn!(node = %node, "pod watch ended");
            return;
        };
        match item {
            Ok(ev) => {
                if failing {
                    tracing::info!(node = %node, "pod watch recovered");
                    failing = false;
                }
                match ev {
                    watcher::Event::Init => cache.begin_list(),
                    watcher::Event::InitApply(p) | watcher::Event::Apply(p) => {
                        if let Some(meta) = PodMeta::from_pod(&p) {
                            cache.apply(meta);
                        }
                    }
                    watcher::Event::Delete(p) => {
                        if let Some(uid) = p.metadata.uid.as_deref() {
                            cache.delete(uid);
                        }
                    }
                    watcher::Event::InitDone => {
                        let pods = cache.end_list();
                        // The list's JSON and full Pod objects are freed by now (the
                        // cache keeps compact `PodMeta`s): give the pages back.
                        #[cfg(target_env = "gnu")]
                        unsafe {
                            libc::malloc_trim(0);
                        }
                        if synced_once {
                            tracing::info!(pods, node = %node, "pod cache relisted");
                        } else {
                            synced_once = true;
                            tracing::info!(pods, node = %node, "pod cache synced");
                        }
                    }
                }
            }
            Err(e) => {
                cache.count_watch_error();
                let now = Instant::now();
                if !failing || last_warn.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60)) {
                    tracing::warn!(node = %node, error = %e, "pod watch error (retrying with backoff)");
                    last_warn = Some(now);
                } else {
                    tracing::debug!(node = %node, error = %e, "pod watch error");
                }
                failing = true;
            }
        }
    }
}
