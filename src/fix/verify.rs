//! Verification of an applied plan: the regions and subscriptions the plan touched are read
//! again and judged by the engine, and a change counts as done when the findings of the VMs it
//! affects are healthy, not when the API answered 200. A finding the plan lists as skipped may
//! stay unhealthy; any other is reported as not fixed.

use std::collections::{BTreeSet, HashSet};

use crate::cloud::aws::{self, Regions};
use crate::cloud::azure;
use crate::engine::{self, EngineConfig};
use crate::finding::{Finding, Status};
use crate::model::Snapshot;
use crate::policy::Policy;
use crate::verdict;

use super::clouds::{Connect, azure_options};
use super::plan::{Change, NewNsgChange, NicNsgChange, NsgRuleChange, Plan};

/// What the new scan found.
#[derive(Debug, Default)]
pub struct Verification {
    /// Findings of affected VMs that are healthy now.
    pub healthy: Vec<Finding>,
    /// Findings of affected VMs still unhealthy, though the plan does not skip them.
    pub not_fixed: Vec<Finding>,
    /// Findings still unhealthy that the plan skips (as planned).
    pub skipped: Vec<Finding>,
    /// Scopes that could not be read again: their VMs are not verified.
    pub unread: Vec<String>,
}

impl Verification {
    pub fn complete(&self) -> bool {
        self.not_fixed.is_empty() && self.unread.is_empty()
    }
}

/// Reads again the AWS regions and Azure subscriptions that `plan` writes to.
pub fn reread(plan: &Plan, connect: &Connect) -> Result<Snapshot, String> {
    let mut regions = BTreeSet::new();
    let mut subscriptions = BTreeSet::new();
    for change in &plan.changes {
        match change {
            Change::Aws(c) => regions.extend(c.region.clone()),
            Change::Azure(NsgRuleChange { nsg: id, .. })
            | Change::AzureNewNsg(NewNsgChange { nsg: id, .. })
            | Change::AzureNic(NicNsgChange { nic: id, .. }) => {
                subscriptions.extend(super::show::subscription(id).map(str::to_owned))
            }
        }
    }
    let mut snapshot = Snapshot::new();
    if !regions.is_empty() {
        let options = connect.aws_options(Regions::Named(regions.into_iter().collect()));
        let collected = aws::collect(&options).map_err(|e| e.to_string())?;
        snapshot.merge(collected.collected.snapshot);
    }
    if !subscriptions.is_empty() {
        let options = azure_options(connect, subscriptions.into_iter().collect());
        snapshot.merge(azure::collect(&options)?.snapshot);
    }
    Ok(snapshot)
}

/// Judges `snapshot` (read after the writes) for the VMs `plan`'s changes affect.
pub fn verify(plan: &Plan, snapshot: &Snapshot, policy: &Policy) -> Verification {
    let affected = plan.affected_vms();
    let skipped: HashSet<(&str, &str)> = plan
        .skipped
        .iter()
        .map(|s| (s.resource.as_str(), s.rule.as_str()))
        .collect();
    let exposures = engine::evaluate(snapshot, &EngineConfig::from_policy(policy));
    let mut verification = Verification {
        unread: snapshot
            .missing_scopes
            .iter()
            .map(ToString::to_string)
            .collect(),
        ..Verification::default()
    };
    for finding in verdict::judge(snapshot, &exposures, policy) {
        if !affected.contains(finding.resource.as_str())
            || !plan.recommendations.contains(&finding.rule)
        {
            continue;
        }
        let list = match finding.status {
            Status::Unhealthy
                if skipped.contains(&(finding.resource.as_str(), finding.rule.as_str())) =>
            {
                &mut verification.skipped
            }
            Status::Unhealthy => &mut verification.not_fixed,
            _ => &mut verification.healthy,
        };
        list.push(finding);
    }
    verification
}
