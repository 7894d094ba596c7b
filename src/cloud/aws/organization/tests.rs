//! Organisation scans against mocked STS, Organizations and EC2 responses: the accounts listed
//! (every page, ACTIVE only), the role assumed in each as asked, an account whose role is
//! refused reported while the others are read, and the parsing of the flags.

use std::time::{Duration, Instant};

use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_organizations::operation::list_accounts::{ListAccountsError, ListAccountsOutput};
use aws_sdk_organizations::types::{Account, AccountState, AccountStatus};
use aws_sdk_sts::error::ErrorMetadata;
use aws_sdk_sts::operation::assume_role::{AssumeRoleError, AssumeRoleOutput};
use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput;
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use aws_smithy_types::DateTime;

use super::super::config::Setup;
use super::super::tests::{mocked, one_page_region};
use super::super::{AwsCollected, AwsError, AwsOptions, Regions, collect_with};
use super::{AccountId, Accounts, Organization, RoleName, parse_external_id};
use crate::limits::Limits;

const CALLER: &str = "111111111111";
const MEMBER: &str = "222222222222";
const REFUSING: &str = "333333333333";
const SUSPENDED: &str = "444444444444";

fn interceptor(rules: &[Rule]) -> MockResponseInterceptor {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    interceptor
}

fn retries() -> RetryConfig {
    RetryConfig::standard().with_initial_backoff(Duration::from_millis(1))
}

fn credentials() -> Credentials {
    Credentials::new("AKID", "secret", None, None, "test")
}

/// STS answering as the caller's account, and granting AssumeRole in every account but
/// [`REFUSING`] when asked with the session name `portcullis-scan` and `external_id`.
fn sts(external_id: Option<&'static str>) -> aws_sdk_sts::Config {
    let identity = mock!(aws_sdk_sts::Client::get_caller_identity).then_output(|| {
        GetCallerIdentityOutput::builder()
            .account(CALLER)
            .arn(format!("arn:aws:iam::{CALLER}:user/auditor"))
            .build()
    });
    let refused = mock!(aws_sdk_sts::Client::assume_role)
        .match_requests(move |r| {
            r.role_arn() == Some(&arn(REFUSING))
                || r.role_session_name() != Some("portcullis-scan")
                || r.external_id() != external_id
        })
        .then_error(|| {
            AssumeRoleError::generic(
                ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("not authorized to perform sts:AssumeRole")
                    .build(),
            )
        });
    let granted = mock!(aws_sdk_sts::Client::assume_role).then_output(|| {
        let expires = DateTime::from_secs(4_000_000_000);
        AssumeRoleOutput::builder()
            .credentials(
                aws_sdk_sts::types::Credentials::builder()
                    .access_key_id("ASIAMEMBER")
                    .secret_access_key("member-secret")
                    .session_token("member-token")
                    .expiration(expires)
                    .build()
                    .unwrap(),
            )
            .build()
    });
    aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .retry_config(retries())
        .http_client(create_mock_http_client())
        .interceptor(interceptor(&[identity, refused, granted]))
        .build()
}

fn arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/portcullis-read")
}

fn account(id: &str, state: AccountState, status: AccountStatus) -> Account {
    Account::builder()
        .id(id)
        .state(state)
        .status(status)
        .build()
}

/// Organizations listing the caller, [`MEMBER`] and [`REFUSING`] (ACTIVE) and [`SUSPENDED`], on
/// two pages; `rules` replace that listing when given.
fn organizations(rules: Option<Vec<Rule>>) -> aws_sdk_organizations::Config {
    let rules = rules.unwrap_or_else(|| {
        vec![
            mock!(aws_sdk_organizations::Client::list_accounts)
                .match_requests(|r| r.next_token().is_none() && r.max_results() == Some(20))
                .then_output(|| {
                    ListAccountsOutput::builder()
                        .accounts(account(
                            REFUSING,
                            AccountState::Active,
                            AccountStatus::Active,
                        ))
                        .accounts(account(CALLER, AccountState::Active, AccountStatus::Active))
                        .next_token("page-2")
                        .build()
                }),
            mock!(aws_sdk_organizations::Client::list_accounts)
                .match_requests(|r| r.next_token() == Some("page-2"))
                .then_output(|| {
                    ListAccountsOutput::builder()
                        .accounts(account(
                            SUSPENDED,
                            AccountState::Suspended,
                            AccountStatus::Suspended,
                        ))
                        // An account of the older API: Status, no State.
                        .accounts(
                            Account::builder()
                                .id(MEMBER)
                                .status(AccountStatus::Active)
                                .build(),
                        )
                        .build()
                }),
        ]
    });
    aws_sdk_organizations::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .retry_config(retries())
        .http_client(create_mock_http_client())
        .interceptor(interceptor(&rules))
        .build()
}

