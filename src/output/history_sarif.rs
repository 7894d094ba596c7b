//! `history diff --format sarif`: the findings of run TO as SARIF results, each with the
//! `baselineState` that says how it compares with run FROM, in the same log shape, rules and
//! fingerprints as `scan --format sarif` ([`super::sarif`]), so a consumer matches them with a
//! scan's results.
//!
//! `new` and `reopened` findings are `new`; still `open` ones `unchanged`; `exempt` ones
//! `unchanged` when FROM had them exempt too, `updated` when FROM had them unhealthy and not
//! exempt, else `new`, and they carry an accepted suppression; `fixed` ones `absent`. Findings
//! TO could not assess have no result: the run counts them in `notAssessed`. The store keeps
//! findings by resource, not by file line, so results have logical locations only.

use std::collections::BTreeMap;

use serde_json::json;
use serde_sarif::sarif::{
    Location, LogicalLocation, Message, PropertyBag, Result as SarifResult, ResultKind,
    ResultLevel, Suppression,
};

use super::Tool;
use super::sarif::{MAX_RESULTS, fingerprints, level, log, notification, rule_index, sentence};
use crate::audit::diff::{Changed, Diff};
use crate::audit::record::Observed;
use crate::output::escape::visible;
use crate::policy::Policy;

/// How a result compares with the baseline run, in SARIF's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    New,
    Unchanged,
    Updated,
    Absent,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Unchanged => "unchanged",
            State::Updated => "updated",
            State::Absent => "absent",
        }
    }
}

/// Renders `diff` of runs `from` and `to` against `policy`'s recommendations.
pub fn render(diff: &Diff, from: i64, to: i64, policy: &Policy) -> String {
    let exempt_state = |c: &Changed| match c.before {
        Some(Observed::Exempt) => State::Unchanged,
        Some(Observed::Unhealthy) => State::Updated,
        _ => State::New,
    };
    let mut changes: Vec<(&Changed, &str, State)> = Vec::new();
    changes.extend(diff.new.iter().map(|c| (c, "new", State::New)));
    changes.extend(diff.reopened.iter().map(|c| (c, "reopened", State::New)));
    changes.extend(diff.open.iter().map(|c| (c, "open", State::Unchanged)));
    changes.extend(diff.exempt.iter().map(|c| (c, "exempt", exempt_state(c))));
    changes.extend(diff.fixed.iter().map(|c| (c, "fixed", State::Absent)));
    let severity = |c: &Changed| policy.recommendation(&c.rule).map(|r| r.severity);
    // Stable: present before absent, most severe first within each.
    changes.sort_by_key(|(c, _, state)| (*state == State::Absent, std::cmp::Reverse(severity(c))));
    let left_out = changes.len().saturating_sub(MAX_RESULTS);
    changes.truncate(MAX_RESULTS);
    let results = changes
        .iter()
        .map(|(c, change, state)| result(c, change, *state, (from, to), policy))
        .collect();
    let mut notices = vec![
        "results have no file location: the audit store keeps findings by resource, not by \
         file line; for GitHub code scanning upload `audit --output-sarif` instead"
            .to_owned(),
    ];
    if !diff.not_assessed.is_empty() {
        notices.push(format!(
            "{} findings could not be assessed in run {to} (a scope was not read) and have no \
             result",
            diff.not_assessed.len()
        ));
    }
    if left_out > 0 {
        notices.push(format!(
            "{left_out} results were left out: SARIF consumers such as GitHub take at most \
             {MAX_RESULTS} per run; the most severe are kept, fixed findings last"
        ));
    }
    let properties = BTreeMap::from([
        ("baselineRun".to_owned(), json!(from)),
        ("run".to_owned(), json!(to)),
        ("notAssessed".to_owned(), json!(diff.not_assessed.len())),
        ("resultsLeftOut".to_owned(), json!(left_out)),
    ]);
    log(
        &Tool::default(),
        policy,
        results,
        notices.iter().map(|n| notification(n, "warning")).collect(),
        properties,
    )
}

