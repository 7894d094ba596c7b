//! Table tests of small estates with the plans they must get.

use serde_json::{Value, json};

use super::plan::{Change, ChangeNote, SgRule, SkipReason};
use super::*;
use crate::model::{AddressPrefix, PortRange, Protocol, SgSourceKind};

const NSG: &str =
    "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg-1";

fn rule(name: &str, priority: u32, protocol: &str, sources: &[&str], ports: &[&str]) -> Value {
    json!({"name": name, "priority": priority, "direction": "inbound", "access": "allow",
        "protocol": protocol, "sources": sources, "destinations": ["*"],
        "destination_ports": ports})
}

/// Azure VMs `vm-1`…`vm-N`, each with a public NIC in one subnet; the NSG on the subnet (so
/// shared) when `shared`, else on the first VM's NIC.
fn azure(rules: Vec<Value>, vms: usize, shared: bool) -> Snapshot {
    let mut nics = Vec::new();
    let mut machines = Vec::new();
    let mut pips = Vec::new();
    for i in 1..=vms {
        let vm = format!(
            "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-{i}"
        );
        let nic_id = format!(
            "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/vm-{i}-nic"
        );
        let mut nic = json!({"id": nic_id, "provider": "azure", "vm_id": vm,
            "subnet_id": "/subnet/1",
            "ip_configs": [{"private_ip": format!("10.0.0.{}", 3 + i), "public_ip_id": format!("/pip/{i}")}]});
        if !shared && i == 1 {
            nic["nsg_id"] = json!(NSG);
        }
        nics.push(nic);
        pips.push(json!({"id": format!("/pip/{i}"), "family": "ipv4"}));
        machines.push(
            json!({"id": vm, "name": format!("vm-{i}"), "provider": "azure",
            "scope": "s1", "region": "westeurope"}),
        );
    }
    let mut subnet = json!({"id": "/subnet/1", "provider": "azure"});
    if shared {
        subnet["nsg_id"] = json!(NSG);
    }
    serde_json::from_value(json!({
        "portcullis_snapshot": 1, "vms": machines, "nics": nics, "public_ips": pips,
        "subnets": [subnet], "nsgs": [{"id": NSG, "name": "nsg-1", "rules": rules}],
    }))
    .unwrap()
}

/// One EC2 instance with one security group of these permissions.
fn aws(permissions: Value) -> Snapshot {
    serde_json::from_value(json!({
        "portcullis_snapshot": 1,
        "vms": [{"id": "i-1", "name": "web", "provider": "aws", "scope": "111122223333",
            "region": "eu-west-1", "nic_ids": ["eni-1"]}],
        "nics": [{"id": "eni-1", "provider": "aws", "vm_id": "i-1", "subnet_id": "subnet-1",
            "security_group_ids": ["sg-1"],
            "ip_configs": [{"private_ip": "10.0.0.4", "public_ip": "54.1.2.3"}]}],
        "subnets": [{"id": "subnet-1", "provider": "aws", "network_id": "vpc-1"}],
        "route_tables": [{"id": "rtb-1", "vpc_id": "vpc-1", "main": true,
            "routes": [{"destination": "0.0.0.0/0", "target": "igw-1"}]}],
        "security_groups": [{"id": "sg-1", "vpc_id": "vpc-1", "inbound": permissions}],
    }))
    .unwrap()
}

fn options(strategy: Strategy, narrowing: bool) -> PlanOptions {
    PlanOptions {
        strategy,
        recommendations: Vec::new(),
        resources: Vec::new(),
        allow_protocol_narrowing: narrowing,
    }
}

fn plan_of(snapshot: &Snapshot, options: &PlanOptions) -> Plan {
    let source = PlanSource::Offline {
        files: vec!["estate.json".into()],
    };
    plan(snapshot, &Policy::builtin(), options, source, "t".into()).unwrap()
}

/// The unhealthy findings of `rec` after the plan is applied to the snapshot.
fn unhealthy_after(snapshot: &Snapshot, plan: &Plan, rec: &str) -> Vec<String> {
    let after = apply_to_snapshot(snapshot, plan).unwrap();
    let policy = Policy::builtin();
    let exposures = engine::evaluate(&after, &EngineConfig::from_policy(&policy));
    verdict::judge(&after, &exposures, &policy)
        .into_iter()
        .filter(|f| f.rule == rec && f.status == Status::Unhealthy)
        .map(|f| f.resource_name)
        .collect()
}

