use std::net::IpAddr;

use crate::addrset::Family;
use crate::load::{Loaded, load_file_bytes};
use crate::model::{Access, AddressPrefix, Direction, NsgRule, Origin, PortRange, Protocol};

fn load(text: &str) -> Loaded {
    match load_file_bytes("t.json", text.as_bytes()) {
        Ok(loaded) => loaded,
        Err(err) => panic!("{err}"),
    }
}

fn error(text: &str) -> String {
    match load_file_bytes("t.json", text.as_bytes()) {
        Ok(_) => panic!("loaded without error:\n{text}"),
        Err(err) => err.to_string(),
    }
}

fn net(text: &str) -> AddressPrefix {
    AddressPrefix::Network(text.parse().unwrap())
}

const NSG_ID: &str =
    "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/web-nsg";

const ARM_NSG: &str = r#"{
  "id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/web-nsg",
  "name": "web-nsg",
  "type": "Microsoft.Network/networkSecurityGroups",
  "location": "westeurope",
  "properties": {
    "securityRules": [
      {
        "name": "allow-admin",
        "properties": {
          "protocol": "TCP", "priority": 100, "direction": "Inbound", "access": "Allow",
          "sourceAddressPrefix": "", "sourceAddressPrefixes": ["203.0.113.0/29", "Internet"],
          "sourcePortRange": "*",
          "destinationAddressPrefix": "*",
          "destinationPortRange": "22", "destinationPortRanges": ["3389", "5985-5986"]
        }
      }
    ],
    "defaultSecurityRules": [
      {
        "name": "DenyAllInBound",
        "properties": {
          "protocol": "*", "priority": 65500, "direction": "Inbound", "access": "Deny",
          "sourceAddressPrefix": "*", "sourcePortRange": "*",
          "destinationAddressPrefix": "*", "destinationPortRange": "*"
        }
      }
    ]
  }
}"#;

const AZ_NSG: &str = r#"[{
  "id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/web-nsg",
  "name": "web-nsg", "type": "Microsoft.Network/networkSecurityGroups", "location": "westeurope",
  "resourceGroup": "rg",
  "securityRules": [
    {
      "name": "allow-admin", "type": "Microsoft.Network/networkSecurityGroups/securityRules",
      "protocol": "Tcp", "priority": 100, "direction": "Inbound", "access": "Allow",
      "sourceAddressPrefixes": ["203.0.113.0/29", "Internet"], "sourcePortRange": "*",
      "destinationAddressPrefix": "*", "destinationAddressPrefixes": [],
      "destinationPortRange": "22", "destinationPortRanges": ["3389", "5985-5986"],
      "sourceApplicationSecurityGroups": null
    }
  ],
  "defaultSecurityRules": [
    {
      "name": "DenyAllInBound", "protocol": "*", "priority": 65500, "direction": "Inbound",
      "access": "Deny", "sourceAddressPrefix": "*", "sourcePortRange": "*",
      "destinationAddressPrefix": "*", "destinationPortRange": "*"
    }
  ]
}]"#;

fn expected_rules() -> (Vec<NsgRule>, Vec<NsgRule>) {
    let custom = NsgRule {
        name: "allow-admin".into(),
        priority: 100,
        direction: Direction::Inbound,
        access: Access::Allow,
        protocol: Protocol::TCP,
        sources: vec![net("203.0.113.0/29"), AddressPrefix::Tag("Internet".into())],
        source_asg_ids: vec![],
        source_ports: vec![],
        destinations: vec![AddressPrefix::Any],
        destination_asg_ids: vec![],
        destination_ports: vec![
            PortRange::single(22),
            PortRange::single(3389),
            PortRange {
                first: 5985,
                last: 5986,
            },
        ],
        origin: None,
    };
    let default = NsgRule {
        name: "DenyAllInBound".into(),
        priority: 65500,
        direction: Direction::Inbound,
        access: Access::Deny,
        protocol: Protocol::Any,
        sources: vec![AddressPrefix::Any],
        source_asg_ids: vec![],
        source_ports: vec![],
        destinations: vec![AddressPrefix::Any],
        destination_asg_ids: vec![],
        destination_ports: vec![PortRange::ALL],
        origin: None,
    };
    (vec![custom], vec![default])
}

