//! The SARIF output of the demo scan: valid against the OASIS SARIF 2.1.0 schema (vendored in
//! `tests/data/`), clean under Microsoft's SARIF multitool with GitHub's ingestion rules, one
//! placed result per unhealthy finding, and fingerprints that survive moved lines.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use portcullis::exemptions::Exemptions;
use portcullis::finding::Status;
use portcullis::load;
use portcullis::output::{Report, render_sarif};
use portcullis::policy::Policy;
use portcullis::scan;
use serde_json::Value;
use support::*;

fn sarif(report: &Report, base: &Path) -> Value {
    serde_json::from_str(&render_sarif(report, &Policy::builtin(), base)).unwrap()
}

fn demo_sarif() -> (Report, Value) {
    let report = demo_scan();
    let sarif = sarif(&report, &std::env::current_dir().unwrap());
    (report, sarif)
}

fn results(sarif: &Value) -> &Vec<Value> {
    sarif["runs"][0]["results"].as_array().unwrap()
}

#[test]
fn demo_sarif_is_valid_against_the_oasis_schema() {
    let (_, sarif) = demo_sarif();
    let errors = support::sarif_schema_errors(&sarif);
    assert!(errors.is_empty(), "{errors:#?}");

    // The check is real: a result without its message is rejected.
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    assert!(!support::sarif_schema_errors(&broken).is_empty());
}

/// The multitool's Linux binary, as `scripts/test` installs it (the npm wrapper runs it through
/// a shell, which would split `--rule-kind "Gh;Sarif"` at the semicolon).
fn multitool() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".tools/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool");
    assert!(
        path.exists(),
        "{} is missing: run scripts/test, which installs @microsoft/sarif-multitool",
        path.display()
    );
    path
}

