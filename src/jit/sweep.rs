//! Closing expired grants from cloud state alone: every `portcullis-jit-<id>` rule in the NSGs
//! read ([`held`]) is read again with its description, and one whose stamped expiry has passed
//! ([`due`]) is deleted. No ledger is needed, so a grant closes on time even when the process
//! that opened it, its machine or its database is gone.

use std::collections::BTreeSet;

use time::OffsetDateTime;

use crate::cloud::azure::write::LiveRule;
use crate::model::Snapshot;

use super::grant::{GrantId, Stamp};

/// A grant's rule in one NSG, as the estate read lists it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Held {
    pub grant: GrantId,
    pub nsg: String,
    pub rule: String,
}

/// Every grant rule of the estate, by grant then NSG.
pub fn held(snapshot: &Snapshot) -> Vec<Held> {
    let found: BTreeSet<Held> = snapshot
        .nsgs
        .iter()
        .flat_map(|nsg| {
            nsg.rules.iter().filter_map(|rule| {
                GrantId::of_rule(&rule.name).map(|grant| Held {
                    grant,
                    nsg: nsg.id.clone(),
                    rule: rule.name.clone(),
                })
            })
        })
        .collect();
    found.into_iter().collect()
}

/// The grant rules of one grant.
pub fn of_grant(snapshot: &Snapshot, grant: &GrantId) -> Vec<Held> {
    held(snapshot)
        .into_iter()
        .filter(|h| &h.grant == grant)
        .collect()
}

/// Where a grant rule read live stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Due {
    /// Its expiry has passed (at this instant): close it.
    Expired(OffsetDateTime),
    /// Open until then.
    Open(OffsetDateTime),
    /// It carries no readable expiry (not written by `jit request`): left alone, reported.
    NoExpiry,
}

/// Whether `rule` is due at `now`.
pub fn due(rule: &LiveRule, now: OffsetDateTime) -> Due {
    due_stamp(Stamp::of_properties(&rule.properties), now)
}

/// Whether a grant stamped `stamp` (`None`: no readable expiry) is due at `now`.
pub fn due_stamp(stamp: Option<Stamp>, now: OffsetDateTime) -> Due {
    match stamp {
        Some(stamp) if stamp.expires <= now => Due::Expired(stamp.expires),
        Some(stamp) => Due::Open(stamp.expires),
        None => Due::NoExpiry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::azure::write::{Etag, ProvisioningState};
    use crate::jit::clock::parse_instant;
    use serde_json::json;

    fn live(description: &str) -> LiveRule {
        LiveRule {
            id: "x".into(),
            name: "portcullis-jit-aaaaaaaaaaaa".into(),
            etag: Etag("W/\"1\"".into()),
            properties: json!({"description": description})
                .as_object()
                .unwrap()
                .clone(),
            provisioning_state: ProvisioningState::Succeeded,
        }
    }

    #[test]
    fn a_rule_is_due_once_its_stamped_expiry_is_reached() {
        let at = |t: &str| parse_instant(t).unwrap();
        let rule = live("portcullis JIT grant expires=2026-12-03T08:00:00Z");
        let expires = at("2026-12-03T08:00:00Z");
        assert_eq!(due(&rule, at("2026-12-03T07:59:59Z")), Due::Open(expires));
        assert_eq!(due(&rule, expires), Due::Expired(expires));
        assert_eq!(due(&live("made by hand"), expires), Due::NoExpiry);
    }
}