fn azure_changes(plan: &Plan) -> Vec<&plan::NsgRuleChange> {
    plan.changes
        .iter()
        .map(|c| match c {
            Change::Azure(c) => c,
            other => panic!("not a rule change of an NSG: {other:?}"),
        })
        .collect()
}

fn ports(list: &[&str]) -> Vec<PortRange> {
    list.iter().map(|p| p.parse().unwrap()).collect()
}

#[test]
fn quick_fix_deletes_a_rule_with_nothing_left_and_narrows_one_with_other_ports() {
    let snapshot = azure(
        vec![
            rule("ssh", 300, "Tcp", &["Internet"], &["22"]),
            rule(
                "web",
                310,
                "Tcp",
                &["0.0.0.0/1", "128.0.0.0/1"],
                &["80", "3389"],
            ),
        ],
        1,
        false,
    );
    let plan = plan_of(&snapshot, &options(Strategy::QuickFix, false));
    let changes = azure_changes(&plan);
    assert_eq!(changes.len(), 3, "{changes:#?}");
    assert_eq!(changes[0].rule, "ssh");
    assert!(changes[0].after.is_none());
    // The web rule keeps port 80 for everyone; a companion next to it keeps the private
    // ranges of 0.0.0.0/1 on 3389.
    let web = changes.iter().find(|c| c.rule == "web").unwrap();
    assert_eq!(
        web.after.as_ref().unwrap().destination_ports,
        ports(&["80"])
    );
    let keep = changes.iter().find(|c| c.before.is_none()).unwrap();
    let kept = keep.after.as_ref().unwrap();
    assert!(kept.name.starts_with(LOCK_PREFIX), "{}", kept.name);
    assert_eq!(kept.priority, 311);
    assert_eq!(kept.destination_ports, ports(&["3389"]));
    assert!(
        kept.sources
            .contains(&AddressPrefix::Network("10.0.0.0/8".parse().unwrap()))
    );
    assert_eq!(
        keep.notes,
        vec![ChangeNote::KeepsNarrowSources {
            of_rule: "web".into()
        }]
    );
    assert!(plan.skipped.is_empty(), "{:?}", plan.skipped);
    assert!(unhealthy_after(&snapshot, &plan, "management-ports-closed").is_empty());
}

#[test]
fn quick_fix_keeps_a_narrow_admin_source() {
    let snapshot = azure(
        vec![rule(
            "ssh",
            300,
            "Tcp",
            &["Internet", "8.8.8.0/29"],
            &["22"],
        )],
        1,
        false,
    );
    let plan = plan_of(&snapshot, &options(Strategy::QuickFix, false));
    let changes = azure_changes(&plan);
    assert_eq!(changes.len(), 1);
    let after = changes[0].after.as_ref().unwrap();
    assert_eq!(
        after.sources,
        vec![AddressPrefix::Network("8.8.8.0/29".parse().unwrap())]
    );
    assert_eq!(after.priority, 300);
    assert!(unhealthy_after(&snapshot, &plan, "management-ports-closed").is_empty());
    // Still standing access, which the quick fix does not remove.
    assert_eq!(
        unhealthy_after(&snapshot, &plan, "management-ports-jit"),
        vec!["vm-1"]
    );
}

#[test]
fn a_shared_nsg_change_lists_every_vm_using_it() {
    let snapshot = azure(vec![rule("ssh", 300, "Tcp", &["*"], &["22"])], 3, true);
    let plan = plan_of(&snapshot, &options(Strategy::QuickFix, false));
    let changes = azure_changes(&plan);
    assert_eq!(changes.len(), 1, "{changes:#?}");
    let names: Vec<&str> = changes[0].affects.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["vm-1", "vm-2", "vm-3"]);
    let text = show::render(&plan);
    assert!(text.contains("affects 3 VM(s): vm-1, vm-2, vm-3"), "{text}");
    assert!(text.contains("OFFLINE"), "{text}");
    assert!(text.contains("az network nsg rule create"), "{text}");
}

