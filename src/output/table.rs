//! `--format table` (the default): a readable summary per VM, then the score.
//!
//! VMs with an unhealthy finding come first; each finding shows its status, the recommendation
//! and why, and under an open or standing port the rules that let the internet in.

use std::fmt::Write;

use super::Report;
use crate::finding::{Finding, PortEvidence, Status};
use crate::verdict::thousands;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let mut vms: Vec<&[Finding]> = report
        .findings
        .chunk_by(|a, b| a.resource == b.resource)
        .collect();
    // Unhealthy first, then healthy, then not applicable; stable within each group.
    vms.sort_by_key(|fs| fs.iter().map(|f| rank(f.status)).min().unwrap_or(u8::MAX));
    for findings in vms {
        let first = &findings[0];
        let _ = writeln!(
            out,
            "{}  {} {}{}",
            first.resource_name,
            first.provider,
            first.scope,
            first
                .region
                .as_deref()
                .map(|r| format!(" {r}"))
                .unwrap_or_default()
        );
        if first.resource_name != first.resource {
            let _ = writeln!(out, "  {}", first.resource);
        }
        for f in findings {
            let _ = writeln!(
                out,
                "  {:<14} {:<26} {}",
                label(f.status),
                f.rule,
                f.evidence.summary
            );
            if f.status == Status::Unhealthy {
                for port in &f.evidence.exposures {
                    write_port(&mut out, port);
                }
            }
        }
        out.push('\n');
    }
    write_score(&mut out, report);
    write_collection(&mut out, report);
    if !report.warnings.is_empty() {
        let _ = writeln!(out, "\nWarnings ({}):", report.warnings.len());
        for w in &report.warnings {
            let _ = writeln!(out, "  - {w}");
        }
    }
    out
}

fn rank(status: Status) -> u8 {
    match status {
        Status::Unhealthy => 0,
        Status::Healthy => 1,
        Status::NotApplicable => 2,
    }
}

fn label(status: Status) -> &'static str {
    match status {
        Status::Unhealthy => "UNHEALTHY",
        Status::Healthy => "healthy",
        Status::NotApplicable => "not applicable",
    }
}

fn write_port(out: &mut String, port: &PortEvidence) {
    let mut reach = Vec::new();
    if port.ipv4_addresses > 0 {
        reach.push(format!(
            "{} IPv4",
            thousands(u128::from(port.ipv4_addresses))
        ));
    }
    if port.ipv6_addresses != "0" {
        reach.push(format!("{} IPv6", port.ipv6_addresses));
    }
    let _ = writeln!(
        out,
        "{:17}{:<10} {} {} addresses",
        "",
        port.port,
        if port.open {
            "open to"
        } else {
            "reachable from"
        },
        reach.join(" + ")
    );
    for rule in &port.rules {
        let priority = rule
            .priority
            .map(|p| format!(" (priority {p})"))
            .unwrap_or_default();
        let place = match (&rule.file, rule.line) {
            (Some(file), Some(line)) => format!("  [{file}:{line}]"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "{:28}via {} / {}{priority}{}{place}",
            "",
            rule.container,
            rule.name,
            if rule.jit { " [JIT grant]" } else { "" }
        );
    }
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
            "  {:<28} {:>6.2}/{:<3} healthy {}, unhealthy {}, not applicable {}",
            c.title, c.points, c.max_points, c.healthy, c.unhealthy, c.not_applicable
        );
    }
    if score.scopes.len() > 1 {
        let _ = writeln!(out, "By scope:");
        for s in &score.scopes {
            let _ = writeln!(
                out,
                "  {:<40} {:>5.1}%  ({})",
                s.scope, s.percent, s.provider
            );
        }
    }
    let summary = &report.summary;
    let _ = writeln!(
        out,
        "{} VMs ({} internet-facing) from {} files; findings: {} unhealthy, {} healthy, {} not applicable",
        summary.vms,
        summary.internet_facing_vms,
        summary.files,
        summary.unhealthy,
        summary.healthy,
        summary.not_applicable
    );
}
