//! How EC2 data maps onto the model: the decisions shared by the AWS CLI loader
//! ([`crate::load`]) and the live collector ([`crate::cloud::aws`]), so that an estate reads the
//! same whether it was exported with the CLI or read from the API.
//!
//! Both sources have the same shapes (the CLI prints the API's responses); they differ only in
//! how fields arrive (JSON slices with positions, or SDK structs), so each caller extracts the
//! fields and these functions decide what they mean.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnetwork::IpNetwork;

use crate::model::{
    Access, IpConfig, Nic, Origin, PortRange, Protocol, Provider, Route, RouteTable, SgSource,
    SgSourceKind, Subnet, Vm,
};

/// `us-east-1a` → `us-east-1`.
pub fn region_of_zone(zone: &str) -> &str {
    zone.strip_suffix(|c: char| c.is_ascii_lowercase())
        .unwrap_or(zone)
}

/// An instance as a VM: named by its `Name` tag, else by its id; in the region of its zone.
pub struct Instance {
    pub id: String,
    /// The reservation's `OwnerId`.
    pub account: String,
    pub tags: BTreeMap<String, String>,
    pub zone: Option<String>,
    pub state: Option<String>,
    pub nic_ids: Vec<String>,
    pub origin: Option<Origin>,
}

impl Instance {
    pub fn into_vm(self) -> Vm {
        Vm {
            name: self
                .tags
                .get("Name")
                .cloned()
                .unwrap_or_else(|| self.id.clone()),
            provider: Provider::Aws,
            scope: self.account,
            region: self.zone.map(|zone| region_of_zone(&zone).to_string()),
            power_state: self.state,
            nic_ids: self.nic_ids,
            tags: self.tags,
            origin: self.origin,
            id: self.id,
        }
    }
}

/// A private IPv4 address of an interface, with the public address associated with it.
pub fn ipv4_config(private: Option<IpAddr>, public: Option<IpAddr>) -> IpConfig {
    IpConfig {
        private_ip: private,
        public_ip: public,
        ..IpConfig::default()
    }
}

/// A global IPv6 address is both what the security groups see and what the internet reaches.
pub fn ipv6_config(address: IpAddr) -> IpConfig {
    ipv4_config(Some(address), Some(address))
}

/// A network interface of an instance (`NetworkInterfaces[]`).
pub fn interface(
    id: String,
    instance_id: &str,
    subnet_id: Option<String>,
    security_group_ids: Vec<String>,
    ip_configs: Vec<IpConfig>,
    origin: Option<Origin>,
) -> Nic {
    Nic {
        name: id.clone(),
        id,
        provider: Provider::Aws,
        vm_id: Some(instance_id.to_string()),
        subnet_id,
        nsg_id: None,
        security_group_ids,
        ip_configs,
        origin,
    }
}

/// The interface of an instance whose data has no `NetworkInterfaces`, built from the
/// instance-level fields. The data names no interface, so it is named after the instance.
pub fn instance_level_interface(
    instance_id: &str,
    subnet_id: Option<String>,
    security_group_ids: Vec<String>,
    private: Option<IpAddr>,
    public: Option<IpAddr>,
    origin: Option<Origin>,
) -> Nic {
    let has_address = private.is_some() || public.is_some();
    Nic {
        id: format!("{instance_id}/primary-interface"),
        name: String::new(),
        provider: Provider::Aws,
        vm_id: Some(instance_id.to_string()),
        subnet_id,
        nsg_id: None,
        security_group_ids,
        ip_configs: if has_address {
            vec![ipv4_config(private, public)]
        } else {
            Vec::new()
        },
        origin,
    }
}

/// Which number of a port range is bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortEnd {
    From,
    To,
}

/// Why a port range is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortError {
    NotAPort { end: PortEnd, number: i64 },
    Reversed { first: u16, last: u16 },
}

impl PortError {
    /// `ToPort 70000 of security group "sg-1" is not a port number (…)`, with the two numbers'
    /// field names as the data spells them.
    pub fn message(&self, (from_name, to_name): (&str, &str), owner: &str) -> String {
        match *self {
            PortError::NotAPort { end, number } => {
                let name = match end {
                    PortEnd::From => from_name,
                    PortEnd::To => to_name,
                };
                format!(
                    "{name} {number} of {owner} is not a port number (0 to 65535, or -1 for all)"
                )
            }
            PortError::Reversed { first, last } => {
                format!("ports {first}-{last} of {owner} end before they start")
            }
        }
    }
}

