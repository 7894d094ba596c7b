//! `portcullis rules explain`: the documentation of each recommendation as the policy holds it,
//! and its example estates scanned by the engine: flagged ones unhealthy, not-flagged ones
//! healthy or not applicable, so that the documentation cannot drift from what is checked.

mod support;

use std::path::{Path, PathBuf};

use portcullis::explain::{Outcome, check_examples};
use portcullis::finding::Status;
use portcullis::policy::{ExampleVerdict, FIXED_RECOMMENDATIONS, Policy};
use support::portcullis;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn redis_rules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/examples")
}

/// Every example of the built-in recommendations and of the Redis example policy, scanned: the
/// statuses themselves are checked here, not only the checker's own conclusion.
#[test]
fn every_documented_example_gets_its_verdict_from_the_engine() {
    let policy = Policy::load(&[redis_rules()], true).unwrap();
    let mut counted = 0;
    for recommendation in &policy.recommendations {
        let checks = check_examples(&policy, recommendation);
        let flagged = checks
            .iter()
            .filter(|c| c.verdict == ExampleVerdict::Flagged)
            .count();
        assert!(flagged > 0, "{}: no flagged example", recommendation.id);
        assert!(
            flagged < checks.len(),
            "{}: no not-flagged example",
            recommendation.id
        );
        for check in &checks {
            let Outcome::Holds(vms) = &check.outcome else {
                panic!("{}: {:?}", check.label, check.outcome);
            };
            let statuses: Vec<Status> = vms.iter().map(|v| v.status).collect();
            match check.verdict {
                ExampleVerdict::Flagged => assert!(
                    statuses.contains(&Status::Unhealthy),
                    "{}: {statuses:?}",
                    check.label
                ),
                ExampleVerdict::NotFlagged => assert!(
                    !statuses.is_empty() && !statuses.contains(&Status::Unhealthy),
                    "{}: {statuses:?}",
                    check.label
                ),
            }
            counted += 1;
        }
    }
    assert!(counted >= 15, "only {counted} examples scanned");
}

/// The ports a flagged `management-ports-closed` example reports are the ones its words name.
#[test]
fn flagged_port_examples_report_the_ports_they_describe() {
    let policy = Policy::builtin();
    let r = policy.recommendation("management-ports-closed").unwrap();
    let ports: Vec<Vec<String>> = check_examples(&policy, r)
        .into_iter()
        .filter(|c| c.verdict == ExampleVerdict::Flagged)
        .map(|c| match c.outcome {
            Outcome::Holds(vms) => vms
                .into_iter()
                .flat_map(|v| v.ports)
                .map(|p| p.to_string())
                .collect(),
            other => panic!("{}: {other:?}", c.label),
        })
        .collect();
    assert_eq!(ports, [["3389/tcp"], ["22/tcp"]]);
}

#[test]
fn explain_prints_the_documentation_and_the_scanned_examples() {
    let policy = Policy::builtin();
    for (id, _) in FIXED_RECOMMENDATIONS {
        let o = portcullis(&["rules", "explain", id]);
        assert_eq!(o.status.code(), Some(0), "{id}: {}", text(&o.stderr));
        let out = text(&o.stdout);
        let r = policy.recommendation(id).unwrap();
        assert!(out.starts_with(&format!("{id}: {}\n", r.title)), "{out}");
        for heading in [
            "What it flags",
            "Why",
            "Flagged",
            "Not flagged",
            "Remediation",
        ] {
            assert!(
                out.contains(&format!("\n{heading}\n")),
                "{id}: {heading}\n{out}"
            );
        }
        let first_remediation_line = r.remediation.lines().next().unwrap();
        assert!(out.contains(first_remediation_line), "{id}: {out}");
        let examples = r.examples.flagged.iter().chain(&r.examples.not_flagged);
        for example in examples {
            let first_words: String = example.description.chars().take(40).collect();
            assert!(out.contains(&first_words), "{id}: {first_words}\n{out}");
            for line in example.estate.lines() {
                assert!(out.contains(line), "{id}: estate line {line}");
            }
        }
        let scanned = out.matches("\n    scanned: ").count();
        assert_eq!(
            scanned,
            r.examples.flagged.len() + r.examples.not_flagged.len(),
            "{out}"
        );
        assert!(!out.contains("does NOT hold"), "{out}");
    }
    let out = text(&portcullis(&["rules", "explain", "management-ports-closed"]).stdout);
    assert!(out.contains("scanned: web-1 unhealthy (3389/tcp)"), "{out}");
    assert!(
        out.contains("open when: more than 256 IPv4 or 2^80 IPv6 internet addresses"),
        "{out}"
    );
}

