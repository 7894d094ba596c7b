//! The provider-neutral snapshot of an estate: what the loaders and collectors produce and the
//! exposure engine reads.
//!
//! It keeps each cloud's own filtering objects (Azure NSGs with ordered rules, AWS security groups
//! and network ACLs) because their semantics differ, but in one vocabulary: addresses are parsed
//! into [`IpNetwork`]s, protocols into IP protocol numbers, ports into ranges. References between
//! resources are ids; they are resolved (and dangling ones reported) by the engine, so a snapshot
//! can be assembled from many files in any order. A snapshot serialises to versioned JSON
//! (`"portcullis_snapshot": 1`) and loads back unchanged.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Version written to and required of snapshot files.
pub const SNAPSHOT_VERSION: u32 = 1;

/// A whole estate, possibly spanning several subscriptions, accounts and both clouds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Format version; always [`SNAPSHOT_VERSION`] when written. First key, so files are
    /// recognisable from their opening bytes.
    pub portcullis_snapshot: u32,
    /// The files the data came from; [`Origin::file`] indexes this list.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "exact"
    )]
    pub sources: Vec<String>,
    #[serde(default, deserialize_with = "exact")]
    pub vms: Vec<Vm>,
    #[serde(default, deserialize_with = "exact")]
    pub nics: Vec<Nic>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "exact"
    )]
    pub public_ips: Vec<PublicIp>,
    #[serde(default, deserialize_with = "exact")]
    pub subnets: Vec<Subnet>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "exact"
    )]
    pub nsgs: Vec<Nsg>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "exact"
    )]
    pub app_security_groups: Vec<AppSecurityGroup>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "exact"
    )]
    pub security_groups: Vec<SecurityGroup>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "exact"
    )]
    pub network_acls: Vec<NetworkAcl>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "exact"
    )]
    pub route_tables: Vec<RouteTable>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "exact"
    )]
    pub prefix_lists: Vec<PrefixList>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "exact"
    )]
    pub jit_policies: Vec<JitPolicy>,
    /// Regions, accounts or subscriptions a live collection could not read: the snapshot covers
    /// only the rest of the estate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_scopes: Vec<MissingScope>,
    /// Regions (with their account in an organisation scan) or subscriptions a live collection
    /// read whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_scopes: Vec<ReadScope>,
}

impl Snapshot {
    pub fn new() -> Self {
        Self {
            portcullis_snapshot: SNAPSHOT_VERSION,
            ..Self::default()
        }
    }

    /// Appends `other`, renumbering its origins to follow this snapshot's sources.
    pub fn merge(&mut self, mut other: Snapshot) {
        let offset = self.sources.len() as u32;
        if offset > 0 {
            other.shift_origins(offset);
        }
        self.sources.append(&mut other.sources);
        self.vms.append(&mut other.vms);
        self.nics.append(&mut other.nics);
        self.public_ips.append(&mut other.public_ips);
        self.subnets.append(&mut other.subnets);
        self.nsgs.append(&mut other.nsgs);
        self.app_security_groups
            .append(&mut other.app_security_groups);
        self.security_groups.append(&mut other.security_groups);
        self.network_acls.append(&mut other.network_acls);
        self.route_tables.append(&mut other.route_tables);
        self.prefix_lists.append(&mut other.prefix_lists);
        self.jit_policies.append(&mut other.jit_policies);
        self.missing_scopes.append(&mut other.missing_scopes);
        self.read_scopes.append(&mut other.read_scopes);
    }

    fn shift_origins(&mut self, offset: u32) {
        self.for_each_origin(|o| {
            if let Some(o) = o {
                o.file += offset;
            }
        });
    }

    /// Drops every origin and the sources they index: for resources read from a cloud's API,
    /// which have no file and line to show.
    pub fn forget_origins(&mut self) {
        self.sources.clear();
        self.for_each_origin(|o| *o = None);
    }

    fn for_each_origin(&mut self, mut visit: impl FnMut(&mut Option<Origin>)) {
        self.vms.iter_mut().for_each(|v| visit(&mut v.origin));
        self.nics.iter_mut().for_each(|n| visit(&mut n.origin));
        for nsg in &mut self.nsgs {
            visit(&mut nsg.origin);
            nsg.rules
                .iter_mut()
                .chain(nsg.default_rules.iter_mut())
                .for_each(|r| visit(&mut r.origin));
        }
        for sg in &mut self.security_groups {
            visit(&mut sg.origin);
            sg.inbound.iter_mut().for_each(|p| visit(&mut p.origin));
        }
        for acl in &mut self.network_acls {
            visit(&mut acl.origin);
            acl.entries.iter_mut().for_each(|e| visit(&mut e.origin));
        }
    }

