//! The demo estates give exactly the verdicts and score that `fixtures/README.md` documents.
//!
//! The expected verdicts are read from the README's tables, so the documentation and the test
//! cannot drift apart.

use std::collections::BTreeMap;
use std::path::PathBuf;

use portcullis::finding::Status;
use portcullis::output::Report;
use portcullis::policy::Policy;
use portcullis::{load, scan};

const ALL_TEN: [&str; 10] = [
    "21/tcp", "22/tcp", "23/tcp", "389/tcp", "389/udp", "1433/tcp", "3389/tcp", "3389/udp",
    "5985/tcp", "5986/tcp",
];

struct Expected {
    vm: String,
    statuses: [Status; 3],
    open: Vec<String>,
}

fn status(cell: &str) -> Status {
    match cell.split_whitespace().next() {
        Some("healthy") => Status::Healthy,
        Some("unhealthy") => Status::Unhealthy,
        Some("n/a") => Status::NotApplicable,
        other => panic!("unknown status {other:?} in fixtures/README.md"),
    }
}

fn open_ports(cell: &str) -> Vec<String> {
    if cell.contains("all ten") {
        return ALL_TEN.iter().map(|s| s.to_string()).collect();
    }
    cell.split(['(', ')', ',', ' '])
        .filter(|t| t.ends_with("/tcp") || t.ends_with("/udp"))
        .map(str::to_string)
        .collect()
}

/// The verdict rows of the README section for one estate: its last three columns are the
/// statuses of the three recommendations.
fn expected(estate: &str) -> Vec<Expected> {
    let readme = std::fs::read_to_string(fixture("README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with(&format!("`{estate}/`")))
        .unwrap_or_else(|| panic!("no section for {estate} in fixtures/README.md"));
    section
        .lines()
        .filter(|l| l.starts_with("| "))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(str::trim)
                .collect::<Vec<_>>()
        })
        .filter(|cells| cells.len() >= 5 && status_word(cells[cells.len() - 3]).is_some())
        .map(|cells| {
            let n = cells.len();
            Expected {
                vm: cells[0].to_string(),
                statuses: [
                    status(cells[n - 3]),
                    status(cells[n - 2]),
                    status(cells[n - 1]),
                ],
                open: open_ports(cells[n - 2]),
            }
        })
        .collect()
}

fn status_word(cell: &str) -> Option<&str> {
    cell.split_whitespace()
        .next()
        .filter(|w| matches!(*w, "healthy" | "unhealthy" | "n/a"))
}

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

fn scan_estate(estate: &str) -> Report {
    let loaded = load::load_inputs(&[fixture(estate)]).unwrap();
    scan::scan(&loaded, &Policy::builtin()).0
}

const RULES: [&str; 3] = [
    "internet-facing-vm-nsg",
    "management-ports-closed",
    "management-ports-jit",
];

fn check_estate(estate: &str, vms: usize) {
    let expected = expected(estate);
    assert_eq!(expected.len(), vms, "rows in the {estate} table");
    let report = scan_estate(estate);
    assert_eq!(report.summary.vms, vms);
    let mut failures = Vec::new();
    for want in &expected {
        for (rule, want_status) in RULES.iter().zip(want.statuses) {
            let Some(f) = report
                .findings
                .iter()
                .find(|f| f.resource_name == want.vm && f.rule == *rule)
            else {
                failures.push(format!("{}: no {rule} finding", want.vm));
                continue;
            };
            if f.status != want_status {
                failures.push(format!(
                    "{} {rule}: got {}, want {want_status} ({})",
                    want.vm, f.status, f.evidence.summary
                ));
            }
            let open: Vec<String> = f.ports.iter().map(ToString::to_string).collect();
            if *rule == "management-ports-closed" && open != want.open {
                failures.push(format!(
                    "{} open ports: got {open:?}, want {:?}",
                    want.vm, want.open
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{estate}:\n{}", failures.join("\n"));

    // The score follows from the table: a VM is unhealthy for the control when any of its three
    // verdicts is, healthy when none is and one is healthy (section 6 of the semantics).
    let mut counts: BTreeMap<Status, u32> = BTreeMap::new();
    for want in &expected {
        let s = if want.statuses.contains(&Status::Unhealthy) {
            Status::Unhealthy
        } else if want.statuses.contains(&Status::Healthy) {
            Status::Healthy
        } else {
            Status::NotApplicable
        };
        *counts.entry(s).or_default() += 1;
    }
    let healthy = f64::from(counts.get(&Status::Healthy).copied().unwrap_or(0));
    let unhealthy = f64::from(counts.get(&Status::Unhealthy).copied().unwrap_or(0));
    let control = &report.score.controls[0];
    assert_eq!(control.healthy as f64, healthy);
    assert_eq!(control.unhealthy as f64, unhealthy);
    let points = 8.0 * healthy / (healthy + unhealthy);
    assert!(
        (control.points - points).abs() < 1e-9,
        "{} vs {points}",
        control.points
    );
    assert!((report.score.percent - 100.0 * points / 8.0).abs() < 1e-9);
}

#[test]
fn azure_demo_matches_its_documented_verdicts_and_score() {
    check_estate("azure-demo", 14);
}

#[test]
fn aws_demo_matches_its_documented_verdicts_and_score() {
    check_estate("aws-demo", 13);
}

#[test]
fn both_demos_scan_together_with_a_score_per_scope() {
    let loaded = load::load_inputs(&[fixture("azure-demo"), fixture("aws-demo")]).unwrap();
    let report = scan::scan(&loaded, &Policy::builtin()).0;
    assert_eq!(report.summary.vms, 27);
    let scopes: Vec<&str> = report
        .score
        .scopes
        .iter()
        .map(|s| s.scope.as_str())
        .collect();
    assert_eq!(scopes.len(), 3, "{scopes:?}");
    assert!(scopes.contains(&"111122223333"));
}
