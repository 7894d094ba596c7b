use std::net::IpAddr;

use crate::load::{Loaded, load_file_bytes};
use crate::model::{Access, Origin, PortRange, Protocol, SgSource, SgSourceKind};

fn load_as(label: &str, text: &str) -> Loaded {
    match load_file_bytes(label, text.as_bytes()) {
        Ok(loaded) => loaded,
        Err(err) => panic!("{err}"),
    }
}

fn load(text: &str) -> Loaded {
    load_as("t.json", text)
}

fn error(text: &str) -> String {
    match load_file_bytes("t.json", text.as_bytes()) {
        Ok(_) => panic!("loaded without error:\n{text}"),
        Err(err) => err.to_string(),
    }
}

fn ip(text: &str) -> Option<IpAddr> {
    Some(text.parse().unwrap())
}

const INSTANCES: &str = r#"{"Reservations": [
  {"OwnerId": "111122223333", "Instances": [
    {
      "InstanceId": "i-web",
      "Placement": {"AvailabilityZone": "eu-west-1b"},
      "State": {"Code": 16, "Name": "running"},
      "Tags": [{"Key": "Name", "Value": "web-1"}, {"Key": "env", "Value": "prod"}],
      "SubnetId": "subnet-a", "PrivateIpAddress": "10.0.1.10", "PublicIpAddress": "54.1.2.3",
      "NetworkInterfaces": [
        {
          "NetworkInterfaceId": "eni-1", "SubnetId": "subnet-a",
          "Groups": [{"GroupId": "sg-web", "GroupName": "web"}, {"GroupId": "sg-admin"}],
          "PrivateIpAddresses": [
            {"PrivateIpAddress": "10.0.1.10", "Primary": true, "Association": {"PublicIp": "54.1.2.3"}},
            {"PrivateIpAddress": "10.0.1.11", "Primary": false}
          ],
          "Ipv6Addresses": [{"Ipv6Address": "2a05:d018::10"}]
        }
      ]
    },
    {
      "InstanceId": "i-old", "State": {"Name": "stopped"},
      "SubnetId": "subnet-b", "PrivateIpAddress": "10.0.2.5",
      "SecurityGroups": [{"GroupId": "sg-db", "GroupName": "db"}]
    }
  ]}
]}"#;

#[test]
fn instances_and_their_interfaces() {
    let loaded = load(INSTANCES);
    let snapshot = &loaded.snapshot;
    assert_eq!(snapshot.vms.len(), 2);
    let web = &snapshot.vms[0];
    assert_eq!(
        (web.id.as_str(), web.name.as_str(), web.scope.as_str()),
        ("i-web", "web-1", "111122223333")
    );
    assert_eq!(web.region.as_deref(), Some("eu-west-1"));
    assert_eq!(web.power_state.as_deref(), Some("running"));
    assert_eq!(web.nic_ids, ["eni-1"]);
    assert_eq!(web.tags.get("env").map(String::as_str), Some("prod"));
    assert_eq!(web.origin, Some(Origin { file: 0, line: 3 }));

    let eni = &snapshot.nics[0];
    assert_eq!(eni.vm_id.as_deref(), Some("i-web"));
    assert_eq!(eni.subnet_id.as_deref(), Some("subnet-a"));
    assert_eq!(eni.security_group_ids, ["sg-web", "sg-admin"]);
    let addresses: Vec<_> = eni
        .ip_configs
        .iter()
        .map(|c| (c.private_ip, c.public_ip))
        .collect();
    assert_eq!(
        addresses,
        [
            (ip("10.0.1.10"), ip("54.1.2.3")),
            (ip("10.0.1.11"), None),
            (ip("2a05:d018::10"), ip("2a05:d018::10")),
        ]
    );

    let old = &snapshot.vms[1];
    assert_eq!(old.name, "i-old", "no Name tag: the id");
    assert_eq!(old.region, None);
    assert_eq!(old.power_state.as_deref(), Some("stopped"));
    let nic = &snapshot.nics[1];
    assert_eq!(old.nic_ids, std::slice::from_ref(&nic.id));
    assert_eq!(nic.vm_id.as_deref(), Some("i-old"));
    assert_eq!(nic.subnet_id.as_deref(), Some("subnet-b"));
    assert_eq!(nic.security_group_ids, ["sg-db"]);
    assert_eq!(nic.ip_configs.len(), 1);
    assert_eq!(nic.ip_configs[0].private_ip, ip("10.0.2.5"));
    assert_eq!(nic.ip_configs[0].public_ip, None);
}

