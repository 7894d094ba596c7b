//! `--format sarif`: SARIF 2.1.0 for GitHub code scanning and other SARIF consumers.
//!
//! One rule per recommendation of the policy; one result per unhealthy finding, at the line of
//! the input file that holds the rule that let the internet in (else the VM's own line), with
//! the VM as a logical location. Fingerprints depend on the recommendation and the VM id only,
//! so a finding keeps its identity when lines move. Exempt findings carry an external, accepted
//! suppression. GitHub takes at most [`MAX_RESULTS`] results per run; beyond that the most
//! severe, newest findings are kept and the run says how many were left out.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Value, json};
use serde_sarif::sarif::{
    ArtifactLocation, Invocation, Location, LogicalLocation, Message, MultiformatMessageString,
    Notification, PhysicalLocation, PropertyBag, Region, ReportingConfiguration,
    ReportingDescriptor, Result as SarifResult, ResultKind, ResultLevel, Run, Sarif, Suppression,
    Tool, ToolComponent,
};
use sha2::{Digest, Sha256};

use super::escape::visible;
use super::{Report, address_counts, rule_label};
use crate::baseline::SARIF_RESOURCE_NAME;
use crate::finding::{BaselineState, Finding, SourceLocation, Status};
use crate::policy::{Policy, Recommendation, Severity};
use crate::rule_ref::RuleKind;

/// GitHub code scanning's limit on results in one run.
pub const MAX_RESULTS: usize = 25_000;

/// The schema this output follows (OASIS SARIF 2.1.0, errata 01).
const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// Fingerprint key that names the finding readably: `rule|vm id`.
const FINGERPRINT_KEY: &str = "portcullisFinding/v1";

/// Characters percent-encoded in a relative URI path: controls, space and those with meaning in
/// URIs (`/` stays, it separates segments).
const URI_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Renders the report; `base` is the folder that relative file URIs start from (the working
/// directory, where input paths given as relative paths start).
pub fn render(report: &Report, policy: &Policy, base: &Path) -> String {
    let mut unhealthy: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.status == Status::Unhealthy)
        .collect();
    // Stable: VM order within each group.
    unhealthy.sort_by_key(|f| {
        (
            std::cmp::Reverse(f.severity),
            f.is_exempt(),
            f.baseline == Some(BaselineState::Unchanged),
        )
    });
    let left_out = unhealthy.len().saturating_sub(MAX_RESULTS);
    unhealthy.truncate(MAX_RESULTS);
    let results: Vec<SarifResult> = unhealthy.iter().map(|f| result(f, policy, base)).collect();

    let mut notifications: Vec<Notification> = report
        .warnings
        .iter()
        .map(|w| notification(w, "warning"))
        .collect();
    notifications.extend(notices(report).iter().map(|n| notification(n, "warning")));

    let mut run_properties = BTreeMap::from([
        (
            "secureScore".to_owned(),
            json!(round2(report.score.percent)),
        ),
        ("findingsLeftOut".to_owned(), json!(left_out)),
    ]);
    if let Some(baseline) = &report.baseline {
        run_properties.insert("baseline".to_owned(), json!(baseline));
    }
    if let Some(gate) = &report.gate {
        run_properties.insert("gate".to_owned(), json!(gate));
    }
    log(&report.tool, policy, results, notifications, run_properties)
}

/// A SARIF log of one run by `tool`: every recommendation of `policy` as a rule, `results`,
/// `notifications` on the invocation and `properties` on the run; pretty-printed.
pub(super) fn log(
    tool: &super::Tool,
    policy: &Policy,
    results: Vec<SarifResult>,
    notifications: Vec<Notification>,
    properties: BTreeMap<String, Value>,
) -> String {
    let rules: Vec<ReportingDescriptor> = policy.recommendations.iter().map(descriptor).collect();
    let invocation = if notifications.is_empty() {
        Invocation::builder().execution_successful(true).build()
    } else {
        Invocation::builder()
            .execution_successful(true)
            .tool_execution_notifications(notifications)
            .build()
    };
    let mut driver = ToolComponent::builder()
        .name(tool.name)
        .version(tool.version)
        .semantic_version(tool.version)
        .rules(rules)
        .build();
    // Cargo leaves these empty when the package does not name a home page or repository.
    driver.information_uri = [env!("CARGO_PKG_HOMEPAGE"), env!("CARGO_PKG_REPOSITORY")]
        .into_iter()
        .find(|uri| !uri.is_empty())
        .map(str::to_owned);
    let run = Run::builder()
        .tool(Tool::from(driver))
        .invocations(vec![invocation])
        .results(results)
        .properties(
            PropertyBag::builder()
                .additional_properties(properties)
                .build(),
        )
        .build();
    let log = Sarif::builder()
        .schema(SCHEMA)
        .version(json!("2.1.0"))
        .runs(vec![run])
        .build();
    let mut text = serde_json::to_string_pretty(&log).expect("a SARIF log always serialises");
    text.push('\n');
    text
}

