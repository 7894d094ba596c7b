//! `portcullis jit` end to end against the fake Resource Manager (tests/fake_arm): lock down,
//! request, scan, revoke or expire, scan; a grant opens only what it was asked for; a grant
//! closes on time after the process that opened it was killed, after the ledger was deleted, and
//! when its expiry passed while nothing ran; the ledger in a PostgreSQL store; and `jit sweep
//! --watch` as a child process, closing each grant at its expiry and surviving restarts. Time
//! moves by `PORTCULLIS_TEST_NOW` (one-shot commands) and `PORTCULLIS_TEST_CLOCK_FILE` (the
//! watcher), never by sleeping: the tests wait, bounded, for the effect in the cloud.

mod fake_arm;
mod support;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fake_arm::{Config, Estate, FakeArm};
use serde_json::Value;
use support::runs::{
    ADMIN, Findings, finding, findings, reach, request_args, show, verified_grant,
};

const TOKEN: &str = "test-token-jit";
/// The time the tests' grants are requested at.
const T0: &str = "2026-12-03T06:00:00Z";
/// The VM the grants are for: RDP open to two halves of the internet, locked down by `fix`.
const VM: &str = "vm-7";

/// A fake Resource Manager with 8 VMs (one of each pattern), a state directory, and the store
/// the `jit` commands are given (none: the default, SQLite in the state directory).
struct World {
    fake: FakeArm,
    _dir: tempfile::TempDir,
    state: PathBuf,
    store: Option<String>,
}

impl World {
    fn new() -> Self {
        let fake = FakeArm::start(Estate::generate(1, 8), Config::plain(TOKEN));
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        World {
            fake,
            _dir: dir,
            state,
            store: None,
        }
    }

    /// portcullis with `args` (and `--store` for the `jit` commands that keep the ledger), in
    /// the world's environment, at the fixed time `now`.
    fn command(&self, now: &str, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        command
            .args(args)
            .env("AZURE_ACCESS_TOKEN", TOKEN)
            .env("PORTCULLIS_STATE_DIR", &self.state)
            .env("PORTCULLIS_ARM_ENDPOINT", &self.fake.url)
            .env("PORTCULLIS_TEST_NOW", now)
            .env_remove("PORTCULLIS_TEST_CLOCK_FILE")
            .env_remove("PORTCULLIS_TEST_CRASH_AT");
        let keeps_ledger = matches!(
            args,
            ["jit", "request" | "list" | "log" | "revoke" | "sweep", ..]
                | ["fix", "plan" | "apply" | "undo", ..]
        );
        if let (Some(store), true) = (&self.store, keeps_ledger) {
            command.args(["--store", store]);
        }
        command
    }

    /// Runs portcullis at time `now` with `extra` environment variables.
    fn run_at(&self, now: &str, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let mut command = self.command(now, args);
        for (key, value) in extra {
            command.env(key, value);
        }
        command.output().unwrap()
    }

