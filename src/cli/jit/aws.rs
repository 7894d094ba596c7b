//! `jit` on AWS ([`crate::jit::aws`] plans). A request makes sure the VM's grant group exists
//! (without outbound rules), revokes the older grants it replaces, authorizes one rule per port
//! and attaches the group to the VM's internet-facing interfaces; a write that fails takes back
//! what the request made. Revoking and sweeping revoke grant rules, and once a grant group holds
//! none, detach it from its interfaces and delete it. Every write is one step of `fix`'s journal
//! ([`Step`]), so a crash converges at the next `jit` command or `fix recover`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use time::OffsetDateTime;

use crate::cloud::aws::write::{GroupId, LiveSgRule, SgRuleSpec};
use crate::engine::EngineConfig;
use crate::fix::clouds::Wrote;
use crate::fix::step::{Live as Read, Progress, Step};
use crate::jit::aws::{self as grants, JitGroup};
use crate::jit::clock::format_instant;
use crate::jit::grant::{Access, GrantId, Stamp};
use crate::jit::ledger::{RuleAt, State};
use crate::jit::policy::JitPolicy;
use crate::jit::request::find_vm;
use crate::jit::write::{CLOSE, OPEN, journal_of};
use crate::model::Provider;
use crate::output::escape::visible;

use super::super::fix::EXIT_PARTIAL;
use super::{Live, RequestArgs};

/// Where a grant group is: what its writes name, and the interfaces that hold it (or are to).
struct Place<'a> {
    region: &'a str,
    vpc: &'a str,
    name: &'a str,
    interfaces: &'a [String],
    /// The group's journal: `jit-<instance id>`.
    journal: String,
}

impl<'a> Place<'a> {
    fn of(region: &'a str, vpc: &'a str, name: &'a str, interfaces: &'a [String]) -> Self {
        Place {
            region,
            vpc,
            name,
            interfaces,
            journal: format!("jit-{}", grants::instance_of_group(name).unwrap_or(name)),
        }
    }

    fn create(&self) -> Step {
        let instance = grants::instance_of_group(self.name).unwrap_or(self.name);
        let (description, tags) = grants::group_fields(instance);
        Step::AwsCreateGroup {
            region: self.region.to_owned(),
            vpc: self.vpc.to_owned(),
            name: self.name.to_owned(),
            description,
            tags,
        }
    }
}

/// `jit request --aws`: plans, checks the policy, then writes.
pub(super) fn request(
    mut live: Live,
    args: &RequestArgs,
    jit_policy: &JitPolicy,
    config: &EngineConfig,
    access: &Access,
    id: &GrantId,
    stamp: &Stamp,
) -> Result<ExitCode, String> {
    let planned =
        grants::plan(&live.snapshot, &args.vm, access, id, stamp).map_err(|e| e.to_string())?;
    let vm = find_vm(&live.snapshot, &args.vm, Provider::Aws)
        .map_err(|e| e.to_string())?
        .clone();
    live.admit(jit_policy, args, &vm, access, id)?;
    let place = Place::of(
        &planned.region,
        &planned.vpc,
        &planned.group_name,
        &planned.interfaces,
    );
    let partial = Ok(ExitCode::from(EXIT_PARTIAL));
    let Some(group) = live.ensure_group(&place) else {
        return partial;
    };
    for (old, rules) in &planned.replaces {
        for rule in rules {
            if !live.revoke_rule(&place, &group, rule, old, "close replaced") {
                live.take_back(&place, &group, &[], &[]);
                return partial;
            }
        }
    }
    let journal = journal_of(id);
    let mut made: Vec<SgRuleSpec> = Vec::new();
    for rule in &planned.rules {
        let step = Step::AwsAuthorize {
            group: group.to_string(),
            region: planned.region.clone(),
            rule: rule.clone(),
            tags: grants::rule_tags(id, stamp),
        };
        if live.step(&journal, step, OPEN, "open").is_none() {
            live.take_back(&place, &group, &made, &[]);
            return partial;
        }
        made.push(rule.clone());
    }
    let mut attached: Vec<String> = Vec::new();
    for interface in &planned.interfaces {
        let step = Step::AwsAttachGroup {
            region: planned.region.clone(),
            interface: interface.clone(),
            group: group.to_string(),
        };
        match live.step(&place.journal, step, OPEN, "attach") {
            None => {
                live.take_back(&place, &group, &made, &attached);
                return partial;
            }
            Some(Wrote::Changed) => attached.push(interface.clone()),
            // It held the group already, for an older grant: taking back leaves it.
            Some(_) => {}
        }
    }
    let rules = made
        .iter()
        .map(|rule| RuleAt {
            nsg: group.to_string(),
            rule: rule.to_string(),
        })
        .collect();
    let grant = live.record(args, &vm, access, id, stamp, rules);
    for old in planned.replaces.keys() {
        live.close(old, State::Replaced, &format!("replaced by grant {id}"));
    }
    Ok(live.granted(&grant, access, &args.source, config))
}

