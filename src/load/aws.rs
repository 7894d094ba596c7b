//! AWS CLI JSON output (`aws ec2 describe-*`), recognised by its top-level key: `Reservations`,
//! `SecurityGroups`, `NetworkAcls`, `RouteTables`, `Subnets`, `PrefixLists`, and a prefix list's
//! `Entries`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::json::JsonFile;
use super::{LoadError, Loaded, TopLevelKeys, rejected};
use crate::addrset::Family;
use crate::aws_mapping::{self, Instance as InstanceRecord, PortEnd, PortError};
use crate::model::{
    NaclEntry, NetworkAcl, Nic, Origin, PortRange, PrefixList, Protocol, RouteTable, SecurityGroup,
    SgPermission, SgSource, SgSourceKind, Snapshot, Subnet,
};

/// Loads every AWS list in the file; false when it holds none.
pub(super) fn load<'a>(
    file: &JsonFile<'a>,
    keys: &TopLevelKeys<'a>,
    loaded: &mut Loaded,
) -> Result<bool, LoadError> {
    let snapshot = &mut loaded.snapshot;
    let warnings = &mut loaded.warnings;
    let mut recognised = false;
    if let Some(raw) = keys.reservations {
        let reservations: Vec<&RawValue> = file.parse_raw(raw)?;
        for reservation in reservations {
            load_reservation(file, reservation, snapshot, warnings)?;
        }
        recognised = true;
    }
    if let Some(raw) = keys.security_groups {
        let groups: Vec<&RawValue> = file.parse_raw(raw)?;
        for group in groups {
            snapshot
                .security_groups
                .push(security_group(file, group, warnings)?);
        }
        recognised = true;
    }
    if let Some(raw) = keys.network_acls {
        let acls: Vec<&RawValue> = file.parse_raw(raw)?;
        for acl in acls {
            snapshot
                .network_acls
                .push(network_acl(file, acl, warnings)?);
        }
        recognised = true;
    }
    if let Some(raw) = keys.route_tables {
        let tables: Vec<RouteTableJson> = file.parse_raw(raw)?;
        for table in tables {
            snapshot
                .route_tables
                .push(route_table(file, table, warnings)?);
        }
        recognised = true;
    }
    if let Some(raw) = keys.subnets {
        let subnets: Vec<SubnetJson> = file.parse_raw(raw)?;
        for subnet_json in subnets {
            snapshot.subnets.push(subnet(file, subnet_json)?);
        }
        recognised = true;
    }
    if let Some(raw) = keys.prefix_lists {
        let lists: Vec<PrefixListJson> = file.parse_raw(raw)?;
        snapshot
            .prefix_lists
            .extend(lists.into_iter().map(|list| PrefixList {
                id: list.prefix_list_id,
                name: list.prefix_list_name.unwrap_or_default(),
                entries: None,
            }));
        recognised = true;
    }
    if let Some(raw) = keys.prefix_list_entries {
        snapshot
            .prefix_lists
            .push(prefix_list_entries(file, raw, keys.prefix_list_id)?);
        recognised = true;
    }
    Ok(recognised)
}

