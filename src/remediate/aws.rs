//! `aws ec2` commands: revoke the security group rules that let the internet in, and give back,
//! to the same sources, the ports of a revoked rule that the finding does not blame.
//!
//! A security group rule is one source of one permission (protocol and port range). Rules of the
//! same permission are revoked together, with one `--ip-permissions` entry that names their
//! sources exactly, which works whether or not the input had rule ids. When that form is not
//! safe to paste (a prefix list or group id from a file holding control characters) and every
//! rule's `sgr-…` id was read, the command names the rules by id instead.

use std::collections::HashSet;

use serde_json::json;

use super::line::Commands;
use super::{Index, remaining};
use crate::addrset::AddressSet;
use crate::finding::Finding;
use crate::model::{PortRange, PortSpec, Protocol, SgSourceKind, Vm};
use crate::rule_ref::{SgRuleId, SgRuleRef};

/// Some internet sources of one security group permission, and the blamed ports it opens to
/// them (empty: all of them).
struct Blamed<'a> {
    group: &'a str,
    protocol: Protocol,
    ports: Option<PortRange>,
    /// Each source with the rule id read for it, if any.
    sources: Vec<(&'a SgSourceKind, Option<&'a str>)>,
    blamed_ports: Vec<PortSpec>,
}

impl Index<'_> {
    /// Revokes every all-traffic permission of the VM's security groups that admits internet
    /// addresses.
    pub(super) fn revoke_all_traffic(&self, vm: &Vm, finding: &Finding, commands: &mut Commands) {
        let mut seen = HashSet::new();
        for nic in self.vm_nics(vm) {
            for id in &nic.security_group_ids {
                let Some(group) = self.security_groups.get(id.as_str()) else {
                    continue;
                };
                if !seen.insert(id) {
                    continue;
                }
                for permission in group.inbound.iter().filter(|p| {
                    p.protocol == Protocol::Any && p.ports.is_none_or(PortRange::is_all)
                }) {
                    let sources = permission
                        .sources
                        .iter()
                        .filter(|s| match &s.kind {
                            SgSourceKind::Cidr(net) => {
                                !AddressSet::network(net).intersect(self.internet).is_empty()
                            }
                            SgSourceKind::PrefixList(_) => true,
                            SgSourceKind::Group(_) => false,
                        })
                        .map(|s| (&s.kind, s.rule_id.as_deref()))
                        .collect();
                    let blamed = Blamed {
                        group: &group.id,
                        protocol: permission.protocol,
                        ports: permission.ports,
                        sources,
                        blamed_ports: Vec::new(),
                    };
                    revoke(&blamed, finding.region.as_deref(), commands);
                }
            }
        }
    }
}

/// Revokes the blamed security group rules, each with its blamed ports, permission by
/// permission in the order the evidence names them.
pub(super) fn revoke_rules(
    rules: &[(&SgRuleRef, Vec<PortSpec>)],
    region: Option<&str>,
    commands: &mut Commands,
) {
    let mut permissions: Vec<Blamed> = Vec::new();
    for (rule, ports) in rules {
        let same = |b: &&mut Blamed| {
            b.group == &*rule.group && b.protocol == rule.protocol && b.ports == rule.ports
        };
        let entry = match permissions.iter_mut().position(|b| same(&b)) {
            Some(i) => &mut permissions[i],
            None => {
                permissions.push(Blamed {
                    group: &rule.group,
                    protocol: rule.protocol,
                    ports: rule.ports,
                    sources: Vec::new(),
                    blamed_ports: Vec::new(),
                });
                permissions.last_mut().expect("just pushed")
            }
        };
        let read = match &rule.rule_id {
            SgRuleId::Read(id) => Some(id.as_str()),
            SgRuleId::Derived(_) => None,
        };
        if !entry.sources.iter().any(|(s, _)| **s == rule.source) {
            entry.sources.push((&rule.source, read));
        }
        entry.blamed_ports.extend(ports);
    }
    for blamed in &permissions {
        revoke(blamed, region, commands);
    }
}

