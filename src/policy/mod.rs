//! The policy: what counts as the internet, which ports are watched, when a port is open, and the
//! controls and recommendations that turn exposure into findings.
//!
//! Policies are data, YAML files under `rules/`. The built-in ones are embedded in the binary;
//! `--rules DIR` overrides or extends them. `schema` is the file format, `load` reads and merges
//! files, `resolve` checks the merged result and builds a [`Policy`], `render` prints it.

mod error;
mod load;
mod render;
mod resolve;
mod schema;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use crate::addrset::AddressSet;
use crate::model::PortSpec;

pub(crate) use error::Place;
pub use error::{PolicyError, Problem};
pub use render::render_rules_list;

/// A complete, validated policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// The internet as a set (section 1 of the semantics).
    pub internet: AddressSet,
    /// The CIDR lists the internet set was built from, for display.
    pub internet_ranges: InternetRanges,
    /// Service tag name (lower-case) to its ranges. Tags not listed here that are not
    /// `Internet`, `VirtualNetwork` or `AzureLoadBalancer` count as the whole internet.
    pub service_tags: BTreeMap<String, Vec<IpNetwork>>,
    pub management_ports: Vec<PortSpec>,
    pub thresholds: Thresholds,
    /// Names (Azure rule names, AWS source descriptions) starting with one of these are JIT grants.
    pub jit_rule_prefixes: Vec<String>,
    /// How long an unhealthy finding of each severity may stay open before `history open` marks
    /// it overdue; severities without an entry have no limit.
    pub sla: BTreeMap<Severity, std::time::Duration>,
    pub controls: Vec<Control>,
    pub recommendations: Vec<Recommendation>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InternetRanges {
    pub ipv4: RangeList,
    pub ipv6: RangeList,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeList {
    pub include: Vec<IpNetwork>,
    #[serde(default)]
    pub exclude: Vec<IpNetwork>,
}

/// A port is open when more internet addresses than these reach it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    pub ipv4_addresses: u64,
    pub ipv6_addresses: u128,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Control {
    pub id: String,
    pub title: String,
    pub max_points: u32,
    pub description: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// What a recommendation checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecommendationKind {
    /// Internet-facing VMs must have something filtering their traffic (an NSG on the NIC or its
    /// subnet; security groups that do not allow everything from the internet).
    InternetFacingFiltered,
    /// None of `ports` may be open.
    PortsClosed,
    /// Internet sources may reach `ports` only through JIT grants.
    PortsJit,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Recommendation {
    pub id: String,
    pub control: String,
    pub kind: RecommendationKind,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub remediation: String,
    /// The ports it watches (defaults to the management ports).
    pub ports: Vec<PortSpec>,
    /// Its open thresholds (defaults to the policy's).
    pub thresholds: Thresholds,
    /// Why it matters, for users reading `rules explain` or a report.
    pub explanation: String,
    pub examples: Examples,
}

/// What a recommendation flags and what it lets pass, each shown by a small estate that
/// `crate::explain` scans, so the documentation cannot drift from the engine.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Examples {
    /// Estates where the recommendation is unhealthy for some VM.
    #[serde(default)]
    pub flagged: Vec<Example>,
    /// Estates where it is healthy or not applicable for every VM.
    #[serde(default)]
    pub not_flagged: Vec<Example>,
}

/// One documented example: what it shows, in words, and the estate that shows it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    pub description: String,
    /// An input file as portcullis reads it (Azure resources as a JSON array, or AWS CLI
    /// `describe-*` outputs merged into one JSON object), exactly as written in the rules file.
    pub estate: String,
}

/// Which way an example must be judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExampleVerdict {
    Flagged,
    NotFlagged,
}

impl fmt::Display for ExampleVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExampleVerdict::Flagged => "flagged",
            ExampleVerdict::NotFlagged => "not flagged",
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        })
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            _ => Err(format!(
                "{s:?} is not a severity; write low, medium, high or critical"
            )),
        }
    }
}

impl fmt::Display for RecommendationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecommendationKind::InternetFacingFiltered => "internet-facing-filtered",
            RecommendationKind::PortsClosed => "ports-closed",
            RecommendationKind::PortsJit => "ports-jit",
        })
    }
}

impl RecommendationKind {
    /// Whether the recommendation looks at its `ports` (the others judge the VM as a whole).
    pub fn watches_ports(self) -> bool {
        !matches!(self, RecommendationKind::InternetFacingFiltered)
    }
}

/// Recommendation ids every output relies on, with the kind each must keep.
pub const FIXED_RECOMMENDATIONS: [(&str, RecommendationKind); 3] = [
    (
        "internet-facing-vm-nsg",
        RecommendationKind::InternetFacingFiltered,
    ),
    ("management-ports-closed", RecommendationKind::PortsClosed),
    ("management-ports-jit", RecommendationKind::PortsJit),
];

impl Policy {
    /// The policy embedded in the binary (the files under `rules/`).
    pub fn builtin() -> Policy {
        // The embedded files are checked by the `builtin_policy_*` tests, so this cannot fail
        // at run time.
        Self::load(&[], true).expect("the built-in rules are valid")
    }

    /// Loads every `*.yaml`/`*.yml` file of each directory over the built-in rules (when
    /// `include_builtin`), later directories overriding earlier ones.
    pub fn load(user_dirs: &[PathBuf], include_builtin: bool) -> Result<Policy, PolicyError> {
        load::load(user_dirs, include_builtin).map(|loaded| loaded.policy)
    }

    /// Checks one rules directory on top of the built-in rules, for `portcullis rules validate`.
    pub fn validate_dir(dir: &Path) -> Result<ValidationReport, PolicyError> {
        let loaded = load::load(&[dir.to_path_buf()], true)?;
        Ok(ValidationReport {
            files: loaded.user_files,
            controls: loaded.policy.controls.len(),
            recommendations: loaded.policy.recommendations.len(),
            overrides: loaded.overrides,
        })
    }

    pub fn control(&self, id: &str) -> Option<&Control> {
        self.controls.iter().find(|c| c.id == id)
    }

    /// A digest of the policy as loaded, so results judged by different policies can be told
    /// apart.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("{self:?}").as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn recommendation(&self, id: &str) -> Option<&Recommendation> {
        self.recommendations.iter().find(|r| r.id == id)
    }
}

/// What `Policy::validate_dir` found in a directory.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValidationReport {
    /// The rules files read from the directory, in reading order.
    pub files: Vec<String>,
    /// Controls and recommendations of the resulting policy, built-ins included.
    pub controls: usize,
    pub recommendations: usize,
    /// What the directory replaces of the built-in rules.
    pub overrides: Vec<Override>,
}

/// A built-in section, control or recommendation replaced by a user's file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Override {
    /// `section`, `control` or `recommendation`.
    pub what: &'static str,
    /// Section name or id.
    pub name: String,
    /// Where the replacement is defined (`file:line:column`).
    pub by: String,
}
