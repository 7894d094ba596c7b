//! Builders for small estates in the clouds' own export formats, and a scan helper.
//!
//! Each Azure case is written once and rendered in both shapes users have: ARM REST JSON
//! (`properties` nested) and the az CLI's flattened JSON. AWS cases render as the AWS CLI's
//! `describe-*` outputs. The files go to a temporary folder and are scanned like user input.
//! The demo estates under `fixtures/` are scanned by [`demo_scan`]; [`browser`] drives headless
//! Chromium for the HTML report.

#![allow(dead_code)] // Each test binary uses its own part of this module.

pub mod browser;
pub mod postgres;
pub mod runs;
pub mod webhook;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use portcullis::finding::{Finding, Status};
use portcullis::load;
use portcullis::output::Report;
use portcullis::policy::Policy;
use portcullis::scan;
use serde_json::{Value, json};

pub const SUB: &str = "00000000-0000-0000-0000-000000000001";

pub fn rg_id(kind: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg/providers/{kind}/{name}")
}

/// One NSG security rule, in a compact form.
#[derive(Clone, Debug)]
pub struct Rule {
    pub name: String,
    pub priority: u32,
    pub access: &'static str,
    pub protocol: &'static str,
    pub source: Option<&'static str>,
    pub sources: Vec<&'static str>,
    pub source_asgs: Vec<&'static str>,
    pub source_port: &'static str,
    pub destination: Option<&'static str>,
    pub destinations: Vec<&'static str>,
    pub destination_asgs: Vec<&'static str>,
    pub port: Option<&'static str>,
    pub ports: Vec<&'static str>,
    pub direction: &'static str,
}

/// `allow(100, "Tcp", "*", "22")`: an inbound allow from one source to one port range.
pub fn allow(
    priority: u32,
    protocol: &'static str,
    source: &'static str,
    port: &'static str,
) -> Rule {
    Rule {
        name: format!("allow-{priority}"),
        priority,
        access: "Allow",
        protocol,
        source: Some(source),
        sources: Vec::new(),
        source_asgs: Vec::new(),
        source_port: "*",
        destination: Some("*"),
        destinations: Vec::new(),
        destination_asgs: Vec::new(),
        port: Some(port),
        ports: Vec::new(),
        direction: "Inbound",
    }
}

pub fn deny(
    priority: u32,
    protocol: &'static str,
    source: &'static str,
    port: &'static str,
) -> Rule {
    Rule {
        name: format!("deny-{priority}"),
        access: "Deny",
        ..allow(priority, protocol, source, port)
    }
}

impl Rule {
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    fn properties(&self) -> Value {
        let mut p = json!({
            "protocol": self.protocol,
            "sourcePortRange": self.source_port,
            "access": self.access,
            "priority": self.priority,
            "direction": self.direction,
        });
        let o = p.as_object_mut().unwrap();
        let mut put = |key: &str, one: Option<&str>, many: &[&str]| {
            if let Some(v) = one {
                o.insert(key.to_string(), json!(v));
            }
            if !many.is_empty() {
                o.insert(format!("{key}es"), json!(many));
            }
        };
        put("sourceAddressPrefix", self.source, &self.sources);
        put(
            "destinationAddressPrefix",
            self.destination,
            &self.destinations,
        );
        if let Some(port) = self.port {
            o.insert("destinationPortRange".into(), json!(port));
        }
        if !self.ports.is_empty() {
            o.insert("destinationPortRanges".into(), json!(self.ports));
        }
        let asgs = |names: &[&str]| -> Value {
            names
                .iter()
                .map(|n| json!({"id": rg_id("Microsoft.Network/applicationSecurityGroups", n)}))
                .collect()
        };
        if !self.source_asgs.is_empty() {
            o.insert(
                "sourceApplicationSecurityGroups".into(),
                asgs(&self.source_asgs),
            );
        }
        if !self.destination_asgs.is_empty() {
            o.insert(
                "destinationApplicationSecurityGroups".into(),
                asgs(&self.destination_asgs),
            );
        }
        p
    }
}

/// A one-VM Azure estate.
#[derive(Clone, Debug, Default)]
pub struct AzureVm {
    pub subnet_nsg: Option<Vec<Rule>>,
    pub nic_nsg: Option<Vec<Rule>>,
    /// Public IPs on the NIC: "IPv4" or "IPv6"; with an address or not.
    pub public_ips: Vec<(&'static str, Option<&'static str>)>,
    pub private_ip: &'static str,
    pub nic_asgs: Vec<&'static str>,
    pub power_state: &'static str,
}