fn without_origins(rules: &[NsgRule]) -> Vec<NsgRule> {
    rules
        .iter()
        .cloned()
        .map(|rule| NsgRule {
            origin: None,
            ..rule
        })
        .collect()
}

#[test]
fn nsgs_in_every_shape_load_the_same_rules() {
    let list_page = format!("{{\"value\": [{ARM_NSG}], \"nextLink\": \"https://next\"}}");
    let array = format!("[{ARM_NSG}]");
    for (shape, text) in [
        ("ARM single", ARM_NSG),
        ("ARM list page", &list_page),
        ("array", &array),
        ("az CLI", AZ_NSG),
    ] {
        let loaded = load(text);
        assert_eq!(loaded.snapshot.nsgs.len(), 1, "{shape}");
        let nsg = &loaded.snapshot.nsgs[0];
        assert_eq!(nsg.id, NSG_ID, "{shape}");
        assert_eq!(nsg.name, "web-nsg", "{shape}");
        assert_eq!(nsg.region.as_deref(), Some("westeurope"), "{shape}");
        let (custom, default) = expected_rules();
        assert_eq!(without_origins(&nsg.rules), custom, "{shape}");
        assert_eq!(without_origins(&nsg.default_rules), default, "{shape}");
        assert!(loaded.warnings.is_empty(), "{shape}: {:?}", loaded.warnings);
        assert!(loaded.skipped.is_empty(), "{shape}");
    }
}

#[test]
fn rules_know_their_lines() {
    let nsg = &load(ARM_NSG).snapshot.nsgs[0];
    assert_eq!(nsg.origin, Some(Origin { file: 0, line: 1 }));
    assert_eq!(nsg.rules[0].origin, Some(Origin { file: 0, line: 8 }));
    assert_eq!(
        nsg.default_rules[0].origin,
        Some(Origin { file: 0, line: 20 })
    );
}

#[test]
fn source_port_lists_and_asgs() {
    let text = r#"{"type": "Microsoft.Network/networkSecurityGroups", "id": "/subscriptions/s/x", "name": "n",
      "securityRules": [{"name": "r", "protocol": "Udp", "priority": 200, "direction": "inbound",
        "access": "deny", "sourcePortRanges": ["1024-65535", "80"],
        "sourceApplicationSecurityGroups": [{"id": "asg-a"}],
        "destinationApplicationSecurityGroups": [{"id": "asg-b"}], "destinationPortRange": "*"}]}"#;
    let rule = &load(text).snapshot.nsgs[0].rules[0];
    assert_eq!(rule.protocol, Protocol::UDP);
    assert_eq!(rule.access, Access::Deny);
    assert_eq!(
        rule.source_ports,
        [
            PortRange {
                first: 1024,
                last: 65535
            },
            PortRange::single(80)
        ]
    );
    assert_eq!(rule.source_asg_ids, ["asg-a"]);
    assert_eq!(rule.destination_asg_ids, ["asg-b"]);
    assert!(rule.sources.is_empty());
    assert_eq!(rule.destination_ports, [PortRange::ALL]);
}

#[test]
fn bad_cidr_names_file_line_rule_and_field() {
    let text = r#"{"type": "Microsoft.Network/networkSecurityGroups", "id": "/subscriptions/s/x",
  "properties": {"securityRules": [
    {"name": "allow-ssh", "properties": {"protocol": "Tcp", "priority": 100,
      "direction": "Inbound", "access": "Allow",
      "sourceAddressPrefix": "10.0.0.300/24", "destinationPortRange": "22"}}]}}"#;
    assert_eq!(
        error(text),
        "t.json:5:30: sourceAddressPrefix \"10.0.0.300/24\" of rule \"allow-ssh\" is not a valid CIDR or IP address"
    );
}