    /// Runs portcullis at `now` and expects exit status 0.
    fn ok_at(&self, now: &str, args: &[&str]) -> String {
        let out = self.run_at(now, args, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// `fix plan --strategy jit` and `fix apply --yes`: the estate locked down.
    fn lock_down(&self) {
        let plan = self.lock_down_plan();
        let out = self.run_at(T0, &Self::plan_args(&plan), &[]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        self.ok_at(T0, &["fix", "apply", &plan, "--yes"]);
    }

    /// Where [`World::lock_down`] writes its plan.
    fn lock_down_plan(&self) -> String {
        self.state
            .with_file_name("plan.json")
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// `fix plan --strategy jit` of the whole estate, written to `plan`.
    fn plan_args(plan: &str) -> Vec<&str> {
        vec![
            "fix",
            "plan",
            "--azure",
            "--quiet",
            "--strategy",
            "jit",
            "-o",
            plan,
        ]
    }

    /// `jit request` at `now` of `ports` on `vm` from [`ADMIN`]; returns the grant id.
    fn request(&self, now: &str, vm: &str, ports: &str, duration: &str) -> String {
        let mut args = request_args(vm, ports, duration);
        args.extend(["--azure", "--quiet"]);
        verified_grant(&self.ok_at(now, &args))
    }

    /// The findings of a live scan at `now`.
    fn scan(&self, now: &str) -> Findings {
        findings(&self.run_at(
            now,
            &["scan", "--azure", "--quiet", "--format", "json"],
            &[],
        ))
    }

    /// The names of the rules in VM `vm`'s NIC NSG.
    fn rules_of(&self, vm: &str) -> Vec<String> {
        self.rules_in("rg-0", &format!("{vm}-nsg"))
    }

    /// The names of the rules in NSG `nsg` of resource group `group`.
    fn rules_in(&self, group: &str, nsg: &str) -> Vec<String> {
        let subscription = &self.fake.estate().subscriptions[0].id;
        let nsg = self
            .fake
            .nsg(&format!(
                "/subscriptions/{subscription}/resourceGroups/{group}/providers/\
                 Microsoft.Network/networkSecurityGroups/{nsg}"
            ))
            .unwrap();
        nsg["properties"]["securityRules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    }

    fn grant_rules(&self, vm: &str) -> Vec<String> {
        self.rules_of(vm)
            .into_iter()
            .filter(|r| r.starts_with("portcullis-jit-"))
            .collect()
    }

    fn ledger(&self, all: bool) -> Vec<Value> {
        let mut args = vec!["jit", "list", "--format", "json"];
        if all {
            args.push("--all");
        }
        serde_json::from_str::<Value>(&self.ok_at(T0, &args))
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

/// `jit request` of RDP on [`VM`] from `from`, with `extra` arguments.
fn rdp_request<'a>(from: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "jit", "request", "--azure", "--quiet", "--vm", VM, "--port", "3389", "--from", from,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn full_cycle_lock_down_request_scan_revoke_scan() {
    let world = World::new();
    world.lock_down();
    let locked = world.scan(T0);
    assert_eq!(
        finding(&locked, VM, "management-ports-jit")["status"],
        "healthy"
    );
    assert!(reach(&locked, VM).is_empty(), "{:?}", reach(&locked, VM));

    let id = world.request(T0, VM, "3389", "2h");
    assert_eq!(world.grant_rules(VM), [format!("portcullis-jit-{id}")]);
    let granted = world.scan("2026-12-03T07:00:00Z");
    assert_eq!(
        reach(&granted, VM),
        BTreeMap::from([("3389/tcp".to_owned(), 1)])
    );
    let jit = finding(&granted, VM, "management-ports-jit");
    assert_eq!(jit["status"], "healthy", "{jit}");
    assert_eq!(
        jit["evidence"]["summary"],
        "watched ports are reached only through JIT grants"
    );

    let listed = world.ledger(false);
    assert_eq!(listed.len(), 1);
    let grant = &listed[0];
    assert_eq!(grant["id"], id.as_str());
    assert_eq!(grant["ports"], serde_json::json!(["3389/tcp"]));
    assert_eq!(grant["source"], format!("{ADMIN}/32"));
    assert_eq!(
        (grant["opened"].as_str(), grant["closes"].as_str()),
        (Some(T0), Some("2026-12-03T08:00:00Z"))
    );
    assert_eq!(grant["state"], "active");
    assert!(
        grant["vm_id"]
            .as_str()
            .unwrap()
            .ends_with("/virtualMachines/vm-7")
    );
    assert!(
        grant["requester"]
            .as_str()
            .unwrap()
            .starts_with("local-user:")
    );

    let out = world.ok_at(
        "2026-12-03T07:00:00Z",
        &["jit", "revoke", &id, "--azure", "--quiet"],
    );
    assert!(out.contains(&format!("revoked {id}")), "{out}");
    assert!(world.grant_rules(VM).is_empty());
    let closed = world.scan("2026-12-03T07:00:00Z");
    assert!(reach(&closed, VM).is_empty());
    assert!(world.ledger(false).is_empty());
    assert_eq!(world.ledger(true)[0]["state"], "revoked");
    // Revoking again finds nothing to revoke.
    let again = world.run_at(T0, &["jit", "revoke", &id, "--azure", "--quiet"], &[]);
    assert_eq!(again.status.code(), Some(2), "{}", show(&again));
}

#[test]
fn a_grant_opens_only_the_requested_ports_from_the_source_to_that_vm() {
    let world = World::new();
    world.lock_down();
    let before = world.scan(T0);
    world.request(T0, VM, "3389", "1h");
    let during = world.scan(T0);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        during.keys().collect::<Vec<_>>()
    );
    for (key, was) in &before {
        let now = &during[key];
        if key.0 == VM {
            continue;
        }
        assert_eq!(was, now, "{key:?} changed");
    }
    // On the VM itself, only the requested port, from exactly one address.
    let (was, now) = (reach(&before, VM), reach(&during, VM));
    let mut changed: Vec<_> = now
        .iter()
        .filter(|(port, n)| was.get(*port) != Some(n))
        .collect();
    changed.sort();
    assert_eq!(changed, [(&"3389/tcp".to_owned(), &1)]);
}

#[test]
fn a_newer_request_for_the_same_vm_ports_and_source_replaces_the_older() {
    let world = World::new();
    world.lock_down();
    let first = world.request(T0, VM, "3389", "1h");
    let second = world.request("2026-12-03T06:30:00Z", VM, "3389", "1h");
    assert_ne!(first, second);
    assert_eq!(world.grant_rules(VM), [format!("portcullis-jit-{second}")]);
    let all = world.ledger(true);
    let state = |id: &str| all.iter().find(|g| g["id"] == id).unwrap()["state"].clone();
    assert_eq!(
        (state(&first), state(&second)),
        ("replaced".into(), "active".into())
    );
}

#[test]
fn a_grant_of_a_process_killed_after_writing_closes_at_the_next_sweep_after_expiry() {
    let world = World::new();
    world.lock_down();
    let args = rdp_request(ADMIN, &["--for", "30m", "--justification", "INC-2"]);
    // Ends the process right after the rule was written, before its outcome was journaled.
    let killed = world.run_at(T0, &args, &[("PORTCULLIS_TEST_CRASH_AT", "2")]);
    assert_ne!(killed.status.code(), Some(0), "{}", show(&killed));
    assert_eq!(world.grant_rules(VM).len(), 1);
    // Before the expiry, a sweep recovers the journal (saying so as `fix recover` does) and
    // leaves the grant open.
    let out = world.ok_at(
        "2026-12-03T06:29:59Z",
        &["jit", "sweep", "--azure", "--quiet"],
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("recovered: create ") && l.ends_with(": it had been written")),
        "{out}"
    );
    assert_eq!(world.grant_rules(VM).len(), 1);
    let out = world.ok_at(
        "2026-12-03T06:30:00Z",
        &["jit", "sweep", "--azure", "--quiet"],
    );
    assert!(out.contains("close expired"), "{out}");
    assert!(world.grant_rules(VM).is_empty());
    assert!(reach(&world.scan("2026-12-03T06:30:00Z"), VM).is_empty());
}

#[test]
fn a_grant_closes_when_the_ledger_was_deleted() {
    let world = World::new();
    world.lock_down();
    world.request(T0, VM, "3389", "30m");
    std::fs::remove_file(world.state.join("audit.db")).unwrap();
    for side in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(world.state.join(format!("audit.db{side}")));
    }
    world.ok_at(
        "2026-12-03T07:00:00Z",
        &["jit", "sweep", "--azure", "--quiet"],
    );
    assert!(world.grant_rules(VM).is_empty());
}

#[test]
fn an_expiry_passed_while_nothing_ran_is_closed_by_the_next_jit_command() {
    let world = World::new();
    world.lock_down();
    world.request(T0, VM, "3389", "1m");
    // Past its expiry and still open, the grant is standing access to the scanner.
    let scanned = world.scan("2026-12-03T09:00:00Z");
    let jit = finding(&scanned, VM, "management-ports-jit");
    assert_eq!(jit["status"], "unhealthy", "{jit}");
    let summary = jit["evidence"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("expired JIT grant still open since 2026-12-03T06:01:00Z"),
        "{summary}"
    );
    // Hours later, someone asks for another VM: the expired grant closes first.
    world.request("2026-12-03T09:00:00Z", "vm-5", "3389", "1h");
    assert!(world.grant_rules(VM).is_empty());
    assert_eq!(world.grant_rules("vm-5").len(), 1);
    let ended: Vec<Value> = world
        .ledger(true)
        .into_iter()
        .filter(|g| g["state"] == "expired")
        .collect();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0]["closed"], "2026-12-03T09:00:00Z");
}

#[test]
fn every_live_fix_command_closes_the_expired_grants_first_but_a_dry_run_does_not() {
    let world = World::new();
    world.lock_down();
    // With no grant to close, the sweep before each fix command recorded nothing: no store.
    assert!(!world.state.join("audit.db").exists());
    let plan = world.lock_down_plan();
    let first = world.request(T0, VM, "3389", "1m");
    // An hour later, a new plan: the expired grant closes before the estate is planned for, so
    // the plan has nothing to lock down (the grant would be standing access otherwise).
    let later = "2026-12-03T07:00:00Z";
    let again = world.state.with_file_name("again.json");
    let out = world.run_at(later, &World::plan_args(again.to_str().unwrap()), &[]);
    // Exit 5: only vm-6's narrow sources are left, skipped as the lock-down's were.
    assert_eq!(out.status.code(), Some(5), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("close expired") && stdout.contains(": 0 change(s), 1 skipped"),
        "{}",
        show(&out)
    );
    assert!(world.grant_rules(VM).is_empty());
    // A dry run of the lock-down writes nothing, not even the close of an expired grant.
    let second = world.request(later, "vm-5", "3389", "1m");
    let dry = world.run_at(
        "2026-12-03T08:00:00Z",
        &["fix", "apply", &plan, "--yes", "--dry-run"],
        &[],
    );
    assert_eq!(dry.status.code(), Some(0), "{}", show(&dry));
    assert_eq!(world.grant_rules("vm-5").len(), 1);
    // Applying it again closes that grant first, and finds the lock-down in place.
    let out = world.ok_at("2026-12-03T08:00:00Z", &["fix", "apply", &plan, "--yes"]);
    assert!(out.contains("close expired"), "{out}");
    assert!(world.grant_rules("vm-5").is_empty());
    let closed: BTreeMap<String, String> = world
        .ledger(true)
        .iter()
        .map(|g| {
            (
                g["id"].as_str().unwrap().to_owned(),
                g["closed"].to_string(),
            )
        })
        .collect();
    assert_eq!(
        closed,
        BTreeMap::from([
            (first, format!("{later:?}")),
            (second, "\"2026-12-03T08:00:00Z\"".to_owned()),
        ])
    );
}

#[test]
fn a_fix_plan_while_another_command_writes_does_not_wait_and_leaves_the_sweep_for_later() {
    let world = World::new();
    world.lock_down();
    world.request(T0, VM, "3389", "1m");
    let later = "2026-12-03T07:00:00Z";
    let plan = world.state.with_file_name("again.json");
    let plan = plan.to_str().unwrap();
    // Another portcullis holds the apply lock, as a `fix apply` does while it writes.
    let lock = std::fs::File::options()
        .write(true)
        .open(world.state.join("journal").join("apply.lock"))
        .unwrap();
    lock.lock().unwrap();
    let out = world.run_at(later, &World::plan_args(plan), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "is writing to the clouds: the estate is read as it is, without closing expired JIT \
             grants first"
        ),
        "{}",
        show(&out)
    );
    assert_eq!(world.grant_rules(VM).len(), 1);
    // Once it is done, the next plan closes the grant first.
    drop(lock);
    let out = world.run_at(later, &World::plan_args(plan), &[]);
    assert_eq!(out.status.code(), Some(5), "{}", show(&out));
    assert!(world.grant_rules(VM).is_empty());
}

#[test]
fn jit_refuses_what_it_cannot_write_to_before_reading_anything() {
    let world = World::new();
    let cases: [(&[&str], &str); 3] = [
        (
            &["jit", "sweep", "--input", "estate.json"],
            "jit works on the live cloud: give --azure or --aws, not --input",
        ),
        (
            &["jit", "sweep", "--azure", "--aws"],
            "jit works on one cloud at a time",
        ),
        (
            &[
                "jit",
                "sweep",
                "--aws",
                "--accounts",
                "all",
                "--role-name",
                "portcullis-read",
            ],
            "jit writes with the credentials given, not through member roles",
        ),
    ];
    for (args, message) in cases {
        let out = world.run_at(T0, args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(message),
            "{args:?}: {}",
            show(&out)
        );
    }
    assert_eq!(world.fake.stats().requests, 0);
}

#[test]
fn a_request_that_cannot_be_granted_writes_nothing() {
    let world = World::new();
    for (args, says) in [
        (vec!["--vm", "vm-99", "--port", "22"], "no such VM"),
        (vec!["--vm", "vm-1", "--port", "22"], "no public address"),
        (vec!["--vm", "vm-4", "--port", "22"], "no NSG"),
        (vec!["--vm", VM, "--port", "22,3389/udp"], "one protocol"),
    ] {
        let mut all = vec!["jit", "request", "--azure", "--quiet", "--from", ADMIN];
        all.extend(args);
        let out = world.run_at(T0, &all, &[]);
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        assert!(show(&out).contains(says), "{}", show(&out));
    }
    assert!(world.fake.stats().writes_by_nsg.is_empty());
    let out = world.run_at(
        T0,
        &[
            "jit", "request", "--azure", "--vm", VM, "--port", "22", "--from", ADMIN, "--for",
            "25h",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

#[test]
fn the_policy_refuses_before_any_write_naming_its_line() {
    let world = World::new();
    let request = |extra: &[&str]| {
        let mut args = vec![
            "jit", "request", "--azure", "--quiet", "--vm", VM, "--port", "3389",
        ];
        args.extend_from_slice(extra);
        world.run_at(T0, &args, &[])
    };
    let builtin = "builtin:rules/jit/default-policy.yaml";
    for (extra, line, says) in [
        (
            vec!["--from", ADMIN, "--for", "4h", "--justification", "x"],
            5,
            "4h is longer than max_duration 3h",
        ),
        (vec!["--from", ADMIN], 6, "a justification is required"),
        (
            vec!["--from", "81.2.0.0/16", "--justification", "x"],
            7,
            "source 81.2.0.0/16 is broader than the /24",
        ),
    ] {
        let out = request(&extra);
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        let expected = format!("refused by the JIT policy {builtin}, line {line}: {says}");
        assert!(show(&out).contains(&expected), "{}", show(&out));
    }
    let policy = world.state.with_file_name("team.yaml");
    std::fs::write(
        &policy,
        "jit_policy: 1\nmax_duration: 8h\njustification_required: false\n\
         min_prefix: {ipv4: 24, ipv6: 64}\nallow:\n  - vms: [\"vm-5\"]\n    ports: [3389/tcp]\n    \
         sources: [\"*\"]\n",
    )
    .unwrap();
    let policy = policy.to_str().unwrap();
    let out = request(&["--from", ADMIN, "--jit-policy", policy]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let expected = ", line 6: no allow entry grants it (line 6: vms does not match vm-7)";
    assert!(show(&out).contains(expected), "{}", show(&out));
    assert!(world.fake.stats().writes_by_nsg.is_empty());
    let valid = world.ok_at(T0, &["jit", "policy", "validate", policy]);
    let says = "valid: 1 allow entry, max_duration 8h, justification optional";
    assert!(valid.contains(says), "{valid}");
    let bad = world.state.with_file_name("bad.yaml");
    std::fs::write(&bad, "jit_policy: 1\nmax_duration: forever\n").unwrap();
    let out = world.run_at(
        T0,
        &["jit", "policy", "validate", bad.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

/// A what-is-my-address service on 127.0.0.1 that answers `answer` once; its URL.
fn my_ip_service(answer: &'static str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request);
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        );
        stream.write_all(reply.as_bytes()).unwrap();
    });
    url
}

#[test]
fn from_my_ip_asks_the_service_and_grants_the_address_it_answers() {
    let world = World::new();
    world.lock_down();
    let url = my_ip_service("81.2.69.160\n");
    let args = rdp_request("my-ip", &["--my-ip-url", &url, "--justification", "INC-3"]);
    let out = world.run_at(T0, &args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("my-ip: {ADMIN} (from {url})")),
        "{stdout}"
    );
    assert_eq!(world.ledger(false)[0]["source"], format!("{ADMIN}/32"));
    let url = my_ip_service("<html>rate limited</html>");
    let bad = rdp_request("my-ip", &["--my-ip-url", &url, "--justification", "INC-3"]);
    let out = world.run_at(T0, &bad, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        show(&out).contains("is not an IP address"),
        "{}",
        show(&out)
    );
}

#[test]
fn where_the_subnet_nsg_filters_too_both_layers_get_the_grant() {
    let world = World::new();
    // vm-2's NIC NSG allows SSH from anywhere, its subnet's NSG lets nothing in.
    let before = world.scan(T0);
    assert!(reach(&before, "vm-2").is_empty());
    let id = world.request(T0, "vm-2", "22", "1h");
    let names = world.rules_in("network", "closed-subnet");
    assert_eq!(names, [format!("portcullis-jit-{id}")]);
    assert_eq!(world.grant_rules("vm-2"), [format!("portcullis-jit-{id}")]);
    let granted = world.scan(T0);
    assert_eq!(
        reach(&granted, "vm-2"),
        BTreeMap::from([("22/tcp".to_owned(), 1)])
    );
    // The subnet's other VMs get nothing: the grant's destination is vm-2's address only.
    for vm in ["vm-0", "vm-1", "vm-3", "vm-4", "vm-5", "vm-6", "vm-7"] {
        assert_eq!(reach(&granted, vm), reach(&before, vm), "{vm}");
    }
}

#[test]
fn request_list_and_revoke_keep_the_ledger_in_a_postgresql_store() {
    let Some(url) = support::postgres::postgres_database("jit_cli") else {
        return;
    };
    let mut world = World::new();
    world.store = Some(url);
    world.lock_down();
    let id = world.request(T0, VM, "3389", "2h");
    let listed = world.ledger(false);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0]["id"].as_str(), listed[0]["state"].as_str()),
        (Some(id.as_str()), Some("active"))
    );
    world.ok_at(
        "2026-12-03T07:00:00Z",
        &["jit", "revoke", &id, "--azure", "--quiet"],
    );
    assert!(world.grant_rules(VM).is_empty());
    assert!(world.ledger(false).is_empty());
    assert_eq!(world.ledger(true)[0]["state"], "revoked");
    let events: Value =
        serde_json::from_str(&world.ok_at(T0, &["jit", "log", "--format", "json"])).unwrap();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["requested", "opened", "closed: revoked"]);
    assert_eq!(events[2]["at"], "2026-12-03T07:00:00Z");
    // Nothing went to the default store in the state directory.
    assert!(!world.state.join("audit.db").exists());
    // The default store, asked, knows no grant.
    world.store = None;
    assert!(world.ledger(true).is_empty());
}

