//! Reads the probes' per-CPU counters (emitted, ring-buffer drops, string-read
//! failures, stash misses) and sums them per probe for metrics and shutdown.
use std::collections::BTreeMap;

use aya::maps::{Map, PerCpuArray};
use lanner_common::counters::{counter_index, Counter, ProbeId};
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct KernelCounters {
    /// probe name → counter name → total over CPUs
    pub by_probe: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    /// Ring-buffer drops per CPU, all probes together.
    pub ringbuf_drop_per_cpu: Vec<u64>,
}

impl KernelCounters {
    pub fn total(&self, counter: Counter) -> u64 {
        self.by_probe.values().filter_map(|m| m.get(counter.name())).sum()
    }
}

pub fn read(map: &Map) -> KernelCounters {
    let mut out = KernelCounters::default();
    let Ok(arr) = PerCpuArray::<_, u64>::try_from(map) else {
        return out;
    };
    for probe in ProbeId::ALL {
        let mut m = BTreeMap::new();
        for c in Counter::ALL {
            let Ok(vals) = arr.get(&counter_index(probe, c), 0) else {
                continue;
            };
            let per_cpu: Vec<u64> = vals.iter().copied().collect();
            if c == Counter::RingbufDrop {
                if out.ringbuf_drop_per_cpu.len() < per_cpu.len() {
                    out.ringbuf_drop_per_cpu.resize(per_cpu.len(), 0);
                }
                for (i, v) in per_cpu.iter().enumerate() {
                    out.ringbuf_drop_per_cpu[i] += v;
                }
            }
            m.insert(c.name(), per_cpu.iter().sum());
        }
        out.by_probe.insert(probe.name(), m);
    }
    out
}
