//! The fix pipeline: snapshot → findings to fix → a strategy's edits of a working copy of the
//! snapshot → the plan (the edits as rule-by-rule changes, with before- and after-images and
//! blast radius) → its readable diff.
//!
//! [`plan()`] runs it in one call, as [`crate::scan::scan`] runs a scan. When the plan fixes
//! `internet-facing-vm-nsg`, NICs without a filter get a new NSG first ([`nsg_attach`]). A
//! strategy then edits a copy of the snapshot one rule at a time ([`quick_fix`], [`lockdown`]),
//! judging the copy again after each round, until the selected findings are healthy or nothing more can be done; [`edit`]
//! turns the copy's differences from the original into [`plan::Change`]s and applies a plan to
//! a snapshot (the pure function that `fix apply`'s verification can reuse); [`show`] prints a
//! plan; [`journal`] is the write-ahead log that applying will keep. Rules come from the
//! findings' typed evidence ([`crate::rule_ref`]), and every address
//! computation is the engine's set arithmetic ([`crate::addrset`]).

pub mod apply;
pub mod clouds;
pub mod edit;
pub mod journal;
mod lockdown;
mod nsg_attach;
pub mod plan;
mod quick_fix;
pub mod recover;
pub mod show;
pub mod step;
pub mod undo;
pub mod verify;

use std::collections::{BTreeMap, HashMap};

use crate::engine::{self, EngineConfig, Exposures, PrefixLists};
use crate::exemptions::VmSelector;
use crate::finding::{Finding, Status};
use crate::model::{Snapshot, Vm};
use crate::policy::{Policy, Recommendation, RecommendationKind, Thresholds};
use crate::verdict;
use edit::Workspace;
pub use edit::{ApplyError, apply_to_snapshot};
use plan::{JitPolicyPlan, PLAN_VERSION, Skipped};
pub use plan::{Plan, PlanSource, Strategy};

/// How many times a strategy judges its working copy again: each round fixes the rules that the
/// previous one uncovered (an allow that an edited rule used to shadow).
const MAX_ROUNDS: usize = 8;

/// Prefix of the rules portcullis creates, in NSGs: lock-down denies and the companions that
/// keep narrow sources. `portcullis-jit-` is reserved for time-boxed grants.
pub const LOCK_PREFIX: &str = "portcullis-lock-";

/// What `fix plan` was asked for.
#[derive(Debug)]
pub struct PlanOptions {
    pub strategy: Strategy,
    /// Recommendation ids; empty means the strategy's default.
    pub recommendations: Vec<String>,
    /// VMs to fix; empty means all.
    pub resources: Vec<VmSelector>,
    pub allow_protocol_narrowing: bool,
}

/// Why a plan cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "--rule {id}: no such recommendation in the policy; `portcullis rules list` shows them"
    )]
    UnknownRecommendation { id: String },
}

/// Plans the fix of `snapshot`'s unhealthy findings.
pub fn plan(
    snapshot: &Snapshot,
    policy: &Policy,
    options: &PlanOptions,
    source: PlanSource,
    created: String,
) -> Result<Plan, PlanError> {
    let context = Context::new(policy, options)?;
    let mut work = Workspace::new(snapshot);
    let mut skipped = nsg_attach::run(&mut work, &context);
    let (mut by_strategy, jit_policies) = match options.strategy {
        _ if context.recommendations.is_empty() => (Vec::new(), Vec::new()),
        Strategy::QuickFix => (quick_fix::run(&mut work, &context), Vec::new()),
        Strategy::Jit => lockdown::run(&mut work, &context),
    };
    skipped.append(&mut by_strategy);
    let changes = work.changes(snapshot);
    let mut plan = Plan {
        portcullis_plan: PLAN_VERSION,
        id: String::new(),
        created,
        source,
        strategy: options.strategy,
        recommendations: context
            .filters
            .iter()
            .chain(&context.recommendations)
            .map(|r| r.id.clone())
            .collect(),
        policy_digest: policy.digest(),
        allow_protocol_narrowing: options.allow_protocol_narrowing,
        changes,
        skipped,
        jit_policies,
    };
    plan.id = plan.digest();
    Ok(plan)
}

/// What every stage needs: the policy, the findings to fix, and how to judge a source.
struct Context<'a> {
    config: EngineConfig,
    policy: &'a Policy,
    /// The management-port recommendations the strategy fixes.
    recommendations: Vec<&'a Recommendation>,
    /// The internet-facing-filtered recommendations, fixed by a new NSG.
    filters: Vec<&'a Recommendation>,
    selectors: &'a [VmSelector],
    /// The strictest open thresholds of the recommendations: a source is narrow within them.
    thresholds: Thresholds,
    allow_protocol_narrowing: bool,
}

