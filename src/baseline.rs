//! Baselines: an earlier run's output (`--format json` or `--format sarif`), so that a CI gate
//! fails only on what is new.
//!
//! A finding is identified by its recommendation and its VM's id (ignoring case, as Azure does).
//! Each unhealthy finding of this run is `new` (not unhealthy in the baseline) or `unchanged`;
//! the baseline's unhealthy findings that are no longer unhealthy are listed as fixed.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_sarif::sarif::Sarif;

use crate::finding::{BaselineState, Finding, Status};
use crate::input_file;

/// The unhealthy findings of an earlier run.
#[derive(Debug)]
pub struct Baseline {
    file: String,
    /// In the baseline's order.
    unhealthy: Vec<Known>,
}

#[derive(Debug)]
struct Known {
    rule: String,
    resource: String,
    resource_name: String,
}

impl Known {
    fn key(&self) -> (String, String) {
        key(&self.rule, &self.resource)
    }
}

fn key(rule: &str, resource: &str) -> (String, String) {
    (rule.to_owned(), resource.to_ascii_lowercase())
}

/// How this run compares with the baseline, for the outputs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BaselineSummary {
    /// The baseline file, as given.
    pub file: String,
    pub new: usize,
    pub unchanged: usize,
    /// Unhealthy in the baseline, not any more (fixed, or the VM is gone).
    pub fixed: Vec<FixedFinding>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FixedFinding {
    pub rule: String,
    pub resource: String,
    pub resource_name: String,
}

/// The part of a `--format json` report a baseline needs.
#[derive(Deserialize)]
struct JsonReport {
    findings: Vec<JsonFinding>,
}

#[derive(Deserialize)]
struct JsonFinding {
    rule: String,
    resource: String,
    #[serde(default)]
    resource_name: String,
    status: Status,
}

/// Resource name as the SARIF output records it in a result's properties.
pub const SARIF_RESOURCE_NAME: &str = "resourceName";

impl Baseline {
    /// Reads the baseline at `path`, a regular file of at most `max_bytes`.
    pub fn load(path: &Path, max_bytes: u64) -> Result<Self, String> {
        let name = path.display().to_string();
        let text = input_file::read_text(path, max_bytes)
            .map_err(|e| format!("{name}: cannot read the baseline: {e}"))?;
        Self::parse(&name, &text)
    }

