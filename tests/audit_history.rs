//! `portcullis audit` and `portcullis history` over an estate that changes between runs: a VM
//! removed and added back, a subscription that could not be read, two audits at once. The
//! estate is a snapshot of the Azure demo, edited in a temporary folder before each run. Every
//! case runs on SQLite and on PostgreSQL (the server scripts/test starts); the PostgreSQL
//! store's own cases (its lock, migrations and connection errors) follow.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use std::time::Duration;

use portcullis::audit::record::{NewRun, Observation, Observed, Subject};
use portcullis::store::{LOCK_WAIT, PostgresStore, Store, StoreError, WRITER_LOCK_KEY};
use serde_json::Value;
use support::demo_inputs;
use support::postgres::{Session, postgres_database, postgres_env, stores};
use support::webhook::Receiver;

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

/// The demo estate, audited once, and the VM the cases remove and add back.
struct Changing {
    full: Value,
    /// The unhealthy findings of the first run.
    all: BTreeSet<(String, String)>,
    /// The VM's name.
    name: String,
    /// The VM's unhealthy findings.
    vm_findings: BTreeSet<(String, String)>,
}

impl Changing {
    /// Audits the demo estate into `store`.
    fn first_run(dir: &Path, store: &str) -> Self {
        let full = base(dir);
        let all = audit(dir, store, &full);
        let (name, resource) = unhealthy_vm(&all, &full);
        let vm_findings = of(&all, &resource);
        Changing {
            full,
            all,
            name,
            vm_findings,
        }
    }

    fn smaller(&self) -> Value {
        without_vm(&self.full, &self.name)
    }
}