    /// Drops the spare capacity of every list, as loaders that build lists by pushing leave it
    /// (snapshot files are read without any).
    pub fn shrink_to_fit(&mut self) {
        for vm in &mut self.vms {
            vm.nic_ids.shrink_to_fit();
        }
        for nic in &mut self.nics {
            nic.security_group_ids.shrink_to_fit();
            for config in &mut nic.ip_configs {
                config.app_security_group_ids.shrink_to_fit();
            }
            nic.ip_configs.shrink_to_fit();
        }
        for subnet in &mut self.subnets {
            subnet.cidrs.shrink_to_fit();
        }
        for nsg in &mut self.nsgs {
            for rule in nsg.rules.iter_mut().chain(&mut nsg.default_rules) {
                rule.sources.shrink_to_fit();
                rule.source_asg_ids.shrink_to_fit();
                rule.source_ports.shrink_to_fit();
                rule.destinations.shrink_to_fit();
                rule.destination_asg_ids.shrink_to_fit();
                rule.destination_ports.shrink_to_fit();
            }
            nsg.rules.shrink_to_fit();
            nsg.default_rules.shrink_to_fit();
        }
        for group in &mut self.security_groups {
            for permission in &mut group.inbound {
                permission.sources.shrink_to_fit();
            }
            group.inbound.shrink_to_fit();
        }
        for acl in &mut self.network_acls {
            acl.subnet_ids.shrink_to_fit();
            acl.entries.shrink_to_fit();
        }
        for table in &mut self.route_tables {
            table.subnet_ids.shrink_to_fit();
            table.routes.shrink_to_fit();
        }
        for list in &mut self.prefix_lists {
            if let Some(entries) = &mut list.entries {
                entries.shrink_to_fit();
            }
        }
    }

    /// Number of resources of every kind, for summaries.
    pub fn resource_count(&self) -> usize {
        self.vms.len()
            + self.nics.len()
            + self.public_ips.len()
            + self.subnets.len()
            + self.nsgs.len()
            + self.app_security_groups.len()
            + self.security_groups.len()
            + self.network_acls.len()
            + self.route_tables.len()
            + self.prefix_lists.len()
            + self.jit_policies.len()
    }
}

/// A region, account or subscription that a live collection could not read, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MissingScope {
    pub provider: Provider,
    /// `region`, `account` (an organisation's member whose role could not be assumed) or
    /// `subscription`.
    pub kind: String,
    /// Region name, account id or subscription id.
    pub name: String,
    /// The account of a region, in an organisation scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub error: String,
}

impl fmt::Display for MissingScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} was not read, so its VMs are not judged: {}",
            self.provider,
            scope_label(&self.kind, &self.name, self.account.as_deref()),
            self.error
        )
    }
}

/// A region or subscription that a live collection read whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadScope {
    pub provider: Provider,
    /// `region` or `subscription`.
    pub kind: String,
    /// Region name or subscription id.
    pub name: String,
    /// The account of a region, in an organisation scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// `region eu-west-1`, `region eu-west-1 of account 111122223333`, `account 111122223333`.
pub fn scope_label(kind: &str, name: &str, account: Option<&str>) -> String {
    match account {
        Some(account) if account != name => format!("{kind} {name} of account {account}"),
        _ => format!("{kind} {name}"),
    }
}

/// Where a resource or rule was read from: an index into [`Snapshot::sources`] and a 1-based line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    pub file: u32,
    pub line: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Azure,
    Aws,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Azure => "azure",
            Provider::Aws => "aws",
        })
    }
}

/// A virtual machine (Azure VM or EC2 instance).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vm {
    /// Azure resource id or EC2 instance id.
    pub id: String,
    pub name: String,
    pub provider: Provider,
    /// Subscription id (Azure) or account id (AWS).
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Normalised power state (`running`, `stopped`, `deallocated`, …); never changes a verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_state: Option<String>,
    #[serde(default, deserialize_with = "exact")]
    pub nic_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// A network interface (Azure NIC or EC2 ENI).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nic {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub provider: Provider,
    /// The VM it is attached to, when the data says so (Azure NICs name their VM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    /// Azure: the NSG on the NIC itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nsg_id: Option<String>,
    /// AWS: the security groups of the interface.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "exact"
    )]
    pub security_group_ids: Vec<String>,
    #[serde(default, deserialize_with = "exact")]
    pub ip_configs: Vec<IpConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// One address of an interface and how the internet reaches it.
