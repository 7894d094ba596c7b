//! Tests of the built-in rules, merging and validation through the public loading API.

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::*;

fn dir_with(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn load_over_builtin(files: &[(&str, &str)]) -> Result<Policy, PolicyError> {
    let dir = dir_with(files);
    Policy::load(&[dir.path().to_path_buf()], true)
}

const REDIS: &str = "
controls:
  - id: data-stores
    title: Data stores
    max_points: 4
    description: Keep caches private.
recommendations:
  - id: redis-closed
    control: data-stores
    kind: ports-closed
    severity: medium
    title: Redis closed
    description: No Redis from the internet.
    remediation: Close it.
    ports: [6379/tcp]
";

#[test]
fn builtin_policy_internet_and_thresholds() {
    let policy = Policy::builtin();
    assert_eq!(policy.internet.ipv4_count(), 3_702_258_432);
    assert_eq!(policy.internet.ipv6_count(), (1u128 << 125) - (1u128 << 96));
    assert!(!policy.internet.contains(&"192.168.1.1".parse().unwrap()));
    assert!(policy.internet.contains(&"8.8.8.8".parse().unwrap()));
    assert_eq!(
        policy.thresholds,
        Thresholds {
            ipv4_addresses: 256,
            ipv6_addresses: 1 << 80
        }
    );
    assert!(policy.service_tags.is_empty());
    assert_eq!(
        policy.jit_rule_prefixes,
        ["SecurityCenter-JITRule", "portcullis-jit-"]
    );
    let ports: Vec<String> = policy
        .management_ports
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(
        ports,
        [
            "22/tcp", "3389/tcp", "3389/udp", "5985/tcp", "5986/tcp", "21/tcp", "23/tcp",
            "1433/tcp", "389/tcp", "389/udp"
        ]
    );
}

#[test]
fn builtin_policy_has_the_fixed_recommendations() {
    let policy = Policy::builtin();
    let control = policy.control("secure-management-ports").unwrap();
    assert_eq!(control.max_points, 8);
    assert_eq!(control.title, "Secure management ports");
    assert_eq!(policy.recommendations.len(), 3);
    for (id, kind) in FIXED_RECOMMENDATIONS {
        let r = policy.recommendation(id).unwrap();
        assert_eq!(r.kind, kind, "{id}");
        assert_eq!(r.control, "secure-management-ports", "{id}");
        assert_eq!(r.severity, Severity::High, "{id}");
        assert_eq!(r.ports, policy.management_ports, "{id} inherits the ports");
        assert_eq!(r.thresholds, policy.thresholds, "{id} inherits thresholds");
        for (what, text) in [
            ("title", &r.title),
            ("description", &r.description),
            ("remediation", &r.remediation),
            ("explanation", &r.explanation),
        ] {
            assert!(!text.trim().is_empty(), "{id} has no {what}");
        }
        for (what, examples) in [
            ("flagged", &r.examples.flagged),
            ("not_flagged", &r.examples.not_flagged),
        ] {
            assert!(!examples.is_empty(), "{id} has no {what} example");
            for e in examples {
                assert!(
                    !e.description.trim().is_empty(),
                    "{id}: {what} example without words"
                );
            }
        }
    }
}

#[test]
fn thresholds_are_the_size_of_one_block() {
    for (ipv4, ipv6, want_v4, want_v6) in [
        ("/24", "/48", 256, 1u128 << 80),
        ("/32", "/128", 1, 1),
        ("/0", "/0", 1u64 << 32, u128::MAX),
        ("/16", "/64", 65_536, 1 << 64),
    ] {
        let yaml = format!("open_when_broader_than: {{ipv4: {ipv4}, ipv6: {ipv6}}}\n");
        let policy = load_over_builtin(&[("t.yaml", &yaml)]).unwrap();
        assert_eq!(
            policy.thresholds,
            Thresholds {
                ipv4_addresses: want_v4,
                ipv6_addresses: want_v6
            },
            "{ipv4} {ipv6}"
        );
    }
}

#[test]
fn redis_example_adds_a_control_with_its_own_ports_and_thresholds() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/examples");
    let policy = Policy::load(&[examples], true).unwrap();
    assert_eq!(policy.controls.len(), 2);
    assert_eq!(policy.control("secure-data-stores").unwrap().max_points, 4);
    let redis = policy.recommendation("redis-closed").unwrap();
    assert_eq!(redis.kind, RecommendationKind::PortsClosed);
    assert_eq!(redis.ports, ["6379/tcp".parse().unwrap()]);
    assert_eq!(
        redis.thresholds,
        Thresholds {
            ipv4_addresses: 1,
            ipv6_addresses: 1
        }
    );
    // The built-in recommendations are untouched.
    assert_eq!(policy.recommendations.len(), 4);
    assert_eq!(
        policy
            .recommendation("management-ports-closed")
            .unwrap()
            .thresholds,
        policy.thresholds
    );
}