#[test]
fn new_fixed_reopened_and_not_assessed_over_a_changing_estate() {
    for_each_store("changing_estate", |dir, store| {
        let Changing {
            full,
            all,
            name,
            vm_findings,
            ..
        } = Changing::first_run(dir, store);
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
    for_each_store("two_audits", |dir, store| {
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
    for_each_store("diff_needs_two_runs", |dir, store| {
        let output = portcullis(&["history", "diff", "--store", store]);
        assert_eq!(output.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&output.stderr).contains("no runs yet"));
        audit(dir, store, &base(dir));
        let output = portcullis(&["history", "diff", "--store", store]);
        assert!(String::from_utf8_lossy(&output.stderr).contains("nothing to compare"));
    });
}

fn history(store: &str, args: &[&str]) -> String {
    let mut all = vec!["history"];
    all.extend(args);
    all.extend(["--store", store]);
    ok(portcullis(&all))
}

fn history_json(store: &str, args: &[&str]) -> Value {
    serde_json::from_str(&history(store, args)).unwrap()
}

/// The SARIF results of `sarif` by their `portcullisFinding/v1` fingerprint.
fn sarif_results(sarif: &Value) -> std::collections::BTreeMap<String, Value> {
    sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let key = r["partialFingerprints"]["portcullisFinding/v1"]
                .as_str()
                .unwrap()
                .to_owned();
            (key, r.clone())
        })
        .collect()
}

fn fingerprints(diff: &Value, key: &str) -> BTreeSet<String> {
    diff[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fingerprint"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn show_trend_and_diff_formats_over_a_changing_estate() {
    for_each_store("show_trend", |dir, store| {
        let estate = Changing::first_run(dir, store);
        audit(dir, store, &estate.smaller());
        let Changing {
            full,
            all,
            vm_findings,
            ..
        } = estate;
        // Run 3 has the VM back, and writes the scan's own SARIF.
        let input = dir.join("estate.json");
        std::fs::write(&input, full.to_string()).unwrap();
        let scan_sarif = dir.join("scan.sarif");
        ok(portcullis(&[
            "audit",
            "-i",
            &input.display().to_string(),
            "--store",
            store,
            "--output-sarif",
            &scan_sarif.display().to_string(),
            "-o",
            &dir.join("r.txt").display().to_string(),
        ]));

        // show: run 2 lacks the VM's findings, and names its scopes.
        let shown = history_json(store, &["show", "2", "--format", "json"]);
        assert_eq!(shown["id"], 2);
        let unhealthy: BTreeSet<_> = shown["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["status"] == "unhealthy")
            .map(pair)
            .collect();
        assert_eq!(unhealthy, all.difference(&vm_findings).cloned().collect());
        assert!(!shown["scopes"].as_object().unwrap().is_empty(), "{shown}");
        assert_eq!(shown["scopes_missing"], serde_json::json!([]));
        let table = history(store, &["show", "2"]);
        assert!(table.starts_with("run 2 at "), "{table}");
        let output = portcullis(&["history", "show", "99", "--store", store]);
        assert_eq!(output.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&output.stderr).contains("no run 99"));

        // trend: one point per run in order; run 2 counts the VM's findings fewer.
        let runs = history_json(store, &["runs", "--format", "json"]);
        let points = history_json(store, &["trend", "--format", "json"]);
        let points = points.as_array().unwrap();
        assert_eq!(points.len(), 3);
        for (point, run) in points.iter().zip(runs.as_array().unwrap()) {
            assert_eq!(
                (&point["run"], &point["time"], &point["score"]),
                (&run["id"], &run["time"], &run["score"])
            );
            assert!(!point["scopes"].as_object().unwrap().is_empty(), "{point}");
        }
        let closed = |i: usize| {
            points[i]["unhealthy"]["management-ports-closed"]
                .as_u64()
                .unwrap()
        };
        let of_rule = |set: &BTreeSet<(String, String)>| {
            set.iter()
                .filter(|(r, _)| r == "management-ports-closed")
                .count() as u64
        };
        assert_eq!(closed(0), of_rule(&all));
        assert_eq!(closed(1), of_rule(&all) - of_rule(&vm_findings));
        assert_eq!(closed(2), closed(0));
        let markdown = history(store, &["trend", "--format", "markdown"]);
        assert!(markdown.contains("| RUN | TIME | SCORE |"), "{markdown}");

        // diff as a pull-request comment.
        let markdown = history(store, &["diff", "--format", "markdown"]);
        assert!(
            markdown.contains(&format!("#### Reopened ({})", vm_findings.len())),
            "{markdown}"
        );
        assert!(
            markdown.contains("<details><summary>Still open"),
            "{markdown}"
        );

        // diff as SARIF: the scan's fingerprints, each with its baseline state.
        let d = diff(store);
        let sarif: Value =
            serde_json::from_str(&history(store, &["diff", "--format", "sarif"])).unwrap();
        let errors = support::sarif_schema_errors(&sarif);
        assert!(errors.is_empty(), "{errors:#?}");
        let results = sarif_results(&sarif);
        let state = |key: &str| -> BTreeSet<String> {
            results
                .iter()
                .filter(|(_, r)| r["baselineState"] == key)
                .map(|(f, _)| f.clone())
                .collect()
        };
        assert_eq!(state("new"), fingerprints(&d, "reopened"));
        assert_eq!(state("unchanged"), fingerprints(&d, "open"));
        assert!(state("absent").is_empty() && state("updated").is_empty());
        let scan: Value =
            serde_json::from_str(&std::fs::read_to_string(&scan_sarif).unwrap()).unwrap();
        let scanned = sarif_results(&scan);
        assert_eq!(
            results.keys().collect::<BTreeSet<_>>(),
            scanned.keys().collect::<BTreeSet<_>>()
        );
        for (key, result) in &results {
            assert_eq!(
                result["partialFingerprints"],
                scanned[key]["partialFingerprints"]
            );
            assert_eq!(result["ruleIndex"], scanned[key]["ruleIndex"]);
        }
        // From run 1 to 2 the VM's findings are gone: absent.
        let sarif: Value =
            serde_json::from_str(&history(store, &["diff", "1", "2", "--format", "sarif"]))
                .unwrap();
        assert!(support::sarif_schema_errors(&sarif).is_empty());
        let absent: BTreeSet<String> = sarif_results(&sarif)
            .into_iter()
            .filter(|(_, r)| r["baselineState"] == "absent")
            .map(|(f, _)| f)
            .collect();
        assert_eq!(absent, fingerprints(&diff_of(store, "1", "2"), "fixed"));
        assert_eq!(absent.len(), vm_findings.len());
    });
}

fn diff_of(store: &str, from: &str, to: &str) -> Value {
    history_json(store, &["diff", from, to, "--format", "json"])
}

/// A run at `time` seeing `findings`: (resource, status) of `management-ports-closed` (high).
fn run_at(time: &str, findings: &[(&str, Observed)]) -> NewRun {
    let mut run = one_finding_run(time);
    run.observations = findings
        .iter()
        .map(|(resource, status)| Observation {
            subject: Subject {
                fingerprint: format!("management-ports-closed|{resource}"),
                rule: "management-ports-closed".to_owned(),
                resource: (*resource).to_owned(),
                scope: "s1".to_owned(),
                region: None,
            },
            status: *status,
        })
        .collect();
    run
}

#[test]
fn open_findings_have_ages_times_to_fix_and_overdue_by_the_sla() {
    for_each_store("open_sla", |dir, url| {
        let mut store =
            portcullis::store::open(&portcullis::store::StoreUrl::parse(url).unwrap()).unwrap();
        use Observed::{Healthy, Unhealthy};
        for run in [
            run_at(
                "2026-01-01T00:00:00Z",
                &[("vm1", Unhealthy), ("vm2", Unhealthy)],
            ),
            run_at(
                "2026-01-03T00:00:00Z",
                &[("vm1", Healthy), ("vm2", Unhealthy)],
            ),
            run_at(
                "2026-01-04T00:00:00Z",
                &[("vm1", Healthy), ("vm2", Unhealthy), ("vm3", Healthy)],
            ),
            run_at(
                "2026-01-08T00:00:00Z",
                &[("vm1", Healthy), ("vm2", Unhealthy), ("vm3", Unhealthy)],
            ),
        ] {
            store.record(&run).unwrap();
        }
        drop(store);
        let rules = dir.join("rules");
        std::fs::create_dir(&rules).unwrap();
        std::fs::write(rules.join("sla.yaml"), "sla:\n  high: 7d\n").unwrap();
        let rules = rules.display().to_string();

        let report = history_json(url, &["open", "--rules", &rules, "--format", "json"]);
        let open = report["open"].as_array().unwrap();
        let shown: Vec<(&str, &str, bool)> = open
            .iter()
            .map(|o| {
                (
                    o["resource"].as_str().unwrap(),
                    o["unhealthy_since"].as_str().unwrap(),
                    o["overdue"].as_bool().unwrap(),
                )
            })
            .collect();
        // Ages run to now, which is long after January 2026: both are past 7 days.
        assert_eq!(
            shown,
            [
                ("vm2", "2026-01-01T00:00:00Z", true),
                ("vm3", "2026-01-08T00:00:00Z", true)
            ]
        );
        assert_eq!(open[0]["severity"], "high");
        assert_eq!(open[0]["sla_seconds"], 7 * 86_400);
        assert!(
            open[1]["age_seconds"].as_u64().unwrap() < open[0]["age_seconds"].as_u64().unwrap()
        );
        assert_eq!(
            report["time_to_fix"],
            serde_json::json!([{"severity": "high", "fixed": 1,
                "median_seconds": 2 * 86_400, "p90_seconds": 2 * 86_400}])
        );
        // Without the rules there is no SLA, so nothing is overdue.
        let report = history_json(url, &["open", "--format", "json"]);
        assert!(
            report["open"]
                .as_array()
                .unwrap()
                .iter()
                .all(|o| o["overdue"] == false && o["sla_seconds"].is_null())
        );
        let table = history(url, &["open", "--rules", &rules]);
        assert!(table.contains("2 overdue"), "{table}");
        assert!(table.contains("OVERDUE"), "{table}");
    });
}

/// A Prometheus text exposition: (name, labels) to value. Fails on a sample whose family was
/// not announced with `# HELP` and `# TYPE … gauge`, or on a line that is not a sample.
type Samples = std::collections::BTreeMap<(String, Vec<(String, String)>), f64>;

fn parse_prometheus(text: &str) -> Samples {
    let mut announced = BTreeSet::new();
    let mut helped = BTreeSet::new();
    let mut samples = Samples::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split(' ').next().unwrap().to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(kind, "gauge", "{line}");
            announced.insert(name.to_owned());
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line:?}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').unwrap();
                let labels: Vec<(String, String)> = labels
                    .split("\",")
                    .map(|pair| {
                        let (k, v) = pair.split_once("=\"").unwrap();
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name, labels)
            }
            None => (series, Vec::new()),
        };
        assert!(
            announced.contains(name) && helped.contains(name),
            "{name} has no HELP and TYPE before its samples"
        );
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line:?}"));
        assert!(
            samples.insert((name.to_owned(), labels), value).is_none(),
            "{line}"
        );
    }
    samples
}

