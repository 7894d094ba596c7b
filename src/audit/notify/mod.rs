//! `audit --notify URL`: a webhook message when a run needs a human, and only then. A run
//! needs one when findings became unhealthy (new, or reopened after a fix) since the run
//! before it, or when its score fell below `--min-score` while the run before was at or above
//! it; the first run of a store sends one baseline summary. Each finding is announced once,
//! when it appears: later runs see it "still open". The message's kinds of receiver
//! ([`Target`]): generic JSON ([`Message`], schema `portcullis.notification/v1`), a Slack
//! incoming webhook and a Microsoft Teams Workflows webhook (an Adaptive Card), rendered by
//! [`payload`]; [`send`] delivers them with retries and timeouts, and a failure never fails the
//! audit.

mod payload;
mod send;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::diff::{Changed, Diff};
use crate::policy::{Policy, Severity};

pub use send::{Delivery, deliver};

/// The most findings a message lists in each of `new` and `reopened`; the counts are whole.
pub const LISTED: usize = 50;

/// Where to send, and in which shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Generic(reqwest::Url),
    Slack(reqwest::Url),
    Teams(reqwest::Url),
}

impl Target {
    /// `slack:URL`, `teams:URL`, or a plain `http(s)://` URL for generic JSON.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (kind, url): (fn(reqwest::Url) -> Target, &str) =
            if let Some(url) = text.strip_prefix("slack:") {
                (Target::Slack, url)
            } else if let Some(url) = text.strip_prefix("teams:") {
                (Target::Teams, url)
            } else {
                (Target::Generic, text)
            };
        let parsed = reqwest::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                format!(
                    "--notify {}: not a webhook; give an http(s) URL, or slack:URL or teams:URL",
                    shown(url)
                )
            })?;
        Ok(kind(parsed))
    }

    fn url(&self) -> &reqwest::Url {
        match self {
            Target::Generic(url) | Target::Slack(url) | Target::Teams(url) => url,
        }
    }
}

/// A webhook named without its secret: scheme and host only (Slack's and Teams' URLs carry
/// their credential in the path and query).
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Target::Generic(_) => "",
            Target::Slack(_) => "slack:",
            Target::Teams(_) => "teams:",
        };
        write!(f, "{kind}{}", shown(self.url().as_str()))
    }
}

/// `https://host/…`: a URL's scheme and host.
fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("")),
        Err(_) => "(an unparsable URL)".to_owned(),
    }
}

/// The generic message, as JSON receivers get it (docs/audits.md documents the schema).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Message {
    /// `portcullis.notification/v1`.
    pub schema: &'static str,
    /// `baseline` (the store's first run) or `changes`.
    pub kind: &'static str,
    pub run: RunFacts,
    /// Set when the score fell below `--min-score` in this run.
    pub score_below: Option<f64>,
    pub new_count: usize,
    pub reopened_count: usize,
    /// At most [`LISTED`] each, most severe first.
    pub new: Vec<Finding>,
    pub reopened: Vec<Finding>,
    /// Unhealthy findings (not exempt) in this run, per recommendation.
    pub unhealthy: BTreeMap<String, usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunFacts {
    pub id: i64,
    pub time: String,
    pub score: f64,
    pub sources: Vec<String>,
    pub previous_run: Option<i64>,
    pub previous_score: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub rule: String,
    pub resource: String,
    pub scope: String,
    pub fingerprint: String,
    pub severity: Option<Severity>,
}

/// The run just recorded, and what it is compared with.
pub struct Recorded<'a> {
    pub run: RunFacts,
    /// The diff with the previous run; `None` for a store's first run.
    pub diff: Option<&'a Diff>,
    pub min_score: Option<f64>,
    pub unhealthy: BTreeMap<String, usize>,
}

