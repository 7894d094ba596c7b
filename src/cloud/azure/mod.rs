//! The Azure live collector: reads virtual machines (with power state), network interfaces,
//! public IP addresses, virtual networks with their subnets, NSGs, application security groups
//! and Defender JIT policies of every subscription asked for, straight from Resource Manager.
//!
//! Subscriptions are read in parallel, a bounded number at a time, each list of a subscription at
//! once, each within the scope deadline. [`arm`] is the only code that sends requests; it hands
//! up pages of ARM JSON, which the file loader's Azure reader turns into the snapshot, resource by
//! resource, as it does for exported files. Resources read live have no file or line, so the
//! snapshot has no origins.
//!
//! [`write`] changes single NSG rules (for `portcullis fix`), through the same [`arm`] client.

mod arm;
mod credential;
mod progress;
mod subscription;
pub mod write;

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Collected, CollectionReport};
use crate::limits::Limits;
use crate::model::{Provider, Snapshot};
use arm::Arm;
use progress::Progress;

pub use arm::PUBLIC_CLOUD;
pub use credential::{ACCESS_TOKEN_VARIABLE, Credential};

/// Subscriptions read at once. Resource Manager throttles reads per subscription, so this bounds
/// the load on the client side and the connections open, not on any one subscription.
const SUBSCRIPTIONS_AT_ONCE: usize = 8;

/// Which subscriptions to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subscriptions {
    /// Every subscription the identity can read.
    All,
    /// These, by id.
    Only(Vec<String>),
}

impl Subscriptions {
    /// `all`, or subscription ids (GUIDs), as given to `--subscriptions`.
    pub fn parse(values: &[String]) -> Result<Self, String> {
        let values: Vec<&str> = values
            .iter()
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() || values.iter().any(|v| v.eq_ignore_ascii_case("all")) {
            return if values.len() > 1 {
                Err("--subscriptions: give either all or subscription ids, not both".to_string())
            } else {
                Ok(Subscriptions::All)
            };
        }
        let mut ids = Vec::new();
        for value in values {
            if !value.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                return Err(format!(
                    "--subscriptions: {value:?} is not a subscription id (a GUID such as \
                     00000000-0000-0000-0000-000000000000); list yours with `az account list -o \
                     table`, or give all"
                ));
            }
            let id = value.to_ascii_lowercase();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(Subscriptions::Only(ids))
    }
}

/// How to collect.
#[derive(Debug)]
pub struct AzureOptions {
    pub subscriptions: Subscriptions,
    /// Resource Manager's URL; [`PUBLIC_CLOUD`] unless a sovereign cloud or a test says otherwise.
    pub arm_endpoint: String,
    pub credential: Credential,
    /// Draw progress bars on standard error (when it is a terminal).
    pub progress: bool,
    pub limits: Limits,
}

/// Reads the estate. Subscriptions that fail are listed in the report with their error, and the
/// others are still read; an error here means nothing could be read at all (no credential, an
/// unusable endpoint, a subscription list that cannot be read, a token every subscription
/// refused).
pub fn collect(options: &AzureOptions) -> Result<Collected, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the Azure collector: {e}"))?;
    runtime.block_on(collect_async(options))
}

async fn collect_async(options: &AzureOptions) -> Result<Collected, String> {
    let started = Instant::now();
    let arm = Arc::new(Arm::new(
        &options.arm_endpoint,
        &options.credential,
        options.limits,
    )?);
    arm.check_credential().await?;
    let listing = arm.session();
    let deadline = options.limits.scope_deadline;
    let mut ids = match &options.subscriptions {
        Subscriptions::Only(ids) => ids.clone(),
        Subscriptions::All => tokio::time::timeout(deadline, listing.subscriptions())
            .await
            .map_err(|_| subscription::out_of_time(&listing))
            .and_then(|listed| listed.map_err(|e| subscription::explain(&e)))
            .map_err(|e| {
                format!(
                    "cannot list the subscriptions at {}: {e}",
                    options.arm_endpoint
                )
            })?,
    };
    if ids.is_empty() {
        return Err(format!(
            "the identity can read no subscription at {}; give it the Reader role on the \
             subscriptions to scan",
            options.arm_endpoint
        ));
    }
    // A stable order, whatever order the subscription list came in.
    ids.sort_by_key(|id| id.to_ascii_lowercase());
    ids.dedup_by(|a, b| a.eq_ignore_ascii_case(b));

    let progress = Arc::new(Progress::new(options.progress, ids.len()));
    let limit = Arc::new(Semaphore::new(SUBSCRIPTIONS_AT_ONCE));
    let mut tasks = JoinSet::new();
    for (index, id) in ids.iter().cloned().enumerate() {
        let session = arm.session();
        let (limit, progress) = (limit.clone(), progress.clone());
        tasks.spawn(async move {
            // The semaphore is never closed, so acquiring only waits.
            let _permit = limit.acquire_owned().await;
            let line = progress.subscription(&id);
            (index, subscription::read(session, id, line).await)
        });
    }
    let mut reads = Vec::with_capacity(ids.len());
    while let Some(joined) = tasks.join_next().await {
        reads.push(joined.map_err(|e| format!("the Azure collector stopped: {e}"))?);
    }
    progress.finish();
    reads.sort_by_key(|(index, _)| *index);
    // A token that every subscription refused is no partial read: nothing can be read with it.
    if let Some(refused) = reads
        .iter()
        .map(|(_, read)| read.refused.as_ref())
        .collect::<Option<Vec<_>>>()
        .and_then(|refused| refused.first().copied())
    {
        return Err(format!(
            "every subscription refused the credential at {}: {}",
            options.arm_endpoint,
            subscription::explain(refused)
        ));
    }

    let mut snapshot = Snapshot::new();
    let mut scopes = Vec::with_capacity(reads.len());
    for (_, read) in reads {
        if let Some(part) = read.snapshot {
            snapshot.merge(part);
        }
        scopes.push(read.status);
    }
    // The loader recorded page labels and positions, which name no file a user has.
    snapshot.forget_origins();
    let report = CollectionReport {
        provider: Provider::Azure,
        complete: scopes.iter().all(|s| s.error.is_none()),
        api_calls: listing.calls() + scopes.iter().map(|s| s.api_calls).sum::<u64>(),
        resources: snapshot.resource_count(),
        seconds: started.elapsed().as_secs_f64(),
        scopes,
    };
    // A snapshot written from a partial collection says so when it is scanned later.
    snapshot.missing_scopes = report.missing_scopes();
    snapshot.read_scopes = report.read_scopes();
    Ok(Collected { snapshot, report })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_argument() {
        let parse = |values: &[&str]| {
            Subscriptions::parse(&values.iter().map(|v| v.to_string()).collect::<Vec<_>>())
        };
        let only = |ids: &[&str]| {
            Ok(Subscriptions::Only(
                ids.iter().map(|i| i.to_string()).collect(),
            ))
        };
        let id = "0a1b2c3d-0000-4000-8000-00000000000f";
        for (values, want) in [
            (vec![], Ok(Subscriptions::All)),
            (vec!["all"], Ok(Subscriptions::All)),
            (vec!["ALL"], Ok(Subscriptions::All)),
            (vec![id], only(&[id])),
            (vec![" 0A1B2C3D-0000-4000-8000-00000000000F "], only(&[id])),
            (vec![id, id, ""], only(&[id])),
        ] {
            assert_eq!(parse(&values), want, "{values:?}");
        }
        for bad in [vec!["all", id], vec!["my-subscription"], vec!["0000/../x"]] {
            assert!(parse(&bad).is_err(), "{bad:?}");
        }
    }
}