/// The partial fingerprints of the finding whose [`crate::fingerprint::identity`] is
/// `identity`: a hash of it in GitHub's `primaryLocationLineHash`, and the identity itself.
pub(super) fn fingerprints(identity: String) -> BTreeMap<String, String> {
    let digest = Sha256::digest(identity.as_bytes());
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    BTreeMap::from([
        ("primaryLocationLineHash".to_owned(), format!("{hash}:1")),
        (FINGERPRINT_KEY.to_owned(), identity),
    ])
}

/// The index of recommendation `rule` in the log's rules.
pub(super) fn rule_index(policy: &Policy, rule: &str) -> Option<i64> {
    policy
        .recommendations
        .iter()
        .position(|r| r.id == rule)
        .and_then(|i| i64::try_from(i).ok())
}

/// What a SARIF consumer must know about the results: findings left out beyond GitHub's limit,
/// and results GitHub would reject for having no file location.
pub fn notices(report: &Report) -> Vec<String> {
    let unhealthy = report
        .findings
        .iter()
        .filter(|f| f.status == Status::Unhealthy);
    let left_out = unhealthy.clone().count().saturating_sub(MAX_RESULTS);
    let unplaced = unhealthy.filter(|f| f.primary_location().is_none()).count();
    let mut notices = Vec::new();
    if unplaced > 0 {
        notices.push(format!(
            "results without a file location: {unplaced} (their VMs were not read from files \
             with line numbers); GitHub code scanning rejects an upload with such results: scan \
             the exported files, or a snapshot made from them"
        ));
    }
    if left_out > 0 {
        notices.push(format!(
            "{left_out} unhealthy findings were left out: GitHub code scanning takes at most \
             {MAX_RESULTS} results per run; the run keeps the most severe and newest"
        ));
    }
    notices
}

pub(super) fn notification(text: &str, level: &str) -> Notification {
    Notification::builder()
        .message(Message::from(visible(&sentence(text)).as_ref()))
        .level(json!(level))
        .build()
}

fn descriptor(rec: &Recommendation) -> ReportingDescriptor {
    let mut help = rec.remediation.trim_end().to_owned();
    let mut markdown = format!("```\n{help}\n```");
    if !rec.explanation.is_empty() {
        help = format!("{}\n\n{help}", rec.explanation.trim());
        markdown = format!("{}\n\n{markdown}", rec.explanation.trim());
    }
    let tags = vec![
        "security".to_owned(),
        rec.control.clone(),
        rec.kind.to_string(),
    ];
    ReportingDescriptor::builder()
        .id(&rec.id)
        .name(pascal_case(&rec.id))
        .short_description(MultiformatMessageString::builder().text(&rec.title).build())
        .full_description(
            MultiformatMessageString::builder()
                .text(sentence(rec.description.trim()))
                .build(),
        )
        .help(
            MultiformatMessageString::builder()
                .text(help)
                .markdown(markdown)
                .build(),
        )
        .default_configuration(
            ReportingConfiguration::builder()
                .level(json!(level_name(rec.severity)))
                .build(),
        )
        .properties(
            PropertyBag::builder()
                .additional_properties(BTreeMap::from([
                    (
                        "security-severity".to_owned(),
                        json!(security_severity(rec.severity)),
                    ),
                    ("precision".to_owned(), json!("very-high")),
                    ("tags".to_owned(), json!(tags)),
                ]))
                .build(),
        )
        .build()
}