fn origin(file: &JsonFile, element: &RawValue) -> Option<Origin> {
    Some(Origin {
        file: 0,
        line: file.line_of(element.get()),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tag {
    key: String,
    #[serde(default)]
    value: String,
}

fn tag_map(tags: Option<Vec<Tag>>) -> BTreeMap<String, String> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|tag| (tag.key, tag.value))
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GroupRef {
    group_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Reservation<'a> {
    owner_id: Option<String>,
    #[serde(borrow)]
    instances: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Instance<'a> {
    instance_id: String,
    tags: Option<Vec<Tag>>,
    placement: Option<Placement>,
    state: Option<InstanceState>,
    #[serde(borrow)]
    network_interfaces: Option<Vec<&'a RawValue>>,
    subnet_id: Option<String>,
    security_groups: Option<Vec<GroupRef>>,
    #[serde(borrow)]
    private_ip_address: Option<&'a RawValue>,
    #[serde(borrow)]
    public_ip_address: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Placement {
    availability_zone: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InstanceState {
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NetworkInterfaceJson<'a> {
    network_interface_id: String,
    subnet_id: Option<String>,
    groups: Option<Vec<GroupRef>>,
    #[serde(borrow)]
    private_ip_addresses: Option<Vec<PrivateAddressJson<'a>>>,
    #[serde(borrow)]
    ipv6_addresses: Option<Vec<Ipv6AddressJson<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PrivateAddressJson<'a> {
    #[serde(borrow)]
    private_ip_address: Option<&'a RawValue>,
    #[serde(borrow)]
    association: Option<AssociationJson<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssociationJson<'a> {
    #[serde(borrow)]
    public_ip: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Ipv6AddressJson<'a> {
    #[serde(borrow)]
    ipv6_address: &'a RawValue,
}

fn load_reservation<'a>(
    file: &JsonFile<'a>,
    element: &'a RawValue,
    snapshot: &mut Snapshot,
    warnings: &mut Vec<String>,
) -> Result<(), LoadError> {
    let reservation: Reservation = file.parse_raw(element)?;
    let Some(account) = reservation.owner_id else {
        return Err(file.error_at(
            element.get(),
            "reservation without OwnerId; load describe-instances output unmodified".to_string(),
        ));
    };
    for instance_element in reservation.instances.unwrap_or_default() {
        let instance: Instance = file.parse_raw(instance_element)?;
        let owner = format!("instance {:?}", instance.instance_id);
        let instance_nics = match instance.network_interfaces {
            Some(interfaces) => interfaces
                .into_iter()
                .map(|interface| {
                    network_interface(file, interface, &instance.instance_id, warnings)
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![instance_level_nic(
                file,
                instance_element,
                &instance,
                &owner,
                warnings,
            )?],
        };
        snapshot.vms.push(
            InstanceRecord {
                account: account.clone(),
                tags: tag_map(instance.tags),
                zone: instance.placement.and_then(|p| p.availability_zone),
                state: instance.state.and_then(|s| s.name),
                nic_ids: instance_nics.iter().map(|nic| nic.id.clone()).collect(),
                origin: origin(file, instance_element),
                id: instance.instance_id,
            }
            .into_vm(),
        );
        snapshot.nics.extend(instance_nics);
    }
    Ok(())
}

/// Where a value was read and what it is: its field, the family the field takes, its owner.
struct Field<'f> {
    name: &'f str,
    family: Family,
    owner: &'f str,
}

impl<'f> Field<'f> {
    fn new(name: &'f str, family: Family, owner: &'f str) -> Self {
        Self {
            name,
            family,
            owner,
        }
    }

    /// Parses the field's address or CIDR; one of the other family is kept as what it is, with
    /// a warning (section 3 of the semantics).
    fn parse<'a, T>(
        &self,
        file: &JsonFile<'a>,
        raw: &'a RawValue,
        family_of: impl Fn(&T) -> Family,
        warnings: &mut Vec<String>,
    ) -> Result<T, LoadError>
    where
        T: std::str::FromStr + std::fmt::Display,
        T::Err: std::fmt::Display,
    {
        let value: T = file.parse_field(raw, self.name, self.owner, |s| s.trim().parse::<T>())?;
        warnings.extend(rejected::misfiled_family(
            file,
            raw,
            self.name,
            self.owner,
            &value,
            (family_of(&value), self.family),
            "AWS",
        ));
        Ok(value)
    }

    fn address<'a>(
        &self,
        file: &JsonFile<'a>,
        raw: &'a RawValue,
        warnings: &mut Vec<String>,
    ) -> Result<IpAddr, LoadError> {
        self.parse(file, raw, Family::of, warnings)
    }

    fn optional_address<'a>(
        &self,
        file: &JsonFile<'a>,
        raw: Option<&'a RawValue>,
        warnings: &mut Vec<String>,
    ) -> Result<Option<IpAddr>, LoadError> {
        raw.map(|raw| self.address(file, raw, warnings)).transpose()
    }

    fn cidr<'a>(
        &self,
        file: &JsonFile<'a>,
        raw: &'a RawValue,
        warnings: &mut Vec<String>,
    ) -> Result<IpNetwork, LoadError> {
        self.parse(file, raw, |net: &IpNetwork| Family::of(&net.ip()), warnings)
    }
}

