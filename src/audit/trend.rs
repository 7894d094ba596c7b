//! `history trend`: per run, in time order, the score overall and per scope, and how many
//! findings of each recommendation were unhealthy (exempt ones not counted).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::record::Observed;
use crate::store::{RunDetail, StatusCount};

/// One run's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    pub run: i64,
    pub time: String,
    /// The secure score, a percent.
    pub score: f64,
    /// `provider scope` to that scope's score, a percent.
    pub scopes: BTreeMap<String, f64>,
    /// Recommendation id to its unhealthy, not exempt, findings; every recommendation seen in
    /// any run has an entry.
    pub unhealthy: BTreeMap<String, u64>,
}

/// What a run's stored score detail is read for.
#[derive(Deserialize)]
struct StoredScore {
    scopes: Vec<StoredScope>,
}

#[derive(Deserialize)]
struct StoredScope {
    scope: String,
    provider: String,
    percent: f64,
}

/// A run's score per `provider scope`, read from its stored score detail; an error naming the
/// run when that cannot be read.
pub fn scope_scores(run: &RunDetail) -> Result<BTreeMap<String, f64>, String> {
    let score: StoredScore = serde_json::from_str(&run.score_detail).map_err(|e| {
        format!(
            "the audit store's score of run {} cannot be read: {e}",
            run.summary.id
        )
    })?;
    Ok(score
        .scopes
        .into_iter()
        .map(|s| (format!("{} {}", s.provider, s.scope), s.percent))
        .collect())
}

/// The trend of `runs` (oldest first), with `counts` their observations per recommendation and
/// status. A run whose score detail cannot be read is an error naming it.
pub fn trend(runs: &[RunDetail], counts: &[StatusCount]) -> Result<Vec<Point>, String> {
    let rules: BTreeSet<&str> = counts.iter().map(|c| c.rule.as_str()).collect();
    let mut unhealthy: BTreeMap<i64, BTreeMap<String, u64>> = BTreeMap::new();
    for count in counts.iter().filter(|c| c.status == Observed::Unhealthy) {
        *unhealthy
            .entry(count.run)
            .or_default()
            .entry(count.rule.clone())
            .or_default() += count.count;
    }
    runs.iter()
        .map(|run| {
            let id = run.summary.id;
            let mut per_rule: BTreeMap<String, u64> =
                rules.iter().map(|r| ((*r).to_owned(), 0)).collect();
            per_rule.extend(unhealthy.remove(&id).unwrap_or_default());
            Ok(Point {
                run: id,
                time: run.summary.time.clone(),
                score: run.summary.score,
                scopes: scope_scores(run)?,
                unhealthy: per_rule,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunSummary;

    fn run(id: i64, detail: &str) -> RunDetail {
        RunDetail {
            summary: RunSummary {
                id,
                time: format!("t{id}"),
                sources: Vec::new(),
                score: 10.0 * id as f64,
                scopes_read: Vec::new(),
                scopes_missing: 0,
            },
            scopes_missing: Vec::new(),
            policy_digest: String::new(),
            score_detail: detail.to_owned(),
        }
    }

    fn count(run: i64, rule: &str, status: Observed, count: u64) -> StatusCount {
        StatusCount {
            run,
            rule: rule.to_owned(),
            status,
            count,
        }
    }

    #[test]
    fn every_recommendation_in_every_point() {
        let detail = r#"{"percent": 10, "controls": [],
            "scopes": [{"scope": "s1", "provider": "azure", "percent": 12.5, "controls": []}]}"#;
        let runs = [run(1, detail), run(2, r#"{"scopes": []}"#)];
        let counts = [
            count(1, "a", Observed::Unhealthy, 3),
            count(1, "a", Observed::Exempt, 1),
            count(2, "b", Observed::Unhealthy, 2),
            count(2, "a", Observed::Healthy, 4),
        ];
        let points = trend(&runs, &counts).unwrap();
        assert_eq!(
            points[0].scopes,
            BTreeMap::from([("azure s1".to_owned(), 12.5)])
        );
        let figures = |p: &Point| p.unhealthy.clone().into_iter().collect::<Vec<_>>();
        assert_eq!(
            figures(&points[0]),
            [("a".to_owned(), 3), ("b".to_owned(), 0)]
        );
        assert_eq!(
            figures(&points[1]),
            [("a".to_owned(), 0), ("b".to_owned(), 2)]
        );
        assert_eq!((points[1].run, points[1].score), (2, 20.0));
    }

    #[test]
    fn an_unreadable_score_names_its_run() {
        let err = trend(&[run(7, "not json")], &[]).unwrap_err();
        assert!(err.contains("run 7"), "{err}");
    }
}
