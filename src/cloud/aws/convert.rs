//! One region's API data as a [`Snapshot`], decided exactly as the AWS CLI loader decides for
//! the same fields ([`crate::aws_mapping`]). A value the model cannot hold (a malformed address,
//! a port out of range) fails the region, naming the resource and field, as it fails a file.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::str::FromStr;

use aws_sdk_ec2::types::{
    GroupIdentifier, InstanceNetworkInterface, IpPermission, ManagedPrefixList, NetworkAcl,
    PrefixListEntry, Reservation, RouteTable as Ec2RouteTable, SecurityGroup as Ec2SecurityGroup,
    SecurityGroupRule, Subnet as Ec2Subnet, Tag,
};

use super::fetch::RegionData;
use super::write;
use crate::aws_mapping::{self, Instance, RouteTableAssociation};
use crate::model::{
    IpConfig, NaclEntry, NetworkAcl as Acl, Nic, PortRange, PrefixList, Protocol, RouteTable,
    SecurityGroup, SgPermission, SgSource, SgSourceKind, Snapshot, Subnet, Vm,
};

/// The region's resources. Prefix lists are every list described, with the entries of those
/// the security groups reference; a referenced list not described still gets its entries.
pub(super) fn snapshot(data: RegionData) -> Result<Snapshot, String> {
    let mut snapshot = Snapshot::new();
    for reservation in data.reservations {
        reservation_vms(reservation, &mut snapshot.vms, &mut snapshot.nics)?;
    }
    let rule_ids = rule_ids(data.security_group_rules);
    snapshot.security_groups = data
        .security_groups
        .into_iter()
        .map(|group| security_group(group, &rule_ids))
        .collect::<Result<_, _>>()?;
    snapshot.network_acls = data
        .network_acls
        .into_iter()
        .map(network_acl)
        .collect::<Result<_, _>>()?;
    snapshot.route_tables = data
        .route_tables
        .into_iter()
        .map(route_table)
        .collect::<Result<_, _>>()?;
    snapshot.subnets = data
        .subnets
        .into_iter()
        .map(subnet)
        .collect::<Result<_, _>>()?;
    snapshot.prefix_lists = prefix_lists(data.prefix_lists, data.prefix_list_entries)?;
    Ok(snapshot)
}

/// `value` parsed, or an error naming the field and its owner: `CidrIp "10.0.0.300/8" of
/// security group "sg-1" is invalid: …`.
fn parse<T>(value: &str, field: &str, owner: &str) -> Result<T, String>
where
    T: FromStr,
    T::Err: Display,
{
    value
        .trim()
        .parse()
        .map_err(|e| format!("{field} {value:?} of {owner} is invalid: {e}"))
}

fn parse_optional<T>(value: Option<&str>, field: &str, owner: &str) -> Result<Option<T>, String>
where
    T: FromStr,
    T::Err: Display,
{
    value.map(|v| parse(v, field, owner)).transpose()
}

fn required<T>(value: Option<T>, field: &str, owner: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("{owner} has no {field}"))
}

fn tag_map(tags: Option<Vec<Tag>>) -> BTreeMap<String, String> {
    tags.unwrap_or_default()
        .into_iter()
        .filter_map(|tag| Some((tag.key?, tag.value.unwrap_or_default())))
        .collect()
}

fn group_ids(groups: Option<Vec<GroupIdentifier>>) -> Vec<String> {
    groups
        .unwrap_or_default()
        .into_iter()
        .filter_map(|g| g.group_id)
        .collect()
}

