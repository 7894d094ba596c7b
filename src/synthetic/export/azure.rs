//! Azure resources as ARM REST list pages: one file per page of up to 1,000 resources of one type.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::iter::Peekable;
use std::net::IpAddr;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::{Layout, write_list};
use crate::addrset::Family;
use crate::model::{AppSecurityGroup, Nic, Nsg, NsgRule, Provider, PublicIp, Snapshot, Subnet, Vm};
use crate::synthetic::network;

/// Resources per list page, as ARM returns them.
const PAGE: usize = 1000;

pub(super) fn write(snapshot: &Snapshot, dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let azure = |provider: Provider| provider == Provider::Azure;
    pages(
        dir,
        "virtual-machines",
        snapshot.vms.iter().filter(|v| azure(v.provider)).map(vm),
    )?;
    pages(
        dir,
        "network-interfaces",
        snapshot.nics.iter().filter(|n| azure(n.provider)).map(nic),
    )?;
    pages(
        dir,
        "network-security-groups",
        snapshot.nsgs.iter().map(nsg),
    )?;
    pages(
        dir,
        "public-ip-addresses",
        snapshot.public_ips.iter().map(public_ip),
    )?;
    pages(
        dir,
        "application-security-groups",
        snapshot.app_security_groups.iter().map(asg),
    )?;
    let subnets: Vec<&Subnet> = snapshot
        .subnets
        .iter()
        .filter(|s| azure(s.provider))
        .collect();
    pages(
        dir,
        "virtual-networks",
        virtual_networks(&subnets).into_iter(),
    )
}

/// Writes `resources` as `{name}-0001.json`, `{name}-0002.json`, ….
fn pages(dir: &Path, name: &str, resources: impl Iterator<Item = Value>) -> io::Result<()> {
    let mut resources: Peekable<_> = resources.peekable();
    let mut page = 1;
    while resources.peek().is_some() {
        let path = dir.join(format!("{name}-{page:04}.json"));
        write_list(
            &path,
            "value",
            resources.by_ref().take(PAGE),
            Layout::Compact,
        )?;
        page += 1;
    }
    Ok(())
}

fn id_ref(id: &str) -> Value {
    json!({ "id": id })
}

fn vm(vm: &Vm) -> Value {
    let mut properties = json!({
        "hardwareProfile": { "vmSize": "Standard_D2s_v5" },
        "storageProfile": {
            "osDisk": {
                "osType": "Linux",
                "name": format!("{}_OsDisk_1", vm.name),
                "createOption": "FromImage",
                "managedDisk": { "storageAccountType": "Premium_LRS" }
            }
        },
        "osProfile": { "computerName": vm.name, "adminUsername": "azureuser" },
        "networkProfile": {
            "networkInterfaces": vm.nic_ids.iter().enumerate().map(|(i, id)| json!({
                "id": id,
                "properties": { "primary": i == 0 }
            })).collect::<Vec<_>>()
        },
        "provisioningState": "Succeeded"
    });
    if let Some(state) = &vm.power_state {
        properties["instanceView"] = json!({
            "statuses": [
                { "code": "ProvisioningState/succeeded" },
                { "code": format!("PowerState/{state}") }
            ]
        });
    }
    resource(
        &vm.id,
        &vm.name,
        "Microsoft.Compute/virtualMachines",
        vm.region.as_deref(),
        &vm.tags,
        properties,
    )
}

/// An ARM resource: its header and `properties`.
fn resource(
    id: &str,
    name: &str,
    resource_type: &str,
    location: Option<&str>,
    tags: &BTreeMap<String, String>,
    properties: Value,
) -> Value {
    let mut object = Map::new();
    object.insert("name".into(), name.into());
    object.insert("id".into(), id.into());
    object.insert("type".into(), resource_type.into());
    if let Some(location) = location {
        object.insert("location".into(), location.into());
    }
    if !tags.is_empty() {
        object.insert("tags".into(), json!(tags));
    }
    object.insert("properties".into(), properties);
    Value::Object(object)
}

fn nic(nic: &Nic) -> Value {
    let configurations: Vec<Value> = nic
        .ip_configs
        .iter()
        .enumerate()
        .map(|(i, config)| {
            let name = config.name.clone().unwrap_or_default();
            let mut properties = json!({
                "privateIPAllocationMethod": "Dynamic",
                "primary": i == 0,
                "provisioningState": "Succeeded"
            });
            if let Some(address) = config.private_ip {
                properties["privateIPAddress"] = address.to_string().into();
                properties["privateIPAddressVersion"] = match address {
                    IpAddr::V4(_) => "IPv4",
                    IpAddr::V6(_) => "IPv6",
                }
                .into();
            }
            if let Some(subnet) = &nic.subnet_id {
                properties["subnet"] = id_ref(subnet);
            }
            if let Some(public_ip) = &config.public_ip_id {
                properties["publicIPAddress"] = id_ref(public_ip);
            }
            if !config.app_security_group_ids.is_empty() {
                properties["applicationSecurityGroups"] = config
                    .app_security_group_ids
                    .iter()
                    .map(|id| id_ref(id))
                    .collect();
            }
            json!({
                "name": name,
                "id": format!("{}/ipConfigurations/{name}", nic.id),
                "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
                "properties": properties
            })
        })
        .collect();
    let mut properties = json!({
        "ipConfigurations": configurations,
        "enableAcceleratedNetworking": true,
        "enableIPForwarding": false,
        "provisioningState": "Succeeded"
    });
    if let Some(nsg) = &nic.nsg_id {
        properties["networkSecurityGroup"] = id_ref(nsg);
    }
    if let Some(vm) = &nic.vm_id {
        properties["virtualMachine"] = id_ref(vm);
    }
    resource(
        &nic.id,
        &nic.name,
        "Microsoft.Network/networkInterfaces",
        None,
        &BTreeMap::new(),
        properties,
    )
}