#[test]
fn bad_rule_values_are_positioned_errors() {
    for (field_json, expected) in [
        (
            r#""protocol": "Gre""#,
            "t.json:2:27: protocol \"Gre\" of rule \"r\" is invalid: unknown protocol \"Gre\"",
        ),
        (
            r#""access": "Maybe""#,
            "t.json:2:25: access \"Maybe\" of rule \"r\" is invalid: must be Allow or Deny",
        ),
        (
            r#""destinationPortRange": "70000""#,
            "t.json:2:39: destinationPortRange \"70000\" of rule \"r\" is not a port, a range N-M, or *",
        ),
        (
            r#""priority": 99999999999"#,
            "t.json:2:37: invalid value: integer `99999999999`, expected u32",
        ),
        (
            r#""sourceAddressPrefixes": "1.2.3.4""#,
            "t.json:2:48: invalid type: string \"1.2.3.4\", expected a sequence",
        ),
    ] {
        let defaults: Vec<&str> = [
            r#""protocol": "Tcp""#,
            r#""access": "Allow""#,
            r#""priority": 100"#,
        ]
        .into_iter()
        .filter(|d| d.split(':').next() != field_json.split(':').next())
        .collect();
        let text = format!(
            "{{\"type\": \"Microsoft.Network/networkSecurityGroups\", \"id\": \"/subscriptions/s/x\", \"securityRules\": [\n{{\"name\": \"r\", {field_json}, {}, \"direction\": \"Inbound\"}}]}}",
            defaults.join(", ")
        );
        assert_eq!(error(&text), expected, "{text}");
    }
}

const VM_ID: &str =
    "/subscriptions/1111-2222/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1";

#[test]
fn vm_power_state_from_instance_view_and_az() {
    let arm = format!(
        r#"{{"id": "{VM_ID}", "name": "vm1", "type": "Microsoft.Compute/virtualMachines",
        "location": "westeurope", "tags": {{"env": "prod"}},
        "properties": {{
          "networkProfile": {{"networkInterfaces": [{{"id": "nic-1", "properties": {{"primary": true}}}}]}},
          "instanceView": {{"statuses": [{{"code": "ProvisioningState/succeeded"}}, {{"code": "PowerState/running"}}]}}
        }}}}"#
    );
    let az = format!(
        r#"[{{"id": "{VM_ID}", "name": "vm1", "type": "Microsoft.Compute/virtualMachines",
        "location": "westeurope", "tags": {{"env": "prod"}}, "powerState": "VM deallocated",
        "instanceView": null, "publicIps": "20.1.2.3", "privateIps": "10.0.0.4",
        "networkProfile": {{"networkInterfaces": [{{"id": "nic-1", "primary": true, "resourceGroup": "rg"}}]}}}}]"#
    );
    let no_state = format!(
        r#"{{"id": "{VM_ID}", "name": "vm1", "type": "microsoft.compute/VIRTUALMACHINES", "properties": {{}}}}"#
    );
    for (text, power) in [
        (arm.as_str(), Some("running")),
        (&az, Some("deallocated")),
        (&no_state, None),
    ] {
        let loaded = load(text);
        let vm = &loaded.snapshot.vms[0];
        assert_eq!(vm.power_state.as_deref(), power, "{text}");
        assert_eq!(vm.id, VM_ID);
        assert_eq!(vm.scope, "1111-2222");
        if power.is_some() {
            assert_eq!(vm.region.as_deref(), Some("westeurope"));
            assert_eq!(vm.nic_ids, ["nic-1"]);
            assert_eq!(vm.tags.get("env").map(String::as_str), Some("prod"));
        }
    }
}

#[test]
fn vm_without_subscription_is_an_error() {
    let text = r#"{"id": "vm1", "name": "vm1", "type": "Microsoft.Compute/virtualMachines"}"#;
    assert!(error(text).contains("has no subscription"));
}

