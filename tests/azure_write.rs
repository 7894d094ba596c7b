//! Writes of single NSG security rules (`cloud::azure::write`) against the fake Resource
//! Manager: etag preconditions, long-running operations, retries of throttling and busy NSGs,
//! governance answers, Defender's rules, validation, one write at a time per NSG, the deadline,
//! and a re-scan that judges what was written.

mod fake_arm;

use std::future::Future;
use std::time::{Duration, Instant};

use fake_arm::rules::{Method, WriteAnswer, WriteFault};
use fake_arm::{Config, Estate, FakeArm, Writes};
use portcullis::cloud::azure::write::{
    BlockReason, DefenderRules, Deleted, ErrorKind, Etag, NetworkWriter, NsgId, Precondition,
    ProvisioningState, WriteError,
};
use portcullis::cloud::azure::{AzureOptions, Credential, Subscriptions, collect};
use portcullis::finding::Status;
use portcullis::limits::Limits;
use portcullis::load::Loaded;
use portcullis::policy::Policy;
use portcullis::scan;
use serde_json::{Map, Value, json};

const TOKEN: &str = "test-token-write";

/// One subscription of the eight patterns: vm-0's NSG allows SSH from anywhere (`allow-ssh`,
/// priority 100), vm-3's holds a Defender JIT rule.
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

/// Polls and backoffs cut short, so that the tests run fast.
fn quick() -> Limits {
    Limits {
        max_retry_after: Duration::from_millis(20),
        ..Limits::default()
    }
}

fn writer(fake: &FakeArm, limits: Limits) -> NetworkWriter {
    NetworkWriter::new(&fake.url, &Credential::Token(TOKEN.to_string()), limits).unwrap()
}

