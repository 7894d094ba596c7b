//! The quick fix: remove the internet's broad access to the management ports, and nothing else.
//!
//! A source is broad when the internet addresses it stands for are more than the
//! recommendation's open threshold. Other ports, narrow admin sources, private ranges
//! (RFC 1918, shared 100.64/10, IPv6 ULA) inside a broad source, VNet tags and security-group
//! sources keep their access. Azure: the offending rule keeps the other ports for all its
//! sources; when narrow or private sources remain on the management ports, a companion rule
//! (`portcullis-lock-…`) at a free priority right next to it keeps them; a rule with nothing
//! left is deleted. AWS: each offending security group rule (one source) is revoked and its
//! remainder (other ports, same source and description; the source's private ranges on the
//! management ports) authorized in the same group. Rules allowing every protocol are skipped
//! unless protocol narrowing is allowed. Defender's `SecurityCenter-…` rules, JIT grants and
//! default rules are never touched.

use std::collections::{BTreeMap, HashMap};

use crate::addrset::{AddressSet, RangeSet};
use crate::engine::{self, PrefixLists, starts_with_any};
use crate::finding::Finding;
use crate::model::{AddressPrefix, Direction, NsgRule, PortRange, PortSpec, Protocol};
use crate::remediate::{blamed_rules, remaining};
use crate::rule_ref::{NsgRuleRef, RuleRef, SgRuleId, SgRuleRef};
use crate::verdict::is_open;

use super::edit::{Workspace, describe_sg_rule, lock_name};
use super::plan::{ChangeNote, SgRule, SkipReason, Skipped};
use super::{Context, MAX_ROUNDS, still_unhealthy};

/// Private ranges that keep their access when the broad source holding them loses it.
const PRIVATE: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
];

/// Defender for Cloud's rule names, never touched whatever the policy's JIT prefixes are.
const DEFENDER_PREFIX: &str = "SecurityCenter-";

/// Quick-fixes the selected findings of `work`, round after round; returns what stays unfixed.
pub(super) fn run(work: &mut Workspace, context: &Context) -> Vec<Skipped> {
    let mut reasons: BTreeMap<String, Vec<SkipReason>> = BTreeMap::new();
    let lists = context.prefix_lists(&work.snapshot);
    for _ in 0..MAX_ROUNDS {
        let findings = context.unhealthy(&work.snapshot);
        if !fix_round(work, context, &lists, &findings, &mut reasons, None) {
            break;
        }
    }
    still_unhealthy(&context.unhealthy(&work.snapshot), &reasons)
}

/// Fixes every rule the findings blame, once; true when something changed. `note` is added to
/// every change made.
pub(super) fn fix_round(
    work: &mut Workspace,
    context: &Context,
    lists: &PrefixLists,
    findings: &[Finding],
    reasons: &mut BTreeMap<String, Vec<SkipReason>>,
    note: Option<&ChangeNote>,
) -> bool {
    // Each rule once, in the order the findings blame it, with every port and VM blamed on it;
    // found by its container and name (or rule id) first, then compared whole.
    let mut blamed: Vec<(RuleRef, Vec<PortSpec>, Vec<&str>)> = Vec::new();
    let mut index: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for finding in findings {
        let untouchable = untouchable(finding);
        let rules = blamed_rules(finding);
        if rules.is_empty() && untouchable.is_empty() {
            record(reasons, &finding.resource, SkipReason::NothingToChange);
        }
        for reason in untouchable {
            record(reasons, &finding.resource, reason);
        }
        for (rule, ports) in rules {
            let same = index.entry(rule_key(rule)).or_default();
            match same.iter().find(|&&i| blamed[i].0 == *rule) {
                Some(&i) => {
                    let (_, known, vms) = &mut blamed[i];
                    known.extend(
                        ports
                            .iter()
                            .filter(|p| !known.contains(p))
                            .collect::<Vec<_>>(),
                    );
                    vms.push(&finding.resource);
                }
                None => {
                    same.push(blamed.len());
                    blamed.push((rule.clone(), ports, vec![&finding.resource]));
                }
            }
        }
    }
    let mut changed = false;
    for (rule, ports, vms) in &blamed {
        match fix_rule(work, context, lists, rule, ports, note) {
            Ok(done) => changed |= done,
            Err(reason) => {
                for vm in vms {
                    record(reasons, vm, reason.clone());
                }
            }
        }
    }
    changed
}

/// What tells rules apart cheaply: the container, and the rule's name or id.
fn rule_key(rule: &RuleRef) -> (&str, &str) {
    let name = match rule {
        RuleRef::Nsg(r) => r.rule.name.as_str(),
        RuleRef::SecurityGroup(r) => match &r.rule_id {
            SgRuleId::Read(id) | SgRuleId::Derived(id) => id.as_str(),
        },
        RuleRef::AssumedSecurityGroup { .. } | RuleRef::NetworkAcl { .. } => "",
    };
    (rule.container(), name)
}