#[test]
fn bad_public_address_is_a_positioned_error() {
    let text = INSTANCES.replace("\"PublicIp\": \"54.1.2.3\"", "\"PublicIp\": \"54.1.2\"");
    let message = error(&text);
    assert!(
        message.starts_with(
            "t.json:14:92: PublicIp \"54.1.2\" of network interface \"eni-1\" is invalid"
        ),
        "{message}"
    );
}

#[test]
fn security_groups() {
    let text = r#"{"SecurityGroups": [{
  "GroupId": "sg-1", "GroupName": "admin", "VpcId": "vpc-1",
  "IpPermissions": [
    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
     "IpRanges": [{"CidrIp": "0.0.0.0/1", "Description": "half"}, {"CidrIp": "128.0.0.0/1"}],
     "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
     "PrefixListIds": [{"PrefixListId": "pl-1234", "Description": "office"}],
     "UserIdGroupPairs": [{"GroupId": "sg-bastion", "UserId": "111122223333"}]},
    {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": []},
    {"IpProtocol": "6", "FromPort": 0, "ToPort": 65535, "IpRanges": []},
    {"IpProtocol": "udp", "FromPort": -1, "ToPort": -1}
  ],
  "IpPermissionsEgress": []
}]}"#;
    let group = &load(text).snapshot.security_groups[0];
    assert_eq!(group.name, "admin");
    assert_eq!(group.vpc_id.as_deref(), Some("vpc-1"));
    let ssh = &group.inbound[0];
    assert_eq!(
        (ssh.protocol, ssh.ports),
        (Protocol::TCP, Some(PortRange::single(22)))
    );
    assert_eq!(ssh.origin, Some(Origin { file: 0, line: 4 }));
    let source = |kind, description: Option<&str>| SgSource {
        kind,
        description: description.map(str::to_string),
        rule_id: None,
    };
    assert_eq!(
        ssh.sources,
        [
            source(
                SgSourceKind::Cidr("0.0.0.0/1".parse().unwrap()),
                Some("half")
            ),
            source(SgSourceKind::Cidr("128.0.0.0/1".parse().unwrap()), None),
            source(SgSourceKind::Cidr("::/0".parse().unwrap()), None),
            source(SgSourceKind::PrefixList("pl-1234".into()), Some("office")),
            source(SgSourceKind::Group("sg-bastion".into()), None),
        ]
    );
    let rest: Vec<_> = group.inbound[1..]
        .iter()
        .map(|p| (p.protocol, p.ports))
        .collect();
    assert_eq!(
        rest,
        [
            (Protocol::Any, None),
            (Protocol::Number(1), None),
            (Protocol::TCP, Some(PortRange::ALL)),
            (Protocol::UDP, None),
        ]
    );
}

#[test]
fn bad_ports_are_positioned_errors() {
    for (ports, expected) in [
        (
            r#""FromPort": 22, "ToPort": 70000"#,
            "t.json:2:51: ToPort 70000 of security group \"sg-1\" is not a port number (0 to 65535, or -1 for all)",
        ),
        (
            r#""FromPort": 23, "ToPort": 22"#,
            "t.json:2:37: ports 23-22 of security group \"sg-1\" end before they start",
        ),
        (
            r#""FromPort": 1e400, "ToPort": 22"#,
            "t.json:2:41: number out of range",
        ),
    ] {
        let text = format!(
            "{{\"SecurityGroups\": [{{\"GroupId\": \"sg-1\", \"IpPermissions\": [\n  {{\"IpProtocol\": \"tcp\", {ports}}}]}}]}}"
        );
        assert_eq!(error(&text), expected);
    }
}

#[test]
fn network_acls() {
    let text = r#"{"NetworkAcls": [{
  "NetworkAclId": "acl-1", "VpcId": "vpc-1", "IsDefault": false,
  "Associations": [{"NetworkAclAssociationId": "aclassoc-1", "SubnetId": "subnet-a"}],
  "Entries": [
    {"RuleNumber": 90, "Egress": false, "RuleAction": "deny", "Protocol": "6",
     "CidrBlock": "0.0.0.0/0", "PortRange": {"From": 22, "To": 22}},
    {"RuleNumber": 100, "Egress": false, "RuleAction": "allow", "Protocol": "-1",
     "CidrBlock": "0.0.0.0/0"},
    {"RuleNumber": 101, "Egress": false, "RuleAction": "allow", "Protocol": "-1",
     "Ipv6CidrBlock": "::/0"},
    {"RuleNumber": 100, "Egress": true, "RuleAction": "allow", "Protocol": "-1",
     "CidrBlock": "0.0.0.0/0"}
  ]
}]}"#;
    let acl = &load(text).snapshot.network_acls[0];
    assert_eq!(acl.subnet_ids, ["subnet-a"]);
    assert!(!acl.is_default);
    let entries: Vec<_> = acl
        .entries
        .iter()
        .map(|e| {
            (
                e.rule_number,
                e.egress,
                e.access,
                e.protocol,
                e.cidr.to_string(),
                e.ports,
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            (
                90,
                false,
                Access::Deny,
                Protocol::TCP,
                "0.0.0.0/0".to_string(),
                Some(PortRange::single(22))
            ),
            (
                100,
                false,
                Access::Allow,
                Protocol::Any,
                "0.0.0.0/0".to_string(),
                None
            ),
            (
                101,
                false,
                Access::Allow,
                Protocol::Any,
                "::/0".to_string(),
                None
            ),
            (
                100,
                true,
                Access::Allow,
                Protocol::Any,
                "0.0.0.0/0".to_string(),
                None
            ),
        ]
    );
    assert_eq!(acl.entries[0].origin, Some(Origin { file: 0, line: 5 }));
}