fn options(accounts: Accounts, external_id: Option<&str>) -> AwsOptions {
    AwsOptions {
        regions: Regions::Named(vec!["eu-west-1".into(), "us-east-1".into()]),
        profile: None,
        endpoint_url: None,
        concurrency: 3,
        progress: false,
        limits: Limits {
            scope_deadline: Duration::from_secs(60),
            ..Limits::default()
        },
        organization: Some(Organization {
            accounts,
            role_name: RoleName::parse("portcullis-read").unwrap(),
            external_id: external_id.map(str::to_string),
        }),
    }
}

/// The collection of `options` from STS granting the role only with `external_id`.
fn scan(
    options: &AwsOptions,
    external_id: Option<&'static str>,
    organizations_rules: Option<Vec<Rule>>,
) -> Result<AwsCollected, AwsError> {
    let setup = Setup {
        base: mocked(&one_page_region(1, "")),
        sts: sts(external_id),
        organizations: organizations(organizations_rules),
        default_region: Some("us-east-1".into()),
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(collect_with(&setup, options, Instant::now()))
}

/// `(kind, name, account, failed)` of every scope of the report.
fn scopes(collected: &AwsCollected) -> Vec<(&str, &str, Option<&str>, bool)> {
    collected
        .collected
        .report
        .scopes
        .iter()
        .map(|s| {
            (
                s.kind,
                s.name.as_str(),
                s.account.as_deref(),
                s.error.is_some(),
            )
        })
        .collect()
}

#[test]
fn all_reads_every_active_account_and_reports_the_one_whose_role_is_refused() {
    let collected = scan(&options(Accounts::All, None), None, None).unwrap();
    assert_eq!(
        scopes(&collected),
        [
            ("account", REFUSING, Some(REFUSING), true),
            ("region", "eu-west-1", Some(CALLER), false),
            ("region", "us-east-1", Some(CALLER), false),
            ("region", "eu-west-1", Some(MEMBER), false),
            ("region", "us-east-1", Some(MEMBER), false),
        ]
    );
    let report = &collected.collected.report;
    assert!(!report.complete);
    let error = report.scopes[0].error.as_deref().unwrap();
    assert!(
        error.starts_with(&format!(
            "cannot assume {}: AssumeRole: AccessDenied: not authorized",
            arn(REFUSING)
        )),
        "{error}"
    );
    assert!(
        error.contains("deploy the member role of docs/aws.md"),
        "{error}"
    );
    assert_eq!(
        report.scopes[0].label(),
        format!("account {REFUSING}"),
        "the error line names the account"
    );
    assert_eq!(
        report.scopes[1].label(),
        format!("region eu-west-1 of account {CALLER}")
    );
    // GetCallerIdentity, two pages of ListAccounts, two AssumeRoles, 7 lists in each of 4
    // regions.
    assert_eq!(report.api_calls, 1 + 2 + 2 + 4 * 7);
    assert_eq!(
        report.one_line().split(", ").take(2).collect::<Vec<_>>(),
        ["aws: 3 accounts (1 failed)", "4 regions"]
    );

    let snapshot = &collected.collected.snapshot;
    let missing: Vec<(&str, &str, Option<&str>)> = snapshot
        .missing_scopes
        .iter()
        .map(|m| (m.kind.as_str(), m.name.as_str(), m.account.as_deref()))
        .collect();
    assert_eq!(missing, [("account", REFUSING, Some(REFUSING))]);
    assert!(
        snapshot.missing_scopes[0]
            .to_string()
            .starts_with(&format!("aws account {REFUSING} was not read")),
        "{}",
        snapshot.missing_scopes[0]
    );
    let read: Vec<(&str, Option<&str>)> = snapshot
        .read_scopes
        .iter()
        .map(|r| (r.name.as_str(), r.account.as_deref()))
        .collect();
    assert_eq!(
        read,
        [
            ("eu-west-1", Some(CALLER)),
            ("us-east-1", Some(CALLER)),
            ("eu-west-1", Some(MEMBER)),
            ("us-east-1", Some(MEMBER)),
        ]
    );
    let spans: Vec<Option<&str>> = collected
        .spans
        .iter()
        .map(|s| s.account.as_deref())
        .collect();
    assert_eq!(
        spans,
        [Some(CALLER), Some(CALLER), Some(MEMBER), Some(MEMBER)]
    );
}

#[test]
fn explicit_accounts_are_read_as_given_without_listing_the_organisation() {
    // No ListAccounts rule: listing the organisation would fail the scan.
    let listed = Accounts::parse(&format!("{MEMBER},{REFUSING}")).unwrap();
    let collected = scan(&options(listed, None), None, Some(Vec::new())).unwrap();
    assert_eq!(
        scopes(&collected),
        [
            ("account", REFUSING, Some(REFUSING), true),
            ("region", "eu-west-1", Some(MEMBER), false),
            ("region", "us-east-1", Some(MEMBER), false),
        ]
    );
}

#[test]
fn the_role_is_assumed_with_the_external_id_given() {
    let member = || Accounts::parse(MEMBER).unwrap();
    for (given, wanted, read) in [
        (Some("audit-7"), Some("audit-7"), true),
        (None, None, true),
        (None, Some("audit-7"), false),
        (Some("audit-8"), Some("audit-7"), false),
    ] {
        let collected = scan(&options(member(), given), wanted, Some(Vec::new())).unwrap();
        assert_eq!(
            collected.collected.report.complete,
            read,
            "{given:?} {wanted:?}: {:?}",
            scopes(&collected)
        );
    }
}

#[test]
fn accounts_that_cannot_be_listed_fail_the_scan_saying_what_to_do() {
    let denied = mock!(aws_sdk_organizations::Client::list_accounts).then_error(|| {
        ListAccountsError::generic(
            aws_sdk_organizations::error::ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("You don't have permissions to access this resource.")
                .build(),
        )
    });
    let looping = mock!(aws_sdk_organizations::Client::list_accounts).then_output(|| {
        ListAccountsOutput::builder()
            .accounts(account(MEMBER, AccountState::Active, AccountStatus::Active))
            .next_token("again")
            .build()
    });
    for (rule, expected) in [
        (
            denied,
            "ListAccounts: AccessDeniedException: You don't have permissions to access this \
             resource. (only the management account or a delegated administrator may call \
             organizations:ListAccounts)",
        ),
        (
            looping,
            "ListAccounts: page 2 repeats a NextToken of an earlier page; the listing would \
             loop, so the organisation's accounts is not read",
        ),
    ] {
        let error = scan(&options(Accounts::All, None), None, Some(vec![rule])).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "cannot list the organisation's accounts: {expected}; run from the management \
                 account or a delegated administrator, or name the accounts with --accounts \
                 ID,ID"
            )
        );
    }
}

