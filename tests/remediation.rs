//! The commands each unhealthy finding comes with: for small estates in the clouds' export
//! formats, the exact `az` and `aws` command lines, with the estate's own ids.

mod support;

use portcullis::output::Report;
use serde_json::json;
use support::*;

const CLOSED: &str = "management-ports-closed";
const JIT: &str = "management-ports-jit";
const NSG: &str = "internet-facing-vm-nsg";

fn commands(report: &Report, rule: &str) -> Vec<String> {
    report
        .findings
        .iter()
        .find(|f| f.rule == rule)
        .unwrap_or_else(|| panic!("no {rule} finding"))
        .commands
        .clone()
}

fn azure(vm: AzureVm) -> Report {
    scan_files(&[("resources.json", json!({ "value": vm.resources(false) }))])
}

fn rule_id(nsg: &str, rule: &str) -> String {
    format!(
        "{}/securityRules/{rule}",
        rg_id("Microsoft.Network/networkSecurityGroups", nsg)
    )
}

#[test]
fn azure_commands() {
    let nic_rule = rule_id("nic-nsg", "allow-100");
    let cases: Vec<(&str, AzureVm, &str, Vec<String>)> = vec![
        (
            "a rule that opens only a management port is deleted",
            AzureVm::new().nic(vec![allow(100, "Tcp", "*", "22")]),
            CLOSED,
            vec![format!("az network nsg rule delete --ids {nic_rule}")],
        ),
        (
            "a rule that also opens other ports keeps them",
            AzureVm::new().nic(vec![allow(100, "Tcp", "Internet", "20-25")]),
            CLOSED,
            vec![format!(
                "az network nsg rule update --ids {nic_rule} --destination-port-ranges 20 24-25"
            )],
        ),
        (
            "both layers allow: either rule closes the port",
            AzureVm::new()
                .subnet(vec![allow(100, "Tcp", "*", "3389")])
                .nic(vec![allow(100, "Tcp", "*", "3389")]),
            CLOSED,
            vec![
                format!(
                    "az network nsg rule delete --ids {}",
                    rule_id("subnet-nsg", "allow-100")
                ),
                format!("az network nsg rule delete --ids {nic_rule}"),
            ],
        ),
        (
            "no NSG anywhere: one is created on the NIC",
            AzureVm::new(),
            NSG,
            vec![
                "az network nsg create --resource-group rg --name nic-nsg --location westeurope"
                    .to_string(),
                format!(
                    "az network nic update --ids {} --network-security-group nic-nsg",
                    rg_id("Microsoft.Network/networkInterfaces", "nic")
                ),
            ],
        ),
        (
            "standing access from one address: JIT, then the standing rule goes; grants stay",
            AzureVm::new().nic(vec![
                allow(100, "Tcp", "81.2.69.160", "22"),
                allow(101, "Tcp", "81.2.69.161", "22").named("SecurityCenter-JITRule-1"),
            ]),
            JIT,
            vec![
                format!(
                    "az rest --method put --uri 'https://management.azure.com/subscriptions/{SUB}/\
                     resourceGroups/rg/providers/Microsoft.Security/locations/westeurope/\
                     jitNetworkAccessPolicies/vm-jit?api-version=2020-01-01' --body \
                     '{{\"kind\":\"Basic\",\"properties\":{{\"virtualMachines\":[{{\"id\":\"{}\",\
                     \"ports\":[{{\"allowedSourceAddressPrefix\":\"*\",\"maxRequestAccessDuration\":\
                     \"PT3H\",\"number\":22,\"protocol\":\"TCP\"}}]}}]}}}}'",
                    rg_id("Microsoft.Compute/virtualMachines", "vm")
                ),
                format!("az network nsg rule delete --ids {nic_rule}"),
            ],
        ),
    ];
    for (name, vm, rule, want) in cases {
        assert_eq!(commands(&azure(vm), rule), want, "{name}");
    }
}

#[test]
fn aws_commands() {
    let revoke = "aws ec2 revoke-security-group-ingress --region eu-west-1 --group-id sg-0000 \
                  --ip-permissions";
    let cases: Vec<(&str, AwsVm, &str, Vec<String>)> = vec![
        (
            "SSH from anywhere is revoked",
            AwsVm::new(vec![vec![permission("tcp", Some((22, 22)), &["0.0.0.0/0"], None)]]),
            CLOSED,
            vec![format!(
                r#"{revoke} '[{{"FromPort":22,"IpProtocol":"tcp","IpRanges":[{{"CidrIp":"0.0.0.0/0"}}],"ToPort":22}}]'"#
            )],
        ),
        (
            "only internet sources go; other ports come back",
            AwsVm {
                ipv6: Some("2a05:d018:1:1::10"),
                ..AwsVm::new(vec![vec![permission(
                    "tcp",
                    Some((20, 25)),
                    &["0.0.0.0/0", "::/0", "10.0.0.0/8"],
                    None,
                )]])
            },
            CLOSED,
            vec![
                format!(
                    r#"{revoke} '[{{"FromPort":20,"IpProtocol":"tcp","IpRanges":[{{"CidrIp":"0.0.0.0/0"}}],"Ipv6Ranges":[{{"CidrIpv6":"::/0"}}],"ToPort":25}}]'"#
                ),
                "aws ec2 authorize-security-group-ingress --region eu-west-1 --group-id sg-0000 \
                 --ip-permissions '[{\"FromPort\":20,\"IpProtocol\":\"tcp\",\"IpRanges\":[{\"CidrIp\":\
                 \"0.0.0.0/0\"}],\"Ipv6Ranges\":[{\"CidrIpv6\":\"::/0\"}],\"ToPort\":20},{\"FromPort\":\
                 24,\"IpProtocol\":\"tcp\",\"IpRanges\":[{\"CidrIp\":\"0.0.0.0/0\"}],\"Ipv6Ranges\":\
                 [{\"CidrIpv6\":\"::/0\"}],\"ToPort\":25}]'"
                    .to_string(),
            ],
        ),
        (
            "all traffic from anywhere is revoked",
            AwsVm::new(vec![vec![permission("-1", None, &["0.0.0.0/0"], None)]]),
            NSG,
            vec![format!(
                r#"{revoke} '[{{"IpProtocol":"-1","IpRanges":[{{"CidrIp":"0.0.0.0/0"}}]}}]'"#
            )],
        ),
        (
            "a JIT grant is left alone",
            AwsVm::new(vec![vec![
                permission("tcp", Some((22, 22)), &["81.2.69.160/32"], Some("office")),
                permission(
                    "tcp",
                    Some((22, 22)),
                    &["81.2.69.161/32"],
                    Some("portcullis-jit-42"),
                ),
            ]]),
            JIT,
            vec![format!(
                r#"{revoke} '[{{"FromPort":22,"IpProtocol":"tcp","IpRanges":[{{"CidrIp":"81.2.69.160/32"}}],"ToPort":22}}]'"#
            )],
        ),
    ];
    for (name, vm, rule, want) in cases {
        assert_eq!(commands(&vm.scan(), rule), want, "{name}");
    }
}

#[test]
fn healthy_findings_have_no_commands() {
    let report = azure(AzureVm::new().nic(vec![allow(100, "Tcp", "*", "443")]));
    assert!(report.findings.iter().all(|f| f.commands.is_empty()));
}
