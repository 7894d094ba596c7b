//! The engine on a 100,000-VM estate: exposure (`engine::evaluate`), then verdicts and the secure
//! score (`verdict::judge` + `score::compute`), for Azure (10,000 NSGs of 50 rules) and AWS
//! (10,000 security groups of 50 rules); and planning its fix (`fix::plan`, quick fix and JIT
//! lock-down), as `portcullis fix plan --input` does after loading. The estates are the ones
//! `scripts/bench` scans (`portcullis generate`, seed 1); generating them is outside the measured
//! loops.
//!
//! `cargo bench --bench engine`; results are in BENCHMARKS.md. `PORTCULLIS_BENCH_VMS=N` makes
//! the estates N VMs (with N / 10 filters) instead, e.g. to check the bench quickly with
//! `PORTCULLIS_BENCH_VMS=2000 cargo test --bench engine` (each measured once, in debug).

mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis::engine::{self, EngineConfig};
use portcullis::fix::{self, PlanOptions, PlanSource, Strategy};
use portcullis::model::Snapshot;
use portcullis::policy::Policy;
use portcullis::synthetic::{self, Clouds, Params};
use portcullis::{score, verdict};
use support::vms;

/// The synthetic estate of one cloud, with a filter per ten VMs of 50 rules each, and the name
/// of its benchmark group.
fn estate(clouds: Clouds, name: &str) -> (Snapshot, String) {
    let vms = vms();
    let nsgs = (vms / 10).max(1);
    let snapshot = synthetic::generate(&Params {
        vms,
        nsgs,
        rules_per_nsg: 50,
        clouds,
        seed: 1,
    });
    let group = format!(
        "{name} {} VMs, {} filters x 50 rules",
        short(vms),
        short(nsgs)
    );
    (snapshot, group)
}

/// `100k`, `10k`, `2000`.
fn short(n: usize) -> String {
    if n >= 10_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

const CLOUDS: [(Clouds, &str); 2] = [(Clouds::Azure, "azure"), (Clouds::Aws, "aws")];

fn scan_stages(c: &mut Criterion) {
    let policy = Policy::builtin();
    let config = EngineConfig::from_policy(&policy);
    for (clouds, name) in CLOUDS {
        let (snapshot, group) = estate(clouds, name);
        let mut group = c.benchmark_group(group);
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

/// `fix plan` after loading: judge the estate, edit a working copy round after round, and diff
/// it into the plan's changes, for each strategy with its default recommendation.
fn fix_plan(c: &mut Criterion) {
    let policy = Policy::builtin();
    for (clouds, name) in CLOUDS {
        let (snapshot, group) = estate(clouds, name);
        let mut group = c.benchmark_group(format!("fix plan, {group}"));
        // A plan judges the estate once per round, a few rounds: seconds, like the scan stages.
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(30));
        for strategy in [Strategy::QuickFix, Strategy::Jit] {
            let options = PlanOptions {
                strategy,
                recommendations: Vec::new(),
                resources: Vec::new(),
                allow_protocol_narrowing: false,
            };
            let plan = || {
                let source = PlanSource::Offline {
                    files: vec!["estate.json".to_owned()],
                };
                fix::plan(
                    black_box(&snapshot),
                    &policy,
                    &options,
                    source,
                    "t".to_owned(),
                )
                .expect("the builtin policy's default recommendations can be planned")
            };
            // A plan that changes nothing would measure nothing: the estate has open ports.
            let planned = plan();
            assert!(
                !planned.changes.is_empty(),
                "{name}: the {strategy} plan of the synthetic estate has no changes"
            );
            group.bench_function(strategy.to_string(), |b| b.iter_with_large_drop(plan));
        }
        group.finish();
    }
}

criterion_group!(benches, scan_stages, fix_plan);
criterion_main!(benches);
