//! Azure network security groups: rules prepared once, then evaluated first-match per port.
//!
//! An NSG's inbound rules run in priority order, custom rules then the defaults (which apply even
//! where the data leaves them out). A rule matches on protocol, destination port, source and
//! destination; the destination is the NIC's private address and its application security
//! groups, never the public address. A deny restricted to some source ports shadows nothing (the
//! attacker picks the source port), while an allow restricted to some source ports still admits
//! its sources.

use std::net::IpAddr;
use std::sync::Arc;

use ipnetwork::IpNetwork;

use super::layer::{FirstMatchRule, PortLayer, RuleInfo, first_match};
use super::{EngineConfig, LayerEval, id_key, starts_with_any};
use crate::addrset::AddressSet;
use crate::model::{Access, AddressPrefix, Direction, Nsg, NsgRule, PortRange, PortSpec, Protocol};
use crate::rule_ref::{NsgRuleRef, RuleRef};

/// An NSG's inbound rules in evaluation order, with sources already turned into sets.
pub struct PreparedNsg {
    rules: Vec<PreparedRule>,
    /// Whether any rule's destination depends on which NIC address is the target; when none does,
    /// every NIC behind this NSG shares one evaluation.
    destination_sensitive: bool,
}

struct PreparedRule {
    info: Arc<RuleInfo>,
    allow: bool,
    protocol: Protocol,
    ports: Vec<PortRange>,
    sources: AddressSet,
    /// False for rules restricted to some source ports.
    any_source_port: bool,
    destination: Destination,
}

/// What a rule's destination matches.
enum Destination {
    /// `*`, `Any`, or `VirtualNetwork` (NIC private addresses are always inside the VNet).
    Everything,
    Specific {
        networks: Vec<IpNetwork>,
        /// Lower-cased application security group ids.
        asgs: Vec<String>,
    },
}

/// The target of traffic arriving through one public address: the ip configuration behind it.
pub struct Target<'a> {
    pub private_ip: Option<IpAddr>,
    /// Lower-cased application security group ids of the ip configuration.
    pub asgs: &'a [String],
}

/// The default inbound rules every NSG ends with.
pub(crate) fn standard_default_rules() -> Vec<NsgRule> {
    let rule =
        |name: &str, priority, access, source: AddressPrefix, destination: AddressPrefix| NsgRule {
            name: name.to_string(),
            priority,
            direction: Direction::Inbound,
            access,
            protocol: Protocol::Any,
            sources: vec![source],
            source_asg_ids: Vec::new(),
            source_ports: Vec::new(),
            destinations: vec![destination],
            destination_asg_ids: Vec::new(),
            destination_ports: vec![PortRange::ALL],
            origin: None,
        };
    let tag = |t: &str| AddressPrefix::Tag(t.to_string());
    vec![
        rule(
            "AllowVnetInBound",
            65000,
            Access::Allow,
            tag("VirtualNetwork"),
            tag("VirtualNetwork"),
        ),
        rule(
            "AllowAzureLoadBalancerInBound",
            65001,
            Access::Allow,
            tag("AzureLoadBalancer"),
            AddressPrefix::Any,
        ),
        rule(
            "DenyAllInBound",
            65500,
            Access::Deny,
            AddressPrefix::Any,
            AddressPrefix::Any,
        ),
    ]
}

