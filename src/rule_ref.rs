//! Typed references to the cloud rules that evidence names: what opened a port, as the data
//! showed it, so that remediation acts on ids and contents rather than on display text.
//!
//! The engine makes one [`RuleRef`] per rule it prepares (an NSG rule, one source of a security
//! group permission, a network ACL entry); findings carry them in their evidence, and
//! [`crate::remediate`] builds the `az` and `aws` commands from them alone. They hold ids and
//! contents, never file lines, so a live scan and a scan of files of the same estate refer to the
//! same rules in the same way.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::{NaclEntry, NsgRule, PortRange, Protocol, SgSourceKind};

/// What kind of object a deciding rule lives in; JSON writes it as `nsg_rule`,
/// `security_group` or `network_acl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    NsgRule,
    SecurityGroup,
    NetworkAcl,
}

/// The rule behind a piece of evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleRef {
    Nsg(Arc<NsgRuleRef>),
    SecurityGroup(Arc<SgRuleRef>),
    /// A security group an interface names that is not in the input: assumed to allow all
    /// traffic from anywhere, so there is no rule to change.
    AssumedSecurityGroup {
        group: Arc<str>,
    },
    NetworkAcl {
        acl: Arc<str>,
        entry: Arc<NaclEntry>,
    },
}

impl RuleRef {
    pub fn kind(&self) -> RuleKind {
        match self {
            RuleRef::Nsg(_) => RuleKind::NsgRule,
            RuleRef::SecurityGroup(_) | RuleRef::AssumedSecurityGroup { .. } => {
                RuleKind::SecurityGroup
            }
            RuleRef::NetworkAcl { .. } => RuleKind::NetworkAcl,
        }
    }

    /// The NSG id, security group id or network ACL id the rule lives in.
    pub fn container(&self) -> &Arc<str> {
        match self {
            RuleRef::Nsg(r) => &r.nsg,
            RuleRef::SecurityGroup(r) => &r.group,
            RuleRef::AssumedSecurityGroup { group } => group,
            RuleRef::NetworkAcl { acl, .. } => acl,
        }
    }
}

/// An NSG rule: the NSG's resource id and the rule exactly as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NsgRuleRef {
    pub nsg: Arc<str>,
    pub rule: NsgRule,
    /// One of the NSG's default rules (read or implied), which Azure does not let anyone change.
    pub default: bool,
}

impl NsgRuleRef {
    /// The rule's Resource Manager id: `{nsg id}/securityRules/{name}`.
    pub fn rule_id(&self) -> String {
        let kind = if self.default {
            "defaultSecurityRules"
        } else {
            "securityRules"
        };
        format!("{}/{kind}/{}", self.nsg, self.rule.name)
    }
}

/// One source of one inbound security group permission: what EC2 calls a security group rule
/// (`DescribeSecurityGroupRules` lists one rule per source).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SgRuleRef {
    pub group: Arc<str>,
    pub rule_id: SgRuleId,
    pub protocol: Protocol,
    /// `None` for all ports, as in [`crate::model::SgPermission::ports`].
    pub ports: Option<PortRange>,
    pub source: SgSourceKind,
    pub description: Option<String>,
}

/// The identity of a security group rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SgRuleId {
    /// `sgr-…`, as EC2 returned it (live collection reads `DescribeSecurityGroupRules`).
    Read(String),
    /// Input without rule ids (the AWS CLI's `describe-security-groups`): an id derived from
    /// the group, protocol, ports and source, which together identify a rule in EC2. Stable
    /// across runs and the same for the same rule wherever it was read; never an id EC2 knows.
    Derived(String),
}

impl SgRuleId {
    /// The id read from the data, or else the one derived from the rule's content.
    pub fn new(
        read: Option<&str>,
        group: &str,
        protocol: Protocol,
        ports: Option<PortRange>,
        source: &SgSourceKind,
    ) -> Self {
        match read {
            Some(id) => SgRuleId::Read(id.to_string()),
            None => {
                let ports = ports.map_or_else(|| "all".to_string(), |p| format!("{p}"));
                let source = match source {
                    SgSourceKind::Cidr(net) => format!("cidr:{net}"),
                    SgSourceKind::PrefixList(id) => format!("prefix-list:{id}"),
                    SgSourceKind::Group(id) => format!("group:{id}"),
                };
                SgRuleId::Derived(format!("{group}/{protocol}/{ports}/{source}"))
            }
        }
    }
}

impl fmt::Display for SgRuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SgRuleId::Read(id) => f.write_str(id),
            SgRuleId::Derived(id) => write!(f, "derived:{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_read_else_derived_from_content() {
        let cidr = SgSourceKind::Cidr("0.0.0.0/0".parse().unwrap());
        let ssh = Some(PortRange::single(22));
        assert_eq!(
            SgRuleId::new(Some("sgr-0abc"), "sg-1", Protocol::TCP, ssh, &cidr),
            SgRuleId::Read("sgr-0abc".into())
        );
        let derived = |ports, source: &SgSourceKind| {
            SgRuleId::new(None, "sg-1", Protocol::TCP, ports, source).to_string()
        };
        assert_eq!(derived(ssh, &cidr), "derived:sg-1/tcp/22/cidr:0.0.0.0/0");
        // Every part of the content tells rules apart.
        let list = SgSourceKind::PrefixList("pl-1".into());
        let all = SgRuleId::new(None, "sg-1", Protocol::Any, None, &cidr).to_string();
        assert_eq!(all, "derived:sg-1/*/all/cidr:0.0.0.0/0");
        assert_eq!(derived(ssh, &list), "derived:sg-1/tcp/22/prefix-list:pl-1");
        assert_ne!(
            derived(Some(PortRange::single(3389)), &cidr),
            derived(ssh, &cidr)
        );
    }
}