fn network_interface<'a>(
    file: &JsonFile<'a>,
    element: &'a RawValue,
    instance_id: &str,
    warnings: &mut Vec<String>,
) -> Result<Nic, LoadError> {
    let interface: NetworkInterfaceJson = file.parse_raw(element)?;
    let owner = format!("network interface {:?}", interface.network_interface_id);
    let mut ip_configs = Vec::new();
    for private in interface.private_ip_addresses.unwrap_or_default() {
        ip_configs.push(aws_mapping::ipv4_config(
            Field::new("PrivateIpAddress", Family::V4, &owner).optional_address(
                file,
                private.private_ip_address,
                warnings,
            )?,
            Field::new("PublicIp", Family::V4, &owner).optional_address(
                file,
                private.association.and_then(|a| a.public_ip),
                warnings,
            )?,
        ));
    }
    for ipv6 in interface.ipv6_addresses.unwrap_or_default() {
        let address = Field::new("Ipv6Address", Family::V6, &owner).address(
            file,
            ipv6.ipv6_address,
            warnings,
        )?;
        ip_configs.push(aws_mapping::ipv6_config(address));
    }
    Ok(aws_mapping::interface(
        interface.network_interface_id,
        instance_id,
        interface.subnet_id,
        groups(interface.groups),
        ip_configs,
        origin(file, element),
    ))
}

/// The interface of an instance whose output has no `NetworkInterfaces` array.
fn instance_level_nic<'a>(
    file: &JsonFile<'a>,
    element: &'a RawValue,
    instance: &Instance<'a>,
    owner: &str,
    warnings: &mut Vec<String>,
) -> Result<Nic, LoadError> {
    Ok(aws_mapping::instance_level_interface(
        &instance.instance_id,
        instance.subnet_id.clone(),
        instance
            .security_groups
            .iter()
            .flatten()
            .map(|g| g.group_id.clone())
            .collect(),
        Field::new("PrivateIpAddress", Family::V4, owner).optional_address(
            file,
            instance.private_ip_address,
            warnings,
        )?,
        Field::new("PublicIpAddress", Family::V4, owner).optional_address(
            file,
            instance.public_ip_address,
            warnings,
        )?,
        origin(file, element),
    ))
}

fn groups(refs: Option<Vec<GroupRef>>) -> Vec<String> {
    refs.unwrap_or_default()
        .into_iter()
        .map(|g| g.group_id)
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SecurityGroupJson<'a> {
    group_id: String,
    group_name: Option<String>,
    vpc_id: Option<String>,
    #[serde(borrow)]
    ip_permissions: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PermissionJson<'a> {
    #[serde(borrow)]
    ip_protocol: &'a RawValue,
    #[serde(borrow)]
    from_port: Option<&'a RawValue>,
    #[serde(borrow)]
    to_port: Option<&'a RawValue>,
    #[serde(borrow)]
    ip_ranges: Option<Vec<IpRangeJson<'a>>>,
    #[serde(borrow)]
    ipv6_ranges: Option<Vec<Ipv6RangeJson<'a>>>,
    prefix_list_ids: Option<Vec<PrefixListRef>>,
    user_id_group_pairs: Option<Vec<GroupPair>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IpRangeJson<'a> {
    #[serde(borrow)]
    cidr_ip: &'a RawValue,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Ipv6RangeJson<'a> {
    #[serde(borrow)]
    cidr_ipv6: &'a RawValue,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PrefixListRef {
    prefix_list_id: String,
    description: Option<String>,
}

/// A security group source; `GroupName` stands in for `GroupId` in old (EC2-Classic) output.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GroupPair {
    group_id: Option<String>,
    group_name: Option<String>,
    description: Option<String>,
}

