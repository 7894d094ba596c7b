//! Exemptions: unhealthy findings a team has accepted until a date, listed in a YAML file
//! (`--exemptions FILE`).
//!
//! Each entry names a recommendation (or `"*"` for all), the VMs it covers (a glob on the VM's
//! id or name, a tag, or both), why, who owns it and its last day. A finding an exemption in
//! force covers stays unhealthy but is reported as exempt: it counts as not applicable for the
//! score and does not fail a gate. From the day after `expires` the exemption stops applying,
//! the finding counts again, and the report says so.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use glob::{MatchOptions, Pattern};
use serde::Deserialize;
use serde_saphyr::Spanned;
use time::Date;
use time::macros::format_description;

use crate::finding::{AppliedExemption, Finding, Status};
use crate::input_file;
use crate::model::{Snapshot, Vm};
use crate::policy::{Place, Policy, Problem};

/// Globs ignore case (Azure ids do) and `*` crosses `/` (ids are paths).
const MATCH: MatchOptions = MatchOptions {
    case_sensitive: false,
    require_literal_separator: false,
    require_literal_leading_dot: false,
};

/// A checked exemptions file.
#[derive(Debug)]
pub struct Exemptions {
    entries: Vec<Exemption>,
}

#[derive(Debug)]
struct Exemption {
    /// A recommendation id, or `None` for every recommendation.
    rule: Option<String>,
    resource: Option<Pattern>,
    tag: Option<TagMatch>,
    justification: String,
    owner: String,
    expires: Date,
    /// `file:line` of the entry.
    source: String,
}

/// A tag a VM must carry, with a glob on its value.
#[derive(Clone, Debug)]
pub struct TagMatch {
    key: String,
    /// `None` matches any value.
    value: Option<Pattern>,
}

impl TagMatch {
    fn matches(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.iter().any(|(key, value)| {
            key.eq_ignore_ascii_case(&self.key)
                && self
                    .value
                    .as_ref()
                    .is_none_or(|p| p.matches_with(value, MATCH))
        })
    }
}

fn resource_matches(pattern: &Pattern, id: &str, name: &str) -> bool {
    pattern.matches_with(id, MATCH) || pattern.matches_with(name, MATCH)
}

/// Which VMs a command acts on, matched as exemptions match them: `tag:KEY` or
/// `tag:KEY=VALUE` (VALUE a glob), else a glob on the VM's id or name.
#[derive(Clone, Debug)]
pub enum VmSelector {
    Resource(Pattern),
    Tag(TagMatch),
}

