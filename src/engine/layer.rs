//! Filtering layers and how they combine.
//!
//! A layer is one thing traffic must pass: an NSG, a network ACL, the union of an interface's
//! security groups. Evaluated for one watched port, a layer yields its *contributions*: each allow
//! rule that decides some internet addresses, with exactly those addresses. Two layers in a row
//! (subnet NSG then NIC NSG; network ACL then security groups) let an address in only when both
//! do, so combining intersects; the rules that let an address in are the deciding rules of both.

use std::sync::Arc;

use crate::addrset::AddressSet;
use crate::model::Origin;
use crate::rule_ref::{RuleKind, RuleRef};

/// A rule as evidence shows it: the rule itself, its name, whether it is a JIT grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleInfo {
    /// The rule as read, with the ids of what it lives in.
    pub target: RuleRef,
    /// NSG rule name, or a readable description of the permission or entry.
    pub name: String,
    /// NSG priority or network ACL rule number.
    pub priority: Option<u32>,
    pub jit: bool,
    /// A JIT grant past its stamped expiry that is still there (so not `jit`): since when.
    pub expired_grant: Option<String>,
    pub origin: Option<Origin>,
    /// An assumption made in judging this rule (a service tag or prefix list whose ranges are
    /// unknown, counted as the whole internet), shown wherever the rule is evidence.
    pub note: Option<String>,
}

impl RuleInfo {
    pub fn kind(&self) -> RuleKind {
        self.target.kind()
    }

    /// NSG id, security group id or network ACL id, shared by the container's rules.
    pub fn container(&self) -> &Arc<str> {
        self.target.container()
    }
}

/// The internet addresses one rule lets in on one port.
#[derive(Clone, Debug, PartialEq)]
pub struct Contribution {
    pub rule: Arc<RuleInfo>,
    pub addresses: AddressSet,
}

/// A layer evaluated for one port: its contributions. Disjoint for first-match layers,
/// possibly overlapping for security groups (a union: several rules may admit one address).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PortLayer {
    pub contributions: Vec<Contribution>,
}

impl PortLayer {
    /// Everything the layer lets in.
    pub fn allowed(&self) -> AddressSet {
        union_of(self.contributions.iter())
    }

    /// What the layer lets in through rules that are not JIT grants.
    pub fn standing(&self) -> AddressSet {
        union_of(self.contributions.iter().filter(|c| !c.rule.jit))
    }
}

fn union_of<'a>(contributions: impl Iterator<Item = &'a Contribution>) -> AddressSet {
    contributions.fold(AddressSet::empty(), |acc, c| acc.union(&c.addresses))
}

/// A rule in a first-match list, reduced to what evaluation needs for one port.
pub struct FirstMatchRule<'a> {
    pub info: &'a Arc<RuleInfo>,
    pub allow: bool,
    /// The sources the rule matches (any family; intersected with what is left).
    pub sources: &'a AddressSet,
}

/// First-match evaluation: walking the rules that match the port in order, each decides the
/// addresses it matches that no earlier rule decided. Allow rules contribute what they decide;
/// whatever no rule decides is denied.
pub fn first_match<'a>(
    rules: impl IntoIterator<Item = FirstMatchRule<'a>>,
    universe: &AddressSet,
) -> PortLayer {
    let mut remaining = universe.clone();
    let mut contributions = Vec::new();
    for rule in rules {
        if remaining.is_empty() {
            break;
        }
        let decided = rule.sources.intersect(&remaining);
        if decided.is_empty() {
            continue;
        }
        remaining = remaining.difference(&decided);
        if rule.allow {
            contributions.push(Contribution {
                rule: Arc::clone(rule.info),
                addresses: decided,
            });
        }
    }
    PortLayer { contributions }
}

/// The exposure of one port through a path of two layers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PortExposure {
    /// Internet addresses that reach the port.
    pub reachable: AddressSet,
    /// Those of them that reach it without a JIT grant deciding in any layer.
    pub standing: AddressSet,
    /// The deciding allow rules, each with the reachable addresses it lets in.
    pub rules: Vec<Contribution>,
}

