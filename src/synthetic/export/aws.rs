//! AWS resources as AWS CLI output: one file per `describe-*` command over the whole estate, and
//! one `get-managed-prefix-list-entries` file per prefix list whose entries are known.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::Path;

use ipnetwork::IpNetwork;
use serde_json::{Value, json};

use super::{Layout, write_list};
use crate::model::{
    Access, NaclEntry, NetworkAcl, Nic, PrefixList, Protocol, Provider, Route, RouteTable,
    SecurityGroup, SgPermission, SgSourceKind, Snapshot, Subnet, Vm,
};

/// Instances per reservation (instances launched together).
const RESERVATION: usize = 4;

pub(super) fn write(snapshot: &Snapshot, dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let nics: HashMap<&str, &Nic> = snapshot
        .nics
        .iter()
        .filter(|n| n.provider == Provider::Aws)
        .map(|n| (n.id.as_str(), n))
        .collect();
    let group_names: HashMap<&str, &str> = snapshot
        .security_groups
        .iter()
        .map(|g| (g.id.as_str(), g.name.as_str()))
        .collect();
    let instances: Vec<&Vm> = snapshot
        .vms
        .iter()
        .filter(|v| v.provider == Provider::Aws)
        .collect();
    let reservations = instances
        .chunk_by(|a, b| a.scope == b.scope)
        .flat_map(|same_account| same_account.chunks(RESERVATION))
        .enumerate()
        .map(|(number, vms)| {
            let instances: Vec<Value> = vms
                .iter()
                .map(|vm| instance(vm, &nics, &group_names))
                .collect();
            json!({
                "Groups": [],
                "Instances": instances,
                "OwnerId": vms[0].scope,
                "ReservationId": format!("r-{number:017x}")
            })
        });
    let file = |name: &str| dir.join(format!("{name}.json"));
    write_list(
        &file("describe-instances"),
        "Reservations",
        reservations,
        Layout::Pretty,
    )?;
    write_list(
        &file("describe-security-groups"),
        "SecurityGroups",
        snapshot.security_groups.iter().map(security_group),
        Layout::Pretty,
    )?;
    write_list(
        &file("describe-network-acls"),
        "NetworkAcls",
        snapshot.network_acls.iter().map(network_acl),
        Layout::Pretty,
    )?;
    write_list(
        &file("describe-route-tables"),
        "RouteTables",
        snapshot.route_tables.iter().map(route_table),
        Layout::Pretty,
    )?;
    write_list(
        &file("describe-subnets"),
        "Subnets",
        snapshot
            .subnets
            .iter()
            .filter(|s| s.provider == Provider::Aws)
            .map(subnet),
        Layout::Pretty,
    )?;
    write_list(
        &file("describe-managed-prefix-lists"),
        "PrefixLists",
        snapshot.prefix_lists.iter().map(prefix_list),
        Layout::Pretty,
    )?;
    for list in &snapshot.prefix_lists {
        if let Some(entries) = &list.entries {
            // get-managed-prefix-list-entries prints no id: the file's name carries it.
            write_list(
                &file(&format!("prefix-list-entries-{}", list.id)),
                "Entries",
                entries
                    .iter()
                    .map(|cidr| json!({ "Cidr": cidr.to_string() })),
                Layout::Pretty,
            )?;
        }
    }
    Ok(())
}

fn tags(tags: &BTreeMap<String, String>) -> Vec<Value> {
    tags.iter()
        .map(|(key, value)| json!({ "Key": key, "Value": value }))
        .collect()
}

fn group_refs(ids: &[String], names: &HashMap<&str, &str>) -> Vec<Value> {
    ids.iter()
        .map(|id| {
            let name = names.get(id.as_str()).copied().unwrap_or(id);
            json!({ "GroupId": id, "GroupName": name })
        })
        .collect()
}

