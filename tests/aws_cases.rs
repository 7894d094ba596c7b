//! AWS verdicts for every case of the exposure semantics (sections 2–5), scanned from the AWS
//! CLI's own `describe-*` outputs.
//!
//! Expected letters are the statuses of `internet-facing-vm-nsg`, `management-ports-closed` and
//! `management-ports-jit`: H healthy, U unhealthy, N not applicable.

mod support;

use support::*;

const ALL_TCP: &[&str] = &[
    "21/tcp", "22/tcp", "23/tcp", "389/tcp", "1433/tcp", "3389/tcp", "5985/tcp", "5986/tcp",
];
const ALL: &[&str] = &[
    "21/tcp", "22/tcp", "23/tcp", "389/tcp", "389/udp", "1433/tcp", "3389/tcp", "3389/udp",
    "5985/tcp", "5986/tcp",
];

fn ssh_from(sources: &[&str]) -> Vec<serde_json::Value> {
    vec![permission("tcp", Some((22, 22)), sources, None)]
}

fn cases() -> Vec<(&'static str, AwsVm, &'static str, &'static [&'static str])> {
    let world_ssh = || AwsVm::new(vec![ssh_from(&["0.0.0.0/0"])]);
    vec![
        // Section 2: who can reach a VM.
        ("SSH open to the world", world_ssh(), "HUU", &["22/tcp"]),
        (
            "no public IP: not internet-facing",
            AwsVm {
                public_v4: None,
                ..world_ssh()
            },
            "NNN",
            &[],
        ),
        (
            "public IP but 0.0.0.0/0 goes to a NAT gateway",
            AwsVm {
                routes: vec![("0.0.0.0/0", "nat-0001")],
                ..world_ssh()
            },
            "NNN",
            &[],
        ),
        (
            "blackholed internet gateway route",
            AwsVm {
                routes: vec![("0.0.0.0/0", "igw-0a1:blackhole")],
                ..world_ssh()
            },
            "NNN",
            &[],
        ),
        (
            "subnet without an explicit association uses the VPC's main table",
            AwsVm {
                explicit_route_table: false,
                ..world_ssh()
            },
            "HUU",
            &["22/tcp"],
        ),
        (
            "IPv6 through an egress-only gateway is not internet-facing",
            AwsVm {
                public_v4: None,
                ipv6: Some("2600:1f18::10"),
                routes: vec![("::/0", "eigw-0001")],
                ..AwsVm::new(vec![ssh_from(&["::/0"])])
            },
            "NNN",
            &[],
        ),
        (
            "IPv6 ::/0 through an internet gateway",
            AwsVm {
                public_v4: None,
                ipv6: Some("2600:1f18::10"),
                ..AwsVm::new(vec![ssh_from(&["::/0"])])
            },
            "HUU",
            &["22/tcp"],
        ),
        (
            "::/0 rule without an IPv6 address exposes nothing",
            AwsVm::new(vec![ssh_from(&["::/0"])]),
            "HHH",
            &[],
        ),
        (
            "a stopped instance still holding a public IP is judged",
            AwsVm {
                state: "stopped",
                ..world_ssh()
            },
            "HUU",
            &["22/tcp"],
        ),
        // Section 3: security groups.
        (
            "split CIDRs across two security groups add up",
            AwsVm::new(vec![ssh_from(&["0.0.0.0/1"]), ssh_from(&["128.0.0.0/1"])]),
            "HUU",
            &["22/tcp"],
        ),
        (
            "-1 from the world filters nothing",
            AwsVm::new(vec![vec![permission("-1", None, &["0.0.0.0/0"], None)]]),
            "UUU",
            ALL,
        ),
        (
            "-1 from split halves filters nothing either",
            AwsVm::new(vec![vec![permission(
                "-1",
                None,
                &["0.0.0.0/1", "128.0.0.0/1"],
                None,
            )]]),
            "UUU",
            ALL,
        ),
        (
            "-1 from one /24 filters",
            AwsVm::new(vec![vec![permission("-1", None, &["8.8.8.0/24"], None)]]),
            "HHU",
            &[],
        ),
        (
            "protocol as a number",
            AwsVm::new(vec![vec![permission(
                "6",
                Some((3389, 3389)),
                &["0.0.0.0/0"],
                None,
            )]]),
            "HUU",
            &["3389/tcp"],
        ),
        (
            "tcp 0-65535 opens every TCP port",
            AwsVm::new(vec![vec![permission(
                "tcp",
                Some((0, 65535)),
                &["0.0.0.0/0"],
                None,
            )]]),
            "HUU",
            ALL_TCP,
        ),
        (
            "udp rule opens only UDP ports",
            AwsVm::new(vec![vec![permission(
                "udp",
                Some((3389, 3389)),
                &["0.0.0.0/0"],
                None,
            )]]),
            "HUU",
            &["3389/udp"],
        ),
        (
            "protocol 17 is UDP",
            AwsVm::new(vec![vec![permission(
                "17",
                Some((389, 389)),
                &["0.0.0.0/0"],
                None,
            )]]),
            "HUU",
            &["389/udp"],
        ),
        (
            "icmpv6 opens no port",
            AwsVm::new(vec![vec![permission(
                "icmpv6",
                Some((-1, -1)),
                &["::/0"],
                None,
            )]]),
            "HHH",
            &[],
        ),
        (
            "-1 with ports -1 is all traffic",
            AwsVm::new(vec![vec![permission(
                "-1",
                Some((-1, -1)),
                &["0.0.0.0/0"],
                None,
            )]]),
            "UUU",
            ALL,
        ),
        (
            "icmp opens no port",
            AwsVm::new(vec![vec![permission(
                "icmp",
                Some((-1, -1)),
                &["0.0.0.0/0"],
                None,
            )]]),
            "HHH",
            &[],
        ),
        (
            "private ranges are not the internet",
            AwsVm::new(vec![ssh_from(&["10.0.0.0/8", "172.16.0.0/12"])]),
            "HHH",
            &[],
        ),
        (
            "group-to-group source is internal",
            AwsVm::new(vec![ssh_from(&["sg-0bastion"])]),
            "HHH",
            &[],
        ),
        (
            "prefix list resolving to a broad range",
            AwsVm {
                prefix_lists: vec![("pl-0broad", Some(vec!["52.0.0.0/8"]))],
                ..AwsVm::new(vec![ssh_from(&["pl-0broad"])])
            },
            "HUU",
            &["22/tcp"],
        ),
        (
            "prefix list resolving to a narrow range",
            AwsVm {
                prefix_lists: vec![("pl-0office", Some(vec!["198.51.99.0/28"]))],
                ..AwsVm::new(vec![ssh_from(&["pl-0office"])])
            },
            "HHU",
            &[],
        ),
        (
            "prefix list without exported entries counts as broad",
            AwsVm {
                prefix_lists: vec![("pl-0unknown", None)],
                ..AwsVm::new(vec![ssh_from(&["pl-0unknown"])])
            },
            "HUU",
            &["22/tcp"],
        ),
        // Section 3: network ACLs.
        (
            "NACL deny numbered before the allow closes the port, whatever the listing order",
            AwsVm {
                acl: Some(vec![
                    entry(200, "allow", "-1", None, "0.0.0.0/0"),
                    entry(100, "deny", "6", Some((22, 22)), "0.0.0.0/0"),
                ]),
                ..world_ssh()
            },
            "HHH",
            &[],
        ),
        (
            "NACL allow numbered before the deny keeps it open",
            AwsVm {
                acl: Some(vec![
                    entry(100, "allow", "6", Some((0, 65535)), "0.0.0.0/0"),
                    entry(200, "deny", "6", Some((22, 22)), "0.0.0.0/0"),
                ]),
                ..world_ssh()
            },
            "HUU",
            &["22/tcp"],
        ),
        (
            "NACL that only allows UDP",
            AwsVm {
                acl: Some(vec![entry(100, "allow", "17", None, "0.0.0.0/0")]),
                ..AwsVm::new(vec![vec![permission("-1", None, &["0.0.0.0/0"], None)]])
            },
            "UUU",
            &["389/udp", "3389/udp"],
        ),
        (
            "NACL with no matching entry denies",
            AwsVm {
                acl: Some(vec![entry(100, "allow", "6", Some((80, 80)), "0.0.0.0/0")]),
                ..world_ssh()
            },
            "HHH",
            &[],
        ),
        (
            "NACL narrowing the world to one /24",
            AwsVm {
                acl: Some(vec![entry(100, "allow", "-1", None, "8.8.8.0/24")]),
                ..world_ssh()
            },
            "HHU",
            &[],
        ),
        (
            "NACL IPv6 deny",
            AwsVm {
                public_v4: None,
                ipv6: Some("2600:1f18::10"),
                acl: Some(vec![
                    entry(90, "deny", "-1", None, "::/0"),
                    entry(100, "allow", "-1", None, "::/0"),
                ]),
                ..AwsVm::new(vec![ssh_from(&["::/0"])])
            },
            "HHH",
            &[],
        ),
        (
            "network ACL missing from the input allows",
            AwsVm {
                acl: None,
                ..world_ssh()
            },
            "HUU",
            &["22/tcp"],
        ),
        // Section 5: JIT.
        (
            "a portcullis JIT grant (by description) as the only access",
            AwsVm::new(vec![vec![permission(
                "tcp",
                Some((22, 22)),
                &["203.0.114.9/32"],
                Some("portcullis-jit-alice-until-1200"),
            )]]),
            "HHH",
            &[],
        ),
        (
            "a JIT grant beside a standing narrow rule",
            AwsVm::new(vec![
                vec![permission(
                    "tcp",
                    Some((22, 22)),
                    &["203.0.114.9/32"],
                    Some("portcullis-jit-alice"),
                )],
                vec![permission(
                    "tcp",
                    Some((22, 22)),
                    &["203.0.114.9/32"],
                    Some("office"),
                )],
            ]),
            "HHU",
            &[],
        ),
    ]
}