#[test]
fn the_log_lists_refused_requests_too() {
    let world = World::new();
    world.lock_down();
    let refused = world.run_at(T0, &rdp_request(ADMIN, &[]), &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", show(&refused));
    world.request(T0, VM, "3389", "1h");
    let log = world.ok_at(T0, &["jit", "log"]);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(
        lines[0].contains("  refused  by local-user:")
            && lines[0].contains("line 6: a justification is required"),
        "{log}"
    );
    assert!(lines[1].contains("  requested  by "), "{log}");
    assert!(lines[2].contains("  opened  by "), "{log}");
}

#[test]
fn an_unreachable_store_holds_up_no_close_and_lets_no_unrecorded_grant_open() {
    let mut world = World::new();
    world.lock_down();
    let id = world.request(T0, VM, "3389", "30m");
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    world.store = Some(format!(
        "postgres://portcullis:s3cret@127.0.0.1:{port}/portcullis?connect_timeout=2"
    ));
    // A request is recorded before it is granted: without the ledger, nothing is written.
    let args = [
        "jit",
        "request",
        "--azure",
        "--quiet",
        "--vm",
        "vm-5",
        "--port",
        "3389",
        "--from",
        ADMIN,
        "--justification",
        "INC-5",
    ];
    let out = world.run_at(T0, &args, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(show(&out).contains("nothing was written"), "{}", show(&out));
    assert!(world.grant_rules("vm-5").is_empty());
    // The expiry is in the rule: the sweep closes the grant all the same, and says what it could
    // not record.
    let out = world.run_at(
        "2026-12-03T06:30:00Z",
        &["jit", "sweep", "--azure", "--quiet"],
        &[],
    );
    assert_eq!(out.status.code(), Some(6), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "error: the close of grant {id} is not recorded in the JIT ledger: store \
             postgres://portcullis:***@127.0.0.1:{port}/portcullis"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert!(world.grant_rules(VM).is_empty());
}

/// How long the watcher may take to do what a test waits for.
const PATIENCE: Duration = Duration::from_secs(60);

/// Writes the watcher's clock: the file is replaced whole, so it is never read half-written.
fn set_clock(file: &Path, now: &str) {
    let next = file.with_extension("next");
    std::fs::write(&next, now).unwrap();
    std::fs::rename(&next, file).unwrap();
}

/// Waits until `done` holds, asking it again and again, for [`PATIENCE`] at most.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "not within {PATIENCE:?}: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `jit sweep --watch` as a child process, on the clock in `clock` (a file), its standard
/// error read line by line.
struct Watcher {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Watcher {
    fn start(world: &World, clock: &Path, extra: &[&str]) -> Self {
        let mut args = vec![
            "jit",
            "sweep",
            "--azure",
            "--quiet",
            "--watch",
            "--interval",
            "2h",
        ];
        args.extend_from_slice(extra);
        let mut child = world
            .command(T0, &args)
            .env("PORTCULLIS_TEST_CLOCK_FILE", clock)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines() {
                if send.send(line.unwrap()).is_err() {
                    return;
                }
            }
        });
        Watcher {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads standard error up to a line starting with `start`, for [`PATIENCE`] at most;
    /// returns that line.
    fn until(&mut self, start: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(start) {
                        return line;
                    }
                }
                Err(why) => panic!("no line {start:?} ({why}): {:#?}", self.seen),
            }
        }
    }

    /// Ends the watcher as a crash would (SIGKILL).
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and waits, bounded, for the watcher to end; returns how it ended and the
    /// rest of its standard error.
    fn terminate(mut self) -> (ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + PATIENCE;
        let mut rest = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => rest.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(why) => panic!("SIGTERM did not stop the watcher ({why}): {rest:#?}"),
            }
        }
        (self.child.wait().unwrap(), rest)
    }
}

