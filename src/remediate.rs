//! Remediation commands: for each unhealthy finding, the `az` or `aws` commands that fix it, with
//! the estate's own ids, names and ports filled in, so a report says exactly what to run.
//!
//! Commands change only what the finding blames: the NSG rules and security group permissions
//! that let the internet in (never network ACLs, which whole subnets share). An NSG rule that
//! also opens other ports is narrowed to those ports instead of deleted. A security group
//! permission loses only the sources that reach the internet. A NIC without any NSG gets a new
//! one, which denies inbound internet traffic by default. Commands are for a POSIX shell.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use rayon::prelude::*;
use serde_json::json;

use crate::addrset::{AddressSet, RangeSet};
use crate::engine::id_key;
use crate::finding::{Finding, RuleEvidence, Status};
use crate::model::{
    Nic, Nsg, NsgRule, Origin, PortRange, PortSpec, Protocol, Provider, SecurityGroup,
    SgPermission, SgSourceKind, Snapshot, Vm,
};
use crate::output::escape::{is_hostile, visible};
use crate::policy::{Policy, RecommendationKind};

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

/// The snapshot's objects by id, for looking up what findings and evidence name.
struct Index<'a> {
    snapshot: &'a Snapshot,
    internet: &'a AddressSet,
    /// Keyed by the exact ids that findings and evidence copy from the snapshot.
    vms: HashMap<&'a str, &'a Vm>,
    nsgs: HashMap<&'a str, &'a Nsg>,
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
            nsgs: snapshot.nsgs.iter().map(|n| (n.id.as_str(), n)).collect(),
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
                if blamed_rules(finding).next().is_none() {
                    // Nothing filters the VM: an NSG closes every port at once.
                    self.add_nsgs(vm, &mut commands);
                }
                for (rule, ports) in rules_with_ports(finding) {
                    self.narrow_nsg_rule(rule, &ports, &mut commands);
                }
            }
            (Provider::Aws, RecommendationKind::InternetFacingFiltered) => {
                self.revoke_all_traffic(vm, finding, &mut commands);
            }
            (Provider::Aws, _) => {
                let mut permissions: Vec<Blamed> = Vec::new();
                for (rule, ports) in rules_with_ports(finding) {
                    self.blame_permission(rule, ports, &mut permissions);
                }
                for blamed in permissions {
                    revoke(&blamed, finding, &mut commands);
                }
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

    /// An NSG for each NIC that has none, on itself or its subnet.
    fn add_nsgs(&self, vm: &Vm, commands: &mut Commands) {
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

    /// Deletes an NSG rule, or when it also opens ports the finding does not blame, rewrites
    /// its destination ports without the blamed ones.
    fn narrow_nsg_rule(
        &self,
        evidence: &RuleEvidence,
        ports: &[PortSpec],
        commands: &mut Commands,
    ) {
        if evidence.kind != "nsg_rule" {
            return;
        }
        let Some(nsg) = self.nsgs.get(evidence.container.as_str()) else {
            return;
        };
        // Default rules cannot be changed, and never let the internet in anyway.
        let Some(rule) = nsg.rules.iter().find(|r| r.name == evidence.name) else {
            return;
        };
        let rule_id = format!("{}/securityRules/{}", nsg.id, rule.name);
        let remaining = remaining_ports(rule, ports);
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

    /// A Defender for Cloud JIT policy for the VM's blamed ports, unless one covers it already.
    fn enable_jit(&self, vm: &Vm, finding: &Finding, commands: &mut Commands) {
        if self.jit_vms.contains(&id_key(&vm.id)) {
            return;
        }
        let (Some(group), Some(region)) = (resource_group(&vm.id), vm.region.as_deref()) else {
            return;
        };
        let mut numbers: Vec<(u16, &str)> = Vec::new();
        for spec in finding
            .ports
            .iter()
            .filter_map(|p| p.parse::<PortSpec>().ok())
        {
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
        });
        let uri = format!(
            "https://management.azure.com/subscriptions/{}/resourceGroups/{group}/providers/\
             Microsoft.Security/locations/{region}/jitNetworkAccessPolicies/{}-jit\
             ?api-version=2020-01-01",
            vm.scope, vm.name
        );
        commands.push(&[
            "az",
            "rest",
            "--method",
            "put",
            "--uri",
            &uri,
            "--body",
            &body.to_string(),
        ]);
    }

    /// Adds the security group permission and source the evidence names to `blamed`.
    fn blame_permission(
        &self,
        evidence: &RuleEvidence,
        ports: Vec<PortSpec>,
        blamed: &mut Vec<Blamed<'a>>,
    ) {
        if evidence.kind != "security_group" || evidence.jit {
            return;
        }
        let Some(group) = self
            .security_groups
            .get(evidence.container.as_str())
            .copied()
        else {
            return;
        };
        let Some(origin) = self.origin_of(evidence) else {
            return;
        };
        let Some(permission) = group.inbound.iter().find(|p| p.origin == Some(origin)) else {
            return;
        };
        let sources = permission
            .sources
            .iter()
            .map(|s| &s.kind)
            .filter(|kind| names_source(&evidence.name, kind));
        let entry = match blamed
            .iter_mut()
            .find(|b| std::ptr::eq(b.permission, permission))
        {
            Some(entry) => entry,
            None => {
                blamed.push(Blamed {
                    group,
                    permission,
                    sources: Vec::new(),
                    ports: Vec::new(),
                });
                blamed.last_mut().expect("just pushed")
            }
        };
        for source in sources {
            if !entry.sources.contains(&source) {
                entry.sources.push(source);
            }
        }
        entry.ports.extend(ports);
    }

    /// Revokes every all-traffic permission of the VM's security groups that admits internet
    /// addresses.
    fn revoke_all_traffic(&self, vm: &Vm, finding: &Finding, commands: &mut Commands) {
        let mut seen = HashSet::new();
        for nic in self.vm_nics(vm) {
            for id in &nic.security_group_ids {
                let Some(group) = self.security_groups.get(id.as_str()) else {
                    continue;
                };
                if !seen.insert(id) {
                    continue;
                }
                for permission in group.inbound.iter().filter(|p| {
                    p.protocol == Protocol::Any && p.ports.is_none_or(PortRange::is_all)
                }) {
                    let sources: Vec<&SgSourceKind> = permission
                        .sources
                        .iter()
                        .map(|s| &s.kind)
                        .filter(|kind| match kind {
                            SgSourceKind::Cidr(net) => {
                                !AddressSet::network(net).intersect(self.internet).is_empty()
                            }
                            SgSourceKind::PrefixList(_) => true,
                            SgSourceKind::Group(_) => false,
                        })
                        .collect();
                    let blamed = Blamed {
                        group,
                        permission,
                        sources,
                        ports: Vec::new(),
                    };
                    revoke(&blamed, finding, commands);
                }
            }
        }
    }

    fn origin_of(&self, evidence: &RuleEvidence) -> Option<Origin> {
        let file = evidence.file.as_ref()?;
        let index = self.snapshot.sources.iter().position(|s| s == file)?;
        Some(Origin {
            file: u32::try_from(index).ok()?,
            line: evidence.line?,
        })
    }
}

/// Some internet sources of one security group permission, and the blamed ports it opens to
/// them (empty: all of them).
struct Blamed<'a> {
    group: &'a SecurityGroup,
    permission: &'a SgPermission,
    sources: Vec<&'a SgSourceKind>,
    ports: Vec<PortSpec>,
}

