//! `portcullis scan --aws` and `snapshot --aws` end to end, against moto's EC2 server.
//!
//! `scripts/test` installs moto, boto3 and the AWS CLI in `.tools/venv`, starts `moto_server` on
//! 127.0.0.1 and exports its URL (`PORTCULLIS_TEST_MOTO_URL`) and the virtualenv
//! (`PORTCULLIS_TEST_VENV`). Each test seeds its own AWS account (`tests/moto/seed.py`), so the
//! tests run side by side on one server. The verdicts of a live scan are compared with those of
//! `scan --input` on the AWS CLI's own export of the same account.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::runs::{ADMIN, Findings, finding, findings, reach, request_args, verified_grant};

const ENDPOINT_VARIABLE: &str = "PORTCULLIS_TEST_MOTO_URL";
const VENV_VARIABLE: &str = "PORTCULLIS_TEST_VENV";

/// The moto server and the virtualenv with its tools, as `scripts/test` provides them.
struct Moto {
    url: String,
    bin: PathBuf,
}

fn moto() -> Moto {
    let variable = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: these tests need the moto EC2 server and the AWS CLI that \
                 scripts/test installs and starts; run scripts/test"
            )
        })
    };
    Moto {
        url: variable(ENDPOINT_VARIABLE),
        bin: PathBuf::from(variable(VENV_VARIABLE)).join("bin"),
    }
}

/// An AWS account of its own on the moto server, seeded with one of `seed.py`'s estates.
struct Account {
    moto: Moto,
    id: String,
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN of a role in the account.
    credentials: Vec<(&'static str, String)>,
    /// Everything `seed.py` printed (the credentials, and what the estate made, by name).
    seeded: BTreeMap<String, String>,
    dir: tempfile::TempDir,
}

/// A twelve-digit account id no other test or earlier run on the same server uses.
fn fresh_account(salt: u64) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mixed = (nanos as u64)
        ^ (u64::from(std::process::id()) << 20)
        ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{:012}", 100_000_000_000 + mixed % 800_000_000_000)
}