impl AzureVm {
    pub fn new() -> Self {
        Self {
            public_ips: vec![("IPv4", Some("20.1.2.3"))],
            private_ip: "10.0.0.4",
            power_state: "running",
            ..Self::default()
        }
    }

    pub fn subnet(mut self, rules: Vec<Rule>) -> Self {
        self.subnet_nsg = Some(rules);
        self
    }

    pub fn nic(mut self, rules: Vec<Rule>) -> Self {
        self.nic_nsg = Some(rules);
        self
    }

    /// The resources as ARM REST JSON objects, the VM's name (not its id) set to `name`, as
    /// cloud data may hold any text there.
    pub fn resources_with_vm_name(&self, name: &str) -> Vec<Value> {
        let mut resources = self.resources(false);
        let vm = resources
            .iter_mut()
            .find(|r| r["type"] == "Microsoft.Compute/virtualMachines")
            .expect("the estate has its VM");
        vm["name"] = json!(name);
        resources
    }

    /// The resources, as ARM REST JSON objects or az CLI flattened ones.
    pub fn resources(&self, flattened: bool) -> Vec<Value> {
        let resource = |kind: &str, name: &str, properties: Value| -> Value {
            let mut r = json!({
                "id": rg_id(kind, name),
                "name": name,
                "type": kind,
                "location": "westeurope",
            });
            if flattened {
                for (k, v) in properties.as_object().unwrap() {
                    r[k] = v.clone();
                }
            } else {
                r["properties"] = properties;
            }
            r
        };
        let sub_resource = |parent: &str, kind: &str, name: &str, properties: Value| -> Value {
            let mut r = json!({"id": format!("{parent}/{kind}/{name}"), "name": name});
            if flattened {
                for (k, v) in properties.as_object().unwrap() {
                    r[k] = v.clone();
                }
            } else {
                r["properties"] = properties;
            }
            r
        };
        let mut out = Vec::new();
        let nsg_id = |name: &str| rg_id("Microsoft.Network/networkSecurityGroups", name);
        for (name, rules) in [("subnet-nsg", &self.subnet_nsg), ("nic-nsg", &self.nic_nsg)] {
            if let Some(rules) = rules {
                let id = nsg_id(name);
                let rules: Vec<Value> = rules
                    .iter()
                    .map(|r| sub_resource(&id, "securityRules", &r.name, r.properties()))
                    .collect();
                out.push(resource(
                    "Microsoft.Network/networkSecurityGroups",
                    name,
                    json!({"securityRules": rules}),
                ));
            }
        }
        let vnet_id = rg_id("Microsoft.Network/virtualNetworks", "vnet");
        let mut subnet = json!({"addressPrefix": "10.0.0.0/24"});
        if self.subnet_nsg.is_some() {
            subnet["networkSecurityGroup"] = json!({"id": nsg_id("subnet-nsg")});
        }
        out.push(resource(
            "Microsoft.Network/virtualNetworks",
            "vnet",
            json!({
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "subnets": [sub_resource(&vnet_id, "subnets", "default", subnet)],
            }),
        ));
        let nic_id = rg_id("Microsoft.Network/networkInterfaces", "nic");
        let mut configs = Vec::new();
        for (i, (version, address)) in self.public_ips.iter().enumerate() {
            let name = format!("pip{i}");
            let mut pip = json!({"publicIPAddressVersion": version});
            if let Some(a) = address {
                pip["ipAddress"] = json!(a);
            }
            out.push(resource("Microsoft.Network/publicIPAddresses", &name, pip));
            let private = if *version == "IPv6" {
                "fd00::4"
            } else {
                self.private_ip
            };
            configs.push(self.ip_config(
                &nic_id,
                &format!("ipconfig{i}"),
                private,
                Some(&name),
                &sub_resource,
            ));
        }
        if configs.is_empty() {
            configs.push(self.ip_config(
                &nic_id,
                "ipconfig0",
                self.private_ip,
                None,
                &sub_resource,
            ));
        }
        let mut nic = json!({
            "ipConfigurations": configs,
            "virtualMachine": {"id": rg_id("Microsoft.Compute/virtualMachines", "vm")},
        });
        if self.nic_nsg.is_some() {
            nic["networkSecurityGroup"] = json!({"id": nsg_id("nic-nsg")});
        }
        out.push(resource("Microsoft.Network/networkInterfaces", "nic", nic));
        let mut vm = json!({
            "hardwareProfile": {"vmSize": "Standard_B2s"},
            "networkProfile": {"networkInterfaces": [{"id": nic_id}]},
        });
        if flattened {
            let mut v = resource("Microsoft.Compute/virtualMachines", "vm", vm);
            v["powerState"] = json!(format!("VM {}", self.power_state));
            out.push(v);
        } else {
            vm["instanceView"] = json!({"statuses": [
                {"code": "ProvisioningState/succeeded"},
                {"code": format!("PowerState/{}", self.power_state)},
            ]});
            out.push(resource("Microsoft.Compute/virtualMachines", "vm", vm));
        }
        out
    }

