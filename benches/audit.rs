//! The audit store (SQLite, in a temporary folder): recording one run of the 100,000-VM estate
//! (its findings and their lives, in one transaction), as `portcullis audit` does after its scan;
//! and reading `history trend` over a year of daily runs (365 runs of a 10,000-VM estate). The
//! estates are the synthetic ones of the engine bench (half Azure, half AWS, a filter per ten VMs
//! of 50 rules); scanning them and filling the store are outside the measured loops.
//!
//! `cargo bench --bench audit`; results are in BENCHMARKS.md. `PORTCULLIS_BENCH_VMS=N` makes the
//! recorded estate N VMs (and the trend's N / 10) instead, e.g. to check the bench quickly with
//! `PORTCULLIS_BENCH_VMS=2000 cargo test --bench audit`.

mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis::audit::record::NewRun;
use portcullis::audit::trend;
use portcullis::load::Loaded;
use portcullis::policy::Policy;
use portcullis::store::{self, Store, StoreUrl};
use portcullis::synthetic::{self, Clouds, Params};
use support::vms;

/// The run `portcullis audit` would record for a scan of a synthetic estate of `vms` VMs.
fn run_of(vms: usize, policy: &Policy) -> NewRun {
    let snapshot = synthetic::generate(&Params {
        vms,
        nsgs: (vms / 10).max(1),
        rules_per_nsg: 50,
        clouds: Clouds::Mixed,
        seed: 1,
    });
    let loaded = Loaded {
        snapshot,
        ..Loaded::default()
    };
    let (report, _) = portcullis::scan::scan(&loaded, policy);
    NewRun::new(
        "2026-12-03T00:00:00Z".to_owned(),
        vec!["synthetic".to_owned()],
        &report.findings,
        Vec::new(),
        policy.digest(),
        &report.score,
    )
}

fn sqlite(dir: &tempfile::TempDir) -> Box<dyn Store> {
    let url = StoreUrl::parse(&format!("sqlite:{}", dir.path().join("audit.db").display()))
        .expect("a SQLite store URL");
    store::open(&url).expect("a new SQLite store")
}

fn record(c: &mut Criterion) {
    let policy = Policy::builtin();
    let vms = vms();
    let run = run_of(vms, &policy);
    let dir = tempfile::tempdir().unwrap();
    let mut store = sqlite(&dir);
    // The first run of a store creates every finding; the measured ones update their lives, as
    // each scheduled audit after the first does.
    store.record(&run).unwrap();
    let mut group = c.benchmark_group(format!("audit store, {vms} VMs"));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(30));
    group.bench_function("record a run (SQLite)", |b| {
        b.iter(|| store.record(black_box(&run)).unwrap())
    });
    group.finish();
}

fn read_trend(c: &mut Criterion) {
    let policy = Policy::builtin();
    let vms = (vms() / 10).max(10);
    let run = run_of(vms, &policy);
    let dir = tempfile::tempdir().unwrap();
    let mut store = sqlite(&dir);
    for _ in 0..365 {
        store.record(&run).unwrap();
    }
    let mut group = c.benchmark_group(format!("audit store, 365 runs of {vms} VMs"));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15));
    group.bench_function("history trend (SQLite)", |b| {
        b.iter(|| {
            let runs = store.run_details().unwrap();
            let counts = store.status_counts().unwrap();
            trend::trend(&runs, &counts).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, record, read_trend);
criterion_main!(benches);