#[test]
fn account_ids_role_names_and_external_ids_are_checked() {
    let ids = |text: &str| {
        Accounts::parse(text).map(|accounts| match accounts {
            Accounts::All => vec!["all".to_string()],
            Accounts::Listed(ids) => ids.iter().map(|id| id.as_str().to_string()).collect(),
        })
    };
    for (text, expected) in [
        ("all", Ok(vec!["all"])),
        (" ALL ", Ok(vec!["all"])),
        (
            "111122223333, 444455556666,111122223333",
            Ok(vec!["111122223333", "444455556666"]),
        ),
        (
            "11112222333",
            Err("\"11112222333\" is not an AWS account id"),
        ),
        (
            "111122223333,11112222333x",
            Err("\"11112222333x\" is not an AWS account id"),
        ),
        (
            "arn:aws:iam::111122223333:root",
            Err("is not an AWS account id"),
        ),
        (",", Err("no account given")),
    ] {
        match (ids(text), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
            (Err(got), Err(want)) => assert!(got.contains(want), "{text}: {got}"),
            (got, want) => panic!("{text}: {got:?}, expected {want:?}"),
        }
    }
    assert!(AccountId::parse("000000000000").is_ok());

    for (text, arn) in [
        (
            "portcullis-read",
            Some("arn:aws:iam::111122223333:role/portcullis-read"),
        ),
        (
            "/security/portcullis-read/",
            Some("arn:aws:iam::111122223333:role/security/portcullis-read"),
        ),
        (
            "a+b=c,d.e@f_g",
            Some("arn:aws:iam::111122223333:role/a+b=c,d.e@f_g"),
        ),
        ("", None),
        ("role name", None),
        ("role*", None),
    ] {
        let parsed = RoleName::parse(text).map(|role| role.arn("111122223333"));
        match arn {
            Some(arn) => assert_eq!(parsed.as_deref(), Ok(arn), "{text}"),
            None => assert!(
                parsed.is_err_and(|e| e.contains("is not an IAM role name")),
                "{text}"
            ),
        }
    }

    for (text, valid) in [
        ("audit-7", true),
        ("a:b/c=d", true),
        ("x", false),
        ("has space", false),
        (&"x".repeat(1225), false),
    ] {
        assert_eq!(parse_external_id(text).is_ok(), valid, "{text}");
    }
}