impl Account {
    fn seed(salt: u64, estate: &[&str]) -> Account {
        let moto = moto();
        let account = fresh_account(salt);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/moto/seed.py");
        let output = Command::new(moto.bin.join("python"))
            .arg(script)
            .arg(&moto.url)
            .arg(&account)
            .args(estate)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("cannot run the virtualenv's python; run scripts/test");
        assert!(
            output.status.success(),
            "seeding moto at {} failed (is it running? run scripts/test):\n{}",
            moto.url,
            String::from_utf8_lossy(&output.stderr)
        );
        let keys: BTreeMap<String, String> =
            serde_json::from_slice(&output.stdout).expect("seed.py prints credentials as JSON");
        let credentials = vec![
            ("AWS_ACCESS_KEY_ID", keys["AccessKeyId"].clone()),
            ("AWS_SECRET_ACCESS_KEY", keys["SecretAccessKey"].clone()),
            ("AWS_SESSION_TOKEN", keys["SessionToken"].clone()),
        ];
        Account {
            moto,
            id: account,
            credentials,
            seeded: keys,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A command with this account's credentials and nothing of the user's AWS configuration.
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        for variable in [
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_EC2",
        ] {
            command.env_remove(variable);
        }
        command
            .envs(self.credentials.iter().map(|(k, v)| (k, v)))
            .env("AWS_CONFIG_FILE", self.dir.path().join("no-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.path().join("no-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true");
        command
    }

    fn portcullis(&self, args: &[&str]) -> Output {
        self.command(Path::new(env!("CARGO_BIN_EXE_portcullis")))
            .args(args)
            .output()
            .unwrap()
    }

    /// `aws ec2 …` of the virtualenv's AWS CLI against moto, as JSON.
    fn aws_cli(&self, region: &str, args: &[&str]) -> String {
        let output = self
            .command(&self.moto.bin.join("aws"))
            .args([
                "--endpoint-url",
                &self.moto.url,
                "--region",
                region,
                "--output",
                "json",
                "ec2",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "aws ec2 {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// The AWS CLI's export of `regions`, one folder per region: every describe call the
    /// collector makes, and the entries of each prefix list a security group references.
    fn export(&self, regions: &[&str]) -> PathBuf {
        let root = self.dir.path().join("export");
        thread::scope(|scope| {
            for region in regions {
                let dir = root.join(region);
                std::fs::create_dir_all(&dir).unwrap();
                for call in [
                    "describe-instances",
                    "describe-security-groups",
                    "describe-network-acls",
                    "describe-route-tables",
                    "describe-subnets",
                    "describe-managed-prefix-lists",
                ] {
                    let dir = dir.clone();
                    scope.spawn(move || {
                        let json = self.aws_cli(region, &[call]);
                        std::fs::write(dir.join(format!("{call}.json")), json).unwrap();
                    });
                }
            }
        });
        for region in regions {
            let dir = root.join(region);
            let groups: Value = serde_json::from_slice(
                &std::fs::read(dir.join("describe-security-groups.json")).unwrap(),
            )
            .unwrap();
            let lists: BTreeSet<&str> = groups["SecurityGroups"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|g| g["IpPermissions"].as_array().unwrap())
                .flat_map(|p| p["PrefixListIds"].as_array().into_iter().flatten())
                .map(|l| l["PrefixListId"].as_str().unwrap())
                .collect();
            for list in lists {
                let json = self.aws_cli(
                    region,
                    &["get-managed-prefix-list-entries", "--prefix-list-id", list],
                );
                std::fs::write(dir.join(format!("prefix-list-entries-{list}.json")), json).unwrap();
            }
        }
        root
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A command's status and output, for assertion messages.
fn text(out: &Output) -> String {
    format!(
        "status {:?}\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    )
}

fn read_json(path: &str) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every finding of a JSON report: (VM name, recommendation) → (status, ports).
fn verdicts(report: &Value) -> BTreeMap<(String, String), (String, Vec<String>)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let text = |key: &str| f[key].as_str().unwrap().to_string();
            let ports = f["ports"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect();
            (
                (text("resource_name"), text("rule")),
                (text("status"), ports),
            )
        })
        .collect()
}

#[test]
fn a_live_scan_judges_like_a_scan_of_the_aws_cli_export() {
    let account = Account::seed(1, &["verdicts"]);
    let regions = "eu-west-1,us-east-1";
    let live = account.path("live.json");
    let output = account.portcullis(&[
        "scan",
        "--aws",
        "--regions",
        regions,
        "--endpoint-url",
        &account.moto.url,
        "--format",
        "json",
        "-o",
        &live,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("aws: 2 regions, 15 API calls, "),
        "{}",
        stderr(&output)
    );
    let live = read_json(&live);
    let live_verdicts = verdicts(&live);

    let export = account.export(&["eu-west-1", "us-east-1"]);
    let files = account.path("files.json");
    let output = account.portcullis(&[
        "scan",
        "--input",
        &export.to_string_lossy(),
        "--format",
        "json",
        "-o",
        &files,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(live_verdicts, verdicts(&read_json(&files)));

    let closed = |name: &str| -> (String, Vec<String>) {
        live_verdicts[&(name.to_string(), "management-ports-closed".to_string())].clone()
    };
    for (name, status, ports) in [
        ("ssh-world", "unhealthy", &["22/tcp"][..]),
        ("nacl-deny", "healthy", &[]),
        ("private", "not_applicable", &[]),
        ("main-route", "unhealthy", &["22/tcp"]),
        ("prefix-list", "unhealthy", &["3389/tcp"]),
        ("ipv6-only", "unhealthy", &["22/tcp"]),
        ("east-rdp", "unhealthy", &["3389/tcp"]),
        ("east-web", "healthy", &[]),
    ] {
        let want: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
        assert_eq!(closed(name), (status.to_string(), want), "{name}");
    }

    // Seven lists per region, and the entries of the one prefix list a group names.
    let collection = &live["collection"][0];
    assert_eq!(collection["complete"], true);
    assert_eq!(collection["api_calls"], 15);
    let scopes: Vec<(&str, u64)> = collection["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["api_calls"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(scopes, [("eu-west-1", 8), ("us-east-1", 7)]);
}

/// Every unhealthy finding of a JSON report: (VM name, recommendation) → its fix commands.
fn commands(report: &Value) -> BTreeMap<(String, String), Vec<String>> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "unhealthy")
        .map(|f| {
            let text = |key: &str| f[key].as_str().unwrap().to_string();
            let commands = f["commands"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| c.as_str().unwrap().to_string())
                .collect();
            ((text("resource_name"), text("rule")), commands)
        })
        .collect()
}

#[test]
fn a_live_scan_prints_the_fix_commands_of_a_scan_of_the_export() {
    let account = Account::seed(5, &["commands"]);
    let live = account.path("live.json");
    let output = account.portcullis(&[
        "scan",
        "--aws",
        "--regions",
        "eu-west-1",
        "--endpoint-url",
        &account.moto.url,
        "--format",
        "json",
        "-o",
        &live,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let live = commands(&read_json(&live));
    let export = account.export(&["eu-west-1"]);
    let files = account.path("files.json");
    let output = account.portcullis(&[
        "scan",
        "--input",
        &export.to_string_lossy(),
        "--format",
        "json",
        "-o",
        &files,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(live, commands(&read_json(&files)));

    let of = |name: &str, rule: &str| -> Vec<String> {
        live.get(&(name.to_string(), rule.to_string()))
            .cloned()
            .unwrap_or_else(|| panic!("no unhealthy {rule} finding of {name}: {live:?}"))
    };
    // The range 20-25 holds three management ports (FTP 21, SSH 22, Telnet 23): it loses its
    // internet source and gets back 20 and 24-25; the private source keeps all of it; RDP loses
    // the prefix list.
    let ranged = of("ranged", "management-ports-closed");
    let shapes: Vec<String> = ranged
        .iter()
        .map(|c| {
            let words = shlex::split(c).unwrap();
            let group = words.iter().position(|w| w == "--group-id").unwrap();
            assert!(words[group + 1].starts_with("sg-"), "{c}");
            let mut shape = words[..group].to_vec();
            shape.extend(words[group + 2..].iter().cloned());
            shape.join(" ")
        })
        .collect();
    let list = "\"PrefixListIds\":[{\"PrefixListId\":\"pl-";
    assert_eq!(shapes.len(), 3, "{ranged:?}");
    assert_eq!(
        shapes[0],
        "aws ec2 revoke-security-group-ingress --region eu-west-1 --ip-permissions \
         [{\"FromPort\":20,\"IpProtocol\":\"tcp\",\"IpRanges\":[{\"CidrIp\":\"0.0.0.0/0\"}],\
         \"ToPort\":25}]"
    );
    assert_eq!(
        shapes[1],
        "aws ec2 authorize-security-group-ingress --region eu-west-1 --ip-permissions \
         [{\"FromPort\":20,\"IpProtocol\":\"tcp\",\"IpRanges\":[{\"CidrIp\":\"0.0.0.0/0\"}],\
         \"ToPort\":20},{\"FromPort\":24,\"IpProtocol\":\"tcp\",\"IpRanges\":[{\"CidrIp\":\
         \"0.0.0.0/0\"}],\"ToPort\":25}]"
    );
    assert!(
        shapes[2].starts_with(&format!(
            "aws ec2 revoke-security-group-ingress --region eu-west-1 --ip-permissions \
             [{{\"FromPort\":3389,\"IpProtocol\":\"tcp\",{list}"
        )),
        "{}",
        shapes[2]
    );
    // All traffic from anywhere: one revoke closes every port, for both recommendations.
    let everything = of("everything", "management-ports-closed");
    assert_eq!(everything.len(), 1, "{everything:?}");
    assert!(
        everything[0].ends_with(
            "--ip-permissions '[{\"IpProtocol\":\"-1\",\"IpRanges\":[{\"CidrIp\":\"0.0.0.0/0\"}]}]'"
        ),
        "{everything:?}"
    );
    assert_eq!(of("everything", "internet-facing-vm-nsg"), everything);
}

#[test]
fn a_live_snapshot_scans_like_the_live_scan() {
    let account = Account::seed(2, &["verdicts"]);
    let snapshot = account.path("estate.json");
    // The endpoint through the SDK's standard variable this time, not the flag.
    let output = account
        .command(Path::new(env!("CARGO_BIN_EXE_portcullis")))
        .env("AWS_ENDPOINT_URL_EC2", &account.moto.url)
        .env("AWS_REGION", "eu-west-1")
        .args([
            "snapshot",
            "--aws",
            "--regions",
            "eu-west-1,us-east-1",
            "-o",
            &snapshot,
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let written = read_json(&snapshot);
    assert_eq!(written["portcullis_snapshot"], 1);
    assert_eq!(written["vms"].as_array().unwrap().len(), 8);
    assert!(written.get("missing_scopes").is_none());
    // Every inbound source carries its rule's id, read with DescribeSecurityGroupRules.
    let sources: Vec<&Value> = written["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["inbound"].as_array().unwrap())
        .flat_map(|p| p["sources"].as_array().unwrap())
        .collect();
    assert!(!sources.is_empty());
    for source in sources {
        let id = source["rule_id"].as_str().unwrap_or_default();
        assert!(id.starts_with("sgr-"), "{source}");
    }

    let from_snapshot = account.path("from-snapshot.json");
    let output = account.portcullis(&[
        "scan",
        "--input",
        &snapshot,
        "--format",
        "json",
        "-o",
        &from_snapshot,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let live = account.path("live.json");
    let output = account.portcullis(&[
        "scan",
        "--aws",
        "--regions",
        "eu-west-1,us-east-1",
        "--endpoint-url",
        &account.moto.url,
        "--format",
        "json",
        "-o",
        &live,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        verdicts(&read_json(&from_snapshot)),
        verdicts(&read_json(&live))
    );
}

#[test]
fn a_region_that_fails_is_reported_and_the_others_are_still_scanned() {
    let account = Account::seed(3, &["one-instance", "us-west-2"]);
    // moto answers for no region of that name, as AWS does not for a region the account has
    // not enabled.
    let regions = "us-west-2,xx-fake-1";
    let report = account.path("report.json");
    let output = account.portcullis(&[
        "scan",
        "--aws",
        "--regions",
        regions,
        "--endpoint-url",
        &account.moto.url,
        "--format",
        "json",
        "-o",
        &report,
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("aws: 2 regions (1 failed), "), "{err}");
    assert!(err.contains("error: region xx-fake-1: Describe"), "{err}");

    let report = read_json(&report);
    let collection = &report["collection"][0];
    assert_eq!(collection["complete"], false);
    assert_eq!(collection["scopes"][0]["name"], "us-west-2");
    assert!(collection["scopes"][0].get("error").is_none());
    assert_eq!(collection["scopes"][1]["name"], "xx-fake-1");
    assert!(collection["scopes"][1]["error"].as_str().is_some());
    let judged = verdicts(&report);
    assert_eq!(
        judged[&(
            "ssh-us-west-2".to_string(),
            "management-ports-closed".to_string()
        )],
        ("unhealthy".to_string(), vec!["22/tcp".to_string()])
    );
    let warnings = report["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .unwrap()
            .starts_with("aws region xx-fake-1 was not read")),
        "{warnings:?}"
    );

    // A snapshot of the partial estate records what is missing, and scanning it says so again.
    let snapshot = account.path("partial.json");
    let output = account.portcullis(&[
        "snapshot",
        "--aws",
        "--regions",
        regions,
        "--endpoint-url",
        &account.moto.url,
        "-o",
        &snapshot,
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(
        read_json(&snapshot)["missing_scopes"][0]["name"],
        "xx-fake-1"
    );
    let output = account.portcullis(&["scan", "--input", &snapshot]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains("aws region xx-fake-1 was not read"),
        "{table}"
    );
}

#[test]
fn all_regions_are_the_regions_the_account_has_enabled() {
    let account = Account::seed(4, &["one-instance", "ap-northeast-1"]);
    let listed: Value =
        serde_json::from_str(&account.aws_cli("us-east-1", &["describe-regions"])).unwrap();
    let enabled = listed["Regions"].as_array().unwrap().len();
    let snapshot = account.path("all.json");
    let output = account
        .command(Path::new(env!("CARGO_BIN_EXE_portcullis")))
        .env("AWS_ENDPOINT_URL", &account.moto.url)
        .env("AWS_REGION", "us-east-1")
        .args([
            "snapshot",
            "--aws",
            "--regions",
            "all",
            "--concurrency",
            "16",
            "-o",
            &snapshot,
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // DescribeRegions, then seven lists in each region.
    let summary = format!("aws: {enabled} regions, {} API calls, ", 1 + 7 * enabled);
    assert!(
        stderr(&output).contains(&summary),
        "{summary}\n{}",
        stderr(&output)
    );
    let vms = &read_json(&snapshot)["vms"];
    assert_eq!(vms.as_array().unwrap().len(), 1);
    assert_eq!(vms[0]["region"], "ap-northeast-1");
}

/// Every finding of a JSON report of `recommendation`: VM name → scope (the account).
fn scopes(report: &Value, recommendation: &str) -> BTreeMap<String, String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == recommendation)
        .map(|f| {
            let text = |key: &str| f[key].as_str().unwrap().to_string();
            (text("resource_name"), text("scope"))
        })
        .collect()
}

#[test]
fn an_organisation_scan_reads_every_active_account_through_its_role() {
    let manager = Account::seed(5, &["organization", "eu-west-1"]);
    let members: Vec<String> = manager.seeded["Members"]
        .split(',')
        .map(str::to_string)
        .collect();
    let report = manager.path("organization.json");
    let output = manager.portcullis(&[
        "scan",
        "--aws",
        "--regions",
        "eu-west-1",
        "--endpoint-url",
        &manager.moto.url,
        "--accounts",
        "all",
        "--role-name",
        "portcullis-read",
        "--format",
        "json",
        "-o",
        &report,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("aws: 3 accounts, 3 regions, "), "{err}");
    // The closed account is not read; each other account's instance is judged in its account.
    let report = read_json(&report);
    assert_eq!(
        scopes(&report, "management-ports-closed"),
        BTreeMap::from([
            ("manager-ssh".to_string(), manager.id.clone()),
            ("a-ssh".to_string(), members[0].clone()),
            ("b-rdp".to_string(), members[1].clone()),
        ])
    );
    let judged = verdicts(&report);
    assert_eq!(
        judged[&("b-rdp".to_string(), "management-ports-closed".to_string())],
        ("unhealthy".to_string(), vec!["3389/tcp".to_string()])
    );
    let collection = &report["collection"][0];
    assert_eq!(collection["complete"], true);
    let read: Vec<(&str, &str)> = collection["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["account"].as_str().unwrap(), s["name"].as_str().unwrap()))
        .collect();
    let mut expected = vec![
        (manager.id.as_str(), "eu-west-1"),
        (members[0].as_str(), "eu-west-1"),
        (members[1].as_str(), "eu-west-1"),
    ];
    expected.sort();
    assert_eq!(read, expected);
    assert!(!manager.seeded["Closed"].is_empty());
}

#[test]
fn an_organisation_snapshot_records_the_regions_read_and_not_read_of_each_account() {
    let manager = Account::seed(6, &["organization", "eu-west-1"]);
    let members = &manager.seeded["Members"];
    let (first, second) = members.split_once(',').unwrap();
    let snapshot = manager.path("organization-snapshot.json");
    let output = manager.portcullis(&[
        "snapshot",
        "--aws",
        "--regions",
        "eu-west-1,xx-fake-1",
        "--endpoint-url",
        &manager.moto.url,
        "--accounts",
        members,
        "--role-name",
        "portcullis-read",
        "--external-id",
        "audit-7",
        "-o",
        &snapshot,
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let err = stderr(&output);
    for account in [first, second] {
        assert!(
            err.contains(&format!(
                "error: region xx-fake-1 of account {account}: Describe"
            )),
            "{err}"
        );
    }
    let written = read_json(&snapshot);
    let scopes = |key: &str| -> Vec<(String, String)> {
        written[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let text = |field: &str| s[field].as_str().unwrap().to_string();
                (text("account"), text("name"))
            })
            .collect()
    };
    let pairs = |region: &str| {
        vec![
            (first.to_string(), region.to_string()),
            (second.to_string(), region.to_string()),
        ]
    };
    assert_eq!(scopes("read_scopes"), pairs("eu-west-1"));
    assert_eq!(scopes("missing_scopes"), pairs("xx-fake-1"));

    // Only the accounts named are read: not the manager's own instance.
    let report = manager.path("from-snapshot.json");
    let output = manager.portcullis(&[
        "scan", "--input", &snapshot, "--format", "json", "-o", &report,
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let report = read_json(&report);
    assert_eq!(
        self::scopes(&report, "management-ports-closed"),
        BTreeMap::from([
            ("a-ssh".to_string(), first.to_string()),
            ("b-rdp".to_string(), second.to_string()),
        ])
    );
    let warnings = report["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().starts_with(&format!(
                "aws region xx-fake-1 of account {first} was not read"
            ))),
        "{warnings:?}"
    );
}

/// Set in the child process of [`security_group_rules_are_written_one_rule_at_a_time`]: the
/// group to write to. The child holds the account's credentials in its environment, where the
/// writer's credential chain finds them.
const WRITES_GROUP_VARIABLE: &str = "PORTCULLIS_TEST_WRITES_GROUP";
/// What the child prints when every check passed.
const WRITES_CHECKED: &str = "security group writes checked";

#[test]
fn security_group_rules_are_written_one_rule_at_a_time() {
    let account = Account::seed(9, &["writes"]);
    let output = account
        .command(&std::env::current_exe().unwrap())
        .args([
            "--exact",
            "writes_in_the_account_of_the_environment",
            "--nocapture",
        ])
        .env(WRITES_GROUP_VARIABLE, &account.seeded["group"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(WRITES_CHECKED),
        "{stdout}\n{}",
        stderr(&output)
    );
}

/// The writes of [`security_group_rules_are_written_one_rule_at_a_time`], run by it in a child
/// process; does nothing otherwise.
#[test]
fn writes_in_the_account_of_the_environment() {
    use portcullis::cloud::aws::write::{
        Authorized, GroupId, Mode, RuleId, RulePorts, SgRuleSpec, SgWriter, WriteError, Written,
    };
    use portcullis::cloud::aws::{AwsOptions, Regions};
    use portcullis::model::{PortRange, Protocol, SgSourceKind};
    use std::slice::from_ref;

    let Ok(group) = std::env::var(WRITES_GROUP_VARIABLE) else {
        return;
    };
    let group = GroupId::new(&group).unwrap();
    let options = AwsOptions {
        regions: Regions::Named(vec!["eu-west-1".into()]),
        profile: None,
        endpoint_url: Some(moto().url),
        concurrency: 1,
        progress: false,
        limits: portcullis::limits::Limits::default(),
        organization: None,
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let writer = runtime
        .block_on(SgWriter::connect(&options, "eu-west-1"))
        .unwrap();
    let spec = |first: u16, last: u16, source: &str, description: &str| SgRuleSpec {
        protocol: Protocol::TCP,
        ports: RulePorts::Range(PortRange { first, last }),
        source: SgSourceKind::Cidr(source.parse().unwrap()),
        description: Some(description.to_string()),
    };
    let rules = || {
        runtime
            .block_on(writer.describe_group_rules(&group))
            .unwrap()
    };
    let find = |wanted: &SgRuleSpec| {
        rules()
            .into_iter()
            .find(|rule| rule.spec.same_access(wanted))
            .unwrap_or_else(|| panic!("no rule {wanted} in {:?}", rules()))
    };
    fn done<T>(written: Written<T>) -> T {
        match written {
            Written::Done(value) => value,
            Written::WouldSucceed => panic!("a write answered as a dry run"),
        }
    }
    let revoke = |ids: &[RuleId]| {
        done(
            runtime
                .block_on(writer.revoke_rules(&group, ids, Mode::Apply))
                .unwrap(),
        )
    };
    let authorize = |specs: &[SgRuleSpec]| {
        done(
            runtime
                .block_on(writer.authorize_rules(&group, specs, &BTreeMap::new(), Mode::Apply))
                .unwrap(),
        )
    };

    // The group's rules, one per source, with their ids and descriptions.
    let ssh = find(&spec(22, 22, "0.0.0.0/0", "ssh from anywhere"));
    let ranged = find(&spec(20, 25, "0.0.0.0/0", "ftp to smtp"));
    let ssh6 = find(&spec(22, 22, "::/0", "ssh from ipv6"));
    let before = rules();
    assert_eq!(before.len(), 3, "{before:?}");
    assert_eq!(ssh.spec.description.as_deref(), Some("ssh from anywhere"));
    assert_eq!(ssh6.spec.description.as_deref(), Some("ssh from ipv6"));
    assert!(ssh.id.as_str().starts_with("sgr-") && ssh.group_id == group);
    assert_eq!(
        runtime
            .block_on(writer.describe_rule(&group, &ssh.id))
            .unwrap(),
        Some(ssh.clone())
    );
    let unknown = RuleId::new("sgr-00000000000000000").unwrap();
    assert_eq!(
        runtime
            .block_on(writer.describe_rule(&group, &unknown))
            .unwrap(),
        None
    );

    // Dry runs are allowed (moto allows every one) and change nothing.
    let remainder = [
        spec(20, 21, "0.0.0.0/0", "ftp to smtp"),
        spec(23, 25, "0.0.0.0/0", "ftp to smtp"),
    ];
    assert_eq!(
        runtime
            .block_on(writer.revoke_rules(&group, from_ref(&ranged.id), Mode::DryRun))
            .unwrap(),
        Written::WouldSucceed
    );
    assert_eq!(
        runtime
            .block_on(writer.authorize_rules(&group, &remainder, &BTreeMap::new(), Mode::DryRun))
            .unwrap(),
        Written::WouldSucceed
    );
    assert_eq!(rules(), before);

    // The quick fix of 20-25: the ports around SSH are authorized again, keeping the
    // description, then the rule is revoked by its id.
    let authorized = authorize(&remainder);
    assert_eq!(authorized.len(), 2);
    for (
        Authorized {
            rule,
            already_there,
        },
        wanted,
    ) in authorized.iter().zip(&remainder)
    {
        assert!(!already_there);
        assert_eq!(&rule.spec, wanted);
        assert_eq!(rule, &find(wanted));
    }
    let revoked = revoke(from_ref(&ranged.id));
    assert_eq!(
        (revoked.revoked, revoked.already_gone),
        (vec![ranged.id.clone()], vec![])
    );
    let mut after: Vec<RuleId> = rules().into_iter().map(|r| r.id).collect();
    after.sort();
    let mut expected = vec![
        ssh.id.clone(),
        ssh6.id.clone(),
        authorized[0].rule.id.clone(),
        authorized[1].rule.id.clone(),
    ];
    expected.sort();
    assert_eq!(after, expected);

    // Authorizing a rule that is there converges on it (EC2 answers Duplicate).
    let again = spec(20, 21, "0.0.0.0/0", "another description");
    let replay = authorize(&[again]);
    assert_eq!(replay.len(), 1);
    assert!(replay[0].already_there);
    assert_eq!(replay[0].rule, authorized[0].rule);

    // Revoking a rule that is gone converges; the others are still revoked.
    let revoked = revoke(&[ranged.id.clone(), ssh.id.clone()]);
    assert_eq!(revoked.revoked, from_ref(&ssh.id));
    assert_eq!(revoked.already_gone, from_ref(&ranged.id));
    let revoked = revoke(from_ref(&ssh.id));
    assert_eq!(
        (revoked.revoked, revoked.already_gone),
        (vec![], vec![ssh.id.clone()])
    );

    // A rule modified in place keeps its id.
    let narrowed = spec(21, 21, "0.0.0.0/0", "ftp only");
    let first = &authorized[0].rule;
    let modified = done(
        runtime
            .block_on(writer.modify_rule(&group, &first.id, &narrowed, Mode::Apply))
            .unwrap(),
    );
    assert_eq!((&modified.id, &modified.spec), (&first.id, &narrowed));

    // Undo of the SSH revoke: authorized again from its before-image, description and all.
    let restored = authorize(from_ref(&ssh.spec));
    assert_eq!(restored[0].rule.spec, ssh.spec);
    assert!(!restored[0].already_there);

    // A group that does not exist is named.
    let missing = GroupId::new("sg-00000000000000000").unwrap();
    let error = runtime
        .block_on(writer.revoke_rules(&missing, from_ref(&ssh.id), Mode::Apply))
        .unwrap_err();
    assert!(matches!(error, WriteError::GroupNotFound { .. }), "{error}");
    assert!(
        error.to_string().contains("sg-00000000000000000"),
        "{error}"
    );
    println!("{WRITES_CHECKED}");
}

/// Every inbound rule of the account's security groups in `region`, by content (EC2 gives a
/// rule authorized again a new id, so ids are left out).
fn group_rules(account: &Account, region: &str) -> BTreeSet<String> {
    let rules: Value =
        serde_json::from_str(&account.aws_cli(region, &["describe-security-group-rules"])).unwrap();
    rules["SecurityGroupRules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["IsEgress"] == false)
        .map(|r| {
            let field = |key: &str| r[key].to_string();
            let mut tags: Vec<String> = r["Tags"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| format!("{}={}", t["Key"], t["Value"]))
                .collect();
            tags.sort();
            let fields = [
                "GroupId",
                "IpProtocol",
                "FromPort",
                "ToPort",
                "CidrIpv4",
                "CidrIpv6",
                "PrefixListId",
                "ReferencedGroupInfo",
                "Description",
            ]
            .map(field)
            .join(" ");
            match tags.is_empty() {
                true => fields,
                false => format!("{fields} tags {}", tags.join(",")),
            }
        })
        .collect()
}

/// Tags every inbound rule of `region` `owner=team-web`, as an estate's own tagging would.
fn tag_inbound_rules(account: &Account, region: &str) {
    let rules: Value =
        serde_json::from_str(&account.aws_cli(region, &["describe-security-group-rules"])).unwrap();
    let ids: Vec<&str> = rules["SecurityGroupRules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["IsEgress"] == false)
        .map(|r| r["SecurityGroupRuleId"].as_str().unwrap())
        .collect();
    if ids.is_empty() {
        return;
    }
    let mut args = vec![
        "create-tags",
        "--tags",
        "Key=owner,Value=team-web",
        "--resources",
    ];
    args.extend(ids);
    account.aws_cli(region, &args);
}

/// The unhealthy findings of `recommendation` in a live scan of `regions`, by VM name.
fn unhealthy(account: &Account, regions: &str, recommendation: &str) -> BTreeSet<String> {
    let out = account.portcullis(&[
        "scan",
        "--aws",
        "--regions",
        regions,
        "--endpoint-url",
        &account.moto.url,
        "--quiet",
        "--format",
        "json",
    ]);
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stderr(&out)));
    verdicts(&report)
        .into_iter()
        .filter(|((_, rule), (status, _))| rule == recommendation && status == "unhealthy")
        .map(|((name, _), _)| name)
        .collect()
}

/// Plans with `strategy` (and `extra`), applies, applies again, and undoes, against moto.
fn aws_apply_then_undo(estate: &str, salt: u64, strategy: &str, extra: &[&str]) {
    let account = Account::seed(salt, &[estate]);
    let regions = "eu-west-1,us-east-1";
    let state = account.path("state");
    let plan = account.path("plan.json");
    let run = |args: &[&str]| {
        account
            .command(Path::new(env!("CARGO_BIN_EXE_portcullis")))
            .args(args)
            .env("PORTCULLIS_STATE_DIR", &state)
            .output()
            .unwrap()
    };
    let recommendation = match strategy {
        "jit" => "management-ports-jit",
        _ => "management-ports-closed",
    };
    // Tagged rules: undo gives each revoked rule back with its tags.
    for region in ["eu-west-1", "us-east-1"] {
        tag_inbound_rules(&account, region);
    }
    let original: Vec<BTreeSet<String>> = ["eu-west-1", "us-east-1"]
        .map(|r| group_rules(&account, r))
        .to_vec();
    let before = unhealthy(&account, regions, recommendation);
    assert!(!before.is_empty());

    let mut args = vec![
        "fix",
        "plan",
        "--aws",
        "--regions",
        regions,
        "--endpoint-url",
        &account.moto.url,
        "--quiet",
        "--strategy",
        strategy,
        "-o",
        &plan,
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let planned = read_json(&plan);
    let skipped: BTreeSet<String> = planned["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["resource_name"].as_str().unwrap().to_owned())
        .collect();
    assert_ne!(skipped, before, "the plan must fix something");

    let apply = [
        "fix",
        "apply",
        &plan,
        "--endpoint-url",
        &account.moto.url,
        "--yes",
    ];
    let out = run(&apply);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("verified:"), "{}", text(&out));
    assert_eq!(unhealthy(&account, regions, recommendation), skipped);

    let applied: Vec<BTreeSet<String>> = ["eu-west-1", "us-east-1"]
        .map(|r| group_rules(&account, r))
        .to_vec();
    assert_ne!(applied, original);
    let out = run(&apply);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("nothing to write"), "{}", text(&out));

    let out = run(&[
        "fix",
        "undo",
        &plan,
        "--endpoint-url",
        &account.moto.url,
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let undone: Vec<BTreeSet<String>> = ["eu-west-1", "us-east-1"]
        .map(|r| group_rules(&account, r))
        .to_vec();
    assert_eq!(undone, original);
    assert_eq!(unhealthy(&account, regions, recommendation), before);
}

#[test]
fn aws_quick_fix_applied_narrows_each_rule_and_undo_restores_every_rule() {
    aws_apply_then_undo("commands", 21, "quick-fix", &["--allow-protocol-narrowing"]);
}

#[test]
fn aws_lockdown_applied_revokes_the_internet_and_undo_restores_every_rule() {
    aws_apply_then_undo("verdicts", 22, "jit", &[]);
}

/// Kills `fix apply` at every point between journaling and writing (three per write), and checks
/// that `fix recover` then a second apply leave the groups as one apply does, losing no rule.
#[test]
fn aws_apply_killed_anywhere_converges_after_recover() {
    let region = "eu-west-1";
    let seed = |salt: u64| Account::seed(salt, &["one-instance", region]);
    let run = |account: &Account, state: &str, args: &[&str], crash_at: Option<u64>| {
        let mut command = account.command(Path::new(env!("CARGO_BIN_EXE_portcullis")));
        command.args(args).env("PORTCULLIS_STATE_DIR", state);
        if let Some(at) = crash_at {
            command.env("PORTCULLIS_TEST_CRASH_AT", at.to_string());
        }
        command.output().unwrap()
    };
    let plan_and_apply = |account: &Account, crash_at: Option<u64>| {
        let (state, plan) = (account.path("state"), account.path("plan.json"));
        let out = run(
            account,
            &state,
            &[
                "fix",
                "plan",
                "--aws",
                "--regions",
                region,
                "--endpoint-url",
                &account.moto.url,
                "--quiet",
                "-o",
                &plan,
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let apply = [
            "fix",
            "apply",
            &plan,
            "--endpoint-url",
            &account.moto.url,
            "--yes",
        ];
        if crash_at.is_some() {
            let out = run(account, &state, &apply, crash_at);
            assert_eq!(
                out.status.code(),
                None,
                "crash at {crash_at:?}: {}",
                text(&out)
            );
            let recover = ["fix", "recover", "--endpoint-url", &account.moto.url];
            let out = run(account, &state, &recover, None);
            assert_eq!(
                out.status.code(),
                Some(0),
                "crash at {crash_at:?}: {}",
                text(&out)
            );
        }
        let out = run(account, &state, &apply, None);
        assert_eq!(
            out.status.code(),
            Some(0),
            "crash at {crash_at:?}: {}",
            text(&out)
        );
        (read_json(&plan), group_rules(account, region))
    };
    let reference = seed(30);
    let (planned, expected) = plan_and_apply(&reference, None);
    let writes = planned["changes"].as_array().unwrap().len() as u64;
    assert!(writes >= 2, "the plan must have writes to interrupt");
    // Groups differ by id between accounts: compare the rules without their group.
    let content = |rules: BTreeSet<String>| -> BTreeSet<String> {
        rules
            .into_iter()
            .map(|r| r.split_once(' ').unwrap().1.to_owned())
            .collect()
    };
    let expected = content(expected);
    for at in 1..=3 * writes {
        let account = seed(31 + at);
        let (_, rules) = plan_and_apply(&account, Some(at));
        assert_eq!(content(rules), expected, "crash at {at}");
    }
}

/// The time the `jit` tests' grants are requested at (`PORTCULLIS_TEST_NOW`: time moves by it,
/// never by sleeping).
const T0: &str = "2026-12-03T06:00:00Z";

/// `jit` on AWS: an account seeded with `seed.py`'s `jit` estate, and a state directory.
struct JitWorld {
    account: Account,
    state: String,
}

impl JitWorld {
    fn new(salt: u64) -> Self {
        let account = Account::seed(salt, &["jit"]);
        let state = account.path("state");
        JitWorld { account, state }
    }

    /// Runs portcullis at time `now` with `extra` environment variables.
    fn run_at(&self, now: &str, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let mut command = self
            .account
            .command(Path::new(env!("CARGO_BIN_EXE_portcullis")));
        command
            .args(args)
            .env("PORTCULLIS_STATE_DIR", &self.state)
            .env("PORTCULLIS_TEST_NOW", now)
            .env_remove("PORTCULLIS_TEST_CRASH_AT");
        for (key, value) in extra {
            command.env(key, value);
        }
        command.output().unwrap()
    }

    /// Runs `portcullis jit|scan|fix plan … --aws` on the account's eu-west-1 at `now`.
    fn live_at(&self, now: &str, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--aws",
            "--regions",
            "eu-west-1",
            "--endpoint-url",
            &self.account.moto.url,
            "--quiet",
        ]);
        self.run_at(now, &all, extra)
    }

    /// [`Self::live_at`], expecting exit status 0; its standard output.
    fn ok_at(&self, now: &str, args: &[&str]) -> String {
        let out = self.live_at(now, args, &[]);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// `fix plan --strategy jit` and `fix apply --yes`: the estate locked down.
    fn lock_down(&self) {
        let plan = self.account.path("plan.json");
        self.ok_at(T0, &["fix", "plan", "--strategy", "jit", "-o", &plan]);
        let out = self.run_at(
            T0,
            &[
                "fix",
                "apply",
                &plan,
                "--endpoint-url",
                &self.account.moto.url,
                "--yes",
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }

    /// `jit request` at `now`; returns the grant id.
    fn request(&self, now: &str, vm: &str, ports: &str, duration: &str) -> String {
        verified_grant(&self.ok_at(now, &request_args(vm, ports, duration)))
    }

    /// The findings of a live scan at `now`, by VM name and recommendation.
    fn scan(&self, now: &str) -> Findings {
        let out = self.live_at(now, &["scan", "--format", "json"], &[]);
        findings(&out)
    }

    /// The security group ids of network interface `eni`, sorted.
    fn eni_groups(&self, eni: &str) -> Vec<String> {
        let out: Value = serde_json::from_str(&self.account.aws_cli(
            "eu-west-1",
            &[
                "describe-network-interfaces",
                "--network-interface-ids",
                eni,
            ],
        ))
        .unwrap();
        let mut groups: Vec<String> = out["NetworkInterfaces"][0]["Groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["GroupId"].as_str().unwrap().to_owned())
            .collect();
        groups.sort();
        groups
    }

    /// The id of the group named `name`, if there is one.
    fn group_named(&self, name: &str) -> Option<String> {
        let out: Value = serde_json::from_str(&self.account.aws_cli(
            "eu-west-1",
            &[
                "describe-security-groups",
                "--filters",
                &format!("Name=group-name,Values={name}"),
            ],
        ))
        .unwrap();
        out["SecurityGroups"]
            .as_array()
            .unwrap()
            .first()
            .map(|g| g["GroupId"].as_str().unwrap().to_owned())
    }

    /// The inbound rules of group `group` as `describe-security-group-rules` lists them.
    fn rules_of(&self, group: &str) -> Vec<Value> {
        let out: Value = serde_json::from_str(&self.account.aws_cli(
            "eu-west-1",
            &[
                "describe-security-group-rules",
                "--filters",
                &format!("Name=group-id,Values={group}"),
            ],
        ))
        .unwrap();
        out["SecurityGroupRules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["IsEgress"] == false)
            .cloned()
            .collect()
    }

    /// Rewrites the description of the grant rule for TCP `port` in `group`, as someone
    /// editing it in the console would.
    fn describe(&self, group: &str, port: u16, description: &str) {
        let rule = self
            .rules_of(group)
            .into_iter()
            .find(|r| r["FromPort"] == port)
            .unwrap();
        self.account.aws_cli(
            "eu-west-1",
            &[
                "modify-security-group-rules",
                "--group-id",
                group,
                "--security-group-rules",
                &format!(
                    "SecurityGroupRuleId={},SecurityGroupRule={{IpProtocol=tcp,FromPort={port},\
                     ToPort={port},CidrIpv4={ADMIN}/32,Description={description}}}",
                    rule["SecurityGroupRuleId"].as_str().unwrap()
                ),
            ],
        );
    }

    /// The grant group of the instance seeded as `key`.
    fn grant_group(&self, key: &str) -> Option<String> {
        self.group_named(&format!("portcullis-jit-{}", self.account.seeded[key]))
    }

    fn ledger(&self, all: bool) -> Vec<Value> {
        let mut args = vec!["jit", "list", "--format", "json"];
        if all {
            args.push("--all");
        }
        let out = self.run_at(T0, &args, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

#[test]
fn aws_jit_full_cycle_lock_down_request_scan_revoke_scan() {
    let world = JitWorld::new(40);
    let web_eni = &world.account.seeded["web_eni"];
    let original_groups = world.eni_groups(web_eni);
    assert_eq!(original_groups.len(), 2);
    world.lock_down();
    let locked = world.scan(T0);
    assert_eq!(
        finding(&locked, "jit-web", "management-ports-jit")["status"],
        "healthy"
    );
    assert!(reach(&locked, "jit-web").is_empty());

    let id = world.request(T0, "jit-web", "22", "2h");
    let group = world.grant_group("web").expect("the grant group");
    let mut with_grant = original_groups.clone();
    with_grant.push(group.clone());
    with_grant.sort();
    assert_eq!(world.eni_groups(web_eni), with_grant);
    // Only jit-web's interface holds the group: jit-db shares jit-web's other group.
    assert!(
        !world
            .eni_groups(&world.account.seeded["db_eni"])
            .contains(&group)
    );
    let rules = group_rules(&world.account, "eu-west-1");
    let grant_rules: Vec<&String> = rules
        .iter()
        .filter(|r| r.starts_with(&format!("\"{group}\"")))
        .collect();
    assert_eq!(grant_rules.len(), 1, "{rules:?}");
    assert!(
        grant_rules[0].contains(&format!(
            "\"portcullis-jit-{id} portcullis JIT grant expires=2026-12-03T08:00:00Z \
             opened=2026-12-03T06:00:00Z by=arn:aws:sts::"
        )),
        "{}",
        grant_rules[0]
    );
    // The rule is tagged with its grant and expiry too.
    let tagged = world.rules_of(&group);
    let tags: BTreeMap<&str, &str> = tagged[0]["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["Key"].as_str().unwrap(), t["Value"].as_str().unwrap()))
        .collect();
    assert_eq!(
        tags,
        BTreeMap::from([
            ("portcullis:jit-expires", "2026-12-03T08:00:00Z"),
            ("portcullis:jit-grant", id.as_str()),
        ])
    );

    // During the grant, only jit-web's SSH differs, reachable from exactly one address.
    let during = world.scan(T0);
    assert_eq!(
        locked.keys().collect::<Vec<_>>(),
        during.keys().collect::<Vec<_>>()
    );
    for (key, was) in &locked {
        if key.0 != "jit-web" {
            assert_eq!(was, &during[key], "{key:?} changed");
        }
    }
    assert_eq!(
        reach(&during, "jit-web"),
        BTreeMap::from([("22/tcp".to_owned(), 1)])
    );
    let jit = finding(&during, "jit-web", "management-ports-jit");
    assert_eq!(jit["status"], "healthy", "{jit}");
    assert_eq!(
        jit["evidence"]["summary"],
        "watched ports are reached only through JIT grants"
    );

    let listed = world.ledger(false);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0]["id"].as_str(), listed[0]["provider"].as_str()),
        (Some(id.as_str()), Some("aws"))
    );
    assert_eq!(listed[0]["vm_id"], world.account.seeded["web"].as_str());
    assert!(
        listed[0]["requester"]
            .as_str()
            .unwrap()
            .starts_with(&format!("arn:aws:sts::{}:", world.account.id)),
        "{}",
        listed[0]["requester"]
    );

    let out = world.ok_at("2026-12-03T07:00:00Z", &["jit", "revoke", &id]);
    assert!(out.contains(&format!("revoked {id}")), "{out}");
    assert_eq!(world.eni_groups(web_eni), original_groups);
    assert_eq!(world.grant_group("web"), None);
    let closed = world.scan("2026-12-03T07:00:00Z");
    assert!(reach(&closed, "jit-web").is_empty());
    assert_eq!(world.ledger(true)[0]["state"], "revoked");
    let again = world.live_at(T0, &["jit", "revoke", &id], &[]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
}

#[test]
fn aws_jit_a_newer_request_replaces_the_older_and_a_full_interface_is_refused() {
    let world = JitWorld::new(41);
    world.lock_down();
    let first = world.request(T0, "jit-web", "22", "1h");
    let second = world.request("2026-12-03T06:30:00Z", "jit-web", "22,3389", "1h");
    assert_ne!(first, second);
    let group = world.grant_group("web").unwrap();
    let rules: Vec<String> = group_rules(&world.account, "eu-west-1")
        .into_iter()
        .filter(|r| r.starts_with(&format!("\"{group}\"")))
        .collect();
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert!(rules.iter().all(|r| r.contains(&second)), "{rules:?}");
    let all = world.ledger(true);
    let state = |id: &str| all.iter().find(|g| g["id"] == id).unwrap()["state"].clone();
    assert_eq!(
        (state(&first), state(&second)),
        ("replaced".into(), "active".into())
    );
    // A request narrower than a grant it shares a rule with is refused, naming that grant.
    let narrower = world.live_at(T0, &request_args("jit-web", "22", "1h"), &[]);
    assert_eq!(narrower.status.code(), Some(2), "{}", text(&narrower));
    assert!(stderr(&narrower).contains(&second), "{}", text(&narrower));

    // Someone rewrote one rule's description: revoke finds it by its tags, and ends the grant.
    world.describe(&group, 3389, "rdp for alice");
    let out = world.ok_at("2026-12-03T06:40:00Z", &["jit", "revoke", &second]);
    assert!(out.contains(&format!("revoked {second}")), "{out}");
    assert_eq!(world.grant_group("web"), None);
    let ended = world.ledger(true);
    let revoked = ended.iter().find(|g| g["id"] == second.as_str()).unwrap();
    assert_eq!(revoked["state"], "revoked");

    // The subnet's network ACL denies RDP: the grant is written, but the engine, run on the
    // estate read again, finds RDP not reached, and the request says so (exit 6).
    let acls: Value = serde_json::from_str(&world.account.aws_cli(
        "eu-west-1",
        &[
            "describe-network-acls",
            "--filters",
            &format!("Name=vpc-id,Values={}", world.account.seeded["vpc"]),
            "Name=default,Values=true",
        ],
    ))
    .unwrap();
    world.account.aws_cli(
        "eu-west-1",
        &[
            "create-network-acl-entry",
            "--network-acl-id",
            acls["NetworkAcls"][0]["NetworkAclId"].as_str().unwrap(),
            "--ingress",
            "--rule-number",
            "1",
            "--protocol",
            "tcp",
            "--port-range",
            "From=3389,To=3389",
            "--cidr-block",
            "0.0.0.0/0",
            "--rule-action",
            "deny",
        ],
    );
    let denied = world.live_at(
        "2026-12-03T06:45:00Z",
        &request_args("jit-web", "3389", "1h"),
        &[],
    );
    assert_eq!(denied.status.code(), Some(6), "{}", text(&denied));
    assert!(
        stderr(&denied).contains("still not reached from 81.2.69.160/32")
            && stderr(&denied).contains("3389/tcp"),
        "{}",
        text(&denied)
    );

    // jit-full's interface holds five groups: refused before anything is written.
    let full_eni = &world.account.seeded["full_eni"];
    let before = world.eni_groups(full_eni);
    assert_eq!(before.len(), 5);
    let out = world.live_at(T0, &request_args("jit-full", "22", "1h"), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr(&out).contains(&format!("network interface {full_eni}"))
            && stderr(&out).contains("holds 5 security groups already"),
        "{}",
        text(&out)
    );
    assert_eq!(world.grant_group("full"), None);
    assert_eq!(world.eni_groups(full_eni), before);

    // A group of the grant group's name that portcullis did not make is left alone.
    let name = format!("portcullis-jit-{}", world.account.seeded["db"]);
    let theirs: Value = serde_json::from_str(&world.account.aws_cli(
        "eu-west-1",
        &[
            "create-security-group",
            "--group-name",
            &name,
            "--description",
            "someone else's",
            "--vpc-id",
            &world.account.seeded["vpc"],
        ],
    ))
    .unwrap();
    let theirs = theirs["GroupId"].as_str().unwrap();
    let db_eni = &world.account.seeded["db_eni"];
    let db_groups = world.eni_groups(db_eni);
    let out = world.live_at(T0, &request_args("jit-db", "22", "1h"), &[]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(
        stderr(&out).contains(&format!(
            "{theirs} has that name but not the tags portcullis makes it with"
        )),
        "{}",
        text(&out)
    );
    assert_eq!(world.eni_groups(db_eni), db_groups);
    let egress: Value = serde_json::from_str(&world.account.aws_cli(
        "eu-west-1",
        &["describe-security-groups", "--group-ids", theirs],
    ))
    .unwrap();
    assert_eq!(
        egress["SecurityGroups"][0]["IpPermissionsEgress"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "its allow-all egress rule is still there"
    );
    // Attached to jit-db's interface, it holds no rule, as an emptied grant group would: the
    // sweep leaves it attached and in place.
    let mut with_theirs = db_groups.clone();
    with_theirs.push(theirs.to_owned());
    let mut args = vec![
        "modify-network-interface-attribute",
        "--network-interface-id",
        db_eni,
        "--groups",
    ];
    args.extend(with_theirs.iter().map(String::as_str));
    world.account.aws_cli("eu-west-1", &args);
    let out = world.live_at(T0, &["jit", "sweep"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stderr(&out).contains("not portcullis's, and is left alone"),
        "{}",
        text(&out)
    );
    with_theirs.sort();
    assert_eq!(world.eni_groups(db_eni), with_theirs);
    assert_eq!(world.group_named(&name).as_deref(), Some(theirs));
}

#[test]
fn aws_jit_grants_close_after_a_crash_a_lost_ledger_and_an_idle_expiry() {
    let world = JitWorld::new(42);
    world.lock_down();
    let web_eni = &world.account.seeded["web_eni"];
    let original = world.eni_groups(web_eni);

    // Killed after the last write (the attach) was made, before its outcome was journaled.
    let killed = world.live_at(
        T0,
        &request_args("jit-web", "22", "30m"),
        &[("PORTCULLIS_TEST_CRASH_AT", "8")],
    );
    assert_eq!(killed.status.code(), None, "{}", text(&killed));
    let group = world.grant_group("web").expect("the grant group");
    assert!(world.eni_groups(web_eni).contains(&group));
    // Before the expiry, a sweep recovers the journal and leaves the grant open.
    world.ok_at("2026-12-03T06:29:59Z", &["jit", "sweep"]);
    assert!(world.eni_groups(web_eni).contains(&group));
    let out = world.ok_at("2026-12-03T06:30:00Z", &["jit", "sweep"]);
    assert!(out.contains("close expired"), "{out}");
    assert_eq!(world.eni_groups(web_eni), original);
    assert_eq!(world.grant_group("web"), None);

    // The ledger deleted: the expiry is in the rule.
    world.request("2026-12-03T07:00:00Z", "jit-web", "22", "30m");
    std::fs::remove_file(Path::new(&world.state).join("audit.db")).unwrap();
    for side in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(Path::new(&world.state).join(format!("audit.db{side}")));
    }
    world.ok_at("2026-12-03T08:00:00Z", &["jit", "sweep"]);
    assert_eq!(world.eni_groups(web_eni), original);
    assert_eq!(world.grant_group("web"), None);

    // Someone rewrote the rule's description: its tags still tell the grant and its expiry.
    let edited = world.request("2026-12-03T08:00:00Z", "jit-web", "22", "30m");
    let group = world.grant_group("web").unwrap();
    world.describe(&group, 22, "ssh for alice");
    assert_eq!(world.rules_of(&group)[0]["Description"], "ssh for alice");
    world.ok_at("2026-12-03T08:29:59Z", &["jit", "sweep"]);
    assert!(world.eni_groups(web_eni).contains(&group));
    world.ok_at("2026-12-03T08:30:00Z", &["jit", "sweep"]);
    assert_eq!(world.eni_groups(web_eni), original);
    assert_eq!(world.grant_group("web"), None);

    // The expiry passed while nothing ran: standing access to the scanner, live and from the
    // AWS CLI's export, until the next jit command closes it first.
    world.request("2026-12-03T09:00:00Z", "jit-web", "22", "1m");
    let later = "2026-12-03T12:00:00Z";
    let live = world.scan(later);
    let export = world.account.export(&["eu-west-1"]);
    let from_file = findings(&world.run_at(
        later,
        &[
            "scan",
            "--input",
            export.to_str().unwrap(),
            "--quiet",
            "--format",
            "json",
        ],
        &[],
    ));
    for scanned in [&live, &from_file] {
        let jit = finding(scanned, "jit-web", "management-ports-jit");
        assert_eq!(jit["status"], "unhealthy", "{jit}");
        let summary = jit["evidence"]["summary"].as_str().unwrap();
        assert!(
            summary.starts_with("expired JIT grant still open since 2026-12-03T09:01:00Z"),
            "{summary}"
        );
    }
    world.request(later, "jit-db", "22", "1h");
    assert_eq!(world.eni_groups(web_eni), original);
    assert!(world.grant_group("db").is_some());
    let ended: Vec<Value> = world
        .ledger(true)
        .into_iter()
        .filter(|g| g["state"] == "expired")
        .collect();
    // The killed request never recorded its grant, and the second's record was deleted.
    let closed: Vec<(&str, &str)> = ended
        .iter()
        .map(|g| (g["id"].as_str().unwrap(), g["closed"].as_str().unwrap()))
        .collect();
    assert_eq!(closed.len(), 2, "{ended:?}");
    assert!(
        closed.contains(&(edited.as_str(), "2026-12-03T08:30:00Z")),
        "{ended:?}"
    );
    assert!(closed.iter().any(|(_, at)| *at == later), "{ended:?}");
}
