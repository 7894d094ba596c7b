//! What one audit run records, and how a run advances each finding's life (first seen, last
//! seen, unhealthy since, fixed at, times reopened, exempt). Pure: the stores persist the result.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::finding::{Finding, Status};
use crate::fingerprint;
use crate::model::MissingScope;

/// A finding's status as one run observed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observed {
    Healthy,
    Unhealthy,
    NotApplicable,
    /// Unhealthy, and accepted by an exemption.
    Exempt,
    /// Its scope could not be read in this run: neither fixed nor still open.
    NotAssessed,
}

impl Observed {
    pub fn as_str(self) -> &'static str {
        match self {
            Observed::Healthy => "healthy",
            Observed::Unhealthy => "unhealthy",
            Observed::NotApplicable => "not_applicable",
            Observed::Exempt => "exempt",
            Observed::NotAssessed => "not_assessed",
        }
    }

    fn of(finding: &Finding) -> Self {
        match finding.status {
            Status::Unhealthy if finding.is_exempt() => Observed::Exempt,
            Status::Unhealthy => Observed::Unhealthy,
            Status::Healthy => Observed::Healthy,
            Status::NotApplicable => Observed::NotApplicable,
        }
    }
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Observed {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        [
            Observed::Healthy,
            Observed::Unhealthy,
            Observed::NotApplicable,
            Observed::Exempt,
            Observed::NotAssessed,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
        .ok_or_else(|| format!("unknown observed status `{text}` in the audit store"))
    }
}

/// Which finding an observation or a life is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// [`fingerprint::identity`], the key.
    pub fingerprint: String,
    pub rule: String,
    pub resource: String,
    pub scope: String,
    pub region: Option<String>,
}

impl Subject {
    fn of(finding: &Finding) -> Self {
        Subject {
            fingerprint: fingerprint::identity(finding),
            rule: finding.rule.clone(),
            resource: finding.resource.clone(),
            scope: finding.scope.clone(),
            region: finding.region.clone(),
        }
    }

    /// Whether a scope that could not be read covers this finding (its subscription or account,
    /// or its region: of its account, when the region names one).
    fn in_unread(&self, missing: &[MissingScope]) -> bool {
        missing.iter().any(|m| {
            m.name == self.scope
                || (self.region.as_deref() == Some(m.name.as_str())
                    && m.account.as_ref().is_none_or(|a| *a == self.scope))
        })
    }
}

/// One finding as one run saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub subject: Subject,
    pub status: Observed,
}

/// A run to record.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRun {
    /// RFC 3339, UTC.
    pub time: String,
    pub sources: Vec<String>,
    /// `provider scope` of every subscription or account findings came from.
    pub scopes_read: Vec<String>,
    /// The scopes that could not be read, as the scan's warning says them.
    pub scopes_missing: Vec<MissingScope>,
    pub policy_digest: String,
    pub score: f64,
    /// The score per scope and control, as the JSON report writes it.
    pub score_detail: String,
    /// The findings the run judged.
    pub observations: Vec<Observation>,
}

impl NewRun {
    /// The run of `findings`, with `missing` the scopes the collection could not read.
    pub fn new(
        time: String,
        sources: Vec<String>,
        findings: &[Finding],
        missing: Vec<MissingScope>,
        policy_digest: String,
        score: &crate::score::Score,
    ) -> Self {
        let mut scopes_read: Vec<String> = findings
            .iter()
            .map(|f| format!("{} {}", f.provider, f.scope))
            .collect();
        scopes_read.sort();
        scopes_read.dedup();
        NewRun {
            time,
            sources,
            scopes_read,
            scopes_missing: missing,
            policy_digest,
            score: score.percent,
            score_detail: serde_json::to_string(score).unwrap_or_default(),
            observations: findings
                .iter()
                .map(|f| Observation {
                    subject: Subject::of(f),
                    status: Observed::of(f),
                })
                .collect(),
        }
    }
}

/// A finding's life across runs. Times are the runs' times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Life {
    pub subject: Subject,
    pub first_seen: String,
    pub last_seen: String,
    /// Set while the finding is unhealthy (exempt or not).
    pub unhealthy_since: Option<String>,
    /// When it was last seen fixed (healthy, or gone from a scope that was read).
    pub fixed_at: Option<String>,
    /// While fixed: when the unhealthy spell that `fixed_at` ended began (its time to fix is
    /// the time between the two).
    pub opened_at: Option<String>,
    pub reopened: u32,
    pub exempt: bool,
}

impl Life {
    /// Seen fixed at `time`: an unhealthy spell ends there.
    fn fix(&mut self, time: &str) {
        if let Some(since) = self.unhealthy_since.take() {
            self.opened_at = Some(since);
            self.fixed_at = Some(time.to_owned());
        }
        self.exempt = false;
    }
}

