//! Outputs of a scan: the report every format renders, and the formats.

pub mod escape;
pub mod grid;
mod history_sarif;
mod html;
mod json;
mod sarif;
mod table;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::baseline::BaselineSummary;
use crate::cloud::CollectionReport;
use crate::finding::{Finding, RuleEvidence, Status};
use crate::gate::GateOutcome;
use crate::rule_ref::RuleKind;
use crate::score::Score;
use crate::verdict::{ipv6_count_text, thousands};

pub use history_sarif::render as render_history_sarif;
pub use html::render as render_html;
pub use json::write as write_json;
pub use sarif::{notices as sarif_notices, render as render_sarif};
pub use table::render as render_table;

/// Everything a scan produced, in the shape the JSON output has.
#[derive(Debug, Serialize)]
pub struct Report {
    pub tool: Tool,
    pub summary: Summary,
    pub findings: Vec<Finding>,
    pub score: Score,
    /// How live collection went, when the estate came from a cloud API rather than files.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub collection: Vec<CollectionReport>,
    /// Dangling references and assumptions, each once.
    pub warnings: Vec<String>,
    /// With `--baseline`: new, unchanged and fixed findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineSummary>,
    /// With `--fail-on` or `--min-score`: whether the scan passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateOutcome>,
    /// For an audit: earlier runs' scores and what changed since the last run, which the HTML
    /// report shows (the store has them for the other formats: `portcullis history`).
    #[serde(skip)]
    pub history: Option<History>,
}

/// An audit's history as its HTML report shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// (run id, time, score percent) of every run, oldest first; this run (not yet recorded)
    /// last, with id `None`.
    pub scores: Vec<(Option<i64>, String, f64)>,
    /// The run this one is compared with.
    pub previous_run: Option<i64>,
    /// Unhealthy now and not in the previous run: new and reopened findings.
    pub new: Vec<crate::audit::diff::Changed>,
    pub fixed: Vec<crate::audit::diff::Changed>,
}

#[derive(Debug, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

impl Default for Tool {
    fn default() -> Self {
        Self {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Input files read.
    pub files: usize,
    pub vms: usize,
    /// Resources of every kind loaded.
    pub resources: usize,
    pub internet_facing_vms: usize,
    /// Resource types or files skipped, with counts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped: BTreeMap<String, usize>,
    /// Findings by status.
    pub healthy: usize,
    pub unhealthy: usize,
    pub not_applicable: usize,
    /// Unhealthy findings an exemption in force covers (included in `unhealthy`).
    pub exempt: usize,
}

impl Summary {
    pub fn count_findings(&mut self, findings: &[Finding]) {
        for f in findings {
            match f.status {
                Status::Healthy => self.healthy += 1,
                Status::Unhealthy => self.unhealthy += 1,
                Status::NotApplicable => self.not_applicable += 1,
            }
            if f.is_exempt() {
                self.exempt += 1;
            }
        }
    }
}

/// Exact address counts: `3,702,258,432 IPv4 addresses`, `3,702,258,432 IPv4 + 2^125 IPv6
/// addresses`.
pub(crate) fn address_counts(ipv4: u64, ipv6: &str) -> String {
    let ipv6 = ipv6.parse::<u128>().unwrap_or(0);
    let mut parts = Vec::new();
    if ipv4 > 0 || ipv6 == 0 {
        parts.push(format!("{} IPv4", thousands(u128::from(ipv4))));
    }
    if ipv6 > 0 {
        parts.push(format!("{} IPv6", ipv6_count_text(ipv6)));
    }
    format!("{} addresses", parts.join(" + "))
}

/// A rule as a reader finds it in the portal: `NSG rule allow-ssh (priority 300) of web-01-nsg`,
/// `security group sg-0123 permission tcp 22 from 0.0.0.0/0`, `network ACL acl-1 rule 100 …`.
pub(crate) fn rule_label(rule: &RuleEvidence) -> String {
    let container = rule.container.rsplit('/').next().unwrap_or(&rule.container);
    let priority = rule
        .priority
        .map(|p| format!(" (priority {p})"))
        .unwrap_or_default();
    match rule.kind {
        RuleKind::NsgRule => format!("NSG rule {}{priority} of {container}", rule.name),
        RuleKind::SecurityGroup => {
            format!("security group {container} permission {}", rule.name)
        }
        RuleKind::NetworkAcl => format!("network ACL {container} {}", rule.name),
    }
}