/// `aws ec2 revoke-security-group-ingress` for the blamed sources; when the permission's port
/// range also covers ports that are not blamed, `authorize-security-group-ingress` gives those
/// back to the same sources, since a permission cannot be narrowed in place.
fn revoke(blamed: &Blamed, finding: &Finding, commands: &mut Commands) {
    let permission = blamed.permission;
    if blamed.sources.is_empty() {
        return;
    }
    let protocol = aws_protocol(permission.protocol);
    let range = match permission.ports {
        Some(range) => Some(range),
        None if permission.protocol != Protocol::Any => Some(PortRange::ALL),
        None => None,
    };
    let mut sources = serde_json::Map::new();
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut lists = Vec::new();
    for source in &blamed.sources {
        match source {
            SgSourceKind::Cidr(net) if net.is_ipv4() => v4.push(json!({"CidrIp": net.to_string()})),
            SgSourceKind::Cidr(net) => v6.push(json!({"CidrIpv6": net.to_string()})),
            SgSourceKind::PrefixList(id) => lists.push(json!({"PrefixListId": id})),
            SgSourceKind::Group(_) => {}
        }
    }
    for (key, list) in [
        ("IpRanges", v4),
        ("Ipv6Ranges", v6),
        ("PrefixListIds", lists),
    ] {
        if !list.is_empty() {
            sources.insert(key.to_owned(), json!(list));
        }
    }
    // Keys inserted in alphabetical order, so the command reads the same whether or not
    // serde_json preserves insertion order (a feature other crates may turn on).
    let entry = |range: Option<PortRange>| {
        let mut entry = serde_json::Map::new();
        if let Some(range) = range {
            entry.insert("FromPort".to_owned(), json!(range.first));
        }
        entry.insert("IpProtocol".to_owned(), json!(protocol));
        entry.extend(sources.clone());
        if let Some(range) = range {
            entry.insert("ToPort".to_owned(), json!(range.last));
        }
        serde_json::Value::Object(entry)
    };
    let command = |verb: &str, entries: Vec<serde_json::Value>| {
        let permissions = serde_json::Value::Array(entries).to_string();
        let mut words = vec!["aws", "ec2", verb];
        if let Some(region) = &finding.region {
            words.extend(["--region", region.as_str()]);
        }
        words.extend(["--group-id", blamed.group.id.as_str(), "--ip-permissions"]);
        let mut words: Vec<String> = words.into_iter().map(str::to_owned).collect();
        words.push(permissions);
        words
    };
    commands.push_owned(command("revoke-security-group-ingress", vec![entry(range)]));
    // Only a TCP or UDP permission has ports to give back.
    let Some(range) = range.filter(|_| permission.protocol != Protocol::Any) else {
        return;
    };
    if blamed.ports.is_empty() {
        return;
    }
    let kept: Vec<_> = remaining(&[range], &blamed.ports)
        .into_iter()
        .map(|r| entry(Some(r)))
        .collect();
    if !kept.is_empty() {
        commands.push_owned(command("authorize-security-group-ingress", kept));
    }
}

