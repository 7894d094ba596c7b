//! The live AWS collector: reads instances, security groups, network ACLs, route tables, subnets
//! and managed prefix lists from the EC2 API of every region asked for, into a [`Snapshot`]; of
//! one account, or of several accounts of an organisation ([`organization`]).
//!
//! Credentials and the default region come from the SDK's default chain (environment, profiles,
//! SSO, IMDS, assume-role through a profile). Regions (of every account) are read in parallel, at
//! most `concurrency` at a time; within a region the list calls run in parallel, each paged to
//! its end at the largest page size the call allows. A region that fails is reported in
//! the [`CollectionReport`] and contributes nothing (never half a region), and the others are
//! still read; so is an account that cannot be read at all. Every call is bounded
//! (docs/limits.md): a connect and a read timeout, a size limit on each response, a cap on retry
//! backoff, and a deadline per region (and per account's role and region list) past which it
//! fails and the others go on. [`write`] changes security group rules, for `fix`. This module is
//! the only code that uses the AWS SDK.

mod bounds;
mod calls;
mod config;
mod convert;
mod errors;
mod fetch;
mod organization;
mod progress;
#[cfg(test)]
mod tests;
pub mod write;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_ec2::Client;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Collected, CollectionReport, ScopeStatus};
use crate::limits::Limits;
use crate::model::{Provider, Snapshot};
use calls::CallCounter;
pub use organization::{AccountId, Accounts, Organization, RoleName, parse_external_id};
use progress::{Progress, RegionBar};

/// Which regions to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Regions {
    /// The region of the credential chain's configuration (profile, `AWS_REGION`).
    Configured,
    /// Every region enabled for the account, as DescribeRegions lists them.
    All,
    /// These regions, in this order.
    Named(Vec<String>),
}

impl Regions {
    /// `all`, or a comma-separated list of region names.
    pub fn parse(text: &str) -> Result<Regions, String> {
        if text.trim().eq_ignore_ascii_case("all") {
            return Ok(Regions::All);
        }
        let mut names: Vec<String> = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let valid = name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid {
                return Err(format!(
                    "{name:?} is not a region name; give `all` or names like us-east-1,eu-west-1"
                ));
            }
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
        if names.is_empty() {
            return Err("no region given; give `all` or names like us-east-1,eu-west-1".into());
        }
        Ok(Regions::Named(names))
    }
}

/// How to reach AWS and what to read.
#[derive(Clone, Debug)]
pub struct AwsOptions {
    pub regions: Regions,
    /// A named profile of the shared config files, instead of the default chain's choice.
    pub profile: Option<String>,
    /// Another EC2 endpoint (a local emulator, a VPC endpoint); `AWS_ENDPOINT_URL_EC2` and
    /// `AWS_ENDPOINT_URL` are honoured without it.
    pub endpoint_url: Option<String>,
    /// Regions read at the same time.
    pub concurrency: usize,
    /// Progress bars on standard error (drawn only on a terminal).
    pub progress: bool,
    /// Timeouts, the deadline of each region, retry and response size bounds.
    pub limits: Limits,
    /// The accounts of an organisation to read through a member role, instead of the
    /// credentials' own account alone.
    pub organization: Option<Organization>,
}

/// Why nothing could be collected at all (as opposed to one region failing), and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AwsError(pub String);

/// When one region's reading started and ended, in seconds from the start of the collection.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionSpan {
    /// The region's account, in an organisation scan.
    pub account: Option<String>,
    pub region: String,
    pub started: f64,
    pub finished: f64,
}

/// What [`collect`] read, and when each region was read.
#[derive(Debug)]
pub struct AwsCollected {
    pub collected: Collected,
    pub spans: Vec<RegionSpan>,
}

/// One region to read, with the configuration (credentials) of its account.
struct RegionTarget {
    /// The account, in an organisation scan.
    account: Option<String>,
    region: String,
    config: aws_sdk_ec2::Config,
}

