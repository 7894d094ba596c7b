//! `scan --azure` and `snapshot --azure` end to end, against a fake Resource Manager that pages,
//! throttles, fails now and then and forbids one subscription. A live scan must give exactly the
//! verdicts and score a scan of the same resources exported as files gives.

mod fake_arm;

use std::path::Path;
use std::process::{Command, Output};

use std::time::{Duration, Instant};

use fake_arm::{Access, Config, Estate, FakeArm, Fault, Hostile, LISTS, Misbehaviour, Target};
use portcullis::model::Snapshot;
use serde_json::{Value, json};

const TOKEN: &str = "test-token-7f3a";

/// Four subscriptions of 16 VMs (every pattern twice), listed three to a page: the second is
/// forbidden, the third is not registered for Microsoft.Security. Resources have drifted from the
/// SDK models' schema, as real Resource Manager payloads do.
fn estate() -> Estate {
    let mut estate = Estate::generate(4, 16);
    estate.subscriptions[1].access = Access::Forbidden;
    estate.subscriptions[2].access = Access::WithoutSecurityProvider;
    drift(&mut estate);
    estate
}

/// Fields the generated models require, missing; enum values they do not know; extra fields;
/// nulls where they expect objects. None of it is anything portcullis reads.
fn drift(estate: &mut Estate) {
    for sub in &mut estate.subscriptions {
        for (list, items) in sub.lists.iter_mut().enumerate() {
            for (n, item) in items.iter_mut().enumerate() {
                item["extendedLocation"] = Value::Null;
                let properties = &mut item["properties"];
                properties["provisioningState"] = json!("Levitating");
                properties["futureFeature"] = json!({"enabled": true, "tiers": [1, 2]});
                if LISTS[list].ends_with("/virtualMachines") {
                    // The osDisk without createOption, which azure_mgmt_compute demands.
                    properties["storageProfile"] = json!({
                        "osDisk": {"osType": "Plan9", "name": format!("disk-{n}")},
                        "imageReference": null,
                    });
                    properties["hardwareProfile"] = json!({"vmSize": "Standard_Quantum_v9"});
                    properties["priority"] = json!("Whenever");
                    properties["diagnosticsProfile"] = Value::Null;
                }
                if LISTS[list].ends_with("/networkInterfaces") {
                    properties["dnsSettings"] = Value::Null;
                    properties["nicType"] = json!("Telepathic");
                }
                if LISTS[list].ends_with("/networkSecurityGroups") {
                    for rule in properties["securityRules"]
                        .as_array_mut()
                        .into_iter()
                        .flatten()
                    {
                        rule["properties"]["provisioningState"] = json!("Updating2");
                        rule["properties"]["sourcePortRanges"] = Value::Null;
                    }
                }
            }
        }
    }
}

fn list(name: &str) -> usize {
    LISTS.iter().position(|l| l.ends_with(name)).unwrap()
}

fn faults() -> Vec<Fault> {
    let fault = |target, page, status, retry_after| Fault {
        target,
        page,
        status,
        retry_after,
    };
    let in_list = |subscription, name| Target::List {
        subscription,
        list: list(name),
    };
    vec![
        fault(Target::SubscriptionList, 2, 500, None),
        fault(in_list(0, "/networkInterfaces"), 2, 429, Some(1)),
        fault(in_list(0, "/networkSecurityGroups"), 1, 500, None),
        fault(in_list(3, "/virtualMachines"), 3, 503, None),
        fault(in_list(3, "/jitNetworkAccessPolicies"), 1, 429, Some(1)),
    ]
}

fn start(faults: Vec<Fault>) -> FakeArm {
    start_with(estate(), faults, Vec::new())
}

fn start_with(estate: Estate, faults: Vec<Fault>, hostile: Vec<Hostile>) -> FakeArm {
    FakeArm::start(
        estate,
        Config {
            token: TOKEN.to_string(),
            page_size: 3,
            faults,
            hostile,
            writes: Default::default(),
        },
    )
}

