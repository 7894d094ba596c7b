//! The demo estates under `fixtures/` load completely: every file recognised, every resource
//! read, nothing skipped.

use std::path::PathBuf;

use portcullis::load::{load_file_bytes, load_inputs, write_snapshot};

#[test]
fn azure_demo_loads_completely() {
    let loaded = load_inputs(&[PathBuf::from("fixtures/azure-demo")]).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert!(loaded.skipped.is_empty(), "{:?}", loaded.skipped);
    assert_eq!(loaded.files, 12);
    let s = &loaded.snapshot;
    assert_eq!(s.sources.len(), 12);
    assert!(
        s.sources
            .contains(&"fixtures/azure-demo/subscription-prod/az-vm-list-d.json".to_string())
    );
    assert_eq!(s.vms.len(), 14);
    assert_eq!(s.nics.len(), 14);
    assert_eq!(s.public_ips.len(), 14);
    assert_eq!(s.nsgs.len(), 13);
    assert_eq!(s.subnets.len(), 6);
    assert_eq!(s.app_security_groups.len(), 1);
    assert_eq!(s.jit_policies.len(), 1);
    let scopes: std::collections::BTreeSet<&str> =
        s.vms.iter().map(|vm| vm.scope.as_str()).collect();
    assert_eq!(scopes.len(), 2);
    let deallocated: Vec<&str> = s
        .vms
        .iter()
        .filter(|vm| vm.power_state.as_deref() == Some("deallocated"))
        .map(|vm| vm.name.as_str())
        .collect();
    assert_eq!(deallocated, ["legacy-01"]);
    assert!(s.nsgs.iter().all(|nsg| nsg.default_rules.len() == 6));
    assert_eq!(s.resource_count(), 14 + 14 + 14 + 13 + 6 + 1 + 1);
}

#[test]
fn aws_demo_loads_completely() {
    let loaded = load_inputs(&[PathBuf::from("fixtures/aws-demo")]).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert!(loaded.skipped.is_empty(), "{:?}", loaded.skipped);
    assert_eq!(loaded.files, 7);
    let s = &loaded.snapshot;
    assert_eq!(s.vms.len(), 13);
    assert_eq!(s.nics.len(), 13);
    assert_eq!(s.security_groups.len(), 11);
    assert_eq!(s.network_acls.len(), 2);
    assert_eq!(s.route_tables.len(), 4);
    assert_eq!(s.subnets.len(), 5);
    assert_eq!(
        s.prefix_lists.len(),
        3,
        "described and resolved copies merged"
    );
    let resolved: Vec<&str> = s
        .prefix_lists
        .iter()
        .filter(|list| list.entries.is_some())
        .map(|list| list.name.as_str())
        .collect();
    assert_eq!(resolved, ["partner-admins"]);
    assert!(s.vms.iter().all(|vm| vm.scope == "111122223333"));
    assert_eq!(
        s.nics
            .iter()
            .filter(|nic| nic.ip_configs.iter().any(|c| c.public_ip.is_some()))
            .count(),
        12
    );
}

#[test]
fn demos_round_trip_through_a_snapshot_file() {
    let loaded = load_inputs(&[
        PathBuf::from("fixtures/azure-demo"),
        PathBuf::from("fixtures/aws-demo"),
    ])
    .unwrap();
    let mut written = Vec::new();
    write_snapshot(&loaded.snapshot, &mut written).unwrap();
    let reloaded = load_file_bytes("demo-snapshot.json", &written).unwrap();
    assert_eq!(reloaded.snapshot, loaded.snapshot);
    assert_eq!(reloaded.snapshot.sources.len(), 19);
}