///
/// Azure: an ip configuration (private address, optional public IP resource, ASG membership).
/// AWS: a private IPv4 with its optional public association, or a global IPv6 address (then
/// `private_ip` and `public_ip` are the same address).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The address NSG rules see as destination. `None` when the data does not show it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip: Option<IpAddr>,
    /// Azure: the public IP resource this configuration references.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ip_id: Option<String>,
    /// A public address the data shows directly (AWS association, IPv6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ip: Option<IpAddr>,
    /// Azure: application security groups this configuration belongs to.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "exact"
    )]
    pub app_security_group_ids: Vec<String>,
}

/// An Azure public IP address resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicIp {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub family: crate::addrset::Family,
    /// `None` while no address is allocated; the configuration still counts as public.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
}

/// A subnet. Azure subnets carry their NSG; AWS subnets get their network ACL and route table
/// from those objects' associations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subnet {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub provider: Provider,
    /// Azure virtual network or AWS VPC id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nsg_id: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "exact"
    )]
    pub cidrs: Vec<IpNetwork>,
}

/// An Azure network security group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nsg {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Custom rules, in any order; the engine sorts by priority.
    #[serde(default, deserialize_with = "exact")]
    pub rules: Vec<NsgRule>,
    /// Default rules as the data shows them; the engine adds the standard inbound ones the data
    /// leaves out.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "exact"
    )]
    pub default_rules: Vec<NsgRule>,
    /// When the JIT grants among the custom rules expire (rule name to RFC 3339 time), as
    /// `portcullis jit request` stamps them in the rules' descriptions: a grant past its expiry
    /// that is still there is standing access.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub grant_expiries: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Allow,
    Deny,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Allow => "allow",
            Access::Deny => "deny",
        })
    }
}

/// One NSG security rule, with singular and plural fields already merged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NsgRule {
    pub name: String,
    pub priority: u32,
    pub direction: Direction,
    pub access: Access,
    pub protocol: Protocol,
    /// `sourceAddressPrefix` and `sourceAddressPrefixes` together.
    #[serde(default, deserialize_with = "exact")]
    pub sources: Vec<AddressPrefix>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "exact"
    )]
    pub source_asg_ids: Vec<String>,
    /// Empty means any source port.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "exact"
    )]
    pub source_ports: Vec<PortRange>,
    #[serde(default, deserialize_with = "exact")]
    pub destinations: Vec<AddressPrefix>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "exact"
    )]
    pub destination_asg_ids: Vec<String>,
    /// `destinationPortRange` and `destinationPortRanges` together.
    #[serde(default, deserialize_with = "exact")]
    pub destination_ports: Vec<PortRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// An Azure application security group (only its identity matters).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSecurityGroup {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

/// An AWS security group with its inbound permissions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroup {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(default, deserialize_with = "exact")]
    pub inbound: Vec<SgPermission>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// One entry of `IpPermissions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgPermission {
    pub protocol: Protocol,
    /// `None` for all ports (no `FromPort`/`ToPort`, or -1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<PortRange>,
    #[serde(default, deserialize_with = "exact")]
    pub sources: Vec<SgSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// A source of a security group permission.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgSource {
    #[serde(flatten)]
    pub kind: SgSourceKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The security group rule id (`sgr-…`) of this source, when the data names it (live
    /// collection reads it with `DescribeSecurityGroupRules`; `describe-security-groups` output
    /// has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SgSourceKind {
    /// `IpRanges` / `Ipv6Ranges`.
    Cidr(IpNetwork),
    /// `PrefixListIds`, resolved through [`PrefixList`].
    PrefixList(String),
    /// `UserIdGroupPairs`: another security group, an internal source.
    Group(String),
}

/// An AWS network ACL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkAcl {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default, deserialize_with = "exact")]
    pub subnet_ids: Vec<String>,
    #[serde(default, deserialize_with = "exact")]
    pub entries: Vec<NaclEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NaclEntry {
    pub rule_number: u32,
    pub egress: bool,
    pub access: Access,
    pub protocol: Protocol,
    pub cidr: IpNetwork,
    /// `None` for all ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<PortRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// An AWS route table; only routes to gateways matter for exposure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTable {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// The VPC's main table, used by subnets without an explicit association.
    #[serde(default)]
    pub main: bool,
    #[serde(default, deserialize_with = "exact")]
    pub subnet_ids: Vec<String>,
    #[serde(default, deserialize_with = "exact")]
    pub routes: Vec<Route>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub destination: IpNetwork,
    /// Gateway, NAT, peering or other target id (`igw-…`, `eigw-…`, `local`, …).
    pub target: String,
    /// False for blackhole routes.
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// Deserialises a list without spare capacity. serde grows lists by doubling, which would leave a
/// quarter of a large snapshot's memory allocated and unused.
fn exact<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    let mut list = Vec::deserialize(d)?;
    list.shrink_to_fit();
    Ok(list)
}