#[test]
fn later_sources_replace_sections_and_ids() {
    let first = dir_with(&[(
        "ports.yaml",
        "management_ports: [22/tcp, 6379/tcp]\njit_rule_prefixes: [first-]\n",
    )]);
    let second = dir_with(&[
        ("a-redis.yaml", REDIS),
        ("b-jit.yaml", "jit_rule_prefixes: [second-]\n"),
        (
            "c-closed.yaml",
            "recommendations:
  - id: management-ports-closed
    control: secure-management-ports
    kind: ports-closed
    severity: critical
    title: Our own title
    description: Ours.
    remediation: Call the network team.
",
        ),
    ]);
    let policy = Policy::load(
        &[first.path().to_path_buf(), second.path().to_path_buf()],
        true,
    )
    .unwrap();
    let ports: Vec<PortSpec> = vec!["22/tcp".parse().unwrap(), "6379/tcp".parse().unwrap()];
    assert_eq!(policy.management_ports, ports);
    assert_eq!(policy.jit_rule_prefixes, ["second-"]);
    let closed = policy.recommendation("management-ports-closed").unwrap();
    assert_eq!(closed.title, "Our own title");
    assert_eq!(closed.severity, Severity::Critical);
    assert_eq!(
        closed.ports, ports,
        "inherits the overridden management ports"
    );
    let ids: Vec<&str> = policy
        .recommendations
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "internet-facing-vm-nsg",
            "management-ports-closed",
            "management-ports-jit",
            "redis-closed"
        ],
        "replaced ids keep their place, new ones come last"
    );
}

