//! `--rule internet-facing-vm-nsg`: a new NSG for every internet-facing Azure NIC that has none,
//! on itself or on its subnet.
//!
//! The NSG has no custom rules, so its default rules deny all inbound internet traffic (traffic
//! from the virtual network and the load balancer stays allowed): the plan says so on both of
//! its changes, creating the NSG (`portcullis-lock-…`, in the NIC's resource group and region)
//! and pointing the NIC at it. AWS VMs are skipped: their filter is a security group that
//! allows all traffic, and only someone who knows what the VM serves can say what to keep.

use std::collections::{BTreeSet, HashMap};

use crate::engine::id_key;
use crate::model::Provider;
use crate::remediate::resource_group;

use super::Context;
use super::edit::{Workspace, lock_name};
use super::plan::{AffectedVm, SkipReason, Skipped};
use super::show::subscription;

/// Gives each unfiltered NIC of the selected unhealthy VMs a new NSG; returns the VMs it cannot
/// fix, and why.
pub(super) fn run(work: &mut Workspace, context: &Context) -> Vec<Skipped> {
    if context.filters.is_empty() {
        return Vec::new();
    }
    let (exposures, findings) = context.unhealthy_of(&work.snapshot, &context.filters);
    let index: HashMap<&str, usize> = work
        .snapshot
        .vms
        .iter()
        .enumerate()
        .map(|(i, vm)| (vm.id.as_str(), i))
        .collect();
    let mut skipped = Vec::new();
    let mut attach = Vec::new();
    let mut seen = BTreeSet::new();
    for finding in &findings {
        let skip = |reason| Skipped {
            resource: finding.resource.clone(),
            resource_name: finding.resource_name.clone(),
            rule: finding.rule.clone(),
            reason,
        };
        if finding.provider == Provider::Aws {
            skipped.push(skip(SkipReason::AllTrafficAllowed));
            continue;
        }
        let Some(&at) = index.get(finding.resource.as_str()) else {
            continue;
        };
        let vm = &work.snapshot.vms[at];
        for nic in &exposures.vms[at].unfiltered_nics {
            if !seen.insert(id_key(nic)) {
                continue;
            }
            match (&vm.region, nsg_for(nic)) {
                (Some(location), Some(nsg)) => attach.push((
                    nic.clone(),
                    nsg,
                    location.clone(),
                    AffectedVm {
                        id: vm.id.clone(),
                        name: vm.name.clone(),
                    },
                )),
                (None, _) => skipped.push(skip(SkipReason::NoLocation { nic: nic.clone() })),
                (_, None) => skipped.push(skip(SkipReason::NothingToChange)),
            }
        }
    }
    for (nic, nsg, location, vm) in attach {
        work.attach_new_nsg(&nic, &nsg, &location, vm);
    }
    skipped
}

/// The id of the NSG made for `nic`: in its subscription and resource group, named after it.
fn nsg_for(nic: &str) -> Option<String> {
    let (subscription, group) = (subscription(nic)?, resource_group(nic)?);
    Some(format!(
        "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Network/\
         networkSecurityGroups/{}",
        lock_name(&["nsg", &id_key(nic)])
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nsg_of_a_nic_is_named_after_it_in_its_resource_group() {
        let nic = "/subscriptions/5a1e/resourceGroups/rg-0/providers/Microsoft.Network/\
                   networkInterfaces/vm-4-nic";
        let nsg = nsg_for(nic).unwrap();
        assert!(
            nsg.starts_with(
                "/subscriptions/5a1e/resourceGroups/rg-0/providers/Microsoft.Network/\
                 networkSecurityGroups/portcullis-lock-"
            ),
            "{nsg}"
        );
        assert_eq!(
            nsg_for(&nic.to_ascii_uppercase())
                .unwrap()
                .rsplit('/')
                .next(),
            nsg.rsplit('/').next()
        );
        assert_ne!(nsg_for(&nic.replace("vm-4", "vm-5")), Some(nsg));
        assert_eq!(nsg_for("vm-4-nic"), None);
    }
}