impl<'a> Context<'a> {
    fn new(policy: &'a Policy, options: &'a PlanOptions) -> Result<Self, PlanError> {
        let ids: Vec<&str> = if options.recommendations.is_empty() {
            vec![options.strategy.default_recommendation()]
        } else {
            options.recommendations.iter().map(String::as_str).collect()
        };
        let mut recommendations = Vec::new();
        let mut filters = Vec::new();
        for id in ids {
            let rec = policy
                .recommendation(id)
                .ok_or_else(|| PlanError::UnknownRecommendation { id: id.to_owned() })?;
            let list: &mut Vec<&Recommendation> = match rec.kind {
                RecommendationKind::PortsClosed | RecommendationKind::PortsJit => {
                    &mut recommendations
                }
                RecommendationKind::InternetFacingFiltered => &mut filters,
            };
            if !list.iter().any(|r| r.id == rec.id) {
                list.push(rec);
            }
        }
        let thresholds = Thresholds {
            ipv4_addresses: recommendations
                .iter()
                .map(|r| r.thresholds.ipv4_addresses)
                .min()
                .unwrap_or(policy.thresholds.ipv4_addresses),
            ipv6_addresses: recommendations
                .iter()
                .map(|r| r.thresholds.ipv6_addresses)
                .min()
                .unwrap_or(policy.thresholds.ipv6_addresses),
        };
        Ok(Self {
            config: EngineConfig::from_policy(policy),
            policy,
            recommendations,
            filters,
            selectors: &options.resources,
            thresholds,
            allow_protocol_narrowing: options.allow_protocol_narrowing,
        })
    }

    fn selected(&self, vm: &Vm) -> bool {
        self.selectors.is_empty() || self.selectors.iter().any(|s| s.matches(vm))
    }

    /// The unhealthy findings of the management-port recommendations on the selected VMs.
    fn unhealthy(&self, snapshot: &Snapshot) -> Vec<Finding> {
        self.unhealthy_of(snapshot, &self.recommendations).1
    }

    /// The unhealthy findings of `recommendations` on the selected VMs, with the exposures they
    /// were judged from.
    fn unhealthy_of(
        &self,
        snapshot: &Snapshot,
        recommendations: &[&Recommendation],
    ) -> (Exposures, Vec<Finding>) {
        let exposures = engine::evaluate(snapshot, &self.config);
        let selected: HashMap<&str, bool> = snapshot
            .vms
            .iter()
            .map(|vm| (vm.id.as_str(), self.selected(vm)))
            .collect();
        let findings = verdict::judge(snapshot, &exposures, self.policy)
            .into_iter()
            .filter(|f| {
                f.status == Status::Unhealthy
                    && recommendations.iter().any(|r| r.id == f.rule)
                    && selected.get(f.resource.as_str()).copied().unwrap_or(false)
            })
            .collect();
        (exposures, findings)
    }

    fn prefix_lists(&self, snapshot: &Snapshot) -> PrefixLists {
        engine::prefix_lists(&snapshot.prefix_lists)
    }
}

/// The skipped entries for findings still unhealthy at the end: each with the reasons recorded
/// for its VM, else that narrow sources remain.
fn still_unhealthy(
    remaining: &[Finding],
    reasons: &BTreeMap<String, Vec<plan::SkipReason>>,
) -> Vec<Skipped> {
    let mut skipped = Vec::new();
    for finding in remaining {
        let recorded = reasons.get(&finding.resource).cloned().unwrap_or_default();
        let reasons = if recorded.is_empty() {
            vec![plan::SkipReason::NarrowSourcesKept {
                ports: finding.ports.clone(),
            }]
        } else {
            recorded
        };
        for reason in reasons {
            skipped.push(Skipped {
                resource: finding.resource.clone(),
                resource_name: finding.resource_name.clone(),
                rule: finding.rule.clone(),
                reason,
            });
        }
    }
    skipped
}

/// The JIT policy of a locked-down VM: its ports, and the narrow sources that had standing
/// access (else any requester's address), for at most three hours a request.
fn jit_policy(finding: &Finding, narrow_sources: Vec<String>) -> JitPolicyPlan {
    JitPolicyPlan {
        vm: finding.resource.clone(),
        vm_name: finding.resource_name.clone(),
        ports: finding.ports.clone(),
        allowed_sources: if narrow_sources.is_empty() {
            vec!["*".to_owned()]
        } else {
            narrow_sources
        },
        max_duration: "PT3H".to_owned(),
    }
}

#[cfg(test)]
mod tests;