/// A grant group of the estate, with its rules read again (descriptions and tags).
struct GroupRead {
    group: JitGroup,
    region: String,
    id: GroupId,
    rules: Vec<LiveSgRule>,
}

impl GroupRead {
    fn place(&self) -> Place<'_> {
        Place::of(
            &self.region,
            &self.group.vpc,
            &self.group.name,
            &self.group.interfaces,
        )
    }
}

impl Live {
    /// Closes every expired grant rule of the grant groups read, and removes the groups left
    /// with none; returns the next expiry still open.
    pub(super) fn sweep_aws(&mut self) -> Result<Option<OffsetDateTime>, String> {
        let mut next: Option<OffsetDateTime> = None;
        let (groups, _) = self.read_groups();
        for read in &groups {
            let place = read.place();
            let mut expired: BTreeMap<GrantId, OffsetDateTime> = BTreeMap::new();
            for rule in &read.rules {
                let Some((grant, expires)) = grants::grant_of_rule(rule) else {
                    continue;
                };
                match expires {
                    None => eprintln!(
                        "warning: rule {} of security group {} carries no expiry in its \
                         description or tags; it was not made by `portcullis jit request` and is \
                         left alone",
                        visible(&rule.spec.to_string()),
                        visible(read.id.as_str())
                    ),
                    Some(at) if at > self.now => next = Some(next.map_or(at, |n| n.min(at))),
                    Some(at) => {
                        if self.revoke_rule(&place, &read.id, &rule.spec, &grant, "close expired") {
                            expired.insert(grant, at);
                        }
                    }
                }
            }
            for (grant, at) in expired {
                self.close(
                    &grant,
                    State::Expired,
                    &format!("expired at {}", format_instant(at)),
                );
            }
            self.remove_if_empty(&place);
        }
        Ok(next)
    }

    /// Revokes grant `grant`'s rules in every grant group (found by their descriptions and
    /// tags, read again), and removes the groups left with none. Returns whether a rule of the
    /// grant was found, and whether all are gone (not when a grant group could not be read).
    pub(super) fn close_grant(&mut self, grant: &GrantId, verb: &str) -> (bool, bool) {
        let (groups, all_read) = self.read_groups();
        let (mut found, mut closed) = (false, all_read);
        for read in &groups {
            let place = read.place();
            let of_grant = |rule: &&LiveSgRule| {
                grants::grant_of_rule(rule).is_some_and(|(of, _)| &of == grant)
            };
            let mut here = false;
            for rule in read.rules.iter().filter(of_grant) {
                here = true;
                closed &= self.revoke_rule(&place, &read.id, &rule.spec, grant, verb);
            }
            found |= here;
            if here && closed {
                self.remove_if_empty(&place);
            }
        }
        (found, closed)
    }

    /// The grant groups of the estate read, each with its rules read again; and whether every
    /// one could be (each that could not is reported).
    fn read_groups(&mut self) -> (Vec<GroupRead>, bool) {
        let mut all = true;
        let mut read = Vec::new();
        for group in grants::groups(&self.snapshot) {
            let Some(region) = group.region.clone() else {
                eprintln!(
                    "warning: security group {} ({}): no VM read tells its region; give \
                     --regions naming only its region",
                    visible(&group.id),
                    visible(&group.name)
                );
                all = false;
                continue;
            };
            let rules = GroupId::new(&group.id)
                .map_err(|e| e.to_string())
                .and_then(|id| {
                    let rules = self.writer.group_rules(&region, &group.id);
                    Ok((id, rules.map_err(|e| e.to_string())?))
                });
            match rules {
                Ok((id, rules)) => read.push(GroupRead {
                    group,
                    region,
                    id,
                    rules,
                }),
                Err(error) => {
                    eprintln!("error: {}", visible(&error));
                    self.failed = true;
                    all = false;
                }
            }
        }
        (read, all)
    }

