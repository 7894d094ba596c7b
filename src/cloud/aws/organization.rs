//! Organisation scans (`--accounts`, `--role-name`): which member accounts to read, and how to
//! read each.
//!
//! `--accounts all` lists the organisation's ACTIVE accounts with Organizations `ListAccounts`
//! (allowed in the management account and a delegated administrator), paged by hand with the
//! same [`PageGuard`] as every EC2 listing; explicit ids are used as given, without listing. A
//! member is read through the role `arn:aws:iam::<account>:role/<NAME>`, assumed with STS
//! `AssumeRole` (session `portcullis-scan`, with `--external-id` when given) before its regions
//! are read, and assumed again should a long scan outlast the session. The caller's own account
//! (STS `GetCallerIdentity`), when it is one of the accounts, is read with the caller's own
//! credentials: the management account seldom holds the member role, which StackSets do not
//! deploy there. A member whose role cannot be assumed, or whose regions cannot be listed, is
//! reported as a failed account; the others are still read.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, error::CredentialsError, future};
use aws_sdk_organizations::types::{Account, AccountState, AccountStatus};
use futures::StreamExt;

use super::calls::CallCounter;
use super::config::Setup;
use super::fetch::PageGuard;
use super::{AwsError, AwsOptions, RegionTarget, errors, regions_of, timed_out};
use crate::cloud::{ACCOUNT, ScopeStatus};

/// The session name member roles see in CloudTrail.
const SESSION_NAME: &str = "portcullis-scan";

/// Largest `MaxResults` of ListAccounts.
const ACCOUNTS_PAGE: i32 = 20;