fn aws_protocol(protocol: Protocol) -> String {
    match protocol {
        Protocol::Any => "-1".to_owned(),
        Protocol::TCP => "tcp".to_owned(),
        Protocol::UDP => "udp".to_owned(),
        Protocol::Number(1) => "icmp".to_owned(),
        Protocol::Number(58) => "icmpv6".to_owned(),
        Protocol::Number(n) => n.to_string(),
    }
}

/// Whether a security group evidence name (`tcp 22 from 0.0.0.0/0 (office)`, as the engine
/// writes it) is about this source.
fn names_source(name: &str, kind: &SgSourceKind) -> bool {
    let from = match kind {
        SgSourceKind::Cidr(net) => net.to_string(),
        SgSourceKind::PrefixList(id) => format!("prefix list {id}"),
        SgSourceKind::Group(_) => return false,
    };
    name.split_once(" from ")
        .is_some_and(|(_, rest)| rest == from || rest.starts_with(&format!("{from} (")))
}

/// The rules that let the internet in (not JIT grants), once each.
fn blamed_rules(finding: &Finding) -> impl Iterator<Item = &RuleEvidence> {
    finding
        .evidence
        .exposures
        .iter()
        .filter(|p| finding.ports.contains(&p.port))
        .flat_map(|p| &p.rules)
        .filter(|r| !r.jit)
}

/// Each blamed rule once, with the blamed ports it opens.
fn rules_with_ports(finding: &Finding) -> Vec<(&RuleEvidence, Vec<PortSpec>)> {
    let mut out: Vec<(&RuleEvidence, Vec<PortSpec>)> = Vec::new();
    for port in finding
        .evidence
        .exposures
        .iter()
        .filter(|p| finding.ports.contains(&p.port))
    {
        let Ok(spec) = port.port.parse::<PortSpec>() else {
            continue;
        };
        for rule in port.rules.iter().filter(|r| !r.jit) {
            match out
                .iter_mut()
                .find(|(r, _)| r.container == rule.container && r.name == rule.name)
            {
                Some((_, ports)) => ports.push(spec),
                None => out.push((rule, vec![spec])),
            }
        }
    }
    out
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

/// Port ranges without the port numbers of `ports`.
fn remaining(ranges: &[PortRange], ports: &[PortSpec]) -> Vec<PortRange> {
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

/// The resource group segment of an Azure resource id.
/// The command line for `words`, when pasting it into an interactive shell runs exactly those
/// words: quoting holds against the shell, but readline acts on control characters before the
/// shell sees them (`\x01` moves the cursor to the line start), and bidi controls make the line
/// read differently from what runs. The cloud's ids hold the same names, so no other form of
/// the command avoids them.
fn paste_safe_line(words: &[&str]) -> Result<String, String> {
    if let Some(word) = words.iter().find(|w| w.chars().any(is_hostile)) {
        let verb: Vec<&str> = words
            .iter()
            .copied()
            .take_while(|w| !w.starts_with("--"))
            .collect();
        return Err(format!(
            "no `{}` command: {} holds control or bidi characters, which are not safe to paste \
             into a shell; fix it in the cloud's console or rename it first",
            verb.join(" "),
            visible(word)
        ));
    }
    // Only a NUL byte makes quoting fail, and `is_hostile` has refused it.
    Ok(shlex::try_join(words.iter().copied()).expect("no NUL byte in the words"))
}

fn resource_group(id: &str) -> Option<&str> {
    let mut segments = id.split('/');
    segments.find(|s| s.eq_ignore_ascii_case("resourceGroups"))?;
    segments.next().filter(|s| !s.is_empty())
}

fn last_segment(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// Shell command lines, each once, in the order added, and why any others were withheld.
#[derive(Default)]
struct Commands {
    lines: Vec<String>,
    withheld: Vec<String>,
}

impl Commands {
    fn push(&mut self, words: &[&str]) {
        match paste_safe_line(words) {
            Ok(line) if !self.lines.contains(&line) => self.lines.push(line),
            Ok(_) => {}
            Err(why) if !self.withheld.contains(&why) => self.withheld.push(why),
            Err(_) => {}
        }
    }

    fn push_owned(&mut self, words: Vec<String>) {
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        self.push(&words);
    }
}
