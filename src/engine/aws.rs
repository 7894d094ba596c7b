//! AWS security groups and network ACLs, prepared once and evaluated per port.
//!
//! Security groups only allow, and an interface's groups add up: the layer lets in the union of
//! every matching permission's sources. Network ACLs are first-match by rule number. Prefix lists
//! are resolved to their entries; one whose entries are not in the input counts as the whole
//! internet and says so. Group-to-group sources are internal and admit no internet address.

use std::collections::HashMap;
use std::sync::Arc;

use super::layer::{Contribution, FirstMatchRule, PortLayer, RuleInfo, first_match};
use super::{EngineConfig, LayerEval, starts_with_any};
use crate::addrset::AddressSet;
use crate::model::{
    Access, NaclEntry, NetworkAcl, PortRange, PortSpec, PrefixList, Protocol, SecurityGroup,
    SgPermission, SgSourceKind,
};
use crate::rule_ref::{RuleRef, SgRuleId, SgRuleRef};

/// A security group's inbound permissions with their sources as sets.
pub struct PreparedSecurityGroup {
    permissions: Vec<PreparedPermission>,
}

struct PreparedPermission {
    protocol: Protocol,
    ports: Option<PortRange>,
    /// One entry per source, so evidence names the exact source and JIT is judged per source.
    sources: Vec<(Arc<RuleInfo>, AddressSet)>,
}

impl PreparedPermission {
    fn matches(&self, port: &PortSpec) -> bool {
        self.protocol.matches(port.protocol) && self.ports.is_none_or(|r| r.contains(port.port))
    }

    /// All protocols on all ports: the permission filters nothing but the source.
    fn allows_all_traffic(&self) -> bool {
        self.protocol == Protocol::Any && self.ports.is_none_or(PortRange::is_all)
    }
}

/// Prefix list id to its entries as a set; `None` for a list known only by name.
pub type PrefixLists = HashMap<String, Option<AddressSet>>;

pub fn prefix_lists(lists: &[PrefixList]) -> PrefixLists {
    let mut out: PrefixLists = HashMap::new();
    for list in lists {
        let set = list.entries.as_ref().map(AddressSet::from_networks);
        let slot = out.entry(list.id.clone()).or_insert(None);
        if let Some(set) = set {
            *slot = Some(slot.take().map_or(set.clone(), |s| s.union(&set)));
        }
    }
    out
}

/// The addresses a security group source stands for: a CIDR itself, a prefix list its entries
/// (the whole internet when they are not in the input), another group no internet address.
pub fn source_addresses(
    source: &SgSourceKind,
    prefix_lists: &PrefixLists,
    config: &EngineConfig,
) -> AddressSet {
    match source {
        SgSourceKind::Cidr(net) => AddressSet::network(net),
        SgSourceKind::PrefixList(id) => match prefix_lists.get(id) {
            Some(Some(set)) => set.clone(),
            _ => config.internet.clone(),
        },
        SgSourceKind::Group(_) => AddressSet::empty(),
    }
}

impl PreparedSecurityGroup {
    pub fn new(sg: &SecurityGroup, prefix_lists: &PrefixLists, config: &EngineConfig) -> Self {
        let container: Arc<str> = sg.id.as_str().into();
        let permissions = sg
            .inbound
            .iter()
            .filter_map(|p| prepare_permission(&container, p, prefix_lists, config))
            .collect();
        Self { permissions }
    }

    /// A group that is referenced but not in the input: assumed to allow everything, so that
    /// missing data never hides exposure.
    pub fn missing(id: &str) -> Self {
        let info = Arc::new(RuleInfo {
            target: RuleRef::AssumedSecurityGroup { group: id.into() },
            name: "all traffic from anywhere (assumed)".to_string(),
            priority: None,
            jit: false,
            expired_grant: None,
            origin: None,
            note: Some(format!(
                "security group {id} is not in the input; assumed to allow all traffic from anywhere"
            )),
        });
        Self {
            permissions: vec![PreparedPermission {
                protocol: Protocol::Any,
                ports: None,
                sources: vec![(info, AddressSet::everything())],
            }],
        }
    }
}

/// Evaluates the union of an interface's security groups for every watched port.
pub fn evaluate_security_groups(
    groups: &[&PreparedSecurityGroup],
    ports: &[PortSpec],
    universe: &AddressSet,
) -> LayerEval {
    let permissions = || groups.iter().flat_map(|g| &g.permissions);
    let port_layers = ports
        .iter()
        .map(|port| PortLayer {
            contributions: permissions()
                .filter(|p| p.matches(port))
                .flat_map(|p| &p.sources)
                .filter_map(|(info, sources)| {
                    let addresses = sources.intersect(universe);
                    (!addresses.is_empty()).then(|| Contribution {
                        rule: Arc::clone(info),
                        addresses,
                    })
                })
                .collect(),
        })
        .collect();
    let allow_all = permissions()
        .filter(|p| p.allows_all_traffic())
        .flat_map(|p| &p.sources)
        .fold(AddressSet::empty(), |acc, (_, s)| {
            acc.union(&s.intersect(universe))
        });
    LayerEval {
        ports: port_layers,
        allow_all,
    }
}