    /// Creates the grant group at `place` unless it is there; its id.
    fn ensure_group(&mut self, place: &Place<'_>) -> Option<GroupId> {
        let step = place.create();
        self.step(&place.journal, step.clone(), OPEN, "open")?;
        match self.writer.read_aws(&step) {
            Ok(Read::AwsGroup(Some(group))) => Some(group.id),
            Ok(_) => {
                eprintln!(
                    "error: {} is not there after it was created; request again",
                    visible(&step.target())
                );
                self.failed = true;
                None
            }
            Err(error) => {
                eprintln!("error: {}", visible(&error.to_string()));
                self.failed = true;
                None
            }
        }
    }

    /// Revokes `rule` of grant `grant` from `group`; true when it is gone.
    fn revoke_rule(
        &mut self,
        place: &Place<'_>,
        group: &GroupId,
        rule: &SgRuleSpec,
        grant: &GrantId,
        verb: &str,
    ) -> bool {
        let step = Step::AwsRevoke {
            group: group.to_string(),
            region: place.region.to_owned(),
            rule: rule.clone(),
            tags: BTreeMap::new(),
        };
        self.step(&journal_of(grant), step, CLOSE, verb).is_some()
    }

    /// Takes back what a request made: detaches the group from `attached`, revokes `made`, and
    /// removes the group if it holds nothing else.
    fn take_back(
        &mut self,
        place: &Place<'_>,
        group: &GroupId,
        made: &[SgRuleSpec],
        attached: &[String],
    ) {
        for interface in attached {
            let step = Step::AwsDetachGroup {
                region: place.region.to_owned(),
                interface: interface.clone(),
                group: group.to_string(),
            };
            self.step(&place.journal, step, CLOSE, "take back");
        }
        for rule in made {
            let step = Step::AwsRevoke {
                group: group.to_string(),
                region: place.region.to_owned(),
                rule: rule.clone(),
                tags: BTreeMap::new(),
            };
            self.step(&place.journal, step, CLOSE, "take back");
        }
        self.remove_if_empty(place);
    }

    /// Once the grant group at `place` holds no inbound rule: detaches it from `interfaces`
    /// and deletes it. A group of that name that portcullis did not make is left alone, attached
    /// where it is.
    fn remove_if_empty(&mut self, place: &Place<'_>) {
        let delete = place.create().inverse();
        let read = match self.writer.read_aws(&delete) {
            Ok(read) => read,
            Err(error) => {
                eprintln!("error: {}", visible(&error.to_string()));
                self.failed = true;
                return;
            }
        };
        let Read::AwsGroup(Some(found)) = &read else {
            return;
        };
        if found.inbound > 0 {
            return;
        }
        if let Progress::Differs(why) = delete.progress(&read) {
            eprintln!("warning: {}: {}", visible(&delete.target()), visible(&why));
            return;
        }
        let group = found.id.clone();
        for interface in place.interfaces {
            let step = Step::AwsDetachGroup {
                region: place.region.to_owned(),
                interface: interface.clone(),
                group: group.to_string(),
            };
            if self.step(&place.journal, step, CLOSE, "detach").is_none() {
                return;
            }
        }
        self.step(&place.journal, delete, CLOSE, "delete");
    }

    /// Makes `step` journaled in `journal` and prints how it went; what it did, `None` when it
    /// failed.
    fn step(&mut self, journal: &str, step: Step, kind: &str, verb: &str) -> Option<Wrote> {
        let target = visible(&step.target()).to_string();
        let result = self.writer.journaled(journal, step, kind);
        let done = self.wrote(verb, &target, &result);
        result.ok().filter(|_| done)
    }
}
