//! `--format table` (the default): a readable summary per VM, then the score.
//!
//! VMs with an unhealthy finding come first. Each VM shows its findings (status, recommendation,
//! why, marked new against a baseline or exempt), then, once, the ports the internet reaches with
//! the number of addresses and the rules that let them in (ports with the same evidence share a
//! line), then the commands that fix it and the `portcullis fix plan` command that plans the fix
//! ([`crate::remediate::PlanCommands`]). Baseline and gate results follow the score. Names from
//! cloud data are shown with control and bidi characters escaped ([`super::escape`]).

use std::fmt::Write;

use super::escape::{visible, visible_layout};
use super::{Report, address_counts};
use crate::finding::{BaselineState, Finding, PortEvidence, RuleEvidence, Status};
use crate::policy::Policy;
use crate::remediate::PlanCommands;

pub fn render(report: &Report, policy: &Policy) -> String {
    let mut out = String::new();
    let mut vms: Vec<&[Finding]> = report
        .findings
        .chunk_by(|a, b| a.resource == b.resource)
        .collect();
    // Unhealthy first, then healthy, then not applicable; stable within each group.
    vms.sort_by_key(|fs| fs.iter().map(rank).min().unwrap_or(u8::MAX));
    let plans = PlanCommands::new(&report.findings, policy);
    for findings in vms {
        write_vm(&mut out, findings, &plans);
    }
    write_score(&mut out, report);
    write_collection(&mut out, report);
    if !report.warnings.is_empty() {
        let _ = writeln!(out, "\nWarnings ({}):", report.warnings.len());
        for w in &report.warnings {
            let _ = writeln!(out, "  - {}", visible(w));
        }
    }
    // Each value above that can hold a line break is escaped where it is written; this pass
    // catches any other control character that reached the text.
    visible_layout(&out).into_owned()
}

fn write_vm(out: &mut String, findings: &[Finding], plans: &PlanCommands) {
    let first = &findings[0];
    let region = first.region.as_deref().unwrap_or("-");
    let _ = writeln!(
        out,
        "{}  ({}, {}, {})",
        visible(&first.resource_name),
        first.provider,
        visible(&first.scope),
        visible(region)
    );
    if first.resource_name != first.resource {
        let _ = writeln!(out, "  {}", visible(&first.resource));
    }
    for f in findings {
        let _ = writeln!(
            out,
            "  {:<14} {:<26} {}{}",
            label(f),
            f.rule,
            visible(&f.evidence.summary),
            visible(&marks(f))
        );
    }
    // Each port once, from the first unhealthy finding that shows it.
    let mut shown: Vec<&PortEvidence> = Vec::new();
    for f in findings.iter().filter(|f| f.status == Status::Unhealthy) {
        for port in f.evidence.exposures.iter() {
            if !shown.iter().any(|p| p.port == port.port) {
                shown.push(port);
            }
        }
    }
    let mut groups: Vec<(Vec<String>, &PortEvidence)> = Vec::new();
    for port in shown {
        match groups.iter_mut().find(|(_, p)| same_evidence(p, port)) {
            Some((ports, _)) => ports.push(port.port.to_string()),
            None => groups.push((vec![port.port.to_string()], port)),
        }
    }
    for (ports, evidence) in groups {
        let _ = writeln!(
            out,
            "    {} {} {}",
            ports.join(", "),
            if evidence.open {
                "open to"
            } else {
                "reachable from"
            },
            address_counts(evidence.ipv4_addresses, &evidence.ipv6_addresses)
        );
        for rule in &evidence.rules {
            let _ = writeln!(out, "      via {}", visible(&describe_rule(rule)));
        }
    }
    // Each command once: the recommendations of a VM often share a fix.
    let mut commands: Vec<&str> = Vec::new();
    for f in findings.iter().filter(|f| f.status == Status::Unhealthy) {
        for command in &f.commands {
            if !commands.contains(&command.as_str()) {
                commands.push(command);
            }
        }
    }
    for command in commands {
        let _ = writeln!(out, "    fix: {}", visible(command));
    }
    let plan = plans.for_vm(findings);
    for command in &plan.lines {
        let _ = writeln!(out, "    plan: {}", visible(command));
    }
    let mut withheld: Vec<&str> = Vec::new();
    let reasons = findings
        .iter()
        .filter(|f| f.status == Status::Unhealthy)
        .flat_map(|f| &f.commands_withheld)
        .chain(&plan.withheld);
    for why in reasons {
        if !withheld.contains(&why.as_str()) {
            withheld.push(why);
        }
    }
    for why in withheld {
        let _ = writeln!(out, "    {}", visible(why));
    }
    out.push('\n');
}

fn same_evidence(a: &PortEvidence, b: &PortEvidence) -> bool {
    a.open == b.open
        && a.ipv4_addresses == b.ipv4_addresses
        && a.ipv6_addresses == b.ipv6_addresses
        && a.rules == b.rules
}

