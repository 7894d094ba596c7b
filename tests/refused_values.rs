//! Values the cloud itself would refuse or that do not do what they seem, judged as the cloud
//! would, each with a warning naming the resource (section 3 of the semantics): NSG priorities
//! outside 100–4096, blackhole routes, addresses of one family in a field of the other.
//!
//! Expected letters are the statuses of `internet-facing-vm-nsg`, `management-ports-closed` and
//! `management-ports-jit`: H healthy, U unhealthy, N not applicable.

mod support;

use serde_json::{Value, json};
use support::*;

struct Case {
    name: &'static str,
    files: Vec<(String, Value)>,
    expect: &'static str,
    open: &'static [&'static str],
    /// A warning holds every one of these; empty: no warning may mention "refuse" or
    /// "blackhole".
    warning: &'static [&'static str],
}

fn azure(
    name: &'static str,
    vm: AzureVm,
    expect: &'static str,
    warning: &'static [&'static str],
) -> Case {
    let open: &'static [&'static str] = if expect == "HUU" { &["3389/tcp"] } else { &[] };
    Case {
        name,
        files: vec![(
            "estate.json".into(),
            json!({ "value": vm.resources(false) }),
        )],
        expect,
        open,
        warning,
    }
}

fn aws(
    name: &'static str,
    files: Vec<(String, Value)>,
    expect: &'static str,
    warning: &'static [&'static str],
) -> Case {
    let open: &'static [&'static str] = if expect == "HUU" { &["3389/tcp"] } else { &[] };
    Case {
        name,
        files,
        expect,
        open,
        warning,
    }
}

fn rdp_from(sources: &[&str]) -> Vec<Value> {
    vec![permission("tcp", Some((3389, 3389)), sources, None)]
}

/// An estate whose first security group permission lists `cidr` under `Ipv6Ranges` (or
/// `IpRanges` when `v6` is false), as a hand-edited or converted export might.
fn aws_misfiled_rdp(cidr: &str, field: &str, vm: AwsVm) -> Vec<(String, Value)> {
    let mut files = vm.files();
    let (_, groups) = files
        .iter_mut()
        .find(|(n, _)| n == "describe-security-groups.json")
        .unwrap();
    let (list, key) = if field == "Ipv6Ranges" {
        ("Ipv6Ranges", "CidrIpv6")
    } else {
        ("IpRanges", "CidrIp")
    };
    groups["SecurityGroups"][0]["IpPermissions"][0][list] = json!([{ key: cidr }]);
    files
}

fn with_routes(routes: Vec<(&'static str, &'static str)>) -> AwsVm {
    AwsVm {
        routes,
        ..AwsVm::new(vec![rdp_from(&["0.0.0.0/0"])])
    }
}

