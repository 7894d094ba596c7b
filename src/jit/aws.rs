//! Grants on AWS, from the estate as read; nothing here writes.
//!
//! A VM's grants live in a security group of its own, `portcullis-jit-<instance id>` in its VPC,
//! attached only to the VM's internet-facing interfaces (a rule in a shared group would open
//! every member). A grant is one inbound rule per port in that group, from the requested source,
//! described `portcullis-jit-<grant id> portcullis JIT grant expires=… opened=… by=…`
//! ([`rule_description`]) and tagged with the grant and its expiry ([`rule_tags`]), so the sweep
//! and the scanner read its expiry from the group alone ([`grant_of_rule`]).
//! [`plan`] finds the VM ([`super::request::find_vm`]), its interfaces and VPC, checks that each
//! interface can take one more group, and finds the older grants the new one replaces;
//! [`groups`] lists the grant groups of an estate for the sweep.

use std::collections::{BTreeMap, HashMap};

use time::OffsetDateTime;

use crate::cloud::aws::write::{LiveSgRule, RulePorts, SgRuleSpec};
use crate::fix::step::GROUPS_PER_INTERFACE;
use crate::model::{PortRange, Provider, SecurityGroup, SgSourceKind, Snapshot};

use super::PREFIX;
use super::clock::{format_instant, parse_instant};
use super::grant::{Access, GrantId, Stamp};
use super::request::{RequestError, find_vm};

/// The longest description EC2 accepts on a rule.
const MAX_DESCRIPTION: usize = 255;
/// The tag naming the instance a grant group is for.
pub const INSTANCE_TAG: &str = "portcullis:jit-instance";
/// The tag naming the grant a rule belongs to.
pub const GRANT_TAG: &str = "portcullis:jit-grant";
/// The tag holding a grant rule's expiry (RFC 3339, UTC).
pub const EXPIRES_TAG: &str = "portcullis:jit-expires";

/// The grant group of instance `instance`.
pub fn group_name(instance: &str) -> String {
    format!("{PREFIX}{instance}")
}

/// The instance a grant group's name is for; `None` for any other name.
pub fn instance_of_group(name: &str) -> Option<&str> {
    name.strip_prefix(PREFIX)
        .filter(|rest| rest.starts_with("i-"))
}

/// What the grant group of `instance` is created with: its description and tags.
pub fn group_fields(instance: &str) -> (String, BTreeMap<String, String>) {
    let tags = BTreeMap::from([
        ("Name".to_owned(), group_name(instance)),
        (INSTANCE_TAG.to_owned(), instance.to_owned()),
    ]);
    (
        format!("portcullis JIT grants to instance {instance}"),
        tags,
    )
}

/// A grant rule's description: the grant's rule name, then its stamp, in EC2's characters.
pub fn rule_description(id: &GrantId, stamp: &Stamp) -> String {
    let name = id.rule_name();
    let text = format!(
        "{name} {}",
        stamp.description_within(MAX_DESCRIPTION - name.len() - 1)
    );
    text.chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .collect()
}

/// The characters EC2 takes in a rule's description.
fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c)
}

/// The grant a rule's description names, and when it expires; `None` for a rule not stamped by
/// `jit request` (the scanner and the sweep go by this).
pub fn grant_of(description: &str) -> Option<(GrantId, Option<OffsetDateTime>)> {
    let first = description.split_whitespace().next()?;
    let grant = GrantId::of_rule(first)?;
    Some((grant, Stamp::parse(description).map(|s| s.expires)))
}

/// The tags of a grant rule: its grant and its expiry, which the sweep reads when the
/// description no longer tells them.
pub fn rule_tags(id: &GrantId, stamp: &Stamp) -> BTreeMap<String, String> {
    BTreeMap::from([
        (GRANT_TAG.to_owned(), id.to_string()),
        (EXPIRES_TAG.to_owned(), format_instant(stamp.expires)),
    ])
}

