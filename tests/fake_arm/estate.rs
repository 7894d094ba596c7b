//! Generated Azure estates in Resource Manager's REST shape, with the verdicts each VM must get.
//!
//! Every VM follows one of [`PATTERNS`], in turn, so any estate size holds every pattern. Resources
//! look as Resource Manager lists them: etags, provisioning states, default NSG rules, instance
//! views with timestamps, and the odd id in another case, as Azure really writes them.

use serde_json::{Value, json};

/// The subscription-wide lists a collector reads, as `namespace/type` under `providers/`.
pub const LISTS: [&str; 7] = [
    "Microsoft.Compute/virtualMachines",
    "Microsoft.Network/networkInterfaces",
    "Microsoft.Network/publicIPAddresses",
    "Microsoft.Network/virtualNetworks",
    "Microsoft.Network/networkSecurityGroups",
    "Microsoft.Network/applicationSecurityGroups",
    "Microsoft.Security/jitNetworkAccessPolicies",
];

const ALL_MANAGEMENT_PORTS: &[&str] = &[
    "21/tcp", "22/tcp", "23/tcp", "389/tcp", "389/udp", "1433/tcp", "3389/tcp", "3389/udp",
    "5985/tcp", "5986/tcp",
];

/// How a VM is exposed, and the verdicts of `internet-facing-vm-nsg`, `management-ports-closed`
/// and `management-ports-jit` (H healthy, U unhealthy, N not applicable) with the open ports.
pub struct Pattern {
    pub name: &'static str,
    pub letters: &'static str,
    pub open: &'static [&'static str],
}

pub const PATTERNS: [Pattern; 8] = [
    Pattern {
        name: "SSH open to any source",
        letters: "HUU",
        open: &["22/tcp"],
    },
    Pattern {
        name: "no public IP",
        letters: "NNN",
        open: &[],
    },
    Pattern {
        name: "subnet NSG denies what the NIC NSG allows",
        letters: "HHH",
        open: &[],
    },
    Pattern {
        name: "only a Defender JIT grant",
        letters: "HHH",
        open: &[],
    },
    Pattern {
        name: "no NSG anywhere",
        letters: "UUN",
        open: ALL_MANAGEMENT_PORTS,
    },
    Pattern {
        name: "RDP to the application security group the NIC is in",
        letters: "HUU",
        open: &["3389/tcp"],
    },
    Pattern {
        name: "SSH from one address",
        letters: "HHU",
        open: &[],
    },
    Pattern {
        name: "deallocated, RDP from two halves of the internet",
        letters: "HUU",
        open: &["3389/tcp"],
    },
];

/// What a subscription answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Readable,
    /// 403 AuthorizationFailed on every list.
    Forbidden,
    /// Not registered for Microsoft.Security: 409 MissingSubscriptionRegistration on its list.
    WithoutSecurityProvider,
}

pub struct Subscription {
    pub id: String,
    pub access: Access,
    /// The resources of each of [`LISTS`], in that order.
    pub lists: Vec<Vec<Value>>,
    /// Each VM's id and pattern.
    pub vms: Vec<(String, &'static Pattern)>,
}

pub struct Estate {
    pub subscriptions: Vec<Subscription>,
}

impl Estate {
    /// `subscriptions` readable subscriptions of `vms` VMs each.
    pub fn generate(subscriptions: usize, vms: usize) -> Self {
        Estate {
            subscriptions: (0..subscriptions).map(|s| subscription(s, vms)).collect(),
        }
    }

