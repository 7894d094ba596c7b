//! The policy: what counts as the internet, which ports are watched, when a port is open, and the
//! controls and recommendations that turn exposure into findings.
//!
//! Policies are data, YAML files under `rules/`. The built-in ones are embedded in the binary;
//! `--rules DIR` overrides or extends them.

use std::collections::BTreeMap;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use crate::addrset::AddressSet;
use crate::model::PortSpec;

/// A complete, validated policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// The internet as a set (section 1 of the semantics).
    pub internet: AddressSet,
    /// The CIDR lists the internet set was built from, for display.
    pub internet_ranges: InternetRanges,
    /// Service tag name (lower-case) to its ranges. Tags not listed here that are not
    /// `Internet`, `VirtualNetwork` or `AzureLoadBalancer` count as the whole internet.
    pub service_tags: BTreeMap<String, Vec<IpNetwork>>,
    pub management_ports: Vec<PortSpec>,
    pub thresholds: Thresholds,
    /// Names (Azure rule names, AWS source descriptions) starting with one of these are JIT grants.
    pub jit_rule_prefixes: Vec<String>,
    pub controls: Vec<Control>,
    pub recommendations: Vec<Recommendation>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InternetRanges {
    pub ipv4: RangeList,
    pub ipv6: RangeList,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RangeList {
    pub include: Vec<IpNetwork>,
    #[serde(default)]
    pub exclude: Vec<IpNetwork>,
}

/// A port is open when more internet addresses than these reach it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    pub ipv4_addresses: u64,
    pub ipv6_addresses: u128,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Control {
    pub id: String,
    pub title: String,
    pub max_points: u32,
    pub description: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// What a recommendation checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecommendationKind {
    /// Internet-facing VMs must have something filtering their traffic (an NSG on the NIC or its
    /// subnet; security groups that do not allow everything from the internet).
    InternetFacingFiltered,
    /// None of `ports` may be open.
    PortsClosed,
    /// Internet sources may reach `ports` only through JIT grants.
    PortsJit,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Recommendation {
    pub id: String,
    pub control: String,
    pub kind: RecommendationKind,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub remediation: String,
    /// The ports it watches (defaults to the management ports).
    pub ports: Vec<PortSpec>,
    /// Its open thresholds (defaults to the policy's).
    pub thresholds: Thresholds,
}
