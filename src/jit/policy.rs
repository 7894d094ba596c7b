//! Who may open what: the JIT policy, YAML, checked before any write. The embedded default
//! (`rules/jit/default-policy.yaml`) lets anyone whom cloud IAM lets make the change open any
//! VM's management ports, from a source no broader than a /24 (IPv6 /64), for up to 3 hours,
//! with a justification; `--jit-policy FILE` replaces it.
//!
//! A request passes when it meets the global limits (`max_duration`, `justification_required`,
//! `min_prefix`; a source of prefix length 0, the whole internet, never passes) and one `allow`
//! entry grants it: the VM matches `vms` (globs on name or id, or `tag:KEY=VALUE`), the requester
//! `principals`, every port is in `ports`, the source lies within one of `sources` (`*`: any),
//! and the duration is within the entry's `max_duration`. A refusal names the file and line of
//! what refused it.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use glob::{MatchOptions, Pattern};
use ipnetwork::IpNetwork;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::exemptions::VmSelector;
use crate::model::{PortSpec, Vm};

use super::clock::{self, show_duration};
use super::grant::Access;

/// The format version a policy file declares (`jit_policy: 1`).
const VERSION: u32 = 1;
/// The embedded default policy's name in messages.
const DEFAULT_NAME: &str = "builtin:rules/jit/default-policy.yaml";
const DEFAULT_TEXT: &str = include_str!("../../rules/jit/default-policy.yaml");
/// Globs match names without regard to case.
const MATCH: MatchOptions = MatchOptions {
    case_sensitive: false,
    require_literal_separator: false,
    require_literal_leading_dot: false,
};

/// A policy file that cannot be used: where and why.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("JIT policy {file}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
pub struct PolicyError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