/// Reads the estate. Fails only when nothing can be read at all (no credentials, no region,
/// DescribeRegions refused, the organisation's accounts not listed); a region or member account
/// that fails is reported in the result instead.
pub fn collect(options: &AwsOptions) -> Result<AwsCollected, AwsError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| AwsError(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let started = Instant::now();
        let setup = config::load(options).await?;
        collect_with(&setup, options, started).await
    })
}

/// Reads the estate with the clients `setup` configures.
async fn collect_with(
    setup: &config::Setup,
    options: &AwsOptions,
    started: Instant,
) -> Result<AwsCollected, AwsError> {
    if options.regions == Regions::Configured && setup.default_region.is_none() {
        return Err(AwsError(NO_REGION.to_string()));
    }
    let counter = CallCounter::default();
    let (targets, failed_accounts, progress) = match &options.organization {
        None => {
            let targets = own_account(setup, &counter, options).await?;
            let names: Vec<String> = targets.iter().map(|t| t.region.clone()).collect();
            (targets, Vec::new(), Progress::new(options.progress, &names))
        }
        Some(organization) => {
            let (targets, failed) =
                organization::targets(setup, &counter, options, organization).await?;
            let progress = Progress::combined(options.progress, targets.len());
            (targets, failed, progress)
        }
    };
    let mut collection = collect_regions(
        &targets,
        options.concurrency,
        options.limits.scope_deadline,
        progress,
        started,
    )
    .await;
    collection.add_failed_accounts(failed_accounts);
    collection.collected.report.api_calls += counter.calls();
    collection.collected.report.seconds = started.elapsed().as_secs_f64();
    Ok(collection)
}

/// The regions of the credentials' own account.
async fn own_account(
    setup: &config::Setup,
    counter: &CallCounter,
    options: &AwsOptions,
) -> Result<Vec<RegionTarget>, AwsError> {
    // Any region answers DescribeRegions; us-east-1 when none is configured.
    let region = setup.default_region.as_deref().unwrap_or("us-east-1");
    let client = counter.client(&setup.base, region);
    let deadline = options.limits.scope_deadline;
    let regions = tokio::time::timeout(
        deadline,
        regions_of(&client, &options.regions, setup.default_region.as_deref()),
    )
    .await
    .unwrap_or_else(|_| Err(timed_out("DescribeRegions", deadline)))
    .map_err(AwsError)?;
    Ok(regions
        .into_iter()
        .map(|region| RegionTarget {
            account: None,
            region,
            config: setup.base.clone(),
        })
        .collect())
}

const NO_REGION: &str = "no AWS region configured; pass --regions us-east-1,… or --regions all, \
                         or set a region in your profile or AWS_REGION";

/// The regions to read in the account `client` has credentials for.
async fn regions_of(
    client: &Client,
    regions: &Regions,
    default_region: Option<&str>,
) -> Result<Vec<String>, String> {
    match regions {
        Regions::Named(names) => Ok(names.clone()),
        Regions::Configured => default_region
            .map(|r| vec![r.to_string()])
            .ok_or_else(|| NO_REGION.to_string()),
        Regions::All => fetch::enabled_regions(client).await.map_err(|e| {
            format!(
                "cannot list the account's regions: {e}; pass the regions with --regions \
                 us-east-1,… instead"
            )
        }),
    }
}

/// How reading one region went.
struct RegionOutcome {
    result: Result<Snapshot, String>,
    calls: u64,
    span: RegionSpan,
}