/// Runs `sarif-multitool validate --rule-kind Gh;Sarif` and returns its findings as
/// (level, rule id, message).
fn validate_with_multitool(sarif: &Value) -> Vec<(String, String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("portcullis.sarif");
    let output = dir.path().join("validation.sarif");
    std::fs::write(&input, serde_json::to_string_pretty(sarif).unwrap()).unwrap();
    let run = Command::new(multitool())
        .arg("validate")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .args(["--rule-kind", "Gh;Sarif", "--level", "Error;Warning;Note"])
        .args(["--log", "ForceOverwrite"])
        .env("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
        // Without ICU (a bare Debian), .NET stops unless told to use invariant culture.
        .env("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "1")
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "the multitool failed:\n{said}");
    let log: Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    let run = &log["runs"][0];
    assert_eq!(
        run["invocations"][0]["executionSuccessful"],
        Value::Bool(true),
        "{said}"
    );
    results(&log)
        .iter()
        .map(|r| {
            (
                r["level"].as_str().unwrap_or("warning").to_string(),
                r["ruleId"].as_str().unwrap_or_default().to_string(),
                r["message"]["text"]
                    .as_str()
                    .or(r["message"]["id"].as_str())
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn demo_sarif_passes_the_multitool_with_githubs_rules() {
    let (_, sarif) = demo_sarif();
    let found = validate_with_multitool(&sarif);
    let github: Vec<_> = found
        .iter()
        .filter(|(_, id, _)| id.starts_with("GH"))
        .collect();
    assert!(github.is_empty(), "GitHub would warn: {github:#?}");
    // SARIF2005 asks for the tool's informationUri, which comes from Cargo.toml's
    // homepage or repository; it cannot be given while the package names neither.
    let no_home = env!("CARGO_PKG_HOMEPAGE").is_empty() && env!("CARGO_PKG_REPOSITORY").is_empty();
    let serious: Vec<_> = found
        .iter()
        .filter(|(level, id, _)| level != "note" && !(no_home && id == "SARIF2005"))
        .collect();
    assert!(serious.is_empty(), "{serious:#?}");

    // The check is real, and GitHub's rules ran: a result without a location breaks them.
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("locations");
    let found = validate_with_multitool(&broken);
    assert!(
        found
            .iter()
            .any(|(level, id, _)| level == "error" && id.starts_with("GH")),
        "{found:#?}"
    );
}

#[test]
fn one_placed_result_per_unhealthy_finding() {
    let (report, sarif) = demo_sarif();
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "internet-facing-vm-nsg",
            "management-ports-closed",
            "management-ports-jit"
        ]
    );
    for rule in rules {
        assert_eq!(rule["properties"]["security-severity"], "8.0");
        assert!(
            rule["help"]["text"]
                .as_str()
                .unwrap()
                .contains("az network")
        );
        assert!(rule["shortDescription"]["text"].is_string());
        assert!(rule["fullDescription"]["text"].is_string());
        let tags = rule["properties"]["tags"].as_array().unwrap();
        assert!(tags.contains(&Value::from("security")));
    }

    let unhealthy: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.status == Status::Unhealthy)
        .collect();
    assert_eq!(results(&sarif).len(), unhealthy.len());
    for result in results(&sarif) {
        let location = &result["locations"][0];
        let resource = location["logicalLocations"][0]["fullyQualifiedName"]
            .as_str()
            .unwrap();
        let finding = unhealthy
            .iter()
            .find(|f| f.resource == resource && result["ruleId"] == f.rule.as_str())
            .unwrap_or_else(|| panic!("no finding for {result}"));
        let uri = location["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap();
        let line = location["physicalLocation"]["region"]["startLine"]
            .as_u64()
            .unwrap() as usize;
        assert!(uri.starts_with("fixtures/"), "{uri}");
        let text = std::fs::read_to_string(uri).unwrap();
        let near: String = text.lines().skip(line - 1).take(4).collect();
        let message = result["message"]["text"].as_str().unwrap();
        for port in &finding.ports {
            assert!(message.contains(&port.to_string()), "{message}");
        }
        // An NSG rule's place is the rule in the export: its name is there.
        if let Some(rule) = finding
            .evidence
            .exposures
            .iter()
            .flat_map(|p| &p.rules)
            .find(|r| r.kind == portcullis::rule_ref::RuleKind::NsgRule)
        {
            assert!(near.contains(&format!("\"{}\"", rule.name)), "{uri}:{line}");
            assert!(
                message.contains(&format!("NSG rule {}", rule.name)),
                "{message}"
            );
        }
    }
    // A VM without any NSG is placed at the VM itself.
    let nonsg = results(&sarif)
        .iter()
        .find(|r| {
            r["ruleId"] == "internet-facing-vm-nsg"
                && r["locations"][0]["logicalLocations"][0]["name"] == "nonsg-01"
        })
        .unwrap();
    let place = &nonsg["locations"][0]["physicalLocation"];
    assert_eq!(
        place["artifactLocation"]["uri"],
        "fixtures/azure-demo/subscription-dev/virtualMachines.json"
    );
    let text = std::fs::read_to_string("fixtures/azure-demo/subscription-dev/virtualMachines.json")
        .unwrap();
    let line = place["region"]["startLine"].as_u64().unwrap() as usize;
    let near: String = text.lines().skip(line - 1).take(4).collect();
    assert!(near.contains("nonsg-01"), "{near}");
}

fn fingerprints(sarif: &Value) -> BTreeMap<String, (Value, Value)> {
    results(sarif)
        .iter()
        .map(|r| {
            let place = &r["locations"][0]["physicalLocation"];
            (
                r["partialFingerprints"]["portcullisFinding/v1"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                (
                    r["partialFingerprints"]["primaryLocationLineHash"].clone(),
                    place["region"]["startLine"].clone(),
                ),
            )
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn fingerprints_stay_when_lines_move() {
    let dir = tempfile::tempdir().unwrap();
    let estate = dir.path().join("estate");
    copy_dir(Path::new("fixtures/azure-demo"), &estate);
    let scan_sarif = || {
        let loaded = load::load_inputs(std::slice::from_ref(&estate)).unwrap();
        sarif(&scan::scan(&loaded, &Policy::builtin()).0, dir.path())
    };
    let before = fingerprints(&scan_sarif());
    let nsgs = estate.join("subscription-prod/az-network-nsg-list.json");
    let text = std::fs::read_to_string(&nsgs).unwrap();
    std::fs::write(&nsgs, format!("\n\n\n{text}")).unwrap();
    let after = fingerprints(&scan_sarif());

    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    let mut moved = 0;
    for (id, (hash, line)) in &before {
        let (hash_after, line_after) = &after[id];
        assert_eq!(hash, hash_after, "{id}");
        if line != line_after {
            assert_eq!(line_after.as_u64(), line.as_u64().map(|l| l + 3), "{id}");
            moved += 1;
        }
    }
    assert!(moved > 0, "lines of the prod NSG rules moved");
    // Relative to the folder the estate is in.
    let moved_sarif = scan_sarif();
    let uris: Vec<&str> = results(&moved_sarif)
        .iter()
        .filter_map(|r| r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str())
        .collect();
    assert!(
        uris.iter().all(|u| u.starts_with("estate/subscription-")),
        "{uris:?}"
    );
}

#[test]
fn a_vm_without_a_line_is_placed_at_its_only_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("resources.json");
    std::fs::write(
        &file,
        serde_json::to_string(&serde_json::json!({ "value": AzureVm::new().resources(false) }))
            .unwrap(),
    )
    .unwrap();
    let mut loaded = load::load_inputs(std::slice::from_ref(&file)).unwrap();
    // As a live collector writes it: no lines.
    for vm in &mut loaded.snapshot.vms {
        vm.origin = None;
    }
    let report = scan::scan(&loaded, &Policy::builtin()).0;
    let sarif = sarif(&report, dir.path());
    let places: Vec<(&Value, &Value)> = results(&sarif)
        .iter()
        .map(|r| {
            let place = &r["locations"][0]["physicalLocation"];
            (
                &place["artifactLocation"]["uri"],
                &place["region"]["startLine"],
            )
        })
        .collect();
    assert_eq!(places.len(), 2, "no NSG: nsg and closed are unhealthy");
    for (uri, line) in places {
        assert_eq!(
            (uri.as_str(), line.as_u64()),
            (Some("resources.json"), Some(1))
        );
    }
}

#[test]
fn exempt_findings_are_suppressed_results() {
    let policy = Policy::builtin();
    let exemptions = Exemptions::parse(
        "exemptions.yaml",
        "exemptions:\n  - rule: management-ports-jit\n    resource: web-01\n    \
         justification: Bastion host until the VPN lands\n    owner: netops@example.com\n    \
         expires: 2999-12-31\n",
        &policy,
    )
    .unwrap();
    let loaded = load::load_inputs(&demo_inputs()).unwrap();
    let today = time::macros::date!(2026 - 01 - 01);
    let report = scan::scan_with(&loaded, &policy, Some((&exemptions, today))).0;
    let sarif = sarif(&report, &std::env::current_dir().unwrap());
    let suppressed: Vec<&Value> = results(&sarif)
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    assert_eq!(suppressed.len(), 1);
    let result = suppressed[0];
    assert_eq!(result["ruleId"], "management-ports-jit");
    assert_eq!(
        result["locations"][0]["logicalLocations"][0]["name"],
        "web-01"
    );
    let suppression = &result["suppressions"][0];
    assert_eq!(suppression["kind"], "external");
    assert_eq!(suppression["status"], "accepted");
    let justification = suppression["justification"].as_str().unwrap();
    assert!(justification.contains("Bastion host until the VPN lands"));
    assert!(justification.contains("netops@example.com"));
    assert!(justification.contains("2999-12-31"));
    assert!(justification.contains("exemptions.yaml:2"));
}