#[test]
fn nics_in_both_shapes() {
    let arm = r#"{"value": [{
      "id": "nic-1", "name": "nic-1", "type": "Microsoft.Network/networkInterfaces",
      "properties": {
        "virtualMachine": {"id": "vm-1"},
        "networkSecurityGroup": {"id": "nsg-1"},
        "ipConfigurations": [
          {"name": "ipconfig2", "properties": {"privateIPAddress": "172.20.2.16/28",
            "subnet": {"id": "subnet-b"}, "primary": false}},
          {"name": "ipconfig1", "properties": {"privateIPAddress": "172.20.2.4",
            "publicIPAddress": {"id": "pip-1"}, "subnet": {"id": "subnet-a"}, "primary": true,
            "applicationSecurityGroups": [{"id": "asg-1"}]}}
        ]}}]}"#;
    let az = r#"[{
      "id": "nic-1", "name": "nic-1", "type": "Microsoft.Network/networkInterfaces",
      "virtualMachine": {"id": "vm-1", "resourceGroup": "rg"},
      "networkSecurityGroup": {"id": "nsg-1"},
      "ipConfigurations": [
        {"name": "ipconfig2", "privateIPAddress": "172.20.2.16/28", "subnet": {"id": "subnet-b"},
         "primary": false, "publicIPAddress": null, "applicationSecurityGroups": null},
        {"name": "ipconfig1", "privateIPAddress": "172.20.2.4", "publicIPAddress": {"id": "pip-1"},
         "subnet": {"id": "subnet-a"}, "primary": true, "applicationSecurityGroups": [{"id": "asg-1"}]}
      ]}]"#;
    for text in [arm, az] {
        let loaded = load(text);
        let nic = &loaded.snapshot.nics[0];
        assert_eq!(nic.vm_id.as_deref(), Some("vm-1"));
        assert_eq!(nic.nsg_id.as_deref(), Some("nsg-1"));
        assert_eq!(
            nic.subnet_id.as_deref(),
            Some("subnet-a"),
            "the primary's subnet"
        );
        let [second, first] = nic.ip_configs.as_slice() else {
            panic!("two ip configurations expected")
        };
        assert_eq!(second.private_ip, Some("172.20.2.16".parse().unwrap()));
        assert_eq!(second.public_ip_id, None);
        assert_eq!(first.name.as_deref(), Some("ipconfig1"));
        assert_eq!(first.private_ip, Some("172.20.2.4".parse().unwrap()));
        assert_eq!(first.public_ip_id.as_deref(), Some("pip-1"));
        assert_eq!(first.app_security_group_ids, ["asg-1"]);
    }
}

#[test]
fn public_ips_default_to_ipv4_and_may_have_no_address() {
    let text = r#"[
      {"id": "pip-4", "name": "pip-4", "type": "Microsoft.Network/publicIPAddresses",
       "properties": {"ipAddress": "20.1.2.3"}},
      {"id": "pip-6", "name": "pip-6", "type": "Microsoft.Network/publicIPAddresses",
       "publicIPAddressVersion": "IPv6", "ipAddress": "2603:1020::5"},
      {"id": "pip-none", "name": "pip-none", "type": "Microsoft.Network/publicIPAddresses",
       "properties": {"publicIPAddressVersion": "IPv4"}}
    ]"#;
    let ips = load(text).snapshot.public_ips;
    let got: Vec<(&str, Family, Option<IpAddr>)> = ips
        .iter()
        .map(|ip| (ip.id.as_str(), ip.family, ip.address))
        .collect();
    assert_eq!(
        got,
        [
            ("pip-4", Family::V4, Some("20.1.2.3".parse().unwrap())),
            ("pip-6", Family::V6, Some("2603:1020::5".parse().unwrap())),
            ("pip-none", Family::V4, None),
        ]
    );
}