/// Reads each region with a client made from its configuration, at most `concurrency` regions
/// at a time, each within `deadline` from its start, and assembles the snapshot and report in
/// the order given.
async fn collect_regions(
    targets: &[RegionTarget],
    concurrency: usize,
    deadline: Duration,
    progress: Progress,
    started: Instant,
) -> AwsCollected {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for (index, target) in targets.iter().enumerate() {
        let counter = CallCounter::default();
        let client = counter.client(&target.config, &target.region);
        let permits = Arc::clone(&permits);
        let bar = progress.bar(index);
        let account = target.account.clone();
        let region = target.region.clone();
        tasks.spawn(async move {
            // The semaphore is never closed, so acquiring only waits for a permit.
            let _permit = permits.acquire_owned().await;
            let from = started.elapsed();
            bar.start();
            let result = tokio::time::timeout(deadline, read_region(&client, &bar))
                .await
                .unwrap_or_else(|_| Err(timed_out("the region", deadline)));
            let span = RegionSpan {
                account,
                region,
                started: from.as_secs_f64(),
                finished: started.elapsed().as_secs_f64(),
            };
            bar.finish(&result, counter.calls());
            let calls = counter.calls();
            (
                index,
                RegionOutcome {
                    result,
                    calls,
                    span,
                },
            )
        });
    }
    let mut outcomes: Vec<Option<RegionOutcome>> = targets.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        // A task that panicked leaves its region without an outcome; it is reported below.
        if let Ok((index, outcome)) = joined
            && let Some(slot) = outcomes.get_mut(index)
        {
            *slot = Some(outcome);
        }
    }
    let mut snapshot = Snapshot::new();
    let mut scopes = Vec::with_capacity(targets.len());
    let mut spans = Vec::with_capacity(targets.len());
    for (target, outcome) in targets.iter().zip(outcomes) {
        let Some(outcome) = outcome else {
            scopes.push(scope(
                target,
                Err("reading the region stopped on an internal error".into()),
                0,
            ));
            continue;
        };
        let resources = outcome.result.as_ref().map(Snapshot::resource_count);
        scopes.push(scope(
            target,
            resources.map_err(Clone::clone),
            outcome.calls,
        ));
        if let Ok(part) = outcome.result {
            snapshot.merge(part);
        }
        spans.push(outcome.span);
    }
    let report = CollectionReport {
        provider: Provider::Aws,
        complete: true,
        api_calls: 0,
        resources: snapshot.resource_count(),
        seconds: 0.0,
        scopes: Vec::new(),
    };
    let mut collection = AwsCollected {
        collected: Collected { snapshot, report },
        spans,
    };
    collection.set_scopes(scopes);
    collection
}

impl AwsCollected {
    /// Member accounts that could not be read at all, before the regions of the others.
    fn add_failed_accounts(&mut self, mut accounts: Vec<ScopeStatus>) {
        if accounts.is_empty() {
            return;
        }
        accounts.append(&mut self.collected.report.scopes);
        self.set_scopes(accounts);
    }

    /// Makes `scopes` the report's, with the totals they add up to, and records in the snapshot
    /// which were read and which were not.
    fn set_scopes(&mut self, scopes: Vec<ScopeStatus>) {
        let report = &mut self.collected.report;
        report.api_calls = scopes.iter().map(|s| s.api_calls).sum();
        report.complete = scopes.iter().all(|s| s.error.is_none());
        report.scopes = scopes;
        self.collected.snapshot.missing_scopes = report.missing_scopes();
        self.collected.snapshot.read_scopes = report.read_scopes();
    }
}

/// One region's snapshot, or why it could not be read.
async fn read_region(client: &Client, bar: &RegionBar) -> Result<Snapshot, String> {
    let data = fetch::region(client, bar).await?;
    convert::snapshot(data)
}

/// Why a read given up at its deadline failed.
fn timed_out(what: &str, deadline: Duration) -> String {
    format!(
        "timed out: {what} was not read within {deadline:?} (--scope-deadline); the endpoint is \
         slow or silent"
    )
}

fn scope(target: &RegionTarget, result: Result<usize, String>, api_calls: u64) -> ScopeStatus {
    let (resources, error) = match result {
        Ok(resources) => (resources, None),
        Err(error) => (0, Some(error)),
    };
    ScopeStatus {
        name: target.region.clone(),
        kind: "region",
        account: target.account.clone(),
        error,
        api_calls,
        resources,
    }
}