/// The grant a rule as EC2 holds it belongs to, and when it expires: by its description and
/// its tags. Where both tell an expiry of the same grant, the earlier one holds; where they name
/// different grants, the description does.
pub fn grant_of_rule(rule: &LiveSgRule) -> Option<(GrantId, Option<OffsetDateTime>)> {
    let described = rule.spec.description.as_deref().and_then(grant_of);
    let tagged = rule.tags.get(GRANT_TAG).and_then(|grant| {
        let grant = GrantId::parse(grant).ok()?;
        let expires = rule.tags.get(EXPIRES_TAG);
        Some((grant, expires.and_then(|at| parse_instant(at).ok())))
    });
    match (described, tagged) {
        (Some((grant, by_text)), Some((tagged, by_tag))) if grant == tagged => {
            let expires = match (by_text, by_tag) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            Some((grant, expires))
        }
        (Some(described), _) => Some(described),
        (None, tagged) => tagged,
    }
}

/// The rules of a grant of `access`, one per port, described `description`.
pub fn rules(access: &Access, description: &str) -> Vec<SgRuleSpec> {
    access
        .ports
        .iter()
        .map(|&port| SgRuleSpec {
            protocol: access.protocol,
            ports: RulePorts::Range(PortRange::single(port)),
            source: SgSourceKind::Cidr(access.source),
            description: Some(description.to_owned()),
        })
        .collect()
}

/// A grant's rule in a grant group, as read.
#[derive(Clone, Debug, PartialEq)]
pub struct HeldRule {
    pub grant: GrantId,
    pub rule: SgRuleSpec,
}

/// A grant group as read: where it is, and the interfaces holding it (the sweep reads its rules
/// again).
#[derive(Clone, Debug, PartialEq)]
pub struct JitGroup {
    pub id: String,
    pub name: String,
    pub vpc: String,
    /// `None` when nothing read tells (no VM uses it or is named by it, several regions read).
    pub region: Option<String>,
    pub interfaces: Vec<String>,
}

/// Every grant group of the estate, in one pass over its interfaces and VMs (an estate of
/// 100,000 VMs is swept before every `fix` command).
pub fn groups(snapshot: &Snapshot) -> Vec<JitGroup> {
    let grant_groups: Vec<&SecurityGroup> = snapshot
        .security_groups
        .iter()
        .filter(|sg| instance_of_group(&sg.name).is_some())
        .collect();
    if grant_groups.is_empty() {
        return Vec::new();
    }
    let mut holders: HashMap<&str, Vec<&str>> = grant_groups
        .iter()
        .map(|sg| (sg.id.as_str(), Vec::new()))
        .collect();
    for nic in &snapshot.nics {
        for group in &nic.security_group_ids {
            if let Some(interfaces) = holders.get_mut(group.as_str()) {
                interfaces.push(&nic.id);
            }
        }
    }
    let regions = Regions::of(snapshot);
    grant_groups
        .into_iter()
        .filter_map(|sg| {
            let interfaces = &holders[sg.id.as_str()];
            Some(JitGroup {
                id: sg.id.clone(),
                name: sg.name.clone(),
                vpc: sg.vpc_id.clone()?,
                region: regions.of_group(sg, interfaces),
                interfaces: interfaces.iter().map(|&id| id.to_owned()).collect(),
            })
        })
        .collect()
}

/// The grant rules of `sg`.
fn held_rules(sg: &SecurityGroup) -> Vec<HeldRule> {
    sg.inbound
        .iter()
        .flat_map(|permission| {
            permission.sources.iter().filter_map(move |source| {
                let (grant, _) = grant_of(source.description.as_deref()?)?;
                Some(HeldRule {
                    grant,
                    rule: SgRuleSpec {
                        protocol: permission.protocol,
                        ports: permission.ports.map_or(RulePorts::All, RulePorts::Range),
                        source: source.kind.clone(),
                        description: source.description.clone(),
                    },
                })
            })
        })
        .collect()
}

/// The regions of an estate's AWS VMs, by VM id and by interface id, and the one AWS region
/// read, if only one was.
struct Regions<'a> {
    by_vm: HashMap<&'a str, &'a str>,
    by_interface: HashMap<&'a str, &'a str>,
    only: Option<&'a str>,
}