fn instance(vm: &Vm, nics: &HashMap<&str, &Nic>, group_names: &HashMap<&str, &str>) -> Value {
    let interfaces: Vec<&Nic> = vm
        .nic_ids
        .iter()
        .filter_map(|id| nics.get(id.as_str()).copied())
        .collect();
    let primary = interfaces.first();
    let primary_v4 = primary.and_then(|n| {
        n.ip_configs
            .iter()
            .find(|c| c.private_ip.is_some_and(|a| a.is_ipv4()))
    });
    let state = vm.power_state.as_deref().unwrap_or("running");
    let mut value = json!({
        "AmiLaunchIndex": 0,
        "ImageId": "ami-0c7217cdde317cfec",
        "InstanceId": vm.id,
        "InstanceType": "t3.medium",
        "LaunchTime": "2025-01-15T09:30:00+00:00",
        "Monitoring": { "State": "disabled" },
        "State": { "Code": if state == "running" { 16 } else { 80 }, "Name": state },
        "Architecture": "x86_64",
        "RootDeviceType": "ebs",
        "NetworkInterfaces": interfaces
            .iter()
            .enumerate()
            .map(|(i, nic)| interface(nic, i, group_names))
            .collect::<Vec<_>>(),
        "SecurityGroups": group_refs(
            primary.map_or(&[][..], |n| &n.security_group_ids),
            group_names
        ),
        "Tags": tags(&vm.tags)
    });
    if let Some(region) = &vm.region {
        value["Placement"] =
            json!({ "AvailabilityZone": format!("{region}a"), "Tenancy": "default" });
    }
    if let Some(subnet) = primary.and_then(|n| n.subnet_id.as_deref()) {
        value["SubnetId"] = subnet.into();
    }
    if let Some(address) = primary_v4.and_then(|c| c.private_ip) {
        value["PrivateIpAddress"] = address.to_string().into();
    }
    if let Some(address) = primary_v4.and_then(|c| c.public_ip) {
        value["PublicIpAddress"] = address.to_string().into();
    }
    value
}

fn interface(nic: &Nic, index: usize, group_names: &HashMap<&str, &str>) -> Value {
    // A global IPv6 address is both the private and the public address of its configuration.
    let (v6, v4): (Vec<_>, Vec<_>) = nic
        .ip_configs
        .iter()
        .partition(|c| c.private_ip.is_some() && c.private_ip == c.public_ip);
    let private_addresses: Vec<Value> = v4
        .iter()
        .enumerate()
        .map(|(i, config)| {
            let mut address = json!({ "Primary": i == 0 });
            if let Some(private) = config.private_ip {
                address["PrivateIpAddress"] = private.to_string().into();
            }
            if let Some(public) = config.public_ip {
                address["Association"] =
                    json!({ "IpOwnerId": "amazon", "PublicIp": public.to_string() });
            }
            address
        })
        .collect();
    let mut value = json!({
        "Attachment": { "DeviceIndex": index, "Status": "attached" },
        "Groups": group_refs(&nic.security_group_ids, group_names),
        "Ipv6Addresses": v6
            .iter()
            .filter_map(|c| c.public_ip)
            .map(|a| json!({ "Ipv6Address": a.to_string() }))
            .collect::<Vec<_>>(),
        "NetworkInterfaceId": nic.id,
        "PrivateIpAddresses": private_addresses,
        "SourceDestCheck": true,
        "Status": "in-use"
    });
    if let Some(subnet) = &nic.subnet_id {
        value["SubnetId"] = subnet.as_str().into();
    }
    value
}

/// A protocol as the AWS CLI prints it in security groups.
fn protocol(protocol: Protocol) -> String {
    match protocol {
        Protocol::Any => "-1".to_string(),
        other => other.to_string(),
    }
}

/// A protocol as network ACL entries print it: a number, or -1.
fn protocol_number(protocol: Protocol) -> String {
    match protocol {
        Protocol::Any => "-1".to_string(),
        Protocol::Number(n) => n.to_string(),
    }
}