/// `aws ec2 revoke-security-group-ingress` for the blamed sources; when the permission's port
/// range also covers ports that are not blamed, `authorize-security-group-ingress` gives those
/// back to the same sources, since a rule cannot be narrowed in place.
fn revoke(blamed: &Blamed, region: Option<&str>, commands: &mut Commands) {
    let sources: Vec<&SgSourceKind> = blamed
        .sources
        .iter()
        .map(|(s, _)| *s)
        .filter(|s| !matches!(s, SgSourceKind::Group(_)))
        .collect();
    if sources.is_empty() {
        return;
    }
    let protocol = aws_protocol(blamed.protocol);
    let range = match blamed.ports {
        Some(range) => Some(range),
        None if blamed.protocol != Protocol::Any => Some(PortRange::ALL),
        None => None,
    };
    let mut by_kind = serde_json::Map::new();
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut lists = Vec::new();
    for source in &sources {
        match source {
            SgSourceKind::Cidr(net) if net.is_ipv4() => v4.push(json!({"CidrIp": net.to_string()})),
            SgSourceKind::Cidr(net) => v6.push(json!({"CidrIpv6": net.to_string()})),
            SgSourceKind::PrefixList(id) => lists.push(json!({"PrefixListId": id})),
            SgSourceKind::Group(_) => {}
        }
    }
    for (key, list) in [
        ("IpRanges", v4),
        ("Ipv6Ranges", v6),
        ("PrefixListIds", lists),
    ] {
        if !list.is_empty() {
            by_kind.insert(key.to_owned(), json!(list));
        }
    }
    // Keys inserted in alphabetical order, so the command reads the same whether or not
    // serde_json preserves insertion order (a feature other crates may turn on).
    let entry = |range: Option<PortRange>| {
        let mut entry = serde_json::Map::new();
        if let Some(range) = range {
            entry.insert("FromPort".to_owned(), json!(range.first));
        }
        entry.insert("IpProtocol".to_owned(), json!(protocol));
        entry.extend(by_kind.clone());
        if let Some(range) = range {
            entry.insert("ToPort".to_owned(), json!(range.last));
        }
        serde_json::Value::Object(entry)
    };
    let command = |verb: &str, tail: Vec<String>| {
        let mut words = vec!["aws", "ec2", verb];
        if let Some(region) = region {
            words.extend(["--region", region]);
        }
        words.extend(["--group-id", blamed.group]);
        let mut words: Vec<String> = words.into_iter().map(str::to_owned).collect();
        words.extend(tail);
        words
    };
    let permissions = |entries: Vec<serde_json::Value>| {
        vec![
            "--ip-permissions".to_owned(),
            serde_json::Value::Array(entries).to_string(),
        ]
    };
    let verb = "revoke-security-group-ingress";
    let mut forms = vec![command(verb, permissions(vec![entry(range)]))];
    let ids: Option<Vec<&str>> = blamed
        .sources
        .iter()
        .filter(|(s, _)| !matches!(s, SgSourceKind::Group(_)))
        .map(|(_, id)| *id)
        .collect();
    if let Some(ids) = ids {
        let mut tail = vec!["--security-group-rule-ids".to_owned()];
        tail.extend(ids.into_iter().map(str::to_owned));
        forms.push(command(verb, tail));
    }
    commands.push_first(forms.iter().map(Vec::as_slice));
    // Only a TCP or UDP rule has ports to give back.
    let Some(range) = range.filter(|_| blamed.protocol != Protocol::Any) else {
        return;
    };
    if blamed.blamed_ports.is_empty() {
        return;
    }
    let kept: Vec<_> = remaining(&[range], &blamed.blamed_ports)
        .into_iter()
        .map(|r| entry(Some(r)))
        .collect();
    if !kept.is_empty() {
        let authorize = command("authorize-security-group-ingress", permissions(kept));
        commands.push_first([authorize.as_slice()]);
    }
}

pub(crate) fn aws_protocol(protocol: Protocol) -> String {
    match protocol {
        Protocol::Any => "-1".to_owned(),
        Protocol::TCP => "tcp".to_owned(),
        Protocol::UDP => "udp".to_owned(),
        Protocol::Number(1) => "icmp".to_owned(),
        Protocol::Number(58) => "icmpv6".to_owned(),
        Protocol::Number(n) => n.to_string(),
    }
}
