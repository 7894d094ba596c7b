//! A request's stages, from the estate as read: find the one VM ([`find_vm`]), the NSGs that
//! filter its internet-facing interfaces and the private addresses each filters ([`layers`]), in
//! each a free priority that beats every deny the grant must pass ([`priority`]), and the older
//! grants the new one replaces ([`replaced`]). [`plan`] runs them and returns the rules to
//! create; nothing here writes.
//!
//! Traffic from the internet passes the subnet's NSG and then the NIC's; both must allow it, so
//! every NSG on the way gets the grant's rule (destination the VM's addresses only, so a shared
//! subnet NSG opens nothing for its other VMs).

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde_json::{Map, Value};

use crate::addrset::AddressSet;
use crate::azure_rule;
use crate::engine::{EngineConfig, nsg_source_addresses};
use crate::exemptions::VmSelector;
use crate::model::{Access as RuleAccess, AddressPrefix, Direction, Nsg, Provider, Snapshot, Vm};

use super::grant::{Access, GrantId, Stamp};

/// The lowest and highest priority of a custom NSG rule.
const PRIORITIES: std::ops::RangeInclusive<u32> = 100..=4096;

/// Why a request cannot be granted; nothing was written.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error(
        "--vm {0:?}: no such VM in what was read; give its Azure resource id or EC2 instance \
         id, its name, or tag:KEY=VALUE (check --subscriptions or --regions)"
    )]
    NoSuchVm(String),
    #[error("--vm {given:?} matches {} VMs ({}); give the resource id", ids.len(), ids.join(", "))]
    Ambiguous { given: String, ids: Vec<String> },
    #[error("VM {vm} is on {provider}: request its grant with --{provider}")]
    OtherCloud { vm: String, provider: Provider },
    #[error(
        "VM {0} has no region or VPC in what was read (its interfaces name no subnet that was \
         read); scan again with its region"
    )]
    NoVpc(String),
    #[error(
        "network interface {interface} of VM {vm} holds {} security groups already ({}), the \
         most an interface holds: take one off it (or have the quota raised) and request \
         again; nothing was written",
        groups.len(),
        groups.join(", ")
    )]
    InterfaceFull {
        vm: String,
        interface: String,
        groups: Vec<String>,
    },
    #[error(
        "grant {grant} already opens {rule} to VM {vm}, and EC2 holds one rule per access: \
         revoke it (`portcullis jit revoke {grant}`) or request all of its ports; nothing was \
         written"
    )]
    Overlaps {
        vm: String,
        grant: GrantId,
        rule: String,
    },
    #[error(
        "VM {0} has no public address the internet can reach: there is nothing to grant (use \
         the private network or Bastion)"
    )]
    NotInternetFacing(String),
    #[error(
        "VM {0} has an internet-facing interface with no NSG on it or its subnet: it is open \
         already; lock it down first (`portcullis fix plan --azure --strategy jit`)"
    )]
    Unfiltered(String),
    #[error("NSG {0} is filtering VM {1} but was not read; scan again with that subscription")]
    MissingNsg(String, String),
    #[error(
        "NSG {nsg} has no free priority below {below} (the deny the grant must beat); free one \
         between 100 and {below} and request again"
    )]
    NoFreePriority { nsg: String, below: u32 },
}

/// One NSG on the way to the VM, and the VM's private addresses behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    pub nsg: String,
    pub destinations: Vec<AddressPrefix>,
}

/// One rule a grant creates.
#[derive(Clone, Debug, PartialEq)]
pub struct Create {
    pub nsg: String,
    pub rule: String,
    pub priority: u32,
    /// The rule's `properties`, description (the stamp) included.
    pub properties: Map<String, Value>,
}

/// What granting writes: the rules to create, then the older grants' rules to delete.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub vm_id: String,
    pub vm_name: String,
    pub creates: Vec<Create>,
    /// Older grants of the same VM, source and ports, by id, with the NSGs holding them.
    pub replaces: BTreeMap<GrantId, Vec<String>>,
}

/// Plans grant `id` of `access` to the VM `vm` says, stamped with `stamp`.
pub fn plan(
    snapshot: &Snapshot,
    vm: &str,
    access: &Access,
    id: &GrantId,
    stamp: &Stamp,
    config: &EngineConfig,
) -> Result<Planned, RequestError> {
    let vm = find_vm(snapshot, vm, Provider::Azure)?;
    let mut creates = Vec::new();
    let mut replaces: BTreeMap<GrantId, Vec<String>> = BTreeMap::new();
    for layer in layers(snapshot, vm)? {
        let nsg = snapshot
            .nsgs
            .iter()
            .find(|n| n.id.eq_ignore_ascii_case(&layer.nsg))
            .ok_or_else(|| RequestError::MissingNsg(layer.nsg.clone(), vm.id.clone()))?;
        let priority = priority(nsg, access, config)?;
        let rule = access.rule(&id.rule_name(), priority, layer.destinations.clone());
        let mut properties = azure_rule::properties(&rule);
        properties.insert("description".to_owned(), stamp.description().into());
        creates.push(Create {
            nsg: nsg.id.clone(),
            rule: rule.name,
            priority,
            properties,
        });
        for old in replaced(nsg, &layer, access) {
            replaces.entry(old).or_default().push(nsg.id.clone());
        }
    }
    Ok(Planned {
        vm_id: vm.id.clone(),
        vm_name: vm.name.clone(),
        creates,
        replaces,
    })
}

