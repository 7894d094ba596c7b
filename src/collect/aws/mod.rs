//! The live AWS collector: reads instances, security groups, network ACLs, route tables, subnets
//! and managed prefix lists from the EC2 API of every region asked for, into a [`Snapshot`].
//!
//! Credentials and the default region come from the SDK's default chain (environment, profiles,
//! SSO, IMDS, assume-role through a profile). Regions are read in parallel, at most
//! `concurrency` at a time; within a region the list calls run in parallel, each paged to its
//! end at the largest page size the call allows. A region that fails is reported in
//! the [`CollectionReport`] and contributes nothing (never half a region), and the others are
//! still read. Every call is bounded (docs/limits.md): a connect and a read timeout, a size limit
//! on each response, a cap on retry backoff, and a deadline per region past which that region
//! fails and the others go on. This module is the only code that uses the AWS SDK.

mod bounds;
mod calls;
mod config;
mod convert;
mod errors;
mod fetch;
mod progress;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_ec2::Client;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Collected, CollectionReport, ScopeStatus};
use crate::limits::Limits;
use crate::model::{Provider, Snapshot};
use calls::CallCounter;
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
}

/// Why nothing could be collected at all (as opposed to one region failing), and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AwsError(pub String);

/// When one region's reading started and ended, in seconds from the start of the collection.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionSpan {
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

/// Reads the estate. Fails only when no region can be read at all (no credentials, no region,
/// DescribeRegions refused); a region that fails is reported in the result instead.
pub fn collect(options: &AwsOptions) -> Result<AwsCollected, AwsError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| AwsError(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let started = Instant::now();
        let setup = config::load(options).await?;
        let counter = CallCounter::default();
        let regions = match &options.regions {
            Regions::Named(names) => names.clone(),
            Regions::Configured => vec![setup.default_region.clone().ok_or_else(|| {
                AwsError(
                    "no AWS region configured; pass --regions us-east-1,… or --regions all, or \
                     set a region in your profile or AWS_REGION"
                        .to_string(),
                )
            })?],
            Regions::All => {
                // Any region answers DescribeRegions; us-east-1 when none is configured.
                let region = setup.default_region.as_deref().unwrap_or("us-east-1");
                let client = counter.client(&setup.base, region);
                let deadline = options.limits.scope_deadline;
                let listed = tokio::time::timeout(deadline, fetch::enabled_regions(&client))
                    .await
                    .unwrap_or_else(|_| Err(timed_out("DescribeRegions", deadline)));
                listed.map_err(|e| {
                    AwsError(format!(
                        "cannot list the account's regions: {e}; pass the regions with \
                         --regions us-east-1,… instead"
                    ))
                })?
            }
        };
        let progress = Progress::new(options.progress, &regions);
        let regions: Vec<(String, aws_sdk_ec2::Config)> = regions
            .into_iter()
            .map(|region| (region, setup.base.clone()))
            .collect();
        let mut collection = collect_regions(
            &regions,
            options.concurrency,
            options.limits.scope_deadline,
            progress,
            started,
        )
        .await;
        collection.collected.report.api_calls += counter.calls();
        collection.collected.report.seconds = started.elapsed().as_secs_f64();
        Ok(collection)
    })
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
    regions: &[(String, aws_sdk_ec2::Config)],
    concurrency: usize,
    deadline: Duration,
    progress: Progress,
    started: Instant,
) -> AwsCollected {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for (index, (region, base)) in regions.iter().enumerate() {
        let counter = CallCounter::default();
        let client = counter.client(base, region);
        let permits = Arc::clone(&permits);
        let bar = progress.bar(index);
        let region = region.clone();
        tasks.spawn(async move {
            // The semaphore is never closed, so acquiring only waits for a permit.
            let _permit = permits.acquire_owned().await;
            let from = started.elapsed();
            bar.start();
            let result = tokio::time::timeout(deadline, read_region(&client, &bar))
                .await
                .unwrap_or_else(|_| Err(timed_out("the region", deadline)));
            let span = RegionSpan {
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
    let mut outcomes: Vec<Option<RegionOutcome>> = regions.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        // A task that panicked leaves its region without an outcome; it is reported below.
        if let Ok((index, outcome)) = joined
            && let Some(slot) = outcomes.get_mut(index)
        {
            *slot = Some(outcome);
        }
    }
    let mut snapshot = Snapshot::new();
    let mut scopes = Vec::with_capacity(regions.len());
    let mut spans = Vec::with_capacity(regions.len());
    for ((region, _), outcome) in regions.iter().zip(outcomes) {
        let Some(outcome) = outcome else {
            scopes.push(scope(
                region,
                Err("reading the region stopped on an internal error".into()),
                0,
            ));
            continue;
        };
        let resources = outcome.result.as_ref().map(Snapshot::resource_count);
        scopes.push(scope(
            region,
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
        complete: scopes.iter().all(|s| s.error.is_none()),
        api_calls: scopes.iter().map(|s| s.api_calls).sum(),
        resources: snapshot.resource_count(),
        seconds: 0.0,
        scopes,
    };
    snapshot.missing_scopes = report.missing_scopes();
    AwsCollected {
        collected: Collected { snapshot, report },
        spans,
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

fn scope(region: &str, result: Result<usize, String>, api_calls: u64) -> ScopeStatus {
    let (resources, error) = match result {
        Ok(resources) => (resources, None),
        Err(error) => (0, Some(error)),
    };
    ScopeStatus {
        name: region.to_string(),
        kind: "region",
        error,
        api_calls,
        resources,
    }
}