fn cases() -> Vec<Case> {
    let rdp = |priority| allow(priority, "Tcp", "*", "3389");
    let deny_rdp = |priority| deny(priority, "Tcp", "*", "3389");
    vec![
        // NSG priorities: Azure takes 100–4096 for custom rules; a rule outside is not in force.
        azure(
            "a deny at priority 50 cannot shadow the allow at 100",
            AzureVm::new().nic(vec![deny_rdp(50), rdp(100)]),
            "HUU",
            &["deny-50", "priority 50", "estate.json:"],
        ),
        azure(
            "an allow at priority 5000 was never applied",
            AzureVm::new().nic(vec![rdp(5000)]),
            "HHH",
            &["allow-5000", "priority 5000", "nic-nsg"],
        ),
        azure(
            "priorities 100 and 4096 are Azure's own bounds",
            AzureVm::new().nic(vec![deny_rdp(100), rdp(4096)]),
            "HHH",
            &[],
        ),
        // An Azure public IP whose address is not of the version it declares.
        azure(
            "an IPv4 address on a public IP declared IPv6 is reached over IPv4",
            AzureVm {
                public_ips: vec![("IPv6", Some("20.1.2.3"))],
                ..AzureVm::new()
            }
            .nic(vec![allow(100, "Tcp", "0.0.0.0/0", "3389")]),
            "HUU",
            &[
                "pip0",
                "20.1.2.3",
                "is IPv4 where IPv6 is expected",
                "estate.json:",
            ],
        ),
        // AWS routes: the most specific route decides, and a blackhole drops.
        aws(
            "more specific blackhole routes shadow the internet gateway's default route",
            with_routes(vec![
                ("0.0.0.0/0", "igw-0a1"),
                ("0.0.0.0/1", "igw-0old:blackhole"),
                ("128.0.0.0/1", "igw-0old:blackhole"),
            ])
            .files(),
            "NNN",
            &["rtb-0001", "0.0.0.0/1", "blackhole"],
        ),
        aws(
            "a blackhole route for part of the internet leaves the rest exposed",
            with_routes(vec![
                ("0.0.0.0/0", "igw-0a1"),
                ("8.0.0.0/8", "nat-0old:blackhole"),
            ])
            .files(),
            "HUU",
            &["rtb-0001", "8.0.0.0/8", "blackhole"],
        ),
        aws(
            "a blackhole route decides the addresses it covers",
            AwsVm {
                routes: vec![
                    ("0.0.0.0/0", "igw-0a1"),
                    ("8.0.0.0/8", "nat-0old:blackhole"),
                ],
                ..AwsVm::new(vec![rdp_from(&["8.8.8.0/24"])])
            }
            .files(),
            "HHH",
            &["8.0.0.0/8", "blackhole"],
        ),
        aws(
            "the default route split in halves to an internet gateway still reaches the internet",
            with_routes(vec![("0.0.0.0/1", "igw-0a1"), ("128.0.0.0/1", "igw-0a1")]).files(),
            "HUU",
            &[],
        ),
        // AWS addresses of the wrong family: judged as what they are.
        aws(
            "0.0.0.0/0 listed under Ipv6Ranges still opens RDP to IPv4",
            aws_misfiled_rdp("0.0.0.0/0", "Ipv6Ranges", AwsVm::new(vec![rdp_from(&[])])),
            "HUU",
            &[
                "CidrIpv6 \"0.0.0.0/0\"",
                "sg-0000",
                "is IPv4 where IPv6 is expected",
                "describe-security-groups.json:",
            ],
        ),
        aws(
            "::/0 listed under IpRanges opens RDP to IPv6",
            aws_misfiled_rdp(
                "::/0",
                "IpRanges",
                AwsVm {
                    public_v4: None,
                    ipv6: Some("2600:1f18::10"),
                    ..AwsVm::new(vec![rdp_from(&[])])
                },
            ),
            "HUU",
            &["CidrIp \"::/0\"", "is IPv6 where IPv4 is expected"],
        ),
    ]
}

#[test]
fn refused_values_are_judged_as_the_cloud_would_with_a_warning() {
    let mut failures = Vec::new();
    for case in cases() {
        let refs: Vec<(&str, Value)> = case
            .files
            .iter()
            .map(|(n, v)| (n.as_str(), v.clone()))
            .collect();
        let report = scan_files(&refs);
        let (letters, open) = verdicts(&report);
        if letters != case.expect || open != case.open {
            failures.push(format!(
                "{}: got {letters} open {open:?}, want {} open {:?}",
                case.name, case.expect, case.open
            ));
        }
        let warned = if case.warning.is_empty() {
            !report
                .warnings
                .iter()
                .any(|w| w.contains("refuse") || w.contains("blackhole"))
        } else {
            report
                .warnings
                .iter()
                .any(|w| case.warning.iter().all(|part| w.contains(part)))
        };
        if !warned {
            failures.push(format!(
                "{}: want a warning with {:?}, got {:?}",
                case.name, case.warning, report.warnings
            ));
        }
    }
    assert_no_failures(&failures);
}

/// Azure's own default rules sit at 65000 and above; an export that lists them is not warned
/// about, and they still close what no custom rule opens.
#[test]
fn exported_default_rules_keep_their_priorities() {
    let vm = AzureVm::new().nic(vec![allow(100, "Tcp", "10.0.0.0/8", "3389")]);
    let mut resources = vm.resources(false);
    let nsg = resources
        .iter_mut()
        .find(|r| r["name"] == "nic-nsg")
        .unwrap();
    nsg["properties"]["defaultSecurityRules"] = json!([{
        "name": "DenyAllInBound",
        "properties": {"protocol": "*", "sourcePortRange": "*", "destinationPortRange": "*",
            "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "access": "Deny",
            "priority": 65500, "direction": "Inbound"}
    }]);
    let report = scan_files(&[("estate.json", json!({ "value": resources }))]);
    assert_eq!(verdicts(&report).0, "HHH");
    assert!(
        !report.warnings.iter().any(|w| w.contains("priority")),
        "{:?}",
        report.warnings
    );
}