fn run<F: Future>(work: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

fn nsg(fake: &FakeArm, vm: usize) -> NsgId {
    NsgId::parse(&format!(
        "/subscriptions/{}/resourceGroups/rg-0/providers/Microsoft.Network/\
         networkSecurityGroups/vm-{vm}-nsg",
        fake.estate().subscriptions[0].id
    ))
    .unwrap()
}

fn properties(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

/// An inbound deny of SSH from the internet at `priority`.
fn deny_ssh(priority: u32) -> Map<String, Value> {
    properties(json!({
        "description": "portcullis lock-down",
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "destinationPortRange": "22",
        "sourceAddressPrefix": "Internet",
        "destinationAddressPrefix": "10.0.0.4",
        "access": "Deny",
        "priority": priority,
        "direction": "Inbound",
    }))
}

fn rule_names(fake: &FakeArm, nsg: &NsgId) -> Vec<String> {
    fake.nsg(nsg.as_str()).unwrap()["properties"]["securityRules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["name"].as_str().unwrap().to_string())
        .collect()
}

/// The error's kind, after checking that its message names the NSG and the rule.
fn kind(error: WriteError, nsg: &NsgId, rule: &str) -> ErrorKind {
    let text = error.to_string();
    assert!(text.contains(nsg.as_str()), "{text}");
    assert!(text.contains(rule), "{text}");
    error.kind
}

#[test]
fn a_rule_is_created_read_and_deleted_and_the_nsg_shows_it() {
    let fake = start(Writes {
        polls: 2,
        ..Writes::default()
    });
    let writer = writer(&fake, quick());
    let nsg = nsg(&fake, 0);
    let existing = run(writer.get_rule(&nsg, "allow-ssh")).unwrap().unwrap();
    assert_eq!(existing.name, "allow-ssh");
    assert_eq!(existing.properties["priority"], json!(100));
    assert_eq!(existing.provisioning_state, ProvisioningState::Succeeded);
    assert!(existing.etag.0.starts_with("W/\""), "{}", existing.etag);
    assert_eq!(
        run(writer.get_rule(&nsg, "portcullis-lock-22")).unwrap(),
        None
    );

    let wanted = deny_ssh(200);
    let created = run(writer.put_rule(
        &nsg,
        "portcullis-lock-22",
        &wanted,
        &Precondition::IfNoneMatch,
        DefenderRules::Refuse,
    ))
    .unwrap();
    assert_eq!(created.provisioning_state, ProvisioningState::Succeeded);
    assert!(created.holds(&wanted), "{:?}", created.properties);
    assert_ne!(created.etag, existing.etag);
    assert_eq!(
        created.id,
        format!("{}/securityRules/portcullis-lock-22", nsg.as_str())
    );
    let read = run(writer.get_rule(&nsg, "portcullis-lock-22"))
        .unwrap()
        .unwrap();
    assert_eq!(read, created);
    assert_eq!(rule_names(&fake, &nsg), ["allow-ssh", "portcullis-lock-22"]);
    // Two polls InProgress, then Succeeded.
    assert_eq!(fake.stats().polls, 3);

    let deleted = run(writer.delete_rule(
        &nsg,
        "portcullis-lock-22",
        &created.etag,
        DefenderRules::Refuse,
    ));
    assert_eq!(deleted, Ok(Deleted::Deleted));
    assert_eq!(fake.stats().polls, 6, "the delete's Location is polled too");
    assert_eq!(
        run(writer.get_rule(&nsg, "portcullis-lock-22")).unwrap(),
        None
    );
    assert_eq!(rule_names(&fake, &nsg), ["allow-ssh"]);
    // Deleting again converges.
    let again = run(writer.delete_rule(
        &nsg,
        "portcullis-lock-22",
        &created.etag,
        DefenderRules::Refuse,
    ));
    assert_eq!(again, Ok(Deleted::AlreadyGone));

    let stats = fake.stats();
    assert_eq!(stats.writes_by_nsg.get(nsg.as_str()), Some(&2));
    assert_eq!(stats.overlapping_writes, 0);
}

#[test]
fn a_write_with_a_stale_etag_is_refused_and_changes_nothing() {
    let fake = start(Writes::default());
    let writer = writer(&fake, quick());
    let nsg = nsg(&fake, 0);
    let read = run(writer.get_rule(&nsg, "allow-ssh")).unwrap().unwrap();
    let mut narrowed = read.properties.clone();
    narrowed.insert("sourceAddressPrefix".to_string(), json!("203.0.113.0/29"));
    let written = run(writer.put_rule(
        &nsg,
        "allow-ssh",
        &narrowed,
        &Precondition::IfMatch(read.etag.clone()),
        DefenderRules::Refuse,
    ))
    .unwrap();
    assert!(written.holds(&narrowed));
    // Every field read is written back, including those portcullis does not model.
    assert_eq!(written.properties["sourcePortRanges"], json!([]));

    let stale = run(writer.put_rule(
        &nsg,
        "allow-ssh",
        &read.properties,
        &Precondition::IfMatch(read.etag.clone()),
        DefenderRules::Refuse,
    ))
    .unwrap_err();
    assert!(stale.to_string().contains("plan again"), "{stale}");
    assert_eq!(
        kind(stale, &nsg, "allow-ssh"),
        ErrorKind::Stale(Precondition::IfMatch(read.etag.clone()))
    );
    let stale_delete =
        run(writer.delete_rule(&nsg, "allow-ssh", &read.etag, DefenderRules::Refuse)).unwrap_err();
    assert_eq!(
        kind(stale_delete, &nsg, "allow-ssh"),
        ErrorKind::Stale(Precondition::IfMatch(read.etag.clone()))
    );
    let now = run(writer.get_rule(&nsg, "allow-ssh")).unwrap().unwrap();
    assert_eq!(now, written);
    assert_eq!(fake.stats().writes_by_nsg.get(nsg.as_str()), Some(&1));
}

#[test]
fn create_only_is_refused_when_the_rule_exists() {
    let fake = start(Writes::default());
    let writer = writer(&fake, quick());
    let nsg = nsg(&fake, 0);
    let error = run(writer.put_rule(
        &nsg,
        "allow-ssh",
        &deny_ssh(300),
        &Precondition::IfNoneMatch,
        DefenderRules::Refuse,
    ))
    .unwrap_err();
    assert!(error.to_string().contains("exists already"), "{error}");
    assert_eq!(
        kind(error, &nsg, "allow-ssh"),
        ErrorKind::Stale(Precondition::IfNoneMatch)
    );
    let rule = run(writer.get_rule(&nsg, "allow-ssh")).unwrap().unwrap();
    assert_eq!(rule.properties["access"], json!("Allow"));
    assert!(fake.stats().writes_by_nsg.is_empty());
}

#[test]
fn an_operation_that_fails_is_an_error_naming_the_rule_and_its_cause() {
    let fake = start(Writes {
        polls: 1,
        failing: vec!["portcullis-lock-22".to_string()],
        ..Writes::default()
    });
    let writer = writer(&fake, quick());
    let nsg = nsg(&fake, 0);
    let error = run(writer.put_rule(
        &nsg,
        "portcullis-lock-22",
        &deny_ssh(200),
        &Precondition::IfNoneMatch,
        DefenderRules::Refuse,
    ))
    .unwrap_err();
    match kind(error, &nsg, "portcullis-lock-22") {
        ErrorKind::OperationFailed { status, error } => {
            assert_eq!(status, "Failed");
            assert!(error.contains("Provisioning of security rule"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.stats().polls, 2);
}

#[test]
fn throttling_and_a_busy_nsg_are_retried_after_the_wait_asked_for() {
    let fault = |method, answer| WriteFault {
        rule: "portcullis-lock-22".to_string(),
        method,
        answer,
    };
    let fake = start(Writes {
        faults: vec![
            fault(Method::Put, WriteAnswer::Throttled(1)),
            fault(Method::Delete, WriteAnswer::Busy),
            fault(Method::Delete, WriteAnswer::ServerError),
        ],
        ..Writes::default()
    });
    // Retry-After obeyed as asked (up to the default cap of 60 s).
    let writer = writer(&fake, Limits::default());
    let nsg = nsg(&fake, 0);
    let started = Instant::now();
    let created = run(writer.put_rule(
        &nsg,
        "portcullis-lock-22",
        &deny_ssh(200),
        &Precondition::IfNoneMatch,
        DefenderRules::Refuse,
    ))
    .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    let deleted = run(writer.delete_rule(
        &nsg,
        "portcullis-lock-22",
        &created.etag,
        DefenderRules::Refuse,
    ));
    assert_eq!(deleted, Ok(Deleted::Deleted));
    let stats = fake.stats();
    assert_eq!(stats.faults_served, 3);
    assert_eq!(stats.premature_retries, 0);
    assert_eq!(stats.writes_by_nsg.get(nsg.as_str()), Some(&2));
}

#[test]
fn governance_answers_are_blocked_not_retried_and_say_what_to_do() {
    let fault = |rule: &str, answer| WriteFault {
        rule: rule.to_string(),
        method: Method::Put,
        answer,
    };
    let fake = start(Writes {
        faults: vec![
            fault("by-policy", WriteAnswer::Disallowed),
            fault("by-lock", WriteAnswer::Locked),
            fault("by-role", WriteAnswer::Forbidden),
        ],
        ..Writes::default()
    });
    let writer = writer(&fake, quick());
    let nsg = nsg(&fake, 0);
    for (rule, advice) in [
        ("by-policy", "policy exemption"),
        ("by-lock", "az lock list"),
        ("by-role", "Network Contributor"),
    ] {
        let calls = writer.calls();
        let error = run(writer.put_rule(
            &nsg,
            rule,
            &deny_ssh(200),
            &Precondition::IfNoneMatch,
            DefenderRules::Refuse,
        ))
        .unwrap_err();
        assert_eq!(writer.calls(), calls + 1, "{rule} was retried");
        assert!(error.to_string().contains(advice), "{error}");
        let ErrorKind::Blocked(reason) = kind(error, &nsg, rule) else {
            panic!("{rule} not blocked");
        };
        match (rule, reason) {
            ("by-policy", BlockReason::Policy(_))
            | ("by-lock", BlockReason::Locked(_))
            | ("by-role", BlockReason::NotAuthorized(_)) => {}
            (rule, reason) => panic!("{rule}: {reason:?}"),
        }
    }
    assert!(fake.stats().writes_by_nsg.is_empty());
}

#[test]
fn defender_rules_are_refused_without_a_request_unless_allowed() {
    let fake = start(Writes::default());
    let writer = writer(&fake, quick());
    let nsg = nsg(&fake, 3);
    let name = "SecurityCenter-JITRule_3_7C3F0A";
    let live = run(writer.get_rule(&nsg, name)).unwrap().unwrap();
    let requests = fake.stats().requests;
    let put = run(writer.put_rule(
        &nsg,
        name,
        &deny_ssh(200),
        &Precondition::IfMatch(live.etag.clone()),
        DefenderRules::Refuse,
    ))
    .unwrap_err();
    assert_eq!(kind(put, &nsg, name), ErrorKind::Defender);
    let delete =
        run(writer.delete_rule(&nsg, name, &live.etag, DefenderRules::Refuse)).unwrap_err();
    assert!(delete.to_string().contains("JIT policy"), "{delete}");
    assert_eq!(kind(delete, &nsg, name), ErrorKind::Defender);
    assert_eq!(fake.stats().requests, requests, "a request was sent");

    let allowed = run(writer.delete_rule(&nsg, name, &live.etag, DefenderRules::Allow));
    assert_eq!(allowed, Ok(Deleted::Deleted));
}

#[test]
fn rules_resource_manager_would_refuse_are_rejected_with_its_reason() {
    let fake = start(Writes::default());
    let writer = writer(&fake, quick());
    let nsg = nsg(&fake, 0);
    for (priority, code) in [
        (50, "SecurityRuleInvalidPriority"),
        (100, "SecurityRuleConflict"),
    ] {
        let error = run(writer.put_rule(
            &nsg,
            "portcullis-lock-22",
            &deny_ssh(priority),
            &Precondition::IfNoneMatch,
            DefenderRules::Refuse,
        ))
        .unwrap_err();
        match kind(error, &nsg, "portcullis-lock-22") {
            ErrorKind::Rejected(error) => assert_eq!(error.code.as_deref(), Some(code)),
            other => panic!("{other:?}"),
        }
    }
    let mut two_sources = deny_ssh(200);
    two_sources.insert("sourceAddressPrefixes".to_string(), json!(["10.0.0.0/8"]));
    let error = run(writer.put_rule(
        &nsg,
        "portcullis-lock-22",
        &two_sources,
        &Precondition::IfNoneMatch,
        DefenderRules::Refuse,
    ))
    .unwrap_err();
    assert!(error.to_string().contains("exactly one of"), "{error}");
    for bad in ["", "a/b", "rule?x", &"r".repeat(81)] {
        let error = run(writer.get_rule(&nsg, bad)).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidId, "{bad:?}");
    }
    assert!(fake.stats().writes_by_nsg.is_empty());
}

#[test]
fn writes_to_one_nsg_go_one_at_a_time() {
    let fake = start(Writes {
        polls: 2,
        ..Writes::default()
    });
    let writer = writer(&fake, quick());
    let nsg = nsg(&fake, 0);
    let names: Vec<String> = (0..4).map(|i| format!("portcullis-lock-{i}")).collect();
    let rules: Vec<_> = names
        .iter()
        .zip(200..)
        .map(|(n, p)| (n, deny_ssh(p)))
        .collect();
    let results = run(futures::future::join_all(rules.iter().map(
        |(name, properties)| {
            writer.put_rule(
                &nsg,
                name,
                properties,
                &Precondition::IfNoneMatch,
                DefenderRules::Refuse,
            )
        },
    )));
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let stats = fake.stats();
    assert_eq!(stats.overlapping_writes, 0);
    assert_eq!(stats.writes_by_nsg.get(nsg.as_str()), Some(&4));
    assert_eq!(rule_names(&fake, &nsg).len(), 5);
}

#[test]
fn the_deadline_bounds_an_operation_that_never_ends() {
    let fake = start(Writes {
        polls: usize::MAX,
        ..Writes::default()
    });
    let limits = Limits {
        scope_deadline: Duration::from_secs(1),
        ..quick()
    };
    let writer = writer(&fake, limits);
    let nsg = nsg(&fake, 0);
    let started = Instant::now();
    let error = run(writer.put_rule(
        &nsg,
        "portcullis-lock-22",
        &deny_ssh(200),
        &Precondition::IfNoneMatch,
        DefenderRules::Refuse,
    ))
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        error
            .to_string()
            .contains("read it again (portcullis fix recover)"),
        "{error}"
    );
    match kind(error, &nsg, "portcullis-lock-22") {
        ErrorKind::OutOfTime { deadline, last } => {
            assert_eq!(deadline, Duration::from_secs(1));
            assert!(last.contains("waiting for the operation"), "{last}");
        }
        other => panic!("{other:?}"),
    }
    assert!(fake.stats().polls > 1);
}

/// The verdict of `rule` for vm-`vm` after collecting the fake's estate afresh.
fn verdict_after_scan(fake: &FakeArm, vm: usize, rule: &str) -> Status {
    let collected = collect(&AzureOptions {
        subscriptions: Subscriptions::Only(vec![fake.estate().subscriptions[0].id.clone()]),
        arm_endpoint: fake.url.clone(),
        credential: Credential::Token(TOKEN.to_string()),
        progress: false,
        limits: Limits::default(),
    })
    .unwrap();
    assert!(collected.report.complete);
    let loaded = Loaded {
        snapshot: collected.snapshot,
        warnings: Vec::new(),
        skipped: Default::default(),
        files: 0,
    };
    let report = scan::scan(&loaded, &Policy::builtin()).0;
    let vm_id = &fake.estate().subscriptions[0].vms[vm].0;
    report
        .findings
        .iter()
        .find(|f| &f.resource == vm_id && f.rule == rule)
        .unwrap()
        .status
}

#[test]
fn a_rescan_judges_what_was_written() {
    let fake = start(Writes::default());
    let writer = writer(&fake, quick());
    let nsg = nsg(&fake, 0);
    assert_eq!(
        verdict_after_scan(&fake, 0, "management-ports-closed"),
        Status::Unhealthy
    );
    let read = run(writer.get_rule(&nsg, "allow-ssh")).unwrap().unwrap();
    let mut narrowed = read.properties.clone();
    narrowed.insert("sourceAddressPrefix".to_string(), json!("203.0.114.9"));
    run(writer.put_rule(
        &nsg,
        "allow-ssh",
        &narrowed,
        &Precondition::IfMatch(read.etag),
        DefenderRules::Refuse,
    ))
    .unwrap();
    assert_eq!(
        verdict_after_scan(&fake, 0, "management-ports-closed"),
        Status::Healthy
    );
    // Still standing access from one address, which JIT would not give.
    assert_eq!(
        verdict_after_scan(&fake, 0, "management-ports-jit"),
        Status::Unhealthy
    );
    let etag = Etag(
        run(writer.get_rule(&nsg, "allow-ssh"))
            .unwrap()
            .unwrap()
            .etag
            .0,
    );
    run(writer.delete_rule(&nsg, "allow-ssh", &etag, DefenderRules::Refuse)).unwrap();
    assert_eq!(
        verdict_after_scan(&fake, 0, "management-ports-jit"),
        Status::Healthy
    );
}

#[test]
fn a_write_whose_answer_was_lost_converges_on_retry() {
    let fault = |method| WriteFault {
        rule: "portcullis-lock-22".to_string(),
        method,
        answer: WriteAnswer::LostAnswer,
    };
    let fake = start(Writes {
        faults: vec![fault(Method::Put), fault(Method::Delete)],
        ..Writes::default()
    });
    let writer = writer(&fake, quick());
    let nsg = nsg(&fake, 0);
    // The retry finds the rule made, so create-only no longer holds: it holds what was sent.
    let wanted = deny_ssh(200);
    let created = run(writer.put_rule(
        &nsg,
        "portcullis-lock-22",
        &wanted,
        &Precondition::IfNoneMatch,
        DefenderRules::Refuse,
    ))
    .unwrap();
    assert!(created.holds(&wanted));
    let deleted = run(writer.delete_rule(
        &nsg,
        "portcullis-lock-22",
        &created.etag,
        DefenderRules::Refuse,
    ));
    assert_eq!(deleted, Ok(Deleted::AlreadyGone));
    assert_eq!(rule_names(&fake, &nsg), ["allow-ssh"]);
    let stats = fake.stats();
    assert_eq!(stats.faults_served, 2);
    assert_eq!(stats.writes_by_nsg.get(nsg.as_str()), Some(&2));
}
