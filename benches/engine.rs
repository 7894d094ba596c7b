//! The engine on a 100,000-VM estate: exposure (`engine::evaluate`), then verdicts and the secure
//! score (`verdict::judge` + `score::compute`), for Azure (10,000 NSGs of 50 rules) and AWS
//! (10,000 security groups of 50 rules). The estates are the ones `scripts/bench` scans
//! (`portcullis generate`, seed 1); generating them is outside the measured loops.
//!
//! `cargo bench --bench engine`; results are in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis::engine::{self, EngineConfig};
use portcullis::policy::Policy;
use portcullis::synthetic::{self, Clouds, Params};
use portcullis::{score, verdict};

fn scan_stages(c: &mut Criterion) {
    let policy = Policy::builtin();
    let config = EngineConfig::from_policy(&policy);
    for (clouds, name) in [(Clouds::Azure, "azure"), (Clouds::Aws, "aws")] {
        let snapshot = synthetic::generate(&Params {
            vms: 100_000,
            nsgs: 10_000,
            rules_per_nsg: 50,
            clouds,
            seed: 1,
        });
        let mut group = c.benchmark_group(format!("{name} 100k VMs, 10k filters x 50 rules"));
        // A run takes seconds: ten samples are enough and keep the whole bench to minutes.
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(15));
        // The results are dropped outside the measurement, as `scan --timings` does.
        group.bench_function("evaluate", |b| {
            b.iter_with_large_drop(|| engine::evaluate(black_box(&snapshot), &config))
        });
        let exposures = engine::evaluate(&snapshot, &config);
        group.bench_function("judge+score", |b| {
            b.iter_with_large_drop(|| {
                let findings = verdict::judge(black_box(&snapshot), &exposures, &policy);
                let score = score::compute(&policy, &findings);
                (findings, score)
            })
        });
        group.finish();
    }
}

criterion_group!(benches, scan_stages);
criterion_main!(benches);
