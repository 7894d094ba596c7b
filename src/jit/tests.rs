//! Table tests of how a scan judges JIT grants by their stamped expiry: a grant before its
//! expiry is JIT access, one past it that is still there is standing access.

use serde_json::{Value, json};

use crate::engine::{self, EngineConfig};
use crate::finding::Status;
use crate::model::Snapshot;
use crate::policy::Policy;
use crate::verdict;

use super::clock::parse_instant;

const NSG: &str =
    "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg-1";

/// One internet-facing VM behind `nsg-1`, holding one allow of 22/tcp from one address named
/// `rule`, with `expiries` as the loader read them from the rules' descriptions.
fn estate(rule: &str, expiries: Value) -> Snapshot {
    let vm = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-1";
    serde_json::from_value(json!({
        "portcullis_snapshot": 1,
        "vms": [{"id": vm, "name": "vm-1", "provider": "azure", "scope": "s1"}],
        "nics": [{"id": "/nic/1", "provider": "azure", "vm_id": vm, "nsg_id": NSG,
            "ip_configs": [{"private_ip": "10.0.0.4", "public_ip_id": "/pip/1"}]}],
        "public_ips": [{"id": "/pip/1", "family": "ipv4"}],
        "nsgs": [{"id": NSG, "name": "nsg-1", "grant_expiries": expiries, "rules": [
            {"name": rule, "priority": 200, "direction": "inbound", "access": "allow",
             "protocol": "tcp", "sources": ["81.2.69.160/32"], "destinations": ["10.0.0.4/32"],
             "destination_ports": ["22"]}]}],
    }))
    .unwrap()
}

/// The `management-ports-jit` verdict on the VM at `now`: status and summary.
fn jit_verdict(snapshot: &Snapshot, now: &str) -> (Status, String) {
    let policy = Policy::load(&[], true).unwrap();
    let config = EngineConfig {
        now: parse_instant(now).unwrap(),
        ..EngineConfig::from_policy(&policy)
    };
    let exposures = engine::evaluate(snapshot, &config);
    let finding = verdict::judge(snapshot, &exposures, &policy)
        .into_iter()
        .find(|f| f.rule == "management-ports-jit")
        .unwrap();
    (finding.status, finding.evidence.summary)
}

#[test]
fn a_grant_is_jit_access_until_its_stamped_expiry_and_standing_access_after() {
    let grant = "portcullis-jit-aaaaaaaaaaaa";
    let stamped = json!({grant: "2026-12-03T08:00:00Z"});
    let cases = [
        (
            "before its expiry",
            grant,
            stamped.clone(),
            "2026-12-03T07:59:59Z",
            Status::Healthy,
            "reached only through JIT grants",
        ),
        (
            "at its expiry",
            grant,
            stamped.clone(),
            "2026-12-03T08:00:00Z",
            Status::Unhealthy,
            "expired JIT grant still open since 2026-12-03T08:00:00Z (portcullis-jit-aaaaaaaaaaaa): standing access",
        ),
        (
            "long after",
            grant,
            stamped.clone(),
            "2027-01-01T00:00:00Z",
            Status::Unhealthy,
            "expired JIT grant still open since 2026-12-03T08:00:00Z",
        ),
        (
            "a grant without a stamp keeps its name's meaning",
            grant,
            json!({}),
            "2027-01-01T00:00:00Z",
            Status::Healthy,
            "reached only through JIT grants",
        ),
        (
            "a stamp on a rule that is no grant changes nothing",
            "allow-office",
            json!({"allow-office": "2026-12-03T08:00:00Z"}),
            "2026-12-03T07:00:00Z",
            Status::Unhealthy,
            "standing access (not a JIT grant) from the internet to 22/tcp",
        ),
    ];
    for (name, rule, expiries, now, status, says) in cases {
        let (got, summary) = jit_verdict(&estate(rule, expiries), now);
        assert_eq!(got, status, "{name}: {summary}");
        assert!(summary.contains(says), "{name}: {summary}");
    }
}

#[test]
fn the_loader_reads_the_expiry_from_a_grant_rules_description() {
    let page = json!({"value": [{
        "id": NSG, "name": "nsg-1", "type": "Microsoft.Network/networkSecurityGroups",
        "location": "westeurope",
        "properties": {"securityRules": [
            {"name": "portcullis-jit-aaaaaaaaaaaa", "properties": {
                "priority": 200, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
                "sourceAddressPrefix": "81.2.69.160", "sourcePortRange": "*",
                "destinationAddressPrefix": "10.0.0.4", "destinationPortRange": "22",
                "description": "portcullis JIT grant expires=2026-12-03T09:00:00+01:00 by=alice"}},
            {"name": "allow-office", "properties": {
                "priority": 300, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
                "sourceAddressPrefix": "81.2.69.0/24", "sourcePortRange": "*",
                "destinationAddressPrefix": "*", "destinationPortRange": "22",
                "description": "office"}}]}}]});
    let (loaded, unreadable) =
        crate::load::load_arm_page("page", page.to_string().as_bytes()).unwrap();
    assert!(unreadable.is_empty());
    let nsg = &loaded.snapshot.nsgs[0];
    assert_eq!(nsg.rules.len(), 2);
    assert_eq!(
        nsg.grant_expiries.iter().collect::<Vec<_>>(),
        [(
            &"portcullis-jit-aaaaaaaaaaaa".to_owned(),
            &"2026-12-03T08:00:00Z".to_owned()
        )]
    );
}
