//! Values in an input that the cloud itself would have refused, judged as the cloud would
//! (section 3 of the semantics).
//!
//! Azure accepts a custom NSG rule only with a priority from 100 to 4096, so a rule outside that
//! range cannot be in force: it is dropped before evaluation, with a warning naming the NSG, the
//! rule and where it was read. Left in, a priority of 50 would put a deny ahead of every real
//! rule, and one of 5000 an allow that Azure never applied. The default rules (65000 and up) are
//! Azure's own and stay.
//!
//! An address of the wrong family (IPv4 in `Ipv6Ranges`, an IPv6 public IP whose address is
//! IPv4) is judged as the family it actually is, with a warning: the loaders call
//! [`misfiled_family`] where they read the field, since only there is it known which family the
//! field takes.

use std::fmt;
use std::ops::RangeInclusive;

use serde_json::value::RawValue;

use crate::addrset::Family;
use crate::model::Snapshot;

use super::json::JsonFile;
use super::place;

/// The priorities Azure accepts for a custom NSG rule.
const CUSTOM_PRIORITIES: RangeInclusive<u32> = 100..=4096;

/// Drops every custom NSG rule whose priority Azure would refuse, warning for each.
pub(super) fn drop_refused_nsg_rules(snapshot: &mut Snapshot, warnings: &mut Vec<String>) {
    let sources = &snapshot.sources;
    for nsg in &mut snapshot.nsgs {
        nsg.rules.retain(|rule| {
            if CUSTOM_PRIORITIES.contains(&rule.priority) {
                return true;
            }
            warnings.push(format!(
                "{}: rule {:?} of NSG {} has priority {}, which Azure refuses (custom rules take \
                 {} to {}); it cannot be in force, so it is left out of the evaluation",
                place(sources, rule.origin.or(nsg.origin), true),
                rule.name,
                nsg.id,
                rule.priority,
                CUSTOM_PRIORITIES.start(),
                CUSTOM_PRIORITIES.end(),
            ));
            false
        });
    }
}

/// The warning for an address or range of one family in a field that takes only the other, or
/// `None` when the families agree. The cloud would have refused the value; it is judged as the
/// family it is, so an open port stays visible whichever field it was written in.
pub(super) fn misfiled_family(
    file: &JsonFile,
    raw: &RawValue,
    field: &str,
    owner: &str,
    value: &dyn fmt::Display,
    (actual, expected): (Family, Family),
    cloud: &str,
) -> Option<String> {
    (actual != expected).then(|| {
        file.warning_at(
            raw.get(),
            format!(
                "{field} \"{value}\" of {owner} is {actual} where {expected} is expected, \
                 which {cloud} would refuse; judged as the {actual} it is"
            ),
        )
    })
}
