//! `--format html`: the posture report as one self-contained page (template:
//! `reports/report.html`).
//!
//! The page has no external requests: CSS, the SVG score gauge and the small script that filters
//! VMs by status and name are inline, so it works offline and as an email attachment. Without
//! script everything is shown. Every value from cloud data is escaped by the template engine.

use askama::Template;

use super::{Report, address_counts, rule_label};
use crate::baseline::BaselineSummary;
use crate::finding::{BaselineState, Finding, Status};
use crate::gate::GateOutcome;
use crate::policy::Policy;
use crate::verdict::thousands;

/// Radius of the gauge circle in SVG units.
const GAUGE_RADIUS: f64 = 52.0;

/// Unhealthy (and exempt) VMs shown with ports, rules and commands; the others get one line per
/// verdict, so that a report of 100,000 VMs stays small enough for a browser. The JSON and SARIF
/// outputs have every detail.
pub const DETAILED_VMS: usize = 500;

/// Healthy and not-applicable VMs listed; every unhealthy or exempt VM is listed.
pub const LISTED_PASSING_VMS: usize = 1_000;

#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    tool: String,
    score: String,
    score_class: &'static str,
    gauge_length: String,
    gauge_filled: String,
    points: String,
    max_points: u32,
    summary_line: String,
    controls: Vec<ControlView>,
    scopes: Vec<ScopeView>,
    unhealthy_count: usize,
    /// Unhealthy or exempt VMs beyond [`DETAILED_VMS`], shown briefly.
    brief_count: usize,
    detailed_limit: usize,
    /// Healthy and not-applicable VMs beyond [`LISTED_PASSING_VMS`], not listed.
    unlisted_count: usize,
    listed_limit: usize,
    vms: Vec<VmView<'a>>,
    baseline: Option<&'a BaselineSummary>,
    gate: Option<&'a GateOutcome>,
    warnings: &'a [String],
}

struct ControlView {
    title: String,
    description: String,
    points: String,
    max_points: u32,
    recommendations: Vec<RecommendationView>,
}

struct RecommendationView {
    id: String,
    title: String,
    severity: String,
    healthy: usize,
    unhealthy: usize,
    not_applicable: usize,
    exempt: usize,
}

struct ScopeView {
    scope: String,
    provider: String,
    percent: String,
}

struct VmView<'a> {
    /// Element id, for links from the list of unhealthy VMs.
    anchor: String,
    name: &'a str,
    id: &'a str,
    place: String,
    /// `unhealthy`, `exempt`, `healthy` or `not-applicable`: the worst of its findings.
    status: &'static str,
    status_label: &'static str,
    /// Whether findings show their ports, rules and commands.
    detailed: bool,
    /// Lower-case name and id, for the search box.
    search: String,
    findings: Vec<FindingView<'a>>,
}

struct FindingView<'a> {
    rule: &'a str,
    title: String,
    status: &'static str,
    status_label: &'static str,
    summary: &'a str,
    new: bool,
    ports: Vec<PortView>,
    commands: &'a [String],
    guidance: String,
    exemption: Option<String>,
    notes: &'a [String],
}

/// Ports reached from the same addresses through the same rules, shown as one row.
struct PortView {
    ports: String,
    reach: String,
    open: bool,
    rules: Vec<RuleView>,
}

#[derive(PartialEq)]
struct RuleView {
    label: String,
    place: Option<String>,
}

