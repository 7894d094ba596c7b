//! The CLI as CI runs it: exit codes of `--fail-on` and `--min-score`, baselines from earlier
//! JSON and SARIF output, exemptions in force and expired, and several outputs from one scan.

mod support;

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use support::{demo_inputs, portcullis, stderr, stdout};

const AZURE: &str = "fixtures/azure-demo";
const AWS: &str = "fixtures/aws-demo";

fn scan(extra: &[&str]) -> Output {
    demo_inputs();
    let mut args = vec!["scan", "-i", AZURE, "-i", AWS];
    args.extend_from_slice(extra);
    portcullis(&args)
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

#[test]
fn exit_codes_of_the_gates() {
    // (flags, exit code, what standard error says)
    let cases: &[(&[&str], i32, &str)] = &[
        (&[], 0, ""),
        (
            &["--fail-on", "high"],
            1,
            "gate failed: 35 unhealthy findings of severity high or higher: management-ports-closed on build-01,",
        ),
        (
            &["--fail-on", "low"],
            1,
            "gate failed: 35 unhealthy findings",
        ),
        (&["--fail-on", "critical"], 0, ""),
        (&["--min-score", "25"], 0, ""),
        (
            &["--min-score", "25.1"],
            1,
            "gate failed: secure score 25.00% is below the minimum of 25.1%",
        ),
        (
            &["--fail-on", "critical", "--min-score", "90"],
            1,
            "below the minimum of 90%",
        ),
        (&["--fail-on", "severe"], 2, "\"severe\" is not a severity"),
        (&["--min-score", "120"], 2, "120 is not between 0 and 100"),
    ];
    for &(flags, code, says) in cases {
        let output = scan(flags);
        assert_eq!(
            output.status.code(),
            Some(code),
            "{flags:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(says),
            "{flags:?}: {}",
            stderr(&output)
        );
        if code != 2 {
            assert!(stdout(&output).contains("Secure score: 25.0%"), "{flags:?}");
        }
    }
}

#[test]
fn several_outputs_from_one_scan() {
    let dir = tempfile::tempdir().unwrap();
    let (sarif, html, json) = (
        path(dir.path(), "out.sarif"),
        path(dir.path(), "out.html"),
        path(dir.path(), "out.json"),
    );
    let output = scan(&[
        "--output-sarif",
        &sarif,
        "--output-html",
        &html,
        "--output-json",
        &json,
        "--fail-on",
        "high",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).starts_with("build-01  (azure"),
        "the table on stdout"
    );
    let sarif: Value = serde_json::from_str(&std::fs::read_to_string(sarif).unwrap()).unwrap();
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 35);
    assert_eq!(sarif["runs"][0]["properties"]["gate"]["passed"], false);
    let json: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(json["summary"]["unhealthy"], 35);
    assert_eq!(json["gate"]["passed"], false);
    assert_eq!(json["gate"]["failing_findings"], 35);
    let html = std::fs::read_to_string(html).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("Gate failed."));

    let output = scan(&["--format", "sarif"]);
    let stdout_sarif: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(stdout_sarif["version"], "2.1.0");
}

#[test]
fn a_baseline_gates_only_new_findings() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, name) in [
        ("--output-json", "azure.json"),
        ("--output-sarif", "azure.sarif"),
    ] {
        let baseline = path(dir.path(), name);
        // The baseline knows the Azure estate only.
        let output = portcullis(&["scan", "-i", AZURE, flag, &baseline]);
        assert_eq!(output.status.code(), Some(0));

        let output = portcullis(&[
            "scan",
            "-i",
            AZURE,
            "--baseline",
            &baseline,
            "--fail-on",
            "high",
        ]);
        assert_eq!(output.status.code(), Some(0), "{name}: {}", stderr(&output));
        assert!(
            stdout(&output).contains("0 new, 18 unchanged, 0 fixed"),
            "{name}"
        );

        // The AWS estate is new; an Azure finding is fixed when its VM is gone.
        let output = scan(&[
            "--baseline",
            &baseline,
            "--fail-on",
            "high",
            "--format",
            "json",
        ]);
        assert_eq!(output.status.code(), Some(1), "{name}");
        assert!(
            stderr(&output)
                .contains("gate failed: 17 new unhealthy findings of severity high or higher"),
            "{name}: {}",
            stderr(&output)
        );
        let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
        assert_eq!(report["baseline"]["new"], 17);
        assert_eq!(report["baseline"]["unchanged"], 18);
        let states: Vec<&str> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["status"] == "unhealthy")
            .map(|f| f["baseline"].as_str().unwrap())
            .collect();
        assert_eq!(states.iter().filter(|s| **s == "new").count(), 17);

        let output = portcullis(&[
            "scan",
            "-i",
            AWS,
            "--baseline",
            &baseline,
            "--format",
            "json",
        ]);
        let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
        assert_eq!(
            report["baseline"]["fixed"].as_array().unwrap().len(),
            18,
            "{name}"
        );
    }
    let output = scan(&["--baseline", "Cargo.toml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("Cargo.toml:1:2:"),
        "{}",
        stderr(&output)
    );
}

/// An exemptions file covering every finding of the Azure estate until `expires`.
fn exempt_everything(dir: &Path, expires: &str) -> String {
    let file = dir.join(format!("exemptions-{expires}.yaml"));
    std::fs::write(
        &file,
        format!(
            "exemptions:\n  - rule: \"*\"\n    resource: \"/subscriptions/*\"\n    \
             justification: Demo estate, not a real network\n    owner: platform@example.com\n    \
             expires: {expires}\n"
        ),
    )
    .unwrap();
    file.display().to_string()
}

#[test]
fn exemptions_in_force_and_expired() {
    let dir = tempfile::tempdir().unwrap();
    let current = exempt_everything(dir.path(), "2999-12-31");
    let args = |file: &str| -> Vec<String> {
        [
            "scan",
            "-i",
            AZURE,
            "--exemptions",
            file,
            "--fail-on",
            "high",
            "--min-score",
            "100",
        ]
        .map(String::from)
        .to_vec()
    };
    let run = |file: &str| {
        let args = args(file);
        portcullis(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let output = run(&current);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let table = stdout(&output);
    assert!(
        table.contains("Secure score: 100.0%"),
        "exempt findings do not count"
    );
    assert!(table.contains("18 unhealthy (18 exempt)"));
    assert!(table.contains(
        "exempt         management-ports-closed    open to the internet: 22/tcp  [exempt until \
         2999-12-31: Demo estate, not a real network (platform@example.com, "
    ));

    let expired = exempt_everything(dir.path(), "2001-01-01");
    let output = run(&expired);
    assert_eq!(output.status.code(), Some(1));
    let table = stdout(&output);
    assert!(
        table.contains("Secure score: 23.1%"),
        "expired exemptions do not count"
    );
    assert!(table.contains("[exemption expired on 2001-01-01"));
    assert!(
        table.contains("exemption of every recommendation owned by platform@example.com expired on 2001-01-01: it no longer applies, and the 18 findings it covered count again"),
        "{table}"
    );

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "exemptions:\n  - rule: management-ports-open\n    resource: x\n    justification: j\n    owner: o\n    expires: 2030-01-01\n",
    )
    .unwrap();
    let output = run(&bad.display().to_string());
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!(
            "{}:2:11: rule `management-ports-open` is not a recommendation of the policy",
            bad.display()
        )),
        "{}",
        stderr(&output)
    );
}