/// The ports of a security group permission or network ACL entry. Only TCP and UDP have ports:
/// for ICMP the two numbers are type and code, and for all traffic they are -1 or absent, which
/// all mean every port (`None`).
pub fn port_range(
    protocol: Protocol,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Option<PortRange>, PortError> {
    if protocol != Protocol::TCP && protocol != Protocol::UDP {
        return Ok(None);
    }
    let (Some(from), Some(to)) = (from, to) else {
        return Ok(None);
    };
    if from == -1 || to == -1 {
        return Ok(None);
    }
    let port =
        |number: i64, end| u16::try_from(number).map_err(|_| PortError::NotAPort { end, number });
    let first = port(from, PortEnd::From)?;
    let last = port(to, PortEnd::To)?;
    if first > last {
        return Err(PortError::Reversed { first, last });
    }
    Ok(Some(PortRange { first, last }))
}

/// A `UserIdGroupPairs` source; `GroupName` stands in for `GroupId` in old (EC2-Classic) data.
pub fn group_source(
    group_id: Option<String>,
    group_name: Option<String>,
    description: Option<String>,
) -> Option<SgSource> {
    group_id.or(group_name).map(|group| SgSource {
        kind: SgSourceKind::Group(group),
        description,
        rule_id: None,
    })
}

/// A network ACL entry's `RuleAction`.
pub fn nacl_access(action: &str) -> Result<Access, &'static str> {
    match action.trim().to_ascii_lowercase().as_str() {
        "allow" => Ok(Access::Allow),
        "deny" => Ok(Access::Deny),
        _ => Err("must be allow or deny"),
    }
}

/// A route with a CIDR destination. `target` is the first target id the route has of the kinds
/// that can carry traffic (gateway, NAT, transit gateway, peering, interface, egress-only
/// gateway, instance, carrier or local gateway); a route with none cannot be an internet gateway
/// route and is left out.
pub fn route(destination: IpNetwork, target: Option<String>, state: Option<&str>) -> Option<Route> {
    Some(Route {
        destination,
        target: target?,
        active: state != Some("blackhole"),
    })
}

/// A route table association: whether it is the VPC's main one, and the subnet it names.
pub struct RouteTableAssociation {
    pub main: Option<bool>,
    pub subnet_id: Option<String>,
}

pub fn route_table(
    id: String,
    vpc_id: Option<String>,
    associations: Vec<RouteTableAssociation>,
    routes: Vec<Route>,
) -> RouteTable {
    RouteTable {
        id,
        vpc_id,
        main: associations.iter().any(|a| a.main == Some(true)),
        subnet_ids: associations
            .into_iter()
            .filter_map(|a| a.subnet_id)
            .collect(),
        routes,
    }
}

/// A subnet, named by its `Name` tag, with its IPv4 block and every IPv6 block associated.
pub fn subnet(
    id: String,
    vpc_id: Option<String>,
    mut tags: BTreeMap<String, String>,
    cidrs: Vec<IpNetwork>,
) -> Subnet {
    Subnet {
        name: tags.remove("Name").unwrap_or_default(),
        id,
        provider: Provider::Aws,
        network_id: vpc_id,
        nsg_id: None,
        cidrs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_by_protocol() {
        let tcp = Protocol::TCP;
        for (protocol, from, to, want) in [
            (tcp, Some(22), Some(22), Ok(Some(PortRange::single(22)))),
            (tcp, Some(-1), Some(-1), Ok(None)),
            (tcp, None, None, Ok(None)),
            (Protocol::Number(1), Some(8), Some(0), Ok(None)),
            (Protocol::Any, Some(0), Some(65535), Ok(None)),
            (
                tcp,
                Some(70000),
                Some(70000),
                Err(PortError::NotAPort {
                    end: PortEnd::From,
                    number: 70000,
                }),
            ),
            (
                Protocol::UDP,
                Some(23),
                Some(22),
                Err(PortError::Reversed {
                    first: 23,
                    last: 22,
                }),
            ),
        ] {
            assert_eq!(
                port_range(protocol, from, to),
                want,
                "{protocol} {from:?}-{to:?}"
            );
        }
    }

    #[test]
    fn zones_to_regions() {
        for (zone, region) in [
            ("us-east-1a", "us-east-1"),
            ("eu-west-2c", "eu-west-2"),
            ("us-west-2-lax-1a", "us-west-2-lax-1"),
            ("eu-west-1", "eu-west-1"),
        ] {
            assert_eq!(region_of_zone(zone), region);
        }
    }
}