#[test]
fn aws_cases() {
    let mut failures = Vec::new();
    for (name, vm, expect, open) in cases() {
        let (letters, got_open) = verdicts(&vm.scan());
        if letters != expect || got_open != open {
            failures.push(format!(
                "{name}: got {letters} open {got_open:?}, want {expect} open {open:?}"
            ));
        }
    }
    assert_no_failures(&failures);
}

#[test]
fn missing_network_acl_and_unresolved_prefix_list_are_reported() {
    let vm = AwsVm {
        acl: None,
        prefix_lists: vec![("pl-0unknown", None)],
        ..AwsVm::new(vec![ssh_from(&["pl-0unknown"])])
    };
    let report = vm.scan();
    let joined = report.warnings.join("\n");
    assert!(
        joined.contains("no network ACL for subnet subnet-0001"),
        "{joined}"
    );
    assert!(joined.contains("prefix list pl-0unknown"), "{joined}");
}

#[test]
fn scope_is_the_account_and_resource_the_instance_id() {
    let report = AwsVm::new(vec![ssh_from(&["0.0.0.0/0"])]).scan();
    let f = &report.findings[0];
    assert_eq!(f.resource, "i-0001");
    assert_eq!(f.resource_name, "web-1");
    assert_eq!(f.scope, "111122223333");
    assert_eq!(f.region.as_deref(), Some("eu-west-1"));
}