/// The message `recorded` calls for, if it calls for one.
pub fn message(recorded: Recorded, policy: &Policy) -> Option<Message> {
    let Recorded {
        run,
        diff,
        min_score,
        unhealthy,
    } = recorded;
    let score_below = min_score.filter(|&gate| {
        run.score < gate && run.previous_score.is_none_or(|previous| previous >= gate)
    });
    let list = |changed: &[Changed]| {
        let mut found: Vec<Finding> = changed
            .iter()
            .map(|c| Finding {
                rule: c.rule.clone(),
                resource: c.resource.clone(),
                scope: c.scope.clone(),
                fingerprint: c.fingerprint.clone(),
                severity: policy.recommendation(&c.rule).map(|r| r.severity),
            })
            .collect();
        found.sort_by_key(|f| std::cmp::Reverse(f.severity));
        found.truncate(LISTED);
        found
    };
    let (kind, new, reopened, counts) = match diff {
        None => ("baseline", Vec::new(), Vec::new(), (0, 0)),
        Some(diff) if diff.new.is_empty() && diff.reopened.is_empty() && score_below.is_none() => {
            return None;
        }
        Some(diff) => (
            "changes",
            list(&diff.new),
            list(&diff.reopened),
            (diff.new.len(), diff.reopened.len()),
        ),
    };
    Some(Message {
        schema: "portcullis.notification/v1",
        kind,
        run,
        score_below,
        new_count: counts.0,
        reopened_count: counts.1,
        new,
        reopened,
        unhealthy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::diff::changed;

    fn recorded(diff: Option<&Diff>, score: f64, previous: Option<f64>) -> Recorded<'_> {
        Recorded {
            run: RunFacts {
                id: 2,
                time: "t".to_owned(),
                score,
                sources: Vec::new(),
                previous_run: previous.map(|_| 1),
                previous_score: previous,
            },
            diff,
            min_score: Some(50.0),
            unhealthy: BTreeMap::new(),
        }
    }

    #[test]
    fn only_when_something_needs_a_human() {
        let policy = Policy::builtin();
        let quiet = Diff {
            open: vec![changed("vm1")],
            fixed: vec![changed("vm2")],
            ..Diff::default()
        };
        let loud = Diff {
            reopened: vec![changed("vm3")],
            ..quiet.clone()
        };
        let kind = |r: Recorded| message(r, &policy).map(|m| (m.kind, m.score_below));
        assert_eq!(
            kind(recorded(None, 10.0, None)),
            Some(("baseline", Some(50.0)))
        );
        assert_eq!(kind(recorded(Some(&quiet), 60.0, Some(60.0))), None);
        // Below the gate, but already below in the run before: announced once.
        assert_eq!(kind(recorded(Some(&quiet), 40.0, Some(45.0))), None);
        assert_eq!(
            kind(recorded(Some(&quiet), 40.0, Some(55.0))),
            Some(("changes", Some(50.0)))
        );
        let m = message(recorded(Some(&loud), 60.0, Some(60.0)), &policy).unwrap();
        assert_eq!(
            (m.kind, m.reopened_count, m.score_below),
            ("changes", 1, None)
        );
        assert_eq!(m.reopened[0].severity, Some(Severity::High));
    }

    #[test]
    fn lists_are_bounded_counts_are_not() {
        let many = Diff {
            new: (0..LISTED + 5)
                .map(|i| changed(&format!("vm{i}")))
                .collect(),
            ..Diff::default()
        };
        let m = message(recorded(Some(&many), 60.0, Some(60.0)), &Policy::builtin()).unwrap();
        assert_eq!((m.new.len(), m.new_count), (LISTED, LISTED + 5));
    }

    #[test]
    fn targets_and_how_they_are_named() {
        let slack = Target::parse("slack:https://hooks.slack.com/services/T0/B0/secret").unwrap();
        assert!(matches!(slack, Target::Slack(_)));
        assert_eq!(slack.to_string(), "slack:https://hooks.slack.com/…");
        assert!(matches!(
            Target::parse("teams:https://x.example/workflows?sig=s").unwrap(),
            Target::Teams(_)
        ));
        assert!(matches!(
            Target::parse("http://127.0.0.1:9/hook").unwrap(),
            Target::Generic(_)
        ));
        for bad in ["slack:", "ftp://x/y", "hooks.slack.com/x", "email:a@b"] {
            let err = Target::parse(bad).unwrap_err();
            assert!(err.contains("not a webhook"), "{bad}: {err}");
        }
    }
}
