//! One cloud write of `fix`, as the journal records it before it is sent: the target, what the
//! target held when it was read, and what the write leaves. A step says where its target stands
//! ([`Step::progress`]: still to do, done, or changed by someone else), which makes every write
//! replayable (apply, `fix recover`) and reversible ([`Step::inverse`], for `fix undo`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::cloud::aws::write::{GroupId, LiveGroup, LiveSgRule, RulePorts, SgRuleSpec};
use crate::cloud::azure::write::{LiveResource, LiveRule};

use super::plan::SgRule;

/// The journal's intent kind of a step written by `fix apply`.
pub const APPLY: &str = "apply";
/// The journal's intent kind of a step written by `fix undo`.
pub const UNDO: &str = "undo";

/// One write to one rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "write", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// A PUT of one NSG security rule: `before` is its `properties` as read (`None`: created).
    AzurePut {
        nsg: String,
        rule: String,
        before: Option<Map<String, Value>>,
        properties: Map<String, Value>,
    },
    /// A DELETE of one NSG security rule that held `before`.
    AzureDelete {
        nsg: String,
        rule: String,
        before: Map<String, Value>,
    },
    /// An authorize of one security group rule, tagged `tags`.
    AwsAuthorize {
        group: String,
        region: String,
        rule: SgRuleSpec,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        tags: BTreeMap<String, String>,
    },
    /// A revoke of one security group rule (found by its access: protocol, ports, source),
    /// which was tagged `tags` when read, so that undo authorizes it again with them.
    AwsRevoke {
        group: String,
        region: String,
        rule: SgRuleSpec,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        tags: BTreeMap<String, String>,
    },
    /// A creation of an NSG with no custom rules in `location`, for NIC `nic`: written in the
    /// NIC's queue, so that it exists before the NIC names it.
    AzureCreateNsg {
        nsg: String,
        location: String,
        nic: String,
    },
    /// A deletion of an NSG `fix` created for NIC `nic`, once no NIC names it and while it has
    /// no rules.
    AzureDeleteNsg {
        nsg: String,
        location: String,
        nic: String,
    },
    /// A NIC's NSG reference set from `before` to `after` (NSG ids; `None`: no NSG).
    AzureNicNsg {
        nic: String,
        before: Option<String>,
        after: Option<String>,
    },
    /// A create of security group `name` in VPC `vpc` (found by its name, so a replay finds it),
    /// without outbound rules.
    AwsCreateGroup {
        region: String,
        vpc: String,
        name: String,
        description: String,
        tags: BTreeMap<String, String>,
    },
    /// A delete of the security group `name` in VPC `vpc`; the fields are those it was made with.
    AwsDeleteGroup {
        region: String,
        vpc: String,
        name: String,
        description: String,
        tags: BTreeMap<String, String>,
    },
    /// Adds `group` to the security groups of network interface `interface` (the list read just
    /// before, plus the group).
    AwsAttachGroup {
        region: String,
        interface: String,
        group: String,
    },
    /// Takes `group` off the security groups of `interface` (the list read just before, minus it).
    AwsDetachGroup {
        region: String,
        interface: String,
        group: String,
    },
}

/// The most security groups an interface holds (EC2's default quota).
pub const GROUPS_PER_INTERFACE: usize = 5;

/// A step as the journal's intent body: which change of the plan it makes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recorded {
    /// The index of the change in the plan's `changes`.
    pub change: usize,
    pub step: Step,
}

/// What a step's target holds now, as read just before the step.
#[derive(Clone, Debug)]
pub enum Live {
    /// The NSG rule, `None` when the NSG has no such rule.
    Azure(Option<LiveRule>),
    /// The security group's inbound rules.
    Aws(Vec<LiveSgRule>),
    /// The NSG or NIC, `None` when there is none.
    AzureResource(Option<LiveResource>),
    /// The security group of that name, `None` when there is none.
    AwsGroup(Option<LiveGroup>),
    /// The network interface's security groups.
    AwsInterface(Vec<GroupId>),
}

/// Where a step's target stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The target holds what the step was planned from: the write is to be made.
    ToDo,
    /// The target already holds what the step writes.
    Done,
    /// The target holds neither: someone changed it; nothing may be written. Says what it holds.
    Differs(String),
}

