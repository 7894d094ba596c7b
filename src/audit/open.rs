//! `history open`: the findings unhealthy now, with their age and whether they are past the
//! policy's time to fix for their severity (`sla`), and how long fixing has taken: the median
//! and 90th percentile (nearest rank) per severity over the findings fixed now.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::record::Life;
use crate::policy::{Policy, Severity};

/// An open finding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Open {
    pub rule: String,
    pub resource: String,
    pub scope: String,
    pub fingerprint: String,
    /// The recommendation's severity; `None` when the policy no longer has it.
    pub severity: Option<Severity>,
    pub unhealthy_since: String,
    /// From `unhealthy_since` to now.
    pub age_seconds: u64,
    pub reopened: u32,
    pub exempt: bool,
    /// The policy's time to fix for its severity, if it sets one.
    pub sla_seconds: Option<u64>,
    /// Older than its time to fix, and not exempt.
    pub overdue: bool,
}

/// How long the findings of one severity that are fixed now took to fix.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimeToFix {
    pub severity: Option<Severity>,
    pub fixed: usize,
    pub median_seconds: u64,
    pub p90_seconds: u64,
}

/// What `history open` shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpenReport {
    /// When the ages were taken (RFC 3339).
    pub now: String,
    /// Oldest first.
    pub open: Vec<Open>,
    /// Most severe first.
    pub time_to_fix: Vec<TimeToFix>,
}

/// The open findings and times to fix of `lives`, as of `now`, judged by `policy`'s severities
/// and `sla`.
pub fn open(lives: &[Life], policy: &Policy, now: OffsetDateTime) -> Result<OpenReport, String> {
    let severity = |rule: &str| policy.recommendation(rule).map(|r| r.severity);
    let mut open = Vec::new();
    let mut fix_times: Vec<(Option<Severity>, u64)> = Vec::new();
    for life in lives {
        let s = &life.subject;
        if let Some(since) = &life.unhealthy_since {
            let age = seconds_between(parse(since)?, now);
            let sla = severity(&s.rule).and_then(|sev| policy.sla.get(&sev));
            open.push(Open {
                rule: s.rule.clone(),
                resource: s.resource.clone(),
                scope: s.scope.clone(),
                fingerprint: s.fingerprint.clone(),
                severity: severity(&s.rule),
                unhealthy_since: since.clone(),
                age_seconds: age,
                reopened: life.reopened,
                exempt: life.exempt,
                sla_seconds: sla.map(Duration::as_secs),
                overdue: !life.exempt && sla.is_some_and(|sla| age > sla.as_secs()),
            });
        } else if let (Some(opened), Some(fixed)) = (&life.opened_at, &life.fixed_at) {
            let took = seconds_between(parse(opened)?, parse(fixed)?);
            fix_times.push((severity(&s.rule), took));
        }
    }
    open.sort_by(|a, b| (b.age_seconds, &a.fingerprint).cmp(&(a.age_seconds, &b.fingerprint)));
    fix_times.sort_by(|a, b| b.cmp(a));
    let time_to_fix = fix_times
        .chunk_by(|a, b| a.0 == b.0)
        .map(|group| {
            let mut seconds: Vec<u64> = group.iter().map(|(_, s)| *s).collect();
            seconds.sort_unstable();
            TimeToFix {
                severity: group[0].0,
                fixed: seconds.len(),
                median_seconds: nearest_rank(&seconds, 50),
                p90_seconds: nearest_rank(&seconds, 90),
            }
        })
        .collect();
    Ok(OpenReport {
        now: now
            .format(&Rfc3339)
            .map_err(|e| format!("cannot format the time: {e}"))?,
        open,
        time_to_fix,
    })
}

/// The `percent`th percentile of sorted, non-empty `values` by nearest rank: the smallest value
/// at least `percent`% of the values are no greater than.
fn nearest_rank(values: &[u64], percent: usize) -> u64 {
    let rank = (values.len() * percent).div_ceil(100).max(1);
    values[rank - 1]
}

