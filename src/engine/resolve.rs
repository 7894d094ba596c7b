//! Follows references from each VM to the layers that filter its internet traffic.
//!
//! For every interface address the internet can reach (section 2 of the semantics), this yields a
//! [`PathKey`]: the outer layer (Azure subnet NSG, AWS network ACL), the inner layer (Azure NIC
//! NSG, AWS security groups) and the address families that arrive. VMs that share a path share
//! its evaluation. Dangling references become notes and are judged conservatively: a missing NSG
//! or network ACL is absent (filters nothing), a missing security group allows everything, a
//! missing route table is assumed to route to an internet gateway.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::azure::{PreparedNsg, Target};
use super::{id_key, routes};
use crate::addrset::{AddressSet, Family};
use crate::model::{Nic, Provider, Snapshot, Vm};

/// Address families as a bit set.
pub type Families = u8;
pub const V4: Families = 1;
pub const V6: Families = 2;

pub fn family_bit(family: Family) -> Families {
    match family {
        Family::V4 => V4,
        Family::V6 => V6,
    }
}

/// One filtering layer, as evaluated: which object, for which destination, for which families.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LayerKey {
    Nsg {
        nsg: u32,
        /// Rules whose destination matches the target (see [`PreparedNsg::destination_mask`]).
        mask: Option<Vec<u64>>,
        families: Families,
    },
    SecurityGroups {
        groups: Vec<u32>,
        missing: Vec<String>,
        families: Families,
    },
    NetworkAcl {
        acl: u32,
        families: Families,
    },
}

/// The two layers between the internet and one interface address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PathKey {
    pub outer: Option<LayerKey>,
    pub inner: Option<LayerKey>,
    pub families: Families,
    /// AWS: the internet addresses a route table sends to an internet gateway, when that is
    /// less than the whole internet of `families` (more specific routes elsewhere, blackholes).
    pub routed: Option<AddressSet>,
}

/// What resolution found for one VM.
#[derive(Debug, Default)]
pub struct ResolvedVm {
    pub internet_facing: bool,
    pub paths: Vec<PathKey>,
    /// Internet-facing NICs with no NSG on themselves or their subnet (Azure).
    pub unfiltered_nics: Vec<String>,
    /// Dangling references and assumptions, one sentence each.
    pub notes: Vec<String>,
}

/// A resource id that compares and hashes without regard to ASCII case (Azure ids are
/// case-insensitive), borrowed: indexing a large estate copies no id.
#[derive(Clone, Copy, Debug)]
struct Id<'a>(&'a str);

impl PartialEq for Id<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

impl Eq for Id<'_> {}

impl Hash for Id<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut lower = [0u8; 64];
        for chunk in self.0.as_bytes().chunks(lower.len()) {
            let lower = &mut lower[..chunk.len()];
            lower.copy_from_slice(chunk);
            lower.make_ascii_lowercase();
            state.write(lower);
        }
        state.write_u8(0xff);
    }
}

/// Lookups by id, whatever its case.
pub struct Index<'a> {
    snapshot: &'a Snapshot,
    nics: HashMap<Id<'a>, u32>,
    nics_by_vm: HashMap<Id<'a>, Vec<u32>>,
    nsgs: HashMap<Id<'a>, u32>,
    subnets: HashMap<Id<'a>, u32>,
    public_ips: HashMap<Id<'a>, u32>,
    security_groups: HashMap<Id<'a>, u32>,
    acl_by_subnet: HashMap<Id<'a>, u32>,
    default_acl_by_network: HashMap<Id<'a>, u32>,
    route_table_by_subnet: HashMap<Id<'a>, u32>,
    main_route_table_by_network: HashMap<Id<'a>, u32>,
    internet: AddressSet,
}

fn by_id<T>(items: &[T], id: impl Fn(&T) -> &str) -> HashMap<Id<'_>, u32> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| (Id(id(item)), i as u32))
        .collect()
}