/// Combines an outer and an inner layer (either may be absent, which allows all of `universe`).
pub fn combine(
    outer: Option<&PortLayer>,
    inner: Option<&PortLayer>,
    universe: &AddressSet,
) -> PortExposure {
    let allowed =
        |layer: Option<&PortLayer>| layer.map_or_else(|| universe.clone(), PortLayer::allowed);
    let standing =
        |layer: Option<&PortLayer>| layer.map_or_else(|| universe.clone(), PortLayer::standing);
    let outer_allowed = allowed(outer);
    let inner_allowed = allowed(inner);
    let mut rules = Vec::new();
    for (layer, other_allowed) in [(outer, &inner_allowed), (inner, &outer_allowed)] {
        for c in layer.iter().flat_map(|l| &l.contributions) {
            let addresses = c.addresses.intersect(other_allowed);
            if !addresses.is_empty() {
                rules.push(Contribution {
                    rule: Arc::clone(&c.rule),
                    addresses,
                });
            }
        }
    }
    PortExposure {
        reachable: outer_allowed.intersect(&inner_allowed),
        standing: standing(outer).intersect(&standing(inner)),
        rules,
    }
}

impl PortExposure {
    /// Keeps only the addresses in `to`: those a path's routes let reach the VM at all.
    pub fn restrict(&mut self, to: &AddressSet) {
        self.reachable = self.reachable.intersect(to);
        self.standing = self.standing.intersect(to);
        for c in &mut self.rules {
            c.addresses = c.addresses.intersect(to);
        }
        self.rules.retain(|c| !c.addresses.is_empty());
    }

    /// Adds another path's exposure of the same port (a VM reached through several addresses).
    pub fn merge(&mut self, other: &PortExposure) {
        self.reachable = self.reachable.union(&other.reachable);
        self.standing = self.standing.union(&other.standing);
        for c in &other.rules {
            match self.rules.iter_mut().find(|mine| mine.rule == c.rule) {
                Some(mine) => mine.addresses = mine.addresses.union(&c.addresses),
                None => self.rules.push(c.clone()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, jit: bool) -> Arc<RuleInfo> {
        Arc::new(RuleInfo {
            target: RuleRef::AssumedSecurityGroup { group: "sg".into() },
            name: name.into(),
            priority: None,
            jit,
            expired_grant: None,
            origin: None,
            note: None,
        })
    }

    fn set(nets: &[&str]) -> AddressSet {
        let nets: Vec<ipnetwork::IpNetwork> = nets.iter().map(|s| s.parse().unwrap()).collect();
        AddressSet::from_networks(&nets)
    }

    #[test]
    fn first_match_lets_a_deny_shadow_a_later_allow() {
        let universe = set(&["0.0.0.0/0"]);
        let (deny, allow) = (info("deny", false), info("allow", false));
        let deny_src = set(&["1.0.0.0/8"]);
        let allow_src = set(&["0.0.0.0/0"]);
        let layer = first_match(
            [
                FirstMatchRule {
                    info: &deny,
                    allow: false,
                    sources: &deny_src,
                },
                FirstMatchRule {
                    info: &allow,
                    allow: true,
                    sources: &allow_src,
                },
            ],
            &universe,
        );
        assert_eq!(layer.contributions.len(), 1);
        assert_eq!(layer.allowed().ipv4_count(), (1u64 << 32) - (1 << 24));
        assert!(!layer.allowed().contains(&"1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn combining_layers_intersects_and_keeps_rules_of_both() {
        let universe = set(&["0.0.0.0/0"]);
        let outer = PortLayer {
            contributions: vec![Contribution {
                rule: info("outer", false),
                addresses: set(&["8.0.0.0/8"]),
            }],
        };
        let inner = PortLayer {
            contributions: vec![Contribution {
                rule: info("inner", true),
                addresses: set(&["8.8.0.0/16"]),
            }],
        };
        let exposure = combine(Some(&outer), Some(&inner), &universe);
        assert_eq!(exposure.reachable, set(&["8.8.0.0/16"]));
        assert_eq!(exposure.rules.len(), 2);
        // The inner layer's deciding rule is a JIT grant, so nothing is standing.
        assert!(exposure.standing.is_empty());
        let without_inner = combine(Some(&outer), None, &universe);
        assert_eq!(without_inner.reachable, set(&["8.0.0.0/8"]));
        assert_eq!(without_inner.standing, set(&["8.0.0.0/8"]));
    }
}