/// An AWS managed prefix list. `entries` is `None` when only the list's description was loaded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixList {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<IpNetwork>>,
}

/// A Defender for Cloud just-in-time network access policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JitPolicy {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, deserialize_with = "exact")]
    pub vms: Vec<JitVm>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JitVm {
    pub id: String,
    #[serde(default, deserialize_with = "exact")]
    pub ports: Vec<JitPort>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JitPort {
    pub number: u16,
    pub protocol: Protocol,
    #[serde(default, deserialize_with = "exact")]
    pub allowed_sources: Vec<String>,
    /// ISO 8601 duration, as the policy states it (`PT3H`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_access_duration: Option<String>,
}

/// An IP protocol: a number, or any. Parsed from Azure names (`Tcp`, `*`), AWS names (`tcp`,
/// `icmpv6`, `-1`) and numbers (`6`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Any,
    Number(u8),
}

impl Protocol {
    pub const TCP: Protocol = Protocol::Number(6);
    pub const UDP: Protocol = Protocol::Number(17);

    /// Whether a rule with this protocol matches a packet of protocol `packet`.
    pub fn matches(self, packet: Protocol) -> bool {
        self == Protocol::Any || self == packet
    }
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "*" | "-1" | "all" | "any" => Protocol::Any,
            "tcp" => Protocol::TCP,
            "udp" => Protocol::UDP,
            "icmp" => Protocol::Number(1),
            "esp" => Protocol::Number(50),
            "ah" => Protocol::Number(51),
            "icmpv6" | "ipv6-icmp" => Protocol::Number(58),
            other => match other.parse::<u8>() {
                Ok(n) => Protocol::Number(n),
                Err(_) => return Err(format!("unknown protocol {s:?}")),
            },
        })
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Any => f.write_str("*"),
            Protocol::Number(6) => f.write_str("tcp"),
            Protocol::Number(17) => f.write_str("udp"),
            Protocol::Number(1) => f.write_str("icmp"),
            Protocol::Number(50) => f.write_str("esp"),
            Protocol::Number(51) => f.write_str("ah"),
            Protocol::Number(58) => f.write_str("icmpv6"),
            Protocol::Number(n) => write!(f, "{n}"),
        }
    }
}

/// An inclusive range of ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub const ALL: PortRange = PortRange {
        first: 0,
        last: u16::MAX,
    };

    pub fn single(port: u16) -> Self {
        Self {
            first: port,
            last: port,
        }
    }

    pub fn contains(self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }

    pub fn is_all(self) -> bool {
        self.first == 0 && self.last == u16::MAX
    }
}

impl FromStr for PortRange {
    type Err = String;

    /// `*`, `N` or `N-M`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "*" {
            return Ok(PortRange::ALL);
        }
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("{s:?} is not a port, a range N-M, or *"))
        };
        let range = match s.split_once('-') {
            Some((a, b)) => PortRange {
                first: port(a)?,
                last: port(b)?,
            },
            None => PortRange::single(port(s)?),
        };
        if range.first > range.last {
            return Err(format!("port range {s:?} ends before it starts"));
        }
        Ok(range)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            f.write_str("*")
        } else if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// An NSG address prefix: any address, a CIDR or bare address, or a service tag.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AddressPrefix {
    /// `*` or `Any`.
    Any,
    Network(IpNetwork),
    /// A service tag as written (`Internet`, `VirtualNetwork`, `AzureCloud.westeurope`, …).
    Tag(String),
}

impl FromStr for AddressPrefix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "*" || s.eq_ignore_ascii_case("any") {
            return Ok(AddressPrefix::Any);
        }
        if s.is_empty() {
            return Err("empty address prefix".to_string());
        }
        let looks_numeric = s.contains('/')
            || s.contains(':')
            || s.chars().next().is_some_and(|c| c.is_ascii_digit());
        if looks_numeric {
            return s
                .parse::<IpNetwork>()
                .map(AddressPrefix::Network)
                .map_err(|_| format!("{s:?} is not a valid CIDR or IP address"));
        }
        if s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            Ok(AddressPrefix::Tag(s.to_string()))
        } else {
            Err(format!(
                "{s:?} is not a CIDR, an IP address, * or a service tag"
            ))
        }
    }
}

