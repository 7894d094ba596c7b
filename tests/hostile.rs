//! Hostile names (control and bidi characters, shell syntax) in cloud data: no text output
//! carries a raw control character, and no fix command is printed that pasting could subvert.

mod support;

use std::process::Command;

use portcullis::finding::Status;
use serde_json::{Value, json};
use support::{AzureVm, allow};

const HOSTILE: &[&str] = &[
    "red\x1b[31mrule",
    "cr\rrule",
    "bell\x07rule",
    "rlo\u{202e}elur",
    "home\x01rule",
    "sub$(touch /tmp/x)",
    "tick`id`",
    "quote'\"rule",
    "new\nline",
];

fn raw_controls(text: &str, keep_layout: bool) -> Vec<char> {
    text.chars()
        .filter(|&c| portcullis::output::escape::is_hostile(c))
        .filter(|c| !(keep_layout && matches!(c, '\n' | '\t')))
        .collect()
}

#[test]
fn hostile_rule_names_reach_no_output_raw() {
    for name in HOSTILE {
        let vm = AzureVm::new().nic(vec![allow(300, "Tcp", "*", "22").named(name)]);
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("estate.json");
        std::fs::write(&input, json!({ "value": vm.resources(false) }).to_string()).unwrap();
        let sarif = dir.path().join("out.sarif");
        let html = dir.path().join("out.html");
        let json_out = dir.path().join("out.json");
        let o = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .arg("scan")
            .arg("-i")
            .arg(&input)
            .arg("--output-sarif")
            .arg(&sarif)
            .arg("--output-html")
            .arg(&html)
            .arg("--output-json")
            .arg(&json_out)
            .output()
            .unwrap();
        let table = String::from_utf8(o.stdout).unwrap();
        let stderr = String::from_utf8(o.stderr).unwrap();
        assert_eq!(o.status.code(), Some(0), "{name:?}: {stderr}");
        assert!(table.contains("UNHEALTHY"), "{name:?}: {table}");
        assert_eq!(
            raw_controls(&table, true),
            Vec::<char>::new(),
            "{name:?} table: {table}"
        );
        assert_eq!(
            raw_controls(&stderr, true),
            Vec::<char>::new(),
            "{name:?} stderr"
        );
        let html = std::fs::read_to_string(&html).unwrap();
        assert_eq!(
            raw_controls(&html, true),
            Vec::<char>::new(),
            "{name:?} html"
        );
        let sarif: Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
        for result in sarif["runs"][0]["results"].as_array().unwrap() {
            let text = result["message"]["text"].as_str().unwrap();
            assert_eq!(
                raw_controls(text, false),
                Vec::<char>::new(),
                "{name:?} sarif: {text}"
            );
        }
        // JSON keeps the exact data.
        let json: Value = serde_json::from_slice(&std::fs::read(&json_out).unwrap()).unwrap();
        let quoted = serde_json::to_string(name).unwrap();
        assert!(
            json.to_string().contains(quoted.trim_matches('"')),
            "{name:?} json"
        );
        let unsafe_name = name.chars().any(portcullis::output::escape::is_hostile);
        assert_eq!(
            table.contains("not safe to paste"),
            unsafe_name,
            "{name:?}: {table}"
        );
        // The rule's own command is withheld; a command that does not name it still prints.
        let rule_fix = table
            .lines()
            .any(|l| l.contains("fix: az network nsg rule delete"));
        assert_eq!(rule_fix, !unsafe_name, "{name:?}: {table}");
        assert!(
            table.contains("fix: az rest --method put"),
            "{name:?}: {table}"
        );
    }
}

/// The printed `fix:` lines, typed into an interactive bash in a pty (`tests/paste/paste.py`)
/// with `az` a stub that records its argv: each runs with exactly the intended arguments and
/// nothing the names hold runs as a command.
#[test]
fn printed_commands_paste_into_bash_as_written() {
    for name in [
        "sub$(touch MARK)",
        "tick`touch MARK`",
        "quote'\"rule",
        "bang!!rule^x",
    ] {
        let vm = AzureVm::new().nic(vec![allow(300, "Tcp", "*", "22").named(name)]);
        let dir = tempfile::tempdir().unwrap();
        let table = scan_table(dir.path(), vm.resources(false));
        let fixes: Vec<&str> = table
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("fix: "))
            .collect();
        let delete = fixes
            .iter()
            .find(|l| l.starts_with("az network nsg rule delete"))
            .unwrap_or_else(|| panic!("{name:?}: {table}"));
        let argv = paste(dir.path(), "az", delete);
        let rule_id = support::rg_id("Microsoft.Network/networkSecurityGroups", "nic-nsg")
            + "/securityRules/"
            + name;
        let expected = json!(["network", "nsg", "rule", "delete", "--ids", rule_id]);
        assert_eq!(argv, vec![expected], "{name:?}: pasted {delete}");
        assert!(!dir.path().join("MARK").exists(), "{name:?} ran a command");
    }
}