impl Step {
    /// The target, as messages name it: `rule "allow-ssh" of NSG /subscriptions/…`.
    pub fn target(&self) -> String {
        match self {
            Step::AzurePut { nsg, rule, .. } | Step::AzureDelete { nsg, rule, .. } => {
                format!("rule {rule:?} of NSG {nsg}")
            }
            Step::AwsAuthorize { group, rule, .. } | Step::AwsRevoke { group, rule, .. } => {
                format!("rule {rule} of security group {group}")
            }
            Step::AzureCreateNsg { nsg, .. } | Step::AzureDeleteNsg { nsg, .. } => {
                format!("NSG {nsg}")
            }
            Step::AzureNicNsg { nic, .. } => format!("NIC {nic}"),
            Step::AwsCreateGroup { vpc, name, .. } | Step::AwsDeleteGroup { vpc, name, .. } => {
                format!("security group {name} in VPC {vpc}")
            }
            Step::AwsAttachGroup {
                interface, group, ..
            }
            | Step::AwsDetachGroup {
                interface, group, ..
            } => format!("security group {group} of network interface {interface}"),
        }
    }

    /// The NSG, security group or NIC whose writes go one at a time and in order: an NSG made
    /// for a NIC goes with the NIC.
    pub fn container(&self) -> &str {
        match self {
            Step::AzurePut { nsg, .. } | Step::AzureDelete { nsg, .. } => nsg,
            Step::AwsAuthorize { group, .. } | Step::AwsRevoke { group, .. } => group,
            Step::AzureCreateNsg { nic, .. }
            | Step::AzureDeleteNsg { nic, .. }
            | Step::AzureNicNsg { nic, .. } => nic,
            Step::AwsCreateGroup { name, .. } | Step::AwsDeleteGroup { name, .. } => name,
            Step::AwsAttachGroup { interface, .. } | Step::AwsDetachGroup { interface, .. } => {
                interface
            }
        }
    }

