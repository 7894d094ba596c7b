//! An NSG security rule in Resource Manager's JSON: the `properties` of a rule written from the
//! model (what `fix` PUTs, and what the synthetic exports write), and the model read back from a
//! rule's `properties` (what `fix` compares with a plan's before- and after-images).
//!
//! Written as Azure writes rules itself: one value in the singular field (`sourceAddressPrefix`)
//! and an empty plural, several in the plural field alone; any source port as `*`; a single
//! address without its length.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde_json::{Map, Value, json};

use crate::load::LoadError;
use crate::model::{Access, AddressPrefix, Direction, NsgRule, PortRange, Protocol};

/// The fields of a rule's `properties` that the model holds; a PUT of an edited rule replaces
/// these and keeps every other field (`description`, …) as read.
pub const MODELED_FIELDS: [&str; 15] = [
    "protocol",
    "sourcePortRange",
    "sourcePortRanges",
    "destinationPortRange",
    "destinationPortRanges",
    "sourceAddressPrefix",
    "sourceAddressPrefixes",
    "destinationAddressPrefix",
    "destinationAddressPrefixes",
    "sourceApplicationSecurityGroups",
    "destinationApplicationSecurityGroups",
    "access",
    "priority",
    "direction",
    "provisioningState",
];

/// The `properties` of `rule`, every modeled field (no `provisioningState`).
pub fn properties(rule: &NsgRule) -> Map<String, Value> {
    let mut properties = Map::new();
    let mut set = |key: &str, value: Value| {
        properties.insert(key.to_string(), value);
    };
    set("protocol", protocol_name(rule.protocol).into());
    let source_ports = if rule.source_ports.is_empty() {
        vec![PortRange::ALL]
    } else {
        rule.source_ports.clone()
    };
    for (one, many, values) in [
        ("sourcePortRange", "sourcePortRanges", texts(&source_ports)),
        (
            "destinationPortRange",
            "destinationPortRanges",
            texts(&rule.destination_ports),
        ),
        (
            "sourceAddressPrefix",
            "sourceAddressPrefixes",
            rule.sources.iter().map(prefix_text).collect(),
        ),
        (
            "destinationAddressPrefix",
            "destinationAddressPrefixes",
            rule.destinations.iter().map(prefix_text).collect(),
        ),
    ] {
        match values.as_slice() {
            [single] => {
                set(one, single.as_str().into());
                set(many, json!([]));
            }
            _ => set(many, values.into()),
        }
    }
    for (key, ids) in [
        ("sourceApplicationSecurityGroups", &rule.source_asg_ids),
        (
            "destinationApplicationSecurityGroups",
            &rule.destination_asg_ids,
        ),
    ] {
        if !ids.is_empty() {
            set(key, ids.iter().map(|id| json!({ "id": id })).collect());
        }
    }
    set(
        "access",
        match rule.access {
            Access::Allow => "Allow",
            Access::Deny => "Deny",
        }
        .into(),
    );
    set("priority", rule.priority.into());
    set(
        "direction",
        match rule.direction {
            Direction::Inbound => "Inbound",
            Direction::Outbound => "Outbound",
        }
        .into(),
    );
    properties
}

/// `read` (a rule's `properties` as read) with its modeled fields replaced by `rule`'s: what a
/// PUT sends to change what the model holds and keep the rest.
pub fn replace_modeled(read: &Map<String, Value>, rule: &NsgRule) -> Map<String, Value> {
    let mut merged: Map<String, Value> = read
        .iter()
        .filter(|(key, _)| !MODELED_FIELDS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    merged.extend(properties(rule));
    merged
}

/// The model of the rule `name` with `properties` as Resource Manager returned them; `label`
/// names it in errors.
pub fn from_properties(
    label: &str,
    name: &str,
    properties: &Map<String, Value>,
) -> Result<NsgRule, LoadError> {
    let text = json!({ "name": name, "properties": properties }).to_string();
    let mut rule = crate::load::azure::parse_rule(label, text.as_bytes())?;
    rule.origin = None;
    Ok(rule)
}

/// A protocol as Azure names it.
pub fn protocol_name(protocol: Protocol) -> String {
    match protocol {
        Protocol::Any => "*".to_string(),
        Protocol::Number(6) => "Tcp".to_string(),
        Protocol::Number(17) => "Udp".to_string(),
        Protocol::Number(1) => "Icmp".to_string(),
        Protocol::Number(50) => "Esp".to_string(),
        Protocol::Number(51) => "Ah".to_string(),
        Protocol::Number(n) => n.to_string(),
    }
}

/// An address prefix as Azure writes it: `*`, a tag, a network, a single address bare.
pub fn prefix_text(prefix: &AddressPrefix) -> String {
    match prefix {
        AddressPrefix::Network(net) => network_text(net),
        other => other.to_string(),
    }
}

/// A network as users write it: a single address without its length.
fn network_text(net: &IpNetwork) -> String {
    let single = match net.ip() {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    if net.prefix() == single {
        net.ip().to_string()
    } else {
        net.to_string()
    }
}

fn texts(ports: &[PortRange]) -> Vec<String> {
    ports.iter().map(PortRange::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(sources: &[&str], ports: &[&str]) -> NsgRule {
        NsgRule {
            name: "allow-ssh".to_owned(),
            priority: 100,
            direction: Direction::Inbound,
            access: Access::Allow,
            protocol: Protocol::TCP,
            sources: sources.iter().map(|s| s.parse().unwrap()).collect(),
            source_asg_ids: Vec::new(),
            source_ports: Vec::new(),
            destinations: vec![AddressPrefix::Any],
            destination_asg_ids: Vec::new(),
            destination_ports: ports.iter().map(|p| p.parse().unwrap()).collect(),
            origin: None,
        }
    }

    #[test]
    fn properties_read_back_as_the_same_rule() {
        for rule in [
            rule(&["*"], &["22"]),
            rule(&["10.0.0.0/8", "203.0.113.7"], &["22", "3389", "8000-8080"]),
            rule(&["Internet"], &["*"]),
        ] {
            let back = from_properties("test", &rule.name, &properties(&rule)).unwrap();
            assert_eq!(back, rule);
        }
    }

    #[test]
    fn replacing_modeled_fields_keeps_the_others_and_drops_stale_twins() {
        let read = json!({
            "description": "bastion access",
            "protocol": "Tcp",
            "sourceAddressPrefix": "*",
            "sourceAddressPrefixes": [],
            "destinationPortRange": "22",
            "priority": 100,
            "access": "Allow",
            "direction": "Inbound",
            "provisioningState": "Succeeded"
        });
        let after = rule(&["10.0.0.0/8", "192.168.0.0/16"], &["22"]);
        let merged = replace_modeled(read.as_object().unwrap(), &after);
        assert_eq!(merged["description"], "bastion access");
        assert!(!merged.contains_key("sourceAddressPrefix"));
        assert!(!merged.contains_key("provisioningState"));
        assert_eq!(
            merged["sourceAddressPrefixes"],
            json!(["10.0.0.0/8", "192.168.0.0/16"])
        );
        assert_eq!(
            from_properties("test", "allow-ssh", &merged).unwrap(),
            after
        );
    }
}