fn security_group(group: &SecurityGroup) -> Value {
    let mut value = json!({
        "Description": format!("{} created by the platform team", group.name),
        "GroupName": group.name,
        "IpPermissions": group.inbound.iter().map(permission).collect::<Vec<_>>(),
        "GroupId": group.id,
        "IpPermissionsEgress": [{
            "IpProtocol": "-1",
            "IpRanges": [{ "CidrIp": "0.0.0.0/0" }],
            "Ipv6Ranges": [],
            "PrefixListIds": [],
            "UserIdGroupPairs": []
        }]
    });
    if let Some(vpc) = &group.vpc_id {
        value["VpcId"] = vpc.as_str().into();
    }
    value
}

fn permission(permission: &SgPermission) -> Value {
    let mut ip_ranges = Vec::new();
    let mut ipv6_ranges = Vec::new();
    let mut prefix_lists = Vec::new();
    let mut group_pairs = Vec::new();
    for source in &permission.sources {
        let (list, mut entry) = match &source.kind {
            SgSourceKind::Cidr(IpNetwork::V4(net)) => {
                (&mut ip_ranges, json!({ "CidrIp": net.to_string() }))
            }
            SgSourceKind::Cidr(IpNetwork::V6(net)) => {
                (&mut ipv6_ranges, json!({ "CidrIpv6": net.to_string() }))
            }
            SgSourceKind::PrefixList(id) => (&mut prefix_lists, json!({ "PrefixListId": id })),
            SgSourceKind::Group(id) => (
                &mut group_pairs,
                json!({ "GroupId": id, "UserId": "210987654321" }),
            ),
        };
        if let Some(description) = &source.description {
            entry["Description"] = description.as_str().into();
        }
        list.push(entry);
    }
    let mut value = json!({
        "IpProtocol": protocol(permission.protocol),
        "IpRanges": ip_ranges,
        "Ipv6Ranges": ipv6_ranges,
        "PrefixListIds": prefix_lists,
        "UserIdGroupPairs": group_pairs
    });
    match (permission.ports, permission.protocol) {
        (Some(range), _) => {
            value["FromPort"] = range.first.into();
            value["ToPort"] = range.last.into();
        }
        // ICMP: every type and code.
        (None, Protocol::Number(_)) => {
            value["FromPort"] = (-1).into();
            value["ToPort"] = (-1).into();
        }
        (None, Protocol::Any) => {}
    }
    value
}

fn network_acl(acl: &NetworkAcl) -> Value {
    let mut value = json!({
        "Associations": acl.subnet_ids.iter().enumerate().map(|(i, subnet)| json!({
            "NetworkAclAssociationId": format!("aclassoc-{i:08x}"),
            "NetworkAclId": acl.id,
            "SubnetId": subnet
        })).collect::<Vec<_>>(),
        "Entries": acl.entries.iter().map(acl_entry).collect::<Vec<_>>(),
        "IsDefault": acl.is_default,
        "NetworkAclId": acl.id,
        "Tags": []
    });
    if let Some(vpc) = &acl.vpc_id {
        value["VpcId"] = vpc.as_str().into();
    }
    value
}

fn acl_entry(entry: &NaclEntry) -> Value {
    let mut value = json!({
        "Egress": entry.egress,
        "Protocol": protocol_number(entry.protocol),
        "RuleAction": match entry.access {
            Access::Allow => "allow",
            Access::Deny => "deny",
        },
        "RuleNumber": entry.rule_number
    });
    match entry.cidr {
        IpNetwork::V4(net) => value["CidrBlock"] = net.to_string().into(),
        IpNetwork::V6(net) => value["Ipv6CidrBlock"] = net.to_string().into(),
    }
    if let Some(range) = entry.ports {
        value["PortRange"] = json!({ "From": range.first, "To": range.last });
    }
    value
}