impl<'a> Index<'a> {
    pub fn new(snapshot: &'a Snapshot, internet: &AddressSet) -> Self {
        let mut nics_by_vm: HashMap<Id, Vec<u32>> = HashMap::new();
        for (i, nic) in snapshot.nics.iter().enumerate() {
            if let Some(vm) = &nic.vm_id {
                nics_by_vm.entry(Id(vm)).or_default().push(i as u32);
            }
        }
        let mut acl_by_subnet = HashMap::new();
        let mut default_acl_by_network = HashMap::new();
        for (i, acl) in snapshot.network_acls.iter().enumerate() {
            for subnet in &acl.subnet_ids {
                acl_by_subnet.insert(Id(subnet), i as u32);
            }
            if let (true, Some(vpc)) = (acl.is_default, &acl.vpc_id) {
                default_acl_by_network.insert(Id(vpc), i as u32);
            }
        }
        let mut route_table_by_subnet = HashMap::new();
        let mut main_route_table_by_network = HashMap::new();
        for (i, table) in snapshot.route_tables.iter().enumerate() {
            for subnet in &table.subnet_ids {
                route_table_by_subnet.insert(Id(subnet), i as u32);
            }
            if let (true, Some(vpc)) = (table.main, &table.vpc_id) {
                main_route_table_by_network.insert(Id(vpc), i as u32);
            }
        }
        Self {
            snapshot,
            nics: by_id(&snapshot.nics, |n| &n.id),
            nics_by_vm,
            nsgs: by_id(&snapshot.nsgs, |n| &n.id),
            subnets: by_id(&snapshot.subnets, |s| &s.id),
            public_ips: by_id(&snapshot.public_ips, |p| &p.id),
            security_groups: by_id(&snapshot.security_groups, |g| &g.id),
            acl_by_subnet,
            default_acl_by_network,
            route_table_by_subnet,
            main_route_table_by_network,
            internet: internet.clone(),
        }
    }

