//! Remediation commands: for each unhealthy finding, the `az` or `aws` commands that fix it, with
//! the estate's own ids, names and ports filled in, so a report says exactly what to run.
//!
//! Commands change only what the finding blames: the NSG rules and security group rules that let
//! the internet in (never network ACLs, which whole subnets share). An NSG rule that also opens
//! other ports is narrowed to those ports instead of deleted. A security group permission loses
//! only the sources that reach the internet. A NIC without any NSG gets a new one, which denies
//! inbound internet traffic by default. Commands are for a POSIX shell.
//!
//! The rules come from the typed references in the findings' evidence ([`crate::rule_ref`]): the
//! ids and contents of the rules as read, never display text or file lines, so a live scan gets
//! the same commands as a scan of files of the same estate. [`azure`] and [`aws`] write each
//! cloud's commands; [`line`] prints them only when they are safe to paste; [`plan_command`]
//! writes the `portcullis fix plan` command that plans a VM's fix, for the reports to print
//! next to these.

mod aws;
mod azure;
pub(crate) mod line;
mod plan_command;

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::addrset::{AddressSet, RangeSet};
use crate::engine::id_key;
use crate::finding::{Finding, Status};
use crate::model::{Nic, PortRange, PortSpec, Provider, SecurityGroup, Snapshot, Vm};
use crate::policy::{Policy, RecommendationKind};
use crate::rule_ref::RuleRef;
pub(crate) use aws::aws_protocol;
pub(crate) use azure::resource_group;
use line::Commands;
pub(crate) use plan_command::PlanCommands;

/// Fills [`Finding::commands`] of every unhealthy finding, in parallel.
pub fn fill(snapshot: &Snapshot, policy: &Policy, findings: &mut [Finding]) {
    let index = Index::new(snapshot, policy);
    findings
        .par_iter_mut()
        .filter(|f| f.status == Status::Unhealthy)
        .for_each(|finding| {
            if let Some(rec) = policy.recommendation(&finding.rule) {
                let commands = index.commands(finding, rec.kind);
                finding.commands = commands.lines;
                finding.commands_withheld = commands.withheld;
            }
        });
}

/// The snapshot's objects by id, for what the commands need beyond the evidence: the VM, its
/// interfaces and their security groups.
struct Index<'a> {
    snapshot: &'a Snapshot,
    internet: &'a AddressSet,
    /// Keyed by the exact ids that findings copy from the snapshot.
    vms: HashMap<&'a str, &'a Vm>,
    security_groups: HashMap<&'a str, &'a SecurityGroup>,
    /// VMs a Defender JIT policy already covers (ids lower-cased: the policy is another API's).
    jit_vms: HashSet<String>,
    /// Built on first use: only VMs without any NSG and AWS all-traffic findings need it.
    links: OnceLock<Links<'a>>,
}

/// References between NICs, VMs and subnets, which may differ in case: keys are lower-cased.
struct Links<'a> {
    nics: HashMap<String, &'a Nic>,
    nics_by_vm: HashMap<String, Vec<&'a Nic>>,
    subnet_nsgs: HashMap<String, Option<&'a str>>,
}

impl<'a> Links<'a> {
    fn new(snapshot: &'a Snapshot) -> Self {
        let mut nics_by_vm: HashMap<String, Vec<&Nic>> = HashMap::new();
        for nic in &snapshot.nics {
            if let Some(vm) = &nic.vm_id {
                nics_by_vm.entry(id_key(vm)).or_default().push(nic);
            }
        }
        Self {
            nics: snapshot.nics.iter().map(|n| (id_key(&n.id), n)).collect(),
            nics_by_vm,
            subnet_nsgs: snapshot
                .subnets
                .iter()
                .map(|s| (id_key(&s.id), s.nsg_id.as_deref()))
                .collect(),
        }
    }
}