#[test]
fn defender_rules_are_never_touched() {
    let snapshot = azure(
        vec![rule(
            "SecurityCenter-JITRule-1-abc",
            100,
            "Tcp",
            &["*"],
            &["22"],
        )],
        1,
        false,
    );
    for strategy in [Strategy::QuickFix, Strategy::Jit] {
        let mut options = options(strategy, true);
        options.recommendations = vec!["management-ports-closed".into()];
        let plan = plan_of(&snapshot, &options);
        assert!(plan.changes.is_empty(), "{:#?}", plan.changes);
        assert!(
            matches!(&plan.skipped[..], [s] if matches!(&s.reason, SkipReason::NotOurs { rule, .. } if rule.starts_with("SecurityCenter-"))),
            "{:?}",
            plan.skipped
        );
    }
}

#[test]
fn jit_denies_for_the_vm_above_every_offending_allow() {
    let snapshot = azure(
        vec![
            rule("ssh", 300, "Tcp", &["Internet"], &["22", "3389"]),
            rule("admin", 299, "Tcp", &["8.8.8.8"], &["22"]),
        ],
        2,
        true,
    );
    let plan = plan_of(&snapshot, &options(Strategy::Jit, false));
    let changes = azure_changes(&plan);
    // One deny per VM, below 299 and each for that VM's address only; the allows stay.
    assert_eq!(changes.len(), 2, "{changes:#?}");
    for (change, ip) in changes.iter().zip(["10.0.0.5", "10.0.0.4"]) {
        let deny = change.after.as_ref().unwrap();
        assert!(change.before.is_none());
        assert_eq!(deny.access, crate::model::Access::Deny);
        assert!(deny.priority < 299);
        assert_eq!(deny.sources, vec![AddressPrefix::Tag("Internet".into())]);
        assert_eq!(
            deny.destinations,
            vec![AddressPrefix::Network(format!("{ip}/32").parse().unwrap())]
        );
        assert!(deny.name.starts_with(LOCK_PREFIX));
    }
    assert_eq!(plan.jit_policies.len(), 2);
    assert_eq!(plan.jit_policies[0].allowed_sources, vec!["8.8.8.8/32"]);
    assert!(unhealthy_after(&snapshot, &plan, "management-ports-jit").is_empty());
    // The same estate gets the same names.
    let again = plan_of(&snapshot, &options(Strategy::Jit, false));
    assert_eq!(again.changes, plan.changes);
}

#[test]
fn jit_with_an_allow_at_100_gets_the_quick_fix_and_says_so() {
    let snapshot = azure(
        vec![rule("ssh", 100, "Tcp", &["Internet"], &["22"])],
        1,
        false,
    );
    let plan = plan_of(&snapshot, &options(Strategy::Jit, false));
    let changes = azure_changes(&plan);
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(changes[0].rule, "ssh");
    assert!(changes[0].after.is_none());
    assert_eq!(
        changes[0].notes,
        vec![ChangeNote::QuickFixInsteadOfLockdown]
    );
    assert!(unhealthy_after(&snapshot, &plan, "management-ports-jit").is_empty());
}

