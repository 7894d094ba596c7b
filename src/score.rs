//! The secure score: how much of each control's points an estate earns, per scope and overall.
//!
//! Per control and resource, the verdicts of the control's recommendations combine into one:
//! unhealthy if any is unhealthy, healthy if none is and one is healthy, not applicable
//! otherwise. A control earns `max_points × healthy / (healthy + unhealthy)`, or all its points
//! when nothing is healthy or unhealthy; the score is the points earned over the points
//! possible, as a percentage. A finding with an exemption in force counts as not applicable.

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
            .and_modify(|current| *current = combine(*current, finding.scored_status()))
            .or_insert(finding.scored_status());
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::finding::Evidence;

    /// The built-in control (8 points) and the Redis example's `secure-data-stores` (4 points).
    fn policy() -> Policy {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/examples");
        Policy::load(&[examples], true).unwrap()
    }

    /// (scope, resource, recommendation, status); scopes starting with `aws-` are AWS accounts.
    type Row = (&'static str, &'static str, &'static str, Status);

    fn findings(policy: &Policy, rows: &[Row]) -> Vec<Finding> {
        rows.iter()
            .map(|&(scope, resource, rule, status)| {
                let recommendation = policy.recommendation(rule).unwrap();
                Finding {
                    rule: rule.to_owned(),
                    control: recommendation.control.clone(),
                    resource: resource.to_owned(),
                    resource_name: resource.to_owned(),
                    provider: if scope.starts_with("aws-") {
                        Provider::Aws
                    } else {
                        Provider::Azure
                    },
                    scope: scope.to_owned(),
                    region: None,
                    status,
                    severity: recommendation.severity,
                    ports: Vec::new(),
                    evidence: Evidence::default(),
                    location: None,
                    commands: Vec::new(),
                    commands_withheld: Vec::new(),
                    baseline: None,
                    exemption: None,
                }
            })
            .collect()
    }

    use Status::{Healthy as H, NotApplicable as NA, Unhealthy as U};
    const NSG: &str = "internet-facing-vm-nsg";
    const CLOSED: &str = "management-ports-closed";
    const JIT: &str = "management-ports-jit";
    const REDIS: &str = "redis-closed";
    const SMP: &str = "secure-management-ports";
    const DATA: &str = "secure-data-stores";

    struct Case {
        name: &'static str,
        rows: &'static [Row],
        /// (control, healthy, unhealthy, not_applicable, points) for the whole run.
        controls: &'static [(&'static str, usize, usize, usize, f64)],
        percent: f64,
        /// (scope, percent).
        scopes: &'static [(&'static str, f64)],
    }

    const CASES: &[Case] = &[
        Case {
            name: "no findings: full points",
            rows: &[],
            controls: &[(SMP, 0, 0, 0, 8.0), (DATA, 0, 0, 0, 4.0)],
            percent: 100.0,
            scopes: &[],
        },
        Case {
            name: "all not applicable: full points",
            rows: &[
                ("sub-a", "vm1", NSG, NA),
                ("sub-a", "vm1", CLOSED, NA),
                ("sub-a", "vm1", JIT, NA),
                ("sub-a", "vm2", NSG, NA),
                ("sub-a", "vm2", CLOSED, NA),
                ("sub-a", "vm2", JIT, NA),
            ],
            controls: &[(SMP, 0, 0, 2, 8.0), (DATA, 0, 0, 0, 4.0)],
            percent: 100.0,
            scopes: &[("sub-a", 100.0)],
        },
        Case {
            name: "one unhealthy recommendation makes the resource unhealthy",
            rows: &[
                ("sub-a", "vm1", NSG, H),
                ("sub-a", "vm1", CLOSED, H),
                ("sub-a", "vm1", JIT, U),
                ("sub-a", "vm2", NSG, H),
                ("sub-a", "vm2", CLOSED, H),
                ("sub-a", "vm2", JIT, H),
            ],
            controls: &[(SMP, 1, 1, 0, 4.0), (DATA, 0, 0, 0, 4.0)],
            percent: 100.0 * 8.0 / 12.0,
            scopes: &[("sub-a", 100.0 * 8.0 / 12.0)],
        },
        Case {
            name: "mixed: healthy needs one healthy and none unhealthy",
            rows: &[
                ("sub-a", "vm1", NSG, NA),
                ("sub-a", "vm1", CLOSED, NA),
                ("sub-a", "vm1", JIT, NA),
                ("sub-a", "vm2", NSG, H),
                ("sub-a", "vm2", CLOSED, NA),
                ("sub-a", "vm2", JIT, NA),
                ("sub-a", "vm3", NSG, NA),
                ("sub-a", "vm3", CLOSED, U),
                ("sub-a", "vm3", JIT, NA),
                ("sub-a", "vm4", NSG, U),
                ("sub-a", "vm4", CLOSED, U),
                ("sub-a", "vm4", JIT, U),
            ],
            controls: &[(SMP, 1, 2, 1, 8.0 / 3.0), (DATA, 0, 0, 0, 4.0)],
            percent: 100.0 * (8.0 / 3.0 + 4.0) / 12.0,
            scopes: &[("sub-a", 100.0 * (8.0 / 3.0 + 4.0) / 12.0)],
        },
        Case {
            name: "controls are judged separately",
            rows: &[
                ("sub-a", "vm1", CLOSED, H),
                ("sub-a", "vm1", REDIS, U),
                ("sub-a", "vm2", CLOSED, U),
                ("sub-a", "vm2", REDIS, H),
                ("sub-a", "vm3", CLOSED, H),
                ("sub-a", "vm3", REDIS, NA),
            ],
            controls: &[(SMP, 2, 1, 0, 16.0 / 3.0), (DATA, 1, 1, 1, 2.0)],
            percent: 100.0 * (16.0 / 3.0 + 2.0) / 12.0,
            scopes: &[("sub-a", 100.0 * (16.0 / 3.0 + 2.0) / 12.0)],
        },
        Case {
            name: "scopes are scored alone and together",
            rows: &[
                ("sub-b", "vm2", CLOSED, U),
                ("sub-a", "vm1", CLOSED, H),
                ("aws-1", "i-3", CLOSED, H),
                ("aws-1", "i-3", JIT, H),
                ("sub-b", "vm4", CLOSED, H),
            ],
            controls: &[(SMP, 3, 1, 0, 6.0), (DATA, 0, 0, 0, 4.0)],
            percent: 100.0 * 10.0 / 12.0,
            scopes: &[
                ("aws-1", 100.0),
                ("sub-a", 100.0),
                ("sub-b", 100.0 * 8.0 / 12.0),
            ],
        },
    ];

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn table() {
        let policy = policy();
        for case in CASES {
            let score = compute(&policy, &findings(&policy, case.rows));
            let name = case.name;
            assert!(
                close(score.percent, case.percent),
                "{name}: {}",
                score.percent
            );
            assert_eq!(score.controls.len(), case.controls.len(), "{name}");
            for (got, &(id, healthy, unhealthy, not_applicable, points)) in
                score.controls.iter().zip(case.controls)
            {
                assert_eq!(
                    (
                        got.id.as_str(),
                        got.healthy,
                        got.unhealthy,
                        got.not_applicable
                    ),
                    (id, healthy, unhealthy, not_applicable),
                    "{name}"
                );
                assert!(close(got.points, points), "{name}: {id} {}", got.points);
            }
            let scopes: Vec<&str> = score.scopes.iter().map(|s| s.scope.as_str()).collect();
            let want: Vec<&str> = case.scopes.iter().map(|s| s.0).collect();
            assert_eq!(scopes, want, "{name}");
            for (got, &(scope, percent)) in score.scopes.iter().zip(case.scopes) {
                assert!(
                    close(got.percent, percent),
                    "{name}: {scope} {}",
                    got.percent
                );
                assert_eq!(
                    got.controls.len(),
                    2,
                    "{name}: every control in every scope"
                );
            }
        }
    }

    #[test]
    fn scopes_carry_their_provider() {
        let policy = policy();
        let rows = [("aws-1", "i-1", CLOSED, U), ("sub-a", "vm1", CLOSED, H)];
        let score = compute(&policy, &findings(&policy, &rows));
        let providers: Vec<Provider> = score.scopes.iter().map(|s| s.provider).collect();
        assert_eq!(providers, [Provider::Aws, Provider::Azure]);
    }

    #[test]
    fn order_of_findings_does_not_matter() {
        let policy = policy();
        for case in CASES {
            let mut list = findings(&policy, case.rows);
            let forward = compute(&policy, &list);
            list.reverse();
            assert_eq!(compute(&policy, &list), forward, "{}", case.name);
            let middle = list.len() / 2;
            list.rotate_left(middle);
            assert_eq!(compute(&policy, &list), forward, "{}", case.name);
        }
    }

    #[test]
    fn exempt_findings_count_as_not_applicable() {
        let policy = policy();
        let mut list = findings(
            &policy,
            &[
                ("sub-a", "vm1", JIT, H),
                ("sub-a", "vm1", CLOSED, U),
                ("sub-a", "vm2", CLOSED, H),
            ],
        );
        let unexempt = compute(&policy, &list);
        assert_eq!(unexempt.controls[0].unhealthy, 1);
        list[1].exemption = Some(crate::finding::AppliedExemption {
            justification: "accepted".into(),
            owner: "ops".into(),
            expires: "2030-01-01".into(),
            expired: false,
            source: "x.yaml:2".into(),
        });
        let score = compute(&policy, &list);
        assert_eq!(
            (score.controls[0].healthy, score.controls[0].unhealthy),
            (2, 0),
            "vm1 is healthy through its other recommendation"
        );
        assert!(close(score.percent, 100.0));
        // An expired exemption no longer counts.
        list[1].exemption.as_mut().unwrap().expired = true;
        assert_eq!(compute(&policy, &list), unexempt);
    }

    #[test]
    fn findings_of_unknown_controls_are_left_out() {
        let policy = policy();
        let mut list = findings(&policy, &[("sub-a", "vm1", CLOSED, H)]);
        let mut stray = list[0].clone();
        stray.control = "not-a-control".into();
        stray.status = U;
        list.push(stray);
        let score = compute(&policy, &list);
        assert!(close(score.percent, 100.0));
        assert_eq!(score.controls[0].healthy, 1);
    }

    #[test]
    fn serialises_with_the_documented_keys() {
        let policy = policy();
        let score = compute(&policy, &findings(&policy, &[("sub-a", "vm1", JIT, U)]));
        let json = serde_json::to_value(&score).unwrap();
        assert!(close(json["percent"].as_f64().unwrap(), 100.0 * 4.0 / 12.0));
        assert_eq!(json["controls"][0]["id"], SMP);
        assert_eq!(json["controls"][0]["unhealthy"], 1);
        assert_eq!(json["controls"][0]["points"], 0.0);
        assert_eq!(json["scopes"][0]["scope"], "sub-a");
        assert_eq!(json["scopes"][0]["provider"], "azure");
        assert_eq!(json["scopes"][0]["controls"][1]["max_points"], 4);
    }

    #[test]
    fn a_hundred_thousand_vms() {
        let policy = policy();
        let template = findings(&policy, &[("sub-a", "vm", NSG, H)]).remove(0);
        let mut list = Vec::with_capacity(300_000);
        for vm in 0..100_000 {
            for (i, rule) in [NSG, CLOSED, JIT].into_iter().enumerate() {
                let mut f = template.clone();
                f.rule = rule.to_owned();
                f.resource = format!("vm{vm}");
                f.scope = format!("sub-{}", vm % 10);
                // Every third VM has one unhealthy recommendation.
                f.status = if vm % 3 == 0 && i == 1 { U } else { H };
                list.push(f);
            }
        }
        let score = compute(&policy, &list);
        assert_eq!(score.controls[0].unhealthy, 33_334);
        assert_eq!(score.controls[0].healthy, 66_666);
        assert_eq!(score.scopes.len(), 10);
    }
}