/// A twelve-digit AWS account id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(text: &str) -> Result<AccountId, String> {
        let text = text.trim();
        if text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(AccountId(text.to_string()))
        } else {
            Err(format!(
                "{text:?} is not an AWS account id; give `all` or twelve-digit ids like \
                 111122223333,444455556666"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which accounts of the organisation to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accounts {
    /// Every ACTIVE account ListAccounts lists.
    All,
    /// These accounts, in this order.
    Listed(Vec<AccountId>),
}

impl Accounts {
    /// `all`, or a comma-separated list of account ids.
    pub fn parse(text: &str) -> Result<Accounts, String> {
        if text.trim().eq_ignore_ascii_case("all") {
            return Ok(Accounts::All);
        }
        let mut ids: Vec<AccountId> = Vec::new();
        for id in text.split(',').filter(|id| !id.trim().is_empty()) {
            let id = AccountId::parse(id)?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if ids.is_empty() {
            return Err(
                "no account given; give `all` or ids like 111122223333,444455556666".into(),
            );
        }
        Ok(Accounts::Listed(ids))
    }
}

/// The name (with its path, if any) of the role every member account holds for portcullis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleName(String);

impl RoleName {
    /// An IAM role name, `portcullis-read`, or a path and name, `security/portcullis-read`.
    pub fn parse(text: &str) -> Result<RoleName, String> {
        let valid = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c);
        let name = text.trim_matches('/');
        if name.is_empty() || name.len() > 512 || !name.chars().all(valid) {
            return Err(format!(
                "{text:?} is not an IAM role name; give the name the member accounts' role has, \
                 like portcullis-read (letters, digits and +=,.@_- only, optionally after a path)"
            ));
        }
        Ok(RoleName(name.to_string()))
    }

    /// The role's ARN in `account`.
    fn arn(&self, account: &str) -> String {
        format!("arn:aws:iam::{account}:role/{}", self.0)
    }
}

/// What an organisation scan reads and as whom.
#[derive(Clone, Debug)]
pub struct Organization {
    pub accounts: Accounts,
    pub role_name: RoleName,
    /// The external id the member role's trust policy asks for.
    pub external_id: Option<String>,
}

/// Checks an external id as STS accepts it: 2 to 1224 characters of letters, digits and `+=,.@:/-_`.
pub fn parse_external_id(text: &str) -> Result<String, String> {
    let valid = |c: char| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c);
    if (2..=1224).contains(&text.len()) && text.chars().all(valid) {
        Ok(text.to_string())
    } else {
        Err(
            "an external id is 2 to 1224 letters, digits or +=,.@:/-_; give the one the member \
             role's trust policy names"
                .to_string(),
        )
    }
}

/// How one account is read.
#[derive(Debug, PartialEq, Eq)]
enum Access {
    /// With the caller's own credentials: the account is the caller's.
    Caller,
    /// Through the member role of this ARN.
    Role(String),
}

/// An account to read.
#[derive(Debug, PartialEq, Eq)]
struct Member {
    id: String,
    access: Access,
}

/// The region targets of every account that can be read, and a failed scope for each that
/// cannot. Fails only when the accounts themselves cannot be known (the caller's identity, or
/// ListAccounts for `all`).
pub(super) async fn targets(
    setup: &Setup,
    counter: &CallCounter,
    options: &AwsOptions,
    organization: &Organization,
) -> Result<(Vec<RegionTarget>, Vec<ScopeStatus>), AwsError> {
    let sts = counter.sts(&setup.sts);
    let deadline = options.limits.scope_deadline;
    let members = tokio::time::timeout(deadline, members(&sts, counter, setup, organization))
        .await
        .unwrap_or_else(|_| Err(timed_out("the organisation's accounts", deadline)))
        .map_err(AwsError)?;
    let prepared: Vec<(String, Result<Vec<RegionTarget>, String>)> = futures::stream::iter(members)
        .map(|member| {
            let sts = sts.clone();
            async move {
                let targets = tokio::time::timeout(
                    deadline,
                    prepare(setup, counter, options, organization, &sts, &member),
                )
                .await
                .unwrap_or_else(|_| Err(timed_out("the account's role and regions", deadline)));
                (member.id, targets)
            }
        })
        .buffered(options.concurrency.max(1))
        .collect()
        .await;
    let mut targets = Vec::new();
    let mut failed = Vec::new();
    for (account, prepared) in prepared {
        match prepared {
            Ok(mut regions) => targets.append(&mut regions),
            Err(error) => failed.push(ScopeStatus {
                name: account.clone(),
                kind: ACCOUNT,
                account: Some(account),
                error: Some(error),
                api_calls: 0,
                resources: 0,
            }),
        }
    }
    Ok((targets, failed))
}

/// The accounts to read, each with how to read it.
async fn members(
    sts: &aws_sdk_sts::Client,
    counter: &CallCounter,
    setup: &Setup,
    organization: &Organization,
) -> Result<Vec<Member>, String> {
    let caller = caller_account(sts).await?;
    let ids = match &organization.accounts {
        Accounts::Listed(ids) => ids.iter().map(|id| id.as_str().to_string()).collect(),
        Accounts::All => active_accounts(&counter.organizations(&setup.organizations))
            .await
            .map_err(|e| {
                format!(
                    "cannot list the organisation's accounts: {e}; run from the management \
                     account or a delegated administrator, or name the accounts with --accounts \
                     ID,ID"
                )
            })?,
    };
    Ok(ids
        .into_iter()
        .map(|id| {
            let access = if id == caller {
                Access::Caller
            } else {
                Access::Role(organization.role_name.arn(&id))
            };
            Member { id, access }
        })
        .collect())
}

/// Who portcullis runs as: GetCallerIdentity's answer.
pub(super) async fn caller_identity(
    sts: &aws_sdk_sts::Client,
) -> Result<aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput, String> {
    sts.get_caller_identity()
        .send()
        .await
        .map_err(|e| errors::describe("GetCallerIdentity", &e))
}

/// The id of the account whose credentials portcullis runs with.
async fn caller_account(sts: &aws_sdk_sts::Client) -> Result<String, String> {
    let identity = caller_identity(sts).await?;
    identity.account.ok_or_else(|| {
        "GetCallerIdentity: the answer names no account; check --endpoint-url".to_string()
    })
}

/// The ids of the organisation's ACTIVE accounts, sorted; every page of ListAccounts.
async fn active_accounts(client: &aws_sdk_organizations::Client) -> Result<Vec<String>, String> {
    let mut guard = PageGuard::listing("ListAccounts", "the organisation's accounts");
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_accounts()
            .max_results(ACCOUNTS_PAGE)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| errors::describe("ListAccounts", &e))?;
        ids.extend(
            page.accounts()
                .iter()
                .filter(|account| is_active(account))
                .filter_map(|account| account.id().map(str::to_string)),
        );
        match guard.next(page.next_token)? {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Whether the account can be read: its `State` is ACTIVE, or its (older) `Status` when it has
/// no state.
fn is_active(account: &Account) -> bool {
    match account.state() {
        Some(state) => *state == AccountState::Active,
        None => account.status() == Some(&AccountStatus::Active),
    }
}

/// The region targets of one account: credentials in it, then its regions.
async fn prepare(
    setup: &Setup,
    counter: &CallCounter,
    options: &AwsOptions,
    organization: &Organization,
    sts: &aws_sdk_sts::Client,
    member: &Member,
) -> Result<Vec<RegionTarget>, String> {
    let config = match &member.access {
        Access::Caller => setup.base.clone(),
        Access::Role(arn) => {
            let session = RoleSession::start(sts, arn, organization.external_id.as_deref()).await?;
            setup
                .base
                .to_builder()
                .credentials_provider(session)
                .build()
        }
    };
    let regions = regions_of(
        &counter.client(
            &config,
            setup.default_region.as_deref().unwrap_or("us-east-1"),
        ),
        &options.regions,
        setup.default_region.as_deref(),
    )
    .await?;
    Ok(regions
        .into_iter()
        .map(|region| RegionTarget {
            account: Some(member.id.clone()),
            region,
            config: config.clone(),
        })
        .collect())
}

/// Credentials of an assumed member role, shared by the account's regions: those of the first
/// AssumeRole, then of another once they are within [`RENEW_BEFORE`] of their end.
#[derive(Debug)]
struct RoleSession {
    sts: aws_sdk_sts::Client,
    arn: String,
    external_id: Option<String>,
    current: Mutex<Credentials>,
}

/// How long before its end a session is renewed.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

impl RoleSession {
    /// Assumes the role once, so that a role that cannot be assumed fails its account here.
    async fn start(
        sts: &aws_sdk_sts::Client,
        arn: &str,
        external_id: Option<&str>,
    ) -> Result<RoleSession, String> {
        let first = assume(sts, arn, external_id).await?;
        Ok(RoleSession {
            sts: sts.clone(),
            arn: arn.to_string(),
            external_id: external_id.map(str::to_string),
            current: Mutex::new(first),
        })
    }

    async fn next(&self) -> provider::Result {
        let current = self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let renew_at = SystemTime::now() + RENEW_BEFORE;
        if current.expiry().is_none_or(|end| end > renew_at) {
            return Ok(current);
        }
        let renewed = assume(&self.sts, &self.arn, self.external_id.as_deref())
            .await
            .map_err(CredentialsError::provider_error)?;
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = renewed.clone();
        Ok(renewed)
    }
}

impl ProvideCredentials for RoleSession {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.next())
    }
}

/// One AssumeRole of the member role `arn`.
async fn assume(
    sts: &aws_sdk_sts::Client,
    arn: &str,
    external_id: Option<&str>,
) -> Result<Credentials, String> {
    let output = sts
        .assume_role()
        .role_arn(arn)
        .role_session_name(SESSION_NAME)
        .set_external_id(external_id.map(str::to_string))
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot assume {arn}: {}",
                errors::describe("AssumeRole", &e)
            )
        })?;
    let credentials = output
        .credentials
        .ok_or_else(|| format!("cannot assume {arn}: AssumeRole answered no credentials"))?;
    Ok(Credentials::new(
        credentials.access_key_id,
        credentials.secret_access_key,
        Some(credentials.session_token),
        SystemTime::try_from(credentials.expiration).ok(),
        "portcullis-member-role",
    ))
}

#[cfg(test)]
mod tests;
