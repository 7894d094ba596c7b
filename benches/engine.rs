//! The engine on a 100,000-VM estate: exposure (`engine::evaluate`), then verdicts and the secure
//! score (`verdict::judge` + `score::compute`), for Azure (10,000 NSGs of 50 rules) and AWS
//! (10,000 security groups of 50 rules); and planning its fix (`fix::plan`, quick fix and JIT
//! lock-down), as `portcullis fix plan --input` does after loading; and finding the JIT grants
//! to sweep (`jit::sweep::held`, `jit::aws::groups`), which every live `jit` and `fix` command
//! does first, with 1,000 grants in the estate. The estates are the ones
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
use portcullis::{jit, score, verdict};
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

/// How many grants [`jit_sweep`] puts in an estate: more than a team holds open at once.
const GRANTS: usize = 1_000;

/// Finding the grants to sweep: on Azure the `portcullis-jit-…` rules of every NSG, on AWS the
/// `portcullis-jit-<instance>` groups with their interfaces and regions. [`GRANTS`] rules are
/// renamed to grant rules (Azure), and as many security groups to the grant groups of a VM that
/// uses them (AWS).
fn jit_sweep(c: &mut Criterion) {
    for (clouds, name) in CLOUDS {
        let (mut snapshot, group) = estate(clouds, name);
        // Fewer in a smaller estate (PORTCULLIS_BENCH_VMS).
        let mut renamed = 0;
        for (n, nsg) in snapshot.nsgs.iter_mut().take(GRANTS).enumerate() {
            nsg.rules[0].name = format!("portcullis-jit-{n:012x}");
            renamed += 1;
        }
        let users: Vec<(String, String)> = snapshot
            .security_groups
            .iter()
            .filter(|sg| sg.vpc_id.is_some())
            .filter_map(|sg| {
                let nic = snapshot
                    .nics
                    .iter()
                    .find(|n| n.security_group_ids.contains(&sg.id))?;
                let vm = snapshot
                    .vms
                    .iter()
                    .find(|vm| vm.nic_ids.contains(&nic.id))?;
                Some((sg.id.clone(), vm.id.clone()))
            })
            .take(GRANTS)
            .collect();
        for (sg, vm) in &users {
            let sg = snapshot.security_groups.iter_mut().find(|g| &g.id == sg);
            sg.expect("the group just read").name = jit::aws::group_name(vm);
            renamed += 1;
        }
        let found = jit::sweep::held(&snapshot).len() + jit::aws::groups(&snapshot).len();
        assert_eq!(
            found, renamed,
            "{name}: the grants put in the estate are found"
        );
        let grants = short(renamed);
        let mut group = c.benchmark_group(format!("jit sweep, {group}, {grants} grants"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(10));
        group.bench_function("find grants", |b| {
            b.iter_with_large_drop(|| {
                (
                    jit::sweep::held(black_box(&snapshot)),
                    jit::aws::groups(black_box(&snapshot)),
                )
            })
        });
        group.finish();
    }
}

criterion_group!(benches, scan_stages, fix_plan, jit_sweep);
criterion_main!(benches);