    fn ip_config(
        &self,
        nic_id: &str,
        name: &str,
        private: &str,
        pip: Option<&str>,
        sub_resource: &dyn Fn(&str, &str, &str, Value) -> Value,
    ) -> Value {
        let mut p = json!({
            "privateIPAddress": private,
            "subnet": {"id": format!("{}/subnets/default", rg_id("Microsoft.Network/virtualNetworks", "vnet"))},
        });
        if let Some(pip) = pip {
            p["publicIPAddress"] = json!({"id": rg_id("Microsoft.Network/publicIPAddresses", pip)});
        }
        if !self.nic_asgs.is_empty() && private.contains('.') {
            p["applicationSecurityGroups"] = self
                .nic_asgs
                .iter()
                .map(|n| json!({"id": rg_id("Microsoft.Network/applicationSecurityGroups", n)}))
                .collect();
        }
        sub_resource(nic_id, "ipConfigurations", name, p)
    }
}

/// Runs the portcullis binary with `args` in the repository's root, so `fixtures/…` resolve.
pub fn portcullis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes files into a fresh folder and scans it with the built-in policy.
pub fn scan_files(files: &[(&str, Value)]) -> Report {
    scan_files_with(files, &Policy::builtin())
}

pub fn scan_files_with(files: &[(&str, Value)], policy: &Policy) -> Report {
    let dir = tempfile::tempdir().unwrap();
    for (name, value) in files {
        std::fs::write(
            dir.path().join(name),
            serde_json::to_string_pretty(value).unwrap(),
        )
        .unwrap();
    }
    scan_dir(dir.path(), policy)
}

/// The demo estates: `fixtures/azure-demo` and `fixtures/aws-demo`.
pub fn demo_inputs() -> Vec<PathBuf> {
    let inputs = vec![
        PathBuf::from("fixtures/azure-demo"),
        PathBuf::from("fixtures/aws-demo"),
    ];
    for input in &inputs {
        assert!(
            input.is_dir(),
            "{} is missing: the demo estates must be in the repository",
            input.display()
        );
    }
    inputs
}

/// Both demo estates scanned with the built-in policy.
pub fn demo_scan() -> Report {
    let loaded = load::load_inputs(&demo_inputs()).unwrap();
    scan::scan(&loaded, &Policy::builtin()).0
}

pub fn scan_dir(dir: &Path, policy: &Policy) -> Report {
    let loaded = load::load_inputs(&[dir.to_path_buf()]).unwrap();
    scan::scan(&loaded, policy).0
}

/// Fails with every mismatch of a case table at once, so one run shows them all.
pub fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The statuses of the three built-in recommendations for the report's only VM, as three
/// letters (H healthy, U unhealthy, N not applicable) in the order nsg, closed, jit, plus the
/// open ports of `management-ports-closed`.
pub fn verdicts(report: &Report) -> (String, Vec<String>) {
    let find = |rule: &str| -> &Finding {
        report
            .findings
            .iter()
            .find(|f| f.rule == rule)
            .unwrap_or_else(|| panic!("no finding for {rule}"))
    };
    let letter = |f: &Finding| match f.status {
        Status::Healthy => 'H',
        Status::Unhealthy => 'U',
        Status::NotApplicable => 'N',
    };
    let ids = [
        "internet-facing-vm-nsg",
        "management-ports-closed",
        "management-ports-jit",
    ];
    let letters = ids.iter().map(|id| letter(find(id))).collect();
    let ports = find("management-ports-closed").ports.iter();
    (letters, ports.map(ToString::to_string).collect())
}

