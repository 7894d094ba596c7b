//! Checking the merged rules as a whole and building the [`Policy`] from them: required
//! sections, references between controls and recommendations, values that make no sense
//! (zero points, empty port lists, an empty internet), and the fixed recommendation ids.

use std::collections::BTreeMap;
use std::time::Duration;

use ipnetwork::IpNetwork;

use super::error::{Place, Problem};
use super::load::{Defined, Merged};
use super::schema::{ControlDef, RecommendationDef, SlaDuration};
use super::{Control, FIXED_RECOMMENDATIONS, InternetRanges, Policy, Recommendation, Severity};
use crate::addrset::{AddressSet, Family};

/// Service tags the engine understands itself; listing them would be ignored or contradictory.
const ENGINE_TAGS: [&str; 3] = ["internet", "virtualnetwork", "azureloadbalancer"];

pub(super) fn resolve(merged: Merged, include_builtin: bool) -> Result<Policy, Vec<Problem>> {
    let Merged {
        internet,
        service_tags,
        management_ports,
        thresholds,
        jit_rule_prefixes,
        sla,
        controls,
        recommendations,
    } = merged;
    let mut problems = Vec::new();
    let internet = required(internet, "internet", &mut problems);
    let management_ports = required(management_ports, "management_ports", &mut problems);
    let thresholds = required(thresholds, "open_when_broader_than", &mut problems);
    let jit_rule_prefixes = required(jit_rule_prefixes, "jit_rule_prefixes", &mut problems);
    let service_tags = service_tags
        .map(|tags| check_service_tags(tags, &mut problems))
        .unwrap_or_default();

    let internet_set = internet.as_ref().map(|i| internet_set(i, &mut problems));
    if let Some(ports) = &management_ports
        && ports.value.is_empty()
    {
        problems.push(Problem::at(
            &ports.place,
            "`management_ports` is empty: list at least one port, for example 22/tcp",
        ));
    }
    if let Some(prefixes) = &jit_rule_prefixes
        && prefixes.value.iter().any(|p| p.trim().is_empty())
    {
        problems.push(Problem::at(
            &prefixes.place,
            "`jit_rule_prefixes` has an empty prefix, which would make every rule a JIT grant: \
             remove it",
        ));
    }

    let sla = sla
        .map(|sla| check_sla(sla, &mut problems))
        .unwrap_or_default();
    check_recommendations(&controls, &recommendations, include_builtin, &mut problems);
    let controls = check_controls(&controls, &mut problems);

    match (
        internet,
        internet_set,
        management_ports,
        thresholds,
        jit_rule_prefixes,
    ) {
        (Some(internet), Some(internet_set), Some(ports), Some(thresholds), Some(jit))
            if problems.is_empty() =>
        {
            let thresholds = thresholds.value.thresholds();
            let recommendations = recommendations
                .into_iter()
                .map(|Defined { value: r, .. }| Recommendation {
                    id: r.id.value,
                    control: r.control.value,
                    kind: r.kind.value,
                    title: r.title,
                    description: r.description,
                    severity: r.severity,
                    remediation: r.remediation,
                    ports: r.ports.map_or_else(|| ports.value.clone(), |p| p.value),
                    thresholds: r
                        .open_when_broader_than
                        .map_or(thresholds, |t| t.thresholds()),
                    explanation: r.explanation,
                    examples: r.examples,
                })
                .collect();
            Ok(Policy {
                internet: internet_set,
                internet_ranges: internet.value,
                service_tags,
                management_ports: ports.value,
                thresholds,
                jit_rule_prefixes: jit.value,
                sla,
                controls,
                recommendations,
            })
        }
        _ => Err(problems),
    }
}