fn route_table(table: &RouteTable) -> Value {
    let main = table.main.then(|| {
        json!({
            "Main": true,
            "RouteTableAssociationId": format!("rtbassoc-main-{}", table.id),
            "RouteTableId": table.id,
            "AssociationState": { "State": "associated" }
        })
    });
    let explicit = table.subnet_ids.iter().map(|subnet| {
        json!({
            "Main": false,
            "RouteTableAssociationId": format!("rtbassoc-{subnet}"),
            "RouteTableId": table.id,
            "SubnetId": subnet,
            "AssociationState": { "State": "associated" }
        })
    });
    let mut value = json!({
        "Associations": main.into_iter().chain(explicit).collect::<Vec<_>>(),
        "PropagatingVgws": [],
        "RouteTableId": table.id,
        "Routes": table.routes.iter().map(route).collect::<Vec<_>>(),
        "Tags": []
    });
    if let Some(vpc) = &table.vpc_id {
        value["VpcId"] = vpc.as_str().into();
    }
    value
}

/// The field of a route that names its target, by the target id's prefix.
fn target_field(target: &str) -> &'static str {
    [
        ("nat-", "NatGatewayId"),
        ("eigw-", "EgressOnlyInternetGatewayId"),
        ("tgw-", "TransitGatewayId"),
        ("pcx-", "VpcPeeringConnectionId"),
        ("eni-", "NetworkInterfaceId"),
        ("i-", "InstanceId"),
        ("cagw-", "CarrierGatewayId"),
        ("lgw-", "LocalGatewayId"),
    ]
    .into_iter()
    .find_map(|(prefix, field)| target.starts_with(prefix).then_some(field))
    .unwrap_or("GatewayId")
}

fn route(route: &Route) -> Value {
    let mut value = json!({
        "Origin": if route.target == "local" { "CreateRouteTable" } else { "CreateRoute" },
        "State": if route.active { "active" } else { "blackhole" }
    });
    match route.destination {
        IpNetwork::V4(net) => value["DestinationCidrBlock"] = net.to_string().into(),
        IpNetwork::V6(net) => value["DestinationIpv6CidrBlock"] = net.to_string().into(),
    }
    value[target_field(&route.target)] = route.target.as_str().into();
    value
}

fn subnet(subnet: &Subnet) -> Value {
    let v4 = subnet.cidrs.iter().find(|c| c.is_ipv4());
    let v6: Vec<Value> = subnet
        .cidrs
        .iter()
        .filter(|c| c.is_ipv6())
        .enumerate()
        .map(|(i, cidr)| {
            json!({
                "AssociationId": format!("subnet-cidr-assoc-{i:08x}"),
                "Ipv6CidrBlock": cidr.to_string(),
                "Ipv6CidrBlockState": { "State": "associated" }
            })
        })
        .collect();
    let mut value = json!({
        "AvailableIpAddressCount": 251,
        "DefaultForAz": false,
        "MapPublicIpOnLaunch": false,
        "State": "available",
        "SubnetId": subnet.id,
        "Ipv6CidrBlockAssociationSet": v6
    });
    if let Some(cidr) = v4 {
        value["CidrBlock"] = cidr.to_string().into();
    }
    if let Some(vpc) = &subnet.network_id {
        value["VpcId"] = vpc.as_str().into();
    }
    if !subnet.name.is_empty() {
        value["Tags"] = json!([{ "Key": "Name", "Value": subnet.name }]);
    }
    value
}

fn prefix_list(list: &PrefixList) -> Value {
    json!({
        "PrefixListId": list.id,
        "AddressFamily": "IPv4",
        "State": "create-complete",
        "PrefixListArn": format!("arn:aws:ec2:us-east-1:210987654321:prefix-list/{}", list.id),
        "PrefixListName": list.name,
        "MaxEntries": list.entries.as_ref().map_or(50, Vec::len),
        "Version": 1
    })
}
