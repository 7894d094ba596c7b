//! Azure verdicts for every case of the exposure semantics (sections 2–5), each scanned in both
//! the ARM REST shape and the az CLI flattened shape.
//!
//! Expected letters are the statuses of `internet-facing-vm-nsg`, `management-ports-closed` and
//! `management-ports-jit`: H healthy, U unhealthy, N not applicable.

mod support;

use serde_json::Value;
use support::*;

struct Case {
    name: &'static str,
    vm: AzureVm,
    expect: &'static str,
    open: &'static [&'static str],
}

fn case(
    name: &'static str,
    vm: AzureVm,
    expect: &'static str,
    open: &'static [&'static str],
) -> Case {
    Case {
        name,
        vm,
        expect,
        open,
    }
}

fn cases() -> Vec<Case> {
    let ssh_from = |source| vec![allow(100, "Tcp", source, "22")];
    vec![
        // Section 2: who can reach a VM.
        case(
            "no public IP: not internet-facing",
            AzureVm {
                public_ips: vec![],
                ..AzureVm::new()
            }
            .nic(ssh_from("*")),
            "NNN",
            &[],
        ),
        case(
            "public IP resource without an address still counts",
            AzureVm {
                public_ips: vec![("IPv4", None)],
                ..AzureVm::new()
            }
            .nic(ssh_from("*")),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "no NSG at either level allows everything",
            AzureVm::new(),
            "UUN",
            &[
                "21/tcp", "22/tcp", "23/tcp", "389/tcp", "389/udp", "1433/tcp", "3389/tcp",
                "3389/udp", "5985/tcp", "5986/tcp",
            ],
        ),
        case(
            "subnet NSG denies, NIC NSG allows: closed",
            AzureVm::new().subnet(vec![]).nic(ssh_from("*")),
            "HHH",
            &[],
        ),
        case(
            "subnet NSG allows, NIC NSG allows: open",
            AzureVm::new()
                .subnet(ssh_from("Internet"))
                .nic(ssh_from("*")),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "NSG only on the subnet, no NIC NSG",
            AzureVm::new().subnet(ssh_from("*")),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "NSG only on the NIC, no subnet NSG",
            AzureVm::new().nic(ssh_from("*")),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "destination is the private address, never the public one",
            AzureVm::new().nic(vec![Rule {
                destination: Some("20.1.2.3"),
                ..allow(100, "Tcp", "*", "22")
            }]),
            "HHH",
            &[],
        ),
        case(
            "destination naming the private address matches",
            AzureVm::new().nic(vec![Rule {
                destination: Some("10.0.0.4/32"),
                ..allow(100, "Tcp", "*", "22")
            }]),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "IPv6 public address reached from ::/0",
            AzureVm {
                public_ips: vec![("IPv6", Some("2603:1000::5"))],
                ..AzureVm::new()
            }
            .nic(ssh_from("::/0")),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "IPv4 rule does not expose an IPv6-only VM",
            AzureVm {
                public_ips: vec![("IPv6", Some("2603:1000::5"))],
                ..AzureVm::new()
            }
            .nic(ssh_from("0.0.0.0/0")),
            "HHH",
            &[],
        ),
        case(
            "a deallocated VM with a public IP is judged",
            AzureVm {
                power_state: "deallocated",
                ..AzureVm::new()
            }
            .nic(ssh_from("*")),
            "HUU",
            &["22/tcp"],
        ),
        // Section 3: rule semantics.
        case(
            "priority order, not file order: allow 100 listed after deny 200",
            AzureVm::new().nic(vec![deny(200, "*", "*", "*"), allow(100, "Tcp", "*", "22")]),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "deny at lower priority number shadows a later allow",
            AzureVm::new().nic(vec![
                allow(300, "Tcp", "*", "22"),
                deny(110, "Tcp", "Internet", "22"),
            ]),
            "HHH",
            &[],
        ),
        case(
            "default DenyAllInBound applies when the data leaves it out",
            AzureVm::new().nic(vec![]),
            "HHH",
            &[],
        ),
        case(
            "protocol names are case-insensitive",
            AzureVm::new().nic(vec![allow(100, "TCP", "*", "3389")]),
            "HUU",
            &["3389/tcp"],
        ),
        case(
            "Udp rule opens only the UDP ports",
            AzureVm::new().nic(vec![allow(100, "Udp", "*", "3389")]),
            "HUU",
            &["3389/udp"],
        ),
        case(
            "Icmp rule opens no port",
            AzureVm::new().nic(vec![allow(100, "Icmp", "*", "*")]),
            "HHH",
            &[],
        ),
        case(
            "Esp and Ah rules open no port",
            AzureVm::new().nic(vec![
                allow(100, "Esp", "*", "*"),
                allow(110, "Ah", "*", "*"),
            ]),
            "HHH",
            &[],
        ),
        case(
            "plural destinationAddressPrefixes matching the private address",
            AzureVm::new().nic(vec![Rule {
                destination: None,
                destinations: vec!["10.1.0.0/16", "10.0.0.0/24"],
                ..allow(100, "Tcp", "*", "22")
            }]),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "plural destinationAddressPrefixes missing the private address",
            AzureVm::new().nic(vec![Rule {
                destination: None,
                destinations: vec!["10.1.0.0/16", "10.0.1.0/24"],
                ..allow(100, "Tcp", "*", "22")
            }]),
            "HHH",
            &[],
        ),
        case(
            "destinationPortRange and destinationPortRanges together",
            AzureVm::new().nic(vec![Rule {
                ports: vec!["443", "3389"],
                ..allow(100, "Tcp", "*", "80")
            }]),
            "HUU",
            &["3389/tcp"],
        ),
        case(
            "plural destinationPortRanges alone",
            AzureVm::new().nic(vec![Rule {
                port: None,
                ports: vec!["5985-5986", "8080"],
                ..allow(100, "Tcp", "*", "")
            }]),
            "HUU",
            &["5985/tcp", "5986/tcp"],
        ),
        case(
            "port range N-M",
            AzureVm::new().nic(vec![allow(100, "Tcp", "*", "20-23")]),
            "HUU",
            &["21/tcp", "22/tcp", "23/tcp"],
        ),
        case(
            "* ports and * protocol open everything",
            AzureVm::new().nic(vec![allow(100, "*", "*", "*")]),
            "HUU",
            &[
                "21/tcp", "22/tcp", "23/tcp", "389/tcp", "389/udp", "1433/tcp", "3389/tcp",
                "3389/udp", "5985/tcp", "5986/tcp",
            ],
        ),
        case(
            "split CIDRs 0.0.0.0/1 + 128.0.0.0/1 in sourceAddressPrefixes",
            AzureVm::new().nic(vec![Rule {
                source: None,
                sources: vec!["0.0.0.0/1", "128.0.0.0/1"],
                ..allow(100, "Tcp", "", "3389")
            }]),
            "HUU",
            &["3389/tcp"],
        ),
        case(
            "sourceAddressPrefix and sourceAddressPrefixes together",
            AzureVm::new().nic(vec![Rule {
                sources: vec!["52.0.0.0/8"],
                ..allow(100, "Tcp", "10.0.0.0/8", "22")
            }]),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "Any as a source",
            AzureVm::new().nic(ssh_from("Any")),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "0.0.0.0/0 as a source",
            AzureVm::new().nic(ssh_from("0.0.0.0/0")),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "Internet service tag",
            AzureVm::new().nic(ssh_from("Internet")),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "a bare address is reachable but not open",
            AzureVm::new().nic(ssh_from("203.0.114.9")),
            "HHU",
            &[],
        ),
        case(
            "VirtualNetwork is not an internet source",
            AzureVm::new().nic(ssh_from("VirtualNetwork")),
            "HHH",
            &[],
        ),
        case(
            "AzureLoadBalancer is not an internet source",
            AzureVm::new().nic(ssh_from("AzureLoadBalancer")),
            "HHH",
            &[],
        ),
        case(
            "private ranges are not the internet",
            AzureVm::new().nic(ssh_from("10.0.0.0/8")),
            "HHH",
            &[],
        ),
        case(
            "other service tags count as broad internet sources",
            AzureVm::new().nic(ssh_from("AzureCloud")),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "application security groups as sources are internal",
            AzureVm::new().nic(vec![Rule {
                source: None,
                source_asgs: vec!["admins"],
                ..allow(100, "Tcp", "", "22")
            }]),
            "HHH",
            &[],
        ),
        case(
            "destination application security group the NIC belongs to",
            AzureVm {
                nic_asgs: vec!["web"],
                ..AzureVm::new()
            }
            .nic(vec![Rule {
                destination: None,
                destination_asgs: vec!["web"],
                ..allow(100, "Tcp", "*", "22")
            }]),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "destination application security group the NIC is not in",
            AzureVm {
                nic_asgs: vec!["web"],
                ..AzureVm::new()
            }
            .nic(vec![Rule {
                destination: None,
                destination_asgs: vec!["db"],
                ..allow(100, "Tcp", "*", "22")
            }]),
            "HHH",
            &[],
        ),
        case(
            "VirtualNetwork as destination matches the NIC",
            AzureVm::new().nic(vec![Rule {
                destination: Some("VirtualNetwork"),
                ..allow(100, "Tcp", "*", "22")
            }]),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "allow restricted to source ports still exposes",
            AzureVm::new().nic(vec![Rule {
                source_port: "1024-65535",
                ..allow(100, "Tcp", "*", "22")
            }]),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "deny restricted to source ports shadows nothing",
            AzureVm::new().nic(vec![
                Rule {
                    source_port: "0-1023",
                    ..deny(100, "Tcp", "*", "22")
                },
                allow(200, "Tcp", "*", "22"),
            ]),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "outbound rules do not filter inbound traffic",
            AzureVm::new().nic(vec![
                Rule {
                    direction: "Outbound",
                    ..deny(100, "*", "*", "*")
                },
                allow(200, "Tcp", "*", "22"),
            ]),
            "HUU",
            &["22/tcp"],
        ),
        // Section 4: open and reachable.
        case(
            "exactly one /24 is not open",
            AzureVm::new().nic(ssh_from("8.8.8.0/24")),
            "HHU",
            &[],
        ),
        case(
            "a /23 is open",
            AzureVm::new().nic(ssh_from("8.8.8.0/23")),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "two /25s add up to 256: not open",
            AzureVm::new().nic(vec![Rule {
                source: None,
                sources: vec!["8.8.8.0/25", "9.9.9.128/25"],
                ..allow(100, "Tcp", "", "22")
            }]),
            "HHU",
            &[],
        ),
        case(
            "two /25s and one more address: 257, open",
            AzureVm::new().nic(vec![Rule {
                source: None,
                sources: vec!["8.8.8.0/25", "9.9.9.128/25", "1.1.1.1"],
                ..allow(100, "Tcp", "", "22")
            }]),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "denies leave the allow only reserved ranges: closed",
            AzureVm::new().nic(vec![
                deny(100, "Tcp", "0.0.0.0/1", "22"),
                deny(110, "Tcp", "128.0.0.0/2", "22"),
                deny(120, "Tcp", "192.0.0.0/3", "22"),
                allow(200, "Tcp", "224.0.0.0/3", "22"),
            ]),
            "HHH",
            &[],
        ),
        case(
            "one IPv6 /48 is not open",
            AzureVm {
                public_ips: vec![("IPv6", None)],
                ..AzureVm::new()
            }
            .nic(ssh_from("2a01:100:5::/48")),
            "HHU",
            &[],
        ),
        case(
            "an IPv6 /47 is open",
            AzureVm {
                public_ips: vec![("IPv6", None)],
                ..AzureVm::new()
            }
            .nic(ssh_from("2a01:100:4::/47")),
            "HUU",
            &["22/tcp"],
        ),
        case(
            "documentation IPv6 range is not the internet",
            AzureVm {
                public_ips: vec![("IPv6", None)],
                ..AzureVm::new()
            }
            .nic(ssh_from("2001:db8::/32")),
            "HHH",
            &[],
        ),
        // Section 5: JIT.
        case(
            "a Defender JIT grant as the only allow",
            AzureVm::new().nic(vec![
                allow(100, "Tcp", "203.0.114.9", "22").named("SecurityCenter-JITRule_123_abc"),
                deny(1000, "*", "*", "22"),
            ]),
            "HHH",
            &[],
        ),
        case(
            "a portcullis JIT grant as the only allow",
            AzureVm::new().nic(vec![
                allow(100, "Tcp", "203.0.114.9", "3389").named("portcullis-jit-alice-3389"),
            ]),
            "HHH",
            &[],
        ),
        case(
            "a standing narrow allow beside a JIT grant",
            AzureVm::new().nic(vec![
                allow(100, "Tcp", "203.0.114.9", "22").named("SecurityCenter-JITRule_1"),
                allow(200, "Tcp", "198.18.0.1", "22"),
                allow(210, "Tcp", "52.10.0.1", "3389"),
            ]),
            "HHU",
            &[],
        ),
        case(
            "subnet allows everything, the NIC's only allow is a JIT grant",
            AzureVm::new()
                .subnet(vec![allow(100, "*", "*", "*")])
                .nic(vec![
                    allow(100, "Tcp", "203.0.114.9", "22").named("SecurityCenter-JITRule_1"),
                ]),
            "HHH",
            &[],
        ),
    ]
}