/// Renders the report as HTML.
pub fn render(report: &Report, policy: &Policy) -> String {
    let score = &report.score;
    let points: f64 = score.controls.iter().map(|c| c.points).sum();
    let max_points: u32 = score.controls.iter().map(|c| c.max_points).sum();
    let circumference = 2.0 * std::f64::consts::PI * GAUGE_RADIUS;
    let summary = &report.summary;
    let (vms, unlisted_count) = vms(report, policy);
    let page = Page {
        tool: format!("{} {}", report.tool.name, report.tool.version),
        score: format!("{:.1}", score.percent),
        score_class: match score.percent {
            p if p >= 80.0 => "good",
            p if p >= 50.0 => "fair",
            _ => "poor",
        },
        gauge_length: format!("{circumference:.2}"),
        gauge_filled: format!(
            "{:.2}",
            circumference * score.percent.clamp(0.0, 100.0) / 100.0
        ),
        points: format!("{points:.2}"),
        max_points,
        summary_line: format!(
            "{} VMs ({} internet-facing) from {} files · {} unhealthy, {} healthy, {} not \
             applicable findings{}",
            thousands(summary.vms as u128),
            thousands(summary.internet_facing_vms as u128),
            summary.files,
            thousands(summary.unhealthy as u128),
            thousands(summary.healthy as u128),
            thousands(summary.not_applicable as u128),
            if summary.exempt > 0 {
                format!(" ({} exempt)", summary.exempt)
            } else {
                String::new()
            }
        ),
        controls: controls(report, policy),
        scopes: score
            .scopes
            .iter()
            .map(|s| ScopeView {
                scope: s.scope.clone(),
                provider: s.provider.to_string(),
                percent: format!("{:.1}", s.percent),
            })
            .collect(),
        unhealthy_count: vms.iter().filter(|v| v.status == "unhealthy").count(),
        brief_count: vms
            .iter()
            .filter(|v| !v.detailed && matches!(v.status, "unhealthy" | "exempt"))
            .count(),
        detailed_limit: DETAILED_VMS,
        unlisted_count,
        listed_limit: LISTED_PASSING_VMS,
        vms,
        baseline: report.baseline.as_ref(),
        gate: report.gate.as_ref(),
        warnings: &report.warnings,
    };
    page.render()
        .expect("the report template renders any report")
}

fn controls(report: &Report, policy: &Policy) -> Vec<ControlView> {
    report
        .score
        .controls
        .iter()
        .map(|c| ControlView {
            title: c.title.clone(),
            description: policy
                .control(&c.id)
                .map(|p| p.description.clone())
                .unwrap_or_default(),
            points: format!("{:.2}", c.points),
            max_points: c.max_points,
            recommendations: policy
                .recommendations
                .iter()
                .filter(|r| r.control == c.id)
                .map(|r| {
                    let mut view = RecommendationView {
                        id: r.id.clone(),
                        title: r.title.clone(),
                        severity: r.severity.to_string(),
                        healthy: 0,
                        unhealthy: 0,
                        not_applicable: 0,
                        exempt: 0,
                    };
                    for f in report.findings.iter().filter(|f| f.rule == r.id) {
                        match f.status {
                            Status::Healthy => view.healthy += 1,
                            Status::Unhealthy => view.unhealthy += 1,
                            Status::NotApplicable => view.not_applicable += 1,
                        }
                        view.exempt += usize::from(f.is_exempt());
                    }
                    view
                })
                .collect(),
        })
        .collect()
}

/// Rank of a finding for the VM's overall status: lower is worse.
fn rank(f: &Finding) -> u8 {
    match (f.status, f.is_exempt()) {
        (Status::Unhealthy, false) => 0,
        (Status::Unhealthy, true) => 1,
        (Status::Healthy, _) => 2,
        (Status::NotApplicable, _) => 3,
    }
}

/// The VMs the page lists, worst first, and how many passing VMs it leaves out.
fn vms<'a>(report: &'a Report, policy: &Policy) -> (Vec<VmView<'a>>, usize) {
    let mut groups: Vec<&[Finding]> = report
        .findings
        .chunk_by(|a, b| a.resource == b.resource)
        .collect();
    groups.sort_by_key(|fs| fs.iter().map(rank).min().unwrap_or(u8::MAX));
    let failing = groups
        .iter()
        .take_while(|fs| fs.iter().map(rank).min().unwrap_or(u8::MAX) <= 1)
        .count();
    let listed = groups.len().min(failing + LISTED_PASSING_VMS);
    let unlisted = groups.len() - listed;
    groups.truncate(listed);
    let views = groups
        .into_iter()
        .enumerate()
        .map(|(index, findings)| {
            let first = &findings[0];
            let (status, status_label) = match findings.iter().map(rank).min().unwrap_or(u8::MAX) {
                0 => ("unhealthy", "Unhealthy"),
                1 => ("exempt", "Exempt"),
                2 => ("healthy", "Healthy"),
                _ => ("not-applicable", "Not applicable"),
            };
            let detailed = index < DETAILED_VMS && matches!(status, "unhealthy" | "exempt");
            VmView {
                anchor: format!("vm-{}", index + 1),
                name: &first.resource_name,
                id: &first.resource,
                place: [
                    Some(first.provider.to_string()),
                    Some(first.scope.clone()),
                    first.region.clone(),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · "),
                status,
                status_label,
                detailed,
                search: format!("{} {}", first.resource_name, first.resource).to_lowercase(),
                findings: findings
                    .iter()
                    .map(|f| finding(f, policy, detailed))
                    .collect(),
            }
        })
        .collect();
    (views, unlisted)
}

/// A finding as the page shows it; `detailed` adds the ports, commands and guidance of an
/// unhealthy one.
fn finding<'a>(f: &'a Finding, policy: &Policy, detailed: bool) -> FindingView<'a> {
    let rec = policy.recommendation(&f.rule);
    let (status, status_label) = match (f.status, f.is_exempt()) {
        (Status::Unhealthy, true) => ("exempt", "Exempt"),
        (Status::Unhealthy, false) => ("unhealthy", "Unhealthy"),
        (Status::Healthy, _) => ("healthy", "Healthy"),
        (Status::NotApplicable, _) => ("not-applicable", "Not applicable"),
    };
    let unhealthy = detailed && f.status == Status::Unhealthy;
    FindingView {
        rule: &f.rule,
        title: rec.map_or_else(|| f.rule.clone(), |r| r.title.clone()),
        status,
        status_label,
        summary: &f.evidence.summary,
        new: f.baseline == Some(BaselineState::New),
        ports: if unhealthy { ports(f) } else { Vec::new() },
        commands: if unhealthy { &f.commands } else { &[] },
        guidance: match rec {
            Some(r) if unhealthy => r.remediation.trim_end().to_owned(),
            _ => String::new(),
        },
        exemption: f.exemption.as_ref().map(|e| {
            if e.expired {
                format!(
                    "Exemption expired on {} ({}; owner {}; {}): the finding counts again.",
                    e.expires, e.justification, e.owner, e.source
                )
            } else {
                format!(
                    "Exempt until {}: {} (owner {}; {}).",
                    e.expires, e.justification, e.owner, e.source
                )
            }
        }),
        notes: &f.evidence.notes,
    }
}

