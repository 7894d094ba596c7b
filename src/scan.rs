//! The scan pipeline in one call: snapshot → exposure engine → verdicts → score → report.

use std::time::{Duration, Instant};

use crate::engine::{self, EngineConfig};
use crate::load::Loaded;
use crate::output::{Report, Summary, Tool};
use crate::policy::Policy;
use crate::{score, verdict};

/// How long each stage took, for `--timings` and benchmarks.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
    pub evaluate: Duration,
    pub judge: Duration,
}

/// Scans a loaded estate against a policy.
pub fn scan(loaded: &Loaded, policy: &Policy) -> (Report, Timings) {
    let snapshot = &loaded.snapshot;
    let config = EngineConfig::from_policy(policy);
    let started = Instant::now();
    let exposures = engine::evaluate(snapshot, &config);
    let evaluate = started.elapsed();
    let started = Instant::now();
    let findings = verdict::judge(snapshot, &exposures, policy);
    let score = score::compute(policy, &findings);
    let judge = started.elapsed();
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
    let report = Report {
        tool: Tool::default(),
        summary,
        findings,
        score,
        collection: Vec::new(),
        warnings,
    };
    (report, Timings { evaluate, judge })
}
