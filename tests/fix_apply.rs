//! `fix apply`, `fix undo` and `fix recover` end to end, as the binary runs them: against the
//! fake Resource Manager for Azure (tests/fake_arm). A plan applied leaves no management-port
//! finding unhealthy that it does not skip; a second apply writes nothing; undo restores every
//! rule exactly; a plan the estate moved past is refused whole; a `fix` killed between any two
//! steps converges after `fix recover` and a second apply.

mod fake_arm;

use std::path::Path;
use std::process::{Command, Output};

use fake_arm::rules::{Method, WriteAnswer, WriteFault};
use fake_arm::{Config, Estate, FakeArm, Writes};
use serde_json::{Value, json};

const TOKEN: &str = "test-token-fix";

fn start(writes: Writes) -> FakeArm {
    FakeArm::start(
        Estate::generate(1, 8),
        Config {
            token: TOKEN.to_string(),
            page_size: 100,
            faults: Vec::new(),
            hostile: Vec::new(),
            writes,
        },
    )
}

/// Runs portcullis with the fake's token and `state` as its state directory.
fn portcullis(state: &Path, args: &[&str]) -> Output {
    portcullis_env(state, args, &[])
}

fn portcullis_env(state: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .args(args)
        .env("AZURE_ACCESS_TOKEN", TOKEN)
        .env("PORTCULLIS_STATE_DIR", state)
        .env_remove("PORTCULLIS_ARM_ENDPOINT")
        .env_remove("PORTCULLIS_TEST_CRASH_AT");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn plan(fake: &FakeArm, state: &Path, plan: &Path) {
    plan_with(fake, state, plan, "quick-fix");
}

fn plan_with(fake: &FakeArm, state: &Path, plan: &Path, strategy: &str) {
    plan_args(fake, state, plan, &["--strategy", strategy]);
}

/// Plans live from the fake with `extra` arguments; returns what `fix plan` printed.
fn plan_args(fake: &FakeArm, state: &Path, plan: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "fix",
        "plan",
        "--azure",
        "--arm-endpoint",
        &fake.url,
        "--quiet",
        "-o",
        plan.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = portcullis(state, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    text(&out)
}

fn apply(fake: &FakeArm, state: &Path, plan: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "fix",
        "apply",
        plan.to_str().unwrap(),
        "--arm-endpoint",
        &fake.url,
    ];
    args.extend_from_slice(extra);
    portcullis(state, &args)
}

fn undo(fake: &FakeArm, state: &Path, plan: &Path) -> Output {
    portcullis(
        state,
        &[
            "fix",
            "undo",
            plan.to_str().unwrap(),
            "--arm-endpoint",
            &fake.url,
            "--yes",
        ],
    )
}

/// The unhealthy findings of `recommendation` in a live scan, by VM name.
fn unhealthy(fake: &FakeArm, state: &Path, recommendation: &str) -> Vec<String> {
    let mut names: Vec<String> = statuses(fake, state)
        .into_iter()
        .filter(|((rule, _), status)| rule == recommendation && status == "unhealthy")
        .map(|((_, vm), _)| vm)
        .collect();
    names.sort();
    names
}

/// Every finding's status in a live scan, by recommendation and VM name.
fn statuses(fake: &FakeArm, state: &Path) -> std::collections::BTreeMap<(String, String), String> {
    let out = portcullis(
        state,
        &[
            "scan",
            "--azure",
            "--arm-endpoint",
            &fake.url,
            "--quiet",
            "--format",
            "json",
        ],
    );
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let text = |key: &str| f[key].as_str().unwrap().to_owned();
            ((text("rule"), text("resource_name")), text("status"))
        })
        .collect()
}