fn record(reasons: &mut BTreeMap<String, Vec<SkipReason>>, vm: &str, reason: SkipReason) {
    let list = reasons.entry(vm.to_owned()).or_default();
    if !list.contains(&reason) {
        list.push(reason);
    }
}

/// JIT grants that open the finding's ports, which no strategy changes.
fn untouchable(finding: &Finding) -> Vec<SkipReason> {
    finding
        .evidence
        .exposures
        .iter()
        .filter(|p| finding.ports.contains(&p.port))
        .flat_map(|p| &p.rules)
        .filter(|r| r.jit)
        .map(|r| SkipReason::NotOurs {
            container: r.container.clone(),
            rule: r.name.clone(),
        })
        .collect()
}

/// Removes the broad access `rule` gives to `ports`; `Ok(false)` when it gives none (its
/// sources are narrow, or it is a network ACL entry, which whole subnets share).
pub(super) fn fix_rule(
    work: &mut Workspace,
    context: &Context,
    lists: &PrefixLists,
    rule: &RuleRef,
    ports: &[PortSpec],
    note: Option<&ChangeNote>,
) -> Result<bool, SkipReason> {
    match rule {
        RuleRef::Nsg(rule) => fix_nsg_rule(work, context, rule, ports, note),
        RuleRef::SecurityGroup(rule) => fix_sg_rule(work, context, lists, rule, ports, note),
        RuleRef::AssumedSecurityGroup { group } => Err(SkipReason::MissingSecurityGroup {
            group: group.to_string(),
        }),
        RuleRef::NetworkAcl { .. } => Ok(false),
    }
}

/// Whether a source's internet addresses are more than the thresholds.
fn broad(set: &AddressSet, context: &Context) -> bool {
    is_open(
        &set.intersect(&context.config.internet),
        &context.thresholds,
    )
}

fn private() -> AddressSet {
    let nets: Vec<ipnetwork::IpNetwork> = PRIVATE
        .iter()
        .map(|n| n.parse().expect("valid private range"))
        .collect();
    AddressSet::from_networks(&nets)
}

/// Port numbers as merged ranges.
pub(super) fn ranges_of(ports: impl Iterator<Item = u16>) -> Vec<PortRange> {
    let set = RangeSet::from_ranges(ports.map(|p| (u128::from(p), u128::from(p))).collect());
    set.ranges()
        .iter()
        .filter_map(|&(first, last)| {
            Some(PortRange {
                first: u16::try_from(first).ok()?,
                last: u16::try_from(last).ok()?,
            })
        })
        .collect()
}

fn fix_nsg_rule(
    work: &mut Workspace,
    context: &Context,
    target: &NsgRuleRef,
    ports: &[PortSpec],
    note: Option<&ChangeNote>,
) -> Result<bool, SkipReason> {
    let rule = &target.rule;
    let not_ours = || SkipReason::NotOurs {
        container: target.nsg.to_string(),
        rule: rule.name.clone(),
    };
    if target.default
        || rule.name.starts_with(DEFENDER_PREFIX)
        || starts_with_any(&rule.name, &context.config.jit_rule_prefixes)
    {
        return Err(not_ours());
    }
    let all_protocols = rule.protocol == Protocol::Any;
    if all_protocols && !context.allow_protocol_narrowing {
        return Err(SkipReason::AllProtocols {
            container: target.nsg.to_string(),
            rule: rule.name.clone(),
        });
    }
    let rule_ports = if rule.destination_ports.is_empty() {
        vec![PortRange::ALL]
    } else {
        rule.destination_ports.clone()
    };
    let blamed: Vec<PortSpec> = ports
        .iter()
        .filter(|p| rule.protocol.matches(p.protocol))
        .filter(|p| rule_ports.iter().any(|r| r.contains(p.port)))
        .copied()
        .collect();
    let private = private();
    let mut any_broad = false;
    let mut kept: Vec<AddressPrefix> = Vec::new();
    for source in &rule.sources {
        let set = engine::nsg_source_addresses(source, &context.config);
        if !broad(&set, context) {
            kept.push(source.clone());
            continue;
        }
        any_broad = true;
        if matches!(source, AddressPrefix::Any | AddressPrefix::Network(_)) {
            for net in set.intersect(&private).to_networks() {
                let prefix = AddressPrefix::Network(net);
                if !kept.contains(&prefix) {
                    kept.push(prefix);
                }
            }
        }
    }
    if !any_broad || blamed.is_empty() {
        return Ok(false);
    }
    let other = remaining(&rule_ports, &blamed);
    let removed = ranges_of(blamed.iter().map(|p| p.port));
    let nsg = target.nsg.to_string();
    let rules = work.nsg_rules(&nsg).ok_or_else(not_ours)?;
    let Some(index) = rules.iter().position(|r| r == rule) else {
        return Ok(false);
    };
    let mut notes = Vec::new();
    if all_protocols {
        notes.push(ChangeNote::OtherProtocolsLoseAccess);
    }
    notes.extend(note.cloned());
    let mut companion = None;
    match (other.is_empty(), kept.is_empty()) {
        (true, true) => {
            rules.remove(index);
        }
        (true, false) => rules[index].sources = kept,
        (false, true) => rules[index].destination_ports = other,
        (false, false) => {
            let priority = free_neighbour(rules, rule).ok_or(SkipReason::NoFreePriority {
                container: nsg.clone(),
                rule: rule.name.clone(),
            })?;
            let keep = NsgRule {
                name: lock_name(&[&nsg, &rule.name, "keep"]),
                priority,
                sources: kept,
                source_asg_ids: Vec::new(),
                destination_ports: removed,
                origin: None,
                ..rule.clone()
            };
            rules[index].destination_ports = other;
            companion = Some(keep.name.clone());
            rules.push(keep);
        }
    }
    for note in notes.iter().cloned() {
        work.note_nsg_rule(&nsg, &rule.name, note);
    }
    if let Some(name) = companion {
        work.note_nsg_rule(
            &nsg,
            &name,
            ChangeNote::KeepsNarrowSources {
                of_rule: rule.name.clone(),
            },
        );
        for note in notes {
            work.note_nsg_rule(&nsg, &name, note);
        }
    }
    Ok(true)
}