impl fmt::Display for AddressPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressPrefix::Any => f.write_str("*"),
            AddressPrefix::Network(n) => write!(f, "{n}"),
            AddressPrefix::Tag(t) => f.write_str(t),
        }
    }
}

/// A port watched by a recommendation: `22/tcp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortSpec {
    pub port: u16,
    pub protocol: Protocol,
}

impl FromStr for PortSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (port, proto) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not PORT/PROTOCOL, for example 22/tcp"))?;
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("{s:?}: {port:?} is not a port number"))?;
        let protocol = match proto.to_ascii_lowercase().as_str() {
            "tcp" => Protocol::TCP,
            "udp" => Protocol::UDP,
            _ => return Err(format!("{s:?}: protocol must be tcp or udp")),
        };
        Ok(PortSpec { port, protocol })
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.protocol)
    }
}

/// Serialises a type through its `Display` and parses it back through `FromStr`.
macro_rules! serde_via_string {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}
serde_via_string!(Protocol, PortRange, AddressPrefix, PortSpec);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn forgetting_origins_leaves_none_of_any_kind() {
        let origin = json!({"file": 0, "line": 3});
        let rule = json!({"name": "r", "priority": 100, "direction": "inbound", "access": "allow",
            "protocol": "tcp", "origin": origin});
        let entry = json!({"rule_number": 100, "egress": false, "access": "allow",
            "protocol": "tcp", "cidr": "0.0.0.0/0", "origin": origin});
        let mut snapshot: Snapshot = serde_json::from_value(json!({
            "portcullis_snapshot": 1,
            "sources": ["estate.json"],
            "vms": [{"id": "vm", "name": "vm", "provider": "azure", "scope": "s", "origin": origin}],
            "nics": [{"id": "nic", "provider": "azure", "origin": origin}],
            "nsgs": [{"id": "nsg", "origin": origin, "rules": [rule], "default_rules": [rule]}],
            "security_groups": [{"id": "sg", "origin": origin,
                "inbound": [{"protocol": "tcp", "origin": origin}]}],
            "network_acls": [{"id": "acl", "origin": origin, "entries": [entry]}],
        }))
        .unwrap();
        snapshot.forget_origins();
        let text = serde_json::to_string(&snapshot).unwrap();
        assert!(
            !text.contains("origin") && !text.contains("estate.json"),
            "{text}"
        );
    }

    #[test]
    fn protocols_from_both_clouds() {
        for (text, want) in [
            ("Tcp", Protocol::TCP),
            ("tcp", Protocol::TCP),
            ("6", Protocol::TCP),
            ("UDP", Protocol::UDP),
            ("*", Protocol::Any),
            ("-1", Protocol::Any),
            ("Esp", Protocol::Number(50)),
            ("icmpv6", Protocol::Number(58)),
        ] {
            assert_eq!(text.parse::<Protocol>(), Ok(want), "{text}");
        }
        assert!("bogus".parse::<Protocol>().is_err());
    }

    #[test]
    fn port_ranges() {
        assert_eq!("*".parse::<PortRange>(), Ok(PortRange::ALL));
        assert_eq!("22".parse::<PortRange>(), Ok(PortRange::single(22)));
        assert_eq!(
            "20-23".parse::<PortRange>(),
            Ok(PortRange {
                first: 20,
                last: 23
            })
        );
        assert!("23-20".parse::<PortRange>().is_err());
        assert!("70000".parse::<PortRange>().is_err());
    }

    #[test]
    fn address_prefixes() {
        assert_eq!("Any".parse::<AddressPrefix>(), Ok(AddressPrefix::Any));
        assert_eq!(
            "Internet".parse::<AddressPrefix>(),
            Ok(AddressPrefix::Tag("Internet".into()))
        );
        assert_eq!(
            "AzureCloud.westeurope".parse::<AddressPrefix>(),
            Ok(AddressPrefix::Tag("AzureCloud.westeurope".into()))
        );
        assert_eq!(
            "1.2.3.4".parse::<AddressPrefix>(),
            Ok(AddressPrefix::Network("1.2.3.4/32".parse().unwrap()))
        );
        assert!("10.0.0.300/24".parse::<AddressPrefix>().is_err());
        assert!("10.0.0.0/33".parse::<AddressPrefix>().is_err());
    }

    #[test]
    fn port_specs() {
        let p: PortSpec = "3389/udp".parse().unwrap();
        assert_eq!(p.to_string(), "3389/udp");
        assert!("22".parse::<PortSpec>().is_err());
        assert!("22/icmp".parse::<PortSpec>().is_err());
    }
}