#[test]
fn subnets_from_virtual_networks_and_alone() {
    let vnet_id =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet";
    let text = format!(
        r#"[
      {{"id": "{vnet_id}", "name": "vnet", "type": "Microsoft.Network/virtualNetworks",
       "properties": {{"subnets": [
         {{"id": "{vnet_id}/subnets/web", "name": "web",
          "properties": {{"addressPrefix": "10.0.1.0/24", "networkSecurityGroup": {{"id": "nsg-web"}}}}}},
         {{"id": "{vnet_id}/subnets/dual", "name": "dual",
          "addressPrefixes": ["10.0.2.0/24", "ace:cab:deca::/64"]}}
       ]}}}},
      {{"id": "{vnet_id}/Subnets/db", "name": "db", "type": "Microsoft.Network/virtualNetworks/subnets",
       "addressPrefix": "10.0.3.0/24"}}
    ]"#
    );
    let subnets = load(&text).snapshot.subnets;
    assert_eq!(subnets.len(), 3);
    assert_eq!(subnets[0].nsg_id.as_deref(), Some("nsg-web"));
    assert_eq!(subnets[0].cidrs, ["10.0.1.0/24".parse().unwrap()]);
    assert_eq!(
        subnets[1].cidrs,
        [
            "10.0.2.0/24".parse().unwrap(),
            "ace:cab:deca::/64".parse().unwrap()
        ]
    );
    for subnet in &subnets {
        assert_eq!(
            subnet.network_id.as_deref(),
            Some(vnet_id),
            "{}",
            subnet.name
        );
    }
}

#[test]
fn application_security_groups_and_jit_policies() {
    let text = r#"{"value": [
      {"id": "asg-1", "name": "web-asg", "type": "Microsoft.Network/applicationSecurityGroups",
       "properties": {}},
      {"id": "jit-1", "name": "default", "type": "Microsoft.Security/locations/jitNetworkAccessPolicies",
       "location": "westeurope", "kind": "Basic",
       "properties": {"virtualMachines": [{"id": "vm-1", "ports": [
         {"number": 22, "protocol": "*", "allowedSourceAddressPrefix": "*", "maxRequestAccessDuration": "PT3H"},
         {"number": 3389, "protocol": "TCP", "allowedSourceAddressPrefixes": ["203.0.113.7", "198.51.100.0/24"]}
       ]}]}}
    ]}"#;
    let snapshot = load(text).snapshot;
    assert_eq!(snapshot.app_security_groups[0].name, "web-asg");
    let jit = &snapshot.jit_policies[0];
    assert_eq!(jit.region.as_deref(), Some("westeurope"));
    assert_eq!(jit.vms[0].id, "vm-1");
    let ports = &jit.vms[0].ports;
    assert_eq!((ports[0].number, ports[0].protocol), (22, Protocol::Any));
    assert_eq!(ports[0].allowed_sources, ["*"]);
    assert_eq!(
        ports[0].max_request_access_duration.as_deref(),
        Some("PT3H")
    );
    assert_eq!((ports[1].number, ports[1].protocol), (3389, Protocol::TCP));
    assert_eq!(ports[1].allowed_sources, ["203.0.113.7", "198.51.100.0/24"]);
}

#[test]
fn unknown_and_untyped_resources_are_counted() {
    let text = r#"[
      {"id": "a", "type": "Microsoft.Storage/storageAccounts"},
      {"id": "b", "type": "Microsoft.Storage/storageAccounts"},
      {"id": "c", "type": "Microsoft.Web/sites"},
      {"id": "d"}
    ]"#;
    let loaded = load(text);
    assert_eq!(loaded.snapshot.resource_count(), 0);
    let skipped: Vec<(&str, usize)> = loaded
        .skipped
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        skipped,
        [
            ("Microsoft.Storage/storageAccounts", 2),
            ("Microsoft.Web/sites", 1),
            ("resource without a type", 1)
        ]
    );
}