fn reservation_vms(
    reservation: Reservation,
    vms: &mut Vec<Vm>,
    nics: &mut Vec<Nic>,
) -> Result<(), String> {
    let account = required(reservation.owner_id, "OwnerId", "a reservation")?;
    for instance in reservation.instances.unwrap_or_default() {
        let id = required(instance.instance_id, "InstanceId", "an instance")?;
        let owner = format!("instance {id:?}");
        let instance_nics = match instance.network_interfaces {
            Some(interfaces) => interfaces
                .into_iter()
                .map(|interface| network_interface(interface, &id))
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![aws_mapping::instance_level_interface(
                &id,
                instance.subnet_id,
                group_ids(instance.security_groups),
                parse_optional(
                    instance.private_ip_address.as_deref(),
                    "PrivateIpAddress",
                    &owner,
                )?,
                parse_optional(
                    instance.public_ip_address.as_deref(),
                    "PublicIpAddress",
                    &owner,
                )?,
                None,
            )],
        };
        vms.push(
            Instance {
                account: account.clone(),
                tags: tag_map(instance.tags),
                zone: instance.placement.and_then(|p| p.availability_zone),
                state: instance
                    .state
                    .and_then(|s| s.name)
                    .map(|name| name.as_str().to_string()),
                nic_ids: instance_nics.iter().map(|nic| nic.id.clone()).collect(),
                origin: None,
                id,
            }
            .into_vm(),
        );
        nics.extend(instance_nics);
    }
    Ok(())
}

fn network_interface(
    interface: InstanceNetworkInterface,
    instance_id: &str,
) -> Result<Nic, String> {
    let id = required(
        interface.network_interface_id,
        "NetworkInterfaceId",
        &format!("a network interface of instance {instance_id:?}"),
    )?;
    let owner = format!("network interface {id:?}");
    let mut ip_configs: Vec<IpConfig> = Vec::new();
    for private in interface.private_ip_addresses.unwrap_or_default() {
        ip_configs.push(aws_mapping::ipv4_config(
            parse_optional(
                private.private_ip_address.as_deref(),
                "PrivateIpAddress",
                &owner,
            )?,
            parse_optional(
                private
                    .association
                    .as_ref()
                    .and_then(|a| a.public_ip.as_deref()),
                "PublicIp",
                &owner,
            )?,
        ));
    }
    for ipv6 in interface.ipv6_addresses.unwrap_or_default() {
        let address = required(ipv6.ipv6_address, "Ipv6Address", &owner)?;
        ip_configs.push(aws_mapping::ipv6_config(parse(
            &address,
            "Ipv6Address",
            &owner,
        )?));
    }
    Ok(aws_mapping::interface(
        id,
        instance_id,
        interface.subnet_id,
        group_ids(interface.groups),
        ip_configs,
        None,
    ))
}

/// What identifies an inbound security group rule: its group, protocol, ports and source.
type RuleKey = (String, Protocol, Option<PortRange>, SgSourceKind);

/// The `sgr-…` id of each inbound rule `DescribeSecurityGroupRules` listed. A rule whose
/// fields do not parse gets no entry: its source keeps a derived id, and the same values fail
/// the region where `DescribeSecurityGroups` shows them.
fn rule_ids(rules: Vec<SecurityGroupRule>) -> HashMap<RuleKey, String> {
    rules
        .iter()
        .filter(|rule| rule.is_egress != Some(true))
        .filter_map(|rule| write::live_rule(rule).ok())
        .map(|rule| {
            let spec = rule.spec;
            (
                (
                    String::from(rule.group_id),
                    spec.protocol,
                    spec.ports.model(),
                    spec.source,
                ),
                String::from(rule.id),
            )
        })
        .collect()
}

fn security_group(
    group: Ec2SecurityGroup,
    rule_ids: &HashMap<RuleKey, String>,
) -> Result<SecurityGroup, String> {
    let id = required(group.group_id, "GroupId", "a security group")?;
    let owner = format!("security group {id:?}");
    let mut inbound: Vec<SgPermission> = group
        .ip_permissions
        .unwrap_or_default()
        .into_iter()
        .map(|permission| sg_permission(permission, &owner))
        .collect::<Result<_, _>>()?;
    for permission in &mut inbound {
        for source in &mut permission.sources {
            let key = (
                id.clone(),
                permission.protocol,
                permission.ports,
                source.kind.clone(),
            );
            source.rule_id = rule_ids.get(&key).cloned();
        }
    }
    Ok(SecurityGroup {
        id,
        name: group.group_name.unwrap_or_default(),
        vpc_id: group.vpc_id,
        inbound,
        origin: None,
    })
}