impl<'a> Regions<'a> {
    fn of(snapshot: &'a Snapshot) -> Self {
        let mut by_vm = HashMap::new();
        let mut by_interface = HashMap::new();
        for vm in &snapshot.vms {
            if let Some(region) = vm.region.as_deref() {
                by_vm.insert(vm.id.as_str(), region);
                for nic in &vm.nic_ids {
                    by_interface.insert(nic.as_str(), region);
                }
            }
        }
        let mut read = snapshot
            .read_scopes
            .iter()
            .filter(|s| s.provider == Provider::Aws && s.kind == "region");
        let only = match (read.next(), read.next()) {
            (Some(only), None) => Some(only.name.as_str()),
            _ => None,
        };
        Regions {
            by_vm,
            by_interface,
            only,
        }
    }

    /// The region of grant group `sg`, held by `interfaces`: its instance's, else that of a VM
    /// using it, else the one AWS region read.
    fn of_group(&self, sg: &SecurityGroup, interfaces: &[&str]) -> Option<String> {
        let instance = instance_of_group(&sg.name).and_then(|id| self.by_vm.get(id));
        let user = || interfaces.iter().find_map(|n| self.by_interface.get(n));
        instance
            .or_else(user)
            .copied()
            .or(self.only)
            .map(str::to_owned)
    }
}

/// What granting on AWS writes.
#[derive(Clone, Debug, PartialEq)]
pub struct AwsPlanned {
    pub vm_id: String,
    pub vm_name: String,
    pub region: String,
    pub vpc: String,
    pub group_name: String,
    /// The VM's internet-facing interfaces, which get the group.
    pub interfaces: Vec<String>,
    /// The grant's rules, one per port.
    pub rules: Vec<SgRuleSpec>,
    /// Older grants of the same source and protocol on ports the new one all gives, with their
    /// rules: revoked before the new rules are authorized (EC2 holds one rule per access).
    pub replaces: BTreeMap<GrantId, Vec<SgRuleSpec>>,
}

/// Plans grant `id` of `access` to the AWS VM `given` names, stamped with `stamp`.
pub fn plan(
    snapshot: &Snapshot,
    given: &str,
    access: &Access,
    id: &GrantId,
    stamp: &Stamp,
) -> Result<AwsPlanned, RequestError> {
    let vm = find_vm(snapshot, given, Provider::Aws)?;
    let interfaces: Vec<_> = snapshot
        .nics
        .iter()
        .filter(|nic| vm.nic_ids.contains(&nic.id))
        .filter(|nic| {
            nic.ip_configs
                .iter()
                .any(|c| c.public_ip.is_some() || c.public_ip_id.is_some())
        })
        .collect();
    if interfaces.is_empty() {
        return Err(RequestError::NotInternetFacing(vm.id.clone()));
    }
    let vpc = interfaces
        .iter()
        .find_map(|nic| {
            let subnet = nic.subnet_id.as_deref()?;
            snapshot
                .subnets
                .iter()
                .find(|s| s.id == subnet)?
                .network_id
                .clone()
        })
        .ok_or_else(|| RequestError::NoVpc(vm.id.clone()))?;
    let region = vm
        .region
        .clone()
        .ok_or_else(|| RequestError::NoVpc(vm.id.clone()))?;
    let group_name = group_name(&vm.id);
    let existing = snapshot
        .security_groups
        .iter()
        .find(|sg| sg.name == group_name && sg.vpc_id.as_deref() == Some(vpc.as_str()));
    for nic in &interfaces {
        let holds = existing.is_some_and(|sg| nic.security_group_ids.contains(&sg.id));
        if !holds && nic.security_group_ids.len() >= GROUPS_PER_INTERFACE {
            return Err(RequestError::InterfaceFull {
                vm: vm.id.clone(),
                interface: nic.id.clone(),
                groups: nic.security_group_ids.clone(),
            });
        }
    }
    let rules = rules(access, &rule_description(id, stamp));
    let held = existing.map(held_rules).unwrap_or_default();
    let replaces =
        replaced(&held, access, &rules).map_err(|(grant, rule)| RequestError::Overlaps {
            vm: vm.id.clone(),
            grant,
            rule: rule.to_string(),
        })?;
    Ok(AwsPlanned {
        vm_id: vm.id.clone(),
        vm_name: vm.name.clone(),
        region,
        vpc,
        group_name,
        interfaces: interfaces.iter().map(|n| n.id.clone()).collect(),
        rules,
        replaces,
    })
}

