//! Scrape-time collector of container resolution: each cgroup resolver's
//! cache (v2, and on hybrid hosts the v1 hierarchy whose ids the probes read)
//! and how its lookups were answered, plus the per-process `/proc/PID/cgroup`
//! reads of the fallback. An SRE on a hybrid node sees here whether the agent
//! resolves by id (lookups answered from the cache) or still reads a file per
//! process (`lanner_proc_cgroup_reads_total` growing with the fork rate).
use std::sync::RwLock;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge},
};

use crate::k8s::{cgroup::ResolverStats, enrich::EnrichStats};

type Source = Box<dyn Fn() -> EnrichStats + Send + Sync>;

#[derive(Default)]
pub(super) struct CgroupCollector {
    source: RwLock<Option<Source>>,
}

impl std::fmt::Debug for CgroupCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CgroupCollector")
    }
}

impl CgroupCollector {
    pub(super) fn set_source(&self, source: Source) {
        *self.source.write().unwrap_or_else(|p| p.into_inner()) = Some(source);
    }
}

/// (hierarchy label, stats) of the resolvers present.
fn resolvers(s: &EnrichStats) -> Vec<(&'static str, &ResolverStats)> {
    [("v2", s.cgroups.as_ref()), ("v1", s.cgroups_v1.as_ref())].into_iter().filter_map(|(h, r)| Some((h, r?))).collect()
}

impl Collector for CgroupCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let guard = self.source.read().unwrap_or_else(|p| p.into_inner());
        let Some(source) = guard.as_ref() else {
            return Ok(());
        };
        let s = source();
        let rs = resolvers(&s);
        let proto = ConstCounter::new(0u64);
        let mut fam = encoder.encode_descriptor(
            "cgroup_lookups",
            "Cgroup id lookups by how they were answered (cache hit, cached negative, a file handle \
             of the id, the process's /proc file, a walk of the hierarchy, unresolved)",
            None,
            proto.metric_type(),
        )?;
        for (h, r) in &rs {
            for (result, v) in [
                ("hit", r.hits),
                ("negative_hit", r.negative_hits),
                ("handle", r.handle_resolved),
                ("proc", r.proc_resolved),
                ("walk", r.walk_resolved),
                ("unresolved", r.unresolved),
            ] {
                ConstCounter::new(v).encode(fam.encode_family(&[("hierarchy", *h), ("result", result)])?)?;
            }
        }
        let mut fam = encoder.encode_descriptor(
            "cgroup_walks",
            "Full walks of a cgroup hierarchy (at most one per second)",
            None,
            proto.metric_type(),
        )?;
        for (h, r) in &rs {
            ConstCounter::new(r.walks).encode(fam.encode_family(&[("hierarchy", *h)])?)?;
        }
        let gauge = ConstGauge::new(0i64);
        let mut fam = encoder.encode_descriptor(
            "cgroup_cached",
            "Cgroup ids resolved to a path and cached",
            None,
            gauge.metric_type(),
        )?;
        for (h, r) in &rs {
            ConstGauge::new(r.cached as i64).encode(fam.encode_family(&[("hierarchy", *h)])?)?;
        }
        let fam = encoder.encode_descriptor(
            "proc_cgroup_reads",
            "Reads of one process's /proc/PID/cgroup v1 lines (hybrid hosts without a v1 id from the kernel)",
            None,
            proto.metric_type(),
        )?;
        ConstCounter::new(s.proc_cgroup_reads).encode(fam)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_both_hierarchies_and_the_proc_reads() {
        let m = crate::metrics::Metrics::new();
        assert!(!m.encode().contains("lanner_cgroup_lookups"), "nothing before a source is set");
        m.set_enrich_source(|| EnrichStats {
            cgroups: Some(ResolverStats { cached: 3, hits: 40, walks: 1, ..Default::default() }),
            cgroups_v1: Some(ResolverStats { cached: 2, hits: 7, walk_resolved: 1, ..Default::default() }),
            proc_cgroup_reads: 5,
            pods: Default::default(),
        });
        let text = m.encode();
        for line in [
            "lanner_cgroup_lookups_total{hierarchy=\"v2\",result=\"hit\"} 40",
            "lanner_cgroup_lookups_total{hierarchy=\"v1\",result=\"walk\"} 1",
            "lanner_cgroup_walks_total{hierarchy=\"v2\"} 1",
            "lanner_cgroup_cached{hierarchy=\"v1\"} 2",
            "lanner_proc_cgroup_reads_total 5",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in:\n{text}");
        }
    }
}