impl<'a> Index<'a> {
    fn new(snapshot: &'a Snapshot, policy: &'a Policy) -> Self {
        Self {
            snapshot,
            internet: &policy.internet,
            vms: snapshot.vms.iter().map(|v| (v.id.as_str(), v)).collect(),
            security_groups: snapshot
                .security_groups
                .iter()
                .map(|g| (g.id.as_str(), g))
                .collect(),
            jit_vms: snapshot
                .jit_policies
                .iter()
                .flat_map(|p| &p.vms)
                .map(|v| id_key(&v.id))
                .collect(),
            links: OnceLock::new(),
        }
    }

    fn commands(&self, finding: &Finding, kind: RecommendationKind) -> Commands {
        let mut commands = Commands::default();
        let Some(vm) = self.vms.get(finding.resource.as_str()).copied() else {
            return commands;
        };
        match (finding.provider, kind) {
            (Provider::Azure, RecommendationKind::InternetFacingFiltered) => {
                self.add_nsgs(vm, &mut commands);
            }
            (Provider::Azure, _) => {
                if kind == RecommendationKind::PortsJit {
                    self.enable_jit(vm, finding, &mut commands);
                }
                let blamed = blamed_rules(finding);
                if blamed.is_empty() {
                    // Nothing filters the VM: an NSG closes every port at once.
                    self.add_nsgs(vm, &mut commands);
                }
                for (rule, ports) in blamed {
                    if let RuleRef::Nsg(rule) = rule {
                        azure::narrow_nsg_rule(rule, &ports, &mut commands);
                    }
                }
            }
            (Provider::Aws, RecommendationKind::InternetFacingFiltered) => {
                self.revoke_all_traffic(vm, finding, &mut commands);
            }
            (Provider::Aws, _) => {
                let rules: Vec<_> = blamed_rules(finding)
                    .into_iter()
                    .filter_map(|(rule, ports)| match rule {
                        RuleRef::SecurityGroup(rule) => Some((&**rule, ports)),
                        _ => None,
                    })
                    .collect();
                aws::revoke_rules(&rules, finding.region.as_deref(), &mut commands);
            }
        }
        commands
    }

    fn links(&self) -> &Links<'a> {
        self.links.get_or_init(|| Links::new(self.snapshot))
    }

    fn vm_nics(&self, vm: &Vm) -> Vec<&'a Nic> {
        let links = self.links();
        let mut nics: Vec<&Nic> = vm
            .nic_ids
            .iter()
            .filter_map(|id| links.nics.get(&id_key(id)).copied())
            .collect();
        for nic in links.nics_by_vm.get(&id_key(&vm.id)).into_iter().flatten() {
            if !nics.iter().any(|n| std::ptr::eq(*n, *nic)) {
                nics.push(nic);
            }
        }
        nics
    }
}

/// Each rule that lets the internet in on the finding's ports (not JIT grants), once, with the
/// blamed ports it opens.
pub(crate) fn blamed_rules(finding: &Finding) -> Vec<(&RuleRef, Vec<PortSpec>)> {
    let mut out: Vec<(&RuleRef, Vec<PortSpec>)> = Vec::new();
    for port in finding
        .evidence
        .exposures
        .iter()
        .filter(|p| finding.ports.contains(&p.port))
    {
        for rule in port.rules.iter().filter(|r| !r.jit) {
            let Some(target) = &rule.target else {
                continue;
            };
            match out.iter_mut().find(|(r, _)| *r == target) {
                Some((_, ports)) => ports.push(port.port),
                None => out.push((target, vec![port.port])),
            }
        }
    }
    out
}

/// Port ranges without the port numbers of `ports`.
pub(crate) fn remaining(ranges: &[PortRange], ports: &[PortSpec]) -> Vec<PortRange> {
    let opened = RangeSet::from_ranges(
        ranges
            .iter()
            .map(|r| (u128::from(r.first), u128::from(r.last)))
            .collect(),
    );
    let blamed = RangeSet::from_ranges(
        ports
            .iter()
            .map(|p| (u128::from(p.port), u128::from(p.port)))
            .collect(),
    );
    opened
        .difference(&blamed)
        .ranges()
        .iter()
        .filter_map(|&(first, last)| {
            Some(PortRange {
                first: u16::try_from(first).ok()?,
                last: u16::try_from(last).ok()?,
            })
        })
        .collect()
}
