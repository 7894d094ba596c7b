//! Findings: the verdict of one recommendation on one VM, with its evidence.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::{PortSpec, Provider};
use crate::policy::Severity;
use crate::rule_ref::{RuleKind, RuleRef};

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
    /// Open ports (`22/tcp` in JSON), for `management-ports-closed`-like rules; the ports
    /// reached outside JIT for `management-ports-jit`-like rules.
    #[serde(default)]
    pub ports: Vec<PortSpec>,
    pub evidence: Evidence,
    /// Where the VM itself was read from; outputs that need a place for every finding (SARIF)
    /// use it when no rule decided the verdict (a NIC with no NSG).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
    /// Commands that fix an unhealthy finding, with the estate's own names filled in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// Why a fix command was not printed: a name or id in it holds characters that are not safe
    /// to paste into a shell (control or bidi characters).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands_withheld: Vec<String>,
    /// With `--baseline`: whether an unhealthy finding is new or was already in the baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineState>,
    /// With `--exemptions`: the exemption that matched this unhealthy finding, in force or
    /// expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exemption: Option<AppliedExemption>,
}

impl Finding {
    /// Whether an exemption in force covers this finding.
    pub fn is_exempt(&self) -> bool {
        self.exemption.as_ref().is_some_and(|e| !e.expired)
    }

    /// The status the score counts: an exempt finding counts as not applicable.
    pub fn scored_status(&self) -> Status {
        if self.is_exempt() {
            Status::NotApplicable
        } else {
            self.status
        }
    }

    /// The place a reader should look first: the first rule that let the internet in (a
    /// security group or NSG rule rather than the network ACL it passed through), else the VM.
    pub fn primary_location(&self) -> Option<SourceLocation> {
        // Open ports first: their rules are the reason for a `closed` verdict.
        let ports = self.evidence.exposures.iter();
        let rules = ports
            .clone()
            .filter(|p| p.open)
            .chain(ports.filter(|p| !p.open))
            .flat_map(|p| &p.rules);
        let placed = |r: &&RuleEvidence| r.file.is_some() && r.line.is_some();
        let rule = rules
            .clone()
            .filter(placed)
            .find(|r| r.kind != RuleKind::NetworkAcl)
            .or_else(|| rules.clone().find(placed));
        match rule {
            Some(RuleEvidence {
                file: Some(file),
                line: Some(line),
                ..
            }) => Some(SourceLocation {
                file: file.clone(),
                line: *line,
            }),
            _ => self.location.clone(),
        }
    }
}

/// A line of an input file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLocation {
    pub file: String,
    pub line: u32,
}

/// How an unhealthy finding compares with the baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineState {
    /// Not unhealthy in the baseline: counts for `--fail-on`.
    New,
    /// Already unhealthy in the baseline.
    Unchanged,
}

/// An exemption as it applies to one finding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppliedExemption {
    pub justification: String,
    pub owner: String,
    /// Last day the exemption applies, `YYYY-MM-DD`.
    pub expires: String,
    /// True once `expires` has passed: the finding counts again.
    pub expired: bool,
    /// Where the exemption is written (`exemptions.yaml:12`).
    pub source: String,
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
    /// `22/tcp` in JSON.
    pub port: PortSpec,
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
    /// `nsg_rule`, `security_group` or `network_acl` in JSON.
    pub kind: RuleKind,
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
    /// The rule itself, by id and content, for remediation. Not written to JSON (reports keep
    /// the fields above), so `None` only in evidence read back from a report.
    #[serde(skip)]
    pub target: Option<RuleRef>,
}

#[cfg(test)]
impl Finding {
    /// A finding of a high-severity recommendation of the built-in control, for tests; the VM's
    /// name is the last segment of its id.
    pub(crate) fn example(rule: &str, resource: &str, status: Status) -> Finding {
        Finding {
            rule: rule.to_owned(),
            control: "secure-management-ports".to_owned(),
            resource: resource.to_owned(),
            resource_name: resource.rsplit('/').next().unwrap_or(resource).to_owned(),
            provider: Provider::Azure,
            scope: "s1".to_owned(),
            region: None,
            status,
            severity: Severity::High,
            ports: Vec::new(),
            evidence: Evidence::default(),
            location: None,
            commands: Vec::new(),
            commands_withheld: Vec::new(),
            baseline: None,
            exemption: None,
        }
    }
}