#[test]
fn route_tables() {
    let text = r#"{"RouteTables": [
  {"RouteTableId": "rtb-main", "VpcId": "vpc-1",
   "Associations": [{"Main": true, "RouteTableAssociationId": "rtbassoc-1"}],
   "Routes": [
     {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
     {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "State": "active"},
     {"DestinationIpv6CidrBlock": "::/0", "EgressOnlyInternetGatewayId": "eigw-1", "State": "active"},
     {"DestinationPrefixListId": "pl-s3", "GatewayId": "vpce-1", "State": "active"},
     {"DestinationCidrBlock": "192.0.2.0/24", "NatGatewayId": "nat-1", "State": "blackhole"}
   ]},
  {"RouteTableId": "rtb-private", "VpcId": "vpc-1",
   "Associations": [{"Main": false, "SubnetId": "subnet-p"}, {"Main": false, "SubnetId": "subnet-q"}],
   "Routes": [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local"}]}
]}"#;
    let tables = load(text).snapshot.route_tables;
    assert!(tables[0].main);
    assert!(tables[0].subnet_ids.is_empty());
    let routes: Vec<_> = tables[0]
        .routes
        .iter()
        .map(|r| (r.destination.to_string(), r.target.as_str(), r.active))
        .collect();
    assert_eq!(
        routes,
        [
            ("10.0.0.0/16".to_string(), "local", true),
            ("0.0.0.0/0".to_string(), "igw-1", true),
            ("::/0".to_string(), "eigw-1", true),
            ("192.0.2.0/24".to_string(), "nat-1", false),
        ]
    );
    assert!(!tables[1].main);
    assert_eq!(tables[1].subnet_ids, ["subnet-p", "subnet-q"]);
}

#[test]
fn subnets() {
    let text = r#"{"Subnets": [{"SubnetId": "subnet-a", "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24",
  "Ipv6CidrBlockAssociationSet": [{"AssociationId": "x", "Ipv6CidrBlock": "2a05:d018::/64",
    "Ipv6CidrBlockState": {"State": "associated"}}],
  "Tags": [{"Key": "Name", "Value": "public-a"}]}]}"#;
    let subnet = &load(text).snapshot.subnets[0];
    assert_eq!(subnet.name, "public-a");
    assert_eq!(subnet.network_id.as_deref(), Some("vpc-1"));
    assert_eq!(
        subnet.cidrs,
        [
            "10.0.1.0/24".parse().unwrap(),
            "2a05:d018::/64".parse().unwrap()
        ]
    );
}

#[test]
fn prefix_lists_described_and_with_entries() {
    let described = load(
        r#"{"PrefixLists": [{"PrefixListId": "pl-1234", "PrefixListName": "office", "State": "create-complete"}]}"#,
    );
    let list = &described.snapshot.prefix_lists[0];
    assert_eq!(
        (list.id.as_str(), list.name.as_str()),
        ("pl-1234", "office")
    );
    assert_eq!(list.entries, None);

    let with_id = load(r#"{"PrefixListId": "pl-1234", "Entries": [{"Cidr": "198.51.0.0/16"}]}"#);
    let from_name = load_as(
        "exports/prefix-list-entries-pl-1234.json",
        r#"{"Entries": [{"Cidr": "198.51.0.0/16", "Description": "office"}]}"#,
    );
    for loaded in [with_id, from_name] {
        let list = &loaded.snapshot.prefix_lists[0];
        assert_eq!(list.id, "pl-1234");
        assert_eq!(list.entries, Some(vec!["198.51.0.0/16".parse().unwrap()]));
    }
    let message = error(r#"{"Entries": []}"#);
    assert!(message.contains("add it to the file"), "{message}");
}