fn result(
    c: &Changed,
    change: &str,
    state: State,
    (from, to): (i64, i64),
    policy: &Policy,
) -> SarifResult {
    let recommendation = policy.recommendation(&c.rule);
    let name = c.resource.rsplit('/').next().unwrap_or(&c.resource);
    let title = recommendation.map_or(c.rule.as_str(), |r| r.title.as_str());
    let since = match change {
        "fixed" => format!("fixed since run {from}"),
        "open" => format!("still open since run {from}"),
        other => format!("{other} since run {from}"),
    };
    let logical = LogicalLocation::builder()
        .name(name)
        .fully_qualified_name(&c.resource)
        .kind("resource")
        .build();
    let mut result = SarifResult::builder()
        .rule_id(&c.rule)
        .kind(if state == State::Absent {
            ResultKind::Pass
        } else {
            ResultKind::Fail
        })
        .level(if state == State::Absent {
            ResultLevel::None
        } else {
            recommendation.map_or(ResultLevel::Warning, |r| level(r.severity))
        })
        .message(Message::from(
            visible(&sentence(&format!("{name}: {title}; {since}"))).as_ref(),
        ))
        .locations(vec![
            Location::builder().logical_locations(vec![logical]).build(),
        ])
        .partial_fingerprints(fingerprints(c.fingerprint.clone()))
        .properties(
            PropertyBag::builder()
                .additional_properties(BTreeMap::from([
                    ("scope".to_owned(), json!(c.scope)),
                    ("change".to_owned(), json!(change)),
                ]))
                .build(),
        )
        .build();
    result.rule_index = rule_index(policy, &c.rule);
    result.baseline_state = Some(json!(state.as_str()));
    if change == "exempt" {
        result.suppressions = Some(vec![
            Suppression::builder()
                .kind(json!("external"))
                .status(json!("accepted"))
                .justification(format!("accepted by an exemption in force in run {to}"))
                .build(),
        ]);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::diff::changed;

    #[test]
    fn each_change_has_its_baseline_state() {
        let with_before = |resource: &str, before: Option<Observed>| Changed {
            before,
            ..changed(resource)
        };
        let diff = Diff {
            new: vec![changed("new")],
            reopened: vec![changed("back")],
            open: vec![changed("open")],
            exempt: vec![
                with_before("accepted-now", Some(Observed::Unhealthy)),
                with_before("accepted-before", Some(Observed::Exempt)),
                with_before("accepted-new", None),
            ],
            fixed: vec![changed("fixed")],
            not_assessed: vec![changed("unread")],
        };
        let sarif: serde_json::Value =
            serde_json::from_str(&render(&diff, 3, 4, &Policy::builtin())).unwrap();
        let results = sarif["runs"][0]["results"].as_array().unwrap();
        let states: BTreeMap<&str, (&str, bool)> = results
            .iter()
            .map(|r| {
                let name = r["locations"][0]["logicalLocations"][0]["name"]
                    .as_str()
                    .unwrap();
                let state = r["baselineState"].as_str().unwrap();
                (name, (state, r.get("suppressions").is_some()))
            })
            .collect();
        assert_eq!(
            states,
            BTreeMap::from([
                ("new", ("new", false)),
                ("back", ("new", false)),
                ("open", ("unchanged", false)),
                ("accepted-now", ("updated", true)),
                ("accepted-before", ("unchanged", true)),
                ("accepted-new", ("new", true)),
                ("fixed", ("absent", false)),
            ])
        );
        assert_eq!(sarif["runs"][0]["properties"]["notAssessed"], 1);
        let fixed = results
            .iter()
            .find(|r| r["baselineState"] == "absent")
            .unwrap();
        assert_eq!(
            (&fixed["kind"], &fixed["level"]),
            (&json!("pass"), &json!("none"))
        );
    }
}
