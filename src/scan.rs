//! The scan pipeline in one call: snapshot → exposure engine → verdicts (with remediation
//! commands and exemptions) → score → report.

use std::time::{Duration, Instant};

use time::Date;

use crate::engine::{self, EngineConfig};
use crate::exemptions::Exemptions;
use crate::load::Loaded;
use crate::output::{Report, Summary, Tool};
use crate::policy::Policy;
use crate::{remediate, score, verdict};

/// How long each stage took, for `--timings` and benchmarks.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
    pub evaluate: Duration,
    /// Verdicts, exemptions and the score.
    pub judge: Duration,
    /// Writing the remediation commands of unhealthy findings.
    pub remediate: Duration,
}

/// Scans a loaded estate against a policy.
pub fn scan(loaded: &Loaded, policy: &Policy) -> (Report, Timings) {
    scan_with(loaded, policy, None)
}

/// Scans with exemptions, judged as of `today` (the day that decides which have expired).
pub fn scan_with(
    loaded: &Loaded,
    policy: &Policy,
    exemptions: Option<(&Exemptions, Date)>,
) -> (Report, Timings) {
    let snapshot = &loaded.snapshot;
    let config = EngineConfig::from_policy(policy);
    let started = Instant::now();
    let exposures = engine::evaluate(snapshot, &config);
    let evaluate = started.elapsed();
    let started = Instant::now();
    let mut findings = verdict::judge(snapshot, &exposures, policy);
    let judged = started.elapsed();
    let started = Instant::now();
    remediate::fill(snapshot, policy, &mut findings);
    let remediate = started.elapsed();
    let started = Instant::now();
    let exemption_warnings = match exemptions {
        Some((exemptions, today)) => exemptions.apply(&mut findings, snapshot, today),
        None => Vec::new(),
    };
    let score = score::compute(policy, &findings);
    let judge = judged + started.elapsed();
    let mut summary = Summary {
        files: loaded.files,
        vms: snapshot.vms.len(),
        resources: snapshot.resource_count(),
        internet_facing_vms: exposures.vms.iter().filter(|v| v.internet_facing).count(),
        skipped: loaded.skipped.clone(),
        ..Summary::default()
    };
    summary.count_findings(&findings);
    let mut warnings = loaded.warnings.clone();
    warnings.extend(snapshot.missing_scopes.iter().map(ToString::to_string));
    warnings.extend(exposures.warnings);
    warnings.extend(exemption_warnings);
    let report = Report {
        tool: Tool::default(),
        summary,
        findings,
        score,
        collection: Vec::new(),
        warnings,
        baseline: None,
        gate: None,
        history: None,
    };
    (
        report,
        Timings {
            evaluate,
            judge,
            remediate,
        },
    )
}
