//! The live AWS options of the command line, where they fail before any call to AWS: a missing
//! source, bad flags, no credentials, no region. Each error exits with status 2 and says what to
//! do.

use std::process::Command;

/// `portcullis ARGS` with `env` and none of the user's AWS configuration.
fn portcullis(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    for (variable, _) in std::env::vars() {
        if variable.starts_with("AWS_") {
            command.env_remove(variable);
        }
    }
    let output = command
        .args(args)
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const KEYS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
    ("AWS_SECRET_ACCESS_KEY", "secret"),
];

#[test]
fn usage_errors() {
    for (args, env, message) in [
        (&["scan"][..], &[][..], "--input <PATH>|--aws"),
        (&["snapshot", "-o", "x.json"], &[], "--input <PATH>|--aws"),
        (&["scan", "--input", "x", "--regions", "all"], &[], "--aws"),
        (
            &["scan", "--aws", "--regions", "us-east-1;eu-west-1"],
            &[],
            "is not a region name",
        ),
        (&["scan", "--aws", "--regions", ","], &[], "no region given"),
        (
            &["scan", "--aws", "--concurrency", "0"],
            &[],
            "--concurrency",
        ),
        (
            &["scan", "--aws", "--regions", "us-east-1"],
            &[],
            "no usable AWS credentials: ",
        ),
        (
            &[
                "scan",
                "--aws",
                "--regions",
                "us-east-1",
                "--profile",
                "audit",
            ],
            &[],
            "no usable AWS credentials for profile \"audit\"",
        ),
        (
            &["scan", "--aws", "--role-name", "portcullis-read"],
            &[],
            "--accounts <all|ID,ID>",
        ),
        (
            &["scan", "--aws", "--accounts", "all"],
            &[],
            "--role-name <NAME>",
        ),
        (
            &[
                "scan",
                "--input",
                "x",
                "--accounts",
                "all",
                "--role-name",
                "r",
            ],
            &[],
            "--aws",
        ),
        (
            &["scan", "--aws", "--external-id", "audit-7"],
            &[],
            "--role-name <NAME>",
        ),
        (
            &[
                "scan",
                "--aws",
                "--accounts",
                "1111-2222-3333",
                "--role-name",
                "r",
            ],
            &[],
            "\"1111-2222-3333\" is not an AWS account id; give `all` or twelve-digit ids",
        ),
        (
            &[
                "snapshot",
                "-o",
                "x.json",
                "--aws",
                "--accounts",
                "111122223333,44445555666",
                "--role-name",
                "r",
            ],
            &[],
            "\"44445555666\" is not an AWS account id",
        ),
        (
            &[
                "scan",
                "--aws",
                "--accounts",
                "all",
                "--role-name",
                "read only",
            ],
            &[],
            "is not an IAM role name",
        ),
        (
            &[
                "scan",
                "--aws",
                "--accounts",
                "all",
                "--role-name",
                "r",
                "--external-id",
                "x",
            ],
            &[],
            "an external id is 2 to 1224",
        ),
        (&["scan", "--aws"], &KEYS[..], "no AWS region configured"),
        (
            &["scan", "--aws", "--accounts", "all", "--role-name", "r"],
            &KEYS[..],
            "no AWS region configured",
        ),
        (
            &[
                "scan",
                "--aws",
                "--regions",
                "us-east-1",
                "--endpoint-url",
                "localhost:5000",
            ],
            &KEYS[..],
            "is not a URL",
        ),
    ] {
        let (code, stderr) = portcullis(args, env);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
