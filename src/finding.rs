//! Findings: the verdict of one recommendation on one VM, with its evidence.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::Provider;
use crate::policy::Severity;

/// A recommendation's verdict on one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Healthy,
    Unhealthy,
    NotApplicable,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Healthy => "healthy",
            Status::Unhealthy => "unhealthy",
            Status::NotApplicable => "not_applicable",
        })
    }
}

/// One recommendation's verdict on one VM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Recommendation id (`management-ports-closed`).
    pub rule: String,
    /// Control the recommendation belongs to.
    pub control: String,
    /// The VM's Azure resource id or AWS instance id.
    pub resource: String,
    pub resource_name: String,
    pub provider: Provider,
    /// Subscription or account.
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub status: Status,
    pub severity: Severity,
    /// Open ports as `22/tcp`, for `management-ports-closed`-like rules; the ports reached
    /// outside JIT for `management-ports-jit`-like rules.
    #[serde(default)]
    pub ports: Vec<String>,
    pub evidence: Evidence,
}

/// Why a finding has its status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// One line saying why, for tables and messages.
    pub summary: String,
    /// Per port, who on the internet reaches it and through which rules. Shared by the findings
    /// of VMs that are reached the same way.
    #[serde(default, skip_serializing_if = "<[PortEvidence]>::is_empty")]
    pub exposures: Arc<[PortEvidence]>,
    /// Anything judged conservatively or worth knowing (missing NSG, unresolved prefix list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The internet addresses that reach one port, and the rules that let them in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortEvidence {
    /// `22/tcp`.
    pub port: String,
    /// Whether the set is broader than the recommendation's threshold.
    pub open: bool,
    pub ipv4_addresses: u64,
    /// A decimal string: IPv6 counts do not fit in JSON numbers.
    pub ipv6_addresses: String,
    pub rules: Vec<RuleEvidence>,
}

/// A rule that decided some of a port's exposure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleEvidence {
    /// `nsg_rule`, `security_group`, `network_acl` or `none` (a layer with nothing to filter).
    pub kind: String,
    /// NSG id, security group id or network ACL id.
    pub container: String,
    /// NSG rule name, or a description of the permission or entry.
    pub name: String,
    /// NSG priority or NACL rule number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// Whether this rule is a JIT grant.
    pub jit: bool,
    pub ipv4_addresses: u64,
    pub ipv6_addresses: String,
    /// Source file and line, when the rule came from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}
