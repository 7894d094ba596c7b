//! The readable diff of a plan: rule by rule, before → after, and the VMs each change affects;
//! then what is skipped and why, the JIT policies, and the `az` / `aws` commands that make the
//! same changes (paste-safe, as [`crate::remediate`] prints them).

use std::fmt::Write;

use serde_json::json;

use crate::model::{AddressPrefix, NsgRule, PortRange, Protocol, SgSourceKind};
use crate::output::escape::visible;
use crate::remediate::line::Commands;
use crate::remediate::{aws_protocol, resource_group};
use crate::verdict::port_list;

use super::clouds::CREATED_BY;
use super::edit::describe_sg_rule;
use super::plan::{
    AffectedVm, Change, NewNsgChange, NicNsgChange, NsgRuleChange, Plan, PlanSource, SgRule,
    SgRuleChange,
};

/// How many affected VMs a change lists by name.
const SHOWN_VMS: usize = 10;

/// The plan as text.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plan {} ({}) for {}: {} change(s), {} skipped",
        plan.id,
        plan.strategy,
        plan.recommendations.join(", "),
        plan.changes.len(),
        plan.skipped.len()
    );
    let _ = writeln!(out, "  made {}", plan.created);
    match &plan.source {
        PlanSource::Live { scopes } => {
            let scopes: Vec<String> = scopes
                .iter()
                .map(|s| format!("{} {} {}", s.provider, s.kind, s.name))
                .collect();
            let _ = writeln!(out, "  read live: {}", visible(&scopes.join(", ")));
        }
        PlanSource::Offline { files } => {
            let _ = writeln!(
                out,
                "  OFFLINE, from files ({}): `fix apply` refuses it, since files are not the live \
                 state; the commands at the end make the same changes",
                visible(&files.join(", "))
            );
        }
    }
    let _ = writeln!(out, "  policy {}", &plan.policy_digest);
    for change in &plan.changes {
        out.push('\n');
        match change {
            Change::Azure(c) => nsg_change(&mut out, c),
            Change::Aws(c) => sg_change(&mut out, c),
            Change::AzureNewNsg(c) => {
                let _ = writeln!(
                    out,
                    "+ create NSG {} in {} with no custom rules (its default rules deny inbound \
                     internet traffic)",
                    visible(&c.nsg),
                    visible(&c.location)
                );
            }
            Change::AzureNic(c) => {
                let _ = writeln!(out, "~ change the NSG of NIC {}", visible(&c.nic));
                let nsg =
                    |id: &Option<String>| visible(id.as_deref().unwrap_or("none")).into_owned();
                let _ = writeln!(out, "    before  {}", nsg(&c.before));
                let _ = writeln!(out, "    after   {}", nsg(&c.after));
            }
        }
        affects(&mut out, change.affects());
        for note in change.notes() {
            let _ = writeln!(out, "    note: {}", visible(&note.to_string()));
        }
    }
    if !plan.skipped.is_empty() {
        out.push_str("\nskipped:\n");
        for skipped in &plan.skipped {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                visible(&skipped.resource_name),
                skipped.rule,
                visible(&skipped.reason.to_string())
            );
        }
    }
    if !plan.jit_policies.is_empty() {
        out.push_str("\nJIT policies recorded for access requests:\n");
        for policy in &plan.jit_policies {
            let _ = writeln!(
                out,
                "  {}: {} from {}, at most {} a request",
                visible(&policy.vm_name),
                port_list(&policy.ports),
                visible(&policy.allowed_sources.join(", ")),
                policy.max_duration
            );
        }
    }
    if plan.changes.is_empty() {
        out.push_str("\nnothing to change\n");
    } else if plan.source.is_offline() {
        let commands = commands(plan);
        out.push_str("\nequivalent commands:\n");
        for line in &commands.lines {
            let _ = writeln!(out, "  {line}");
        }
        for why in &commands.withheld {
            let _ = writeln!(out, "  withheld: {}", visible(why));
        }
    }
    out
}

fn nsg_change(out: &mut String, change: &NsgRuleChange) {
    let (mark, verb) = match (&change.before, &change.after) {
        (None, _) => ('+', "create"),
        (_, None) => ('-', "delete"),
        _ => ('~', "change"),
    };
    let _ = writeln!(
        out,
        "{mark} {verb} NSG rule {} in {}",
        visible(&change.rule),
        visible(&change.nsg)
    );
    if let Some(before) = &change.before {
        let _ = writeln!(out, "    before  {}", visible(&nsg_rule_text(before)));
    }
    if let Some(after) = &change.after {
        let _ = writeln!(out, "    after   {}", visible(&nsg_rule_text(after)));
    }
}