/// The printed `plan:` line (`portcullis fix plan` for the VM), typed into bash with
/// `portcullis` a stub: it gets exactly the live source, the VM's name and the plan file, and
/// nothing the name holds runs as a command.
#[test]
fn the_printed_fix_plan_command_pastes_into_bash_as_written() {
    for name in [
        "vm$(touch MARK)",
        "tick`touch MARK`",
        "quote'\"vm",
        "bang!!vm^x",
    ] {
        let resources = AzureVm::new()
            .nic(vec![allow(300, "Tcp", "*", "22")])
            .resources_with_vm_name(name);
        let dir = tempfile::tempdir().unwrap();
        let table = scan_table(dir.path(), resources);
        let plans: Vec<&str> = table
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("plan: "))
            .collect();
        let [plan] = plans[..] else {
            panic!("{name:?}: one plan line expected: {table}")
        };
        let argv = paste(dir.path(), "portcullis", plan);
        let expected = json!([
            "fix",
            "plan",
            "--azure",
            "--subscriptions",
            support::SUB,
            "--resource",
            name,
            "-o",
            "plan.json"
        ]);
        assert_eq!(argv, vec![expected], "{name:?}: pasted {plan}");
        assert!(!dir.path().join("MARK").exists(), "{name:?} ran a command");
    }
}

/// The table output of a scan of these Azure resources, written to `dir`/estate.json.
fn scan_table(dir: &std::path::Path, resources: Vec<Value>) -> String {
    let input = dir.join("estate.json");
    std::fs::write(&input, json!({ "value": resources }).to_string()).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("scan")
        .arg("-i")
        .arg(&input)
        .output()
        .unwrap();
    String::from_utf8(o.stdout).unwrap()
}

/// A snapshot of one internet-facing AWS instance whose security group `group` lets `source`
/// reach port 22.
fn aws_snapshot(group: &str, source: Value) -> Value {
    json!({
        "portcullis_snapshot": 1,
        "vms": [{"id": "i-1", "name": "web", "provider": "aws", "scope": "111122223333",
            "region": "eu-west-1", "nic_ids": ["eni-1"]}],
        "nics": [{"id": "eni-1", "provider": "aws", "subnet_id": "subnet-1",
            "security_group_ids": [group],
            "ip_configs": [{"private_ip": "10.0.1.5", "public_ip": "54.0.0.1"}]}],
        "subnets": [{"id": "subnet-1", "provider": "aws", "network_id": "vpc-1",
            "cidrs": ["10.0.1.0/24"]}],
        "security_groups": [{"id": group, "vpc_id": "vpc-1",
            "inbound": [{"protocol": "tcp", "ports": "22", "sources": [source]}]}],
        "route_tables": [{"id": "rtb-1", "vpc_id": "vpc-1", "main": true,
            "routes": [{"destination": "0.0.0.0/0", "target": "igw-1"}]}],
    })
}

/// Types `line` into an interactive bash in a pty (`tests/paste/paste.py`), in `dir`, with
/// `program` a stub on PATH that records its argv; returns the argv of each call of the stub.
fn paste(dir: &std::path::Path, program: &str, line: &str) -> Vec<Value> {
    let stubs = dir.join("bin");
    std::fs::create_dir_all(&stubs).unwrap();
    let stub = stubs.join(program);
    std::fs::write(
        &stub,
        "#!/usr/bin/env python3\nimport json, os, sys\n\
         open(os.environ['ARGV_LOG'], 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n",
    )
    .unwrap();
    let mut perms = std::fs::metadata(&stub).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&stub, perms).unwrap();
    let lines = dir.join("lines");
    std::fs::write(&lines, format!("{line}\n")).unwrap();
    let log = dir.join("argv.log");
    let status = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/paste/paste.py"))
        .arg(&lines)
        .current_dir(dir)
        .env("PATH", format!("{}:/usr/bin:/bin", stubs.display()))
        .env("ARGV_LOG", &log)
        .status()
        .unwrap();
    assert!(status.success(), "pasting {line:?}");
    std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The same for AWS: a security group id with shell syntax in a snapshot; the printed revoke,
