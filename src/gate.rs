//! Gates for CI: `--fail-on SEVERITY` and `--min-score N` turn a scan into a pass or a fail
//! (exit status [`EXIT_GATE_FAILED`]).
//!
//! `--fail-on` counts the unhealthy findings at or above the severity that are not exempt and,
//! with a baseline, are new against it. `--min-score` compares the secure score (in which exempt
//! findings count as not applicable) with the minimum. Without either, every scan that ran
//! passes.

use serde::Serialize;

use crate::finding::{BaselineState, Finding, Status};
use crate::output::Report;
use crate::policy::Severity;

/// Exit status of a scan that ran but failed a gate.
pub const EXIT_GATE_FAILED: u8 = 1;

/// How many failing findings a gate message names before summing up the rest.
const NAMED_FINDINGS: usize = 5;

/// The gates asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Gate {
    pub fail_on: Option<Severity>,
    /// Percent, 0 to 100.
    pub min_score: Option<f64>,
}

/// Whether a report passed the gates, and why not.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GateOutcome {
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_on: Option<Severity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f64>,
    /// Findings that count for `--fail-on`.
    pub failing_findings: usize,
    /// One sentence per failed gate.
    pub failures: Vec<String>,
}

impl Gate {
    /// Whether any gate was asked for.
    pub fn is_set(&self) -> bool {
        self.fail_on.is_some() || self.min_score.is_some()
    }

    pub fn check(&self, report: &Report) -> GateOutcome {
        let mut failures = Vec::new();
        let failing: Vec<&Finding> = match self.fail_on {
            Some(threshold) => report
                .findings
                .iter()
                .filter(|f| counts_for_fail_on(f, threshold))
                .collect(),
            None => Vec::new(),
        };
        if let (Some(threshold), false) = (self.fail_on, failing.is_empty()) {
            let new = if report.baseline.is_some() {
                "new "
            } else {
                ""
            };
            let mut named: Vec<String> = failing
                .iter()
                .take(NAMED_FINDINGS)
                .map(|f| format!("{} on {}", f.rule, f.resource_name))
                .collect();
            if failing.len() > NAMED_FINDINGS {
                named.push(format!("{} more", failing.len() - NAMED_FINDINGS));
            }
            failures.push(format!(
                "{} {new}unhealthy finding{} of severity {threshold} or higher: {}",
                failing.len(),
                if failing.len() == 1 { "" } else { "s" },
                named.join(", ")
            ));
        }
        if let Some(min) = self.min_score
            && report.score.percent < min
        {
            failures.push(format!(
                "secure score {:.2}% is below the minimum of {min}%",
                report.score.percent
            ));
        }
        GateOutcome {
            passed: failures.is_empty(),
            fail_on: self.fail_on,
            min_score: self.min_score,
            failing_findings: failing.len(),
            failures,
        }
    }
}

/// Unhealthy, at or above the threshold, not exempt, and not already in the baseline.
fn counts_for_fail_on(finding: &Finding, threshold: Severity) -> bool {
    finding.status == Status::Unhealthy
        && finding.severity >= threshold
        && !finding.is_exempt()
        && finding.baseline != Some(BaselineState::Unchanged)
}

