//! Edits of a snapshot one rule at a time (or one new NSG on a NIC): the working copy the
//! strategies change, its differences from the original as a plan's [`Change`]s (with blast
//! radius), and the pure application of a plan to a snapshot, which checks each before-image as
//! apply will.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::engine::id_key;
use crate::model::{
    Nsg, NsgRule, PortRange, Protocol, SecurityGroup, SgPermission, SgSource, SgSourceKind,
    Snapshot,
};

use super::plan::{
    AffectedVm, Change, ChangeNote, NewNsgChange, NicNsgChange, NsgRuleChange, Plan, SgRule,
    SgRuleChange,
};

/// Why a plan does not apply to a snapshot: the snapshot is not what the plan was made from.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("NSG {nsg} is not in the estate; plan again")]
    NsgMissing { nsg: String },
    #[error(
        "NSG rule {nsg} / {rule} is not as the plan read it (changed, created or deleted since); \
         the plan is stale: plan again"
    )]
    NsgRuleStale { nsg: String, rule: String },
    #[error("security group {group} is not in the estate; plan again")]
    GroupMissing { group: String },
    #[error(
        "security group {group} has no rule {rule} as the plan read it (revoked or changed \
         since); the plan is stale: plan again"
    )]
    SgRuleStale { group: String, rule: String },
    #[error("NSG {nsg} exists already, though the plan creates it; plan again")]
    NsgExists { nsg: String },
    #[error(
        "NIC {nic} is not in the estate or names another NSG than the plan read; the plan is \
         stale: plan again"
    )]
    NicStale { nic: String },
}

/// The working copy of a snapshot, and what the strategies noted about the rules they wrote.
pub(super) struct Workspace {
    pub snapshot: Snapshot,
    /// Where each NSG and security group is in the snapshot's lists, by id (edits change rules
    /// and add NSGs, never remove NSGs or groups).
    nsg_at: HashMap<String, usize>,
    group_at: HashMap<String, usize>,
    /// NSG ids and security group ids edited.
    nsgs: BTreeSet<String>,
    groups: BTreeSet<String>,
    /// Notes about rules as the edits leave them, by NSG id and rule name.
    nsg_notes: HashMap<(String, String), Vec<ChangeNote>>,
    /// Notes about new security group rules, by group id and rule.
    sg_notes: Vec<(String, SgRule, ChangeNote)>,
    /// NSGs created for NICs that had none, in the order they were made.
    attached: Vec<Attached>,
}

/// A new NSG on a NIC.
struct Attached {
    nic: String,
    nsg: String,
    location: String,
    vm: AffectedVm,
}

impl Workspace {
    pub fn new(snapshot: &Snapshot) -> Self {
        let mut nsg_at = HashMap::new();
        for (i, nsg) in snapshot.nsgs.iter().enumerate() {
            nsg_at.entry(nsg.id.clone()).or_insert(i);
        }
        let mut group_at = HashMap::new();
        for (i, group) in snapshot.security_groups.iter().enumerate() {
            group_at.entry(group.id.clone()).or_insert(i);
        }
        Self {
            snapshot: snapshot.clone(),
            nsg_at,
            group_at,
            nsgs: BTreeSet::new(),
            groups: BTreeSet::new(),
            nsg_notes: HashMap::new(),
            sg_notes: Vec::new(),
            attached: Vec::new(),
        }
    }

    /// Gives NIC `nic` (of `vm`) a new NSG with no custom rules, in `location`.
    pub fn attach_new_nsg(&mut self, nic: &str, nsg: &str, location: &str, vm: AffectedVm) {
        let Some(found) = self
            .snapshot
            .nics
            .iter_mut()
            .find(|n| id_key(&n.id) == id_key(nic))
        else {
            return;
        };
        found.nsg_id = Some(nsg.to_owned());
        self.nsg_at
            .entry(nsg.to_owned())
            .or_insert(self.snapshot.nsgs.len());
        self.snapshot.nsgs.push(new_nsg(nsg, location));
        self.attached.push(Attached {
            nic: found.id.clone(),
            nsg: nsg.to_owned(),
            location: location.to_owned(),
            vm,
        });
    }

    /// The custom rules of an NSG, for editing.
    pub fn nsg_rules(&mut self, nsg: &str) -> Option<&mut Vec<NsgRule>> {
        let found = &mut self.snapshot.nsgs[*self.nsg_at.get(nsg)?];
        self.nsgs.insert(found.id.clone());
        Some(&mut found.rules)
    }

    /// The first security group with this id, as a search of the list finds it.
    fn group(&mut self, group: &str) -> Option<&mut SecurityGroup> {
        let i = *self.group_at.get(group)?;
        Some(&mut self.snapshot.security_groups[i])
    }