#[test]
fn an_all_protocol_rule_is_skipped_unless_narrowing_is_allowed() {
    let snapshot = aws(json!([{"protocol": "-1",
        "sources": [{"cidr": "0.0.0.0/0", "rule_id": "sgr-1", "description": "legacy"}]}]));
    let plan = plan_of(&snapshot, &options(Strategy::QuickFix, false));
    assert!(plan.changes.is_empty());
    assert!(
        matches!(&plan.skipped[..], [s] if matches!(s.reason, SkipReason::AllProtocols { .. })),
        "{:?}",
        plan.skipped
    );

    let plan = plan_of(&snapshot, &options(Strategy::QuickFix, true));
    let mut revoked = Vec::new();
    let mut authorized: Vec<SgRule> = Vec::new();
    for change in &plan.changes {
        let Change::Aws(c) = change else {
            panic!("{change:?}")
        };
        assert_eq!(
            (c.account.as_str(), c.region.as_deref()),
            ("111122223333", Some("eu-west-1"))
        );
        revoked.extend(c.before.clone());
        authorized.extend(c.after.clone());
    }
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].rule_id.as_deref(), Some("sgr-1"));
    let has = |protocol: Protocol, first: u16, last: u16| {
        authorized.iter().any(|r| {
            r.protocol == protocol
                && r.ports == Some(PortRange { first, last })
                && r.source == SgSourceKind::Cidr("0.0.0.0/0".parse().unwrap())
                && r.description.as_deref() == Some("legacy")
        })
    };
    assert!(has(Protocol::TCP, 0, 20) && has(Protocol::TCP, 24, 388));
    assert!(has(Protocol::UDP, 0, 388) && has(Protocol::UDP, 390, 3388));
    assert!(authorized.iter().any(|r| r.protocol == Protocol::Number(1)));
    // Private ranges keep all traffic.
    assert!(authorized.iter().any(|r| r.protocol == Protocol::Any
        && r.source == SgSourceKind::Cidr("10.0.0.0/8".parse().unwrap())));
    assert!(
        plan.changes
            .iter()
            .any(|c| c.notes().contains(&ChangeNote::OtherProtocolsLoseAccess))
    );
    assert!(unhealthy_after(&snapshot, &plan, "management-ports-closed").is_empty());
    let text = show::render(&plan);
    assert!(text.contains("--security-group-rule-ids sgr-1"), "{text}");
}

#[test]
fn a_stale_plan_does_not_apply() {
    let snapshot = azure(
        vec![rule("ssh", 300, "Tcp", &["Internet"], &["22"])],
        1,
        false,
    );
    let plan = plan_of(&snapshot, &options(Strategy::QuickFix, false));
    let mut moved = snapshot.clone();
    moved.nsgs[0].rules[0].priority = 310;
    assert_eq!(
        apply_to_snapshot(&moved, &plan),
        Err(ApplyError::NsgRuleStale {
            nsg: NSG.into(),
            rule: "ssh".into()
        })
    );
}

#[test]
fn plans_round_trip_through_json_and_refuse_other_versions() {
    let snapshot = azure(
        vec![rule("ssh", 300, "Tcp", &["Internet"], &["22"])],
        1,
        false,
    );
    let plan = plan_of(&snapshot, &options(Strategy::QuickFix, false));
    let text = serde_json::to_string_pretty(&plan).unwrap();
    assert!(text.starts_with("{\n  \"portcullis_plan\": 1"), "{text}");
    assert_eq!(Plan::parse("plan.json", &text).unwrap(), plan);
    let other = text.replacen("\"portcullis_plan\": 1", "\"portcullis_plan\": 2", 1);
    let error = Plan::parse("plan.json", &other).unwrap_err().to_string();
    assert!(error.contains("version 2"), "{error}");
    let error = Plan::parse("plan.json", "{\"portcullis_plan\": 1, \"x\": [").unwrap_err();
    assert!(error.to_string().contains("plan.json"), "{error}");
}

#[test]
fn resources_select_vms_by_name_or_tag() {
    let mut snapshot = azure(
        vec![rule("ssh", 300, "Tcp", &["Internet"], &["22"])],
        2,
        false,
    );
    snapshot.nics[1].nsg_id = None;
    snapshot.vms[0].tags.insert("env".into(), "prod".into());
    for (selector, changes) in [("vm-2", 0), ("tag:env=prod", 1), ("*vm-1", 1)] {
        let mut options = options(Strategy::QuickFix, false);
        options.resources = vec![VmSelector::parse(selector).unwrap()];
        assert_eq!(
            plan_of(&snapshot, &options).changes.len(),
            changes,
            "{selector}"
        );
    }
}

