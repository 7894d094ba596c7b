//! A grant as the cloud holds it: the rule name `portcullis-jit-<grant id>`, and the rule's
//! description, which carries the expiry (and when and by whom it was opened) so that any later
//! reader, the sweeper or the scanner, knows when it ends without any ledger:
//!
//! ```text
//! portcullis JIT grant expires=2026-12-03T08:00:00Z opened=2026-12-03T06:00:00Z by=alice@contoso.com
//! ```
//!
//! Also here: what a request asks for ([`Access`]: ports of one protocol, one source network),
//! parsed from the command line.

use std::fmt;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::model::{Access as RuleAccess, AddressPrefix, Direction, NsgRule, PortSpec, Protocol};

use super::PREFIX;
use super::clock::{format_instant, parse_instant};

/// The longest description Resource Manager accepts on a security rule.
const MAX_DESCRIPTION: usize = 140;
/// How a grant's description starts.
const DESCRIPTION_START: &str = "portcullis JIT grant";

/// A grant's id: 12 lower-case hex digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct GrantId(String);

impl GrantId {
    /// A new id, unique to what is granted and when.
    pub fn new(vm: &str, access: &Access, opened: OffsetDateTime) -> Self {
        let mut hash = Sha256::new();
        for part in [
            vm,
            &access.ports_text(),
            &access.source.to_string(),
            &opened.unix_timestamp_nanos().to_string(),
            &std::process::id().to_string(),
        ] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let digest = hash.finalize();
        GrantId(digest[..6].iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The id as a user types it (`3f9a0c12de45`, or the rule name `portcullis-jit-3f9a0c12de45`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let id = text.trim().strip_prefix(PREFIX).unwrap_or(text.trim());
        if id.len() == 12 && id.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(GrantId(id.to_ascii_lowercase()))
        } else {
            Err(format!(
                "{text:?} is not a grant id: `portcullis jit list` shows them (12 hex digits)"
            ))
        }
    }

    /// The grant of a rule named `portcullis-jit-<id>`; `None` for any other name.
    pub fn of_rule(name: &str) -> Option<Self> {
        let head = name.get(..PREFIX.len())?;
        if !head.eq_ignore_ascii_case(PREFIX) {
            return None;
        }
        GrantId::parse(&name[PREFIX.len()..]).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of the rule that holds the grant.
    pub fn rule_name(&self) -> String {
        format!("{PREFIX}{}", self.0)
    }
}

impl fmt::Display for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a grant lets in: ports of one protocol from one source network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub protocol: Protocol,
    /// Sorted, without duplicates.
    pub ports: Vec<u16>,
    /// The network address with its prefix (host bits cleared).
    pub source: IpNetwork,
}

impl Access {
    /// `--port 22,3389` (TCP unless written `3389/udp`; one protocol a grant) and `--from IP|CIDR`.
    pub fn parse(ports: &[String], source: &str) -> Result<Self, String> {
        let mut specs: Vec<PortSpec> = Vec::new();
        for text in ports {
            let text = text.trim();
            let spec = if text.contains('/') {
                text.parse::<PortSpec>()?
            } else {
                PortSpec {
                    port: text.parse().map_err(|_| {
                        format!("--port {text:?}: give port numbers such as 22 or 3389/udp")
                    })?,
                    protocol: Protocol::TCP,
                }
            };
            if spec.port == 0 {
                return Err("--port 0: give port numbers from 1 to 65535".to_owned());
            }
            specs.push(spec);
        }
        let Some(protocol) = specs.first().map(|s| s.protocol) else {
            return Err("--port: give at least one port".to_owned());
        };
        if specs.iter().any(|s| s.protocol != protocol) {
            return Err(
                "--port: a grant is for one protocol; request TCP and UDP ports as two grants"
                    .to_owned(),
            );
        }
        let mut numbers: Vec<u16> = specs.iter().map(|s| s.port).collect();
        numbers.sort_unstable();
        numbers.dedup();
        Ok(Access {
            protocol,
            ports: numbers,
            source: parse_source(source)?,
        })
    }

    /// `22/tcp, 3389/tcp`.
    pub fn ports_text(&self) -> String {
        self.port_specs()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn port_specs(&self) -> Vec<PortSpec> {
        self.ports
            .iter()
            .map(|&port| PortSpec {
                port,
                protocol: self.protocol,
            })
            .collect()
    }

    /// The allow rule of the grant, at `priority`, to `destinations`.
    pub fn rule(&self, name: &str, priority: u32, destinations: Vec<AddressPrefix>) -> NsgRule {
        NsgRule {
            name: name.to_owned(),
            priority,
            direction: Direction::Inbound,
            access: RuleAccess::Allow,
            protocol: self.protocol,
            sources: vec![AddressPrefix::Network(self.source)],
            source_asg_ids: Vec::new(),
            source_ports: Vec::new(),
            destinations,
            destination_asg_ids: Vec::new(),
            destination_ports: self
                .ports
                .iter()
                .map(|&p| crate::model::PortRange::single(p))
                .collect(),
            origin: None,
        }
    }
}

/// `--from`: an address (a host) or a CIDR, host bits cleared.
fn parse_source(text: &str) -> Result<IpNetwork, String> {
    let text = text.trim();
    let network = match text.parse::<IpAddr>() {
        Ok(ip) => IpNetwork::new(ip, if ip.is_ipv4() { 32 } else { 128 }),
        Err(_) => text.parse::<IpNetwork>(),
    }
    .map_err(|_| format!("--from {text:?}: give an IP address or a CIDR such as 203.0.113.0/28"))?;
    IpNetwork::new(network.network(), network.prefix()).map_err(|e| format!("--from {text:?}: {e}"))
}

/// What a grant's description says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub expires: OffsetDateTime,
    pub opened: Option<OffsetDateTime>,
    pub requester: Option<String>,
}

impl Stamp {
    /// The description: within Resource Manager's 140 characters (the requester is cut).
    pub fn description(&self) -> String {
        self.description_within(MAX_DESCRIPTION)
    }