    /// The VM's interfaces: those it lists and those that name it, each once.
    fn nics_of(&self, vm: &Vm, notes: &mut Vec<String>) -> Vec<&'a Nic> {
        let mut found: Vec<u32> = Vec::new();
        for id in &vm.nic_ids {
            match self.nics.get(&Id(id)) {
                Some(&i) => found.push(i),
                None => notes.push(format!("network interface {id} is not in the input")),
            }
        }
        found.extend(self.nics_by_vm.get(&Id(&vm.id)).into_iter().flatten());
        found.sort_unstable();
        found.dedup();
        if found.is_empty() {
            notes.push("no network interface in the input: judged not internet-facing".into());
        }
        found
            .iter()
            .map(|&i| &self.snapshot.nics[i as usize])
            .collect()
    }

    pub fn resolve(&self, vm: &Vm, nsgs: &[PreparedNsg]) -> ResolvedVm {
        let mut out = ResolvedVm::default();
        for nic in self.nics_of(vm, &mut out.notes) {
            match nic.provider {
                Provider::Azure => self.resolve_azure_nic(nic, nsgs, &mut out),
                Provider::Aws => self.resolve_aws_nic(nic, &mut out),
            }
        }
        out.notes.dedup();
        // Kept for every VM until the end of evaluation: no spare capacity.
        out.paths.shrink_to_fit();
        out
    }

    fn nsg(&self, id: &str, what: &str, notes: &mut Vec<String>) -> Option<u32> {
        let found = self.nsgs.get(&Id(id)).copied();
        if found.is_none() {
            notes.push(format!(
                "network security group {id} ({what}) is not in the input; treated as absent"
            ));
        }
        found
    }

    fn resolve_azure_nic(&self, nic: &Nic, nsgs: &[PreparedNsg], out: &mut ResolvedVm) {
        let subnet_nsg = nic.subnet_id.as_ref().and_then(|id| {
            match self.subnets.get(&Id(id)) {
                Some(&s) => self.snapshot.subnets[s as usize].nsg_id.as_ref(),
                None => {
                    out.notes.push(format!(
                        "subnet {id} is not in the input; its NSG, if any, is unknown and treated as absent"
                    ));
                    None
                }
            }
        });
        let subnet_nsg = subnet_nsg.and_then(|id| self.nsg(id, "on the subnet", &mut out.notes));
        let nic_nsg = nic
            .nsg_id
            .as_ref()
            .and_then(|id| self.nsg(id, "on the NIC", &mut out.notes));
        let mut facing = false;
        for cfg in &nic.ip_configs {
            let family = if let Some(id) = &cfg.public_ip_id {
                match self.public_ips.get(&Id(id)) {
                    Some(&p) => self.snapshot.public_ips[p as usize].family,
                    None => {
                        let family = cfg.private_ip.as_ref().map_or(Family::V4, Family::of);
                        out.notes.push(format!(
                            "public IP {id} is not in the input; counted as a public {family} address"
                        ));
                        family
                    }
                }
            } else if let Some(ip) = &cfg.public_ip {
                Family::of(ip)
            } else {
                continue;
            };
            facing = true;
            if cfg.private_ip.is_none() {
                out.notes.push(format!(
                    "private address of {} unknown: allow rules with a destination are assumed to match it",
                    cfg.name.as_deref().unwrap_or(&nic.id)
                ));
            }
            let asgs: Vec<String> = cfg
                .app_security_group_ids
                .iter()
                .map(|a| id_key(a))
                .collect();
            let target = Target {
                private_ip: cfg.private_ip,
                asgs: &asgs,
            };
            let families = family_bit(family);
            let layer = |nsg: u32| LayerKey::Nsg {
                nsg,
                mask: nsgs[nsg as usize].destination_mask(&target),
                families,
            };
            out.paths.push(PathKey {
                outer: subnet_nsg.map(layer),
                inner: nic_nsg.map(layer),
                families,
                routed: None,
            });
        }
        if facing {
            out.internet_facing = true;
            if subnet_nsg.is_none() && nic_nsg.is_none() {
                out.unfiltered_nics.push(nic.id.clone());
            }
        }
    }

    fn resolve_aws_nic(&self, nic: &Nic, out: &mut ResolvedVm) {
        let has_public = |family: Family| {
            nic.ip_configs.iter().any(|c| {
                c.public_ip.is_some_and(|ip| match family {
                    Family::V4 => ip.is_ipv4(),
                    Family::V6 => ip.is_ipv6() && self.internet.contains(&ip),
                })
            })
        };
        let (public_v4, public_v6) = (has_public(Family::V4), has_public(Family::V6));
        if !public_v4 && !public_v6 {
            return;
        }
        let subnet = nic.subnet_id.as_deref().unwrap_or_default();
        let network = self
            .subnets
            .get(&Id(subnet))
            .and_then(|&s| self.snapshot.subnets[s as usize].network_id.as_deref());
        let table = self
            .route_table_by_subnet
            .get(&Id(subnet))
            .or_else(|| network.and_then(|n| self.main_route_table_by_network.get(&Id(n))));
        if table.is_none() {
            out.notes.push(format!(
                "no route table for subnet {subnet} in the input: assumed to route to an internet gateway"
            ));
        }
        let mut families = 0;
        let mut routed = AddressSet::empty();
        let mut partly_routed = false;
        for (family, public) in [(Family::V4, public_v4), (Family::V6, public_v6)] {
            if !public {
                continue;
            }
            let everything = self.internet.only(family);
            let reached = match table {
                Some(&t) => {
                    let (reached, notes) = routes::to_internet_gateway(
                        &self.snapshot.route_tables[t as usize],
                        family,
                        &everything,
                    );
                    out.notes.extend(notes);
                    reached
                }
                None => everything.clone(),
            };
            if reached.is_empty() {
                continue;
            }
            families |= family_bit(family);
            partly_routed |= reached != everything;
            routed = routed.union(&reached);
        }
        if families == 0 {
            return;
        }
        out.internet_facing = true;
        let acl = self
            .acl_by_subnet
            .get(&Id(subnet))
            .or_else(|| network.and_then(|n| self.default_acl_by_network.get(&Id(n))));
        if acl.is_none() {
            out.notes.push(format!(
                "no network ACL for subnet {subnet} in the input; treated as allowing everything"
            ));
        }
        let mut groups = Vec::new();
        let mut missing = Vec::new();
        for id in &nic.security_group_ids {
            match self.security_groups.get(&Id(id)) {
                Some(&g) => groups.push(g),
                None => missing.push(id.clone()),
            }
        }
        groups.sort_unstable();
        groups.dedup();
        missing.sort();
        missing.dedup();
        out.paths.push(PathKey {
            outer: acl.map(|&acl| LayerKey::NetworkAcl { acl, families }),
            inner: Some(LayerKey::SecurityGroups {
                groups,
                missing,
                families,
            }),
            families,
            routed: partly_routed.then_some(routed),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_whatever_their_case() {
        let long = "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Network/networkSecurityGroups/NSG-1";
        let map: HashMap<Id, u32> = [(Id(long), 1), (Id("sg-0a"), 2)].into_iter().collect();
        let lower = long.to_ascii_lowercase();
        // (id looked up, found)
        let cases = [
            (long, Some(1)),
            (lower.as_str(), Some(1)),
            (&long[..long.len() - 1], None),
            ("SG-0A", Some(2)),
            ("sg-0b", None),
        ];
        for (id, want) in cases {
            assert_eq!(map.get(&Id(id)).copied(), want, "{id}");
        }
    }
}
