use std::collections::HashSet;
use std::path::PathBuf;

use super::*;
use crate::addrset::Family;
use crate::finding::Status;
use crate::load::{self, Loaded};
use crate::model::{AddressPrefix, Provider, SgSourceKind};
use crate::policy::Policy;
use crate::scan;

fn params(clouds: Clouds, vms: usize, nsgs: usize, rules_per_nsg: usize) -> Params {
    Params {
        vms,
        nsgs,
        rules_per_nsg,
        clouds,
        seed: 7,
    }
}

/// The snapshot without what loading adds (origins, source files) and with every list in id
/// order, so that a snapshot and its export loaded back compare equal.
fn normalised(mut s: Snapshot) -> Snapshot {
    s.sources.clear();
    s.vms.iter_mut().for_each(|v| v.origin = None);
    s.nics.iter_mut().for_each(|n| n.origin = None);
    for nsg in &mut s.nsgs {
        nsg.origin = None;
        nsg.rules
            .iter_mut()
            .chain(&mut nsg.default_rules)
            .for_each(|r| r.origin = None);
    }
    for group in &mut s.security_groups {
        group.origin = None;
        group.inbound.iter_mut().for_each(|p| p.origin = None);
    }
    for acl in &mut s.network_acls {
        acl.origin = None;
        acl.entries.iter_mut().for_each(|e| e.origin = None);
    }
    s.vms.sort_by(|a, b| a.id.cmp(&b.id));
    s.nics.sort_by(|a, b| a.id.cmp(&b.id));
    s.public_ips.sort_by(|a, b| a.id.cmp(&b.id));
    s.subnets.sort_by(|a, b| a.id.cmp(&b.id));
    s.nsgs.sort_by(|a, b| a.id.cmp(&b.id));
    s.app_security_groups.sort_by(|a, b| a.id.cmp(&b.id));
    s.security_groups.sort_by(|a, b| a.id.cmp(&b.id));
    s.network_acls.sort_by(|a, b| a.id.cmp(&b.id));
    s.route_tables.sort_by(|a, b| a.id.cmp(&b.id));
    s.prefix_lists.sort_by(|a, b| a.id.cmp(&b.id));
    s
}

fn load_back(path: PathBuf) -> Loaded {
    load::load_inputs(&[path]).expect("a generated estate loads")
}

#[test]
fn a_seed_always_gives_the_same_estate() {
    for clouds in [Clouds::Azure, Clouds::Aws, Clouds::Mixed] {
        let first = generate(&params(clouds, 300, 30, 12));
        assert_eq!(first, generate(&params(clouds, 300, 30, 12)), "{clouds:?}");
        let other_seed = generate(&Params {
            seed: 8,
            ..params(clouds, 300, 30, 12)
        });
        assert_ne!(first, other_seed, "{clouds:?}");
    }
}

#[test]
fn estates_have_the_requested_sizes() {
    // (clouds, VMs, NSGs, rules per NSG, Azure VMs, Azure NSGs)
    let cases = [
        (Clouds::Azure, 1_000, 100, 50, 1_000, 100),
        (Clouds::Azure, 37, 200, 3, 37, 200),
        (Clouds::Aws, 1_000, 100, 50, 0, 0),
        (Clouds::Aws, 5, 1, 1, 0, 0),
        (Clouds::Mixed, 1_001, 101, 10, 501, 51),
        (Clouds::Azure, 0, 0, 0, 0, 0),
    ];
    for (clouds, vms, nsgs, rules, azure_vms, azure_nsgs) in cases {
        let name = format!("{clouds:?} {vms} VMs {nsgs}x{rules}");
        let s = generate(&params(clouds, vms, nsgs, rules));
        let count = |provider| s.vms.iter().filter(|v| v.provider == provider).count();
        assert_eq!(count(Provider::Azure), azure_vms, "{name}");
        assert_eq!(count(Provider::Aws), vms - azure_vms, "{name}");
        assert_eq!(s.nsgs.len(), azure_nsgs, "{name}");
        assert_eq!(s.security_groups.len(), nsgs - azure_nsgs, "{name}");
        assert!(s.nsgs.iter().all(|n| n.rules.len() == rules), "{name}");
        for group in &s.security_groups {
            let sources: usize = group.inbound.iter().map(|p| p.sources.len()).sum();
            assert_eq!(sources, rules, "{name}: {}", group.id);
        }
    }
}

