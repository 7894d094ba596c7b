//! The secure score: how much of each control's points an estate earns, per scope and overall.
//!
//! Per control and resource, the verdicts of the control's recommendations combine into one:
//! unhealthy if any is unhealthy, healthy if none is and one is healthy, not applicable
//! otherwise. A control earns `max_points × healthy / (healthy + unhealthy)`, or all its points
//! when nothing is healthy or unhealthy; the score is the points earned over the points
//! possible, as a percentage.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::finding::{Finding, Status};
use crate::model::Provider;
use crate::policy::{Control, Policy};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Score {
    pub percent: f64,
    pub controls: Vec<ControlScore>,
    /// One per subscription or account, sorted by scope then provider.
    pub scopes: Vec<ScopeScore>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ControlScore {
    pub id: String,
    pub title: String,
    pub max_points: u32,
    pub points: f64,
    /// Resources, not findings: each resource counts once per control.
    pub healthy: usize,
    pub unhealthy: usize,
    pub not_applicable: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScopeScore {
    pub scope: String,
    pub provider: Provider,
    pub percent: f64,
    pub controls: Vec<ControlScore>,
}

/// Resource counts of one control.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    healthy: usize,
    unhealthy: usize,
    not_applicable: usize,
}

impl Counts {
    fn add(&mut self, status: Status) {
        match status {
            Status::Healthy => self.healthy += 1,
            Status::Unhealthy => self.unhealthy += 1,
            Status::NotApplicable => self.not_applicable += 1,
        }
    }
}

/// Scores `findings` against the controls of `policy`. Findings of controls the policy does not
/// define carry no points and are left out. The result does not depend on the findings' order.
pub fn compute(policy: &Policy, findings: &[Finding]) -> Score {
    let control_index: HashMap<&str, usize> = policy
        .controls
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i))
        .collect();

    // Each (scope, control, resource) combined over the control's recommendations.
    let mut verdicts: HashMap<(Provider, &str, usize, &str), Status> = HashMap::new();
    for finding in findings {
        let Some(&control) = control_index.get(finding.control.as_str()) else {
            continue;
        };
        let key = (
            finding.provider,
            finding.scope.as_str(),
            control,
            finding.resource.as_str(),
        );
        verdicts
            .entry(key)
            .and_modify(|current| *current = combine(*current, finding.status))
            .or_insert(finding.status);
    }

    let mut per_scope: BTreeMap<(&str, Provider), Vec<Counts>> = BTreeMap::new();
    let mut overall = vec![Counts::default(); policy.controls.len()];
    for ((provider, scope, control, _), status) in verdicts {
        per_scope
            .entry((scope, provider))
            .or_insert_with(|| vec![Counts::default(); policy.controls.len()])[control]
            .add(status);
        overall[control].add(status);
    }

    let (percent, controls) = score_controls(&policy.controls, &overall);
    let scopes = per_scope
        .into_iter()
        .map(|((scope, provider), counts)| {
            let (percent, controls) = score_controls(&policy.controls, &counts);
            ScopeScore {
                scope: scope.to_owned(),
                provider,
                percent,
                controls,
            }
        })
        .collect();
    Score {
        percent,
        controls,
        scopes,
    }
}

/// The verdict of a control on a resource so far, given one more recommendation's verdict.
fn combine(current: Status, next: Status) -> Status {
    match (current, next) {
        (Status::Unhealthy, _) | (_, Status::Unhealthy) => Status::Unhealthy,
        (Status::Healthy, _) | (_, Status::Healthy) => Status::Healthy,
        _ => Status::NotApplicable,
    }
}

/// Points per control and the percentage they make; `counts` is indexed like `controls`.
fn score_controls(controls: &[Control], counts: &[Counts]) -> (f64, Vec<ControlScore>) {
    let scored: Vec<ControlScore> = controls
        .iter()
        .zip(counts)
        .map(|(control, c)| {
            let judged = c.healthy + c.unhealthy;
            let max = f64::from(control.max_points);
            let points = if judged == 0 {
                max
            } else {
                max * c.healthy as f64 / judged as f64
            };
            ControlScore {
                id: control.id.clone(),
                title: control.title.clone(),
                max_points: control.max_points,
                points,
                healthy: c.healthy,
                unhealthy: c.unhealthy,
                not_applicable: c.not_applicable,
            }
        })
        .collect();
    let possible: u32 = controls.iter().map(|c| c.max_points).sum();
    let earned: f64 = scored.iter().map(|c| c.points).sum();
    // A policy without controls has nothing to fail.
    let percent = if possible == 0 {
        100.0
    } else {
        100.0 * earned / f64::from(possible)
    };
    (percent, scored)
}