/// The value of an unlabelled metric.
fn gauge(samples: &Samples, name: &str) -> f64 {
    metric(samples, name, &[])
}

fn metric(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let key = (name.to_owned(), labels);
    *samples
        .get(&key)
        .unwrap_or_else(|| panic!("no {key:?} in {samples:?}"))
}

#[test]
fn the_metrics_file_holds_the_runs_figures() {
    for_each_store("metrics", |dir, store| {
        let full = base(dir);
        let input = dir.join("estate.json");
        let metrics_dir = dir.join("textfile");
        std::fs::create_dir(&metrics_dir).unwrap();
        let metrics = metrics_dir.join("portcullis.prom");
        let report = dir.join("report.json");
        let audit_with_metrics = |estate: &Value, code: i32| {
            std::fs::write(&input, estate.to_string()).unwrap();
            exits(
                portcullis(&[
                    "audit",
                    "-i",
                    &input.display().to_string(),
                    "--store",
                    store,
                    "--format",
                    "json",
                    "-o",
                    &report.display().to_string(),
                    "--metrics-file",
                    &metrics.display().to_string(),
                ]),
                code,
            );
            let names: Vec<_> = std::fs::read_dir(&metrics_dir).unwrap().collect();
            assert_eq!(names.len(), 1, "a temporary file was left behind");
            parse_prometheus(&std::fs::read_to_string(&metrics).unwrap())
        };
        let samples = audit_with_metrics(&full, 0);
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        let score = &report["score"];
        assert_eq!(
            gauge(&samples, "portcullis_secure_score_percent"),
            score["percent"].as_f64().unwrap()
        );
        for scope in score["scopes"].as_array().unwrap() {
            let labels = [
                ("provider", scope["provider"].as_str().unwrap()),
                ("scope", scope["scope"].as_str().unwrap()),
            ];
            assert_eq!(
                metric(&samples, "portcullis_scope_secure_score_percent", &labels),
                scope["percent"].as_f64().unwrap()
            );
        }
        let mut unhealthy = std::collections::BTreeMap::<(String, String), f64>::new();
        for rule in [
            "internet-facing-vm-nsg",
            "management-ports-closed",
            "management-ports-jit",
        ] {
            unhealthy.insert((rule.to_owned(), "high".to_owned()), 0.0);
        }
        for f in report["findings"].as_array().unwrap() {
            if f["status"] == "unhealthy" {
                let key = (
                    f["rule"].as_str().unwrap().to_owned(),
                    f["severity"].as_str().unwrap().to_owned(),
                );
                *unhealthy.entry(key).or_default() += 1.0;
            }
        }
        for ((rule, severity), count) in &unhealthy {
            assert_eq!(
                metric(
                    &samples,
                    "portcullis_unhealthy_findings",
                    &[("recommendation", rule), ("severity", severity)]
                ),
                *count
            );
        }
        assert!(unhealthy.values().any(|&n| n > 0.0));
        assert_eq!(gauge(&samples, "portcullis_audit_run_id"), 1.0);
        assert!(gauge(&samples, "portcullis_audit_duration_seconds") > 0.0);
        let ran = gauge(&samples, "portcullis_audit_last_run_timestamp_seconds");
        assert_eq!(
            gauge(&samples, "portcullis_audit_last_success_timestamp_seconds"),
            ran
        );
        assert_eq!(gauge(&samples, "portcullis_audit_scopes_missing"), 0.0);

        // A partial run is not a success: the last success stays the first run's.
        let mut partial = full.clone();
        partial["missing_scopes"] = serde_json::json!([{
            "provider": "azure", "kind": "subscription", "name": "33333333-3333-4333-8333-333333333333",
            "error": "403 in test"
        }]);
        let samples = audit_with_metrics(&partial, 3);
        assert_eq!(gauge(&samples, "portcullis_audit_run_id"), 2.0);
        assert_eq!(gauge(&samples, "portcullis_audit_scopes_missing"), 1.0);
        assert_eq!(
            gauge(&samples, "portcullis_audit_last_success_timestamp_seconds"),
            ran
        );
        assert!(gauge(&samples, "portcullis_audit_last_run_timestamp_seconds") > ran);
    });
}