    pub fn note_nsg_rule(&mut self, nsg: &str, rule: &str, note: ChangeNote) {
        let notes = self
            .nsg_notes
            .entry((nsg.to_owned(), rule.to_owned()))
            .or_default();
        if !notes.contains(&note) {
            notes.push(note);
        }
    }

    /// Revokes one security group rule; false when the group or rule is not there.
    pub fn revoke(&mut self, group: &str, rule: &SgRule) -> bool {
        let Some(found) = self.group(group) else {
            return false;
        };
        let mut revoked = false;
        for permission in &mut found.inbound {
            if permission.protocol == rule.protocol && permission.ports == rule.ports {
                let before = permission.sources.len();
                permission.sources.retain(|s| s.kind != rule.source);
                revoked |= permission.sources.len() < before;
            }
        }
        found.inbound.retain(|p| !p.sources.is_empty());
        if revoked {
            let id = found.id.clone();
            self.groups.insert(id);
        }
        revoked
    }

    /// Authorizes one security group rule (nothing when the group already has it).
    pub fn authorize(&mut self, group: &str, rule: SgRule, notes: &[ChangeNote]) {
        let Some(found) = self.group(group) else {
            return;
        };
        add_sg_rule(&mut found.inbound, &rule);
        let id = found.id.clone();
        self.groups.insert(id);
        for note in notes {
            self.sg_notes
                .push((group.to_owned(), rule.clone(), note.clone()));
        }
    }