#[test]
fn validate_dir_reports_files_and_overrides() {
    let dir = dir_with(&[
        ("b.yml", "management_ports: [22/tcp]\n"),
        ("a.yaml", REDIS),
        ("notes.txt", "not rules"),
    ]);
    let report = Policy::validate_dir(dir.path()).unwrap();
    let names: Vec<String> = report
        .files
        .iter()
        .map(|f| {
            Path::new(f)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names, ["a.yaml", "b.yml"]);
    assert_eq!((report.controls, report.recommendations), (2, 4));
    assert_eq!(report.overrides.len(), 1);
    assert_eq!(report.overrides[0].what, "section");
    assert_eq!(report.overrides[0].name, "management_ports");
    assert!(
        report.overrides[0].by.ends_with("b.yml:1:19"),
        "{:?}",
        report.overrides
    );
    let text = report.render();
    assert!(text.contains("read 2 files"), "{text}");
    assert!(text.contains("section management_ports"), "{text}");
}

#[test]
fn without_builtins_a_user_policy_stands_alone() {
    let dir = dir_with(&[
        ("redis.yaml", REDIS),
        (
            "base.yaml",
            "internet: {ipv4: {include: [0.0.0.0/0]}, ipv6: {include: [2000::/3]}}
management_ports: [22/tcp]
open_when_broader_than: {ipv4: /32, ipv6: /128}
jit_rule_prefixes: []
",
        ),
        ("comments-only.yaml", "# nothing yet\n"),
    ]);
    let policy = Policy::load(&[dir.path().to_path_buf()], false).unwrap();
    assert_eq!(policy.internet.ipv4_count(), 1 << 32);
    assert_eq!(policy.controls.len(), 1);
    assert_eq!(policy.recommendations.len(), 1);
}

/// One case: the files of a directory loaded over the built-ins, and the problem expected
/// (file name, line, column, part of the message).
type InvalidCase = (
    &'static str,
    &'static [(&'static str, &'static str)],
    (&'static str, u64, u64, &'static str),
);

const INVALID: &[InvalidCase] = &[
    (
        "typo in a key",
        &[("r.yaml", "recommendations:\n  - id: x\n    severty: high\n")],
        ("r.yaml", 3, 5, "unknown field `severty`"),
    ),
    (
        "unknown kind",
        &[(
            "r.yaml",
            "recommendations:\n  - id: x\n    control: c\n    kind: ports-open\n",
        )],
        ("r.yaml", 4, 11, "ports-open"),
    ),
    (
        "unknown severity",
        &[(
            "r.yaml",
            "recommendations:\n  - id: x\n    control: c\n    kind: ports-jit\n    severity: urgent\n",
        )],
        ("r.yaml", 5, 15, "urgent"),
    ),
    (
        "bad port spec",
        &[("p.yaml", "management_ports: [22/tcp, 22/icmp]\n")],
        ("p.yaml", 1, 28, "protocol must be tcp or udp"),
    ),
    (
        "bad CIDR",
        &[(
            "i.yaml",
            "internet:\n  ipv4:\n    include: [0.0.0.0/33]\n  ipv6:\n    include: [2000::/3]\n",
        )],
        ("i.yaml", 3, 15, "0.0.0.0/33"),
    ),
    (
        "bad prefix length",
        &[("t.yaml", "open_when_broader_than: {ipv4: /33, ipv6: /48}\n")],
        ("t.yaml", 1, 32, "write /0 to /32"),
    ),
    (
        "recommendation naming a missing control",
        &[(
            "r.yaml",
            "recommendations:
  - id: redis-closed
    control: data-stores
    kind: ports-closed
    severity: high
    title: t
    description: d
    remediation: r
",
        )],
        (
            "r.yaml",
            3,
            14,
            "control `data-stores`, which no rules file defines",
        ),
    ),
    (
        "same recommendation id in two files of one directory",
        &[("a.yaml", REDIS), ("b.yaml", REDIS)],
        (
            "b.yaml",
            8,
            9,
            "recommendation `redis-closed` is also defined at",
        ),
    ),
    (
        "same section in two files of one directory",
        &[
            ("a.yaml", "management_ports: [22/tcp]\n"),
            ("b.yaml", "\nmanagement_ports: [3389/tcp]\n"),
        ],
        (
            "b.yaml",
            2,
            19,
            "section `management_ports` is also defined at",
        ),
    ),
    (
        "zero points",
        &[(
            "c.yaml",
            "controls:\n  - id: secure-management-ports\n    title: t\n    max_points: 0\n    description: d\n",
        )],
        ("c.yaml", 4, 17, "`max_points: 0`"),
    ),
    (
        "empty internet",
        &[(
            "i.yaml",
            "internet:\n  ipv4: {include: [10.0.0.0/8], exclude: [10.0.0.0/8]}\n  ipv6: {include: []}\n",
        )],
        ("i.yaml", 2, 3, "`internet` holds no address"),
    ),
    (
        "network of the wrong family",
        &[(
            "i.yaml",
            "internet:\n  ipv4: {include: [0.0.0.0/0, 2000::/3]}\n  ipv6: {include: []}\n",
        )],
        ("i.yaml", 2, 3, "lists 2000::/3, which is not IPv4"),
    ),
    (
        "control without recommendations",
        &[(
            "c.yaml",
            "controls:\n  - id: data-stores\n    title: t\n    max_points: 2\n    description: d\n",
        )],
        (
            "c.yaml",
            2,
            9,
            "control `data-stores` has no recommendations",
        ),
    ),
    (
        "fixed id changing its kind",
        &[(
            "r.yaml",
            "recommendations:
  - id: management-ports-jit
    control: secure-management-ports
    kind: ports-closed
    severity: high
    title: t
    description: d
    remediation: r
",
        )],
        ("r.yaml", 4, 11, "must keep kind `ports-jit`"),
    ),
    (
        "empty JIT prefix",
        &[(
            "j.yaml",
            "jit_rule_prefixes: [SecurityCenter-JITRule, '']\n",
        )],
        ("j.yaml", 1, 20, "empty prefix"),
    ),
    (
        "ports on a kind that ignores them",
        &[(
            "r.yaml",
            "recommendations:
  - id: internet-facing-vm-nsg
    control: secure-management-ports
    kind: internet-facing-filtered
    severity: high
    title: t
    description: d
    remediation: r
    ports: [22/tcp]
",
        )],
        ("r.yaml", 9, 12, "`ports` has no effect"),
    ),
    (
        "service tag the engine knows",
        &[("s.yaml", "service_tags:\n  Internet: [0.0.0.0/0]\n")],
        (
            "s.yaml",
            2,
            3,
            "service tag `Internet` is built into the engine",
        ),
    ),
    (
        "id with capitals",
        &[(
            "a.yaml",
            "controls:\n  - id: Data_Stores\n    title: t\n    max_points: 1\n    description: d\n",
        )],
        ("a.yaml", 2, 9, "must be lower-case letters"),
    ),
];

#[test]
fn invalid_rules_are_reported_with_file_line_and_column() {
    for (case, files, (file, line, column, message)) in INVALID {
        let err = match load_over_builtin(files) {
            Ok(_) => panic!("{case}: loaded"),
            Err(err) => err,
        };
        let found = err.problems.iter().any(|p| {
            p.file.as_deref().is_some_and(|f| f.ends_with(file))
                && p.line == Some(*line)
                && p.column == Some(*column)
                && p.message.contains(message)
        });
        assert!(
            found,
            "{case}: want {file}:{line}:{column}: {message}\ngot {err}"
        );
    }
}

#[test]
fn duplicate_errors_name_both_files() {
    let err = load_over_builtin(&[("a.yaml", REDIS), ("b.yaml", REDIS)]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("a.yaml:8:9") && text.contains("b.yaml:8:9"),
        "{text}"
    );
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let err = load_over_builtin(&[
        ("a.yaml", "management_ports: [22/tcp, 22/icmp]\n"),
        ("b.yaml", "jit_rule_prefixes: {}\n"),
    ])
    .unwrap_err();
    assert_eq!(err.problems.len(), 2, "{err}");
}

#[test]
fn directory_problems() {
    let empty = tempfile::tempdir().unwrap();
    let missing = empty.path().join("missing");
    for (dir, message) in [
        (empty.path().to_path_buf(), "has no .yaml or .yml files"),
        (missing, "cannot read this rules directory"),
    ] {
        let err = Policy::load(std::slice::from_ref(&dir), true).unwrap_err();
        assert!(err.to_string().contains(message), "{err}");
    }
}

#[test]
fn missing_sections_without_builtins() {
    let dir = dir_with(&[("redis.yaml", REDIS)]);
    let err = Policy::load(&[dir.path().to_path_buf()], false).unwrap_err();
    for section in [
        "internet",
        "management_ports",
        "open_when_broader_than",
        "jit_rule_prefixes",
    ] {
        assert!(
            err.problems
                .iter()
                .any(|p| p.message.contains(&format!("defines `{section}`"))),
            "{section}: {err}"
        );
    }
}

#[test]
fn fixed_recommendations_cannot_be_dropped_from_the_builtins() {
    // Built-in rules without management-ports-jit, as if someone edited rules/.
    let builtin: Vec<(String, std::borrow::Cow<'static, str>)> = load::BUILTIN_FILES
        .iter()
        .map(|&(name, text)| {
            let text = match text.find("  - id: management-ports-jit") {
                Some(at) => &text[..at],
                None => text,
            };
            (name.to_owned(), text.into())
        })
        .collect();
    let err = load::merge_sources(vec![builtin], true, Vec::new()).unwrap_err();
    assert!(
        err.to_string()
            .contains("recommendation `management-ports-jit` is missing"),
        "{err}"
    );
}

#[test]
fn rules_list_shows_every_recommendation() {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules/examples");
    let policy = Policy::load(&[examples], true).unwrap();
    let text = render_rules_list(&policy);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("CONTROL") && lines[0].ends_with("TITLE"));
    for row in [
        [
            "secure-management-ports",
            "internet-facing-vm-nsg",
            "internet-facing-filtered",
            "high",
            "-",
        ],
        [
            "secure-management-ports",
            "management-ports-closed",
            "ports-closed",
            "high",
            "management_ports",
        ],
        [
            "secure-management-ports",
            "management-ports-jit",
            "ports-jit",
            "high",
            "management_ports",
        ],
        [
            "secure-data-stores",
            "redis-closed",
            "ports-closed",
            "high",
            "6379/tcp",
        ],
    ] {
        assert!(
            lines.iter().any(|l| l.split_whitespace().take(5).eq(row)),
            "{row:?} missing from\n{text}"
        );
    }
    assert!(
        text.contains("4 recommendations in 2 controls worth 12 points"),
        "{text}"
    );
}

#[test]
fn an_sla_gives_each_severity_its_time_to_fix() {
    let day = std::time::Duration::from_secs(86_400);
    assert!(Policy::builtin().sla.is_empty());
    let policy = load_over_builtin(&[("sla.yaml", "sla:\n  critical: 2d\n  high: 1w\n")]).unwrap();
    assert_eq!(
        policy.sla.into_iter().collect::<Vec<_>>(),
        [(Severity::High, 7 * day), (Severity::Critical, 2 * day)]
    );
}

#[test]
fn a_bad_sla_is_refused_where_it_is_written() {
    for (text, says) in [
        ("sla:\n  high: 7m\n", "not a time to fix"),
        ("sla:\n  urgent: 7d\n", "urgent"),
        ("sla:\n  high: 0d\n", "not a time to fix"),
        (
            "sla:\n  medium: 7d\n  critical: 30d\n",
            "gives critical findings longer to fix (30d) than medium ones (7d)",
        ),
    ] {
        let err = load_over_builtin(&[("sla.yaml", text)]).unwrap_err();
        let problem = &err.problems[0];
        assert!(problem.message.contains(says), "{text}: {err}");
        assert!(
            problem
                .file
                .as_deref()
                .is_some_and(|f| f.ends_with("sla.yaml")),
            "{err}"
        );
        assert!(problem.line.is_some(), "{text}: {err}");
    }
}