#[test]
fn a_rule_listed_twice_is_one_rule_revoked_once() {
    // EC2 holds a group's rules as a set: the same protocol, ports and source listed in two
    // permissions, or twice in one, is one rule, and the plan revokes it once.
    let twice_in_two = json!([
        {"protocol": "tcp", "ports": "3389", "sources": [{"cidr": "8.8.0.0/16"}]},
        {"protocol": "tcp", "ports": "3389", "sources": [{"cidr": "8.8.0.0/16"}]}]);
    let twice_in_one = json!([{"protocol": "tcp", "ports": "3389",
        "sources": [{"cidr": "8.8.0.0/16"}, {"cidr": "8.8.0.0/16", "description": "again"}]}]);
    for permissions in [twice_in_two, twice_in_one] {
        let snapshot = aws(permissions.clone());
        let plan = plan_of(&snapshot, &options(Strategy::QuickFix, false));
        let revokes: Vec<&SgRule> = plan
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::Aws(c) => c.before.as_ref(),
                _ => None,
            })
            .collect();
        assert_eq!(revokes.len(), 1, "{permissions}: {:#?}", plan.changes);
        assert_eq!(revokes[0].description, None, "{permissions}");
        assert!(
            unhealthy_after(&snapshot, &plan, "management-ports-closed").is_empty(),
            "{permissions}"
        );
    }
}

#[test]
fn internet_facing_vm_nsg_gives_each_unfiltered_nic_a_new_nsg_and_says_inbound_internet_ends() {
    // vm-1's NIC has the NSG, which lets SSH in from anywhere; vm-2's and vm-3's have none.
    let snapshot = azure(
        vec![rule("allow-ssh", 100, "tcp", &["*"], &["22"])],
        3,
        false,
    );
    let mut opts = options(Strategy::QuickFix, false);
    opts.recommendations = vec!["internet-facing-vm-nsg".into()];
    let plan = plan_of(&snapshot, &opts);
    assert_eq!(plan.recommendations, ["internet-facing-vm-nsg"]);
    assert!(plan.skipped.is_empty(), "{:?}", plan.skipped);
    let mut made = Vec::new();
    for pair in plan.changes.chunks(2) {
        let [Change::AzureNewNsg(nsg), Change::AzureNic(nic)] = pair else {
            panic!("a new NSG, then its NIC: {pair:?}");
        };
        assert_eq!(nsg.nic, nic.nic);
        assert_eq!(
            (nic.before.as_ref(), nic.after.as_ref()),
            (None, Some(&nsg.nsg))
        );
        assert_eq!(nsg.location, "westeurope");
        assert!(
            nsg.nsg.contains("/networkSecurityGroups/portcullis-lock-"),
            "{}",
            nsg.nsg
        );
        assert_eq!(nsg.notes, [ChangeNote::InboundInternetEnds]);
        assert_eq!(nsg.affects, nic.affects);
        made.push(
            nsg.affects
                .iter()
                .map(|vm| vm.name.clone())
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(made, [["vm-2"], ["vm-3"]]);
    assert!(unhealthy_after(&snapshot, &plan, "internet-facing-vm-nsg").is_empty());
    // The new NSGs close every port to the internet; vm-1's own NSG was not this plan's.
    assert_eq!(
        unhealthy_after(&snapshot, &plan, "management-ports-closed"),
        ["vm-1"]
    );
    let after = apply_to_snapshot(&snapshot, &plan).unwrap();
    assert!(matches!(
        apply_to_snapshot(&after, &plan),
        Err(ApplyError::NsgExists { .. })
    ));

    opts.recommendations.push("management-ports-closed".into());
    let both = plan_of(&snapshot, &opts);
    assert!(matches!(
        &both.changes[..4],
        [
            Change::AzureNewNsg(_),
            Change::AzureNic(_),
            Change::AzureNewNsg(_),
            Change::AzureNic(_)
        ]
    ));
    for rec in ["internet-facing-vm-nsg", "management-ports-closed"] {
        assert!(unhealthy_after(&snapshot, &both, rec).is_empty(), "{rec}");
    }
}

#[test]
fn internet_facing_vm_nsg_skips_an_aws_vm_whose_group_allows_all_traffic() {
    let snapshot = aws(json!([{"protocol": "-1", "sources": [{"cidr": "0.0.0.0/0"}]}]));
    let mut opts = options(Strategy::QuickFix, false);
    opts.recommendations = vec!["internet-facing-vm-nsg".into()];
    let plan = plan_of(&snapshot, &opts);
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);
    assert!(
        matches!(&plan.skipped[..], [s] if s.reason == SkipReason::AllTrafficAllowed
            && s.rule == "internet-facing-vm-nsg"),
        "{:?}",
        plan.skipped
    );
}