    pub fn vm_count(&self) -> usize {
        self.subscriptions.iter().map(|s| s.vms.len()).sum()
    }
}

pub fn subscription_id(index: usize) -> String {
    format!("5a1e0000-0000-4000-8000-{:012x}", index + 1)
}

fn subscription(index: usize, vms: usize) -> Subscription {
    let sub = subscription_id(index);
    let network_rg = format!("/subscriptions/{sub}/resourceGroups/network/providers");
    let vnet_id = format!("{network_rg}/Microsoft.Network/virtualNetworks/vnet");
    let subnet_id = |name: &str| format!("{vnet_id}/subnets/{name}");
    let closed_nsg_id =
        format!("{network_rg}/Microsoft.Network/networkSecurityGroups/closed-subnet");
    let asg_id =
        |name: &str| format!("{network_rg}/Microsoft.Network/applicationSecurityGroups/{name}");

    let mut lists: Vec<Vec<Value>> = vec![Vec::new(); LISTS.len()];
    lists[3].push(resource(
        &vnet_id,
        "Microsoft.Network/virtualNetworks",
        json!({
            "provisioningState": "Succeeded",
            "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
            "subnets": [
                child(&subnet_id("open"), "Microsoft.Network/virtualNetworks/subnets",
                    json!({"addressPrefix": "10.0.0.0/17", "provisioningState": "Succeeded"})),
                child(&subnet_id("closed"), "Microsoft.Network/virtualNetworks/subnets",
                    json!({
                        "addressPrefix": "10.0.128.0/17",
                        "networkSecurityGroup": {"id": closed_nsg_id},
                        "provisioningState": "Succeeded",
                    })),
            ],
            "enableDdosProtection": false,
        }),
    ));
    lists[4].push(nsg(&closed_nsg_id, Vec::new()));
    for name in ["web", "db"] {
        lists[5].push(resource(
            &asg_id(name),
            "Microsoft.Network/applicationSecurityGroups",
            json!({"provisioningState": "Succeeded", "resourceGuid": guid(index, 0xa5)}),
        ));
    }

    let mut jit_vms = Vec::new();
    let mut vm_patterns = Vec::new();
    for i in 0..vms {
        let pattern_index = i % PATTERNS.len();
        let rg = format!(
            "/subscriptions/{sub}/resourceGroups/rg-{}/providers",
            i / 50
        );
        let vm_id = format!("{rg}/Microsoft.Compute/virtualMachines/vm-{i}");
        let nic_id = format!("{rg}/Microsoft.Network/networkInterfaces/vm-{i}-nic");
        let pip_id = format!("{rg}/Microsoft.Network/publicIPAddresses/vm-{i}-ip");
        let nsg_id = format!("{rg}/Microsoft.Network/networkSecurityGroups/vm-{i}-nsg");
        let in_closed_subnet = pattern_index == 2;
        let private_ip = format!(
            "10.0.{}.{}",
            (i / 250) + if in_closed_subnet { 128 } else { 0 },
            i % 250 + 4
        );
        let has_public_ip = pattern_index != 1;
        let rules = match pattern_index {
            0 | 2 => Some(vec![rule(100, "allow-ssh", "*", "22", json!({}))]),
            1 => Some(vec![rule(
                100,
                "allow-all",
                "*",
                "*",
                json!({"protocol": "*"}),
            )]),
            3 => Some(vec![rule(
                100,
                &format!("SecurityCenter-JITRule_{i}_7C3F0A"),
                "203.0.114.9",
                "22",
                json!({}),
            )]),
            4 => None,
            5 => Some(vec![rule(
                110,
                "allow-rdp-web",
                "*",
                "3389",
                json!({
                    "destinationAddressPrefix": null,
                    "destinationApplicationSecurityGroups": [{"id": asg_id("web")}],
                }),
            )]),
            6 => Some(vec![rule(
                100,
                "ssh-from-office",
                "203.0.114.9",
                "22",
                json!({}),
            )]),
            _ => Some(vec![rule(
                120,
                "rdp-halves",
                "",
                "3389",
                json!({
                    "sourceAddressPrefix": null,
                    "sourceAddressPrefixes": ["0.0.0.0/1", "128.0.0.0/1"],
                }),
            )]),
        };
        if let Some(rules) = rules {
            lists[4].push(nsg(&nsg_id, rules));
        }
        if has_public_ip {
            lists[2].push(resource(
                &pip_id,
                "Microsoft.Network/publicIPAddresses",
                json!({
                    "provisioningState": "Succeeded",
                    "ipAddress": format!("20.{}.{}.{}", index % 250, i / 250, i % 250 + 1),
                    "publicIPAddressVersion": "IPv4",
                    "publicIPAllocationMethod": "Static",
                    "idleTimeoutInMinutes": 4,
                    "ipConfiguration": {"id": format!("{nic_id}/ipConfigurations/ipconfig1")},
                }),
            ));
        }
        let mut ip_config = json!({
            "provisioningState": "Succeeded",
            "privateIPAddress": private_ip,
            "privateIPAllocationMethod": "Dynamic",
            "subnet": {"id": subnet_id(if in_closed_subnet { "closed" } else { "open" })},
            "primary": true,
            "privateIPAddressVersion": "IPv4",
        });
        if has_public_ip {
            ip_config["publicIPAddress"] = json!({"id": pip_id});
        }
        if pattern_index == 5 {
            ip_config["applicationSecurityGroups"] = json!([{"id": asg_id("web")}]);
        }
        let mut nic = json!({
            "provisioningState": "Succeeded",
            "ipConfigurations": [child(
                &format!("{nic_id}/ipConfigurations/ipconfig1"),
                "Microsoft.Network/networkInterfaces/ipConfigurations",
                ip_config,
            )],
            "macAddress": format!("00-0D-3A-{:02X}-{:02X}-{:02X}", index % 256, i / 256 % 256, i % 256),
            "enableAcceleratedNetworking": false,
            "enableIPForwarding": false,
            "primary": true,
            // Azure writes the resource group of a reference in capitals now and then.
            "virtualMachine": {"id": vm_id.replace(&format!("rg-{}", i / 50), &format!("RG-{}", i / 50))},
        });
        if rules_present(pattern_index) {
            nic["networkSecurityGroup"] = json!({"id": nsg_id});
        }
        lists[1].push(resource(
            &nic_id,
            "Microsoft.Network/networkInterfaces",
            nic,
        ));
        let power = if pattern_index == 7 {
            "deallocated"
        } else {
            "running"
        };
        let mut vm = resource(
            &vm_id,
            "Microsoft.Compute/virtualMachines",
            json!({
                "vmId": guid(index, i),
                "hardwareProfile": {"vmSize": "Standard_B2s"},
                "storageProfile": {
                    "osDisk": {
                        "osType": "Linux",
                        "name": format!("vm-{i}-osdisk"),
                        "createOption": "FromImage",
                        "caching": "ReadWrite",
                        "managedDisk": {"storageAccountType": "Premium_LRS"},
                        "diskSizeGB": 30,
                    },
                },
                "osProfile": {"computerName": format!("vm-{i}"), "adminUsername": "azureuser"},
                "networkProfile": {"networkInterfaces": [{"id": nic_id, "properties": {"primary": true}}]},
                "provisioningState": "Succeeded",
                "timeCreated": "2024-05-01T10:00:00.1234567+00:00",
                "instanceView": {"statuses": [
                    {
                        "code": "ProvisioningState/succeeded",
                        "level": "Info",
                        "displayStatus": "Provisioning succeeded",
                        "time": "2024-05-01T10:02:03.4567891+00:00",
                    },
                    {"code": format!("PowerState/{power}"), "level": "Info", "displayStatus": format!("VM {power}")},
                ]},
            }),
        );
        vm["tags"] = json!({"pattern": PATTERNS[pattern_index].name});
        lists[0].push(vm);
        if pattern_index == 3 {
            jit_vms.push(json!({
                "id": vm_id,
                "ports": [
                    {"number": 22, "protocol": "*", "allowedSourceAddressPrefix": "*", "maxRequestAccessDuration": "PT3H"},
                    {"number": 3389, "protocol": "*", "allowedSourceAddressPrefix": "*", "maxRequestAccessDuration": "PT3H"},
                ],
            }));
        }
        vm_patterns.push((vm_id, &PATTERNS[pattern_index]));
    }
    if !jit_vms.is_empty() {
        let mut policy = resource(
            &format!(
                "/subscriptions/{sub}/resourceGroups/network/providers/Microsoft.Security/locations/westeurope/jitNetworkAccessPolicies/default"
            ),
            "Microsoft.Security/locations/jitNetworkAccessPolicies",
            json!({"virtualMachines": jit_vms, "requests": [], "provisioningState": "Succeeded"}),
        );
        policy["kind"] = json!("Basic");
        lists[6].push(policy);
    }
    Subscription {
        id: sub,
        access: Access::Readable,
        lists,
        vms: vm_patterns,
    }
}

fn rules_present(pattern_index: usize) -> bool {
    pattern_index != 4
}

fn guid(a: usize, b: usize) -> String {
    format!("{a:08x}-{b:04x}-4000-8000-000000000000")
}

fn name_of(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

fn resource(id: &str, kind: &str, properties: Value) -> Value {
    json!({
        "id": id,
        "name": name_of(id),
        "type": kind,
        "location": "westeurope",
        "etag": "W/\"00000000-0000-0000-0000-000000000001\"",
        "properties": properties,
    })
}

fn child(id: &str, kind: &str, properties: Value) -> Value {
    json!({
        "id": id,
        "name": name_of(id),
        "type": kind,
        "etag": "W/\"00000000-0000-0000-0000-000000000001\"",
        "properties": properties,
    })
}

/// An inbound TCP allow from `source` to `port`; `extra` overrides or adds properties.
fn rule(priority: u32, name: &str, source: &str, port: &str, extra: Value) -> (String, Value) {
    let mut properties = json!({
        "provisioningState": "Succeeded",
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "destinationPortRange": port,
        "sourceAddressPrefix": source,
        "destinationAddressPrefix": "*",
        "access": "Allow",
        "priority": priority,
        "direction": "Inbound",
        "sourcePortRanges": [],
        "destinationPortRanges": [],
        "sourceAddressPrefixes": [],
        "destinationAddressPrefixes": [],
    });
    for (key, value) in extra.as_object().into_iter().flatten() {
        if value.is_null() {
            properties.as_object_mut().map(|p| p.remove(key));
        } else {
            properties[key] = value.clone();
        }
    }
    (name.to_string(), properties)
}

/// The default rules every NSG has, as Resource Manager lists them.
fn default_rules() -> Vec<(String, Value)> {
    [
        (
            "AllowVnetInBound",
            65000,
            "Inbound",
            "Allow",
            "VirtualNetwork",
            "VirtualNetwork",
        ),
        (
            "AllowAzureLoadBalancerInBound",
            65001,
            "Inbound",
            "Allow",
            "AzureLoadBalancer",
            "*",
        ),
        ("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*"),
        (
            "AllowVnetOutBound",
            65000,
            "Outbound",
            "Allow",
            "VirtualNetwork",
            "VirtualNetwork",
        ),
        (
            "AllowInternetOutBound",
            65001,
            "Outbound",
            "Allow",
            "*",
            "Internet",
        ),
        ("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*"),
    ]
    .into_iter()
    .map(|(name, priority, direction, access, source, destination)| {
        (
            name.to_string(),
            json!({
                "provisioningState": "Succeeded",
                "description": "Default rule",
                "protocol": "*",
                "sourcePortRange": "*",
                "destinationPortRange": "*",
                "sourceAddressPrefix": source,
                "destinationAddressPrefix": destination,
                "access": access,
                "priority": priority,
                "direction": direction,
                "sourcePortRanges": [],
                "destinationPortRanges": [],
                "sourceAddressPrefixes": [],
                "destinationAddressPrefixes": [],
            }),
        )
    })
    .collect()
}

/// An NSG as Resource Manager lists it: `rules` and the default rules.
pub(super) fn nsg(id: &str, rules: Vec<(String, Value)>) -> Value {
    let children = |kind: &str, rules: Vec<(String, Value)>| -> Vec<Value> {
        rules
            .into_iter()
            .map(|(name, properties)| {
                child(
                    &format!("{id}/{kind}/{name}"),
                    &format!("Microsoft.Network/networkSecurityGroups/{kind}"),
                    properties,
                )
            })
            .collect()
    };
    resource(
        id,
        "Microsoft.Network/networkSecurityGroups",
        json!({
            "provisioningState": "Succeeded",
            "resourceGuid": "00000000-0000-4000-8000-0000000000a1",
            "securityRules": children("securityRules", rules),
            "defaultSecurityRules": children("defaultSecurityRules", default_rules()),
        }),
    )
}
