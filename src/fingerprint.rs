//! The stable identity of a finding across scans: recommendation id and resource id (case-folded).
//! SARIF outputs carry it as a partial fingerprint and the audit store keys findings by it, so a
//! finding keeps its identity whatever else about it changes.

use crate::finding::Finding;

/// `rule|resource`, the resource id lower-cased (Azure ids are case-insensitive).
pub fn identity(finding: &Finding) -> String {
    format!("{}|{}", finding.rule, finding.resource.to_ascii_lowercase())
}
