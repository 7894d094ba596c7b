//! Plain-text views of a policy for the `rules` subcommands.

use std::fmt::Write;

use super::{Policy, ValidationReport};

/// `portcullis rules list`: one row per recommendation, grouped by control in policy order.
/// Recommendations watching the policy's management ports say so instead of repeating them.
pub fn render_rules_list(policy: &Policy) -> String {
    let header = ["CONTROL", "ID", "KIND", "SEVERITY", "PORTS", "TITLE"].map(String::from);
    let mut rows = vec![header];
    for control in &policy.controls {
        for r in policy
            .recommendations
            .iter()
            .filter(|r| r.control == control.id)
        {
            let ports = if !r.kind.watches_ports() {
                "-".to_owned()
            } else if r.ports == policy.management_ports {
                "management_ports".to_owned()
            } else {
                r.ports
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            rows.push([
                control.id.clone(),
                r.id.clone(),
                r.kind.to_string(),
                r.severity.to_string(),
                ports,
                r.title.clone(),
            ]);
        }
    }
    let mut widths = [0; 6];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let management_ports: Vec<String> = policy
        .management_ports
        .iter()
        .map(|p| p.to_string())
        .collect();
    let _ = writeln!(out, "\nmanagement_ports: {}", management_ports.join(", "));
    let points: u32 = policy.controls.iter().map(|c| c.max_points).sum();
    let _ = writeln!(
        out,
        "{} in {} worth {points} points",
        count(policy.recommendations.len(), "recommendation"),
        count(policy.controls.len(), "control"),
    );
    out
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

impl ValidationReport {
    /// `portcullis rules validate DIR`: what was read and what it changes.
    pub fn render(&self) -> String {
        let mut out = format!(
            "rules are valid: read {}\n",
            count(self.files.len(), "file")
        );
        for file in &self.files {
            let _ = writeln!(out, "  {file}");
        }
        let _ = writeln!(
            out,
            "policy: {}, {} (built-ins included)",
            count(self.controls, "control"),
            count(self.recommendations, "recommendation")
        );
        if self.overrides.is_empty() {
            out.push_str("overrides nothing of the built-in rules\n");
        } else {
            out.push_str("overrides of the built-in rules:\n");
            for o in &self.overrides {
                let _ = writeln!(out, "  {} {} (by {})", o.what, o.name, o.by);
            }
        }
        out
    }
}