fn nsg(nsg: &Nsg) -> Value {
    let rules = |rules: &[NsgRule], kind: &str| -> Vec<Value> {
        rules.iter().map(|r| nsg_rule(&nsg.id, kind, r)).collect()
    };
    resource(
        &nsg.id,
        &nsg.name,
        "Microsoft.Network/networkSecurityGroups",
        nsg.region.as_deref(),
        &BTreeMap::new(),
        json!({
            "securityRules": rules(&nsg.rules, "securityRules"),
            "defaultSecurityRules": rules(&nsg.default_rules, "defaultSecurityRules"),
            "provisioningState": "Succeeded"
        }),
    )
}

fn nsg_rule(nsg_id: &str, kind: &str, rule: &NsgRule) -> Value {
    let mut properties = crate::azure_rule::properties(rule);
    properties.insert("provisioningState".to_string(), "Succeeded".into());
    json!({
        "name": rule.name,
        "id": format!("{nsg_id}/{kind}/{}", rule.name),
        "type": format!("Microsoft.Network/networkSecurityGroups/{kind}"),
        "properties": properties
    })
}

fn public_ip(ip: &PublicIp) -> Value {
    let mut properties = json!({
        "publicIPAddressVersion": match ip.family {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        },
        "publicIPAllocationMethod": if ip.address.is_some() { "Static" } else { "Dynamic" },
        "idleTimeoutInMinutes": 4,
        "provisioningState": "Succeeded"
    });
    if let Some(address) = ip.address {
        properties["ipAddress"] = address.to_string().into();
    }
    let mut value = resource(
        &ip.id,
        &ip.name,
        "Microsoft.Network/publicIPAddresses",
        None,
        &BTreeMap::new(),
        properties,
    );
    value["sku"] = json!({ "name": "Standard", "tier": "Regional" });
    value
}

fn asg(asg: &AppSecurityGroup) -> Value {
    resource(
        &asg.id,
        &asg.name,
        "Microsoft.Network/applicationSecurityGroups",
        None,
        &BTreeMap::new(),
        json!({ "provisioningState": "Succeeded" }),
    )
}

/// Virtual networks with their subnets embedded, as ARM lists them; subnets of no known network
/// are listed as subnet resources of their own.
fn virtual_networks(subnets: &[&Subnet]) -> Vec<Value> {
    let mut networks: Vec<(&str, Vec<&Subnet>)> = Vec::new();
    let mut alone = Vec::new();
    for &subnet in subnets {
        match subnet.network_id.as_deref() {
            Some(id) => match networks.iter_mut().rev().find(|(n, _)| *n == id) {
                Some((_, members)) => members.push(subnet),
                None => networks.push((id, vec![subnet])),
            },
            None => alone.push(subnet_resource(subnet)),
        }
    }
    let mut out: Vec<Value> = networks
        .into_iter()
        .map(|(id, members)| {
            // The /16 (IPv4) or /48 (IPv6) blocks the subnets are carved from.
            let spaces: BTreeSet<String> = members
                .iter()
                .flat_map(|s| &s.cidrs)
                .map(|cidr| {
                    let length = if cidr.is_ipv4() { 16 } else { 48 };
                    network(cidr.ip(), length.min(cidr.prefix())).to_string()
                })
                .collect();
            let name = id.rsplit('/').next().unwrap_or(id);
            resource(
                id,
                name,
                "Microsoft.Network/virtualNetworks",
                None,
                &BTreeMap::new(),
                json!({
                    "addressSpace": { "addressPrefixes": spaces },
                    "subnets": members.iter().map(|s| subnet_resource(s)).collect::<Vec<_>>(),
                    "provisioningState": "Succeeded"
                }),
            )
        })
        .collect();
    out.extend(alone);
    out
}

fn subnet_resource(subnet: &Subnet) -> Value {
    let cidrs: Vec<String> = subnet.cidrs.iter().map(ToString::to_string).collect();
    let mut properties = match cidrs.as_slice() {
        [single] => json!({ "addressPrefix": single }),
        _ => json!({ "addressPrefixes": cidrs }),
    };
    if let Some(nsg) = &subnet.nsg_id {
        properties["networkSecurityGroup"] = id_ref(nsg);
    }
    properties["provisioningState"] = "Succeeded".into();
    resource(
        &subnet.id,
        &subnet.name,
        "Microsoft.Network/virtualNetworks/subnets",
        None,
        &BTreeMap::new(),
        properties,
    )
}