    /// What the step does, in a few words: `create`, `replace`, `delete`, `authorize`, `revoke`,
    /// `attach an NSG to`, `detach the NSG from`, `create group`, `delete group`, `attach`,
    /// `detach`.
    pub fn verb(&self) -> &'static str {
        match self {
            Step::AzurePut { before: None, .. } | Step::AzureCreateNsg { .. } => "create",
            Step::AzurePut { .. } => "replace",
            Step::AzureDelete { .. } | Step::AzureDeleteNsg { .. } => "delete",
            Step::AwsAuthorize { .. } => "authorize",
            Step::AwsRevoke { .. } => "revoke",
            Step::AzureNicNsg { after: Some(_), .. } => "attach an NSG to",
            Step::AzureNicNsg { after: None, .. } => "detach the NSG from",
            Step::AwsCreateGroup { .. } => "create group",
            Step::AwsDeleteGroup { .. } => "delete group",
            Step::AwsAttachGroup { .. } => "attach",
            Step::AwsDetachGroup { .. } => "detach",
        }
    }

    /// Where the target stands, given what it holds now.
    pub fn progress(&self, live: &Live) -> Progress {
        match (self, live) {
            (
                Step::AzurePut {
                    before, properties, ..
                },
                Live::Azure(rule),
            ) => match (rule, before) {
                (Some(rule), _) if rule.holds(properties) => Progress::Done,
                (Some(rule), Some(before)) if rule.holds(before) => Progress::ToDo,
                (None, None) => Progress::ToDo,
                (None, Some(_)) => Progress::Differs("the rule was deleted since".to_owned()),
                (Some(rule), _) => Progress::Differs(differs(rule)),
            },
            (Step::AzureDelete { before, .. }, Live::Azure(rule)) => match rule {
                None => Progress::Done,
                Some(rule) if rule.holds(before) => Progress::ToDo,
                Some(rule) => Progress::Differs(differs(rule)),
            },
            (Step::AwsAuthorize { rule, .. }, Live::Aws(rules)) => {
                if rules.iter().any(|r| r.spec.same_access(rule)) {
                    Progress::Done
                } else {
                    Progress::ToDo
                }
            }
            (Step::AwsRevoke { rule, .. }, Live::Aws(rules)) => {
                if rules.iter().any(|r| r.spec.same_access(rule)) {
                    Progress::ToDo
                } else {
                    Progress::Done
                }
            }
            (Step::AzureCreateNsg { .. }, Live::AzureResource(nsg)) => match nsg {
                None => Progress::ToDo,
                Some(nsg) if nsg.rule_names().is_empty() => Progress::Done,
                Some(nsg) => Progress::Differs(format!(
                    "an NSG of that name exists, with rules {}",
                    nsg.rule_names().join(", ")
                )),
            },
            (Step::AzureDeleteNsg { .. }, Live::AzureResource(nsg)) => match nsg {
                None => Progress::Done,
                Some(nsg) if !nsg.rule_names().is_empty() => Progress::Differs(format!(
                    "the NSG has rules now ({}): someone uses it",
                    nsg.rule_names().join(", ")
                )),
                Some(nsg) if !nsg.attached_to().is_empty() => Progress::Differs(format!(
                    "the NSG filters {} now",
                    nsg.attached_to().join(", ")
                )),
                Some(_) => Progress::ToDo,
            },
            (Step::AzureNicNsg { before, after, .. }, Live::AzureResource(nic)) => {
                let Some(nic) = nic else {
                    return Progress::Differs("the NIC was deleted since".to_owned());
                };
                let names = |id: Option<&String>| {
                    id.map(|id| id.to_ascii_lowercase())
                        == nic.nsg_reference().map(str::to_ascii_lowercase)
                };
                if names(after.as_ref()) {
                    Progress::Done
                } else if names(before.as_ref()) {
                    Progress::ToDo
                } else {
                    Progress::Differs(match nic.nsg_reference() {
                        Some(nsg) => format!("the NIC's NSG is {nsg} now"),
                        None => "the NIC has no NSG now".to_owned(),
                    })
                }
            }
            (
                Step::AwsCreateGroup { tags, .. } | Step::AwsDeleteGroup { tags, .. },
                Live::AwsGroup(Some(group)),
            ) if !group.has_tags(tags) => Progress::Differs(format!(
                "{} has that name but not the tags portcullis makes it with ({}): it is not \
                 portcullis's, and is left alone; rename it",
                group.id,
                tags.iter()
                    .map(|(key, value)| format!("{key}={value}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            (Step::AwsCreateGroup { .. }, Live::AwsGroup(group)) => match group {
                Some(group) if group.egress.is_empty() => Progress::Done,
                _ => Progress::ToDo,
            },
            (Step::AwsDeleteGroup { .. }, Live::AwsGroup(group)) => match group {
                Some(group) if group.inbound > 0 => Progress::Differs(format!(
                    "it holds {} inbound rules again, so it is in use; it is left in place",
                    group.inbound
                )),
                Some(_) => Progress::ToDo,
                None => Progress::Done,
            },
            (Step::AwsAttachGroup { group, .. }, Live::AwsInterface(groups)) => {
                if groups.iter().any(|g| g.as_str() == group) {
                    Progress::Done
                } else {
                    Progress::ToDo
                }
            }
            (Step::AwsDetachGroup { group, .. }, Live::AwsInterface(groups)) => {
                if groups.iter().any(|g| g.as_str() == group) {
                    Progress::ToDo
                } else {
                    Progress::Done
                }
            }
            (step, _) => Progress::Differs(format!(
                "{} was read from the wrong cloud; this is a bug in portcullis",
                step.target()
            )),
        }
    }

    /// The step that takes this one back: the rule as it was before.
    pub fn inverse(&self) -> Step {
        match self.clone() {
            Step::AzurePut {
                nsg,
                rule,
                before: Some(before),
                properties,
            } => Step::AzurePut {
                nsg,
                rule,
                before: Some(properties),
                properties: before,
            },
            Step::AzurePut {
                nsg,
                rule,
                before: None,
                properties,
            } => Step::AzureDelete {
                nsg,
                rule,
                before: properties,
            },
            Step::AzureDelete { nsg, rule, before } => Step::AzurePut {
                nsg,
                rule,
                before: None,
                properties: before,
            },
            Step::AwsAuthorize {
                group,
                region,
                rule,
                tags,
            } => Step::AwsRevoke {
                group,
                region,
                rule,
                tags,
            },
            Step::AwsRevoke {
                group,
                region,
                rule,
                tags,
            } => Step::AwsAuthorize {
                group,
                region,
                rule,
                tags,
            },
            Step::AzureCreateNsg { nsg, location, nic } => {
                Step::AzureDeleteNsg { nsg, location, nic }
            }
            Step::AzureDeleteNsg { nsg, location, nic } => {
                Step::AzureCreateNsg { nsg, location, nic }
            }
            Step::AzureNicNsg { nic, before, after } => Step::AzureNicNsg {
                nic,
                before: after,
                after: before,
            },
            Step::AwsCreateGroup {
                region,
                vpc,
                name,
                description,
                tags,
            } => Step::AwsDeleteGroup {
                region,
                vpc,
                name,
                description,
                tags,
            },
            Step::AwsDeleteGroup {
                region,
                vpc,
                name,
                description,
                tags,
            } => Step::AwsCreateGroup {
                region,
                vpc,
                name,
                description,
                tags,
            },
            Step::AwsAttachGroup {
                region,
                interface,
                group,
            } => Step::AwsDetachGroup {
                region,
                interface,
                group,
            },
            Step::AwsDetachGroup {
                region,
                interface,
                group,
            } => Step::AwsAttachGroup {
                region,
                interface,
                group,
            },
        }
    }
}

fn differs(rule: &LiveRule) -> String {
    format!(
        "the rule was changed since (it now holds {})",
        Value::Object(rule.properties.clone())
    )
}

/// A plan's security group rule as the writer takes it.
pub fn sg_spec(rule: &SgRule) -> SgRuleSpec {
    SgRuleSpec {
        protocol: rule.protocol,
        ports: rule.ports.map_or(RulePorts::All, RulePorts::Range),
        source: rule.source.clone(),
        description: rule.description.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cloud::aws::write::{GroupId, RuleId};
    use crate::cloud::azure::write::{Etag, ProvisioningState};
    use crate::model::{PortRange, Protocol, SgSourceKind};

    fn props(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn live(properties: Option<Map<String, Value>>) -> Live {
        Live::Azure(properties.map(|properties| LiveRule {
            id: "…/securityRules/allow-ssh".to_owned(),
            name: "allow-ssh".to_owned(),
            etag: Etag("W/\"1\"".to_owned()),
            properties,
            provisioning_state: ProvisioningState::Succeeded,
        }))
    }

    fn spec(cidr: &str) -> SgRuleSpec {
        SgRuleSpec {
            protocol: Protocol::TCP,
            ports: RulePorts::Range(PortRange {
                first: 22,
                last: 22,
            }),
            source: SgSourceKind::Cidr(cidr.parse().unwrap()),
            description: None,
        }
    }

    fn group(cidrs: &[&str]) -> Live {
        Live::Aws(
            cidrs
                .iter()
                .enumerate()
                .map(|(i, cidr)| LiveSgRule {
                    id: RuleId::new(&format!("sgr-{i}")).unwrap(),
                    group_id: GroupId::new("sg-1").unwrap(),
                    spec: spec(cidr),
                    tags: BTreeMap::new(),
                })
                .collect(),
        )
    }

    #[test]
    fn where_a_step_stands_given_its_target() {
        let wide = props(json!({"sourceAddressPrefix": "*", "priority": 100}));
        let narrow = props(json!({"sourceAddressPrefix": "10.0.0.0/8", "priority": 100}));
        let other = props(json!({"sourceAddressPrefix": "1.2.3.4", "priority": 100}));
        let put = |before: Option<&Map<String, Value>>| Step::AzurePut {
            nsg: "nsg".to_owned(),
            rule: "allow-ssh".to_owned(),
            before: before.cloned(),
            properties: narrow.clone(),
        };
        let delete = Step::AzureDelete {
            nsg: "nsg".to_owned(),
            rule: "allow-ssh".to_owned(),
            before: wide.clone(),
        };
        let authorize = Step::AwsAuthorize {
            group: "sg-1".to_owned(),
            region: "eu-west-1".to_owned(),
            rule: spec("10.0.0.0/8"),
            tags: BTreeMap::new(),
        };
        let revoke = Step::AwsRevoke {
            group: "sg-1".to_owned(),
            region: "eu-west-1".to_owned(),
            rule: spec("0.0.0.0/0"),
            tags: BTreeMap::new(),
        };
        let table = [
            (&put(Some(&wide)), live(Some(wide.clone())), "to do"),
            (&put(Some(&wide)), live(Some(narrow.clone())), "done"),
            (&put(Some(&wide)), live(Some(other.clone())), "differs"),
            (&put(Some(&wide)), live(None), "differs"),
            (&put(None), live(None), "to do"),
            (&put(None), live(Some(other.clone())), "differs"),
            (&delete, live(Some(wide.clone())), "to do"),
            (&delete, live(None), "done"),
            (&authorize, group(&["0.0.0.0/0"]), "to do"),
            (&authorize, group(&["10.0.0.0/8"]), "done"),
            (&revoke, group(&["0.0.0.0/0", "10.0.0.0/8"]), "to do"),
            (&revoke, group(&["10.0.0.0/8"]), "done"),
        ];
        for (i, (step, live, expected)) in table.into_iter().enumerate() {
            let progress = step.progress(&live);
            assert_eq!(kind(&progress), expected, "case {i}: {progress:?}");
        }
    }

    /// A step's progress, in a word, for the tables.
    fn kind(progress: &Progress) -> &'static str {
        match progress {
            Progress::ToDo => "to do",
            Progress::Done => "done",
            Progress::Differs(_) => "differs",
        }
    }

    /// An NSG or NIC as read: `rules` and `attached` for an NSG, `nsg` for a NIC.
    fn resource(rules: &[&str], attached: &[&str], nsg: Option<&str>) -> Live {
        let mut properties = json!({
            "securityRules": rules.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
            "networkInterfaces": attached.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(),
        });
        if let Some(nsg) = nsg {
            properties["networkSecurityGroup"] = json!({ "id": nsg });
        }
        let body = json!({"id": "/x", "etag": "W/\"1\"", "properties": properties});
        Live::AzureResource(Some(LiveResource {
            id: "/x".to_owned(),
            etag: Etag("W/\"1\"".to_owned()),
            body: body.as_object().unwrap().clone(),
            provisioning_state: ProvisioningState::Succeeded,
        }))
    }

    #[test]
    fn where_an_nsg_made_for_a_nic_and_the_nic_stand() {
        let create = Step::AzureCreateNsg {
            nsg: "/nsg/new".to_owned(),
            location: "westeurope".to_owned(),
            nic: "/nic/1".to_owned(),
        };
        let attach = Step::AzureNicNsg {
            nic: "/nic/1".to_owned(),
            before: None,
            after: Some("/NSG/new".to_owned()),
        };
        let (delete, detach) = (create.inverse(), attach.inverse());
        let none = Live::AzureResource(None);
        let table = [
            (&create, none.clone(), "to do"),
            (&create, resource(&[], &[], None), "done"),
            (&create, resource(&["allow-web"], &[], None), "differs"),
            (&delete, resource(&[], &[], None), "to do"),
            (&delete, none.clone(), "done"),
            (&delete, resource(&[], &["/nic/2"], None), "differs"),
            (&delete, resource(&["allow-web"], &[], None), "differs"),
            (&attach, resource(&[], &[], None), "to do"),
            (&attach, resource(&[], &[], Some("/nsg/new")), "done"),
            (&attach, resource(&[], &[], Some("/nsg/other")), "differs"),
            (&attach, none.clone(), "differs"),
            (&detach, resource(&[], &[], Some("/nsg/NEW")), "to do"),
            (&detach, resource(&[], &[], None), "done"),
            (&detach, resource(&[], &[], Some("/nsg/other")), "differs"),
        ];
        for (i, (step, live, expected)) in table.into_iter().enumerate() {
            let progress = step.progress(&live);
            assert_eq!(kind(&progress), expected, "case {i}: {progress:?}");
        }
        assert_eq!(
            [create.container(), delete.container(), attach.container()],
            ["/nic/1"; 3],
            "an NSG made for a NIC is written in the NIC's queue"
        );
    }

    #[test]
    fn where_a_grant_group_and_its_attachment_stand_and_a_group_portcullis_did_not_make_is_left_alone()
     {
        let ours = BTreeMap::from([("portcullis:jit-instance".to_owned(), "i-1".to_owned())]);
        let create = Step::AwsCreateGroup {
            region: "eu-west-1".to_owned(),
            vpc: "vpc-1".to_owned(),
            name: "portcullis-jit-i-1".to_owned(),
            description: "portcullis JIT grants to instance i-1".to_owned(),
            tags: ours.clone(),
        };
        let attach = Step::AwsAttachGroup {
            region: "eu-west-1".to_owned(),
            interface: "eni-1".to_owned(),
            group: "sg-9".to_owned(),
        };
        let (delete, detach) = (create.inverse(), attach.inverse());
        let group = |inbound: usize, egress: usize, tags: &BTreeMap<String, String>| {
            Live::AwsGroup(Some(LiveGroup {
                id: GroupId::new("sg-9").unwrap(),
                inbound,
                egress: vec![aws_sdk_ec2::types::IpPermission::builder().build(); egress],
                tags: tags.clone(),
            }))
        };
        let theirs = BTreeMap::from([("team".to_owned(), "web".to_owned())]);
        let interface = |groups: &[&str]| {
            Live::AwsInterface(groups.iter().map(|g| GroupId::new(g).unwrap()).collect())
        };
        let table = [
            (&create, Live::AwsGroup(None), "to do"),
            (&create, group(0, 1, &ours), "to do"),
            (&create, group(0, 0, &ours), "done"),
            (&create, group(0, 0, &theirs), "differs"),
            (&delete, group(0, 0, &ours), "to do"),
            (&delete, group(2, 0, &ours), "differs"),
            (&delete, group(0, 0, &theirs), "differs"),
            (&delete, Live::AwsGroup(None), "done"),
            (&attach, interface(&["sg-1"]), "to do"),
            (&attach, interface(&["sg-1", "sg-9"]), "done"),
            (&detach, interface(&["sg-1", "sg-9"]), "to do"),
            (&detach, interface(&["sg-1"]), "done"),
        ];
        for (i, (step, live, expected)) in table.into_iter().enumerate() {
            let progress = step.progress(&live);
            assert_eq!(kind(&progress), expected, "case {i}: {progress:?}");
        }
    }

    #[test]
    fn an_inverse_takes_a_step_back_and_twice_is_the_step() {
        let before = props(json!({"sourceAddressPrefix": "*"}));
        let after = props(json!({"sourceAddressPrefix": "10.0.0.0/8"}));
        let steps = [
            Step::AzurePut {
                nsg: "nsg".to_owned(),
                rule: "r".to_owned(),
                before: Some(before.clone()),
                properties: after.clone(),
            },
            Step::AzurePut {
                nsg: "nsg".to_owned(),
                rule: "r".to_owned(),
                before: None,
                properties: after.clone(),
            },
            Step::AwsRevoke {
                group: "sg-1".to_owned(),
                region: "eu-west-1".to_owned(),
                rule: spec("0.0.0.0/0"),
                tags: BTreeMap::from([("team".to_owned(), "web".to_owned())]),
            },
            Step::AzureCreateNsg {
                nsg: "/nsg/new".to_owned(),
                location: "westeurope".to_owned(),
                nic: "/nic/1".to_owned(),
            },
            Step::AzureNicNsg {
                nic: "/nic/1".to_owned(),
                before: None,
                after: Some("/nsg/new".to_owned()),
            },
        ];
        for step in steps {
            assert_ne!(step.inverse(), step);
            assert_eq!(step.inverse().inverse(), step);
        }
        let Step::AzurePut {
            before: Some(inverse_before),
            properties,
            ..
        } = (Step::AzurePut {
            nsg: "nsg".to_owned(),
            rule: "r".to_owned(),
            before: Some(before.clone()),
            properties: after.clone(),
        })
        .inverse()
        else {
            panic!("the inverse of a replace is a replace");
        };
        assert_eq!((inverse_before, properties), (after, before));
    }
}
