//! The `jit` strategy, a JIT lock-down as Defender for Cloud does it, without its flaw.
//!
//! Azure: in each NSG whose allows give a VM standing internet access to its management ports,
//! deny rules (one per protocol) with the internet as source (VNet, peered, VPN and Bastion
//! access stays) and the VM's private addresses as destination (a shared subnet NSG changes for
//! that VM only), at free priorities that beat every offending allow: Defender's deny loses to
//! existing allows, these must not. With no such priority (an allow at 100 and no gap) the
//! offending rules get the quick fix instead, and the plan says so. AWS security groups have no
//! deny: the offending access is revoked as in the quick fix. Every VM gets a JIT policy in the
//! plan (ports, the narrow sources that had standing access, three hours at most) for the later
//! access-request commands. Defender's `SecurityCenter-JITRule…` rules are never touched.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ipnetwork::IpNetwork;

use crate::engine::{self, PrefixLists, id_key};
use crate::finding::Finding;
use crate::model::{
    Access, AddressPrefix, Direction, NsgRule, PortSpec, Protocol, Provider, SgSourceKind, Snapshot,
};
use crate::remediate::blamed_rules;
use crate::rule_ref::RuleRef;
use crate::verdict::is_open;

use super::edit::{Workspace, lock_name};
use super::plan::{ChangeNote, JitPolicyPlan, SkipReason, Skipped};
use super::quick_fix::{fix_round, ranges_of};
use super::{Context, MAX_ROUNDS, jit_policy, still_unhealthy};

/// Locks the selected findings' VMs down; returns what stays unfixed and the JIT policies.
pub(super) fn run(work: &mut Workspace, context: &Context) -> (Vec<Skipped>, Vec<JitPolicyPlan>) {
    let lists = context.prefix_lists(&work.snapshot);
    let findings = context.unhealthy(&work.snapshot);
    let policies = findings
        .iter()
        .map(|f| jit_policy(f, narrow_sources(f, context, &lists)))
        .collect();
    let addresses = Addresses::new(&work.snapshot);
    for finding in findings.iter().filter(|f| f.provider == Provider::Azure) {
        lock_down(work, &addresses, finding);
    }
    let mut reasons: BTreeMap<String, Vec<SkipReason>> = BTreeMap::new();
    let fallback = ChangeNote::QuickFixInsteadOfLockdown;
    for _ in 0..MAX_ROUNDS {
        let (azure, aws): (Vec<Finding>, Vec<Finding>) = context
            .unhealthy(&work.snapshot)
            .into_iter()
            .partition(|f| f.provider == Provider::Azure);
        let fixed_azure = fix_round(work, context, &lists, &azure, &mut reasons, Some(&fallback));
        let fixed_aws = fix_round(work, context, &lists, &aws, &mut reasons, None);
        if !fixed_azure && !fixed_aws {
            break;
        }
    }
    let skipped = still_unhealthy(&context.unhealthy(&work.snapshot), &reasons);
    (skipped, policies)
}

/// Adds the VM's deny rules to each NSG that lets the internet in on its ports, where free
/// priorities beat every offending allow of that NSG.
fn lock_down(work: &mut Workspace, addresses: &Addresses, finding: &Finding) {
    let mut offending: BTreeMap<String, u32> = BTreeMap::new();
    for (rule, _) in blamed_rules(finding) {
        if let RuleRef::Nsg(rule) = rule {
            let lowest = offending.entry(rule.nsg.to_string()).or_insert(u32::MAX);
            *lowest = (*lowest).min(rule.rule.priority);
        }
    }
    let mut by_protocol: BTreeMap<Protocol, Vec<PortSpec>> = BTreeMap::new();
    for port in &finding.ports {
        by_protocol.entry(port.protocol).or_default().push(*port);
    }
    for (nsg, lowest) in offending {
        let addresses = addresses.of(&finding.resource, &nsg);
        if addresses.is_empty() {
            continue;
        }
        let Some(rules) = work.nsg_rules(&nsg) else {
            continue;
        };
        let free: Vec<u32> = (100..lowest.min(4097))
            .rev()
            .filter(|p| {
                !rules
                    .iter()
                    .any(|r| r.direction == Direction::Inbound && r.priority == *p)
            })
            .take(by_protocol.len())
            .collect();
        if free.len() < by_protocol.len() {
            continue;
        }
        let mut names = Vec::new();
        for ((protocol, ports), priority) in by_protocol.iter().zip(free) {
            let numbers: Vec<String> = ports.iter().map(|p| p.port.to_string()).collect();
            let name = lock_name(&[
                &finding.resource,
                &nsg,
                &protocol.to_string(),
                &numbers.join(","),
            ]);
            rules.push(NsgRule {
                name: name.clone(),
                priority,
                direction: Direction::Inbound,
                access: Access::Deny,
                protocol: *protocol,
                sources: vec![AddressPrefix::Tag("Internet".to_owned())],
                source_asg_ids: Vec::new(),
                source_ports: Vec::new(),
                destinations: addresses.to_vec(),
                destination_asg_ids: Vec::new(),
                destination_ports: ranges_of(ports.iter().map(|p| p.port)),
                origin: None,
            });
            names.push(name);
        }
        for name in names {
            work.note_nsg_rule(
                &nsg,
                &name,
                ChangeNote::Lockdown {
                    vm: finding.resource_name.clone(),
                },
            );
        }
    }
}

