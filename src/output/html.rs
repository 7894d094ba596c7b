//! `--format html`: the posture report as one self-contained page (template:
//! `reports/report.html`).
//!
//! The page has no external requests: CSS, the SVG score gauge and the small script that filters
//! VMs by status and name are inline, so it works offline and as an email attachment. Without
//! script everything is shown. Every value from cloud data is escaped by the template engine.

use askama::Template;

use super::escape::visible_layout;
use super::{Report, address_counts, rule_label};
use crate::baseline::BaselineSummary;
use crate::finding::{BaselineState, Finding, Status};
use crate::gate::GateOutcome;
use crate::policy::Policy;
use crate::remediate::PlanCommands;
use crate::verdict::thousands;

/// Radius of the gauge circle in SVG units.
const GAUGE_RADIUS: f64 = 52.0;

/// Unhealthy (and exempt) VMs shown with ports, rules and commands; the others get one line per
/// verdict. With [`LISTED_VMS`] and [`GLANCE_VMS`] this keeps the page of a 100,000-VM estate
/// small enough for a browser to open in seconds. The JSON and SARIF outputs have every detail.
pub const DETAILED_VMS: usize = 500;

/// VMs the page lists, worst first.
pub const LISTED_VMS: usize = 5_000;

/// Unhealthy VMs named in the list at the top.
pub const GLANCE_VMS: usize = 60;

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
    /// Unhealthy VMs in the report, with thousands separators (empty when there are none).
    unhealthy_count: String,
    glance_limit: usize,
    /// `and 1,234 more`, when the list at the top is cut.
    glance_more: Option<String>,
    /// What the page leaves out or shortens, in words.
    unlisted_note: Option<String>,
    brief_note: Option<String>,
    vms: Vec<VmView<'a>>,
    baseline: Option<&'a BaselineSummary>,
    gate: Option<&'a GateOutcome>,
    warnings: &'a [String],
    trend: Option<TrendView>,
}

/// An audit's score over its runs as an inline SVG line, and what changed since the last run.
struct TrendView {
    /// The polyline's points, in the 600 × 160 view box (0% at the bottom, 100% at the top).
    points: String,
    dots: Vec<DotView>,
    /// What the chart shows, in words, for screen readers and as its caption.
    label: String,
    previous_run: String,
    new: Vec<ChangeView>,
    fixed: Vec<ChangeView>,
}

struct DotView {
    x: String,
    y: String,
    title: String,
}

struct ChangeView {
    name: String,
    rule: String,
    resource: String,
}

/// Width and height of the trend chart's view box, and its margin.
const TREND_BOX: (f64, f64, f64) = (600.0, 160.0, 8.0);

fn trend(history: &crate::output::History) -> TrendView {
    let (width, height, margin) = TREND_BOX;
    let steps = history.scores.len().saturating_sub(1).max(1) as f64;
    let dots: Vec<DotView> = history
        .scores
        .iter()
        .enumerate()
        .map(|(i, (run, time, score))| {
            let x = margin + (width - 2.0 * margin) * i as f64 / steps;
            let y = margin + (height - 2.0 * margin) * (1.0 - score.clamp(0.0, 100.0) / 100.0);
            let run = run.map_or("this run".to_owned(), |id| format!("run {id}"));
            DotView {
                x: format!("{x:.1}"),
                y: format!("{y:.1}"),
                title: format!("{run}, {time}: {score:.1}%"),
            }
        })
        .collect();
    let points = dots
        .iter()
        .map(|d| format!("{},{}", d.x, d.y))
        .collect::<Vec<_>>()
        .join(" ");
    let scores: Vec<String> = history
        .scores
        .iter()
        .map(|(_, _, s)| format!("{s:.1}%"))
        .collect();
    let change = |c: &crate::audit::diff::Changed| ChangeView {
        name: visible_layout(c.resource.rsplit('/').next().unwrap_or(&c.resource)).into_owned(),
        rule: c.rule.clone(),
        resource: visible_layout(&c.resource).into_owned(),
    };
    TrendView {
        points,
        dots,
        label: format!(
            "Secure score over {} runs, oldest first: {}",
            scores.len(),
            scores.join(", ")
        ),
        previous_run: history
            .previous_run
            .map_or("the first run".to_owned(), |id| format!("run {id}")),
        new: history.new.iter().map(change).collect(),
        fixed: history.fixed.iter().map(change).collect(),
    }
}