fn result(finding: &Finding, policy: &Policy, base: &Path) -> SarifResult {
    let rule_index = rule_index(policy, &finding.rule);
    let logical = LogicalLocation::builder()
        .name(&finding.resource_name)
        .fully_qualified_name(&finding.resource)
        .kind("resource")
        .build();
    let location = match finding.primary_location() {
        Some(place) => Location::builder()
            .physical_location(physical(&place, base))
            .logical_locations(vec![logical])
            .build(),
        None => Location::builder().logical_locations(vec![logical]).build(),
    };
    let fingerprints = fingerprints(crate::fingerprint::identity(finding));

    let mut properties = BTreeMap::from([
        (SARIF_RESOURCE_NAME.to_owned(), json!(finding.resource_name)),
        ("provider".to_owned(), json!(finding.provider)),
        ("scope".to_owned(), json!(finding.scope)),
        ("ports".to_owned(), json!(finding.ports)),
    ]);
    if let Some(region) = &finding.region {
        properties.insert("region".to_owned(), json!(region));
    }
    if !finding.commands.is_empty() {
        properties.insert("commands".to_owned(), json!(finding.commands));
    }
    if let Some(exemption) = &finding.exemption {
        properties.insert("exemption".to_owned(), json!(exemption));
    }

    let mut result = SarifResult::builder()
        .rule_id(&finding.rule)
        .kind(ResultKind::Fail)
        .level(level(finding.severity))
        .message(Message::from(visible(&message(finding)).as_ref()))
        .locations(vec![location])
        .partial_fingerprints(fingerprints)
        .properties(
            PropertyBag::builder()
                .additional_properties(properties)
                .build(),
        )
        .build();
    result.rule_index = rule_index;
    result.baseline_state = finding.baseline.map(|state| {
        json!(match state {
            BaselineState::New => "new",
            BaselineState::Unchanged => "unchanged",
        })
    });
    result.suppressions = finding.exemption.as_ref().filter(|e| !e.expired).map(|e| {
        vec![
            Suppression::builder()
                .kind(json!("external"))
                .status(json!("accepted"))
                .justification(
                    visible(&format!(
                        "{} (owner {}, expires {}, {})",
                        e.justification, e.owner, e.expires, e.source
                    ))
                    .into_owned(),
                )
                .build(),
        ]
    });
    result
}

/// `web-01: open to the internet: 22/tcp. Opened by NSG rule allow-ssh (priority 300) of
/// web-01-nsg for 22/tcp. 22/tcp is reached from 3,702,258,432 IPv4 addresses.`
fn message(finding: &Finding) -> String {
    let mut parts = vec![sentence(&format!(
        "{}: {}",
        finding.resource_name, finding.evidence.summary
    ))];
    let blamed: Vec<_> = finding
        .evidence
        .exposures
        .iter()
        .filter(|p| finding.ports.contains(&p.port))
        .collect();
    let mut by_rule: Vec<(String, Vec<String>)> = Vec::new();
    for port in &blamed {
        let opening: Vec<_> = port
            .rules
            .iter()
            .filter(|r| r.kind != RuleKind::NetworkAcl)
            .collect();
        let rules = if opening.is_empty() {
            port.rules.iter().collect()
        } else {
            opening
        };
        for rule in rules {
            let label = rule_label(rule);
            match by_rule.iter_mut().find(|(l, _)| *l == label) {
                Some((_, ports)) => ports.push(port.port.to_string()),
                None => by_rule.push((label, vec![port.port.to_string()])),
            }
        }
    }
    if !by_rule.is_empty() {
        let opened: Vec<String> = by_rule
            .iter()
            .map(|(label, ports)| format!("{label} for {}", ports.join(", ")))
            .collect();
        parts.push(sentence(&format!("Opened by {}", opened.join("; "))));
    }
    // Ports reached from the same addresses are named together.
    let mut by_reach: Vec<(String, Vec<String>)> = Vec::new();
    for port in blamed {
        let reach = address_counts(port.ipv4_addresses, &port.ipv6_addresses);
        match by_reach.iter_mut().find(|(r, _)| *r == reach) {
            Some((_, ports)) => ports.push(port.port.to_string()),
            None => by_reach.push((reach, vec![port.port.to_string()])),
        }
    }
    for (reach, ports) in by_reach {
        let verb = if ports.len() == 1 { "is" } else { "are each" };
        parts.push(sentence(&format!(
            "{} {verb} reached from {reach}",
            ports.join(", ")
        )));
    }
    parts.join(" ")
}

fn physical(place: &SourceLocation, base: &Path) -> PhysicalLocation {
    PhysicalLocation::builder()
        .artifact_location(
            ArtifactLocation::builder()
                .uri(artifact_uri(&place.file, base))
                .build(),
        )
        .region(
            Region::builder()
                .start_line(i64::from(place.line.max(1)))
                .build(),
        )
        .build()
}

/// A file's URI relative to `base` when it is inside it, else an absolute `file://` URI.
fn artifact_uri(file: &str, base: &Path) -> String {
    let path = Path::new(file);
    let relative = if path.is_absolute() {
        path.strip_prefix(base).ok()
    } else {
        Some(path)
    };
    match relative {
        Some(relative) => {
            let segments: Vec<String> = relative
                .components()
                .filter(|c| !matches!(c, Component::CurDir))
                .map(|c| {
                    utf8_percent_encode(&c.as_os_str().to_string_lossy(), URI_PATH).to_string()
                })
                .collect();
            segments.join("/")
        }
        None => {
            let text = path.to_string_lossy().replace('\\', "/");
            let text = text.trim_start_matches('/');
            format!("file:///{}", utf8_percent_encode(text, URI_PATH))
        }
    }
}

