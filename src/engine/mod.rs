//! The exposure engine: for every VM and every watched port, the exact set of internet addresses
//! that reach it and the rules that let them in.
//!
//! It knows no cloud SDK, only the [`Snapshot`] model. Work is shared: each NSG, security group
//! and network ACL is prepared once; each distinct layer (an NSG for a destination, a set of
//! security groups, a network ACL) is evaluated once; each distinct path (outer and inner layer)
//! is combined once; VMs then pick up their paths. All three stages run in parallel with rayon.

mod aws;
mod azure;
pub mod layer;
mod resolve;
mod routes;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use rayon::prelude::*;

use crate::addrset::{AddressSet, Family};
use crate::model::{PortSpec, Snapshot};
use crate::policy::Policy;
pub use aws::{PrefixLists, prefix_lists, source_addresses as sg_source_addresses};
use aws::{PreparedNetworkAcl, PreparedSecurityGroup};
use azure::PreparedNsg;
pub use azure::source_addresses as nsg_source_addresses;
pub(crate) use azure::standard_default_rules;
pub use layer::{Contribution, PortExposure, PortLayer, RuleInfo};
use resolve::{Families, Index, LayerKey, PathKey, V4, V6};

/// What the engine needs from the policy.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub internet: AddressSet,
    /// Lower-cased service tag to its ranges.
    pub service_tags: HashMap<String, AddressSet>,
    /// Every port any recommendation watches, sorted.
    pub ports: Vec<PortSpec>,
    pub jit_rule_prefixes: Vec<String>,
    /// The time of the scan: a JIT grant whose stamped expiry is past is standing access.
    pub now: time::OffsetDateTime,
}

impl EngineConfig {
    pub fn from_policy(policy: &Policy) -> Self {
        let ports: BTreeSet<PortSpec> = policy
            .management_ports
            .iter()
            .chain(policy.recommendations.iter().flat_map(|r| &r.ports))
            .copied()
            .collect();
        Self {
            internet: policy.internet.clone(),
            service_tags: policy
                .service_tags
                .iter()
                .map(|(tag, nets)| (tag.to_ascii_lowercase(), AddressSet::from_networks(nets)))
                .collect(),
            ports: ports.into_iter().collect(),
            jit_rule_prefixes: policy.jit_rule_prefixes.clone(),
            now: crate::jit::clock::now().unwrap_or_else(|_| time::OffsetDateTime::now_utc()),
        }
    }

    /// The internet addresses of the given families.
    fn universe(&self, families: Families) -> AddressSet {
        let mut set = AddressSet::empty();
        if families & V4 != 0 {
            set = set.union(&self.internet.only(Family::V4));
        }
        if families & V6 != 0 {
            set = set.union(&self.internet.only(Family::V6));
        }
        set
    }
}

/// A layer evaluated for every watched port.
pub struct LayerEval {
    pub ports: Vec<PortLayer>,
    /// Security groups only: internet addresses allowed all protocols on all ports.
    pub allow_all: AddressSet,
}

/// How the internet reaches one VM, through all its interfaces.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VmPorts {
    /// Parallel to [`Exposures::ports`].
    pub ports: Vec<PortExposure>,
    /// Per internet-facing path (an AWS interface), the internet addresses its security groups
    /// let in on every protocol and port. Kept apart because the recommendation judges each
    /// interface on its own.
    pub allow_all: Vec<AddressSet>,
}

/// The engine's verdict-free facts about one VM.
#[derive(Clone, Debug)]
pub struct VmExposure {
    /// Some interface address is reachable from the internet (section 2 of the semantics).
    pub internet_facing: bool,
    /// Internet-facing NICs with no NSG on themselves or their subnet (Azure).
    pub unfiltered_nics: Vec<String>,
    pub reach: Arc<VmPorts>,
    /// Dangling references and assumptions behind this VM's numbers.
    pub notes: Vec<String>,
}

/// The engine's result for a whole snapshot.
pub struct Exposures {
    pub ports: Vec<PortSpec>,
    /// Parallel to `snapshot.vms`.
    pub vms: Vec<VmExposure>,
    /// Every distinct note, for a summary.
    pub warnings: Vec<String>,
}

/// Lower-cased id for lookups.
pub(crate) fn id_key(id: &str) -> String {
    id.to_ascii_lowercase()
}

pub(crate) fn starts_with_any(name: &str, prefixes: &[String]) -> bool {
    let name = name.to_ascii_lowercase();
    prefixes
        .iter()
        .any(|p| !p.is_empty() && name.starts_with(&p.to_ascii_lowercase()))
}