/// Parses `--min-score`: a percentage from 0 to 100.
pub fn parse_min_score(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{text:?} is not a number; write a percentage such as 80"))?;
    if (0.0..=100.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{text} is not between 0 and 100"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::AppliedExemption;
    use crate::output::{Summary, Tool};
    use crate::policy::Policy;
    use crate::score;

    const CLOSED: &str = "management-ports-closed";

    fn exempt(expired: bool) -> Option<AppliedExemption> {
        Some(AppliedExemption {
            justification: "j".into(),
            owner: "o".into(),
            expires: "2030-01-01".into(),
            expired,
            source: "x.yaml:2".into(),
        })
    }

    /// One unhealthy finding on vm1 (changed by `edit`) and one healthy on vm2: 50%.
    fn report(edit: impl Fn(&mut Finding), with_baseline: bool) -> Report {
        let mut bad = Finding::example(CLOSED, "/s/vm1", Status::Unhealthy);
        edit(&mut bad);
        let findings = vec![bad, Finding::example(CLOSED, "/s/vm2", Status::Healthy)];
        Report {
            tool: Tool::default(),
            summary: Summary::default(),
            score: score::compute(&Policy::builtin(), &findings),
            findings,
            collection: Vec::new(),
            warnings: Vec::new(),
            baseline: with_baseline.then(|| crate::baseline::BaselineSummary {
                file: "b.json".into(),
                new: 0,
                unchanged: 0,
                fixed: Vec::new(),
            }),
            gate: None,
            history: None,
        }
    }

    #[test]
    fn table() {
        use Severity::{Critical, High, Low, Medium};
        type Edit = fn(&mut Finding);
        let none: Edit = |_| {};
        let medium: Edit = |f| f.severity = Severity::Medium;
        let exempt_now: Edit = |f| f.exemption = exempt(false);
        let exempt_expired: Edit = |f| f.exemption = exempt(true);
        let unchanged: Edit = |f| f.baseline = Some(BaselineState::Unchanged);
        let new: Edit = |f| f.baseline = Some(BaselineState::New);
        /// (name, fail_on, min_score, edit, with a baseline, passed, failing findings)
        type Case = (
            &'static str,
            Option<Severity>,
            Option<f64>,
            Edit,
            bool,
            bool,
            usize,
        );
        let cases: [Case; 14] = [
            ("no gates", None, None, none, false, true, 0),
            (
                "high fails on high",
                Some(High),
                None,
                none,
                false,
                false,
                1,
            ),
            ("low fails on high", Some(Low), None, none, false, false, 1),
            (
                "critical passes high",
                Some(Critical),
                None,
                none,
                false,
                true,
                0,
            ),
            (
                "high passes medium",
                Some(High),
                None,
                medium,
                false,
                true,
                0,
            ),
            (
                "medium fails on medium",
                Some(Medium),
                None,
                medium,
                false,
                false,
                1,
            ),
            (
                "exempt does not count",
                Some(Low),
                None,
                exempt_now,
                false,
                true,
                0,
            ),
            (
                "expired exemption counts",
                Some(Low),
                None,
                exempt_expired,
                false,
                false,
                1,
            ),
            (
                "unchanged does not count",
                Some(Low),
                None,
                unchanged,
                true,
                true,
                0,
            ),
            ("new counts", Some(Low), None, new, true, false, 1),
            (
                "score at the minimum passes",
                None,
                Some(50.0),
                none,
                false,
                true,
                0,
            ),
            (
                "score below the minimum fails",
                None,
                Some(50.1),
                none,
                false,
                false,
                0,
            ),
            (
                "exempt raises the score",
                None,
                Some(100.0),
                exempt_now,
                false,
                true,
                0,
            ),
            (
                "both gates fail",
                Some(High),
                Some(90.0),
                none,
                false,
                false,
                1,
            ),
        ];
        for (name, fail_on, min_score, edit, with_baseline, passed, failing) in cases {
            let gate = Gate { fail_on, min_score };
            let outcome = gate.check(&report(edit, with_baseline));
            assert_eq!(outcome.passed, passed, "{name}: {:?}", outcome.failures);
            assert_eq!(outcome.failing_findings, failing, "{name}");
            assert_eq!(outcome.passed, outcome.failures.is_empty(), "{name}");
        }
    }

    #[test]
    fn failures_say_what_failed() {
        let gate = Gate {
            fail_on: Some(Severity::High),
            min_score: Some(80.0),
        };
        let outcome = gate.check(&report(|f| f.baseline = Some(BaselineState::New), true));
        assert_eq!(
            outcome.failures,
            [
                "1 new unhealthy finding of severity high or higher: management-ports-closed on vm1",
                "secure score 50.00% is below the minimum of 80%",
            ]
        );
    }

    #[test]
    fn min_score_is_a_percentage() {
        assert_eq!(parse_min_score("80"), Ok(80.0));
        assert_eq!(parse_min_score("72.5%"), Ok(72.5));
        assert!(parse_min_score("101").is_err());
        assert!(parse_min_score("-1").is_err());
        assert!(parse_min_score("eighty").is_err());
    }
}