/// An instance whose two interfaces each allow all traffic from a different /24: each interface
/// filters (a /24 is not broad), and the two do not add up to a broad set.
#[test]
fn allow_all_is_judged_per_interface() {
    let judge = |second_cidr: &str| {
        let vm = AwsVm::new(vec![vec![permission("-1", None, &["8.8.8.0/24"], None)]]);
        let mut files = vm.files();
        let (_, instances) = files
            .iter_mut()
            .find(|(n, _)| n == "describe-instances.json")
            .unwrap();
        let enis = instances["Reservations"][0]["Instances"][0]["NetworkInterfaces"]
            .as_array_mut()
            .unwrap();
        let mut second = enis[0].clone();
        second["NetworkInterfaceId"] = "eni-0002".into();
        second["Groups"] = serde_json::json!([{"GroupId": "sg-0second", "GroupName": "second"}]);
        second["PrivateIpAddresses"][0]["Association"]["PublicIp"] = "54.1.2.4".into();
        enis.push(second);
        let (_, groups) = files
            .iter_mut()
            .find(|(n, _)| n == "describe-security-groups.json")
            .unwrap();
        groups["SecurityGroups"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "GroupId": "sg-0second", "GroupName": "second", "VpcId": "vpc-0001",
                "IpPermissions": [permission("-1", None, &[second_cidr], None)],
            }));
        let refs: Vec<(&str, serde_json::Value)> =
            files.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        let report = scan_files(&refs);
        report
            .findings
            .iter()
            .find(|f| f.rule == "internet-facing-vm-nsg")
            .unwrap()
            .status
    };
    assert_eq!(judge("9.9.9.0/24"), portcullis::finding::Status::Healthy);
    assert_eq!(judge("9.9.8.0/23"), portcullis::finding::Status::Unhealthy);
}