/// pasted, calls `aws` with exactly the intended arguments and runs nothing the id holds.
#[test]
fn printed_aws_commands_paste_into_bash_as_written() {
    for group in ["sg-$(touch MARK)", "sg-`touch MARK`", "sg-'\"x", "sg-!!x^y"] {
        let snapshot = aws_snapshot(group, json!({"cidr": "0.0.0.0/0"}));
        let report = support::scan_files(&[("snapshot.json", snapshot)]);
        let closed = report
            .findings
            .iter()
            .find(|f| f.rule == "management-ports-closed")
            .unwrap();
        let revoke = closed
            .commands
            .iter()
            .find(|c| c.starts_with("aws ec2 revoke-security-group-ingress"))
            .unwrap_or_else(|| panic!("{group:?}: {:?}", closed.commands));
        let dir = tempfile::tempdir().unwrap();
        let argv = paste(dir.path(), "aws", revoke);
        assert_eq!(argv.len(), 1, "{group:?}: pasted {revoke}");
        let args: Vec<&str> = argv[0]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(
            args[..6],
            [
                "ec2",
                "revoke-security-group-ingress",
                "--region",
                "eu-west-1",
                "--group-id",
                group
            ],
            "{group:?}: pasted {revoke}"
        );
        assert!(!dir.path().join("MARK").exists(), "{group:?} ran a command");
    }
}

/// Errors and warnings echo file names; a hostile one reaches stderr escaped.
#[test]
fn hostile_file_names_reach_stderr_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let name = "evil\x1b]0;owned\x07\r\u{202e}.json";
    std::fs::write(dir.path().join(name), "{\"value\": [}").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("scan")
        .arg("-i")
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("evil"), "{err}");
    assert_eq!(raw_controls(&err, true), Vec::<char>::new(), "{err:?}");
}

/// Where a command has a form that names things by id only, that form is printed when a name is
/// not safe to paste; with no such form the command is withheld, saying why.
#[test]
fn a_name_unsafe_to_paste_gives_way_to_ids() {
    // Azure: a VM whose name (not its id) holds a control character gets its JIT policy named
    // after its id.
    let resources = AzureVm::new()
        .nic(vec![allow(300, "Tcp", "*", "22")])
        .resources_with_vm_name("web\x01");
    let report = support::scan_files(&[("estate.json", Value::Array(resources))]);
    let jit = report
        .findings
        .iter()
        .find(|f| f.rule == "management-ports-jit")
        .unwrap();
    assert!(
        jit.commands_withheld.is_empty(),
        "{:?}",
        jit.commands_withheld
    );
    let policy = jit
        .commands
        .iter()
        .find(|c| c.starts_with("az rest --method put"))
        .unwrap_or_else(|| panic!("{:?}", jit.commands));
    assert!(
        policy.contains("/jitNetworkAccessPolicies/vm-jit?"),
        "{policy}"
    );

    // AWS: a prefix list id unsafe to paste (a bidi control: JSON escapes control characters
    // itself); the revoke names its rule by id when the id was read, and is withheld when it
    // was not.
    for (rule_id, want) in [
        (
            Some("sgr-0123456789abcdef0"),
            Ok(
                "aws ec2 revoke-security-group-ingress --region eu-west-1 --group-id sg-1 \
                --security-group-rule-ids sgr-0123456789abcdef0",
            ),
        ),
        (None, Err("pl-\\u{202e}x")),
    ] {
        let mut source = json!({"prefix_list": "pl-\u{202e}x"});
        if let Some(id) = rule_id {
            source["rule_id"] = json!(id);
        }
        let snapshot = aws_snapshot("sg-1", source);
        let report = support::scan_files(&[("snapshot.json", snapshot)]);
        let closed = report
            .findings
            .iter()
            .find(|f| f.rule == "management-ports-closed")
            .unwrap();
        assert_eq!(closed.status, Status::Unhealthy, "{rule_id:?}");
        match want {
            Ok(line) => {
                assert_eq!(closed.commands, [line], "{rule_id:?}");
                assert!(closed.commands_withheld.is_empty(), "{rule_id:?}");
            }
            Err(named) => {
                assert!(closed.commands.is_empty(), "{:?}", closed.commands);
                assert_eq!(closed.commands_withheld.len(), 1, "{rule_id:?}");
                assert!(
                    closed.commands_withheld[0].contains(named),
                    "{:?}",
                    closed.commands_withheld
                );
            }
        }
    }
}