fn ports(f: &Finding) -> Vec<PortView> {
    let mut rows: Vec<PortView> = Vec::new();
    for p in &f.evidence.exposures {
        let reach = address_counts(p.ipv4_addresses, &p.ipv6_addresses);
        let rules: Vec<RuleView> = p
            .rules
            .iter()
            .map(|r| RuleView {
                label: format!(
                    "{}{}",
                    rule_label(r),
                    if r.jit { " (JIT grant)" } else { "" }
                ),
                place: match (&r.file, r.line) {
                    (Some(file), Some(line)) => Some(format!("{file}:{line}")),
                    _ => None,
                },
            })
            .collect();
        match rows
            .iter_mut()
            .find(|row| row.reach == reach && row.open == p.open && row.rules == rules)
        {
            Some(row) => {
                row.ports.push_str(", ");
                row.ports.push_str(&p.port);
            }
            None => rows.push(PortView {
                ports: p.port.clone(),
                reach,
                open: p.open,
                rules,
            }),
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{Summary, Tool};
    use crate::score;

    fn report(unhealthy: usize, healthy: usize) -> Report {
        let vm = |i: usize, status| {
            Finding::example("management-ports-closed", &format!("/s/vm{i}"), status)
        };
        let findings: Vec<Finding> = (0..unhealthy)
            .map(|i| vm(i, Status::Unhealthy))
            .chain((unhealthy..unhealthy + healthy).map(|i| vm(i, Status::Healthy)))
            .collect();
        Report {
            tool: Tool::default(),
            summary: Summary::default(),
            score: score::compute(&Policy::builtin(), &findings),
            findings,
            collection: Vec::new(),
            warnings: Vec::new(),
            baseline: None,
            gate: None,
        }
    }

    #[test]
    fn large_estates_stay_small_enough_to_open() {
        let html = render(
            &report(DETAILED_VMS + 20, LISTED_PASSING_VMS + 10),
            &Policy::builtin(),
        );
        let count = |needle: &str| html.matches(needle).count();
        assert_eq!(
            count("<details class=\"vm\""),
            DETAILED_VMS + 20 + LISTED_PASSING_VMS
        );
        assert_eq!(count("<div class=\"finding\">"), DETAILED_VMS);
        assert_eq!(count("<ul class=\"brief\">"), 20 + LISTED_PASSING_VMS);
        assert!(html.contains(&format!(
            "Ports, rules and commands are shown for the first {DETAILED_VMS} unhealthy VMs; 20 \
             more are listed briefly."
        )));
        assert!(html.contains(&format!(
            "the first {LISTED_PASSING_VMS} healthy or not applicable ones; 10 more are not."
        )));

        let small = render(&report(3, 2), &Policy::builtin());
        assert!(!small.contains("listed briefly") && !small.contains("more are not"));
        assert_eq!(small.matches("<div class=\"finding\">").count(), 3);
    }
}