/// A free inbound priority right before or after `rule`'s, with no rule in between, so a
/// companion rule decides exactly what `rule` decided; `None` when both are taken or `rule`
/// shares its priority.
fn free_neighbour(rules: &[NsgRule], rule: &NsgRule) -> Option<u32> {
    let taken = |priority: u32| {
        rules
            .iter()
            .filter(|r| r.direction == Direction::Inbound)
            .filter(|r| r.priority == priority)
            .count()
    };
    if taken(rule.priority) > 1 {
        return None;
    }
    [rule.priority + 1, rule.priority.saturating_sub(1)]
        .into_iter()
        .find(|&p| (100..=4096).contains(&p) && taken(p) == 0)
}

fn fix_sg_rule(
    work: &mut Workspace,
    context: &Context,
    lists: &PrefixLists,
    target: &SgRuleRef,
    ports: &[PortSpec],
    note: Option<&ChangeNote>,
) -> Result<bool, SkipReason> {
    let set = engine::sg_source_addresses(&target.source, lists, &context.config);
    if !broad(&set, context) {
        return Ok(false);
    }
    let before = SgRule {
        rule_id: match &target.rule_id {
            SgRuleId::Read(id) => Some(id.clone()),
            SgRuleId::Derived(_) => None,
        },
        protocol: target.protocol,
        ports: target.ports,
        source: target.source.clone(),
        description: target.description.clone(),
    };
    let all_protocols = target.protocol == Protocol::Any;
    if all_protocols && !context.allow_protocol_narrowing {
        return Err(SkipReason::AllProtocols {
            container: target.group.to_string(),
            rule: describe_sg_rule(&before),
        });
    }
    let group = target.group.to_string();
    if !work.revoke(&group, &before) {
        return Ok(false);
    }
    let mut notes: Vec<ChangeNote> = note.cloned().into_iter().collect();
    if all_protocols {
        notes.push(ChangeNote::OtherProtocolsLoseAccess);
    }
    let rule = |protocol, ports| SgRule {
        rule_id: None,
        protocol,
        ports,
        source: target.source.clone(),
        description: target.description.clone(),
    };
    let mut remainder = Vec::new();
    let protocols = if all_protocols {
        vec![Protocol::TCP, Protocol::UDP]
    } else {
        vec![target.protocol]
    };
    let range = target.ports.unwrap_or(PortRange::ALL);
    for protocol in protocols {
        let blamed: Vec<PortSpec> = ports
            .iter()
            .filter(|p| protocol.matches(p.protocol))
            .copied()
            .collect();
        for rest in remaining(&[range], &blamed) {
            remainder.push(rule(protocol, Some(rest)));
        }
    }
    if all_protocols {
        let icmp = match &target.source {
            crate::model::SgSourceKind::Cidr(net) if net.is_ipv4() => vec![1],
            crate::model::SgSourceKind::Cidr(_) => vec![58],
            _ => vec![1, 58],
        };
        remainder.extend(icmp.into_iter().map(|n| rule(Protocol::Number(n), None)));
    }
    // The source's private ranges keep what the rule gave them.
    for net in set.intersect(&private()).to_networks() {
        remainder.push(SgRule {
            source: crate::model::SgSourceKind::Cidr(net),
            ..rule(target.protocol, target.ports)
        });
    }
    for new in remainder {
        work.authorize(&group, new, &notes);
    }
    Ok(true)
}