#[test]
fn the_watcher_closes_each_grant_at_its_expiry_and_survives_restarts() {
    let world = World::new();
    world.lock_down();
    let clock = world.state.with_file_name("clock");
    set_clock(&clock, T0);
    let first = world.request(T0, VM, "3389", "1h");
    let mut watcher = Watcher::start(&world, &clock, &[]);
    // It sleeps until the grant's expiry, sooner than the 2h interval.
    assert_eq!(
        watcher.until("next sweep at "),
        "next sweep at 2026-12-03T07:00:00Z"
    );
    set_clock(&clock, "2026-12-03T06:59:59Z");
    assert_eq!(world.grant_rules(VM), [format!("portcullis-jit-{first}")]);
    set_clock(&clock, "2026-12-03T07:00:00Z");
    eventually("the first grant closes at its expiry", || {
        world.grant_rules(VM).is_empty()
    });
    assert_eq!(
        watcher.until("next sweep at "),
        "next sweep at 2026-12-03T09:00:00Z"
    );
    let ended = world.ledger(true);
    assert_eq!(
        (ended[0]["state"].as_str(), ended[0]["closed"].as_str()),
        (Some("expired"), Some("2026-12-03T07:00:00Z"))
    );

    // A grant requested while the watcher sleeps is found at its next wake (the interval).
    world.request("2026-12-03T07:00:00Z", "vm-5", "3389", "1h");
    set_clock(&clock, "2026-12-03T09:00:00Z");
    eventually(
        "the grant requested meanwhile closes at the next wake",
        || world.grant_rules("vm-5").is_empty(),
    );
    watcher.until("next sweep at 2026-12-03T11:00:00Z");

    // Killed, then restarted after a grant's expiry: the grant closes at the start.
    watcher.kill();
    let last = world.request("2026-12-03T09:00:00Z", VM, "3389", "1m");
    assert_eq!(world.grant_rules(VM), [format!("portcullis-jit-{last}")]);
    set_clock(&clock, "2026-12-03T09:05:00Z");
    let mut watcher = Watcher::start(&world, &clock, &[]);
    assert_eq!(
        watcher.until("next sweep at "),
        "next sweep at 2026-12-03T11:05:00Z"
    );
    assert!(world.grant_rules(VM).is_empty());
    let states: Vec<Value> = world
        .ledger(true)
        .iter()
        .map(|g| g["state"].clone())
        .collect();
    assert_eq!(states, ["expired", "expired", "expired"]);

    let (status, rest) = watcher.terminate();
    assert_eq!(status.code(), Some(0), "{rest:#?}");
    assert_eq!(rest, ["SIGTERM: stopped between sweeps"]);
}

#[test]
fn the_watcher_never_hangs_on_a_silent_resource_manager() {
    let world = World::new();
    // Connections queue in the listener's backlog and are never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let clock = world.state.with_file_name("clock");
    set_clock(&clock, T0);
    let started = Instant::now();
    let mut watcher = Watcher::start(
        &world,
        &clock,
        &[
            "--arm-endpoint",
            &url,
            "--read-timeout",
            "300ms",
            "--scope-deadline",
            "2s",
        ],
    );
    // The failed read is reported, bounded by the limits, and retried a minute later.
    let error = watcher.until("error: ");
    assert!(
        error.contains("cannot list the subscriptions")
            && error.contains("not read within 2s (--scope-deadline)"),
        "{error}"
    );
    assert_eq!(
        watcher.until("next sweep at "),
        "next sweep at 2026-12-03T06:01:00Z"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    // At the retry it tries again, and is bounded again.
    set_clock(&clock, "2026-12-03T06:01:00Z");
    watcher.until("error: cannot list the subscriptions");
    assert_eq!(
        watcher.until("next sweep at "),
        "next sweep at 2026-12-03T06:02:00Z"
    );
    let (status, rest) = watcher.terminate();
    assert_eq!(status.code(), Some(0), "{rest:#?}");
}