/// The private addresses of each VM's interfaces, by the NSGs that filter them (on the NIC or
/// its subnet), in the snapshot's order: built once, since a lock-down asks for every VM.
struct Addresses {
    /// By lower-cased VM id and NSG id.
    by_vm_and_nsg: HashMap<(String, String), Vec<AddressPrefix>>,
}

impl Addresses {
    fn new(snapshot: &Snapshot) -> Self {
        let mut subnet_nsgs: HashMap<String, Vec<String>> = HashMap::new();
        for subnet in &snapshot.subnets {
            if let Some(nsg) = &subnet.nsg_id {
                subnet_nsgs
                    .entry(id_key(&subnet.id))
                    .or_default()
                    .push(id_key(nsg));
            }
        }
        // A NIC belongs to the VM it names and to every VM that lists it.
        let mut listed: HashMap<String, Vec<String>> = HashMap::new();
        for vm in &snapshot.vms {
            for nic in &vm.nic_ids {
                listed.entry(id_key(nic)).or_default().push(id_key(&vm.id));
            }
        }
        let mut by_vm_and_nsg: HashMap<(String, String), Vec<AddressPrefix>> = HashMap::new();
        for nic in &snapshot.nics {
            let mut vms: Vec<String> = nic.vm_id.iter().map(|v| id_key(v)).collect();
            vms.extend(listed.get(&id_key(&nic.id)).into_iter().flatten().cloned());
            vms.dedup();
            let mut nsgs: Vec<String> = nic.nsg_id.iter().map(|n| id_key(n)).collect();
            if let Some(subnet) = &nic.subnet_id {
                nsgs.extend(
                    subnet_nsgs
                        .get(&id_key(subnet))
                        .into_iter()
                        .flatten()
                        .cloned(),
                );
            }
            for vm in &vms {
                for nsg in &nsgs {
                    let out = by_vm_and_nsg.entry((vm.clone(), nsg.clone())).or_default();
                    for ip in nic.ip_configs.iter().filter_map(|c| c.private_ip) {
                        let prefix = AddressPrefix::Network(host(ip));
                        if !out.contains(&prefix) {
                            out.push(prefix);
                        }
                    }
                }
            }
        }
        Self { by_vm_and_nsg }
    }

    /// The private addresses of `vm`'s interfaces that `nsg` filters.
    fn of(&self, vm: &str, nsg: &str) -> &[AddressPrefix] {
        self.by_vm_and_nsg
            .get(&(id_key(vm), id_key(nsg)))
            .map_or(&[], Vec::as_slice)
    }
}

fn host(ip: IpAddr) -> IpNetwork {
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    IpNetwork::new(ip, bits).expect("a host prefix is valid")
}

/// The narrow internet sources that gave the finding's VM standing access: who a JIT policy
/// should let ask.
fn narrow_sources(finding: &Finding, context: &Context, lists: &PrefixLists) -> Vec<String> {
    let narrow = |set: crate::addrset::AddressSet| {
        let internet = set.intersect(&context.config.internet);
        !internet.is_empty() && !is_open(&internet, &context.thresholds)
    };
    let mut out: Vec<String> = Vec::new();
    for (rule, _) in blamed_rules(finding) {
        let found: Vec<String> = match rule {
            RuleRef::Nsg(rule) => rule
                .rule
                .sources
                .iter()
                .filter(|s| narrow(engine::nsg_source_addresses(s, &context.config)))
                .map(ToString::to_string)
                .collect(),
            RuleRef::SecurityGroup(rule) => match &rule.source {
                SgSourceKind::Cidr(net)
                    if narrow(engine::sg_source_addresses(
                        &rule.source,
                        lists,
                        &context.config,
                    )) =>
                {
                    vec![net.to_string()]
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        for source in found {
            if !out.contains(&source) {
                out.push(source);
            }
        }
    }
    out
}
