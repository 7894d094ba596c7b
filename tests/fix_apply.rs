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
use serde_json::Value;

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
    let out = portcullis(
        state,
        &[
            "fix",
            "plan",
            "--azure",
            "--arm-endpoint",
            &fake.url,
            "--quiet",
            "--strategy",
            strategy,
            "-o",
            plan.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
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
    let mut names: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == recommendation && f["status"] == "unhealthy")
        .map(|f| f["resource_name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
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

    let writes = fake.stats().writes_by_nsg.values().sum::<u64>();
    let again = apply(&fake, &state, &plan_path, &["--yes"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        text(&again).contains("nothing to write"),
        "{}",
        text(&again)
    );
    assert_eq!(fake.stats().writes_by_nsg.values().sum::<u64>(), writes);

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
    let dir = tempfile::tempdir().unwrap();
    let reference = start(Writes::default());
    let (state, plan_path) = (dir.path().join("state"), dir.path().join("plan.json"));
    plan(&reference, &state, &plan_path);
    let out = apply(&reference, &state, &plan_path, &["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let expected = rules(&reference);
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
        assert_eq!(rules(&fake), expected, "crash point {at}");
    }
}