/// The times to fix by severity; a more severe finding may not be given longer than a less
/// severe one (a swapped pair is the likely mistake).
fn check_sla(
    sla: Defined<BTreeMap<Severity, SlaDuration>>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<Severity, Duration> {
    let place = sla.place;
    let sla: BTreeMap<Severity, Duration> = sla
        .value
        .into_iter()
        .map(|(severity, d)| (severity, d.0))
        .collect();
    let pairs: Vec<(&Severity, &Duration)> = sla.iter().collect();
    for window in pairs.windows(2) {
        let [(lower, less_severe), (higher, more_severe)] = window else {
            continue;
        };
        if more_severe > less_severe {
            problems.push(Problem::at(
                &place,
                format!(
                    "`sla` gives {higher} findings longer to fix ({}) than {lower} ones ({}): a \
                     more severe finding should be fixed sooner; swap or correct them",
                    days(**more_severe),
                    days(**less_severe)
                ),
            ));
        }
    }
    sla
}

/// A time to fix as written in rules: `7d`, `12h`.
fn days(duration: Duration) -> String {
    let hours = duration.as_secs() / 3600;
    if hours.is_multiple_of(24) {
        format!("{}d", hours / 24)
    } else {
        format!("{hours}h")
    }
}

fn required<T>(
    section: Option<Defined<T>>,
    name: &str,
    problems: &mut Vec<Problem>,
) -> Option<Defined<T>> {
    if section.is_none() {
        problems.push(Problem::general(format!(
            "no rules file defines `{name}`: add it to your rules (see rules/README.md) or load \
             the built-in rules"
        )));
    }
    section
}

/// The internet as a set: each family's `include` minus its `exclude`.
fn internet_set(ranges: &Defined<InternetRanges>, problems: &mut Vec<Problem>) -> AddressSet {
    let mut set = AddressSet::empty();
    for (family, key, list) in [
        (Family::V4, "ipv4", &ranges.value.ipv4),
        (Family::V6, "ipv6", &ranges.value.ipv6),
    ] {
        for net in list.include.iter().chain(&list.exclude) {
            if family_of(net) != family {
                problems.push(Problem::at(
                    &ranges.place,
                    format!(
                        "`internet.{key}` lists {net}, which is not {family}: move it to the \
                         other family's list"
                    ),
                ));
            }
        }
        let kept = AddressSet::from_networks(&list.include)
            .difference(&AddressSet::from_networks(&list.exclude));
        set = set.union(&kept);
    }
    if set.is_empty() {
        problems.push(Problem::at(
            &ranges.place,
            "`internet` holds no address: its `exclude` lists cover everything it includes, so \
             nothing could ever be exposed; include 0.0.0.0/0 and 2000::/3",
        ));
    }
    set
}

fn family_of(net: &IpNetwork) -> Family {
    match net {
        IpNetwork::V4(_) => Family::V4,
        IpNetwork::V6(_) => Family::V6,
    }
}

/// Service tags keyed by lower-case name, as the engine looks them up.
fn check_service_tags(
    tags: Defined<BTreeMap<String, Vec<IpNetwork>>>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, Vec<IpNetwork>> {
    let mut by_lower = BTreeMap::new();
    for (name, nets) in tags.value {
        let lower = name.to_ascii_lowercase();
        if ENGINE_TAGS.contains(&lower.as_str()) {
            problems.push(Problem::at(
                &tags.place,
                format!(
                    "service tag `{name}` is built into the engine (Internet is the `internet` \
                     set; VirtualNetwork and AzureLoadBalancer are internal): remove it"
                ),
            ));
        } else if by_lower.insert(lower, nets).is_some() {
            problems.push(Problem::at(
                &tags.place,
                format!(
                    "service tag `{name}` is listed twice (tag names ignore case): merge the lists"
                ),
            ));
        }
    }
    by_lower
}

fn check_controls(controls: &[Defined<ControlDef>], problems: &mut Vec<Problem>) -> Vec<Control> {
    controls
        .iter()
        .map(
            |Defined {
                 value: c, place, ..
             }| {
                check_id(&c.id.value, place, problems);
                if c.max_points.value == 0 {
                    problems.push(Problem::at(
                        &Place::of(&place.file, &c.max_points),
                        format!(
                            "control `{}` has `max_points: 0`; give it at least 1 point",
                            c.id.value
                        ),
                    ));
                }
                Control {
                    id: c.id.value.clone(),
                    title: c.title.clone(),
                    max_points: c.max_points.value,
                    description: c.description.clone(),
                }
            },
        )
        .collect()
}

fn check_recommendations(
    controls: &[Defined<ControlDef>],
    recommendations: &[Defined<RecommendationDef>],
    include_builtin: bool,
    problems: &mut Vec<Problem>,
) {
    for Defined {
        value: r, place, ..
    } in recommendations
    {
        check_id(&r.id.value, place, problems);
        let control = &r.control.value;
        if !controls.iter().any(|c| c.value.id.value == *control) {
            problems.push(Problem::at(
                &Place::of(&place.file, &r.control),
                format!(
                    "recommendation `{}` names control `{control}`, which no rules file defines: \
                     define it under `controls:` or fix the name",
                    r.id.value
                ),
            ));
        }
        if let Some(ports) = &r.ports {
            let ports_place = Place::of(&place.file, ports);
            if !r.kind.value.watches_ports() {
                problems.push(Problem::at(
                    &ports_place,
                    format!(
                        "`ports` has no effect on kind `{}`, which judges the VM as a whole: \
                         remove it",
                        r.kind.value
                    ),
                ));
            } else if ports.value.is_empty() {
                problems.push(Problem::at(
                    &ports_place,
                    "`ports` is empty: list at least one port, or remove `ports` to use \
                     `management_ports`",
                ));
            }
        }
    }
    for Defined {
        value: c, place, ..
    } in controls
    {
        if !recommendations
            .iter()
            .any(|r| r.value.control.value == c.id.value)
        {
            problems.push(Problem::at(
                place,
                format!(
                    "control `{}` has no recommendations, so it would always score full points: \
                     add a recommendation with `control: {}` or remove the control",
                    c.id.value, c.id.value
                ),
            ));
        }
    }
    if include_builtin {
        check_fixed_recommendations(recommendations, problems);
    }
}

/// The built-in recommendations appear in every output under fixed ids with fixed meanings: a
/// user may reword them but not drop them or change what they check.
fn check_fixed_recommendations(
    recommendations: &[Defined<RecommendationDef>],
    problems: &mut Vec<Problem>,
) {
    for (id, kind) in FIXED_RECOMMENDATIONS {
        match recommendations.iter().find(|r| r.value.id.value == id) {
            None => problems.push(Problem::general(format!(
                "recommendation `{id}` is missing: it is part of the built-in rules and cannot \
                 be removed; override its text instead, or load without the built-in rules"
            ))),
            Some(Defined {
                value: r, place, ..
            }) if r.kind.value != kind => problems.push(Problem::at(
                &Place::of(&place.file, &r.kind),
                format!(
                    "recommendation `{id}` must keep kind `{kind}` (outputs and the score \
                         rely on it); to check something else, add a recommendation with a new id"
                ),
            )),
            Some(_) => {}
        }
    }
}

fn check_id(id: &str, place: &Place, problems: &mut Vec<Problem>) {
    let valid = id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        problems.push(Problem::at(
            place,
            format!("id {id:?} must be lower-case letters, digits and dashes, like `redis-closed`"),
        ));
    }
}