#[test]
fn estates_hold_what_real_ones_do() {
    let s = generate(&params(Clouds::Mixed, 4_000, 400, 50));
    let nsg_rules = || s.nsgs.iter().flat_map(|n| &n.rules);
    let sg_sources = || {
        s.security_groups
            .iter()
            .flat_map(|g| &g.inbound)
            .flat_map(|p| &p.sources)
    };
    let nsgs_in_use: HashSet<&str> = s
        .nics
        .iter()
        .filter_map(|n| n.nsg_id.as_deref())
        .chain(s.subnets.iter().filter_map(|n| n.nsg_id.as_deref()))
        .collect();
    let groups_in_use: HashSet<&str> = s
        .nics
        .iter()
        .flat_map(|n| &n.security_group_ids)
        .map(String::as_str)
        .collect();
    let azure_subnets = || s.subnets.iter().filter(|n| n.provider == Provider::Azure);
    let checks: &[(&str, bool)] = &[
        // A few are left over, like the orphaned NSGs of real estates.
        (
            "almost every NSG is used",
            nsgs_in_use.len() * 100 >= s.nsgs.len() * 95,
        ),
        (
            "every security group is used",
            groups_in_use.len() == s.security_groups.len(),
        ),
        (
            "some subnets have an NSG",
            azure_subnets().any(|n| n.nsg_id.is_some()),
        ),
        (
            "some subnets have none",
            azure_subnets().any(|n| n.nsg_id.is_none()),
        ),
        (
            "some NSG rules deny",
            nsg_rules().any(|r| r.access == crate::model::Access::Deny),
        ),
        (
            "some NSG rules name a service tag",
            nsg_rules().any(|r| {
                r.sources
                    .iter()
                    .any(|p| matches!(p, AddressPrefix::Tag(t) if t.starts_with("Azure")))
            }),
        ),
        (
            "some NSG rules list several prefixes",
            nsg_rules().any(|r| r.sources.len() > 1),
        ),
        (
            "some NSG rules list several port ranges",
            nsg_rules().any(|r| r.destination_ports.len() > 1),
        ),
        (
            "some NSG rules limit source ports",
            nsg_rules().any(|r| !r.source_ports.is_empty()),
        ),
        (
            "some NSG rules name one NIC",
            nsg_rules().any(|r| {
                r.destinations
                    .iter()
                    .any(|p| matches!(p, AddressPrefix::Network(n) if n.prefix() == 32))
            }),
        ),
        (
            "some NSG rules name an ASG",
            nsg_rules().any(|r| !r.destination_asg_ids.is_empty()),
        ),
        (
            "some NSG rules are JIT grants",
            nsg_rules().any(|r| r.name.starts_with("SecurityCenter-JITRule")),
        ),
        (
            "some public IPs are IPv6",
            s.public_ips.iter().any(|p| p.family == Family::V6),
        ),
        (
            "some public IPs have no address",
            s.public_ips.iter().any(|p| p.address.is_none()),
        ),
        (
            "some interfaces have several security groups",
            s.nics.iter().any(|n| n.security_group_ids.len() > 1),
        ),
        (
            "some security group rules name a prefix list",
            sg_sources().any(|x| matches!(x.kind, SgSourceKind::PrefixList(_))),
        ),
        (
            "some security group rules name a group",
            sg_sources().any(|x| matches!(x.kind, SgSourceKind::Group(_))),
        ),
        (
            "some route tables are main ones",
            s.route_tables.iter().any(|t| t.main),
        ),
        (
            "some route tables do not reach an internet gateway",
            s.route_tables
                .iter()
                .any(|t| !t.routes.iter().any(|r| r.target.starts_with("igw-"))),
        ),
        (
            "some network ACLs are custom",
            s.network_acls
                .iter()
                .any(|a| !a.is_default && !a.subnet_ids.is_empty()),
        ),
    ];
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(what, _)| *what)
        .collect();
    assert!(failed.is_empty(), "not found: {failed:?}");
}

#[test]
fn a_snapshot_file_loads_back_unchanged() {
    let generated = generate(&params(Clouds::Mixed, 500, 50, 20));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("estate.json");
    let mut bytes = Vec::new();
    load::write_snapshot(&generated, &mut bytes).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let loaded = load_back(path);
    assert_eq!(normalised(loaded.snapshot), normalised(generated));
}

#[test]
fn export_files_load_back_as_the_same_estate() {
    for clouds in [Clouds::Azure, Clouds::Aws, Clouds::Mixed] {
        // Over a thousand VMs, so that Azure lists take several pages.
        let generated = generate(&params(clouds, 1_200, 60, 20));
        let dir = tempfile::tempdir().unwrap();
        export::write(&generated, dir.path()).unwrap();
        let loaded = load_back(dir.path().to_path_buf());
        assert!(
            loaded.warnings.is_empty(),
            "{clouds:?}: {:?}",
            loaded.warnings
        );
        assert!(
            loaded.skipped.is_empty(),
            "{clouds:?}: {:?}",
            loaded.skipped
        );
        assert!(
            normalised(loaded.snapshot) == normalised(generated),
            "{clouds:?}: the export loads back as another estate"
        );
    }
}

#[test]
fn export_refuses_a_folder_with_files_in_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("old.json"), "{}").unwrap();
    let err = export::write(&Snapshot::new(), dir.path()).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
}

#[test]
fn generated_estates_scan_with_every_verdict() {
    let policy = Policy::builtin();
    for clouds in [Clouds::Azure, Clouds::Aws] {
        let loaded = Loaded {
            snapshot: generate(&params(clouds, 2_000, 200, 30)),
            ..Loaded::default()
        };
        let (report, _) = scan::scan(&loaded, &policy);
        let summary = &report.summary;
        assert_eq!(
            report.findings.len(),
            2_000 * policy.recommendations.len(),
            "{clouds:?}"
        );
        assert!(summary.internet_facing_vms > 0, "{clouds:?}");
        assert!(summary.internet_facing_vms < 2_000, "{clouds:?}");
        for status in [Status::Healthy, Status::Unhealthy, Status::NotApplicable] {
            assert!(
                report.findings.iter().any(|f| f.status == status),
                "{clouds:?}: no {status} finding"
            );
        }
    }
}