/// Computes every VM's exposure.
pub fn evaluate(snapshot: &Snapshot, config: &EngineConfig) -> Exposures {
    let prefix_lists = aws::prefix_lists(&snapshot.prefix_lists);
    let nsgs: Vec<PreparedNsg> = snapshot
        .nsgs
        .par_iter()
        .map(|n| PreparedNsg::new(n, config))
        .collect();
    let security_groups: Vec<PreparedSecurityGroup> = snapshot
        .security_groups
        .par_iter()
        .map(|g| PreparedSecurityGroup::new(g, &prefix_lists, config))
        .collect();
    let acls: Vec<PreparedNetworkAcl> = snapshot
        .network_acls
        .par_iter()
        .map(PreparedNetworkAcl::new)
        .collect();

    let index = Index::new(snapshot, &config.internet);
    let resolved: Vec<_> = snapshot
        .vms
        .par_iter()
        .map(|vm| index.resolve(vm, &nsgs))
        .collect();

    let layer_keys: HashSet<&LayerKey> = resolved
        .iter()
        .flat_map(|r| &r.paths)
        .flat_map(|p| p.outer.iter().chain(p.inner.iter()))
        .collect();
    let layers: HashMap<&LayerKey, LayerEval> = layer_keys
        .into_par_iter()
        .map(|key| {
            let eval = match key {
                LayerKey::Nsg {
                    nsg,
                    mask,
                    families,
                } => nsgs[*nsg as usize].evaluate(
                    mask.as_deref(),
                    &config.ports,
                    &config.universe(*families),
                ),
                LayerKey::SecurityGroups {
                    groups,
                    missing,
                    families,
                } => {
                    let missing: Vec<PreparedSecurityGroup> = missing
                        .iter()
                        .map(|id| PreparedSecurityGroup::missing(id))
                        .collect();
                    let all: Vec<&PreparedSecurityGroup> = groups
                        .iter()
                        .map(|&g| &security_groups[g as usize])
                        .chain(&missing)
                        .collect();
                    aws::evaluate_security_groups(&all, &config.ports, &config.universe(*families))
                }
                LayerKey::NetworkAcl { acl, families } => {
                    acls[*acl as usize].evaluate(&config.ports, &config.universe(*families))
                }
            };
            (key, eval)
        })
        .collect();

    let path_keys: HashSet<&PathKey> = resolved.iter().flat_map(|r| &r.paths).collect();
    let paths: HashMap<&PathKey, Arc<VmPorts>> = path_keys
        .into_par_iter()
        .map(|key| {
            let outer = key.outer.as_ref().map(|k| &layers[k]);
            let inner = key.inner.as_ref().map(|k| &layers[k]);
            let mut universe = config.universe(key.families);
            if let Some(routed) = &key.routed {
                universe = universe.intersect(routed);
            }
            let ports = (0..config.ports.len())
                .map(|i| {
                    let mut exposure = layer::combine(
                        outer.map(|l| &l.ports[i]),
                        inner.map(|l| &l.ports[i]),
                        &universe,
                    );
                    if key.routed.is_some() {
                        exposure.restrict(&universe);
                    }
                    exposure
                })
                .collect();
            let allow_all = [outer, inner]
                .into_iter()
                .flatten()
                .fold(AddressSet::empty(), |acc, l| acc.union(&l.allow_all))
                .intersect(&universe);
            (
                key,
                Arc::new(VmPorts {
                    ports,
                    allow_all: vec![allow_all],
                }),
            )
        })
        .collect();

    let unreached = Arc::new(VmPorts {
        ports: vec![PortExposure::default(); config.ports.len()],
        allow_all: Vec::new(),
    });
    let vms: Vec<VmExposure> = resolved
        .par_iter()
        .map(|r| {
            let reach = match r.paths.as_slice() {
                [] => Arc::clone(&unreached),
                [only] => Arc::clone(&paths[only]),
                [first, rest @ ..] => {
                    let mut merged = (*paths[first]).clone();
                    for key in rest {
                        let other = &paths[key];
                        for (mine, theirs) in merged.ports.iter_mut().zip(&other.ports) {
                            mine.merge(theirs);
                        }
                        merged.allow_all.extend(other.allow_all.iter().cloned());
                    }
                    Arc::new(merged)
                }
            };
            let mut notes = r.notes.clone();
            for note in reach
                .ports
                .iter()
                .flat_map(|p| &p.rules)
                .filter_map(|c| c.rule.note.as_ref())
            {
                if !notes.contains(note) {
                    notes.push(note.clone());
                }
            }
            VmExposure {
                internet_facing: r.internet_facing,
                unfiltered_nics: r.unfiltered_nics.clone(),
                reach,
                notes,
            }
        })
        .collect();

    let warnings: BTreeSet<&String> = vms.iter().flat_map(|v| &v.notes).collect();
    Exposures {
        ports: config.ports.clone(),
        warnings: warnings.into_iter().cloned().collect(),
        vms,
    }
}