/// The older grants among `held` that a grant of `access` (its rules `new`) replaces: the same
/// protocol and source, on ports it all gives. An older grant that is not replaced yet holds one
/// of the new rules' access is returned as the error, with that rule.
pub fn replaced(
    held: &[HeldRule],
    access: &Access,
    new: &[SgRuleSpec],
) -> Result<BTreeMap<GrantId, Vec<SgRuleSpec>>, (GrantId, SgRuleSpec)> {
    let mut by_grant: BTreeMap<GrantId, Vec<SgRuleSpec>> = BTreeMap::new();
    for one in held {
        by_grant
            .entry(one.grant.clone())
            .or_default()
            .push(one.rule.clone());
    }
    let covered = |rule: &SgRuleSpec| {
        rule.protocol == access.protocol
            && rule.source == SgSourceKind::Cidr(access.source)
            && matches!(rule.ports, RulePorts::Range(range)
                if (range.first..=range.last).all(|p| access.ports.contains(&p)))
    };
    let mut replaces = BTreeMap::new();
    for (grant, rules) in by_grant {
        if rules.iter().all(covered) {
            replaces.insert(grant, rules);
        } else if let Some(clash) = rules.iter().find(|r| new.iter().any(|n| n.same_access(r))) {
            return Err((grant, clash.clone()));
        }
    }
    Ok(replaces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::aws::write::{GroupId, RuleId};
    use crate::model::Protocol;

    fn stamp(requester: &str) -> Stamp {
        Stamp {
            expires: parse_instant("2026-12-03T08:00:00Z").unwrap(),
            opened: Some(parse_instant("2026-12-03T06:00:00Z").unwrap()),
            requester: Some(requester.to_owned()),
        }
    }

    fn id(text: &str) -> GrantId {
        GrantId::parse(text).unwrap()
    }

    #[test]
    fn a_rule_description_names_the_grant_and_its_expiry_in_ec2_characters() {
        let arn = "arn:aws:sts::123456789012:assumed-role/Admin/alice@example.com";
        let cases: [(&str, &str); 3] = [
            (
                arn,
                "portcullis-jit-3f9a0c12de45 portcullis JIT grant expires=2026-12-03T08:00:00Z \
                 opened=2026-12-03T06:00:00Z by=arn:aws:sts::123456789012:assumed-role/Admin/\
                 alice@example.com",
            ),
            (
                "o'brien\u{e9}",
                "portcullis-jit-3f9a0c12de45 portcullis JIT grant expires=2026-12-03T08:00:00Z \
                 opened=2026-12-03T06:00:00Z by=o_brien_",
            ),
            (
                "local-user:bob smith",
                "portcullis-jit-3f9a0c12de45 portcullis JIT grant expires=2026-12-03T08:00:00Z \
                 opened=2026-12-03T06:00:00Z by=local-user:bob_smith",
            ),
        ];
        for (requester, expected) in cases {
            let text = rule_description(&id("3f9a0c12de45"), &stamp(requester));
            assert_eq!(text, expected);
            assert_eq!(
                grant_of(&text),
                Some((
                    id("3f9a0c12de45"),
                    Some(parse_instant("2026-12-03T08:00:00Z").unwrap())
                ))
            );
        }
        let long = rule_description(&id("3f9a0c12de45"), &stamp(&"x".repeat(400)));
        assert_eq!(long.chars().count(), MAX_DESCRIPTION);
        assert_eq!(grant_of("ssh from the office"), None);
        assert_eq!(
            grant_of("portcullis-jit-3f9a0c12de45 made by hand"),
            Some((id("3f9a0c12de45"), None))
        );
    }

    #[test]
    fn grant_groups_are_named_for_their_instance() {
        assert_eq!(group_name("i-0abc"), "portcullis-jit-i-0abc");
        for (name, instance) in [
            ("portcullis-jit-i-0abc", Some("i-0abc")),
            ("portcullis-jit-3f9a0c12de45", None),
            ("web", None),
        ] {
            assert_eq!(instance_of_group(name), instance, "{name}");
        }
    }

    #[test]
    fn an_older_grant_is_replaced_when_the_new_one_gives_all_its_ports_else_it_clashes() {
        let rule = |port: u16, from: &str| SgRuleSpec {
            protocol: Protocol::TCP,
            ports: RulePorts::Range(PortRange::single(port)),
            source: SgSourceKind::Cidr(from.parse().unwrap()),
            description: None,
        };
        let held = |grant: &str, port: u16, from: &str| HeldRule {
            grant: id(grant),
            rule: rule(port, from),
        };
        let access = Access::parse(&["22".into(), "3389".into()], "81.2.69.160").unwrap();
        let new = [rule(22, "81.2.69.160/32"), rule(3389, "81.2.69.160/32")];
        // The grants replaced, or the grant that clashes.
        type Expected = Result<Vec<&'static str>, &'static str>;
        let cases: [(&str, Vec<HeldRule>, Expected); 4] = [
            ("nothing held", vec![], Ok(vec![])),
            (
                "same source, ports within: replaced",
                vec![
                    held("aaaaaaaaaaaa", 22, "81.2.69.160/32"),
                    held("bbbbbbbbbbbb", 22, "81.2.69.160/32"),
                    held("bbbbbbbbbbbb", 3389, "81.2.69.160/32"),
                ],
                Ok(vec!["aaaaaaaaaaaa", "bbbbbbbbbbbb"]),
            ),
            (
                "another source stays",
                vec![held("cccccccccccc", 22, "81.2.69.161/32")],
                Ok(vec![]),
            ),
            (
                "a port beyond the new grant's, sharing one: a clash",
                vec![
                    held("dddddddddddd", 22, "81.2.69.160/32"),
                    held("dddddddddddd", 5985, "81.2.69.160/32"),
                ],
                Err("dddddddddddd"),
            ),
        ];
        for (name, held, expected) in cases {
            let got = replaced(&held, &access, &new)
                .map(|r| r.keys().map(|g| g.to_string()).collect::<Vec<_>>())
                .map_err(|(g, _)| g.to_string());
            let expected = expected
                .map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .map_err(str::to_owned);
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn a_rule_belongs_to_the_grant_its_description_or_its_tags_name_and_the_earlier_expiry_holds() {
        let described = rule_description(&id("3f9a0c12de45"), &stamp("alice"));
        let tags = |grant: &str, expires: &str| {
            BTreeMap::from([
                (GRANT_TAG.to_owned(), grant.to_owned()),
                (EXPIRES_TAG.to_owned(), expires.to_owned()),
            ])
        };
        let at = |text: &str| Some(parse_instant(text).unwrap());
        let cases: [(&str, Option<&str>, BTreeMap<String, String>, _); 6] = [
            (
                "description only",
                Some(&described),
                BTreeMap::new(),
                Some(("3f9a0c12de45", at("2026-12-03T08:00:00Z"))),
            ),
            (
                "description edited away: the tags tell",
                Some("ssh for alice"),
                tags("3f9a0c12de45", "2026-12-03T08:00:00Z"),
                Some(("3f9a0c12de45", at("2026-12-03T08:00:00Z"))),
            ),
            (
                "a tag moved earlier: the earlier expiry holds",
                Some(&described),
                tags("3f9a0c12de45", "2026-12-03T07:00:00Z"),
                Some(("3f9a0c12de45", at("2026-12-03T07:00:00Z"))),
            ),
            (
                "tags of another grant: the description holds",
                Some(&described),
                tags("aaaaaaaaaaaa", "2026-12-03T07:00:00Z"),
                Some(("3f9a0c12de45", at("2026-12-03T08:00:00Z"))),
            ),
            (
                "an unreadable expiry tag: the grant, with no expiry",
                None,
                tags("3f9a0c12de45", "tomorrow"),
                Some(("3f9a0c12de45", None)),
            ),
            ("neither", Some("ssh for alice"), BTreeMap::new(), None),
        ];
        for (name, description, tags, expected) in cases {
            let rule = LiveSgRule {
                id: RuleId::new("sgr-1").unwrap(),
                group_id: GroupId::new("sg-1").unwrap(),
                spec: SgRuleSpec {
                    protocol: Protocol::TCP,
                    ports: RulePorts::Range(PortRange::single(22)),
                    source: SgSourceKind::Cidr("81.2.69.160/32".parse().unwrap()),
                    description: description.map(str::to_owned),
                },
                tags,
            };
            let expected = expected.map(|(grant, expires)| (id(grant), expires));
            assert_eq!(grant_of_rule(&rule), expected, "{name}");
        }
    }
}
