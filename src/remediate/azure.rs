//! `az` commands: narrow or delete the NSG rules the evidence blames, give a NIC without any NSG
//! a new one, and enable a Defender for Cloud JIT policy.

use serde_json::json;

use super::line::Commands;
use super::{Index, remaining};
use crate::engine::id_key;
use crate::finding::Finding;
use crate::model::{NsgRule, PortRange, PortSpec, Protocol, Vm};
use crate::rule_ref::NsgRuleRef;

impl Index<'_> {
    /// An NSG for each NIC that has none, on itself or its subnet.
    pub(super) fn add_nsgs(&self, vm: &Vm, commands: &mut Commands) {
        for nic in self.vm_nics(vm) {
            let subnet_nsg = nic
                .subnet_id
                .as_ref()
                .and_then(|s| self.links().subnet_nsgs.get(&id_key(s)).copied().flatten());
            if nic.nsg_id.is_some() || subnet_nsg.is_some() {
                continue;
            }
            let Some(group) = resource_group(&nic.id) else {
                continue;
            };
            let name = format!("{}-nsg", last_segment(&nic.id));
            let mut create = vec![
                "az",
                "network",
                "nsg",
                "create",
                "--resource-group",
                group,
                "--name",
                &name,
            ];
            if let Some(region) = &vm.region {
                create.extend(["--location", region]);
            }
            commands.push(&create);
            commands.push(&[
                "az",
                "network",
                "nic",
                "update",
                "--ids",
                &nic.id,
                "--network-security-group",
                &name,
            ]);
        }
    }

    /// A Defender for Cloud JIT policy for the VM's blamed ports, unless one covers it already.
    /// The policy is named after the VM; when the VM's name is not safe to paste, after the last
    /// segment of its id.
    pub(super) fn enable_jit(&self, vm: &Vm, finding: &Finding, commands: &mut Commands) {
        if self.jit_vms.contains(&id_key(&vm.id)) {
            return;
        }
        let (Some(group), Some(region)) = (resource_group(&vm.id), vm.region.as_deref()) else {
            return;
        };
        let mut numbers: Vec<(u16, &str)> = Vec::new();
        for spec in &finding.ports {
            let protocol = if spec.protocol == Protocol::UDP {
                "UDP"
            } else {
                "TCP"
            };
            match numbers.iter_mut().find(|(n, _)| *n == spec.port) {
                Some(existing) if existing.1 != protocol => existing.1 = "*",
                Some(_) => {}
                None => numbers.push((spec.port, protocol)),
            }
        }
        let ports: Vec<_> = numbers
            .iter()
            .map(|(number, protocol)| {
                // Keys in alphabetical order: the text is the same whether or not serde_json
                // preserves insertion order (a feature other crates may turn on).
                json!({
                    "allowedSourceAddressPrefix": "*",
                    "maxRequestAccessDuration": "PT3H",
                    "number": number,
                    "protocol": protocol,
                })
            })
            .collect();
        let body = json!({
            "kind": "Basic",
            "properties": {"virtualMachines": [{"id": vm.id, "ports": ports}]},
        })
        .to_string();
        let put = |policy: &str| {
            let uri = format!(
                "https://management.azure.com/subscriptions/{}/resourceGroups/{group}/providers/\
                 Microsoft.Security/locations/{region}/jitNetworkAccessPolicies/{policy}-jit\
                 ?api-version=2020-01-01",
                vm.scope
            );
            [
                "az", "rest", "--method", "put", "--uri", &uri, "--body", &body,
            ]
            .map(str::to_owned)
            .to_vec()
        };
        let forms = [put(&vm.name), put(last_segment(&vm.id))];
        commands.push_first(forms.iter().map(Vec::as_slice));
    }
}

/// Deletes an NSG rule, or when it also opens ports the finding does not blame, rewrites its
/// destination ports without the blamed ones. Default rules cannot be changed (and never let
/// the internet in anyway).
pub(super) fn narrow_nsg_rule(rule: &NsgRuleRef, ports: &[PortSpec], commands: &mut Commands) {
    if rule.default {
        return;
    }
    let rule_id = rule.rule_id();
    let remaining = remaining_ports(&rule.rule, ports);
    if remaining.is_empty() {
        commands.push(&["az", "network", "nsg", "rule", "delete", "--ids", &rule_id]);
    } else {
        let mut words = vec![
            "az",
            "network",
            "nsg",
            "rule",
            "update",
            "--ids",
            &rule_id,
            "--destination-port-ranges",
        ];
        words.extend(remaining.iter().map(String::as_str));
        commands.push(&words);
    }
}

/// A rule's destination port ranges without `ports`, as NSG port range strings.
fn remaining_ports(rule: &NsgRule, ports: &[PortSpec]) -> Vec<String> {
    let ranges = if rule.destination_ports.is_empty() {
        vec![PortRange::ALL]
    } else {
        rule.destination_ports.clone()
    };
    remaining(&ranges, ports)
        .iter()
        .map(PortRange::to_string)
        .collect()
}

/// The resource group segment of an Azure resource id.
pub(crate) fn resource_group(id: &str) -> Option<&str> {
    let mut segments = id.split('/');
    segments.find(|s| s.eq_ignore_ascii_case("resourceGroups"))?;
    segments.next().filter(|s| !s.is_empty())
}

fn last_segment(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}