/// Advances `lives` by `run` and returns every observation to store: the run's own, plus a
/// `not_assessed` one for each known finding of a scope the run could not read. A known
/// finding absent from a scope that was read is fixed; one of an unread scope is left as it was.
pub fn advance(lives: &mut BTreeMap<String, Life>, run: &NewRun) -> Vec<Observation> {
    let mut observed = run.observations.clone();
    let seen: std::collections::BTreeSet<&str> = run
        .observations
        .iter()
        .map(|o| o.subject.fingerprint.as_str())
        .collect();
    for life in lives.values_mut() {
        if seen.contains(life.subject.fingerprint.as_str()) {
            continue;
        }
        if life.subject.in_unread(&run.scopes_missing) {
            observed.push(Observation {
                subject: life.subject.clone(),
                status: Observed::NotAssessed,
            });
        } else {
            life.fix(&run.time);
        }
    }
    for observation in &run.observations {
        let life = lives
            .entry(observation.subject.fingerprint.clone())
            .or_insert_with(|| Life {
                subject: observation.subject.clone(),
                first_seen: run.time.clone(),
                last_seen: run.time.clone(),
                unhealthy_since: None,
                fixed_at: None,
                opened_at: None,
                reopened: 0,
                exempt: false,
            });
        life.last_seen = run.time.clone();
        life.subject = observation.subject.clone();
        match observation.status {
            Observed::Unhealthy | Observed::Exempt => {
                if life.unhealthy_since.is_none() {
                    life.opened_at = None;
                    if life.fixed_at.take().is_some() {
                        life.reopened += 1;
                    }
                    life.unhealthy_since = Some(run.time.clone());
                }
                life.exempt = observation.status == Observed::Exempt;
            }
            Observed::Healthy | Observed::NotApplicable => life.fix(&run.time),
            Observed::NotAssessed => {}
        }
    }
    observed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(resource: &str, scope: &str) -> Subject {
        Subject {
            fingerprint: format!("r|{resource}"),
            rule: "r".to_owned(),
            resource: resource.to_owned(),
            scope: scope.to_owned(),
            region: None,
        }
    }

    fn run(time: &str, seen: &[(&str, Observed)], missing: &[&str]) -> NewRun {
        NewRun {
            time: time.to_owned(),
            sources: Vec::new(),
            scopes_read: Vec::new(),
            scopes_missing: missing
                .iter()
                .map(|name| MissingScope {
                    provider: crate::model::Provider::Azure,
                    kind: "subscription".to_owned(),
                    name: (*name).to_owned(),
                    account: None,
                    error: "403".to_owned(),
                })
                .collect(),
            policy_digest: String::new(),
            score: 0.0,
            score_detail: String::new(),
            observations: seen
                .iter()
                .map(|(resource, status)| Observation {
                    subject: subject(resource, "s1"),
                    status: *status,
                })
                .collect(),
        }
    }

    #[test]
    fn unread_scopes_cover_their_own_findings_only() {
        let missing = |kind: &str, name: &str, account: Option<&str>| MissingScope {
            provider: crate::model::Provider::Aws,
            kind: kind.to_owned(),
            name: name.to_owned(),
            account: account.map(str::to_owned),
            error: "timed out".to_owned(),
        };
        let mut finding = subject("i-1", "111111111111");
        finding.region = Some("eu-west-1".to_owned());
        for (scope, covered) in [
            (missing("account", "111111111111", None), true),
            (missing("account", "222222222222", None), false),
            (missing("region", "eu-west-1", None), true),
            (missing("region", "eu-west-1", Some("111111111111")), true),
            (missing("region", "eu-west-1", Some("222222222222")), false),
            (missing("region", "us-east-1", Some("111111111111")), false),
        ] {
            assert_eq!(
                finding.in_unread(std::slice::from_ref(&scope)),
                covered,
                "{scope:?}"
            );
        }
    }

    #[test]
    fn lives_over_runs() {
        use Observed::*;
        let mut lives = BTreeMap::new();
        // (run, unhealthy_since, fixed_at, reopened, exempt) of vm1 after each run.
        type Expected<'a> = (NewRun, Option<&'a str>, Option<&'a str>, u32, bool);
        let cases: [Expected; 6] = [
            (
                run("t1", &[("vm1", Unhealthy)], &[]),
                Some("t1"),
                None,
                0,
                false,
            ),
            (
                run("t2", &[("vm1", Healthy)], &[]),
                None,
                Some("t2"),
                0,
                false,
            ),
            (
                run("t3", &[("vm1", Exempt)], &[]),
                Some("t3"),
                None,
                1,
                true,
            ),
            (run("t4", &[], &["s1"]), Some("t3"), None, 1, true),
            (run("t5", &[], &[]), None, Some("t5"), 1, false),
            (
                run("t6", &[("vm1", Unhealthy)], &[]),
                Some("t6"),
                None,
                2,
                false,
            ),
        ];
        for (run, since, fixed, reopened, exempt) in cases {
            let observed = advance(&mut lives, &run);
            let life = &lives["r|vm1"];
            assert_eq!(life.first_seen, "t1");
            assert_eq!(life.unhealthy_since.as_deref(), since, "{}", run.time);
            assert_eq!(life.fixed_at.as_deref(), fixed, "{}", run.time);
            let opened = fixed.map(|_| if run.time == "t2" { "t1" } else { "t3" });
            assert_eq!(life.opened_at.as_deref(), opened, "{}", run.time);
            assert_eq!(
                (life.reopened, life.exempt),
                (reopened, exempt),
                "{}",
                run.time
            );
            let not_assessed = observed.iter().any(|o| o.status == NotAssessed);
            assert_eq!(not_assessed, run.time == "t4", "{}", run.time);
        }
        assert_eq!(lives["r|vm1"].last_seen, "t6");
    }
}
