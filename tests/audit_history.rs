//! `portcullis audit` and `portcullis history` over an estate that changes between runs: a VM
//! removed and added back, a subscription that could not be read, two audits at once. The
//! estate is a snapshot of the Azure demo, edited in a temporary folder before each run.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::demo_inputs;

/// The stores every case runs against.
fn stores(dir: &Path) -> Vec<String> {
    vec![format!("sqlite:{}", dir.join("audit.db").display())]
}

fn portcullis(args: &[&str]) -> Output {
    demo_inputs();
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(output: Output) -> String {
    exits(output, 0)
}

fn exits(output: Output, code: i32) -> String {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The demo estate as one snapshot.
fn base(dir: &Path) -> Value {
    let path = dir.join("base.json").display().to_string();
    ok(portcullis(&[
        "snapshot",
        "-i",
        "fixtures/azure-demo",
        "-o",
        &path,
    ]));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Audits `estate` into `store`; returns the (rule, resource) of its unhealthy findings.
fn audit(dir: &Path, store: &str, estate: &Value) -> BTreeSet<(String, String)> {
    audit_exiting(dir, store, estate, 0)
}

/// [`audit`] of an estate whose exit status is `code` (3: a scope was not read).
fn audit_exiting(dir: &Path, store: &str, estate: &Value, code: i32) -> BTreeSet<(String, String)> {
    let input = dir.join("estate.json");
    std::fs::write(&input, estate.to_string()).unwrap();
    let report = dir.join("report.json").display().to_string();
    let input = input.display().to_string();
    exits(
        portcullis(&[
            "audit", "-i", &input, "--store", store, "--format", "json", "-o", &report,
        ]),
        code,
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "unhealthy")
        .map(pair)
        .collect()
}

fn pair(finding: &Value) -> (String, String) {
    (
        finding["rule"].as_str().unwrap().to_owned(),
        finding["resource"].as_str().unwrap().to_owned(),
    )
}

fn diff(store: &str) -> Value {
    serde_json::from_str(&ok(portcullis(&[
        "history", "diff", "--store", store, "--format", "json",
    ])))
    .unwrap()
}

fn set(diff: &Value, key: &str) -> BTreeSet<(String, String)> {
    diff[key].as_array().unwrap().iter().map(pair).collect()
}

/// The estate without its VM `name`.
fn without_vm(estate: &Value, name: &str) -> Value {
    let mut estate = estate.clone();
    let vms = estate["vms"].as_array_mut().unwrap();
    let before = vms.len();
    vms.retain(|vm| vm["name"] != name);
    assert_eq!(vms.len(), before - 1, "no VM {name} in the demo");
    estate
}

/// The first VM of the estate with an unhealthy finding, and its unhealthy findings.
fn unhealthy_vm(findings: &BTreeSet<(String, String)>, estate: &Value) -> (String, String) {
    let (_, resource) = findings
        .iter()
        .next()
        .expect("the demo has unhealthy findings");
    let vm = estate["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|vm| vm["id"].as_str() == Some(resource.as_str()))
        .expect("the finding's VM is in the snapshot");
    (vm["name"].as_str().unwrap().to_owned(), resource.to_owned())
}

fn of(findings: &BTreeSet<(String, String)>, resource: &str) -> BTreeSet<(String, String)> {
    findings
        .iter()
        .filter(|(_, r)| r == resource)
        .cloned()
        .collect()
}

#[test]
fn new_fixed_reopened_and_not_assessed_over_a_changing_estate() {
    for_each_store(|dir, store| {
        let full = base(dir);
        let all = audit(dir, store, &full);
        let (name, resource) = unhealthy_vm(&all, &full);
        let vm_findings = of(&all, &resource);
        let rest: BTreeSet<_> = all.difference(&vm_findings).cloned().collect();
        let smaller = without_vm(&full, &name);

        // Run 2 lacks the VM: its findings are fixed, the rest still open.
        audit(dir, store, &smaller);
        let d = diff(store);
        assert_eq!(set(&d, "fixed"), vm_findings);
        assert_eq!(set(&d, "open"), rest);
        assert!(set(&d, "new").is_empty());

        // Run 3 has it again: reopened, not new.
        audit(dir, store, &full);
        let d = diff(store);
        assert_eq!(set(&d, "reopened"), vm_findings);
        assert!(set(&d, "new").is_empty());
        assert!(set(&d, "fixed").is_empty());

        // Run 4 could not read the subscription and sees no VM: nothing fixed, all not assessed.
        let mut partial = full.clone();
        partial["vms"] = Value::Array(Vec::new());
        let scopes: BTreeSet<&str> = full["vms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|vm| vm["scope"].as_str().unwrap())
            .collect();
        partial["missing_scopes"] = scopes
            .iter()
            .map(|scope| {
                serde_json::json!({
                    "provider": "azure", "kind": "subscription", "name": scope, "error": "403 in test"
                })
            })
            .collect();
        audit_exiting(dir, store, &partial, 3);
        let d = diff(store);
        assert!(set(&d, "fixed").is_empty(), "{d}");
        assert!(all.is_subset(&set(&d, "not_assessed")), "{d}");
        assert!(set(&d, "open").is_empty() && set(&d, "new").is_empty());

        // Run 5 reads it again: the findings were never closed, so they are still open.
        audit(dir, store, &full);
        let d = diff(store);
        assert_eq!(set(&d, "open"), all);
        assert!(set(&d, "reopened").is_empty() && set(&d, "new").is_empty());

        let runs: Value = serde_json::from_str(&ok(portcullis(&[
            "history", "runs", "--store", store, "--format", "json",
        ])))
        .unwrap();
        let ids: Vec<i64> = runs
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids.len(), 5);
        assert!(
            runs[0]["sources"][0]
                .as_str()
                .unwrap()
                .ends_with("estate.json")
        );
        assert!(runs[0]["score"].as_f64().is_some());
    });
}

#[test]
fn two_audits_at_once_are_both_recorded() {
    for_each_store(|dir, store| {
        let full = base(dir);
        let input = dir.join("estate.json");
        std::fs::write(&input, full.to_string()).unwrap();
        let input = input.display().to_string();
        let children: Vec<_> = (0..2)
            .map(|i| {
                let out = dir.join(format!("r{i}.json")).display().to_string();
                demo_inputs();
                Command::new(env!("CARGO_BIN_EXE_portcullis"))
                    .args(["audit", "-i", &input, "--store", store, "-o", &out])
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut child in children {
            assert!(child.wait().unwrap().success());
        }
        let runs: Value = serde_json::from_str(&ok(portcullis(&[
            "history", "runs", "--store", store, "--format", "json",
        ])))
        .unwrap();
        assert_eq!(runs.as_array().unwrap().len(), 2);
        // Had the writes interleaved, the second run would see half of the first's lives.
        let d = diff(store);
        assert!(
            set(&d, "new").is_empty() && set(&d, "fixed").is_empty(),
            "{d}"
        );
        assert!(!set(&d, "open").is_empty());
    });
}

#[test]
fn diff_needs_two_runs() {
    for_each_store(|dir, store| {
        let output = portcullis(&["history", "diff", "--store", store]);
        assert_eq!(output.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&output.stderr).contains("no runs yet"));
        audit(dir, store, &base(dir));
        let output = portcullis(&["history", "diff", "--store", store]);
        assert!(String::from_utf8_lossy(&output.stderr).contains("nothing to compare"));
    });
}

fn for_each_store(case: impl Fn(&Path, &str)) {
    let dir = tempfile::tempdir().unwrap();
    for store in stores(dir.path()) {
        let case_dir = tempfile::tempdir().unwrap();
        case(case_dir.path(), &store);
    }
}
