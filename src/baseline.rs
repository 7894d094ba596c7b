//! Baselines: an earlier run's output (`--format json` or `--format sarif`), so that a CI gate
//! fails only on what is new.
//!
//! A finding is identified by its recommendation and its VM's id (ignoring case, as Azure does).
//! Each unhealthy finding of this run is `new` (not unhealthy in the baseline) or `unchanged`;
//! the baseline's unhealthy findings that are no longer unhealthy are listed as fixed.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_sarif::sarif::Sarif;

use crate::finding::{BaselineState, Finding, Status};

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
    pub fn load(path: &Path) -> Result<Self, String> {
        let name = path.display().to_string();
        let text = fs::read_to_string(path)
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
