//! What a run of the binary printed, for the tests that drive it against a live fake (the test
//! Resource Manager, moto): a JSON scan's findings by VM name and recommendation, how many
//! addresses reach each port, the grant a `jit request` made.

use std::collections::BTreeMap;
use std::process::Output;

use serde_json::Value;

/// A public address (on the internet, not a documentation range) the tests' grants are for.
pub const ADMIN: &str = "81.2.69.160";

/// Findings by (VM name, recommendation id).
pub type Findings = BTreeMap<(String, String), Value>;

/// Exit status, standard output and standard error of a run, for assertion messages.
pub fn show(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The findings of the JSON report on `out`'s standard output.
pub fn findings(out: &Output) -> Findings {
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(out)));
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let key = (
                f["resource_name"].as_str().unwrap().to_owned(),
                f["rule"].as_str().unwrap().to_owned(),
            );
            (key, f.clone())
        })
        .collect()
}

/// The finding of `vm` for recommendation `rule`.
pub fn finding<'a>(findings: &'a Findings, vm: &str, rule: &str) -> &'a Value {
    findings
        .get(&(vm.to_owned(), rule.to_owned()))
        .unwrap_or_else(|| panic!("no {rule} finding for {vm}"))
}

/// Per watched port of a `management-ports-closed` finding, how many IPv4 addresses reach it.
pub fn reach(findings: &Findings, vm: &str) -> BTreeMap<String, u64> {
    let exposures = &finding(findings, vm, "management-ports-closed")["evidence"]["exposures"];
    exposures
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e["port"].as_str().unwrap().to_owned(),
                e["ipv4_addresses"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// `jit request` of `ports` on `vm` from [`ADMIN`] for `duration`, with a justification; the
/// cloud's flags are the caller's.
pub fn request_args<'a>(vm: &'a str, ports: &'a str, duration: &'a str) -> Vec<&'a str> {
    vec![
        "jit",
        "request",
        "--vm",
        vm,
        "--port",
        ports,
        "--from",
        ADMIN,
        "--for",
        duration,
        "--justification",
        "INC-1",
    ]
}

/// The grant a `jit request` printed on `stdout`, which must also say that it verified the grant
/// (by the engine, on the estate read again).
pub fn verified_grant(stdout: &str) -> String {
    assert!(stdout.contains("\nverified: "), "{stdout}");
    grant_id(stdout)
}

/// The grant id in `granted <id>: …` on `stdout`.
fn grant_id(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("granted "))
        .unwrap_or_else(|| panic!("no grant in:\n{stdout}"));
    line.split(':').next().unwrap().to_owned()
}
