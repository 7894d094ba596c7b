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
