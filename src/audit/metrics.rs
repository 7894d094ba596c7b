//! `audit --metrics-file FILE`: the last audit in Prometheus's text exposition format, for
//! node_exporter's textfile collector. The file is replaced atomically (written to a temporary
//! file beside it, then renamed over it), so the collector never reads half of it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::finding::Status;
use crate::output::Report;
use crate::policy::{Policy, Severity};

/// What the metrics say about the run besides its report.
#[derive(Clone, Debug, PartialEq)]
pub struct RunFacts {
    pub id: i64,
    /// Seconds since the Unix epoch.
    pub time: f64,
    pub duration: Duration,
    /// The time of the last run that read every scope (this one, when it did), if any.
    pub last_success: Option<f64>,
    pub scopes_missing: usize,
}

/// The metrics of `report`, judged by `policy`, recorded as run `run`.
pub fn render(report: &Report, policy: &Policy, run: &RunFacts) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "portcullis_secure_score_percent",
        "Secure score of the last audit, a percent.",
    );
    sample(
        &mut out,
        "portcullis_secure_score_percent",
        &[],
        report.score.percent,
    );
    family(
        &mut out,
        "portcullis_scope_secure_score_percent",
        "Secure score of each subscription or account in the last audit, a percent.",
    );
    for scope in &report.score.scopes {
        let provider = scope.provider.to_string();
        sample(
            &mut out,
            "portcullis_scope_secure_score_percent",
            &[("provider", &provider), ("scope", &scope.scope)],
            scope.percent,
        );
    }
    family(
        &mut out,
        "portcullis_unhealthy_findings",
        "Unhealthy findings not covered by an exemption in the last audit, per recommendation \
         and severity.",
    );
    let mut unhealthy: BTreeMap<(&str, Severity), u64> = policy
        .recommendations
        .iter()
        .map(|r| ((r.id.as_str(), r.severity), 0))
        .collect();
    for f in &report.findings {
        if f.status == Status::Unhealthy && !f.is_exempt() {
            *unhealthy.entry((f.rule.as_str(), f.severity)).or_default() += 1;
        }
    }
    for ((rule, severity), count) in unhealthy {
        let severity = severity.to_string();
        sample(
            &mut out,
            "portcullis_unhealthy_findings",
            &[("recommendation", rule), ("severity", &severity)],
            count as f64,
        );
    }
    let facts: [(&str, &str, Option<f64>); 5] = [
        (
            "portcullis_audit_run_id",
            "Id of the last audit run in the audit store.",
            Some(run.id as f64),
        ),
        (
            "portcullis_audit_duration_seconds",
            "How long the last audit took, reading and recording included.",
            Some(run.duration.as_secs_f64()),
        ),
        (
            "portcullis_audit_last_run_timestamp_seconds",
            "When the last audit ran, in seconds since the Unix epoch.",
            Some(run.time),
        ),
        (
            "portcullis_audit_last_success_timestamp_seconds",
            "When the last audit that read every scope ran, in seconds since the Unix epoch.",
            run.last_success,
        ),
        (
            "portcullis_audit_scopes_missing",
            "Regions, accounts or subscriptions the last audit could not read.",
            Some(run.scopes_missing as f64),
        ),
    ];
    for (name, help, value) in facts {
        if let Some(value) = value {
            family(&mut out, name, help);
            sample(&mut out, name, &[], value);
        }
    }
    out
}

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", label_value(v)))
            .collect();
        let _ = write!(out, "{{{}}}", labels.join(","));
    }
    let _ = writeln!(out, " {value}");
}

/// A label value as the exposition format escapes it: backslash, double quote and line feed.
fn label_value(text: &str) -> String {
    text.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// Replaces `path` with `text`: written and flushed to disk under a temporary name in the same
/// folder, then renamed over it.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let name = path
        .file_name()
        .ok_or_else(|| format!("--metrics-file {} names no file", path.display()))?;
    let mut temporary = name.to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = path.with_file_name(temporary);
    let fail = |e: std::io::Error| {
        let _ = std::fs::remove_file(&temporary);
        format!("cannot write the metrics file {}: {e}", path.display())
    };
    let mut file = std::fs::File::create(&temporary).map_err(fail)?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(fail)?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value("a\\b\"c\nd"), r#"a\\b\"c\nd"#);
        let mut out = String::new();
        sample(&mut out, "m", &[("scope", "x\"y"), ("k", "v")], 1.5);
        assert_eq!(out, "m{scope=\"x\\\"y\",k=\"v\"} 1.5\n");
    }

    #[test]
    fn the_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portcullis.prom");
        std::fs::write(&path, "old").unwrap();
        write_atomically(&path, "new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "a temporary file was left behind");
        let err = write_atomically(&dir.path().join("missing/m.prom"), "x").unwrap_err();
        assert!(err.contains("missing/m.prom"), "{err}");
    }
}
