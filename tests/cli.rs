//! The command line as users meet it: exit codes, outputs, and error messages for bad input.

mod support;

use std::path::Path;
use std::process::Output;

use support::{portcullis, stderr, stdout};

#[test]
fn demo_scan_prints_a_table_and_exits_zero() {
    let o = portcullis(&[
        "scan",
        "--input",
        "fixtures/azure-demo",
        "--input",
        "fixtures/aws-demo",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("Secure score: "), "{out}");
    assert!(out.contains("web-01"));
    assert!(out.contains("UNHEALTHY      management-ports-closed    open to the internet: 22/tcp"));
    assert!(out.contains("via web-01-nsg / allow-ssh (priority 300) at fixtures/azure-demo/"));
}

#[test]
fn json_output_has_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.json");
    let o = portcullis(&[
        "scan",
        "-i",
        "fixtures/aws-demo",
        "--format",
        "json",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "--output writes nothing to stdout");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let findings = json["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 13 * 3);
    let ssh = findings
        .iter()
        .find(|f| f["resource"] == "i-000000000a11ce001" && f["rule"] == "management-ports-closed")
        .unwrap();
    assert_eq!(ssh["status"], "unhealthy");
    assert_eq!(ssh["severity"], "high");
    assert_eq!(ssh["ports"], serde_json::json!(["22/tcp"]));
    let exposure = &ssh["evidence"]["exposures"][0];
    assert_eq!(exposure["ipv4_addresses"], 3_702_258_432u64);
    assert_eq!(exposure["ipv6_addresses"], "0");
    assert!(
        exposure["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["container"] == "sg-00000000000000003")
    );
    let score = &json["score"];
    assert!(score["percent"].is_number());
    let control = &score["controls"][0];
    for key in [
        "healthy",
        "unhealthy",
        "not_applicable",
        "points",
        "max_points",
    ] {
        assert!(control[key].is_number(), "score.controls[0].{key}");
    }
}

#[test]
fn malformed_json_is_an_error_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("nsgs.json");
    std::fs::write(&bad, "{\n  \"value\": [\n    {\"id\": \"x\",,}\n  ]\n}\n").unwrap();
    let o = portcullis(&["scan", "--input", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains(&format!("{}:3:", bad.display())), "{err}");
}

#[test]
fn a_bad_cidr_names_the_rule_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("nsg.json");
    let nsg = serde_json::json!({
        "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n",
        "name": "n",
        "type": "Microsoft.Network/networkSecurityGroups",
        "properties": {"securityRules": [{"name": "allow-ssh", "properties": {
            "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
            "sourceAddressPrefix": "10.0.0.300/24", "destinationAddressPrefix": "*",
            "sourcePortRange": "*", "destinationPortRange": "22"}}]}
    });
    std::fs::write(&bad, serde_json::to_string_pretty(&nsg).unwrap()).unwrap();
    let o = portcullis(&["scan", "--input", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("10.0.0.300/24")
            && err.contains("allow-ssh")
            && err.contains("sourceAddressPrefix"),
        "{err}"
    );
}

#[test]
fn missing_input_and_bad_usage_exit_two() {
    let o = portcullis(&["scan", "--input", "no/such/folder"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no/such/folder"), "{}", stderr(&o));
    let o = portcullis(&["scan"]);
    assert_eq!(o.status.code(), Some(2));
    let o = portcullis(&["scan", "-i", "fixtures/aws-demo", "--format", "yaml"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn rules_list_and_validate() {
    let o = portcullis(&["rules", "list"]);
    assert_eq!(o.status.code(), Some(0));
    for id in [
        "internet-facing-vm-nsg",
        "management-ports-closed",
        "management-ports-jit",
    ] {
        assert!(stdout(&o).contains(id));
    }
    let o = portcullis(&["rules", "validate", "rules/examples"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("typo.yaml"),
        "recommendations:\n  - id: x\n    severty: high\n",
    )
    .unwrap();
    let o = portcullis(&["rules", "validate", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("typo.yaml:3:"), "{}", stderr(&o));
}

#[test]
fn a_user_recommendation_is_judged_from_yaml_alone() {
    let o = portcullis(&[
        "scan",
        "-i",
        "fixtures/aws-demo",
        "--rules",
        "rules/examples",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rules: std::collections::BTreeSet<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(
        rules.len() > 3,
        "the example adds a recommendation: {rules:?}"
    );
    // all-traffic allows every port from the world, so it has Redis open too.
    let redis = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            ![
                "internet-facing-vm-nsg",
                "management-ports-closed",
                "management-ports-jit",
            ]
            .contains(&f["rule"].as_str().unwrap())
                && f["resource"] == "i-000000000a11ce003"
        })
        .unwrap();
    assert_eq!(redis["status"], "unhealthy");
    assert_eq!(redis["ports"], serde_json::json!(["6379/tcp"]));
}

#[test]
fn snapshot_round_trips_to_the_same_findings() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("estate.json");
    let o = portcullis(&[
        "snapshot",
        "-i",
        "fixtures/azure-demo",
        "-i",
        "fixtures/aws-demo",
        "-o",
        snap.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let direct = portcullis(&[
        "scan",
        "-i",
        "fixtures/azure-demo",
        "-i",
        "fixtures/aws-demo",
        "--format",
        "json",
    ]);
    let via_snapshot = portcullis(&["scan", "-i", snap.to_str().unwrap(), "--format", "json"]);
    let findings = |o: &Output| {
        let v: serde_json::Value = serde_json::from_str(&stdout(o)).unwrap();
        (v["findings"].clone(), v["score"].clone())
    };
    assert_eq!(findings(&direct), findings(&via_snapshot));
    assert!(Path::new(&snap).metadata().unwrap().len() > 0);
}

/// Sections 1 and 4 of the semantics are data: a user's rules change what the internet is and
/// when a port is open, and the verdicts follow.
#[test]
fn internet_and_thresholds_are_policy_data() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("narrow.yaml"),
        "open_when_broader_than: {ipv4: /29, ipv6: /64}\n\
         internet:\n  ipv4: {include: [0.0.0.0/0], exclude: [128.0.0.0/1]}\n  ipv6: {include: [2000::/3]}\n",
    )
    .unwrap();
    let scan = |extra: &[&str]| {
        let mut args = vec!["scan", "-i", "fixtures/azure-demo", "--format", "json"];
        args.extend_from_slice(extra);
        let o = portcullis(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        serde_json::from_str::<serde_json::Value>(&stdout(&o)).unwrap()
    };
    let closed = |json: &serde_json::Value, vm: &str| {
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["resource_name"] == vm && f["rule"] == "management-ports-closed")
            .unwrap()
            .clone()
    };
    let builtin = scan(&[]);
    let custom = scan(&["--rules", dir.path().to_str().unwrap()]);
    // shared-01: 64 addresses reach 1433/tcp: narrow under /24, broad under /29.
    assert_eq!(closed(&builtin, "shared-01")["status"], "healthy");
    assert_eq!(closed(&custom, "shared-01")["status"], "unhealthy");
    // jump-01: exactly a /29 is not broader than a /29.
    assert_eq!(closed(&custom, "jump-01")["status"], "healthy");
    // web-01: SSH from anywhere now reaches the lower half of IPv4 only, 2^31 addresses.
    assert_eq!(
        closed(&custom, "web-01")["evidence"]["exposures"][0]["ipv4_addresses"],
        1u64 << 31
    );
}

/// An estate with no VM judges nothing, so it is an error naming what was read, unless
/// `--allow-empty` says it may be empty; then it passes as any scan would.
#[test]
fn an_estate_with_no_vm_is_an_error_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("package.json"), r#"{"name": "app"}"#).unwrap();
    let gates = ["--fail-on", "low", "--min-score", "100"];
    for (folder, named) in [(&empty, "empty"), (&other, "package.json")] {
        let folder = folder.to_str().unwrap();
        let mut args = vec!["scan", "-i", folder];
        args.extend(gates);
        let o = portcullis(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{folder}: {err}");
        for part in ["no VM", named, "--allow-empty"] {
            assert!(err.contains(part), "{folder}: want {part:?} in {err}");
        }
        assert!(!err.contains("  "), "{folder}: a run of spaces in {err:?}");
        args.push("--allow-empty");
        let o = portcullis(&args);
        assert_eq!(o.status.code(), Some(0), "{folder}: {}", stderr(&o));
    }
}

/// The same input given twice is read once: a warning says so, and every VM gets one verdict
/// per recommendation, as when it is given once.
#[test]
fn an_input_given_twice_is_judged_once() {
    let scan = |inputs: &[&str]| {
        let mut args = vec!["scan", "--format", "json"];
        for input in inputs {
            args.extend(["-i", input]);
        }
        let o = portcullis(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let once = scan(&["fixtures/azure-demo"]);
    let twice = scan(&["fixtures/azure-demo", "fixtures/azure-demo"]);
    assert_eq!(twice["summary"]["vms"], once["summary"]["vms"]);
    assert_eq!(twice["findings"], once["findings"]);
    assert_eq!(twice["score"], once["score"]);
    let warnings = twice["warnings"].to_string();
    assert!(warnings.contains("read twice"), "{warnings}");
}

/// Two files holding different copies of one NSG: which is right cannot be told, so the scan
/// stops (exit 2) naming both files.
#[test]
fn differing_copies_of_an_nsg_are_an_error_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, source: &'static str| {
        let vm = support::AzureVm::new().nic(vec![support::allow(100, "Tcp", source, "22")]);
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            serde_json::json!({ "value": vm.resources(false) }).to_string(),
        )
        .unwrap();
        path.to_str().unwrap().to_string()
    };
    let first = write("monday.json", "*");
    let second = write("tuesday.json", "10.0.0.0/8");
    let o = portcullis(&["scan", "-i", &first, "-i", &second]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for part in ["nic-nsg", "monday.json", "tuesday.json"] {
        assert!(err.contains(part), "want {part:?} in {err}");
    }
}