/// The one VM `given` names (its resource or instance id, its name, or `tag:KEY=VALUE`), which
/// must be on `cloud`.
pub fn find_vm<'a>(
    snapshot: &'a Snapshot,
    given: &str,
    cloud: Provider,
) -> Result<&'a Vm, RequestError> {
    let by_id: Vec<&Vm> = snapshot
        .vms
        .iter()
        .filter(|vm| vm.id.eq_ignore_ascii_case(given.trim()))
        .collect();
    let found: Vec<&Vm> = if !by_id.is_empty() {
        by_id
    } else if given.trim().starts_with("tag:") {
        let selector =
            VmSelector::parse(given).map_err(|_| RequestError::NoSuchVm(given.to_owned()))?;
        snapshot
            .vms
            .iter()
            .filter(|vm| selector.matches(vm))
            .collect()
    } else {
        snapshot
            .vms
            .iter()
            .filter(|vm| vm.name == given.trim())
            .collect()
    };
    match found.as_slice() {
        [] => Err(RequestError::NoSuchVm(given.to_owned())),
        [vm] if vm.provider != cloud => Err(RequestError::OtherCloud {
            vm: vm.id.clone(),
            provider: vm.provider,
        }),
        [vm] => Ok(vm),
        many => Err(RequestError::Ambiguous {
            given: given.to_owned(),
            ids: many.iter().map(|vm| vm.id.clone()).collect(),
        }),
    }
}

/// The NSGs on the way from the internet to the VM's internet-facing interfaces (each NIC's
/// subnet NSG and its own), each with the private addresses it filters for the VM.
pub fn layers(snapshot: &Snapshot, vm: &Vm) -> Result<Vec<Layer>, RequestError> {
    let mut layers: Vec<Layer> = Vec::new();
    let mut facing = false;
    for nic in snapshot.nics.iter().filter(|nic| {
        nic.vm_id
            .as_deref()
            .is_some_and(|id| id.eq_ignore_ascii_case(&vm.id))
            || vm.nic_ids.iter().any(|id| id.eq_ignore_ascii_case(&nic.id))
    }) {
        let addresses: Vec<AddressPrefix> = nic
            .ip_configs
            .iter()
            .filter(|c| c.public_ip_id.is_some() || c.public_ip.is_some())
            .filter_map(|c| c.private_ip)
            .map(|ip| AddressPrefix::Network(host(ip)))
            .collect();
        if addresses.is_empty() {
            continue;
        }
        facing = true;
        let subnet_nsg = nic.subnet_id.as_deref().and_then(|subnet| {
            snapshot
                .subnets
                .iter()
                .find(|s| s.id.eq_ignore_ascii_case(subnet))
                .and_then(|s| s.nsg_id.clone())
        });
        let nsgs: Vec<String> = subnet_nsg.into_iter().chain(nic.nsg_id.clone()).collect();
        if nsgs.is_empty() {
            return Err(RequestError::Unfiltered(vm.id.clone()));
        }
        for nsg in nsgs {
            match layers.iter_mut().find(|l| l.nsg.eq_ignore_ascii_case(&nsg)) {
                Some(layer) => {
                    for address in &addresses {
                        if !layer.destinations.contains(address) {
                            layer.destinations.push(address.clone());
                        }
                    }
                }
                None => layers.push(Layer {
                    nsg,
                    destinations: addresses.clone(),
                }),
            }
        }
    }
    if !facing {
        return Err(RequestError::NotInternetFacing(vm.id.clone()));
    }
    Ok(layers)
}

fn host(ip: IpAddr) -> IpNetwork {
    IpNetwork::new(ip, if ip.is_ipv4() { 32 } else { 128 }).expect("a host prefix is valid")
}

/// The highest free inbound priority of `nsg` below every deny that matches the grant (its
/// protocol, a port, a source address): the grant beats the lock-down and any other deny, and
/// stays as close to them as it can. With no such deny, the highest free priority.
pub fn priority(nsg: &Nsg, access: &Access, config: &EngineConfig) -> Result<u32, RequestError> {
    let source = AddressSet::network(&access.source);
    let blocking = nsg
        .rules
        .iter()
        .filter(|r| r.direction == Direction::Inbound && r.access == RuleAccess::Deny)
        .filter(|r| r.protocol.matches(access.protocol))
        .filter(|r| {
            access
                .ports
                .iter()
                .any(|&p| r.destination_ports.iter().any(|range| range.contains(p)))
        })
        .filter(|r| {
            r.sources.iter().any(|s| {
                !nsg_source_addresses(s, config)
                    .intersect(&source)
                    .is_empty()
            })
        })
        .map(|r| r.priority)
        .min();
    let below = blocking.unwrap_or(PRIORITIES.end() + 1);
    (*PRIORITIES.start()..below)
        .rev()
        .find(|p| {
            !nsg.rules
                .iter()
                .any(|r| r.direction == Direction::Inbound && r.priority == *p)
        })
        .ok_or_else(|| RequestError::NoFreePriority {
            nsg: nsg.id.clone(),
            below,
        })
}