    /// Reads a portcullis JSON report or SARIF log.
    pub fn parse(name: &str, text: &str) -> Result<Self, String> {
        let position = |e: serde_json::Error| {
            let message = e.to_string();
            let message = message
                .rfind(" at line ")
                .map_or(message.as_str(), |i| &message[..i])
                .to_owned();
            format!("{name}:{}:{}: {message}", e.line(), e.column())
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(position)?;
        let unhealthy = if value.get("runs").is_some() {
            let sarif: Sarif = serde_json::from_str(text).map_err(position)?;
            from_sarif(name, &sarif)?
        } else if value.get("findings").is_some() {
            let report: JsonReport = serde_json::from_str(text).map_err(position)?;
            report
                .findings
                .into_iter()
                .filter(|f| f.status == Status::Unhealthy)
                .map(|f| Known {
                    rule: f.rule,
                    resource: f.resource,
                    resource_name: f.resource_name,
                })
                .collect()
        } else {
            return Err(format!(
                "{name}: not a portcullis report; give --baseline the output of an earlier \
                 `portcullis scan --format json` or `--format sarif`"
            ));
        };
        Ok(Self {
            file: name.to_owned(),
            unhealthy,
        })
    }

    /// Marks each unhealthy finding new or unchanged, and lists what was fixed.
    pub fn compare(&self, findings: &mut [Finding]) -> BaselineSummary {
        let known: HashSet<(String, String)> = self.unhealthy.iter().map(Known::key).collect();
        let mut now = HashSet::new();
        let (mut new, mut unchanged) = (0, 0);
        for finding in findings
            .iter_mut()
            .filter(|f| f.status == Status::Unhealthy)
        {
            let key = key(&finding.rule, &finding.resource);
            let state = if known.contains(&key) {
                unchanged += 1;
                BaselineState::Unchanged
            } else {
                new += 1;
                BaselineState::New
            };
            finding.baseline = Some(state);
            now.insert(key);
        }
        let mut listed = HashSet::new();
        let fixed = self
            .unhealthy
            .iter()
            .filter(|k| !now.contains(&k.key()) && listed.insert(k.key()))
            .map(|k| FixedFinding {
                rule: k.rule.clone(),
                resource: k.resource.clone(),
                resource_name: k.resource_name.clone(),
            })
            .collect();
        BaselineSummary {
            file: self.file.clone(),
            new,
            unchanged,
            fixed,
        }
    }
}

/// The results of portcullis runs in a SARIF log: every result is an unhealthy finding, its VM
/// the fully qualified name of its first logical location.
fn from_sarif(name: &str, sarif: &Sarif) -> Result<Vec<Known>, String> {
    let mut known = Vec::new();
    for run in &sarif.runs {
        if run.tool.driver.name != env!("CARGO_PKG_NAME") {
            return Err(format!(
                "{name}: a run of {} is not a portcullis run; give --baseline the SARIF that \
                 portcullis wrote",
                run.tool.driver.name
            ));
        }
        for result in run.results.iter().flatten() {
            let rule = result.rule_id.clone();
            let resource = result
                .locations
                .iter()
                .flatten()
                .flat_map(|l| l.logical_locations.iter().flatten())
                .find_map(|l| l.fully_qualified_name.clone());
            let (Some(rule), Some(resource)) = (rule, resource) else {
                return Err(format!(
                    "{name}: a result has no ruleId or no logical location naming its VM; give \
                     --baseline the SARIF that portcullis wrote"
                ));
            };
            let resource_name = result
                .properties
                .as_ref()
                .and_then(|p| p.additional_properties.get(SARIF_RESOURCE_NAME))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            known.push(Known {
                rule,
                resource,
                resource_name,
            });
        }
    }
    Ok(known)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::output::{Report, Summary, Tool, render_sarif, write_json};
    use crate::policy::Policy;
    use crate::score;

    const CLOSED: &str = "management-ports-closed";
    const JIT: &str = "management-ports-jit";

    fn report(findings: Vec<Finding>) -> Report {
        let policy = Policy::builtin();
        Report {
            tool: Tool::default(),
            summary: Summary::default(),
            score: score::compute(&policy, &findings),
            findings,
            collection: Vec::new(),
            warnings: Vec::new(),
            baseline: None,
            gate: None,
            history: None,
        }
    }

    /// The earlier run: vm1 and vm2 unhealthy on `closed`, vm3 unhealthy on `jit`.
    fn earlier() -> Report {
        report(vec![
            Finding::example(CLOSED, "/s/vm1", Status::Unhealthy),
            Finding::example(JIT, "/s/vm1", Status::Healthy),
            Finding::example(CLOSED, "/s/vm2", Status::Unhealthy),
            Finding::example(JIT, "/s/vm3", Status::Unhealthy),
        ])
    }

    /// As JSON and as SARIF output.
    fn baselines() -> [(&'static str, String); 2] {
        let policy = Policy::builtin();
        [
            ("earlier.json", {
                let mut json = Vec::new();
                write_json(&earlier(), &mut json).unwrap();
                String::from_utf8(json).unwrap()
            }),
            (
                "earlier.sarif",
                render_sarif(&earlier(), &policy, Path::new("/")),
            ),
        ]
    }

    #[test]
    fn findings_are_new_unchanged_or_fixed() {
        for (name, text) in baselines() {
            let baseline = Baseline::parse(name, &text).unwrap();
            let mut now = vec![
                // Ids differ in case only: the same VM.
                Finding::example(CLOSED, "/S/VM1", Status::Unhealthy),
                Finding::example(JIT, "/s/vm1", Status::Unhealthy),
                Finding::example(CLOSED, "/s/vm2", Status::Healthy),
                Finding::example(CLOSED, "/s/vm4", Status::Unhealthy),
            ];
            let summary = baseline.compare(&mut now);
            let states: Vec<Option<BaselineState>> = now.iter().map(|f| f.baseline).collect();
            assert_eq!(
                states,
                [
                    Some(BaselineState::Unchanged),
                    Some(BaselineState::New),
                    None,
                    Some(BaselineState::New)
                ],
                "{name}"
            );
            assert_eq!((summary.new, summary.unchanged), (2, 1), "{name}");
            let fixed: Vec<(&str, &str, &str)> = summary
                .fixed
                .iter()
                .map(|f| {
                    (
                        f.rule.as_str(),
                        f.resource.as_str(),
                        f.resource_name.as_str(),
                    )
                })
                .collect();
            assert_eq!(
                fixed,
                [(CLOSED, "/s/vm2", "vm2"), (JIT, "/s/vm3", "vm3")],
                "{name}"
            );
            assert_eq!(summary.file, name);
        }
    }

    #[test]
    fn other_files_are_refused_with_a_reason() {
        for (text, want) in [
            ("{\"a\": 1}", "x.json: not a portcullis report"),
            (
                "{\n  \"findings\": [\n    {\"rule\": 3}\n  ]\n}",
                "x.json:3:",
            ),
            ("{\"findings\": [", "x.json:1:14: EOF while parsing"),
            (
                r#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "other"}}, "results": []}]}"#,
                "a run of other is not a portcullis run",
            ),
            (
                r#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "portcullis"}}, "results": [{"ruleId": "x", "message": {"text": "m"}}]}]}"#,
                "a result has no ruleId or no logical location",
            ),
        ] {
            let err = Baseline::parse("x.json", text).unwrap_err();
            assert!(err.contains(want), "want {want:?} in {err}");
        }
    }

    #[test]
    fn only_regular_files_within_the_size_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baseline.json");
        std::fs::write(&path, "{}").unwrap();
        for (path, limit, want) in [
            (
                Path::new("/dev/zero"),
                1 << 20,
                "not a regular file (a character device)",
            ),
            (dir.path(), 1 << 20, "not a regular file (a folder)"),
            (
                path.as_path(),
                1,
                "larger than the input size limit of 1 bytes",
            ),
            (path.as_path(), 2, "not a portcullis report"),
        ] {
            let err = Baseline::load(path, limit).err().unwrap();
            assert!(err.starts_with(&*path.to_string_lossy()), "{err}");
            assert!(err.contains(want), "{want} / {err}");
        }
    }
}