impl PreparedNsg {
    pub fn new(nsg: &Nsg, config: &EngineConfig) -> Self {
        let mut custom: Vec<&NsgRule> = nsg
            .rules
            .iter()
            .filter(|r| r.direction == Direction::Inbound)
            .collect();
        custom.sort_by_key(|r| r.priority);
        let standard = standard_default_rules();
        let mut defaults: Vec<&NsgRule> = nsg
            .default_rules
            .iter()
            .filter(|r| r.direction == Direction::Inbound)
            .collect();
        for rule in &standard {
            if !defaults.iter().any(|d| d.priority == rule.priority) {
                defaults.push(rule);
            }
        }
        defaults.sort_by_key(|r| r.priority);
        let container: Arc<str> = nsg.id.as_str().into();
        let rules: Vec<PreparedRule> = custom
            .into_iter()
            .map(|r| (r, false))
            .chain(defaults.into_iter().map(|r| (r, true)))
            .filter_map(|(r, default)| {
                let expiry = (!default)
                    .then(|| nsg.grant_expiries.get(&r.name))
                    .flatten();
                prepare_rule(&container, r, default, expiry, config)
            })
            .collect();
        let destination_sensitive = rules
            .iter()
            .any(|r| matches!(r.destination, Destination::Specific { .. }));
        Self {
            rules,
            destination_sensitive,
        }
    }

    /// Which rules match `target`'s destination, as a bit mask; `None` when no rule cares.
    pub fn destination_mask(&self, target: &Target) -> Option<Vec<u64>> {
        if !self.destination_sensitive {
            return None;
        }
        let mut mask = vec![0u64; self.rules.len().div_ceil(64)];
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.matches_destination(target) {
                mask[i / 64] |= 1 << (i % 64);
            }
        }
        Some(mask)
    }

    /// Evaluates the NSG for every watched port, for traffic from `universe` to a target whose
    /// destination matches the rules in `mask` (all rules when `None`).
    pub fn evaluate(
        &self,
        mask: Option<&[u64]>,
        ports: &[PortSpec],
        universe: &AddressSet,
    ) -> LayerEval {
        let in_mask = |i: usize| mask.is_none_or(|m| m[i / 64] & (1 << (i % 64)) != 0);
        let port_layers: Vec<PortLayer> = ports
            .iter()
            .map(|port| {
                let matching = self
                    .rules
                    .iter()
                    .enumerate()
                    .filter(|&(i, r)| in_mask(i) && r.matches_port(port));
                first_match(
                    matching.map(|(_, r)| FirstMatchRule {
                        info: &r.info,
                        allow: r.allow,
                        sources: &r.sources,
                    }),
                    universe,
                )
            })
            .collect();
        LayerEval {
            ports: port_layers,
            allow_all: AddressSet::empty(),
        }
    }
}

impl PreparedRule {
    fn matches_port(&self, port: &PortSpec) -> bool {
        takes_part(
            self.allow,
            self.protocol,
            &self.ports,
            self.any_source_port,
            port,
        )
    }

    fn matches_destination(&self, target: &Target) -> bool {
        match &self.destination {
            Destination::Everything => true,
            Destination::Specific { networks, asgs } => {
                let by_address = match target.private_ip {
                    Some(ip) => networks.iter().any(|n| n.contains(ip)),
                    // Unknown address: judge conservatively, letting allows match and denies not.
                    None => self.allow && !networks.is_empty(),
                };
                by_address || asgs.iter().any(|a| target.asgs.contains(a))
            }
        }
    }
}

/// Whether a rule takes part in first-match evaluation for `port`.
fn takes_part(
    allow: bool,
    protocol: Protocol,
    ports: &[PortRange],
    any_source_port: bool,
    port: &PortSpec,
) -> bool {
    protocol.matches(port.protocol)
        && ports.iter().any(|p| p.contains(port.port))
        // A deny restricted to some source ports can be dodged.
        && (allow || any_source_port)
}