impl VmSelector {
    /// Parses `--resource` text; the error says what to write instead.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().strip_prefix("tag:") {
            Some(tag) => tag_match(tag).map(VmSelector::Tag),
            None => glob(text)
                .map(VmSelector::Resource)
                .map_err(|message| format!("--resource {message}")),
        }
    }

    pub fn matches(&self, vm: &Vm) -> bool {
        match self {
            VmSelector::Resource(pattern) => resource_matches(pattern, &vm.id, &vm.name),
            VmSelector::Tag(tag) => tag.matches(&vm.tags),
        }
    }
}

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExemptionsFile {
    exemptions: Vec<Spanned<ExemptionDef>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExemptionDef {
    rule: Spanned<String>,
    resource: Option<Spanned<String>>,
    tag: Option<Spanned<String>>,
    justification: Spanned<String>,
    owner: Spanned<String>,
    expires: Spanned<String>,
}

/// The exemptions file could not be used; every problem, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExemptionsError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ExemptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid exemptions:")?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ExemptionsError {}

impl Exemptions {
    /// Reads and checks an exemptions file; recommendation ids must exist in `policy`.
    /// The file must be a regular file of at most `max_bytes`.
    pub fn load(path: &Path, policy: &Policy, max_bytes: u64) -> Result<Self, ExemptionsError> {
        let name = path.display().to_string();
        let text = input_file::read_text(path, max_bytes).map_err(|e| ExemptionsError {
            problems: vec![Problem::in_file(
                &name,
                format!("cannot read the exemptions file: {e}"),
            )],
        })?;
        Self::parse(&name, &text, policy)
    }

    /// Checks the text of an exemptions file named `name`.
    pub fn parse(name: &str, text: &str, policy: &Policy) -> Result<Self, ExemptionsError> {
        let blank = text.lines().all(|line| {
            let line = line.trim();
            line.is_empty() || line.starts_with('#') || line == "---"
        });
        if blank {
            return Err(ExemptionsError {
                problems: vec![Problem::in_file(
                    name,
                    "the file lists no exemptions; start it with `exemptions:` and list entries \
                     under it (or write `exemptions: []` for none)",
                )],
            });
        }
        let file: ExemptionsFile = serde_saphyr::from_str(text).map_err(|err| ExemptionsError {
            problems: vec![Problem::from_yaml(name, &err)],
        })?;
        let mut problems = Vec::new();
        let entries = file
            .exemptions
            .into_iter()
            .filter_map(|def| check(name, def, policy, &mut problems))
            .collect();
        if problems.is_empty() {
            Ok(Self { entries })
        } else {
            Err(ExemptionsError { problems })
        }
    }

    /// Marks every unhealthy finding an exemption covers, preferring one in force over an
    /// expired one and earlier entries over later ones. `today` decides expiry. Returns what the
    /// report should warn about: expired exemptions and exemptions that cover nothing.
    pub fn apply(&self, findings: &mut [Finding], snapshot: &Snapshot, today: Date) -> Vec<String> {
        let tags: HashMap<&str, &BTreeMap<String, String>> = snapshot
            .vms
            .iter()
            .map(|vm| (vm.id.as_str(), &vm.tags))
            .collect();
        let no_tags = BTreeMap::new();
        let mut covered = vec![0usize; self.entries.len()];
        for finding in findings
            .iter_mut()
            .filter(|f| f.status == Status::Unhealthy)
        {
            let vm_tags = tags
                .get(finding.resource.as_str())
                .copied()
                .unwrap_or(&no_tags);
            let mut chosen: Option<&Exemption> = None;
            for (entry, count) in self.entries.iter().zip(covered.iter_mut()) {
                if !entry.covers(finding, vm_tags) {
                    continue;
                }
                *count += 1;
                let better = match chosen {
                    None => true,
                    Some(current) => current.expired(today) && !entry.expired(today),
                };
                if better {
                    chosen = Some(entry);
                }
            }
            finding.exemption = chosen.map(|entry| AppliedExemption {
                justification: entry.justification.clone(),
                owner: entry.owner.clone(),
                expires: entry.expires.to_string(),
                expired: entry.expired(today),
                source: entry.source.clone(),
            });
        }
        self.entries
            .iter()
            .zip(covered)
            .filter_map(|(entry, count)| entry.warning(count, today))
            .collect()
    }
}

impl Exemption {
    fn expired(&self, today: Date) -> bool {
        today > self.expires
    }

    fn covers(&self, finding: &Finding, tags: &BTreeMap<String, String>) -> bool {
        let rule = self.rule.as_ref().is_none_or(|r| *r == finding.rule);
        let resource = self
            .resource
            .as_ref()
            .is_none_or(|p| resource_matches(p, &finding.resource, &finding.resource_name));
        let tag = self.tag.as_ref().is_none_or(|t| t.matches(tags));
        rule && resource && tag
    }

    fn warning(&self, covered: usize, today: Date) -> Option<String> {
        let what = format!(
            "{}: exemption of {} owned by {}",
            self.source,
            self.rule.as_deref().unwrap_or("every recommendation"),
            self.owner
        );
        match (self.expired(today), covered) {
            (true, 0) => Some(format!(
                "{what} expired on {} and covers no unhealthy finding; remove it",
                self.expires
            )),
            (true, n) => Some(format!(
                "{what} expired on {}: it no longer applies, and the {} it covered count again; \
                 fix them or renew the exemption",
                self.expires,
                plural(n, "finding")
            )),
            (false, 0) => Some(format!(
                "{what} covers no unhealthy finding; remove it if the issue was fixed"
            )),
            (false, _) => None,
        }
    }
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Checks one entry, adding what is wrong with it to `problems`.
fn check(
    file: &str,
    def: Spanned<ExemptionDef>,
    policy: &Policy,
    problems: &mut Vec<Problem>,
) -> Option<Exemption> {
    let entry_place = Place::of(file, &def);
    let def = def.value;
    let before = problems.len();
    let mut problem = |spanned_place: Place, message: String| {
        problems.push(Problem::at(&spanned_place, message));
    };

    let rule = match def.rule.value.trim() {
        "*" => None,
        id if policy.recommendation(id).is_some() => Some(id.to_owned()),
        id => {
            let known: Vec<&str> = policy
                .recommendations
                .iter()
                .map(|r| r.id.as_str())
                .collect();
            problem(
                Place::of(file, &def.rule),
                format!(
                    "rule `{id}` is not a recommendation of the policy; write one of {} or \"*\"",
                    known.join(", ")
                ),
            );
            None
        }
    };
    let resource = def.resource.as_ref().and_then(|r| {
        glob(&r.value)
            .map_err(|message| problem(Place::of(file, r), format!("resource {message}")))
            .ok()
    });
    let tag = def.tag.as_ref().and_then(|t| {
        tag_match(&t.value)
            .map_err(|message| problem(Place::of(file, t), message))
            .ok()
    });
    if def.resource.is_none() && def.tag.is_none() {
        problem(
            entry_place.clone(),
            "an exemption needs `resource` (a glob on the VM's id or name), `tag` (KEY or \
             KEY=VALUE), or both, to say which VMs it covers"
                .to_owned(),
        );
    }
    for (field, value) in [("justification", &def.justification), ("owner", &def.owner)] {
        if value.value.trim().is_empty() {
            problem(
                Place::of(file, value),
                format!(
                    "`{field}` is empty; say {}",
                    match field {
                        "justification" => "why the finding is accepted",
                        _ => "who answers for the exemption",
                    }
                ),
            );
        }
    }
    let expires = Date::parse(
        def.expires.value.trim(),
        format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| {
        problem(
            Place::of(file, &def.expires),
            format!(
                "expires {:?} is not a date; write the exemption's last day as YYYY-MM-DD",
                def.expires.value
            ),
        )
    })
    .ok();
    if problems.len() > before {
        return None;
    }
    Some(Exemption {
        rule,
        resource,
        tag,
        justification: def.justification.value.trim().to_owned(),
        owner: def.owner.value.trim().to_owned(),
        expires: expires?,
        source: format!("{}:{}", entry_place.file, entry_place.line),
    })
}

fn glob(text: &str) -> Result<Pattern, String> {
    if text.trim().is_empty() {
        return Err("pattern is empty; write a VM id or name, with * and ? as wildcards".into());
    }
    Pattern::new(text.trim())
        .map_err(|e| format!("pattern {text:?} is not a valid glob: {}", e.msg))
}

fn tag_match(text: &str) -> Result<TagMatch, String> {
    let (key, value) = match text.split_once('=') {
        Some((key, value)) => (key.trim(), Some(value.trim())),
        None => (text.trim(), None),
    };
    if key.is_empty() {
        return Err(format!(
            "tag {text:?} has no key; write KEY (any value) or KEY=VALUE (VALUE may use * and ?)"
        ));
    }
    Ok(TagMatch {
        key: key.to_owned(),
        value: value
            .map(|v| glob(v).map_err(|message| format!("tag value {message}")))
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use time::macros::date;

    use super::*;
    use crate::model::{Provider, Vm};

    const LEGACY: &str = "/subscriptions/s1/resourceGroups/rg-legacy/providers/Microsoft.Compute/virtualMachines/old-01";
    const WEB: &str = "/subscriptions/s1/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/web-01";

    fn vm(id: &str, tags: &[(&str, &str)]) -> Vm {
        Vm {
            id: id.to_owned(),
            name: id.rsplit('/').next().unwrap().to_owned(),
            provider: Provider::Azure,
            scope: "s1".to_owned(),
            region: None,
            power_state: None,
            nic_ids: Vec::new(),
            tags: tags
                .iter()
                .map(|&(k, v)| (k.to_owned(), v.to_owned()))
                .collect::<BTreeMap<_, _>>(),
            origin: None,
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            vms: vec![
                vm(LEGACY, &[("Env", "sandbox")]),
                vm(WEB, &[("env", "production"), ("owner", "web-team")]),
            ],
            ..Snapshot::new()
        }
    }

    /// One exemption entry in YAML, with its fields as given.
    fn file(entries: &[&str]) -> String {
        let mut text = String::from("exemptions:\n");
        for entry in entries {
            text.push_str(&format!(
                "  - {entry}\n    justification: accepted risk\n    owner: ops@example.com\n"
            ));
        }
        text
    }

    const CLOSED: &str = "management-ports-closed";
    const JIT: &str = "management-ports-jit";

    #[test]
    fn which_findings_an_exemption_covers() {
        struct Case {
            name: &'static str,
            entry: &'static str,
            /// (rule, VM) of the unhealthy findings it should cover.
            covers: &'static [(&'static str, &'static str)],
        }
        let cases = [
            Case {
                name: "glob on the id",
                entry: "rule: management-ports-closed\n    resource: \"*/resourceGroups/rg-legacy/*\"\n    expires: 2030-01-01",
                covers: &[(CLOSED, LEGACY)],
            },
            Case {
                name: "glob on the name, any case",
                entry: "rule: management-ports-closed\n    resource: WEB-*\n    expires: 2030-01-01",
                covers: &[(CLOSED, WEB)],
            },
            Case {
                name: "every recommendation",
                entry: "rule: \"*\"\n    resource: web-01\n    expires: 2030-01-01",
                covers: &[(CLOSED, WEB), (JIT, WEB)],
            },
            Case {
                name: "tag with a value, key in any case",
                entry: "rule: management-ports-jit\n    tag: env=sand*\n    expires: 2030-01-01",
                covers: &[(JIT, LEGACY)],
            },
            Case {
                name: "tag with any value",
                entry: "rule: management-ports-jit\n    tag: owner\n    expires: 2030-01-01",
                covers: &[(JIT, WEB)],
            },
            Case {
                name: "resource and tag must both match",
                entry: "rule: \"*\"\n    resource: old-*\n    tag: env=production\n    expires: 2030-01-01",
                covers: &[],
            },
        ];
        let policy = Policy::builtin();
        for case in cases {
            let exemptions = Exemptions::parse("x.yaml", &file(&[case.entry]), &policy)
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
            let mut findings = vec![
                Finding::example(CLOSED, LEGACY, Status::Unhealthy),
                Finding::example(JIT, LEGACY, Status::Unhealthy),
                Finding::example(CLOSED, WEB, Status::Unhealthy),
                Finding::example(JIT, WEB, Status::Unhealthy),
                Finding::example("internet-facing-vm-nsg", WEB, Status::Healthy),
            ];
            exemptions.apply(&mut findings, &snapshot(), date!(2026 - 06 - 01));
            let covered: Vec<(&str, &str)> = findings
                .iter()
                .filter(|f| f.is_exempt())
                .map(|f| (f.rule.as_str(), f.resource.as_str()))
                .collect();
            assert_eq!(covered, case.covers, "{}", case.name);
        }
    }

    #[test]
    fn healthy_findings_are_never_exempt() {
        let exemptions = Exemptions::parse(
            "x.yaml",
            &file(&["rule: \"*\"\n    resource: \"*\"\n    expires: 2030-01-01"]),
            &Policy::builtin(),
        )
        .unwrap();
        let mut findings = vec![
            Finding::example(CLOSED, WEB, Status::Healthy),
            Finding::example(JIT, WEB, Status::NotApplicable),
        ];
        exemptions.apply(&mut findings, &snapshot(), date!(2026 - 06 - 01));
        assert!(findings.iter().all(|f| f.exemption.is_none()));
    }

    #[test]
    fn expiry_is_inclusive_and_says_so() {
        let exemptions = Exemptions::parse(
            "ex.yaml",
            &file(&[
                "rule: management-ports-closed\n    resource: web-01\n    expires: 2026-06-30",
            ]),
            &Policy::builtin(),
        )
        .unwrap();
        for (today, exempt) in [
            (date!(2026 - 06 - 29), true),
            (date!(2026 - 06 - 30), true),
            (date!(2026 - 07 - 01), false),
        ] {
            let mut findings = vec![Finding::example(CLOSED, WEB, Status::Unhealthy)];
            let warnings = exemptions.apply(&mut findings, &snapshot(), today);
            let applied = findings[0].exemption.as_ref().unwrap();
            assert_eq!(findings[0].is_exempt(), exempt, "{today}");
            assert_eq!(applied.expired, !exempt, "{today}");
            assert_eq!(applied.expires, "2026-06-30");
            assert_eq!(applied.source, "ex.yaml:2");
            assert_eq!(
                findings[0].scored_status(),
                if exempt {
                    Status::NotApplicable
                } else {
                    Status::Unhealthy
                }
            );
            if exempt {
                assert!(warnings.is_empty(), "{warnings:?}");
            } else {
                assert_eq!(warnings.len(), 1);
                assert!(
                    warnings[0].contains("expired on 2026-06-30")
                        && warnings[0].contains("1 finding it covered count again"),
                    "{}",
                    warnings[0]
                );
            }
        }
    }

    #[test]
    fn an_exemption_in_force_wins_over_an_expired_one() {
        let exemptions = Exemptions::parse(
            "ex.yaml",
            &file(&[
                "rule: management-ports-closed\n    resource: web-01\n    expires: 2020-01-01",
                "rule: management-ports-closed\n    resource: web-*\n    expires: 2030-01-01",
            ]),
            &Policy::builtin(),
        )
        .unwrap();
        let mut findings = vec![Finding::example(CLOSED, WEB, Status::Unhealthy)];
        let warnings = exemptions.apply(&mut findings, &snapshot(), date!(2026 - 06 - 01));
        assert!(findings[0].is_exempt());
        assert_eq!(findings[0].exemption.as_ref().unwrap().source, "ex.yaml:7");
        assert_eq!(
            warnings.len(),
            1,
            "the expired entry is reported: {warnings:?}"
        );
        assert!(warnings[0].starts_with("ex.yaml:2:"), "{}", warnings[0]);
    }

    #[test]
    fn unused_exemptions_are_reported() {
        let exemptions = Exemptions::parse(
            "ex.yaml",
            &file(&[
                "rule: management-ports-closed\n    resource: gone-*\n    expires: 2030-01-01",
                "rule: management-ports-closed\n    resource: gone-*\n    expires: 2020-01-01",
            ]),
            &Policy::builtin(),
        )
        .unwrap();
        let mut findings = vec![Finding::example(CLOSED, WEB, Status::Unhealthy)];
        let warnings = exemptions.apply(&mut findings, &snapshot(), date!(2026 - 06 - 01));
        assert_eq!(warnings.len(), 2);
        assert!(
            warnings[0].contains("covers no unhealthy finding; remove it if the issue was fixed")
        );
        assert!(warnings[1].contains("expired on 2020-01-01 and covers no unhealthy finding"));
    }

    #[test]
    fn an_empty_list_is_fine() {
        let exemptions =
            Exemptions::parse("x.yaml", "exemptions: []\n", &Policy::builtin()).unwrap();
        let mut findings = vec![Finding::example(CLOSED, WEB, Status::Unhealthy)];
        assert!(
            exemptions
                .apply(&mut findings, &snapshot(), date!(2026 - 06 - 01))
                .is_empty()
        );
        assert!(findings[0].exemption.is_none());
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let cases = [
            (
                "exemptions:\n  - rule: nope\n    resource: x\n    justification: j\n    owner: o\n    expires: 2030-01-01\n",
                "x.yaml:2:11: rule `nope` is not a recommendation of the policy",
            ),
            (
                "exemptions:\n  - rule: management-ports-jit\n    justification: j\n    owner: o\n    expires: 2030-01-01\n",
                "x.yaml:2:5: an exemption needs `resource`",
            ),
            (
                "exemptions:\n  - rule: management-ports-jit\n    resource: x\n    justification: j\n    owner: o\n    expires: 2030-02-30\n",
                "x.yaml:6:14: expires \"2030-02-30\" is not a date",
            ),
            (
                "exemptions:\n  - rule: management-ports-jit\n    resource: x\n    justification: \"\"\n    owner: o\n    expires: 2030-01-01\n",
                "x.yaml:4:20: `justification` is empty",
            ),
            (
                "exemptions:\n  - rule: management-ports-jit\n    resource: \"[\"\n    justification: j\n    owner: o\n    expires: 2030-01-01\n",
                "x.yaml:3:15: resource pattern \"[\" is not a valid glob",
            ),
            (
                "exemptions:\n  - rule: management-ports-jit\n    tag: \"=x\"\n    justification: j\n    owner: o\n    expires: 2030-01-01\n",
                "x.yaml:3:10: tag \"=x\" has no key",
            ),
            (
                "exemptions:\n  - rule: management-ports-jit\n    resource: x\n    justification: j\n    ownr: o\n    expires: 2030-01-01\n",
                "x.yaml:5:5:",
            ),
            ("# nothing yet\n", "x.yaml: the file lists no exemptions"),
        ];
        let policy = Policy::builtin();
        for (text, want) in cases {
            let err = Exemptions::parse("x.yaml", text, &policy).unwrap_err();
            let shown = err.to_string();
            assert!(shown.contains(want), "want {want:?} in:\n{shown}");
        }
    }

    #[test]
    fn only_regular_files_within_the_size_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exemptions.yaml");
        std::fs::write(&path, "exemptions: []\n").unwrap();
        let policy = Policy::builtin();
        for (path, limit, want) in [
            (
                Path::new("/dev/zero"),
                1 << 20,
                Some("not a regular file (a character device)"),
            ),
            (
                path.as_path(),
                5,
                Some("larger than the input size limit of 5 bytes"),
            ),
            (path.as_path(), 1 << 20, None),
        ] {
            match (Exemptions::load(path, &policy, limit), want) {
                (Err(err), Some(want)) => assert!(err.to_string().contains(want), "{want} / {err}"),
                (Ok(_), None) => {}
                (Err(err), None) => panic!("{err}"),
                (Ok(_), Some(want)) => panic!("read, expected {want}"),
            }
        }
    }
}