    /// The description within `max` characters (the requester is cut).
    pub fn description_within(&self, max: usize) -> String {
        let mut text = format!(
            "{DESCRIPTION_START} expires={}",
            format_instant(self.expires)
        );
        if let Some(opened) = self.opened {
            text.push_str(&format!(" opened={}", format_instant(opened)));
        }
        if let Some(requester) = &self.requester {
            let clean: String = requester
                .chars()
                .map(|c| {
                    if c.is_whitespace() || c.is_control() {
                        '_'
                    } else {
                        c
                    }
                })
                .collect();
            text.push_str(" by=");
            text.extend(clean.chars().take(max.saturating_sub(text.chars().count())));
        }
        text
    }

    /// The stamp in a description; `None` when it carries no readable expiry.
    pub fn parse(description: &str) -> Option<Self> {
        let mut expires = None;
        let mut stamp = Stamp {
            expires: OffsetDateTime::UNIX_EPOCH,
            opened: None,
            requester: None,
        };
        for word in description.split_whitespace() {
            if let Some(at) = word.strip_prefix("expires=") {
                expires = parse_instant(at).ok();
            } else if let Some(at) = word.strip_prefix("opened=") {
                stamp.opened = parse_instant(at).ok();
            } else if let Some(who) = word.strip_prefix("by=") {
                stamp.requester = Some(who.to_owned());
            }
        }
        stamp.expires = expires?;
        Some(stamp)
    }

    /// The stamp of a rule's `properties` as read.
    pub fn of_properties(properties: &Map<String, Value>) -> Option<Self> {
        properties
            .get("description")
            .and_then(Value::as_str)
            .and_then(Stamp::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> OffsetDateTime {
        parse_instant(text).unwrap()
    }

    #[test]
    fn a_stamp_round_trips_through_the_description_within_140_characters() {
        let stamp = Stamp {
            expires: at("2026-12-03T08:00:00Z"),
            opened: Some(at("2026-12-03T06:00:00Z")),
            requester: Some("alice smith@contoso.com".to_owned()),
        };
        let text = stamp.description();
        assert_eq!(
            text,
            "portcullis JIT grant expires=2026-12-03T08:00:00Z opened=2026-12-03T06:00:00Z \
             by=alice_smith@contoso.com"
        );
        let back = Stamp::parse(&text).unwrap();
        assert_eq!(back.expires, stamp.expires);
        assert_eq!(back.requester.as_deref(), Some("alice_smith@contoso.com"));
        let long = Stamp {
            requester: Some("x".repeat(300)),
            ..stamp
        };
        assert_eq!(long.description().chars().count(), MAX_DESCRIPTION);
        assert_eq!(Stamp::parse("hand-made rule"), None);
        assert_eq!(Stamp::parse("expires=soon"), None);
    }

    #[test]
    fn access_is_one_protocol_from_one_network() {
        let access =
            Access::parse(&["3389".into(), "22".into(), "22".into()], "203.0.113.7/28").unwrap();
        assert_eq!(access.ports, [22, 3389]);
        assert_eq!(access.source.to_string(), "203.0.113.0/28");
        assert_eq!(access.ports_text(), "22/tcp, 3389/tcp");
        let host = Access::parse(&["3389/udp".into()], "2001:db8::1").unwrap();
        assert_eq!((host.protocol, host.source.prefix()), (Protocol::UDP, 128));
        assert!(Access::parse(&["22".into(), "3389/udp".into()], "1.2.3.4").is_err());
        assert!(Access::parse(&["ssh".into()], "1.2.3.4").is_err());
        assert!(Access::parse(&["22".into()], "my-laptop").is_err());
    }

    #[test]
    fn grant_ids_name_their_rules() {
        let id = GrantId::parse("3F9A0C12DE45").unwrap();
        assert_eq!(id.rule_name(), "portcullis-jit-3f9a0c12de45");
        assert_eq!(
            GrantId::of_rule("portcullis-jit-3f9a0c12de45"),
            Some(id.clone())
        );
        assert_eq!(GrantId::parse("portcullis-jit-3f9a0c12de45"), Ok(id));
        assert_eq!(GrantId::of_rule("portcullis-lock-3f9a0c12de45"), None);
        assert_eq!(GrantId::of_rule("portcullis-jit-REQ-42"), None);
        assert!(GrantId::parse("12").is_err());
    }
}