struct ControlView {
    title: String,
    description: String,
    points: String,
    max_points: u32,
    recommendations: Vec<RecommendationView>,
}

/// Counts are written with thousands separators.
struct RecommendationView {
    id: String,
    title: String,
    severity: String,
    healthy: String,
    unhealthy: String,
    not_applicable: String,
    /// `12 exempt`, when any are.
    exempt: Option<String>,
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
    /// The `portcullis fix plan` command for its management-port findings (detailed VMs only),
    /// and why it is withheld when it is not safe to paste.
    plan: Vec<String>,
    plan_withheld: Vec<String>,
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
    commands_withheld: &'a [String],
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

/// A count with thousands separators.
fn count(n: usize) -> String {
    thousands(n as u128)
}

/// Renders the report as HTML.
pub fn render(report: &Report, policy: &Policy) -> String {
    let score = &report.score;
    let points: f64 = score.controls.iter().map(|c| c.points).sum();
    let max_points: u32 = score.controls.iter().map(|c| c.max_points).sum();
    let circumference = 2.0 * std::f64::consts::PI * GAUGE_RADIUS;
    let summary = &report.summary;
    let listing = vms(report, policy);
    let vms = listing.views;
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
            count(summary.vms),
            count(summary.internet_facing_vms),
            count(summary.files),
            count(summary.unhealthy),
            count(summary.healthy),
            count(summary.not_applicable),
            if summary.exempt > 0 {
                format!(" ({} exempt)", count(summary.exempt))
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
        unhealthy_count: if listing.unhealthy > 0 {
            count(listing.unhealthy)
        } else {
            String::new()
        },
        glance_limit: GLANCE_VMS,
        glance_more: (listing.unhealthy > GLANCE_VMS)
            .then(|| format!("and {} more", count(listing.unhealthy - GLANCE_VMS))),
        unlisted_note: (listing.total > vms.len()).then(|| {
            let listed_unhealthy = vms.iter().filter(|v| v.status == "unhealthy").count();
            format!(
                "This page lists the {} worst of {} VMs; {} more, {} of them unhealthy, are in \
                 the JSON output.",
                count(vms.len()),
                count(listing.total),
                count(listing.total - vms.len()),
                count(listing.unhealthy - listed_unhealthy)
            )
        }),
        brief_note: {
            let brief = vms
                .iter()
                .filter(|v| !v.detailed && matches!(v.status, "unhealthy" | "exempt"))
                .count();
            (brief > 0).then(|| {
                format!(
                    "Ports, rules and commands are shown for the first {} unhealthy VMs; {} more \
                     are listed briefly. The JSON and SARIF outputs have every detail.",
                    count(DETAILED_VMS),
                    count(brief)
                )
            })
        },
        vms,
        trend: report
            .history
            .as_ref()
            .filter(|h| h.previous_run.is_some())
            .map(trend),
        baseline: report.baseline.as_ref(),
        gate: report.gate.as_ref(),
        warnings: &report.warnings,
    };
    let html = page
        .render()
        .expect("the report template renders any report");
    // The template escapes markup; control and bidi characters in cloud names are shown as
    // escapes too (a newline or tab in a name is only white space to a browser).
    visible_layout(&html).into_owned()
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
                    let (mut healthy, mut unhealthy, mut not_applicable, mut exempt) = (0, 0, 0, 0);
                    for f in report.findings.iter().filter(|f| f.rule == r.id) {
                        match f.status {
                            Status::Healthy => healthy += 1,
                            Status::Unhealthy => unhealthy += 1,
                            Status::NotApplicable => not_applicable += 1,
                        }
                        exempt += usize::from(f.is_exempt());
                    }
                    RecommendationView {
                        id: r.id.clone(),
                        title: r.title.clone(),
                        severity: r.severity.to_string(),
                        healthy: count(healthy),
                        unhealthy: count(unhealthy),
                        not_applicable: count(not_applicable),
                        exempt: (exempt > 0).then(|| format!("{} exempt", count(exempt))),
                    }
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

/// The VMs the page lists, and what it leaves out.
struct Listing<'a> {
    /// Worst first, at most [`LISTED_VMS`].
    views: Vec<VmView<'a>>,
    /// VMs in the report.
    total: usize,
    /// Unhealthy VMs in the report.
    unhealthy: usize,
}

fn vms<'a>(report: &'a Report, policy: &Policy) -> Listing<'a> {
    let mut groups: Vec<&[Finding]> = report
        .findings
        .chunk_by(|a, b| a.resource == b.resource)
        .collect();
    groups.sort_by_key(|fs| fs.iter().map(rank).min().unwrap_or(u8::MAX));
    let total = groups.len();
    let unhealthy = groups
        .iter()
        .filter(|fs| fs.iter().map(rank).min() == Some(0))
        .count();
    groups.truncate(LISTED_VMS);
    let plans = PlanCommands::new(&report.findings, policy);
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
            let plan = if detailed {
                plans.for_vm(findings)
            } else {
                Default::default()
            };
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
                plan: plan.lines,
                plan_withheld: plan.withheld,
                findings: findings
                    .iter()
                    .map(|f| finding(f, policy, detailed))
                    .collect(),
            }
        })
        .collect();
    Listing {
        views,
        total,
        unhealthy,
    }
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
        commands_withheld: if unhealthy { &f.commands_withheld } else { &[] },
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
    for p in f.evidence.exposures.iter() {
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
                row.ports.push_str(&p.port.to_string());
            }
            None => rows.push(PortView {
                ports: p.port.to_string(),
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
            history: None,
        }
    }

    #[test]
    fn large_estates_stay_small_enough_to_open() {
        let html = render(&report(LISTED_VMS + 20, 30), &Policy::builtin());
        let occurrences = |needle: &str| html.matches(needle).count();
        assert_eq!(occurrences("<details class=\"vm\""), LISTED_VMS);
        assert_eq!(occurrences("<div class=\"finding\">"), DETAILED_VMS);
        assert_eq!(
            occurrences("<ul class=\"brief\">"),
            LISTED_VMS - DETAILED_VMS
        );
        assert_eq!(occurrences("<li><a href=\"#vm-"), GLANCE_VMS);
        let total = LISTED_VMS + 50;
        let unhealthy = LISTED_VMS + 20;
        for text in [
            format!("<h2>Unhealthy VMs ({})</h2>", count(unhealthy)),
            format!("and {} more", count(unhealthy - GLANCE_VMS)),
            format!(
                "This page lists the {} worst of {} VMs; 50 more, 20 of them unhealthy, are in \
                 the JSON output.",
                count(LISTED_VMS),
                count(total)
            ),
            format!(
                "Ports, rules and commands are shown for the first {DETAILED_VMS} unhealthy VMs; \
                 {} more are listed briefly.",
                count(LISTED_VMS - DETAILED_VMS)
            ),
        ] {
            assert!(html.contains(&text), "{text}");
        }

        let small = render(&report(3, 2), &Policy::builtin());
        assert!(!small.contains("listed briefly") && !small.contains("This page lists the"));
        assert!(!small.contains(" more</li>"));
        assert_eq!(small.matches("<div class=\"finding\">").count(), 3);
    }
}