fn sg_permission(permission: IpPermission, owner: &str) -> Result<SgPermission, String> {
    let protocol: Protocol = parse(
        &required(permission.ip_protocol, "IpProtocol", owner)?,
        "IpProtocol",
        owner,
    )?;
    let ports = aws_mapping::port_range(
        protocol,
        permission.from_port.map(i64::from),
        permission.to_port.map(i64::from),
    )
    .map_err(|e| e.message(("FromPort", "ToPort"), owner))?;
    let mut sources = Vec::new();
    for range in permission.ip_ranges.unwrap_or_default() {
        let cidr = required(range.cidr_ip, "CidrIp", owner)?;
        sources.push(SgSource {
            kind: SgSourceKind::Cidr(parse(&cidr, "CidrIp", owner)?),
            description: range.description,
            rule_id: None,
        });
    }
    for range in permission.ipv6_ranges.unwrap_or_default() {
        let cidr = required(range.cidr_ipv6, "CidrIpv6", owner)?;
        sources.push(SgSource {
            kind: SgSourceKind::Cidr(parse(&cidr, "CidrIpv6", owner)?),
            description: range.description,
            rule_id: None,
        });
    }
    for list in permission.prefix_list_ids.unwrap_or_default() {
        sources.push(SgSource {
            kind: SgSourceKind::PrefixList(required(list.prefix_list_id, "PrefixListId", owner)?),
            description: list.description,
            rule_id: None,
        });
    }
    sources.extend(
        permission
            .user_id_group_pairs
            .unwrap_or_default()
            .into_iter()
            .filter_map(|pair| {
                aws_mapping::group_source(pair.group_id, pair.group_name, pair.description)
            }),
    );
    Ok(SgPermission {
        protocol,
        ports,
        sources,
        origin: None,
    })
}

fn network_acl(acl: NetworkAcl) -> Result<Acl, String> {
    let id = required(acl.network_acl_id, "NetworkAclId", "a network ACL")?;
    let mut entries = Vec::new();
    for entry in acl.entries.unwrap_or_default() {
        let number = required(
            entry.rule_number,
            "RuleNumber",
            &format!("an entry of network ACL {id:?}"),
        )?;
        let owner = format!("entry {number} of network ACL {id:?}");
        let rule_number = u32::try_from(number)
            .map_err(|_| format!("RuleNumber {number} of network ACL {id:?} is negative"))?;
        let action = required(entry.rule_action, "RuleAction", &owner)?;
        let access = aws_mapping::nacl_access(action.as_str())
            .map_err(|e| format!("RuleAction {:?} of {owner} {e}", action.as_str()))?;
        let protocol: Protocol = parse(
            &required(entry.protocol, "Protocol", &owner)?,
            "Protocol",
            &owner,
        )?;
        let cidr = match (entry.cidr_block, entry.ipv6_cidr_block) {
            (Some(cidr), _) => parse(&cidr, "CidrBlock", &owner)?,
            (None, Some(cidr)) => parse(&cidr, "Ipv6CidrBlock", &owner)?,
            (None, None) => return Err(format!("{owner} has neither CidrBlock nor Ipv6CidrBlock")),
        };
        let (from, to) = entry
            .port_range
            .map_or((None, None), |range| (range.from, range.to));
        let ports = aws_mapping::port_range(protocol, from.map(i64::from), to.map(i64::from))
            .map_err(|e| e.message(("PortRange.From", "PortRange.To"), &owner))?;
        entries.push(NaclEntry {
            rule_number,
            egress: required(entry.egress, "Egress", &owner)?,
            access,
            protocol,
            cidr,
            ports,
            origin: None,
        });
    }
    Ok(Acl {
        id,
        vpc_id: acl.vpc_id,
        is_default: acl.is_default.unwrap_or(false),
        subnet_ids: acl
            .associations
            .unwrap_or_default()
            .into_iter()
            .filter_map(|a| a.subnet_id)
            .collect(),
        entries,
        origin: None,
    })
}