fn portcullis(args: &[&str], token: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .env("AZURE_ACCESS_TOKEN", token)
        .env_remove("PORTCULLIS_ARM_ENDPOINT")
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The readable subscriptions' resources as files, one `{"value": [...]}` per list, in the order
/// the collector reads them (subscriptions by id, then the lists in order).
fn export(estate: &Estate, dir: &Path) {
    for sub in estate
        .subscriptions
        .iter()
        .filter(|s| s.access != Access::Forbidden)
    {
        let folder = dir.join(&sub.id);
        std::fs::create_dir_all(&folder).unwrap();
        for (n, (name, items)) in LISTS.iter().zip(&sub.lists).enumerate() {
            if sub.access == Access::WithoutSecurityProvider
                && name.starts_with("Microsoft.Security")
            {
                continue;
            }
            let file = folder.join(format!("{n}-{}.json", name.replace('/', "-")));
            let text = serde_json::to_string_pretty(&json!({ "value": items })).unwrap();
            std::fs::write(file, text).unwrap();
        }
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A JSON report without what differs by where the data came from: input files and lines, and
/// the collection report.
fn comparable(mut report: Value) -> Value {
    let object = report.as_object_mut().unwrap();
    object.remove("collection");
    object.remove("tool");
    object["summary"].as_object_mut().unwrap().remove("files");
    for finding in object["findings"].as_array_mut().unwrap() {
        // Where in a file a finding was read is provenance that live data cannot have.
        finding.as_object_mut().unwrap().remove("location");
        let exposures = finding["evidence"].get_mut("exposures");
        for port in exposures
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            for rule in port["rules"].as_array_mut().unwrap() {
                let rule = rule.as_object_mut().unwrap();
                rule.remove("file");
                rule.remove("line");
            }
        }
    }
    report
}

#[test]
fn live_scan_equals_the_scan_of_the_same_resources_as_files() {
    let fake = start(faults());
    let dir = tempfile::tempdir().unwrap();
    let live_path = dir.path().join("live.json");
    let live = portcullis(
        &[
            "scan",
            "--azure",
            "--subscriptions",
            "all",
            "--arm-endpoint",
            &fake.url,
            "--format",
            "json",
            "-o",
            live_path.to_str().unwrap(),
        ],
        TOKEN,
    );
    let exports = dir.path().join("exports");
    export(fake.estate(), &exports);
    let files_path = dir.path().join("files.json");
    let files = portcullis(
        &[
            "scan",
            "--input",
            exports.to_str().unwrap(),
            "--format",
            "json",
            "-o",
            files_path.to_str().unwrap(),
        ],
        TOKEN,
    );
    assert_eq!(files.status.code(), Some(0), "{}", stderr(&files));
    // One subscription could not be read: the output is written, and the exit status says so.
    assert_eq!(live.status.code(), Some(3), "{}", stderr(&live));

    let mut live_report = read_json(&live_path);
    let files_report = read_json(&files_path);
    // The live report warns that the forbidden subscription was not read; the files have no
    // such subscription to warn about. Beyond that, the two reports are the same.
    let warnings = live_report["warnings"].as_array_mut().unwrap();
    let not_read = warnings
        .iter()
        .position(|w| w.as_str().unwrap().contains("was not read"))
        .expect("a warning names the subscription not read");
    warnings.remove(not_read);
    assert_same_json(
        &comparable(live_report.clone()),
        &comparable(files_report),
        "report",
    );

    // Every VM of the readable subscriptions, judged as its pattern says; none of the forbidden.
    let estate = fake.estate();
    let findings = live_report["findings"].as_array().unwrap();
    let forbidden = &estate.subscriptions[1].id;
    assert!(findings.iter().all(|f| f["scope"] != json!(forbidden)));
    let mut checked = 0;
    for sub in estate
        .subscriptions
        .iter()
        .filter(|s| s.access != Access::Forbidden)
    {
        for (vm, pattern) in &sub.vms {
            let of_vm: Vec<&Value> = findings
                .iter()
                .filter(|f| f["resource"] == json!(vm))
                .collect();
            let status = |rule: &str| -> char {
                let finding = of_vm.iter().find(|f| f["rule"] == json!(rule)).unwrap();
                match finding["status"].as_str().unwrap() {
                    "healthy" => 'H',
                    "unhealthy" => 'U',
                    _ => 'N',
                }
            };
            let letters: String = [
                "internet-facing-vm-nsg",
                "management-ports-closed",
                "management-ports-jit",
            ]
            .into_iter()
            .map(status)
            .collect();
            let closed = of_vm
                .iter()
                .find(|f| f["rule"] == "management-ports-closed")
                .unwrap();
            let open: Vec<&str> = closed["ports"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect();
            assert_eq!(
                (letters.as_str(), open.as_slice()),
                (pattern.letters, pattern.open),
                "{vm}: {}",
                pattern.name
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 48);

    // The collection report: every subscription, the forbidden one with its error, and exactly
    // the fewest calls plus one per fault for each subscription read.
    let collection = &live_report["collection"][0];
    assert_eq!(collection["provider"], "azure");
    assert_eq!(collection["complete"], false);
    let scopes = collection["scopes"].as_array().unwrap();
    let names: Vec<&str> = scopes.iter().map(|s| s["name"].as_str().unwrap()).collect();
    let ids: Vec<&str> = estate.subscriptions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(names, ids);
    let stats = fake.stats();
    let faults = faults();
    for (i, scope) in scopes.iter().enumerate() {
        if i == 1 {
            let error = scope["error"].as_str().unwrap();
            assert!(error.contains("HTTP 403 AuthorizationFailed"), "{error}");
            assert!(error.contains("Reader"), "{error}");
            assert_eq!(scope["resources"], 0);
            continue;
        }
        assert!(scope.get("error").is_none(), "{scope}");
        let faults_here = faults
            .iter()
            .filter(|f| matches!(f.target, Target::List { subscription, .. } if subscription == i))
            .count() as u64;
        let want = fake.minimum_calls(i) + faults_here;
        assert_eq!(scope["api_calls"], want, "subscription {i}");
        assert_eq!(
            stats.by_subscription[&ids[i].to_string()],
            want,
            "subscription {i}"
        );
    }
    assert_eq!(
        stats.subscription_list,
        fake.minimum_subscription_list_calls() + 1
    );
    assert_eq!(
        stats.faults_served,
        faults.len(),
        "every planned fault was met"
    );
    assert_eq!(
        stats.premature_retries, 0,
        "a retry came before its Retry-After"
    );
    assert_eq!(stats.unauthorized, 0);
    assert_eq!(
        stats.without_status_only, 0,
        "VMs listed without their power state"
    );

    let summary = stderr(&live);
    assert!(
        summary.contains("azure: 4 subscriptions (1 failed), "),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("error: subscription {forbidden}: listing ")),
        "{summary}"
    );
}

#[test]
fn live_snapshot_equals_the_snapshot_of_the_same_resources_as_files() {
    let fake = start(Vec::new());
    let dir = tempfile::tempdir().unwrap();
    let estate = fake.estate();
    let readable: Vec<&str> = [0, 2, 3]
        .map(|i| estate.subscriptions[i].id.as_str())
        .to_vec();
    let live_path = dir.path().join("live.json");
    let live = portcullis(
        &[
            "snapshot",
            "--azure",
            "--subscriptions",
            &readable.join(","),
            "--arm-endpoint",
            &fake.url,
            "--quiet",
            "-o",
            live_path.to_str().unwrap(),
        ],
        TOKEN,
    );
    assert_eq!(live.status.code(), Some(0), "{}", stderr(&live));
    assert!(
        !stderr(&live).contains("API calls"),
        "--quiet prints no summary"
    );
    assert_eq!(
        fake.stats().subscription_list,
        0,
        "subscriptions given, none listed"
    );

    let exports = dir.path().join("exports");
    export(estate, &exports);
    let mut from_files = portcullis::load::load_inputs(&[exports]).unwrap().snapshot;
    let mut from_live = portcullis::load::load_inputs(&[live_path])
        .unwrap()
        .snapshot;
    assert!(from_live.vms.iter().all(|vm| vm.origin.is_none()));
    from_files.forget_origins();
    // Loading a snapshot file names it as the source.
    from_live.sources.clear();
    // A live snapshot records the subscriptions it read; exported files cannot.
    let read: Vec<&str> = from_live
        .read_scopes
        .iter()
        .map(|scope| scope.name.as_str())
        .collect();
    assert_eq!(read, readable);
    from_live.read_scopes.clear();
    assert_same(from_live, from_files);
}

/// Equal snapshots, or a panic naming where they first differ.
fn assert_same(live: Snapshot, files: Snapshot) {
    assert_same_json(&json!(live), &json!(files), "snapshot");
}

/// Equal JSON, or a panic naming the first place where they differ, rather than printing both.
fn assert_same_json(live: &Value, files: &Value, path: &str) {
    match (live, files) {
        (Value::Object(a), Value::Object(b)) if a.len() == b.len() => {
            for (key, want) in b {
                let got = a.get(key).unwrap_or(&Value::Null);
                assert_same_json(got, want, &format!("{path}.{key}"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (got, want)) in a.iter().zip(b).enumerate() {
                assert_same_json(got, want, &format!("{path}[{i}]"));
            }
        }
        _ => assert!(live == files, "{path}:\nlive  {live}\nfiles {files}"),
    }
}

#[test]
fn table_output_names_the_subscription_not_read() {
    let fake = start(Vec::new());
    let out = portcullis(
        &["scan", "--azure", "--arm-endpoint", &fake.url, "--quiet"],
        TOKEN,
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    let forbidden = &fake.estate().subscriptions[1].id;
    assert!(
        table.contains("Collected azure: 4 subscriptions (1 failed), "),
        "{table}"
    );
    assert!(
        table.contains(&format!("NOT READ subscription {forbidden}: listing ")),
        "{table}"
    );
    assert!(table.contains("48 VMs"), "{table}");
}

#[test]
fn a_rejected_token_stops_with_advice() {
    let fake = start(Vec::new());
    let out = portcullis(
        &["scan", "--azure", "--arm-endpoint", &fake.url],
        "stale-token",
    );
    assert_eq!(out.status.code(), Some(2));
    let message = stderr(&out);
    assert!(
        message.contains("cannot list the subscriptions"),
        "{message}"
    );
    assert!(
        message.contains("HTTP 401 InvalidAuthenticationToken"),
        "{message}"
    );
    assert!(message.contains("AZURE_ACCESS_TOKEN"), "{message}");
}

#[test]
fn command_line_mistakes_are_usage_errors() {
    for (args, says) in [
        (vec!["scan"], "--azure"),
        (vec!["snapshot", "-o", "x.json"], "--input"),
        (
            vec!["scan", "--input", "x", "--subscriptions", "all"],
            "--azure",
        ),
        (
            vec!["scan", "--azure", "--subscriptions", "prod"],
            "is not a subscription id",
        ),
        (
            vec!["scan", "--azure", "--arm-endpoint", "management.azure.com"],
            "is not a Resource Manager endpoint URL",
        ),
        (
            vec![
                "scan",
                "--azure",
                "--arm-endpoint",
                "http://arm.example.com",
            ],
            "use https",
        ),
    ] {
        let out = portcullis(&args, TOKEN);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}

/// Two readable subscriptions of 8 VMs.
fn small_estate() -> Estate {
    Estate::generate(2, 8)
}

/// `scan --azure --format json` of every subscription with extra flags: the exit status, the
/// report (when written), standard error and how long it took.
fn scan(fake: &FakeArm, extra: &[&str]) -> (Option<i32>, Option<Value>, String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let mut args = vec![
        "scan",
        "--azure",
        "--arm-endpoint",
        &fake.url,
        "--quiet",
        "--format",
        "json",
        "-o",
        path.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let out = portcullis(&args, TOKEN);
    let elapsed = started.elapsed();
    let report = path.exists().then(|| read_json(&path));
    (out.status.code(), report, stderr(&out), elapsed)
}

/// The error of each subscription in a report, by index ("" when read).
fn scope_errors(report: &Value) -> Vec<String> {
    report["collection"][0]["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["error"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_resource_that_cannot_be_read_is_named_and_the_rest_is_judged() {
    let mut estate = small_estate();
    let nsgs = list("/networkSecurityGroups");
    let bad_id = format!(
        "/subscriptions/{}/resourceGroups/network/providers/Microsoft.Network/\
         networkSecurityGroups/unattached",
        estate.subscriptions[0].id
    );
    let mut bad = estate.subscriptions[0].lists[nsgs][0].clone();
    bad["id"] = json!(bad_id);
    bad["name"] = json!("unattached");
    bad["properties"]["securityRules"] = json!([{
        "name": "odd",
        "properties": {"priority": 100, "direction": "Inbound", "access": "Allow",
                       "protocol": "Teleport", "sourceAddressPrefix": "*",
                       "destinationAddressPrefix": "*", "destinationPortRange": "22"},
    }]);
    estate.subscriptions[0].lists[nsgs].push(bad);
    let fake = start_with(estate, Vec::new(), Vec::new());
    let (code, report, stderr, _) = scan(&fake, &[]);
    assert_eq!(code, Some(3), "{stderr}");
    let report = report.unwrap();
    let errors = scope_errors(&report);
    assert!(errors[0].contains(&bad_id), "{errors:?}");
    assert!(errors[0].contains("Teleport"), "{errors:?}");
    assert_eq!(errors[1], "");
    assert!(stderr.contains(&bad_id), "{stderr}");
    // Every VM of both subscriptions is still judged, three recommendations each.
    assert_eq!(report["findings"].as_array().unwrap().len(), 16 * 3);
}

/// Runs a scan against a fake whose first page of network interfaces in the first subscription
/// misbehaves, and checks that it fails that subscription, with `says` in its error, in bounded
/// time, while the second subscription is read.
fn hostile_case(misbehaviour: Misbehaviour, flags: &[&str], says: &str) -> FakeArm {
    let fake = start_with(
        small_estate(),
        Vec::new(),
        vec![Hostile {
            target: Target::List {
                subscription: 0,
                list: list("/networkInterfaces"),
            },
            page: 1,
            misbehaviour,
        }],
    );
    let (code, report, stderr, elapsed) = scan(&fake, flags);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(elapsed < Duration::from_secs(40), "took {elapsed:?}");
    let errors = scope_errors(&report.unwrap());
    assert!(errors[0].contains(says), "{errors:?}");
    assert_eq!(errors[1], "", "the other subscription is read");
    fake
}

#[test]
fn a_silent_endpoint_fails_the_subscription_within_its_deadline() {
    hostile_case(
        Misbehaviour::Silent,
        &["--read-timeout", "300ms", "--scope-deadline", "2s"],
        "timed out: not read within 2s (--scope-deadline); the last attempt: timed out: no \
         answer within 300ms (--read-timeout)",
    );
}

#[test]
fn a_body_that_trickles_is_a_timeout() {
    hostile_case(
        Misbehaviour::Trickle,
        &["--read-timeout", "500ms", "--scope-deadline", "3s"],
        "its body stalled for 500ms (--read-timeout)",
    );
}

#[test]
fn a_body_that_never_ends_stops_at_the_size_limit() {
    hostile_case(
        Misbehaviour::Endless,
        &["--max-response-size", "1MiB"],
        "the response is larger than 1MiB (--max-response-size)",
    );
}

#[test]
fn a_next_link_back_to_the_same_page_fails_the_subscription() {
    let fake = hostile_case(
        Misbehaviour::SelfLoop,
        &[],
        "leads back to a page already read",
    );
    assert!(fake.stats().requests < 100, "{:?}", fake.stats());
}

#[test]
fn a_next_link_to_another_origin_is_not_followed() {
    let elsewhere = start_with(small_estate(), Vec::new(), Vec::new());
    hostile_case(
        Misbehaviour::NextLinkTo(elsewhere.url.clone()),
        &[],
        "not followed, so that the access token goes nowhere else",
    );
    assert_eq!(elsewhere.stats().requests, 0, "the token went elsewhere");
}

#[test]
fn a_subscription_list_that_loops_fails_the_scan() {
    let fake = start_with(
        small_estate(),
        Vec::new(),
        vec![Hostile {
            target: Target::SubscriptionList,
            page: 1,
            misbehaviour: Misbehaviour::SelfLoop,
        }],
    );
    let (code, _, stderr, _) = scan(&fake, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("cannot list the subscriptions"), "{stderr}");
    assert!(
        stderr.contains("leads back to a page already read"),
        "{stderr}"
    );
}

#[test]
fn a_long_retry_after_is_cut_to_the_limit() {
    let nics = list("/networkInterfaces");
    let fake = start_with(
        small_estate(),
        vec![Fault {
            target: Target::List {
                subscription: 0,
                list: nics,
            },
            page: 1,
            status: 429,
            retry_after: Some(99_999_999),
        }],
        Vec::new(),
    );
    let (code, report, stderr, elapsed) = scan(&fake, &["--max-retry-after", "100ms"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    let errors = scope_errors(&report.unwrap());
    assert!(
        errors[0].contains("HTTP 429 TooManyRequests") && errors[0].contains("after 6 retries"),
        "{errors:?}"
    );
    assert_eq!(
        fake.stats().premature_retries,
        6,
        "each retry came after 100ms"
    );
}

#[test]
fn a_token_every_subscription_refuses_is_a_credential_error() {
    let fake = start_with(small_estate(), Vec::new(), Vec::new());
    let ids: Vec<String> = fake
        .estate()
        .subscriptions
        .iter()
        .map(|s| s.id.clone())
        .collect();
    let out = portcullis(
        &[
            "scan",
            "--azure",
            "--subscriptions",
            &ids.join(","),
            "--arm-endpoint",
            &fake.url,
        ],
        "stale-token",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.contains("every subscription refused the credential"),
        "{message}"
    );
    assert!(message.contains("AZURE_ACCESS_TOKEN"), "{message}");
}

#[test]
fn no_credential_is_a_credential_error() {
    let fake = start_with(small_estate(), Vec::new(), Vec::new());
    // The Azure CLI credential alone, with no az to run: no token can be had.
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["scan", "--azure", "--arm-endpoint", &fake.url])
        .env_remove("AZURE_ACCESS_TOKEN")
        .env_remove("PORTCULLIS_ARM_ENDPOINT")
        .env("AZURE_CREDENTIAL_KIND", "azurecli")
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.contains("cannot get an Azure access token"),
        "{message}"
    );
    assert!(message.contains("az login"), "{message}");
    assert_eq!(fake.stats().requests, 0, "nothing is asked without a token");
}