#[test]
fn azure_cases_in_both_shapes() {
    let mut failures = Vec::new();
    for case in cases() {
        for (shape, flattened) in [("ARM", false), ("az CLI", true)] {
            let resources: Vec<Value> = case.vm.resources(flattened);
            let report = scan_files(&[("estate.json", Value::Array(resources))]);
            let (letters, open) = verdicts(&report);
            if letters != case.expect || open != case.open {
                failures.push(format!(
                    "{} [{shape}]: got {letters} open {open:?}, want {} open {:?}",
                    case.name, case.expect, case.open
                ));
            }
        }
    }
    assert_no_failures(&failures);
}

#[test]
fn broad_service_tag_is_reported() {
    let vm = AzureVm::new().nic(vec![allow(100, "Tcp", "AzureCloud", "22")]);
    let report = scan_files(&[("estate.json", Value::Array(vm.resources(false)))]);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("AzureCloud") && w.contains("whole internet")),
        "{:?}",
        report.warnings
    );
}

#[test]
fn evidence_names_the_deciding_rules_of_both_layers() {
    let vm = AzureVm::new()
        .subnet(vec![
            allow(100, "Tcp", "Internet", "22").named("subnet-ssh"),
        ])
        .nic(vec![
            allow(100, "Tcp", "0.0.0.0/1", "22").named("nic-half"),
            allow(200, "Tcp", "*", "22").named("nic-rest"),
        ]);
    let report = scan_files(&[("estate.json", Value::Array(vm.resources(false)))]);
    let closed = report
        .findings
        .iter()
        .find(|f| f.rule == "management-ports-closed")
        .unwrap();
    let ssh = &closed.evidence.exposures[0];
    assert_eq!(ssh.port.to_string(), "22/tcp");
    assert_eq!(ssh.ipv4_addresses, 3_702_258_432);
    let mut names: Vec<(&str, u64)> = ssh
        .rules
        .iter()
        .map(|r| (r.name.as_str(), r.ipv4_addresses))
        .collect();
    names.sort();
    // 0.0.0.0/1 holds 2^31 addresses, of which the reserved ranges below 128.0.0.0 take some.
    let lower_half = ssh
        .rules
        .iter()
        .find(|r| r.name == "nic-half")
        .unwrap()
        .ipv4_addresses;
    assert_eq!(
        names,
        vec![
            ("nic-half", lower_half),
            ("nic-rest", 3_702_258_432 - lower_half),
            ("subnet-ssh", 3_702_258_432)
        ]
    );
    let rule = ssh.rules.iter().find(|r| r.name == "nic-half").unwrap();
    assert_eq!(rule.priority, Some(100));
    assert!(
        rule.file
            .as_deref()
            .is_some_and(|f| f.ends_with("estate.json"))
    );
    assert!(rule.line.is_some_and(|l| l > 1));
}