#[test]
fn an_unknown_id_is_an_error_listing_the_known_ones() {
    let o = portcullis(&["rules", "explain", "management-ports-open"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains(
            "no recommendation `management-ports-open` in the policy; known ids: \
             internet-facing-vm-nsg, management-ports-closed, management-ports-jit"
        ),
        "{err}"
    );
    let redis = redis_rules();
    let o = portcullis(&[
        "rules",
        "explain",
        "nope",
        "--rules",
        redis.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("management-ports-jit, redis-closed"));
}

#[test]
fn explain_reads_recommendations_of_a_rules_directory() {
    let redis = redis_rules();
    let o = portcullis(&[
        "rules",
        "explain",
        "redis-closed",
        "--rules",
        redis.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("control:   secure-data-stores (Secure data stores, 4 points)"));
    assert!(out.contains("ports:     6379/tcp"), "{out}");
    assert!(
        out.contains("open when: more than 1 IPv4 or 1 IPv6"),
        "{out}"
    );
    assert!(out.contains("scanned: web-1 unhealthy (6379/tcp)"), "{out}");
    assert!(out.contains("scanned: web-1 healthy"), "{out}");
}

const MINIMAL: &str = "recommendations:
  - id: telnet-closed
    control: secure-management-ports
    kind: ports-closed
    severity: low
    title: Telnet should be closed
    description: TCP 23 may not be open.
    remediation: Close it.
    ports: [23/tcp]
";

#[test]
fn a_user_recommendation_without_docs_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("telnet.yaml"), MINIMAL).unwrap();
    let o = portcullis(&[
        "rules",
        "explain",
        "telnet-closed",
        "--rules",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("Not documented: this recommendation's rules file has no `explanation`."),
        "{out}"
    );
    assert!(
        out.contains("Not documented: this recommendation's rules file has no `examples`"),
        "{out}"
    );
    assert!(out.contains("\nRemediation\n\n  Close it.\n"), "{out}");
}

/// An example whose estate the engine judges the other way, one with no VM and one that is not
/// an export: each is marked in the output, and the command fails.
#[test]
fn examples_that_do_not_hold_fail_the_command() {
    let open_telnet = aws_estate("23", "0.0.0.0/0");
    let closed_telnet = aws_estate("23", "10.0.0.0/8");
    let cases = [
        (
            "flagged",
            closed_telnet.as_str(),
            "web-1 healthy -- this example does NOT hold: it is documented as flagged",
        ),
        (
            "not_flagged",
            open_telnet.as_str(),
            "web-1 unhealthy (23/tcp) -- this example does NOT hold: it is documented as not flagged",
        ),
        (
            "flagged",
            "{\"SecurityGroups\": []}",
            "no VM judged -- this example does NOT hold",
        ),
        (
            "not_flagged",
            "{\"hello\": 1}",
            "cannot read the estate -- this example does NOT hold: telnet-closed: not flagged example 1: not an export portcullis reads",
        ),
        (
            "flagged",
            "[{\"type\": ",
            "cannot read the estate -- this example does NOT hold: telnet-closed: flagged example 1:1:",
        ),
    ];
    for (verdict, estate, says) in cases {
        let dir = tempfile::tempdir().unwrap();
        let indented: String = estate
            .lines()
            .map(|l| format!("            {l}\n"))
            .collect();
        let yaml = format!(
            "{MINIMAL}    examples:\n      {verdict}:\n        - description: Telnet.\n          estate: |\n{indented}"
        );
        std::fs::write(dir.path().join("telnet.yaml"), yaml).unwrap();
        let o = portcullis(&[
            "rules",
            "explain",
            "telnet-closed",
            "--rules",
            dir.path().to_str().unwrap(),
        ]);
        let out = text(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{verdict} {estate}: {out}");
        assert!(out.contains(says), "{says}\n{out}");
        assert!(text(&o.stderr).contains("1 of 1 examples do not hold"));
    }
}

/// A one-VM AWS estate whose security group allows TCP `port` from `cidr`.
fn aws_estate(port: &str, cidr: &str) -> String {
    let policy = Policy::load(&[redis_rules()], true).unwrap();
    let redis = policy.recommendation("redis-closed").unwrap();
    redis.examples.flagged[0]
        .estate
        .replace("6379", port)
        .replace(
            r#"{"CidrIp": "0.0.0.0/0"}"#,
            &format!(r#"{{"CidrIp": "{cidr}"}}"#),
        )
}
