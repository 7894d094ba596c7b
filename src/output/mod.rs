//! Outputs of a scan: the report every format renders, and the formats.

mod json;
mod table;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::collect::CollectionReport;
use crate::finding::{Finding, Status};
use crate::score::Score;

pub use json::write as write_json;
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
}

impl Summary {
    pub fn count_findings(&mut self, findings: &[Finding]) {
        for f in findings {
            match f.status {
                Status::Healthy => self.healthy += 1,
                Status::Unhealthy => self.unhealthy += 1,
                Status::NotApplicable => self.not_applicable += 1,
            }
        }
    }
}