/// The older grants in `nsg` that the new one replaces: the same protocol and source to the same
/// addresses, on ports the new one all gives.
pub fn replaced(nsg: &Nsg, layer: &Layer, access: &Access) -> Vec<GrantId> {
    let same_set = |a: &[AddressPrefix], b: &[AddressPrefix]| {
        a.len() == b.len() && a.iter().all(|x| b.contains(x))
    };
    nsg.rules
        .iter()
        .filter(|r| r.access == RuleAccess::Allow && r.protocol == access.protocol)
        .filter(|r| r.sources == [AddressPrefix::Network(access.source)])
        .filter(|r| same_set(&r.destinations, &layer.destinations))
        .filter(|r| {
            !r.destination_ports.is_empty()
                && r.destination_ports
                    .iter()
                    .all(|range| (range.first..=range.last).all(|p| access.ports.contains(&p)))
        })
        .filter_map(|r| GrantId::of_rule(&r.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NsgRule, PortRange, Protocol};
    use crate::policy::Policy;

    fn config() -> EngineConfig {
        EngineConfig::from_policy(&Policy::load(&[], true).unwrap())
    }

    fn rule(name: &str, priority: u32, access: RuleAccess, source: &str, port: u16) -> NsgRule {
        NsgRule {
            name: name.to_owned(),
            priority,
            direction: Direction::Inbound,
            access,
            protocol: Protocol::TCP,
            sources: vec![source.parse().unwrap()],
            source_asg_ids: Vec::new(),
            source_ports: Vec::new(),
            destinations: vec!["10.0.0.4/32".parse().unwrap()],
            destination_asg_ids: Vec::new(),
            destination_ports: vec![PortRange::single(port)],
            origin: None,
        }
    }

    fn nsg(rules: Vec<NsgRule>) -> Nsg {
        Nsg {
            id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n".into(),
            name: "n".into(),
            region: None,
            rules,
            default_rules: Vec::new(),
            grant_expiries: Default::default(),
            origin: None,
        }
    }

    fn ssh(from: &str) -> Access {
        Access::parse(&["22".into()], from).unwrap()
    }

    #[test]
    fn the_grant_beats_the_denies_it_must_pass_at_the_closest_free_priority() {
        let cases: [(&str, Vec<NsgRule>, Result<u32, u32>); 6] = [
            ("no deny: the highest free priority", vec![], Ok(4096)),
            (
                "right above the lock-down deny",
                vec![rule(
                    "portcullis-lock-1",
                    299,
                    RuleAccess::Deny,
                    "Internet",
                    22,
                )],
                Ok(298),
            ),
            (
                "taken priorities are skipped",
                vec![
                    rule("portcullis-lock-1", 299, RuleAccess::Deny, "Internet", 22),
                    rule("other", 298, RuleAccess::Allow, "10.0.0.0/8", 80),
                ],
                Ok(297),
            ),
            (
                "a deny of another port or source does not count",
                vec![
                    rule("deny-rdp", 200, RuleAccess::Deny, "Internet", 3389),
                    rule("deny-office", 150, RuleAccess::Deny, "81.2.70.0/24", 22),
                ],
                Ok(4096),
            ),
            (
                "the lowest matching deny decides",
                vec![
                    rule("deny-a", 500, RuleAccess::Deny, "*", 22),
                    rule("deny-b", 400, RuleAccess::Deny, "81.2.69.0/24", 22),
                ],
                Ok(399),
            ),
            (
                "no free priority below a deny at 100",
                vec![rule("deny", 100, RuleAccess::Deny, "Internet", 22)],
                Err(100),
            ),
        ];
        for (name, rules, expected) in cases {
            let got = priority(&nsg(rules), &ssh("81.2.69.160"), &config());
            match expected {
                Ok(p) => assert_eq!(got, Ok(p), "{name}"),
                Err(below) => assert!(
                    matches!(got, Err(RequestError::NoFreePriority { below: b, .. }) if b == below),
                    "{name}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn an_older_grant_of_the_same_source_and_ports_is_replaced() {
        let layer = Layer {
            nsg: "n".into(),
            destinations: vec!["10.0.0.4/32".parse().unwrap()],
        };
        let old =
            |name: &str, source: &str, port: u16| rule(name, 290, RuleAccess::Allow, source, port);
        let rules = vec![
            old("portcullis-jit-aaaaaaaaaaaa", "203.0.113.9/32", 22),
            old("portcullis-jit-bbbbbbbbbbbb", "203.0.113.10/32", 22),
            old("portcullis-jit-cccccccccccc", "203.0.113.9/32", 3389),
            old("allow-ssh-office", "203.0.113.9/32", 22),
        ];
        let found = replaced(&nsg(rules), &layer, &ssh("203.0.113.9"));
        assert_eq!(found, [GrantId::parse("aaaaaaaaaaaa").unwrap()]);
    }
}