/// A request the policy refuses: the line that refused it, and why.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("refused by the JIT policy {file}, line {line}: {reason}; nothing was written")]
pub struct Refusal {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    jit_policy: Spanned<u32>,
    max_duration: Spanned<String>,
    justification_required: Spanned<bool>,
    min_prefix: Spanned<MinPrefix>,
    allow: Vec<Spanned<AllowDef>>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct MinPrefix {
    ipv4: u8,
    ipv6: u8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowDef {
    vms: Spanned<Vec<String>>,
    #[serde(default)]
    principals: Option<Spanned<Vec<String>>>,
    ports: Spanned<Vec<PortSpec>>,
    sources: Spanned<Vec<String>>,
    #[serde(default)]
    max_duration: Option<Spanned<String>>,
}

/// A value with the line it was written on.
#[derive(Clone, Debug)]
struct Lined<T> {
    value: T,
    line: usize,
}

/// The line a value was written on.
fn line_of<T>(spanned: &Spanned<T>) -> usize {
    spanned.referenced.line() as usize
}

fn lined<T, U>(spanned: &Spanned<T>, value: U) -> Lined<U> {
    Lined {
        value,
        line: line_of(spanned),
    }
}

/// A source an entry allows: any, or within a network.
#[derive(Clone, Debug)]
enum Source {
    Any,
    Within(IpNetwork),
}

/// One `allow` entry, checked.
#[derive(Debug)]
struct Allow {
    vms: Lined<Vec<VmSelector>>,
    principals: Option<Lined<Vec<Pattern>>>,
    ports: Lined<Vec<PortSpec>>,
    sources: Lined<Vec<Source>>,
    max_duration: Option<Lined<Duration>>,
}

/// A checked JIT policy.
#[derive(Debug)]
pub struct JitPolicy {
    file: String,
    max_duration: Lined<Duration>,
    justification_required: Lined<bool>,
    min_prefix: Lined<(u8, u8)>,
    allow: Vec<Allow>,
}

/// What is asked, for the policy to judge.
pub struct Ask<'a> {
    pub vm: &'a Vm,
    pub requester: &'a str,
    pub access: &'a Access,
    pub duration: Duration,
    pub justification: Option<&'a str>,
}

impl JitPolicy {
    /// The embedded default.
    pub fn builtin() -> Self {
        JitPolicy::parse(DEFAULT_NAME, DEFAULT_TEXT).expect("the embedded JIT policy is valid")
    }

    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            file: file.clone(),
            line: None,
            message: format!("cannot read it: {e}"),
        })?;
        JitPolicy::parse(&file, &text)
    }

    /// Checks the policy text `text`, named `file` in messages.
    pub fn parse(file: &str, text: &str) -> Result<Self, PolicyError> {
        let error = |line: usize, message: String| PolicyError {
            file: file.to_owned(),
            line: Some(line),
            message,
        };
        let raw: PolicyFile = serde_saphyr::from_str(text).map_err(|e| PolicyError {
            file: file.to_owned(),
            line: e.location().map(|l| l.line() as usize),
            message: e.without_snippet().to_string(),
        })?;
        if raw.jit_policy.value != VERSION {
            return Err(error(
                line_of(&raw.jit_policy),
                format!(
                    "jit_policy: {} is not a version this portcullis reads; write jit_policy: {VERSION}",
                    raw.jit_policy.value
                ),
            ));
        }
        let duration = |s: &Spanned<String>| {
            clock::parse_duration(&s.value)
                .map(|d| lined(s, d))
                .map_err(|e| error(line_of(s), e))
        };
        let min = raw.min_prefix.value;
        if !(1..=32).contains(&min.ipv4) || !(1..=128).contains(&min.ipv6) {
            return Err(error(
                line_of(&raw.min_prefix),
                "min_prefix: ipv4 must be 1 to 32 and ipv6 1 to 128 (a /0, the whole internet, is \
                 never allowed)"
                    .to_owned(),
            ));
        }
        if raw.allow.is_empty() {
            return Err(error(
                line_of(&raw.jit_policy),
                "allow: list at least one entry (with none, nothing can be requested)".to_owned(),
            ));
        }
        let mut allow = Vec::new();
        for entry in &raw.allow {
            allow.push(check_entry(&entry.value, &error)?);
        }
        Ok(JitPolicy {
            file: file.to_owned(),
            max_duration: duration(&raw.max_duration)?,
            justification_required: lined(
                &raw.justification_required,
                raw.justification_required.value,
            ),
            min_prefix: lined(&raw.min_prefix, (min.ipv4, min.ipv6)),
            allow,
        })
    }

    /// Whether the policy grants `ask`; a refusal names the line that refused it.
    pub fn check(&self, ask: &Ask<'_>) -> Result<(), Refusal> {
        let refuse = |line: usize, reason: String| Refusal {
            file: self.file.clone(),
            line,
            reason,
        };
        if ask.duration > self.max_duration.value {
            return Err(refuse(
                self.max_duration.line,
                format!(
                    "{} is longer than max_duration {}",
                    show_duration(ask.duration),
                    show_duration(self.max_duration.value)
                ),
            ));
        }
        if self.justification_required.value
            && ask.justification.is_none_or(|j| j.trim().is_empty())
        {
            return Err(refuse(
                self.justification_required.line,
                "a justification is required: give --justification TEXT".to_owned(),
            ));
        }
        let source = ask.access.source;
        let (v4, v6) = self.min_prefix.value;
        let min = if source.is_ipv4() { v4 } else { v6 };
        if source.prefix() < min {
            return Err(refuse(
                self.min_prefix.line,
                format!("source {source} is broader than the /{min} min_prefix allows"),
            ));
        }
        let mut reasons = Vec::new();
        for entry in &self.allow {
            match entry.refuses(ask) {
                None => return Ok(()),
                Some(reason) => reasons.push(reason),
            }
        }
        let first = reasons.first().map_or(self.max_duration.line, |(l, _)| *l);
        Err(refuse(
            first,
            format!(
                "no allow entry grants it ({})",
                reasons
                    .iter()
                    .map(|(line, why)| format!("line {line}: {why}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ))
    }

    /// What `jit policy validate` prints.
    pub fn summary(&self) -> String {
        format!(
            "{}: valid: {} allow entr{}, max_duration {}, justification {}, sources at least /{} \
             (IPv6 /{})",
            self.file,
            self.allow.len(),
            if self.allow.len() == 1 { "y" } else { "ies" },
            show_duration(self.max_duration.value),
            if self.justification_required.value {
                "required"
            } else {
                "optional"
            },
            self.min_prefix.value.0,
            self.min_prefix.value.1
        )
    }
}

impl Allow {
    /// Why this entry does not grant `ask` (the line of the field that refuses), or `None`.
    fn refuses(&self, ask: &Ask<'_>) -> Option<(usize, String)> {
        if !self.vms.value.iter().any(|s| s.matches(ask.vm)) {
            return Some((self.vms.line, format!("vms does not match {}", ask.vm.name)));
        }
        if let Some(principals) = &self.principals
            && !principals
                .value
                .iter()
                .any(|p| p.matches_with(ask.requester, MATCH))
        {
            return Some((
                principals.line,
                format!("principals does not include {}", ask.requester),
            ));
        }
        let missing: Vec<String> = ask
            .access
            .port_specs()
            .into_iter()
            .filter(|p| !self.ports.value.contains(p))
            .map(|p| p.to_string())
            .collect();
        if !missing.is_empty() {
            return Some((
                self.ports.line,
                format!("ports does not include {}", missing.join(", ")),
            ));
        }
        let source = ask.access.source;
        let within = self.sources.value.iter().any(|s| match s {
            Source::Any => true,
            Source::Within(net) => {
                net.is_ipv4() == source.is_ipv4()
                    && net.prefix() <= source.prefix()
                    && net.contains(source.network())
            }
        });
        if !within {
            return Some((
                self.sources.line,
                format!("source {source} is not within sources"),
            ));
        }
        if let Some(max) = &self.max_duration
            && ask.duration > max.value
        {
            return Some((
                max.line,
                format!(
                    "{} is longer than this entry's max_duration {}",
                    show_duration(ask.duration),
                    show_duration(max.value)
                ),
            ));
        }
        None
    }
}

fn check_entry(
    def: &AllowDef,
    error: &impl Fn(usize, String) -> PolicyError,
) -> Result<Allow, PolicyError> {
    let vms = def
        .vms
        .value
        .iter()
        .map(|v| VmSelector::parse(v).map_err(|e| error(line_of(&def.vms), format!("vms: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let principals = match &def.principals {
        Some(p) => Some(lined(
            p,
            p.value
                .iter()
                .map(|g| {
                    Pattern::new(g).map_err(|e| {
                        error(
                            line_of(p),
                            format!("principals: {g:?} is not a glob: {}", e.msg),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        )),
        None => None,
    };
    let sources = def
        .sources
        .value
        .iter()
        .map(|s| match s.trim() {
            "*" => Ok(Source::Any),
            text => text
                .parse::<IpNetwork>()
                .ok()
                .filter(|n| n.prefix() > 0)
                .map(Source::Within)
                .ok_or_else(|| {
                    error(
                        line_of(&def.sources),
                        format!(
                            "sources: {text:?} is not a CIDR such as 203.0.113.0/24 (a /0 is never \
                             allowed; write \"*\" for any source within min_prefix)"
                        ),
                    )
                }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let max_duration = match &def.max_duration {
        Some(s) => Some(
            clock::parse_duration(&s.value)
                .map(|d| lined(s, d))
                .map_err(|e| error(line_of(s), e))?,
        ),
        None => None,
    };
    Ok(Allow {
        vms: lined(&def.vms, vms),
        principals,
        ports: lined(&def.ports, def.ports.value.clone()),
        sources: lined(&def.sources, sources),
        max_duration,
    })
}

impl fmt::Display for JitPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::Provider;

    fn vm(name: &str, tags: &[(&str, &str)]) -> Vm {
        Vm {
            id: format!(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}"
            ),
            name: name.to_owned(),
            provider: Provider::Azure,
            scope: "s".to_owned(),
            region: None,
            power_state: None,
            nic_ids: Vec::new(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            origin: None,
        }
    }

    const TEAM: &str = "\
jit_policy: 1
max_duration: 8h
justification_required: false
min_prefix: {ipv4: 28, ipv6: 64}
allow:
  - vms: [\"web-*\", \"tag:team=web\"]
    principals: [\"*@contoso.com\"]
    ports: [22/tcp]
    sources: [\"81.2.69.0/24\"]
    max_duration: 2h
  - vms: [\"*\"]
    principals: [oncall@contoso.com]
    ports: [22/tcp, 3389/tcp]
    sources: [\"*\"]
";

    fn ask<'a>(vm: &'a Vm, who: &'a str, access: &'a Access, hours: u64) -> Ask<'a> {
        Ask {
            vm,
            requester: who,
            access,
            duration: Duration::from_secs(hours * 3600),
            justification: None,
        }
    }

    #[test]
    fn the_builtin_policy_grants_management_ports_from_a_narrow_source_for_three_hours() {
        let policy = JitPolicy::builtin();
        let web = vm("web-1", &[]);
        let ssh = Access::parse(&["22".into()], "81.2.69.160").unwrap();
        let mut request = ask(&web, "anyone", &ssh, 3);
        request.justification = Some("INC-1");
        assert_eq!(policy.check(&request), Ok(()));
        let cases: [(&str, Ask<'_>, usize, &str); 4] = [
            (
                "four hours",
                Ask {
                    duration: Duration::from_secs(4 * 3600),
                    ..ask(&web, "a", &ssh, 0)
                },
                5,
                "longer than max_duration 3h",
            ),
            (
                "no justification",
                ask(&web, "a", &ssh, 1),
                6,
                "justification is required",
            ),
            (
                "blank justification",
                Ask {
                    justification: Some("  "),
                    ..ask(&web, "a", &ssh, 1)
                },
                6,
                "justification is required",
            ),
            (
                "a /16",
                Ask {
                    access: &Access::parse(&["22".into()], "81.2.0.0/16").unwrap(),
                    justification: Some("x"),
                    ..ask(&web, "a", &ssh, 1)
                },
                7,
                "broader than the /24",
            ),
        ];
        for (name, request, line, says) in cases {
            let refusal = policy.check(&request).unwrap_err();
            assert_eq!(refusal.line, line, "{name}: {refusal}");
            assert!(refusal.to_string().contains(says), "{name}: {refusal}");
        }
    }

    #[test]
    fn a_refusal_names_the_entry_line_that_refused() {
        let policy = JitPolicy::parse("team.yaml", TEAM).unwrap();
        let (web, db) = (vm("web-1", &[]), vm("db-1", &[("team", "web")]));
        let ssh = Access::parse(&["22".into()], "81.2.69.160").unwrap();
        let rdp = Access::parse(&["3389".into()], "81.2.69.160").unwrap();
        let far = Access::parse(&["22".into()], "81.3.0.1").unwrap();
        assert_eq!(
            policy.check(&ask(&web, "alice@contoso.com", &ssh, 2)),
            Ok(())
        );
        assert_eq!(
            policy.check(&ask(&db, "alice@contoso.com", &ssh, 1)),
            Ok(()),
            "by tag"
        );
        assert_eq!(
            policy.check(&ask(&db, "oncall@contoso.com", &rdp, 8)),
            Ok(())
        );
        for (request, line, says) in [
            (
                ask(&web, "alice@contoso.com", &rdp, 1),
                8,
                "ports does not include 3389/tcp",
            ),
            (
                ask(&web, "alice@contoso.com", &far, 1),
                9,
                "81.3.0.1/32 is not within sources",
            ),
            (
                ask(&web, "alice@contoso.com", &ssh, 3),
                10,
                "longer than this entry's max_duration 2h",
            ),
            (
                ask(&web, "mallory@evil.example", &ssh, 1),
                7,
                "principals does not include",
            ),
            (
                ask(&web, "alice@contoso.com", &ssh, 9),
                2,
                "longer than max_duration 8h",
            ),
        ] {
            let refusal = policy.check(&request).unwrap_err();
            assert_eq!(refusal.line, line, "{refusal}");
            assert!(refusal.to_string().contains(says), "{refusal}");
            assert!(
                refusal
                    .to_string()
                    .starts_with("refused by the JIT policy team.yaml, line")
            );
        }
    }

    #[test]
    fn bad_policies_are_named_with_their_line() {
        let cases = [
            (
                TEAM.replace("jit_policy: 1", "jit_policy: 2"),
                1,
                "not a version",
            ),
            (
                TEAM.replace("max_duration: 8h", "max_duration: 2d"),
                2,
                "not a duration",
            ),
            (
                TEAM.replace("max_duration: 8h", "max_duration: 48h"),
                2,
                "24 hours",
            ),
            (TEAM.replace("ipv4: 28", "ipv4: 0"), 4, "never allowed"),
            (
                TEAM.replace("\"81.2.69.0/24\"", "\"0.0.0.0/0\""),
                9,
                "never allowed",
            ),
            (TEAM.replace("[22/tcp]", "[ssh]"), 8, ""),
            (
                TEAM.replace("max_duration: 2h", "maximum: 2h"),
                10,
                "maximum",
            ),
        ];
        for (text, line, says) in cases {
            let error = JitPolicy::parse("p.yaml", &text).unwrap_err();
            assert_eq!(error.line, Some(line), "{error}");
            assert!(error.to_string().contains(says), "{error}");
        }
    }
}
