//! The file format of `rules/`: what one YAML rules file may contain, as written.
//!
//! Every section is optional so that a file can hold any part of a policy. Whatever can be
//! checked on its own (unknown keys, port specs, CIDRs, kinds, severities, prefix lengths) is
//! checked here while parsing, so the error carries the line and column; checks that need the
//! merged policy are in `resolve`. Values that those later checks point at are [`Spanned`].

use std::collections::BTreeMap;
use std::time::Duration;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

use super::{Examples, InternetRanges, RecommendationKind, Severity, Thresholds};
use crate::model::PortSpec;

/// One rules file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RulesFile {
    pub internet: Option<Spanned<InternetRanges>>,
    pub service_tags: Option<Spanned<BTreeMap<String, Vec<IpNetwork>>>>,
    pub management_ports: Option<Spanned<Vec<PortSpec>>>,
    pub open_when_broader_than: Option<Spanned<OpenWhenBroaderThan>>,
    pub jit_rule_prefixes: Option<Spanned<Vec<String>>>,
    pub sla: Option<Spanned<BTreeMap<Severity, SlaDuration>>>,
    #[serde(default)]
    pub controls: Vec<ControlDef>,
    #[serde(default)]
    pub recommendations: Vec<RecommendationDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ControlDef {
    pub id: Spanned<String>,
    pub title: String,
    pub max_points: Spanned<u32>,
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RecommendationDef {
    pub id: Spanned<String>,
    pub control: Spanned<String>,
    pub kind: Spanned<RecommendationKind>,
    pub severity: Severity,
    pub title: String,
    pub description: String,
    #[serde(default)]
    pub explanation: String,
    #[serde(default)]
    pub examples: Examples,
    pub remediation: String,
    /// Overrides the policy's `management_ports`.
    pub ports: Option<Spanned<Vec<PortSpec>>>,
    /// Overrides the policy's thresholds.
    pub open_when_broader_than: Option<OpenWhenBroaderThan>,
}

/// Thresholds as written: `{ipv4: /24, ipv6: /48}`, "open when broader than one such block".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OpenWhenBroaderThan {
    pub ipv4: PrefixLength<32>,
    pub ipv6: PrefixLength<128>,
}

impl OpenWhenBroaderThan {
    /// The address counts a port's exposure must exceed to be open: the size of one block.
    pub fn thresholds(self) -> Thresholds {
        let v4_host_bits = 32 - u32::from(self.ipv4.0);
        let v6_host_bits = 128 - u32::from(self.ipv6.0);
        Thresholds {
            ipv4_addresses: 1u64 << v4_host_bits,
            // A /0 block holds 2^128 addresses, one more than u128 holds; no set can exceed
            // u128::MAX, so it means the same thing: never open.
            ipv6_addresses: 1u128.checked_shl(v6_host_bits).unwrap_or(u128::MAX),
        }
    }
}

/// A prefix length written `/N`, at most `BITS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PrefixLength<const BITS: u8>(pub u8);

impl<'de, const BITS: u8> Deserialize<'de> for PrefixLength<BITS> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.trim()
            .strip_prefix('/')
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|&n| n <= BITS)
            .map(PrefixLength)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{text:?} is not a prefix length: write /0 to /{BITS}, for example /24"
                ))
            })
    }
}

/// How long a finding may stay open, written `12h`, `7d` or `2w`: a whole number of hours, days
/// or weeks, more than zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SlaDuration(pub Duration);

impl SlaDuration {
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let unit = match text.chars().last()? {
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return None,
        };
        let number: u64 = text[..text.len() - 1].parse().ok()?;
        let seconds = number.checked_mul(unit).filter(|&s| s > 0)?;
        Some(SlaDuration(Duration::from_secs(seconds)))
    }
}

impl<'de> Deserialize<'de> for SlaDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        SlaDuration::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not a time to fix: write a whole number of hours, days or weeks \
                 above zero, for example 12h, 7d or 2w"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sla_durations() {
        let day = 86_400;
        for (text, seconds) in [("12h", 12 * 3600), ("7d", 7 * day), ("2w", 14 * day)] {
            assert_eq!(
                SlaDuration::parse(text),
                Some(SlaDuration(Duration::from_secs(seconds))),
                "{text}"
            );
        }
        for bad in [
            "",
            "d",
            "0d",
            "7",
            "1.5d",
            "-1d",
            "7m",
            "99999999999999999w",
        ] {
            assert_eq!(SlaDuration::parse(bad), None, "{bad}");
        }
    }
}