/// Audits `estate` with `extra` arguments; returns standard error.
fn audit_with(dir: &Path, store: &str, estate: &Value, extra: &[&str], code: i32) -> String {
    let input = dir.join("estate.json");
    std::fs::write(&input, estate.to_string()).unwrap();
    let input = input.display().to_string();
    let out = dir.join("out.txt").display().to_string();
    let mut args = vec!["audit", "-i", &input, "--store", store, "-o", &out];
    args.extend(extra);
    let output = portcullis(&args);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    stderr
}

#[test]
fn webhooks_hear_of_new_and_reopened_findings_and_score_drops_once() {
    for_each_store("notify", |dir, store| {
        let generic = Receiver::start(&[]);
        let slack = Receiver::start(&[500]);
        let broken = Receiver::start(&[503, 503, 503]);
        let slack_url = format!("slack:{}", slack.url);
        let notify = [
            "--notify",
            generic.url.as_str(),
            "--notify",
            &slack_url,
            "--notify",
            broken.url.as_str(),
        ];
        // The estate is learnt in a scratch store: run 1 below is the real store's first.
        let scratch = format!("sqlite:{}", dir.join("scratch.db").display());
        let estate = Changing::first_run(dir, &scratch);
        let smaller = estate.smaller();
        let Changing {
            full,
            all,
            vm_findings,
            ..
        } = estate;

        // Run 1, a new store: one baseline summary; Slack's is retried after its 500; the
        // broken webhook is tried three times, reported, and the audit still succeeds.
        let stderr = audit_with(dir, store, &full, &notify, 0);
        let messages = generic.received();
        assert_eq!(messages.len(), 1);
        let baseline = &messages[0].body;
        assert_eq!(baseline["schema"], "portcullis.notification/v1");
        assert_eq!(baseline["kind"], "baseline");
        assert_eq!(baseline["run"]["id"], 1);
        assert_eq!(baseline["new"], serde_json::json!([]));
        let unhealthy: u64 = baseline["unhealthy"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(unhealthy, all.len() as u64);
        let slack_got = slack.received();
        assert_eq!(slack_got.len(), 2, "one 500, then the retry");
        assert_eq!(slack_got[0].body, slack_got[1].body);
        let text = slack_got[0].body["text"].as_str().unwrap();
        assert!(
            text.starts_with("*portcullis audit run 1: first run"),
            "{text}"
        );
        assert_eq!(broken.received().len(), 3);
        assert!(
            stderr.contains("could not notify http://127.0.0.1/…"),
            "{stderr}"
        );
        assert!(
            stderr.contains("503 Service Unavailable (3 attempts)"),
            "{stderr}"
        );
        assert!(
            !stderr.contains(&broken.url),
            "the webhook's URL is a secret: {stderr}"
        );

        // Runs 2 (nothing changed) and 3 (a VM fixed): nothing to tell.
        audit_with(dir, store, &full, &notify, 0);
        audit_with(dir, store, &smaller, &notify, 0);
        assert_eq!(generic.received().len(), 1);

        // Run 4: the VM is back, and the score falls below the minimum of run 3's score.
        let runs = history_json(store, &["runs", "--format", "json"]);
        let score3 = runs[2]["score"].as_f64().unwrap();
        assert!(score3 > runs[1]["score"].as_f64().unwrap(), "{runs}");
        let gate = format!("{score3}");
        let mut gated = notify.to_vec();
        gated.extend(["--min-score", &gate]);
        audit_with(dir, store, &full, &gated, 1);
        let messages = generic.received();
        assert_eq!(messages.len(), 2);
        let change = &messages[1].body;
        assert_eq!(change["kind"], "changes");
        assert_eq!(change["run"]["previous_run"], 3);
        assert_eq!(change["score_below"], score3);
        assert_eq!(change["new_count"], 0);
        let reopened: BTreeSet<(String, String)> = change["reopened"]
            .as_array()
            .unwrap()
            .iter()
            .map(pair)
            .collect();
        assert_eq!(reopened, vm_findings);
        assert_eq!(change["reopened_count"], reopened.len());

        // Run 5: still below the minimum, and nothing new: announced once already.
        audit_with(dir, store, &full, &gated, 1);
        assert_eq!(generic.received().len(), 2);
        assert_eq!(slack.received().len(), 3);
        assert!(generic.received().iter().all(|r| r.path == "/hook"));
    });
}

/// `audit --every 1h` on `store`, its standard error read line by line.
struct Every {
    child: std::process::Child,
    stderr: std::io::Lines<std::io::BufReader<std::process::ChildStderr>>,
    seen: Vec<String>,
}

impl Every {
    fn start(dir: &Path, store: &str) -> Self {
        let input = dir.join("estate.json");
        std::fs::write(&input, base(dir).to_string()).unwrap();
        let report = dir.join("report.json").display().to_string();
        let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args([
                "audit",
                "-i",
                &input.display().to_string(),
                "--store",
                store,
            ])
            .args(["--every", "1h", "--format", "json", "-o", &report])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
        Every {
            child,
            stderr,
            seen: Vec::new(),
        }
    }

    /// Reads standard error up to a line starting with `start`.
    fn until(&mut self, start: &str) {
        for line in self.stderr.by_ref() {
            let line = line.unwrap();
            self.seen.push(line.clone());
            if line.starts_with(start) {
                return;
            }
        }
        panic!("the audit ended before saying {start:?}: {:#?}", self.seen);
    }

    /// Sends SIGTERM and waits for the process to end (a minute at most); returns the rest of
    /// its standard error.
    fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let rest: Vec<String> = self.stderr.by_ref().map(Result::unwrap).collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, rest);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "SIGTERM did not stop the audit"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn every_stops_on_sigterm_between_runs() {
    for_each_store("every_between", |dir, store| {
        let mut every = Every::start(dir, store);
        every.until("next audit run at ");
        let (status, rest) = every.terminate();
        assert_eq!(status.code(), Some(0), "{rest:#?}");
        assert_eq!(rest, ["SIGTERM: stopped between runs"]);
        let runs = history_json(store, &["runs", "--format", "json"]);
        assert_eq!(runs.as_array().unwrap().len(), 1);
    });
}

#[test]
fn every_finishes_the_run_under_way_on_sigterm() {
    for_each_store("every_during", |dir, store| {
        let mut every = Every::start(dir, store);
        // Signals are caught from here on, so this one lands before or during the first run.
        every.until("auditing every 1h;");
        let (status, rest) = every.terminate();
        assert_eq!(status.code(), Some(0), "{rest:#?}");
        assert!(
            rest.contains(&"recorded audit run 1".to_owned()),
            "{rest:#?}"
        );
        assert_eq!(rest.last().unwrap(), "SIGTERM: stopped between runs");
        // The run is whole: its report is complete JSON and its findings are recorded.
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap())
                .unwrap();
        let shown = history_json(store, &["show", "1", "--format", "json"]);
        assert_eq!(
            shown["findings"].as_array().unwrap().len(),
            report["findings"].as_array().unwrap().len()
        );
    });
}