/// Every NSG's custom rules as Resource Manager holds them, without what changes on every write
/// (etags, provisioning states) and without portcullis's creation note.
fn rules(fake: &FakeArm) -> Vec<Value> {
    let subscription = &fake.estate().subscriptions[0].id;
    (0..fake.estate().vm_count())
        .filter_map(|vm| {
            fake.nsg(&format!(
                "/subscriptions/{subscription}/resourceGroups/rg-0/providers/\
                 Microsoft.Network/networkSecurityGroups/vm-{vm}-nsg"
            ))
        })
        .map(|nsg| {
            let mut rules = nsg["properties"]["securityRules"].clone();
            for rule in rules.as_array_mut().unwrap() {
                let rule = rule.as_object_mut().unwrap();
                rule.remove("etag");
                rule["properties"]
                    .as_object_mut()
                    .unwrap()
                    .remove("provisioningState");
            }
            rules
        })
        .collect()
}

fn plan_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The VMs a plan skips for its recommendation, by name.
fn skipped(plan: &Value) -> Vec<String> {
    let mut names: Vec<String> = plan["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["rule"] == plan["recommendations"][0])
        .map(|s| s["resource_name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Applies `plan` again, which must find everything done and write nothing.
fn second_apply_writes_nothing(fake: &FakeArm, state: &Path, plan: &Path) {
    let writes = fake.stats().writes_by_nsg.values().sum::<u64>();
    let again = apply(fake, state, plan, &["--yes"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        text(&again).contains("nothing to write"),
        "{}",
        text(&again)
    );
    assert_eq!(fake.stats().writes_by_nsg.values().sum::<u64>(), writes);
}

/// Plans with `strategy`, applies, applies again, undoes, undoes again.
fn apply_then_undo(strategy: &str, recommendation: &str) {
    let fake = start(Writes::default());
    let dir = tempfile::tempdir().unwrap();
    let (state, plan_path) = (dir.path().join("state"), dir.path().join("plan.json"));
    let original = rules(&fake);
    let before = unhealthy(&fake, &state, recommendation);
    assert!(!before.is_empty(), "the estate must have something to fix");
    plan_with(&fake, &state, &plan_path, strategy);
    let planned = plan_json(&plan_path);
    assert_eq!(planned["recommendations"][0], recommendation);
    assert!(!planned["changes"].as_array().unwrap().is_empty());

    let out = apply(&fake, &state, &plan_path, &["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("verified:"), "{}", text(&out));
    assert_eq!(unhealthy(&fake, &state, recommendation), skipped(&planned));
    assert_ne!(rules(&fake), original);
    assert!(
        fake.stats().writes_by_nsg.len() > 1,
        "several NSGs are written"
    );
    assert_eq!(
        fake.stats().overlapping_writes,
        0,
        "one write at a time per NSG"
    );

    second_apply_writes_nothing(&fake, &state, &plan_path);

    let out = undo(&fake, &state, &plan_path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(rules(&fake), original);
    assert_eq!(unhealthy(&fake, &state, recommendation), before);

    let out = undo(&fake, &state, &plan_path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("nothing to undo"), "{}", text(&out));
}

#[test]
fn azure_quick_fix_applied_fixes_what_it_does_not_skip_and_undo_restores_every_rule() {
    apply_then_undo("quick-fix", "management-ports-closed");
}

#[test]
fn azure_lockdown_applied_fixes_what_it_does_not_skip_and_undo_restores_every_rule() {
    apply_then_undo("jit", "management-ports-jit");
}

#[test]
fn azure_apply_refuses_a_stale_plan_and_writes_nothing() {
    let fake = start(Writes::default());
    let dir = tempfile::tempdir().unwrap();
    let (state, plan_path) = (dir.path().join("state"), dir.path().join("plan.json"));
    plan(&fake, &state, &plan_path);
    // Someone narrows vm-0's SSH rule after the plan was made.
    let mut planned = plan_json(&plan_path);
    let change = planned["changes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["azure"]["before"].is_object())
        .expect("a change of an existing rule");
    change["azure"]["before"]["priority"] = Value::from(4000);
    let stale_plan = dir.path().join("stale.json");
    std::fs::write(&stale_plan, serde_json::to_vec(&planned).unwrap()).unwrap();
    let original = rules(&fake);

    let out = apply(&fake, &state, &stale_plan, &["--yes"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(text(&out).contains("stale"), "{}", text(&out));
    assert_eq!(rules(&fake), original);
    assert_eq!(fake.stats().writes_by_nsg.values().sum::<u64>(), 0);
}

#[test]
fn azure_apply_without_a_terminal_asks_for_yes_and_a_dry_run_writes_nothing() {
    let fake = start(Writes::default());
    let dir = tempfile::tempdir().unwrap();
    let (state, plan_path) = (dir.path().join("state"), dir.path().join("plan.json"));
    plan(&fake, &state, &plan_path);

    let out = apply(&fake, &state, &plan_path, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--yes"), "{}", text(&out));

    let out = apply(&fake, &state, &plan_path, &["--yes", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("dry run"), "{}", text(&out));
    assert_eq!(fake.stats().writes_by_nsg.values().sum::<u64>(), 0);
}

#[test]
fn azure_apply_goes_on_past_a_blocked_rule_and_says_partial() {
    let dir = tempfile::tempdir().unwrap();
    let (state, plan_path) = (dir.path().join("state"), dir.path().join("plan.json"));
    let probe = start(Writes::default());
    plan(&probe, &state, &plan_path);
    let planned = plan_json(&plan_path);
    let first = planned["changes"][0]["azure"]["rule"]
        .as_str()
        .unwrap()
        .to_owned();
    let method = if planned["changes"][0]["azure"]["after"].is_null() {
        Method::Delete
    } else {
        Method::Put
    };
    drop(probe);
    let fake = start(Writes {
        faults: vec![WriteFault {
            rule: first.clone(),
            method,
            answer: WriteAnswer::Disallowed,
        }],
        ..Writes::default()
    });
    let out = apply(&fake, &state, &plan_path, &["--yes"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(text(&out).contains("BLOCKED"), "{}", text(&out));
    assert!(text(&out).contains(&first), "{}", text(&out));
    if planned["changes"].as_array().unwrap().len() > 1 {
        assert!(text(&out).contains("done:"), "{}", text(&out));
    }
}

/// Kills `fix apply` at every point between journaling and writing (each write has three), and
/// checks that `fix recover` then a second apply end where one apply would, losing no rule.
#[test]
fn azure_apply_killed_anywhere_converges_after_recover() {
    killed_anywhere_converges(&["--strategy", "quick-fix"], |fake| json!(rules(fake)));
}

/// The same for the NSG made for vm-4's NIC: the NIC names it, and it has no rules.
#[test]
fn azure_nsg_attach_killed_anywhere_converges_after_recover() {
    killed_anywhere_converges(&["--rule", "internet-facing-vm-nsg"], |fake| {
        let nic = fake.nic(&nic_of(fake, 4)).unwrap();
        let nsg = nic["properties"]["networkSecurityGroup"]["id"].clone();
        let created = nsg.as_str().and_then(|id| fake.nsg(id));
        json!([
            nsg,
            created.map(|n| n["properties"]["securityRules"].clone())
        ])
    });
}

/// Plans with `plan_extra`, applies once as the reference, then kills an apply of the same plan
/// at every crash point: `fix recover` and a second apply must end in the reference's `state`.
fn killed_anywhere_converges(plan_extra: &[&str], state_of: fn(&FakeArm) -> Value) {
    let dir = tempfile::tempdir().unwrap();
    let reference = start(Writes::default());
    let (state, plan_path) = (dir.path().join("state"), dir.path().join("plan.json"));
    plan_args(&reference, &state, &plan_path, plan_extra);
    let out = apply(&reference, &state, &plan_path, &["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let expected = state_of(&reference);
    let writes = plan_json(&plan_path)["changes"].as_array().unwrap().len() as u64;
    assert!(writes >= 2, "the plan must have writes to interrupt");
    drop(reference);

    for at in 1..=3 * writes {
        let fake = start(Writes::default());
        let state = dir.path().join(format!("state-{at}"));
        let at_text = at.to_string();
        let out = portcullis_env(
            &state,
            &[
                "fix",
                "apply",
                plan_path.to_str().unwrap(),
                "--arm-endpoint",
                &fake.url,
                "--yes",
            ],
            &[("PORTCULLIS_TEST_CRASH_AT", &at_text)],
        );
        assert_eq!(out.status.code(), None, "crash point {at}: {}", text(&out));
        let recover = portcullis(&state, &["fix", "recover", "--arm-endpoint", &fake.url]);
        assert_eq!(
            recover.status.code(),
            Some(0),
            "crash point {at}: {}",
            text(&recover)
        );
        let out = apply(&fake, &state, &plan_path, &["--yes"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "crash point {at}: {}",
            text(&out)
        );
        assert_eq!(state_of(&fake), expected, "crash point {at}");
    }
}

/// vm-`i`'s NIC id.
fn nic_of(fake: &FakeArm, i: usize) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/rg-0/providers/Microsoft.Network/networkInterfaces/\
         vm-{i}-nic",
        fake.estate().subscriptions[0].id
    )
}

/// `--rule internet-facing-vm-nsg`: the NIC with no NSG anywhere (vm-4) gets a new one, which
/// ends its internet access and nothing else; a second apply writes nothing; undo detaches and
/// deletes the NSG.
#[test]
fn azure_nsg_attach_filters_the_unfiltered_nic_only_and_undo_takes_it_away() {
    let fake = start(Writes {
        polls: 1,
        ..Writes::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let (state, plan_path) = (dir.path().join("state"), dir.path().join("plan.json"));
    let original_rules = rules(&fake);
    let before = statuses(&fake, &state);
    assert_eq!(unhealthy(&fake, &state, "internet-facing-vm-nsg"), ["vm-4"]);
    let shown = plan_args(
        &fake,
        &state,
        &plan_path,
        &["--rule", "internet-facing-vm-nsg"],
    );
    assert!(shown.contains("ALL inbound internet access"), "{shown}");
    let planned = plan_json(&plan_path);
    let nsg = planned["changes"][0]["azure_new_nsg"]["nsg"]
        .as_str()
        .unwrap_or_else(|| panic!("a new NSG first: {planned:#}"))
        .to_owned();
    assert_eq!(
        planned["changes"][1]["azure_nic"]["nic"],
        json!(nic_of(&fake, 4))
    );
    assert_eq!(planned["changes"].as_array().unwrap().len(), 2);

    let out = apply(&fake, &state, &plan_path, &["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("verified:"), "{}", text(&out));
    let nic = fake.nic(&nic_of(&fake, 4)).unwrap();
    assert_eq!(nic["properties"]["networkSecurityGroup"]["id"], json!(nsg));
    assert_eq!(nic["properties"]["provisioningState"], "Succeeded");
    let created = fake.nsg(&nsg).unwrap();
    assert_eq!(created["tags"]["created-by"], "portcullis fix");
    assert_eq!(created["location"], "westeurope");
    assert_eq!(rules(&fake), original_rules, "no existing rule is touched");
    // Only vm-4's findings change: filtered, and its management ports closed.
    let after = statuses(&fake, &state);
    let changed: Vec<_> = after
        .iter()
        .filter(|(key, status)| before.get(*key) != Some(*status))
        .map(|((rule, vm), status)| format!("{vm} {rule} {status}"))
        .collect();
    assert_eq!(
        changed,
        [
            "vm-4 internet-facing-vm-nsg healthy",
            "vm-4 management-ports-closed healthy",
            "vm-4 management-ports-jit healthy",
        ]
    );
    assert_eq!(after.len(), before.len());
    assert_eq!(fake.stats().overlapping_writes, 0);

    second_apply_writes_nothing(&fake, &state, &plan_path);

    let out = undo(&fake, &state, &plan_path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let nic = fake.nic(&nic_of(&fake, 4)).unwrap();
    assert_eq!(nic["properties"].get("networkSecurityGroup"), None);
    assert_eq!(fake.nsg(&nsg), None, "the NSG made for it is deleted");
    assert_eq!(statuses(&fake, &state), before);
}