/// `web-nsg / allow-ssh (priority 300) at fixtures/nsgs.json:31`
fn describe_rule(rule: &RuleEvidence) -> String {
    // Azure ids are long; their last segment is the name people know.
    let container = rule.container.rsplit('/').next().unwrap_or(&rule.container);
    let mut text = format!("{container} / {}", rule.name);
    if let Some(p) = rule.priority {
        let _ = write!(text, " (priority {p})");
    }
    if rule.jit {
        text.push_str(" [JIT grant]");
    }
    if let (Some(file), Some(line)) = (&rule.file, rule.line) {
        let _ = write!(text, " at {file}:{line}");
    }
    text
}

/// Unhealthy first, then exempt, healthy, not applicable.
fn rank(f: &Finding) -> u8 {
    match f.status {
        Status::Unhealthy if f.is_exempt() => 1,
        Status::Unhealthy => 0,
        Status::Healthy => 2,
        Status::NotApplicable => 3,
    }
}

fn label(f: &Finding) -> &'static str {
    match f.status {
        Status::Unhealthy if f.is_exempt() => "exempt",
        Status::Unhealthy => "UNHEALTHY",
        Status::Healthy => "healthy",
        Status::NotApplicable => "not applicable",
    }
}

/// `  [new]`, `  [exempt until …]`, `  [exemption expired …]` after a finding's summary.
fn marks(f: &Finding) -> String {
    let mut marks = Vec::new();
    if f.baseline == Some(BaselineState::New) {
        marks.push("new".to_owned());
    }
    if let Some(e) = &f.exemption {
        marks.push(if e.expired {
            format!("exemption expired on {} ({})", e.expires, e.source)
        } else {
            format!(
                "exempt until {}: {} ({}, {})",
                e.expires, e.justification, e.owner, e.source
            )
        });
    }
    marks.iter().map(|m| format!("  [{m}]")).collect()
}

/// One line per live collection; the scopes it missed are among the warnings.
fn write_collection(out: &mut String, report: &Report) {
    for collection in &report.collection {
        let _ = writeln!(
            out,
            "Read live{}: {}",
            if collection.complete {
                ""
            } else {
                " (INCOMPLETE)"
            },
            collection.one_line()
        );
    }
}

fn write_score(out: &mut String, report: &Report) {
    let score = &report.score;
    let points: f64 = score.controls.iter().map(|c| c.points).sum();
    let max: u32 = score.controls.iter().map(|c| c.max_points).sum();
    let _ = writeln!(
        out,
        "Secure score: {:.1}% ({points:.2} of {max} points)",
        score.percent
    );
    for c in &score.controls {
        let _ = writeln!(
            out,
            "  {:<28} {:>5.2}/{:<3} healthy {}, unhealthy {}, not applicable {}",
            c.title, c.points, c.max_points, c.healthy, c.unhealthy, c.not_applicable
        );
    }
    if score.scopes.len() > 1 {
        let _ = writeln!(out, "By scope:");
        for s in &score.scopes {
            let _ = writeln!(
                out,
                "  {:<5} {:<40} {:>5.1}%",
                s.provider.to_string(),
                s.scope,
                s.percent
            );
        }
    }
    let summary = &report.summary;
    let exempt = if summary.exempt > 0 {
        format!(" ({} exempt)", summary.exempt)
    } else {
        String::new()
    };
    let live: String = report
        .collection
        .iter()
        .map(|c| format!(" and {}", c.provider))
        .collect();
    let _ = writeln!(
        out,
        "{} VMs ({} internet-facing) from {} files{live}; findings: {} unhealthy{exempt}, {} healthy, {} not applicable",
        summary.vms,
        summary.internet_facing_vms,
        summary.files,
        summary.unhealthy,
        summary.healthy,
        summary.not_applicable
    );
    if let Some(baseline) = &report.baseline {
        let _ = writeln!(
            out,
            "Against {}: {} new, {} unchanged, {} fixed",
            baseline.file,
            baseline.new,
            baseline.unchanged,
            baseline.fixed.len()
        );
        for fixed in &baseline.fixed {
            let _ = writeln!(
                out,
                "  fixed: {} on {}",
                fixed.rule,
                visible(&fixed.resource_name)
            );
        }
    }
    if let Some(gate) = &report.gate {
        if gate.passed {
            let _ = writeln!(out, "Gate passed");
        }
        for failure in &gate.failures {
            let _ = writeln!(out, "Gate failed: {failure}");
        }
    }
    for collection in &report.collection {
        let _ = writeln!(out, "Collected {}", collection.one_line());
        for failed in collection.failures() {
            let _ = writeln!(
                out,
                "  NOT READ {}: {}",
                visible(&failed.label()),
                visible(failed.error.as_deref().unwrap_or_default())
            );
        }
    }
}