/// Prepares a rule of the NSG `container` (one of its default rules when `default`); `None` for
/// a rule that matches no watched port, which decides nothing here. Dropping those keeps NICs
/// whose destinations differ only in such rules on one shared evaluation. `expiry` is the JIT
/// grant's stamped expiry (RFC 3339): past it, the grant is standing access.
fn prepare_rule(
    container: &Arc<str>,
    rule: &NsgRule,
    default: bool,
    expiry: Option<&String>,
    config: &EngineConfig,
) -> Option<PreparedRule> {
    let allow = rule.access == Access::Allow;
    let ports = if rule.destination_ports.is_empty() {
        vec![PortRange::ALL]
    } else {
        rule.destination_ports.clone()
    };
    let any_source_port = rule.source_ports.iter().all(|p| p.is_all());
    let expired = allow
        && expiry
            .and_then(|at| crate::jit::clock::parse_instant(at).ok())
            .is_some_and(|at| at <= config.now);
    let watched = |port| takes_part(allow, rule.protocol, &ports, any_source_port, port);
    if !config.ports.iter().any(watched) {
        return None;
    }
    let mut broad_tags = Vec::new();
    let mut sources = AddressSet::empty();
    for prefix in &rule.sources {
        if let AddressPrefix::Tag(tag) = prefix
            && source_tag(tag, config).is_none()
        {
            broad_tags.push(tag.clone());
        }
        sources = sources.union(&source_addresses(prefix, config));
    }
    // Application security groups as sources are VMs of the VNet: no internet address.
    let mut destination = Destination::Specific {
        networks: Vec::new(),
        asgs: rule
            .destination_asg_ids
            .iter()
            .map(|id| id_key(id))
            .collect(),
    };
    for prefix in &rule.destinations {
        match prefix {
            AddressPrefix::Any => destination = Destination::Everything,
            AddressPrefix::Tag(t) if t.eq_ignore_ascii_case("VirtualNetwork") => {
                destination = Destination::Everything
            }
            AddressPrefix::Network(net) => {
                if let Destination::Specific { networks, .. } = &mut destination {
                    networks.push(*net);
                }
            }
            AddressPrefix::Tag(t) => {
                if let (Destination::Specific { networks, .. }, Some(ranges)) = (
                    &mut destination,
                    config.service_tags.get(&t.to_ascii_lowercase()),
                ) {
                    networks.extend(ranges.to_networks());
                }
            }
        }
    }
    Some(PreparedRule {
        info: Arc::new(RuleInfo {
            target: RuleRef::Nsg(Arc::new(NsgRuleRef {
                nsg: Arc::clone(container),
                rule: rule.clone(),
                default,
            })),
            name: rule.name.clone(),
            priority: Some(rule.priority),
            jit: allow && starts_with_any(&rule.name, &config.jit_rule_prefixes) && !expired,
            expired_grant: expired.then(|| expiry.cloned()).flatten(),
            origin: rule.origin,
            note: if expired {
                expiry.map(|at| {
                    format!(
                        "expired JIT grant {} still open since {at}: standing access until it is \
                         closed (portcullis jit sweep)",
                        rule.name
                    )
                })
            } else {
                (!broad_tags.is_empty()).then(|| {
                    format!(
                        "service tag {} counted as the whole internet (list its ranges under \
                         service_tags in a rules file to be exact)",
                        broad_tags.join(", ")
                    )
                })
            },
        }),
        allow,
        protocol: rule.protocol,
        ports,
        sources,
        any_source_port,
        destination,
    })
}

/// The addresses an NSG source prefix stands for; a service tag whose ranges the policy does not
/// list counts as the whole internet.
pub fn source_addresses(prefix: &AddressPrefix, config: &EngineConfig) -> AddressSet {
    match prefix {
        AddressPrefix::Any => AddressSet::everything(),
        AddressPrefix::Network(net) => AddressSet::network(net),
        AddressPrefix::Tag(tag) => {
            source_tag(tag, config).unwrap_or_else(|| config.internet.clone())
        }
    }
}

/// The internet addresses a source service tag stands for; `None` for a tag whose ranges the
/// policy does not list (the caller counts it as the whole internet).
fn source_tag(tag: &str, config: &EngineConfig) -> Option<AddressSet> {
    let lower = tag.to_ascii_lowercase();
    match lower.as_str() {
        "internet" => Some(config.internet.clone()),
        "virtualnetwork" | "azureloadbalancer" => Some(AddressSet::empty()),
        _ => config.service_tags.get(&lower).cloned(),
    }
}