fn security_group<'a>(
    file: &JsonFile<'a>,
    element: &'a RawValue,
    warnings: &mut Vec<String>,
) -> Result<SecurityGroup, LoadError> {
    let group: SecurityGroupJson = file.parse_raw(element)?;
    let owner = format!("security group {:?}", group.group_id);
    let inbound = group
        .ip_permissions
        .unwrap_or_default()
        .into_iter()
        .map(|permission| sg_permission(file, permission, &owner, warnings))
        .collect::<Result<_, _>>()?;
    Ok(SecurityGroup {
        id: group.group_id,
        name: group.group_name.unwrap_or_default(),
        vpc_id: group.vpc_id,
        inbound,
        origin: origin(file, element),
    })
}

fn sg_permission<'a>(
    file: &JsonFile<'a>,
    element: &'a RawValue,
    owner: &str,
    warnings: &mut Vec<String>,
) -> Result<SgPermission, LoadError> {
    let permission: PermissionJson = file.parse_raw(element)?;
    let protocol: Protocol =
        file.parse_field(permission.ip_protocol, "IpProtocol", owner, str::parse)?;
    let ports = port_range(
        file,
        protocol,
        (permission.from_port, "FromPort"),
        (permission.to_port, "ToPort"),
        owner,
    )?;
    let mut sources = Vec::new();
    for range in permission.ip_ranges.unwrap_or_default() {
        let cidr = Field::new("CidrIp", Family::V4, owner).cidr(file, range.cidr_ip, warnings)?;
        sources.push(SgSource {
            kind: SgSourceKind::Cidr(cidr),
            description: range.description,
            rule_id: None,
        });
    }
    for range in permission.ipv6_ranges.unwrap_or_default() {
        let cidr =
            Field::new("CidrIpv6", Family::V6, owner).cidr(file, range.cidr_ipv6, warnings)?;
        sources.push(SgSource {
            kind: SgSourceKind::Cidr(cidr),
            description: range.description,
            rule_id: None,
        });
    }
    for list in permission.prefix_list_ids.unwrap_or_default() {
        sources.push(SgSource {
            kind: SgSourceKind::PrefixList(list.prefix_list_id),
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
        origin: origin(file, element),
    })
}

/// The ports of a security group permission or network ACL entry ([`aws_mapping::port_range`]),
/// with errors at the bad number.
fn port_range<'a>(
    file: &JsonFile<'a>,
    protocol: Protocol,
    (from, from_name): (Option<&'a RawValue>, &str),
    (to, to_name): (Option<&'a RawValue>, &str),
    owner: &str,
) -> Result<Option<PortRange>, LoadError> {
    let number = |raw: Option<&'a RawValue>| raw.map(|raw| file.parse_raw::<i64>(raw)).transpose();
    aws_mapping::port_range(protocol, number(from)?, number(to)?).map_err(|err| {
        let at = match err {
            PortError::NotAPort {
                end: PortEnd::To, ..
            } => to,
            _ => from,
        };
        file.error_at(
            at.map_or(file.text(), RawValue::get),
            err.message((from_name, to_name), owner),
        )
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NetworkAclJson<'a> {
    network_acl_id: String,
    vpc_id: Option<String>,
    is_default: Option<bool>,
    associations: Option<Vec<SubnetAssociation>>,
    #[serde(borrow)]
    entries: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SubnetAssociation {
    subnet_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AclEntryJson<'a> {
    rule_number: u32,
    egress: bool,
    #[serde(borrow)]
    rule_action: &'a RawValue,
    #[serde(borrow)]
    protocol: &'a RawValue,
    #[serde(borrow)]
    cidr_block: Option<&'a RawValue>,
    #[serde(borrow)]
    ipv6_cidr_block: Option<&'a RawValue>,
    #[serde(borrow)]
    port_range: Option<AclPortRange<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AclPortRange<'a> {
    #[serde(borrow)]
    from: Option<&'a RawValue>,
    #[serde(borrow)]
    to: Option<&'a RawValue>,
}

fn network_acl<'a>(
    file: &JsonFile<'a>,
    element: &'a RawValue,
    warnings: &mut Vec<String>,
) -> Result<NetworkAcl, LoadError> {
    let acl: NetworkAclJson = file.parse_raw(element)?;
    let mut entries = Vec::new();
    for entry_element in acl.entries.unwrap_or_default() {
        let entry: AclEntryJson = file.parse_raw(entry_element)?;
        let owner = format!(
            "entry {} of network ACL {:?}",
            entry.rule_number, acl.network_acl_id
        );
        let access = file.parse_field(
            entry.rule_action,
            "RuleAction",
            &owner,
            aws_mapping::nacl_access,
        )?;
        let protocol: Protocol =
            file.parse_field(entry.protocol, "Protocol", &owner, str::parse)?;
        let cidr: IpNetwork = match (entry.cidr_block, entry.ipv6_cidr_block) {
            (Some(raw), _) => {
                Field::new("CidrBlock", Family::V4, &owner).cidr(file, raw, warnings)?
            }
            (None, Some(raw)) => {
                Field::new("Ipv6CidrBlock", Family::V6, &owner).cidr(file, raw, warnings)?
            }
            (None, None) => {
                return Err(file.error_at(
                    entry_element.get(),
                    format!("{owner} has neither CidrBlock nor Ipv6CidrBlock"),
                ));
            }
        };
        let (from, to) = entry
            .port_range
            .map_or((None, None), |range| (range.from, range.to));
        entries.push(NaclEntry {
            rule_number: entry.rule_number,
            egress: entry.egress,
            access,
            protocol,
            cidr,
            ports: port_range(
                file,
                protocol,
                (from, "PortRange.From"),
                (to, "PortRange.To"),
                &owner,
            )?,
            origin: origin(file, entry_element),
        });
    }
    Ok(NetworkAcl {
        id: acl.network_acl_id,
        vpc_id: acl.vpc_id,
        is_default: acl.is_default.unwrap_or(false),
        subnet_ids: acl
            .associations
            .unwrap_or_default()
            .into_iter()
            .filter_map(|a| a.subnet_id)
            .collect(),
        entries,
        origin: origin(file, element),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RouteTableJson<'a> {
    route_table_id: String,
    vpc_id: Option<String>,
    associations: Option<Vec<RouteTableAssociation>>,
    #[serde(borrow)]
    routes: Option<Vec<RouteJson<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RouteTableAssociation {
    main: Option<bool>,
    subnet_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RouteJson<'a> {
    #[serde(borrow)]
    destination_cidr_block: Option<&'a RawValue>,
    #[serde(borrow)]
    destination_ipv6_cidr_block: Option<&'a RawValue>,
    gateway_id: Option<String>,
    nat_gateway_id: Option<String>,
    transit_gateway_id: Option<String>,
    vpc_peering_connection_id: Option<String>,
    network_interface_id: Option<String>,
    egress_only_internet_gateway_id: Option<String>,
    instance_id: Option<String>,
    carrier_gateway_id: Option<String>,
    local_gateway_id: Option<String>,
    state: Option<String>,
}

fn route_table<'a>(
    file: &JsonFile<'a>,
    table: RouteTableJson<'a>,
    warnings: &mut Vec<String>,
) -> Result<RouteTable, LoadError> {
    let owner = format!("route table {:?}", table.route_table_id);
    let mut routes = Vec::new();
    for route in table.routes.unwrap_or_default() {
        // Routes to a prefix list have no CIDR destination; they never carry the default route
        // that makes a subnet internet-facing.
        let destination: IpNetwork = match (
            route.destination_cidr_block,
            route.destination_ipv6_cidr_block,
        ) {
            (Some(raw), _) => {
                Field::new("DestinationCidrBlock", Family::V4, &owner).cidr(file, raw, warnings)?
            }
            (None, Some(raw)) => Field::new("DestinationIpv6CidrBlock", Family::V6, &owner)
                .cidr(file, raw, warnings)?,
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
            route.state.as_deref(),
        ));
    }
    let associations = table
        .associations
        .unwrap_or_default()
        .into_iter()
        .map(|a| aws_mapping::RouteTableAssociation {
            main: a.main,
            subnet_id: a.subnet_id,
        })
        .collect();
    Ok(aws_mapping::route_table(
        table.route_table_id,
        table.vpc_id,
        associations,
        routes,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SubnetJson<'a> {
    subnet_id: String,
    vpc_id: Option<String>,
    #[serde(borrow)]
    cidr_block: Option<&'a RawValue>,
    #[serde(borrow)]
    ipv6_cidr_block_association_set: Option<Vec<Ipv6BlockJson<'a>>>,
    tags: Option<Vec<Tag>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Ipv6BlockJson<'a> {
    #[serde(borrow)]
    ipv6_cidr_block: &'a RawValue,
}

fn subnet<'a>(file: &JsonFile<'a>, subnet: SubnetJson<'a>) -> Result<Subnet, LoadError> {
    let owner = format!("subnet {:?}", subnet.subnet_id);
    let mut cidrs = Vec::new();
    if let Some(raw) = subnet.cidr_block {
        cidrs.push(file.parse_field(raw, "CidrBlock", &owner, str::parse)?);
    }
    for block in subnet.ipv6_cidr_block_association_set.unwrap_or_default() {
        cidrs.push(file.parse_field(block.ipv6_cidr_block, "Ipv6CidrBlock", &owner, str::parse)?);
    }
    Ok(aws_mapping::subnet(
        subnet.subnet_id,
        subnet.vpc_id,
        tag_map(subnet.tags),
        cidrs,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PrefixListJson {
    prefix_list_id: String,
    prefix_list_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PrefixListEntryJson<'a> {
    #[serde(borrow)]
    cidr: &'a RawValue,
}

/// A prefix list's entries. get-managed-prefix-list-entries prints only `Entries`, so the list's
/// id comes from `PrefixListId` when the file has one, else from the file's name.
fn prefix_list_entries<'a>(
    file: &JsonFile<'a>,
    entries: &'a RawValue,
    id: Option<&'a RawValue>,
) -> Result<PrefixList, LoadError> {
    let id = match id {
        Some(raw) => file.parse_raw::<String>(raw)?,
        None => prefix_list_id_in_name(file.label()).ok_or_else(|| {
            file.error_at(
                entries.get(),
                "prefix list entries without a \"PrefixListId\"; add it to the file, or name the \
                 file after the list (prefix-list-entries-pl-0123abcd.json)"
                    .to_string(),
            )
        })?,
    };
    let owner = format!("prefix list {id:?}");
    let entries: Vec<PrefixListEntryJson> = file.parse_raw(entries)?;
    let cidrs = entries
        .into_iter()
        .map(|entry| file.parse_field(entry.cidr, "Cidr", &owner, str::parse))
        .collect::<Result<_, _>>()?;
    Ok(PrefixList {
        id,
        name: String::new(),
        entries: Some(cidrs),
    })
}

/// `pl-0123abcd` from a path like `exports/prefix-list-entries-pl-0123abcd.json`.
fn prefix_list_id_in_name(label: &str) -> Option<String> {
    let name = label.rsplit(['/', '\\']).next()?;
    name.match_indices("pl-").find_map(|(start, _)| {
        let digits: String = name
            .get(start + 3..)?
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        (!digits.is_empty()).then(|| format!("pl-{digits}"))
    })
}

#[cfg(test)]
mod tests;