fn parse(time: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(time, &Rfc3339)
        .map_err(|e| format!("the audit store holds a run time `{time}` that is not RFC 3339: {e}"))
}

/// Whole seconds from `from` to `to`; 0 when `to` is earlier (a clock set back).
fn seconds_between(from: OffsetDateTime, to: OffsetDateTime) -> u64 {
    u64::try_from((to - from).whole_seconds()).unwrap_or(0)
}

/// `3d 4h`, `5h 12m`, `40m`, `12s`: the two largest units of a duration.
pub fn human(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::Subject;

    fn life(rule: &str, resource: &str, since: Option<&str>, fixed: Option<(&str, &str)>) -> Life {
        Life {
            subject: Subject {
                fingerprint: format!("{rule}|{resource}"),
                rule: rule.to_owned(),
                resource: resource.to_owned(),
                scope: "s1".to_owned(),
                region: None,
            },
            first_seen: "2026-01-01T00:00:00Z".to_owned(),
            last_seen: "2026-01-01T00:00:00Z".to_owned(),
            unhealthy_since: since.map(str::to_owned),
            opened_at: fixed.map(|(opened, _)| opened.to_owned()),
            fixed_at: fixed.map(|(_, at)| at.to_owned()),
            reopened: 0,
            exempt: false,
        }
    }

    #[test]
    fn ages_overdue_and_times_to_fix() {
        let mut policy = Policy::builtin();
        policy
            .sla
            .insert(Severity::High, Duration::from_secs(7 * 86_400));
        let now = OffsetDateTime::parse("2026-01-11T00:00:00Z", &Rfc3339).unwrap();
        let high = "management-ports-closed";
        let mut exempt = life(high, "old-but-accepted", Some("2026-01-01T00:00:00Z"), None);
        exempt.exempt = true;
        let lives = [
            life(high, "old", Some("2026-01-02T00:00:00Z"), None),
            life(high, "young", Some("2026-01-09T00:00:00Z"), None),
            exempt,
            life("gone-rule", "x", Some("2026-01-10T00:00:00Z"), None),
            life(
                high,
                "f1",
                None,
                Some(("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z")),
            ),
            life(
                high,
                "f2",
                None,
                Some(("2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z")),
            ),
            life(
                high,
                "f3",
                None,
                Some(("2026-01-01T00:00:00Z", "2026-01-11T00:00:00Z")),
            ),
            life(
                "gone-rule",
                "f4",
                None,
                Some(("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z")),
            ),
        ];
        let report = open(&lives, &policy, now).unwrap();
        let shown: Vec<(&str, u64, bool)> = report
            .open
            .iter()
            .map(|o| (o.resource.as_str(), o.age_seconds / 86_400, o.overdue))
            .collect();
        assert_eq!(
            shown,
            [
                ("old-but-accepted", 10, false),
                ("old", 9, true),
                ("young", 2, false),
                ("x", 1, false)
            ]
        );
        assert_eq!(report.open[3].severity, None);
        let day = 86_400;
        assert_eq!(
            report.time_to_fix,
            [
                TimeToFix {
                    severity: Some(Severity::High),
                    fixed: 3,
                    median_seconds: 2 * day,
                    p90_seconds: 10 * day,
                },
                TimeToFix {
                    severity: None,
                    fixed: 1,
                    median_seconds: 3600,
                    p90_seconds: 3600,
                },
            ]
        );
    }

    #[test]
    fn nearest_ranks() {
        let ten: Vec<u64> = (1..=10).collect();
        assert_eq!((nearest_rank(&ten, 50), nearest_rank(&ten, 90)), (5, 9));
        assert_eq!((nearest_rank(&[4], 50), nearest_rank(&[4], 90)), (4, 4));
    }

    #[test]
    fn human_durations() {
        for (seconds, text) in [
            (12, "12s"),
            (2400, "40m"),
            (18_720, "5h 12m"),
            (273_600, "3d 4h"),
        ] {
            assert_eq!(human(seconds), text);
        }
    }
}