pub(super) fn level(severity: Severity) -> ResultLevel {
    match severity {
        Severity::Critical | Severity::High => ResultLevel::Error,
        Severity::Medium => ResultLevel::Warning,
        Severity::Low => ResultLevel::Note,
    }
}

fn level_name(severity: Severity) -> &'static str {
    match level(severity) {
        ResultLevel::Error => "error",
        ResultLevel::Warning => "warning",
        ResultLevel::Note => "note",
        ResultLevel::None => "none",
    }
}

/// GitHub's scale: critical above 9.0, high 7.0–8.9, medium 4.0–6.9, low 0.1–3.9.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
    }
}

/// `management-ports-closed` → `ManagementPortsClosed`.
fn pascal_case(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Ends a message with a period, as SARIF asks of plain-text messages.
pub(super) fn sentence(text: &str) -> String {
    let text = text.trim_end();
    if text.ends_with(['.', '!', '?']) {
        text.to_owned()
    } else {
        format!("{text}.")
    }
}

fn round2(value: f64) -> Value {
    json!((value * 100.0).round() / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{Summary, Tool};
    use crate::score;

    #[test]
    fn at_most_githubs_limit_of_results_most_severe_first() {
        let policy = Policy::builtin();
        let mut findings: Vec<Finding> = (0..MAX_RESULTS + 2)
            .map(|i| {
                Finding::example(
                    "management-ports-closed",
                    &format!("/s/vm{i}"),
                    Status::Unhealthy,
                )
            })
            .collect();
        let mut critical =
            Finding::example("management-ports-jit", "/s/critical", Status::Unhealthy);
        critical.severity = Severity::Critical;
        findings.push(critical);
        let report = Report {
            tool: Tool::default(),
            summary: Summary::default(),
            score: score::compute(&policy, &findings),
            findings,
            collection: Vec::new(),
            warnings: Vec::new(),
            baseline: None,
            gate: None,
            history: None,
        };
        let sarif: Value = serde_json::from_str(&render(&report, &policy, Path::new("/"))).unwrap();
        let run = &sarif["runs"][0];
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), MAX_RESULTS);
        assert_eq!(
            results[0]["ruleId"], "management-ports-jit",
            "the critical one is kept"
        );
        assert_eq!(run["properties"]["findingsLeftOut"], 3);
        let notes = run["invocations"][0]["toolExecutionNotifications"]
            .as_array()
            .unwrap();
        assert!(notes.iter().any(|n| {
            n["message"]["text"]
                .as_str()
                .unwrap()
                .starts_with("3 unhealthy findings were left out")
        }));
    }

    #[test]
    fn results_without_a_file_say_so() {
        let policy = Policy::builtin();
        let findings = vec![Finding::example(
            "management-ports-closed",
            "/s/vm1",
            Status::Unhealthy,
        )];
        let report = Report {
            tool: Tool::default(),
            summary: Summary::default(),
            score: score::compute(&policy, &findings),
            findings,
            collection: Vec::new(),
            warnings: Vec::new(),
            baseline: None,
            gate: None,
            history: None,
        };
        let sarif: Value = serde_json::from_str(&render(&report, &policy, Path::new("/"))).unwrap();
        let run = &sarif["runs"][0];
        assert!(
            run["results"][0]["locations"][0]
                .get("physicalLocation")
                .is_none()
        );
        let note = &run["invocations"][0]["toolExecutionNotifications"][0];
        assert_eq!(note["level"], "warning");
        assert!(
            note["message"]["text"]
                .as_str()
                .unwrap()
                .starts_with("results without a file location: 1 (")
        );
    }

    #[test]
    fn uris_are_relative_to_the_base_when_possible() {
        let base = Path::new("/work/repo");
        for (file, want) in [
            (
                "fixtures/azure-demo/nsgs.json",
                "fixtures/azure-demo/nsgs.json",
            ),
            ("./exports/a b.json", "exports/a%20b.json"),
            ("/work/repo/exports/x.json", "exports/x.json"),
            ("/tmp/exports/x#1.json", "file:///tmp/exports/x%231.json"),
        ] {
            assert_eq!(artifact_uri(file, base), want, "{file}");
        }
    }

    #[test]
    fn ids_become_rule_names() {
        assert_eq!(pascal_case("management-ports-jit"), "ManagementPortsJit");
        assert_eq!(pascal_case("redis-closed"), "RedisClosed");
    }

    #[test]
    fn messages_are_sentences() {
        assert_eq!(sentence("open: 22/tcp"), "open: 22/tcp.");
        assert_eq!(sentence("done."), "done.");
    }
}