/// An `IpPermissions` entry: protocol, optional port range, sources (CIDRs, `pl-…` prefix
/// lists, `sg-…` groups), and an optional description on every source.
pub fn permission(
    protocol: &str,
    ports: Option<(i64, i64)>,
    sources: &[&str],
    description: Option<&str>,
) -> Value {
    let with_description = |mut v: Value| {
        if let Some(d) = description {
            v["Description"] = json!(d);
        }
        v
    };
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut lists = Vec::new();
    let mut groups = Vec::new();
    for s in sources {
        if s.starts_with("pl-") {
            lists.push(with_description(json!({"PrefixListId": s})));
        } else if s.starts_with("sg-") {
            groups.push(with_description(
                json!({"GroupId": s, "UserId": "111122223333"}),
            ));
        } else if s.contains(':') {
            v6.push(with_description(json!({"CidrIpv6": s})));
        } else {
            v4.push(with_description(json!({"CidrIp": s})));
        }
    }
    let mut p = json!({
        "IpProtocol": protocol,
        "IpRanges": v4,
        "Ipv6Ranges": v6,
        "PrefixListIds": lists,
        "UserIdGroupPairs": groups,
    });
    if let Some((from, to)) = ports {
        p["FromPort"] = json!(from);
        p["ToPort"] = json!(to);
    }
    p
}

/// A network ACL entry: `entry(100, "deny", "6", Some((22, 22)), "0.0.0.0/0")`.
pub fn entry(
    number: u32,
    action: &str,
    protocol: &str,
    ports: Option<(u16, u16)>,
    cidr: &str,
) -> Value {
    let mut e = json!({
        "RuleNumber": number,
        "RuleAction": action,
        "Protocol": protocol,
        "Egress": false,
    });
    e[if cidr.contains(':') {
        "Ipv6CidrBlock"
    } else {
        "CidrBlock"
    }] = json!(cidr);
    if let Some((from, to)) = ports {
        e["PortRange"] = json!({"From": from, "To": to});
    }
    e
}

/// A one-instance AWS estate as AWS CLI outputs.
#[derive(Clone, Debug)]
pub struct AwsVm {
    pub public_v4: Option<&'static str>,
    pub ipv6: Option<&'static str>,
    /// `IpPermissions` of each security group of the interface.
    pub groups: Vec<Vec<Value>>,
    /// Inbound entries of the subnet's network ACL; `None` leaves the ACL out of the export.
    pub acl: Option<Vec<Value>>,
    /// Routes of the subnet's table as (destination, target).
    pub routes: Vec<(&'static str, &'static str)>,
    /// Whether the table is explicitly associated with the subnet, or is the VPC's main table.
    pub explicit_route_table: bool,
    /// Prefix lists: id and entries (`None`: described but entries not exported).
    pub prefix_lists: Vec<(&'static str, Option<Vec<&'static str>>)>,
    pub state: &'static str,
}

impl AwsVm {
    pub fn new(groups: Vec<Vec<Value>>) -> Self {
        Self {
            public_v4: Some("54.1.2.3"),
            ipv6: None,
            groups,
            acl: Some(vec![
                entry(100, "allow", "-1", None, "0.0.0.0/0"),
                entry(101, "allow", "-1", None, "::/0"),
            ]),
            routes: vec![
                ("10.0.0.0/16", "local"),
                ("0.0.0.0/0", "igw-0a1"),
                ("::/0", "igw-0a1"),
            ],
            explicit_route_table: true,
            prefix_lists: Vec::new(),
            state: "running",
        }
    }