/// A JIT grant (`portcullis jit request`'s rule) left open past its expiry is standing access:
/// the run that finds it tells the webhooks, naming the VM's JIT finding as new.
#[test]
fn webhooks_hear_of_an_expired_jit_grant_still_open() {
    for_each_store("expired_grant", |dir, store| {
        let receiver = Receiver::start(&[]);
        let notify = ["--notify", receiver.url.as_str()];
        let full = base(dir);
        audit_with(dir, store, &full, &notify, 0);
        assert_eq!(receiver.received().len(), 1, "the baseline summary");

        let mut granted = full.clone();
        let nsg = granted["nsgs"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|n| n["name"] == "ops-01-nsg")
            .expect("the demo's ops-01-nsg");
        let grant = "portcullis-jit-0a1b2c3d4e";
        // The grant goes where `jit request` puts it: above the deny it must pass.
        let rules = nsg["rules"].as_array_mut().unwrap();
        let deny = rules.iter_mut().find(|r| r["name"] == "deny-ssh").unwrap();
        deny["priority"] = serde_json::json!(110);
        rules.push(serde_json::json!({
            "name": grant,
            "priority": 100,
            "direction": "inbound",
            "access": "allow",
            "protocol": "tcp",
            "sources": ["52.1.2.3/32"],
            "destinations": ["*"],
            "destination_ports": ["22"],
        }));
        let mut expiries = serde_json::Map::new();
        expiries.insert(grant.to_owned(), "2026-01-01T00:00:00Z".into());
        nsg["grant_expiries"] = Value::Object(expiries);
        let stderr = audit_with(dir, store, &granted, &notify, 0);
        let messages = receiver.received();
        assert_eq!(
            messages.len(),
            2,
            "one message for the expired grant: {stderr}"
        );
        let change = &messages[1].body;
        assert_eq!(change["kind"], "changes");
        let ops = full["vms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|vm| vm["name"] == "ops-01")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let new: BTreeSet<(String, String)> =
            change["new"].as_array().unwrap().iter().map(pair).collect();
        assert_eq!(
            new,
            BTreeSet::from([("management-ports-jit".to_owned(), ops)]),
            "{change}"
        );
    });
}

fn for_each_store(name: &str, case: impl Fn(&Path, &str)) {
    let dir = tempfile::tempdir().unwrap();
    for store in stores(dir.path(), name) {
        let case_dir = tempfile::tempdir().unwrap();
        case(case_dir.path(), &store);
    }
}

/// A small run of one unhealthy finding, recorded through the store's API.
fn one_finding_run(time: &str) -> NewRun {
    NewRun {
        time: time.to_owned(),
        sources: vec!["estate.json".to_owned()],
        scopes_read: vec!["azure s1".to_owned()],
        scopes_missing: Vec::new(),
        policy_digest: "d".to_owned(),
        score: 50.0,
        score_detail: "{}".to_owned(),
        observations: vec![Observation {
            subject: Subject {
                fingerprint: "r|vm1".to_owned(),
                rule: "r".to_owned(),
                resource: "vm1".to_owned(),
                scope: "s1".to_owned(),
                region: None,
            },
            status: Observed::Unhealthy,
        }],
    }
}

#[test]
fn postgres_migrations_run_once_and_a_newer_schema_is_refused() {
    let Some(url) = postgres_database("migrations") else {
        return;
    };
    let mut store = PostgresStore::open(&url, LOCK_WAIT).unwrap();
    store.record(&one_finding_run("t1")).unwrap();
    drop(store);
    let mut store = PostgresStore::open(&url, LOCK_WAIT).unwrap();
    assert_eq!(store.schema_version().unwrap(), 3);
    assert_eq!(store.runs().unwrap().len(), 1);
    let session = Session::connect(&url, "portcullis tests");
    assert_eq!(session.count("SELECT COUNT(*) FROM schema_version"), 3);
    session.run("INSERT INTO schema_version (version) VALUES (99)");
    let err = PostgresStore::open(&url, LOCK_WAIT).err().unwrap();
    assert!(
        matches!(
            err,
            StoreError::TooNew {
                found: 99,
                known: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains(password(&url)), "{err}");
}

#[test]
fn a_held_postgres_lock_names_its_holder_after_the_wait() {
    let Some(url) = postgres_database("held_lock") else {
        return;
    };
    let mut waiter = PostgresStore::open(&url, Duration::from_millis(100)).unwrap();
    let holder = Session::connect(&url, "the other audit");
    holder.run(&format!("SELECT pg_advisory_lock({WRITER_LOCK_KEY})"));
    let err = waiter.record(&one_finding_run("t1")).unwrap_err();
    let StoreError::Locked { holder: who, .. } = &err else {
        panic!("{err}");
    };
    assert!(who.contains("application `the other audit`"), "{err}");
    assert!(!err.to_string().contains(password(&url)), "{err}");
    holder.run(&format!("SELECT pg_advisory_unlock({WRITER_LOCK_KEY})"));
    waiter.record(&one_finding_run("t1")).unwrap();
    assert_eq!(waiter.lives().unwrap().len(), 1);
}

#[test]
fn a_postgres_writer_waits_for_the_lock_then_records() {
    let Some(url) = postgres_database("waiting_writer") else {
        return;
    };
    let holder = Session::connect(&url, "the other audit");
    holder.run(&format!("SELECT pg_advisory_lock({WRITER_LOCK_KEY})"));
    let writer = {
        let url = url.clone();
        std::thread::spawn(move || {
            let mut store = PostgresStore::open(&url, LOCK_WAIT)?;
            store.record(&one_finding_run("t1"))
        })
    };
    // The writer is queued behind the holder before the holder lets go.
    let waiting = format!(
        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
         AND ((classid::bigint << 32) | objid::bigint) = {WRITER_LOCK_KEY}"
    );
    while holder.count(&waiting) == 0 {
        if writer.is_finished() {
            panic!("the writer did not wait: {:?}", writer.join());
        }
        std::thread::yield_now();
    }
    holder.run(&format!("SELECT pg_advisory_unlock({WRITER_LOCK_KEY})"));
    let id = writer.join().unwrap().unwrap();
    let mut store = PostgresStore::open(&url, LOCK_WAIT).unwrap();
    assert_eq!(
        store
            .runs()
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        [id]
    );
}

/// The password of a `postgres://USER:PASSWORD@…` URL.
fn password(url: &str) -> &str {
    let (user, _) = url["postgres://".len()..].split_once('@').unwrap();
    user.split_once(':').map_or("", |(_, password)| password)
}

/// `history runs` on `store`: fails with status 2; returns its message.
fn refused(store: &str) -> String {
    let output = portcullis(&["history", "runs", "--store", store]);
    assert_eq!(output.status.code(), Some(2));
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn a_refused_connection_or_bad_url_names_the_store_without_its_password() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("postgres://audit:s3cret@127.0.0.1:{port}/portcullis");
    let message = refused(&url);
    assert!(
        message.contains(&format!("postgres://audit:***@127.0.0.1:{port}/portcullis")),
        "{message}"
    );
    assert!(message.contains("error connecting to server"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");

    let message = refused("postgres://audit:s3cret@127.0.0.1/portcullis?sslmode=verify-full");
    assert!(
        message.contains("postgres://audit:***@127.0.0.1/portcullis"),
        "{message}"
    );
    assert!(message.contains("sslmode"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
}

#[test]
fn a_silent_server_times_out_connecting() {
    // Connections queue in the listener's backlog and are never answered.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let message = refused(&format!(
        "postgres://audit:s3cret@127.0.0.1:{port}/portcullis?connect_timeout=1"
    ));
    assert!(message.contains("no answer within 1s"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
}

#[test]
fn postgres_over_tls_trusts_only_the_roots_it_is_given() {
    let Some(url) = postgres_env("PORTCULLIS_TEST_POSTGRES_TLS_URL", "tls") else {
        return;
    };
    let ca = std::env::var("PORTCULLIS_TEST_POSTGRES_CA")
        .expect("scripts/lib/postgres.sh sets the CA with the TLS URL");
    let runs = |cert_file: Option<&str>| {
        demo_inputs();
        let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        command
            .args(["history", "runs", "--store", &url])
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR");
        if let Some(file) = cert_file {
            command.env("SSL_CERT_FILE", file);
        }
        command.output().unwrap()
    };
    ok(runs(Some(&ca)));
    // The system's roots do not hold the test CA: sslmode=require still checks the certificate.
    let output = runs(None);
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8(output.stderr).unwrap();
    assert!(message.contains("invalid peer certificate"), "{message}");
    assert!(
        message.contains("postgres://portcullis:***@localhost:"),
        "{message}"
    );
    assert!(!message.contains(password(&url)), "{message}");
}
