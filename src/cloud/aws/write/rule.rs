//! Security group rules as the writer reads and writes them: typed `sg-…` and `sgr-…` ids, the
//! ports a rule allows (ICMP types kept), what a rule allows ([`SgRuleSpec`], what authorize
//! takes) and a rule as EC2 holds it ([`LiveSgRule`]), converted from and to EC2's types.

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_ec2::types::{
    IpPermission, IpRange, Ipv6Range, PrefixListId, SecurityGroupRule, SecurityGroupRuleRequest,
    UserIdGroupPair,
};
use serde::{Deserialize, Serialize};

use crate::aws_mapping;
use crate::model::{PortRange, Protocol, SgSourceKind};
use crate::rule_ref::{SgRuleId, SgRuleRef};

/// Why an id was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{text:?} is not a {what} id (`{prefix}…`)")]
pub struct BadId {
    text: String,
    what: &'static str,
    prefix: &'static str,
}

macro_rules! ec2_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(text: &str) -> Result<Self, BadId> {
                let text = text.trim();
                let rest = text.strip_prefix($prefix).unwrap_or_default();
                if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(BadId {
                        text: text.to_string(),
                        what: $what,
                        prefix: $prefix,
                    });
                }
                Ok(Self(text.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = BadId;

            fn try_from(text: String) -> Result<Self, BadId> {
                Self::new(&text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

ec2_id!(
    /// A security group id, `sg-…`.
    GroupId,
    "sg-",
    "security group"
);
ec2_id!(
    /// A security group rule id, `sgr-…`.
    RuleId,
    "sgr-",
    "security group rule"
);

/// The ports a rule allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RulePorts {
    /// Every port (or ICMP type): protocol `-1`, a protocol without ports, or -1.
    All,
    /// TCP or UDP ports.
    Range(PortRange),
    /// One ICMP or ICMPv6 type, with one code or (`None`) every code.
    Icmp { icmp_type: u8, code: Option<u8> },
}

impl RulePorts {
    /// The ports as the model holds them ([`crate::model::SgPermission::ports`]): `None` for all
    /// ports, and for protocols whose rules have no ports.
    pub fn model(self) -> Option<PortRange> {
        match self {
            RulePorts::Range(range) => Some(range),
            RulePorts::All | RulePorts::Icmp { .. } => None,
        }
    }

    /// The same ports whichever way EC2 spells them (`-1` or `0-65535` for every TCP port).
    fn canonical(self, protocol: Protocol) -> RulePorts {
        match self {
            RulePorts::Range(range) if range.is_all() && is_tcp_or_udp(protocol) => RulePorts::All,
            other => other,
        }
    }

    /// `FromPort` and `ToPort` as EC2 takes them for `protocol`; `None` when it takes none.
    fn port_fields(self, protocol: Protocol) -> Option<(i32, i32)> {
        match (self, protocol) {
            (_, Protocol::Any) => None,
            (RulePorts::Range(range), _) => Some((range.first.into(), range.last.into())),
            (RulePorts::Icmp { icmp_type, code }, _) => {
                Some((icmp_type.into(), code.map_or(-1, i32::from)))
            }
            (RulePorts::All, p) if is_tcp_or_udp(p) => Some((0, u16::MAX.into())),
            (RulePorts::All, p) if is_icmp(p) => Some((-1, -1)),
            (RulePorts::All, _) => None,
        }
    }
}

fn is_tcp_or_udp(protocol: Protocol) -> bool {
    protocol == Protocol::TCP || protocol == Protocol::UDP
}

fn is_icmp(protocol: Protocol) -> bool {
    matches!(protocol, Protocol::Number(1 | 58))
}

/// What an inbound rule allows, and its description: what authorize takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SgRuleSpec {
    pub protocol: Protocol,
    pub ports: RulePorts,
    /// An IPv4 or IPv6 CIDR, a prefix list, or a referenced security group.
    pub source: SgSourceKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl SgRuleSpec {
    /// Whether the two allow the same traffic: the same protocol, ports and source. EC2 tells
    /// rules apart by these alone (descriptions aside).
    pub fn same_access(&self, other: &SgRuleSpec) -> bool {
        self.protocol == other.protocol
            && self.ports.canonical(self.protocol) == other.ports.canonical(other.protocol)
            && self.source == other.source
    }

    pub(super) fn permission(&self) -> IpPermission {
        let mut permission = IpPermission::builder().ip_protocol(protocol_name(self.protocol));
        if let Some((from, to)) = self.ports.port_fields(self.protocol) {
            permission = permission.from_port(from).to_port(to);
        }
        let description = self.description.clone();
        match &self.source {
            SgSourceKind::Cidr(net) if net.is_ipv4() => permission.ip_ranges(
                IpRange::builder()
                    .cidr_ip(net.to_string())
                    .set_description(description)
                    .build(),
            ),
            SgSourceKind::Cidr(net) => permission.ipv6_ranges(
                Ipv6Range::builder()
                    .cidr_ipv6(net.to_string())
                    .set_description(description)
                    .build(),
            ),
            SgSourceKind::PrefixList(id) => permission.prefix_list_ids(
                PrefixListId::builder()
                    .prefix_list_id(id)
                    .set_description(description)
                    .build(),
            ),
            SgSourceKind::Group(id) => permission.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(id)
                    .set_description(description)
                    .build(),
            ),
        }
        .build()
    }

    pub(super) fn request(&self) -> SecurityGroupRuleRequest {
        let mut request = SecurityGroupRuleRequest::builder()
            .ip_protocol(protocol_name(self.protocol))
            .set_description(self.description.clone());
        if let Some((from, to)) = self.ports.port_fields(self.protocol) {
            request = request.from_port(from).to_port(to);
        } else {
            request = request.from_port(-1).to_port(-1);
        }
        match &self.source {
            SgSourceKind::Cidr(net) if net.is_ipv4() => request.cidr_ipv4(net.to_string()),
            SgSourceKind::Cidr(net) => request.cidr_ipv6(net.to_string()),
            SgSourceKind::PrefixList(id) => request.prefix_list_id(id),
            SgSourceKind::Group(id) => request.referenced_group_id(id),
        }
        .build()
    }
}

/// `tcp 22 from 0.0.0.0/0`, as errors name a rule.
impl fmt::Display for SgRuleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let protocol = match self.protocol {
            Protocol::Any => "all traffic".to_string(),
            p => p.to_string(),
        };
        let ports = match self.ports.canonical(self.protocol) {
            RulePorts::All => String::new(),
            RulePorts::Range(range) => format!(" {range}"),
            RulePorts::Icmp { icmp_type, code } => match code {
                Some(code) => format!(" type {icmp_type} code {code}"),
                None => format!(" type {icmp_type}"),
            },
        };
        let source = match &self.source {
            SgSourceKind::Cidr(net) => net.to_string(),
            SgSourceKind::PrefixList(id) => format!("prefix list {id}"),
            SgSourceKind::Group(id) => format!("security group {id}"),
        };
        write!(f, "{protocol}{ports} from {source}")
    }
}

