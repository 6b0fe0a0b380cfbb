//! Criterion benchmarks of the match path: the default pack and 1,000 generated rules
//! on the realistic event mix of `lanner_rules::bench` (throughput in events).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lanner_rules::bench::{event_mix, generated_rules};
use lanner_rules::RuleSet;

fn matcher(c: &mut Criterion) {
    let events = event_mix();
    let default = RuleSet::default_pack().unwrap_or_else(|e| panic!("{e}"));
    let generated = generated_rules(1000);
    let thousand = RuleSet::from_sources(&[("generated.yaml", &generated)]).unwrap_or_else(|e| panic!("{e}"));
    let mut g = c.benchmark_group("match");
    g.throughput(Throughput::Elements(events.len() as u64));
    for (name, rs) in [("default_pack", &default), ("generated_1000", &thousand)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut n = 0usize;
                for e in &events {
                    rs.for_each_match(std::hint::black_box(e), |_, _| n += 1);
                }
                n
            })
        });
    }
    g.finish();
    c.bench_function("load_default_pack", |b| b.iter(|| RuleSet::default_pack().map(|r| r.len()).unwrap_or(0)));
}

criterion_group!(benches, matcher);
criterion_main!(benches);