fn route_table(table: Ec2RouteTable) -> Result<RouteTable, String> {
    let id = required(table.route_table_id, "RouteTableId", "a route table")?;
    let owner = format!("route table {id:?}");
    let mut routes = Vec::new();
    for route in table.routes.unwrap_or_default() {
        // Routes to a prefix list have no CIDR destination; they never carry the default route
        // that makes a subnet internet-facing.
        let destination = match (
            route.destination_cidr_block,
            route.destination_ipv6_cidr_block,
        ) {
            (Some(cidr), _) => parse(&cidr, "DestinationCidrBlock", &owner)?,
            (None, Some(cidr)) => parse(&cidr, "DestinationIpv6CidrBlock", &owner)?,
            (None, None) => continue,
        };
        let target = route
            .gateway_id
            .or(route.nat_gateway_id)
            .or(route.transit_gateway_id)
            .or(route.vpc_peering_connection_id)
            .or(route.network_interface_id)
            .or(route.egress_only_internet_gateway_id)
            .or(route.instance_id)
            .or(route.carrier_gateway_id)
            .or(route.local_gateway_id);
        routes.extend(aws_mapping::route(
            destination,
            target,
            route.state.as_ref().map(|s| s.as_str()),
        ));
    }
    let associations = table
        .associations
        .unwrap_or_default()
        .into_iter()
        .map(|a| RouteTableAssociation {
            main: a.main,
            subnet_id: a.subnet_id,
        })
        .collect();
    Ok(aws_mapping::route_table(
        id,
        table.vpc_id,
        associations,
        routes,
    ))
}

fn subnet(subnet: Ec2Subnet) -> Result<Subnet, String> {
    let id = required(subnet.subnet_id, "SubnetId", "a subnet")?;
    let owner = format!("subnet {id:?}");
    let mut cidrs = Vec::new();
    if let Some(cidr) = &subnet.cidr_block {
        cidrs.push(parse(cidr, "CidrBlock", &owner)?);
    }
    for block in subnet.ipv6_cidr_block_association_set.unwrap_or_default() {
        let cidr = required(block.ipv6_cidr_block, "Ipv6CidrBlock", &owner)?;
        cidrs.push(parse(&cidr, "Ipv6CidrBlock", &owner)?);
    }
    Ok(aws_mapping::subnet(
        id,
        subnet.vpc_id,
        tag_map(subnet.tags),
        cidrs,
    ))
}

fn prefix_lists(
    described: Vec<ManagedPrefixList>,
    entries: Vec<(String, Vec<PrefixListEntry>)>,
) -> Result<Vec<PrefixList>, String> {
    let mut entries: BTreeMap<String, Vec<PrefixListEntry>> = entries.into_iter().collect();
    let mut lists = Vec::new();
    for list in described {
        let id = required(list.prefix_list_id, "PrefixListId", "a prefix list")?;
        let cidrs = entries
            .remove(&id)
            .map(|entries| list_cidrs(&id, entries))
            .transpose()?;
        lists.push(PrefixList {
            name: list.prefix_list_name.unwrap_or_default(),
            id,
            entries: cidrs,
        });
    }
    for (id, entries) in entries {
        lists.push(PrefixList {
            entries: Some(list_cidrs(&id, entries)?),
            name: String::new(),
            id,
        });
    }
    Ok(lists)
}

fn list_cidrs(
    id: &str,
    entries: Vec<PrefixListEntry>,
) -> Result<Vec<ipnetwork::IpNetwork>, String> {
    let owner = format!("prefix list {id:?}");
    entries
        .into_iter()
        .map(|entry| parse(&required(entry.cidr, "Cidr", &owner)?, "Cidr", &owner))
        .collect()
}