    /// The edits as changes (new NSGs first, then NSG by NSG and group by group), each with the
    /// VMs it affects.
    pub fn changes(&self, original: &Snapshot) -> Vec<Change> {
        let users = Users::new(original);
        let mut changes = Vec::new();
        for attached in &self.attached {
            let notes = vec![ChangeNote::InboundInternetEnds];
            changes.push(Change::AzureNewNsg(NewNsgChange {
                nsg: attached.nsg.clone(),
                location: attached.location.clone(),
                nic: attached.nic.clone(),
                affects: vec![attached.vm.clone()],
                notes: notes.clone(),
            }));
            changes.push(Change::AzureNic(NicNsgChange {
                nic: attached.nic.clone(),
                before: None,
                after: Some(attached.nsg.clone()),
                affects: vec![attached.vm.clone()],
                notes,
            }));
        }
        for nsg in &self.nsgs {
            let rules = |snapshot: &Snapshot| -> BTreeMap<String, NsgRule> {
                snapshot
                    .nsgs
                    .iter()
                    .filter(|n| n.id == *nsg)
                    .flat_map(|n| &n.rules)
                    .map(|r| (r.name.clone(), without_origin(r)))
                    .collect()
            };
            let (before, after) = (rules(original), rules(&self.snapshot));
            let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
            let mut diffs: Vec<NsgRuleChange> = names
                .into_iter()
                .filter(|name| before.get(*name) != after.get(*name))
                .map(|name| NsgRuleChange {
                    nsg: nsg.clone(),
                    rule: name.clone(),
                    before: before.get(name).cloned(),
                    after: after.get(name).cloned(),
                    affects: users.of(nsg),
                    notes: self
                        .nsg_notes
                        .get(&(nsg.clone(), name.clone()))
                        .cloned()
                        .unwrap_or_default(),
                })
                .collect();
            diffs.sort_by_key(|c| c.after.as_ref().or(c.before.as_ref()).map(|r| r.priority));
            changes.extend(diffs.into_iter().map(Change::Azure));
        }
        for group in &self.groups {
            let before = sg_rules(original, group);
            let after = sg_rules(&self.snapshot, group);
            let affects = users.of(group);
            let (account, region) = users.place(group);
            let change = |before: Option<SgRule>, after: Option<SgRule>| {
                let notes = after
                    .as_ref()
                    .map(|a| {
                        self.sg_notes
                            .iter()
                            .filter(|(g, r, _)| g == group && r.same_rule(a))
                            .map(|(_, _, n)| n.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                Change::Aws(SgRuleChange {
                    group: group.clone(),
                    account: account.clone(),
                    region: region.clone(),
                    before,
                    after,
                    affects: affects.clone(),
                    notes,
                })
            };
            // New rules first: the remainder is in place before the broad rule goes.
            for rule in after
                .iter()
                .filter(|a| !before.iter().any(|b| b.same_rule(a)))
            {
                changes.push(change(None, Some(rule.clone())));
            }
            for rule in before
                .iter()
                .filter(|b| !after.iter().any(|a| a.same_rule(b)))
            {
                changes.push(change(Some(rule.clone()), None));
            }
        }
        changes
    }
}

/// An NSG as Resource Manager creates it from an empty rule list: the engine adds its default
/// rules.
fn new_nsg(id: &str, location: &str) -> Nsg {
    Nsg {
        id: id.to_owned(),
        name: id.rsplit('/').next().unwrap_or(id).to_owned(),
        region: Some(location.to_owned()),
        rules: Vec::new(),
        default_rules: Vec::new(),
        grant_expiries: Default::default(),
        origin: None,
    }
}

fn without_origin(rule: &NsgRule) -> NsgRule {
    NsgRule {
        origin: None,
        ..rule.clone()
    }
}

/// A security group's inbound rules as EC2 holds them: a set, one rule per protocol, ports and
/// source. A source listed twice (in two permissions of the same protocol and ports, or twice in
/// one) is one rule, which one revoke removes; the first listing gives its id and description.
fn sg_rules(snapshot: &Snapshot, group: &str) -> Vec<SgRule> {
    let mut seen: HashSet<(Protocol, Option<PortRange>, &SgSourceKind)> = HashSet::new();
    snapshot
        .security_groups
        .iter()
        .filter(|g| g.id == group)
        .flat_map(|g| &g.inbound)
        .flat_map(|p| p.sources.iter().map(move |s| (p, s)))
        .filter(|(p, s)| seen.insert((p.protocol, p.ports, &s.kind)))
        .map(|(p, s)| SgRule {
            rule_id: s.rule_id.clone(),
            protocol: p.protocol,
            ports: p.ports,
            source: s.kind.clone(),
            description: s.description.clone(),
        })
        .collect()
}

fn add_sg_rule(inbound: &mut Vec<SgPermission>, rule: &SgRule) {
    let source = SgSource {
        kind: rule.source.clone(),
        description: rule.description.clone(),
        rule_id: rule.rule_id.clone(),
    };
    match inbound
        .iter_mut()
        .find(|p| p.protocol == rule.protocol && p.ports == rule.ports)
    {
        Some(permission) => {
            if !permission.sources.iter().any(|s| s.kind == rule.source) {
                permission.sources.push(source);
            }
        }
        None => inbound.push(SgPermission {
            protocol: rule.protocol,
            ports: rule.ports,
            sources: vec![source],
            origin: None,
        }),
    }
}

/// Which VMs use each NSG and security group (lower-cased ids), for blast radius.
struct Users<'a> {
    vms: HashMap<String, BTreeSet<(&'a str, &'a str)>>,
    /// Account and region of a security group's first VM.
    places: HashMap<String, (&'a str, Option<&'a str>)>,
}

impl<'a> Users<'a> {
    fn new(snapshot: &'a Snapshot) -> Self {
        let subnet_nsgs: HashMap<String, &str> = snapshot
            .subnets
            .iter()
            .filter_map(|s| Some((id_key(&s.id), s.nsg_id.as_deref()?)))
            .collect();
        let vms_by_id: HashMap<String, &crate::model::Vm> =
            snapshot.vms.iter().map(|v| (id_key(&v.id), v)).collect();
        let mut nic_vm: HashMap<String, &crate::model::Vm> = HashMap::new();
        for vm in &snapshot.vms {
            for nic in &vm.nic_ids {
                nic_vm.insert(id_key(nic), vm);
            }
        }
        let mut users = Users {
            vms: HashMap::new(),
            places: HashMap::new(),
        };
        for nic in &snapshot.nics {
            let vm = nic
                .vm_id
                .as_ref()
                .and_then(|id| vms_by_id.get(&id_key(id)))
                .or_else(|| nic_vm.get(&id_key(&nic.id)));
            let Some(vm) = vm else {
                continue;
            };
            let subnet_nsg = nic
                .subnet_id
                .as_ref()
                .and_then(|s| subnet_nsgs.get(&id_key(s)).copied());
            let containers = nic
                .nsg_id
                .iter()
                .map(String::as_str)
                .chain(subnet_nsg)
                .chain(nic.security_group_ids.iter().map(String::as_str));
            for container in containers {
                let key = id_key(container);
                users
                    .places
                    .entry(key.clone())
                    .or_insert((&vm.scope, vm.region.as_deref()));
                users.vms.entry(key).or_default().insert((&vm.id, &vm.name));
            }
        }
        users
    }

    fn of(&self, container: &str) -> Vec<AffectedVm> {
        self.vms
            .get(&id_key(container))
            .into_iter()
            .flatten()
            .map(|(id, name)| AffectedVm {
                id: (*id).to_owned(),
                name: (*name).to_owned(),
            })
            .collect()
    }

    fn place(&self, group: &str) -> (String, Option<String>) {
        match self.places.get(&id_key(group)) {
            Some((account, region)) => ((*account).to_owned(), region.map(str::to_owned)),
            None => (String::new(), None),
        }
    }
}

/// The snapshot as it would be after `plan`'s changes, each checked against its before-image
/// first (an NSG rule by name and content, a security group rule by protocol, ports and
/// source), as `fix apply` checks the live rules. Pure: `snapshot` is not changed.
pub fn apply_to_snapshot(snapshot: &Snapshot, plan: &Plan) -> Result<Snapshot, ApplyError> {
    let mut out = snapshot.clone();
    for change in &plan.changes {
        match change {
            Change::Azure(c) => apply_nsg_change(&mut out, c)?,
            Change::Aws(c) => apply_sg_change(&mut out, c)?,
            Change::AzureNewNsg(c) => {
                if out.nsgs.iter().any(|n| id_key(&n.id) == id_key(&c.nsg)) {
                    return Err(ApplyError::NsgExists { nsg: c.nsg.clone() });
                }
                out.nsgs.push(new_nsg(&c.nsg, &c.location));
            }
            Change::AzureNic(c) => apply_nic_change(&mut out, c)?,
        }
    }
    Ok(out)
}

fn apply_nic_change(snapshot: &mut Snapshot, change: &NicNsgChange) -> Result<(), ApplyError> {
    let key = |id: Option<&String>| id.map(|id| id_key(id));
    let nic = snapshot
        .nics
        .iter_mut()
        .find(|n| id_key(&n.id) == id_key(&change.nic))
        .filter(|n| key(n.nsg_id.as_ref()) == key(change.before.as_ref()))
        .ok_or_else(|| ApplyError::NicStale {
            nic: change.nic.clone(),
        })?;
    nic.nsg_id = change.after.clone();
    Ok(())
}

fn apply_nsg_change(snapshot: &mut Snapshot, change: &NsgRuleChange) -> Result<(), ApplyError> {
    let nsg = snapshot
        .nsgs
        .iter_mut()
        .find(|n| id_key(&n.id) == id_key(&change.nsg))
        .ok_or_else(|| ApplyError::NsgMissing {
            nsg: change.nsg.clone(),
        })?;
    let stale = || ApplyError::NsgRuleStale {
        nsg: change.nsg.clone(),
        rule: change.rule.clone(),
    };
    let position = nsg
        .rules
        .iter()
        .position(|r| r.name.eq_ignore_ascii_case(&change.rule));
    match (&change.before, position) {
        (Some(before), Some(i)) if without_origin(&nsg.rules[i]) == *before => {
            match &change.after {
                Some(after) => nsg.rules[i] = after.clone(),
                None => {
                    nsg.rules.remove(i);
                }
            }
        }
        (None, None) => nsg.rules.extend(change.after.clone()),
        _ => return Err(stale()),
    }
    Ok(())
}

fn apply_sg_change(snapshot: &mut Snapshot, change: &SgRuleChange) -> Result<(), ApplyError> {
    let group = snapshot
        .security_groups
        .iter_mut()
        .find(|g| g.id == change.group)
        .ok_or_else(|| ApplyError::GroupMissing {
            group: change.group.clone(),
        })?;
    if let Some(before) = &change.before {
        let mut found = false;
        for permission in &mut group.inbound {
            if permission.protocol == before.protocol && permission.ports == before.ports {
                let count = permission.sources.len();
                permission.sources.retain(|s| s.kind != before.source);
                found |= permission.sources.len() < count;
            }
        }
        if !found {
            return Err(ApplyError::SgRuleStale {
                group: change.group.clone(),
                rule: describe_sg_rule(before),
            });
        }
        group.inbound.retain(|p| !p.sources.is_empty());
    }
    if let Some(after) = &change.after {
        add_sg_rule(&mut group.inbound, after);
    }
    Ok(())
}

/// `sgr-0abc (tcp 22 from 0.0.0.0/0)`, or the content alone for a rule read without its id.
pub fn describe_sg_rule(rule: &SgRule) -> String {
    let ports = rule
        .ports
        .map_or_else(|| "all ports".to_owned(), |p| p.to_string());
    let source = match &rule.source {
        SgSourceKind::Cidr(net) => net.to_string(),
        SgSourceKind::PrefixList(id) => format!("prefix list {id}"),
        SgSourceKind::Group(id) => format!("group {id}"),
    };
    let content = format!("{} {ports} from {source}", rule.protocol);
    match &rule.rule_id {
        Some(id) => format!("{id} ({content})"),
        None => content,
    }
}

/// A deterministic name for a rule portcullis creates: [`super::LOCK_PREFIX`] and a short hash
/// of what it is for.
pub(super) fn lock_name(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(parts.join("\n").as_bytes());
    let hash: String = digest[..5].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}{hash}", super::LOCK_PREFIX)
}