    pub fn files(&self) -> Vec<(String, Value)> {
        let group_ids: Vec<String> = (0..self.groups.len())
            .map(|i| format!("sg-000{i}"))
            .collect();
        let mut eni = json!({
            "NetworkInterfaceId": "eni-0001",
            "SubnetId": "subnet-0001",
            "VpcId": "vpc-0001",
            "Groups": group_ids.iter().map(|g| json!({"GroupId": g, "GroupName": g})).collect::<Vec<_>>(),
            "PrivateIpAddresses": [{"PrivateIpAddress": "10.0.1.10", "Primary": true}],
            "Ipv6Addresses": self.ipv6.iter().map(|a| json!({"Ipv6Address": a})).collect::<Vec<_>>(),
        });
        if let Some(ip) = self.public_v4 {
            eni["PrivateIpAddresses"][0]["Association"] =
                json!({"PublicIp": ip, "IpOwnerId": "amazon"});
            eni["Association"] = json!({"PublicIp": ip});
        }
        let mut instance = json!({
            "InstanceId": "i-0001",
            "State": {"Code": 16, "Name": self.state},
            "Placement": {"AvailabilityZone": "eu-west-1a"},
            "SubnetId": "subnet-0001",
            "VpcId": "vpc-0001",
            "PrivateIpAddress": "10.0.1.10",
            "Tags": [{"Key": "Name", "Value": "web-1"}],
            "NetworkInterfaces": [eni],
        });
        if let Some(ip) = self.public_v4 {
            instance["PublicIpAddress"] = json!(ip);
        }
        let instances =
            json!({"Reservations": [{"OwnerId": "111122223333", "Instances": [instance]}]});
        let groups: Vec<Value> = self
            .groups
            .iter()
            .zip(&group_ids)
            .map(|(perms, id)| {
                json!({"GroupId": id, "GroupName": id, "OwnerId": "111122223333", "VpcId": "vpc-0001", "IpPermissions": perms, "IpPermissionsEgress": []})
            })
            .collect();
        let routes: Vec<Value> = self
            .routes
            .iter()
            .map(|(dest, target)| {
                let mut r = json!({"State": "active", "Origin": "CreateRoute"});
                r[if dest.contains(':') {
                    "DestinationIpv6CidrBlock"
                } else {
                    "DestinationCidrBlock"
                }] = json!(dest);
                let key = if target.starts_with("nat-") {
                    "NatGatewayId"
                } else if target.starts_with("eigw-") {
                    "EgressOnlyInternetGatewayId"
                } else {
                    "GatewayId"
                };
                r[key] = json!(target.trim_end_matches(":blackhole"));
                if target.ends_with(":blackhole") {
                    r["State"] = json!("blackhole");
                }
                r
            })
            .collect();
        let association = if self.explicit_route_table {
            json!({"Main": false, "SubnetId": "subnet-0001", "RouteTableId": "rtb-0001"})
        } else {
            json!({"Main": true, "RouteTableId": "rtb-0001"})
        };
        let mut files = vec![
            ("describe-instances.json".to_string(), instances),
            (
                "describe-security-groups.json".to_string(),
                json!({"SecurityGroups": groups}),
            ),
            (
                "describe-route-tables.json".to_string(),
                json!({"RouteTables": [{"RouteTableId": "rtb-0001", "VpcId": "vpc-0001", "Associations": [association], "Routes": routes}]}),
            ),
            (
                "describe-subnets.json".to_string(),
                json!({"Subnets": [{"SubnetId": "subnet-0001", "VpcId": "vpc-0001", "CidrBlock": "10.0.1.0/24", "AvailabilityZone": "eu-west-1a", "OwnerId": "111122223333"}]}),
            ),
        ];
        if let Some(entries) = &self.acl {
            let mut entries = entries.clone();
            entries.push(entry(32767, "deny", "-1", None, "0.0.0.0/0"));
            files.push((
                "describe-network-acls.json".to_string(),
                json!({"NetworkAcls": [{"NetworkAclId": "acl-0001", "VpcId": "vpc-0001", "IsDefault": true, "Associations": [{"NetworkAclId": "acl-0001", "SubnetId": "subnet-0001"}], "Entries": entries}]}),
            ));
        }
        if !self.prefix_lists.is_empty() {
            let described: Vec<Value> = self
                .prefix_lists
                .iter()
                .map(|(id, _)| json!({"PrefixListId": id, "PrefixListName": id, "AddressFamily": "IPv4"}))
                .collect();
            files.push((
                "describe-managed-prefix-lists.json".to_string(),
                json!({"PrefixLists": described}),
            ));
            for (id, entries) in &self.prefix_lists {
                if let Some(entries) = entries {
                    let entries: Vec<Value> = entries.iter().map(|c| json!({"Cidr": c})).collect();
                    files.push((
                        format!("prefix-list-entries-{id}.json"),
                        json!({"PrefixListId": id, "Entries": entries}),
                    ));
                }
            }
        }
        files
    }

    pub fn scan(&self) -> Report {
        let files = self.files();
        let refs: Vec<(&str, Value)> = files.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        scan_files(&refs)
    }
}

/// Where `sarif` breaks the OASIS SARIF 2.1.0 schema (vendored in tests/data): one line per
/// error, none when it is valid.
pub fn sarif_schema_errors(sarif: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string("tests/data/sarif-schema-2.1.0.json").unwrap(),
    )
    .unwrap();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    validator
        .iter_errors(sarif)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}