/// Prepares a permission of the security group `container`; `None` for one that matches no
/// watched port, which lets in nothing the engine reports (one that allows all traffic matches
/// every port, so `allow_all` does not change).
fn prepare_permission(
    container: &Arc<str>,
    permission: &SgPermission,
    prefix_lists: &PrefixLists,
    config: &EngineConfig,
) -> Option<PreparedPermission> {
    let mut prepared = PreparedPermission {
        protocol: permission.protocol,
        ports: permission.ports,
        sources: Vec::new(),
    };
    if !config.ports.iter().any(|port| prepared.matches(port)) {
        return None;
    }
    let what = match permission.ports {
        Some(range) if !range.is_all() || permission.protocol != Protocol::Any => {
            format!("{} {range}", permission.protocol)
        }
        _ if permission.protocol == Protocol::Any => "all traffic".to_string(),
        _ => format!("{} all ports", permission.protocol),
    };
    prepared.sources = permission
        .sources
        .iter()
        .map(|source| {
            let set = source_addresses(&source.kind, prefix_lists, config);
            let (from, note) = match &source.kind {
                SgSourceKind::Cidr(net) => (net.to_string(), None),
                SgSourceKind::PrefixList(id) => match prefix_lists.get(id) {
                    Some(Some(_)) => (format!("prefix list {id}"), None),
                    _ => (
                        format!("prefix list {id}"),
                        Some(format!(
                            "prefix list {id} has no entries in the input; counted as the whole \
                             internet (export it with get-managed-prefix-list-entries)"
                        )),
                    ),
                },
                SgSourceKind::Group(id) => (format!("security group {id}"), None),
            };
            let description = source.description.as_deref().unwrap_or_default();
            let expired = expired_grant(description, config);
            let note = note.or_else(|| {
                expired.as_ref().map(|(grant, at)| {
                    format!(
                        "expired JIT grant {} still open since {at}: standing access until it is \
                         closed (portcullis jit sweep)",
                        grant.rule_name()
                    )
                })
            });
            let name = if description.is_empty() {
                format!("{what} from {from}")
            } else {
                format!("{what} from {from} ({description})")
            };
            let target = SgRuleRef {
                group: Arc::clone(container),
                rule_id: SgRuleId::new(
                    source.rule_id.as_deref(),
                    container,
                    permission.protocol,
                    permission.ports,
                    &source.kind,
                ),
                protocol: permission.protocol,
                ports: permission.ports,
                source: source.kind.clone(),
                description: source.description.clone(),
            };
            let info = Arc::new(RuleInfo {
                target: RuleRef::SecurityGroup(Arc::new(target)),
                name,
                priority: None,
                jit: starts_with_any(description, &config.jit_rule_prefixes) && expired.is_none(),
                expired_grant: expired.map(|(_, at)| at),
                origin: permission.origin,
                note,
            });
            (info, set)
        })
        .collect();
    Some(prepared)
}

/// The grant a rule's description stamps and when it expired, when that is at or before the
/// scan's time (`jit request` describes its AWS rules so; [`crate::jit::aws::grant_of`]).
fn expired_grant(
    description: &str,
    config: &EngineConfig,
) -> Option<(crate::jit::grant::GrantId, String)> {
    let (grant, expires) = crate::jit::aws::grant_of(description)?;
    let expires = expires.filter(|at| *at <= config.now)?;
    Some((grant, crate::jit::clock::format_instant(expires)))
}

/// A network ACL's inbound entries in rule-number order.
pub struct PreparedNetworkAcl {
    entries: Vec<PreparedEntry>,
}

struct PreparedEntry {
    info: Arc<RuleInfo>,
    allow: bool,
    protocol: Protocol,
    ports: Option<PortRange>,
    sources: AddressSet,
}

impl PreparedNetworkAcl {
    pub fn new(acl: &NetworkAcl) -> Self {
        let mut inbound: Vec<&NaclEntry> = acl.entries.iter().filter(|e| !e.egress).collect();
        inbound.sort_by_key(|e| e.rule_number);
        let container: Arc<str> = acl.id.as_str().into();
        let entries = inbound
            .into_iter()
            .map(|e| PreparedEntry {
                info: Arc::new(RuleInfo {
                    target: RuleRef::NetworkAcl {
                        acl: Arc::clone(&container),
                        entry: Arc::new(e.clone()),
                    },
                    name: format!(
                        "rule {} {} {} {} from {}",
                        e.rule_number,
                        e.access,
                        e.protocol,
                        e.ports.unwrap_or(PortRange::ALL),
                        e.cidr
                    ),
                    priority: Some(e.rule_number),
                    jit: false,
                    expired_grant: None,
                    origin: e.origin,
                    note: None,
                }),
                allow: e.access == Access::Allow,
                protocol: e.protocol,
                ports: e.ports,
                sources: AddressSet::network(&e.cidr),
            })
            .collect();
        Self { entries }
    }

    pub fn evaluate(&self, ports: &[PortSpec], universe: &AddressSet) -> LayerEval {
        let port_layers = ports
            .iter()
            .map(|port| {
                let matching = self.entries.iter().filter(|e| {
                    e.protocol.matches(port.protocol)
                        && e.ports.is_none_or(|r| r.contains(port.port))
                });
                first_match(
                    matching.map(|e| FirstMatchRule {
                        info: &e.info,
                        allow: e.allow,
                        sources: &e.sources,
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
