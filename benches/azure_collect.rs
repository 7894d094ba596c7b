//! `portcullis scan --azure` against the fake Resource Manager: 5,000 VMs over 10 subscriptions,
//! 100 resources to a page. Prints the wall time of each run (the real command, as a user runs
//! it) and the API calls it made against the fewest that read the estate.
//!
//! `cargo bench --bench azure_collect`

#[path = "../tests/fake_arm/mod.rs"]
mod fake_arm;

use std::process::Command;
use std::time::{Duration, Instant};

use fake_arm::{Config, Estate, FakeArm};

const SUBSCRIPTIONS: usize = 10;
const VMS_PER_SUBSCRIPTION: usize = 500;
const PAGE_SIZE: usize = 100;
const RUNS: usize = 5;
const TOKEN: &str = "bench-token";

fn main() {
    let fake = FakeArm::start(
        Estate::generate(SUBSCRIPTIONS, VMS_PER_SUBSCRIPTION),
        Config {
            token: TOKEN.to_string(),
            page_size: PAGE_SIZE,
            faults: Vec::new(),
            hostile: Vec::new(),
            writes: Default::default(),
        },
    );
    let minimum = fake.minimum_subscription_list_calls()
        + (0..SUBSCRIPTIONS)
            .map(|i| fake.minimum_calls(i))
            .sum::<u64>();
    let dir = tempfile::tempdir().expect("temporary folder");
    let report_path = dir.path().join("report.json");
    let mut times = Vec::new();
    let mut summary = String::new();
    for _ in 0..RUNS {
        let before = fake.stats().requests;
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["scan", "--azure", "--arm-endpoint", &fake.url, "--timings"])
            .args(["--format", "json", "-o"])
            .arg(&report_path)
            .env("AZURE_ACCESS_TOKEN", TOKEN)
            .output()
            .expect("run portcullis");
        let elapsed = started.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let served = fake.stats().requests - before;
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report_path).expect("report"))
                .expect("JSON report");
        let calls = report["collection"][0]["api_calls"].as_u64().unwrap_or(0);
        assert_eq!(calls, served, "API calls reported and served differ");
        times.push(elapsed);
        summary = format!(
            "{} VMs, {} resources; API calls {calls} (fewest possible {minimum}); {}",
            report["summary"]["vms"],
            report["summary"]["resources"],
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .replace('\n', "; ")
        );
    }
    times.sort();
    let seconds = |d: Duration| d.as_secs_f64();
    println!(
        "scan --azure, {SUBSCRIPTIONS} subscriptions x {VMS_PER_SUBSCRIPTION} VMs, pages of \
         {PAGE_SIZE}: wall time median {:.2}s, min {:.2}s, max {:.2}s over {RUNS} runs",
        seconds(times[RUNS / 2]),
        seconds(times[0]),
        seconds(times[RUNS - 1])
    );
    println!("{summary}");
}