/// EC2's name of a protocol: `tcp`, `udp`, `icmp`, `icmpv6`, `-1`, else its number.
fn protocol_name(protocol: Protocol) -> String {
    match protocol {
        Protocol::Any => "-1".to_string(),
        Protocol::Number(6 | 17 | 1 | 58) => protocol.to_string(),
        Protocol::Number(n) => n.to_string(),
    }
}

/// An inbound security group rule as EC2 holds it now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSgRule {
    pub id: RuleId,
    pub group_id: GroupId,
    #[serde(flatten)]
    pub spec: SgRuleSpec,
    /// The rule's tags (`jit` grant rules carry their grant and expiry).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl LiveSgRule {
    /// Whether this is the rule `reference` (from a scan) names, with the content it had then:
    /// the same group, the same `sgr-…` id when the scan read one, and the same access and
    /// description. A rule that differs was changed since the scan.
    pub fn matches_ref(&self, reference: &SgRuleRef) -> bool {
        let id_matches = match &reference.rule_id {
            SgRuleId::Read(id) => id == self.id.as_str(),
            SgRuleId::Derived(_) => true,
        };
        *reference.group == *self.group_id.as_str()
            && id_matches
            && self.spec.protocol == reference.protocol
            && self.spec.ports.model() == reference.ports
            && self.spec.source == reference.source
            && self.spec.description == reference.description
    }
}

/// An inbound rule of `DescribeSecurityGroupRules` as a [`LiveSgRule`], or what is wrong with it.
pub(in crate::cloud::aws) fn live_rule(rule: &SecurityGroupRule) -> Result<LiveSgRule, String> {
    let id = rule.security_group_rule_id().unwrap_or_default();
    let owner = format!("security group rule {id:?}");
    let id = RuleId::new(id).map_err(|e| e.to_string())?;
    let group_id = GroupId::new(rule.group_id().unwrap_or_default())
        .map_err(|e| format!("GroupId of {owner}: {e}"))?;
    let protocol: Protocol = rule
        .ip_protocol()
        .ok_or_else(|| format!("{owner} has no IpProtocol"))?
        .parse()
        .map_err(|e| format!("IpProtocol of {owner}: {e}"))?;
    let (from, to) = (rule.from_port(), rule.to_port());
    let ports = if is_tcp_or_udp(protocol) {
        aws_mapping::port_range(protocol, from.map(i64::from), to.map(i64::from))
            .map_err(|e| e.message(("FromPort", "ToPort"), &owner))?
            .map_or(RulePorts::All, RulePorts::Range)
    } else if is_icmp(protocol) {
        let number = |value: Option<i32>, field: &str| match value {
            None | Some(-1) => Ok(None),
            Some(n) => u8::try_from(n)
                .map(Some)
                .map_err(|_| format!("{field} {n} of {owner} is not an ICMP type or code")),
        };
        match (number(from, "FromPort")?, number(to, "ToPort")?) {
            (None, _) => RulePorts::All,
            (Some(icmp_type), code) => RulePorts::Icmp { icmp_type, code },
        }
    } else {
        RulePorts::All
    };
    let cidr = |text: &str, field: &str| {
        text.trim()
            .parse()
            .map(SgSourceKind::Cidr)
            .map_err(|e| format!("{field} {text:?} of {owner} is invalid: {e}"))
    };
    let source = match (
        rule.cidr_ipv4(),
        rule.cidr_ipv6(),
        rule.prefix_list_id(),
        rule.referenced_group_info().and_then(|g| g.group_id()),
    ) {
        (Some(v4), ..) => cidr(v4, "CidrIpv4")?,
        (None, Some(v6), ..) => cidr(v6, "CidrIpv6")?,
        (None, None, Some(list), _) => SgSourceKind::PrefixList(list.to_string()),
        (None, None, None, Some(group)) => SgSourceKind::Group(group.to_string()),
        (None, None, None, None) => return Err(format!("{owner} has no source")),
    };
    Ok(LiveSgRule {
        id,
        group_id,
        spec: SgRuleSpec {
            protocol,
            ports,
            source,
            description: rule.description().map(str::to_string),
        },
        tags: rule
            .tags()
            .iter()
            .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned())))
            .collect(),
    })
}