fn sg_change(out: &mut String, change: &SgRuleChange) {
    let place = match &change.region {
        Some(region) => format!("account {}, {region}", change.account),
        None => format!("account {}", change.account),
    };
    let (mark, verb, rule) = match (&change.before, &change.after) {
        (Some(before), _) => ('-', "revoke", before),
        (None, Some(after)) => ('+', "authorize", after),
        (None, None) => return,
    };
    let _ = writeln!(
        out,
        "{mark} {verb} security group rule {} in {} ({})",
        visible(&describe_sg_rule(rule)),
        visible(&change.group),
        visible(&place)
    );
    if let Some(description) = &rule.description {
        let _ = writeln!(out, "    description {}", visible(description));
    }
}

fn affects(out: &mut String, vms: &[AffectedVm]) {
    let names: Vec<&str> = vms
        .iter()
        .take(SHOWN_VMS)
        .map(|v| v.name.as_str())
        .collect();
    let more = if vms.len() > SHOWN_VMS {
        format!(" and {} more", vms.len() - SHOWN_VMS)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "    affects {} VM(s): {}{more}",
        vms.len(),
        visible(&names.join(", "))
    );
}

fn join<T: ToString>(items: &[T], empty: &str) -> String {
    if items.is_empty() {
        empty.to_owned()
    } else {
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `allow tcp 22,80 from Internet to * (priority 300)`.
pub fn nsg_rule_text(rule: &NsgRule) -> String {
    let mut sources = join(&rule.sources, "");
    if !rule.source_asg_ids.is_empty() {
        sources = join(&rule.source_asg_ids, "");
    }
    let mut destinations = join(&rule.destinations, "*");
    if !rule.destination_asg_ids.is_empty() {
        destinations = join(&rule.destination_asg_ids, "");
    }
    let source_ports = if rule.source_ports.iter().all(|p| p.is_all()) {
        String::new()
    } else {
        format!(" source ports {}", join(&rule.source_ports, "*"))
    };
    format!(
        "{} {} {} from {sources}{source_ports} to {destinations} (priority {})",
        rule.access,
        rule.protocol,
        join(&rule.destination_ports, "*"),
        rule.priority
    )
}

/// The `az` and `aws` commands that make the plan's changes, in order.
fn commands(plan: &Plan) -> Commands {
    let mut commands = Commands::default();
    for change in &plan.changes {
        match change {
            Change::Azure(c) => az_command(c, &mut commands),
            Change::Aws(c) => aws_command(c, &mut commands),
            Change::AzureNewNsg(c) => new_nsg_command(c, &mut commands),
            Change::AzureNic(c) => nic_command(c, &mut commands),
        }
    }
    commands
}

fn new_nsg_command(change: &NewNsgChange, commands: &mut Commands) {
    let Some(group) = resource_group(&change.nsg) else {
        return;
    };
    let name = change.nsg.rsplit('/').next().unwrap_or(&change.nsg);
    let tag = format!("created-by={CREATED_BY}");
    let mut words = vec![
        "az",
        "network",
        "nsg",
        "create",
        "--resource-group",
        group,
        "--name",
        name,
        "--location",
        &change.location,
        "--tags",
        &tag,
    ];
    if let Some(subscription) = subscription(&change.nsg) {
        words.extend(["--subscription", subscription]);
    }
    commands.push(&words);
}

fn nic_command(change: &NicNsgChange, commands: &mut Commands) {
    let mut words = vec!["az", "network", "nic", "update", "--ids", &change.nic];
    match &change.after {
        Some(nsg) => words.extend(["--network-security-group", nsg]),
        None => words.extend(["--remove", "networkSecurityGroup"]),
    }
    commands.push(&words);
}

fn az_command(change: &NsgRuleChange, commands: &mut Commands) {
    let Some(after) = &change.after else {
        let id = format!("{}/securityRules/{}", change.nsg, change.rule);
        commands.push(&["az", "network", "nsg", "rule", "delete", "--ids", &id]);
        return;
    };
    let Some(group) = resource_group(&change.nsg) else {
        return;
    };
    let nsg_name = change.nsg.rsplit('/').next().unwrap_or(&change.nsg);
    let subscription = subscription(&change.nsg);
    let priority = after.priority.to_string();
    let protocol = crate::azure_rule::protocol_name(after.protocol);
    let prefixes = |list: &[AddressPrefix]| -> Vec<String> {
        if list.is_empty() {
            vec!["*".to_owned()]
        } else {
            list.iter().map(ToString::to_string).collect()
        }
    };
    let ranges = |list: &[PortRange]| -> Vec<String> {
        if list.is_empty() {
            vec!["*".to_owned()]
        } else {
            list.iter().map(ToString::to_string).collect()
        }
    };
    let access = match after.access {
        crate::model::Access::Allow => "Allow",
        crate::model::Access::Deny => "Deny",
    };
    let mut words: Vec<String> = [
        "az",
        "network",
        "nsg",
        "rule",
        "create",
        "--resource-group",
        group,
        "--nsg-name",
        nsg_name,
        "--name",
        &after.name,
        "--priority",
        &priority,
        "--direction",
        "Inbound",
        "--access",
        access,
        "--protocol",
        &protocol,
    ]
    .map(str::to_owned)
    .to_vec();
    if let Some(subscription) = subscription {
        words.extend(["--subscription".to_owned(), subscription.to_owned()]);
    }
    let mut list = |flag: &str, values: Vec<String>| {
        words.push(flag.to_owned());
        words.extend(values);
    };
    if after.source_asg_ids.is_empty() {
        list("--source-address-prefixes", prefixes(&after.sources));
    } else {
        list("--source-asgs", after.source_asg_ids.clone());
    }
    list("--source-port-ranges", ranges(&after.source_ports));
    if after.destination_asg_ids.is_empty() {
        list(
            "--destination-address-prefixes",
            prefixes(&after.destinations),
        );
    } else {
        list("--destination-asgs", after.destination_asg_ids.clone());
    }
    list(
        "--destination-port-ranges",
        ranges(&after.destination_ports),
    );
    commands.push_first([words.as_slice()]);
}

/// The subscription id of a resource id.
pub(super) fn subscription(id: &str) -> Option<&str> {
    let mut segments = id.split('/');
    segments.find(|s| s.eq_ignore_ascii_case("subscriptions"))?;
    segments.next().filter(|s| !s.is_empty())
}

fn aws_command(change: &SgRuleChange, commands: &mut Commands) {
    let mut words: Vec<String> = ["aws", "ec2"].map(str::to_owned).to_vec();
    let (verb, rule) = match (&change.before, &change.after) {
        (Some(before), _) => ("revoke-security-group-ingress", before),
        (None, Some(after)) => ("authorize-security-group-ingress", after),
        (None, None) => return,
    };
    words.push(verb.to_owned());
    if let Some(region) = &change.region {
        words.extend(["--region".to_owned(), region.clone()]);
    }
    words.extend(["--group-id".to_owned(), change.group.clone()]);
    let mut by_content = words.clone();
    by_content.extend([
        "--ip-permissions".to_owned(),
        ip_permission(rule, change.after.is_some()).to_string(),
    ]);
    match (&rule.rule_id, change.before.is_some()) {
        (Some(id), true) => {
            let mut by_id = words;
            by_id.extend(["--security-group-rule-ids".to_owned(), id.clone()]);
            commands.push_first([by_id.as_slice(), by_content.as_slice()]);
        }
        _ => commands.push_first([by_content.as_slice()]),
    }
}

/// One `IpPermissions` entry naming exactly one rule; with its description when authorizing.
fn ip_permission(rule: &SgRule, with_description: bool) -> serde_json::Value {
    let mut entry = serde_json::Map::new();
    let range = match (rule.protocol, rule.ports) {
        (Protocol::Any, _) => None,
        (Protocol::TCP | Protocol::UDP, ports) => {
            let ports = ports.unwrap_or(PortRange::ALL);
            Some((i32::from(ports.first), i32::from(ports.last)))
        }
        (_, Some(ports)) => Some((i32::from(ports.first), i32::from(ports.last))),
        (_, None) => Some((-1, -1)),
    };
    if let Some((first, _)) = range {
        entry.insert("FromPort".to_owned(), json!(first));
    }
    entry.insert("IpProtocol".to_owned(), json!(aws_protocol(rule.protocol)));
    let description = rule.description.as_ref().filter(|_| with_description);
    let source = |key: &str, value: String| {
        let mut source = serde_json::Map::new();
        source.insert(key.to_owned(), json!(value));
        if let Some(description) = description {
            source.insert("Description".to_owned(), json!(description));
        }
        json!([serde_json::Value::Object(source)])
    };
    match &rule.source {
        SgSourceKind::Cidr(net) if net.is_ipv4() => {
            entry.insert("IpRanges".to_owned(), source("CidrIp", net.to_string()));
        }
        SgSourceKind::Cidr(net) => {
            entry.insert("Ipv6Ranges".to_owned(), source("CidrIpv6", net.to_string()));
        }
        SgSourceKind::PrefixList(id) => {
            entry.insert(
                "PrefixListIds".to_owned(),
                source("PrefixListId", id.clone()),
            );
        }
        SgSourceKind::Group(id) => {
            entry.insert("UserIdGroupPairs".to_owned(), source("GroupId", id.clone()));
        }
    }
    if let Some((_, last)) = range {
        entry.insert("ToPort".to_owned(), json!(last));
    }
    serde_json::Value::Object(entry)
}
