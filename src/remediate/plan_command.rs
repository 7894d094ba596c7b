//! The `portcullis fix plan` command that fixes one VM's management-port findings, which the
//! table and the HTML report print next to the raw `az` / `aws` commands.
//!
//! It is made from the findings' typed data: the provider gives the live source (`--azure` or
//! `--aws`: `fix apply` refuses plans made from files, so even a scan of files gets the live
//! flag), the subscription or region narrows what is read, and the VM is selected by a `--resource` value that matches it alone (its name when
//! no other VM of the report has that name, else its id, glob characters escaped). Words are
//! quoted for a POSIX shell and withheld when not safe to paste, as the raw commands are
//! ([`super::line`]).
//!
//! The strategy is the least change that fixes the worst finding: the quick fix while a
//! management port is open to the internet (a ports-closed recommendation is unhealthy), JIT
//! lock-down once only narrow standing access remains (only a ports-jit one is). A VM whose
//! findings blame no NSG rule or security group rule (nothing filters it) gets no command: a plan
//! could only skip it.

use std::collections::{HashMap, HashSet};

use crate::cloud::aws::Regions;
use crate::cloud::azure::Subscriptions;
use crate::finding::{Finding, Status};
use crate::fix::Strategy;
use crate::model::Provider;
use crate::policy::{Policy, RecommendationKind};
use crate::rule_ref::RuleRef;

use super::line::Commands;

/// The file the printed commands write the plan to.
const PLAN_FILE: &str = "plan.json";

/// Makes the `fix plan` command of each VM of a report.
pub(crate) struct PlanCommands<'a> {
    policy: &'a Policy,
    /// How many VMs of the report each lower-cased name or id selects.
    selected: HashMap<String, usize>,
}

impl<'a> PlanCommands<'a> {
    /// For the VMs of `findings` (every VM of the report, so that a name shared by two VMs is
    /// not used to select one).
    pub fn new(findings: &[Finding], policy: &'a Policy) -> Self {
        let mut selected: HashMap<String, usize> = HashMap::new();
        let mut vms: HashSet<&str> = HashSet::new();
        for finding in findings {
            if !vms.insert(&finding.resource) {
                continue;
            }
            let id = finding.resource.to_lowercase();
            let name = finding.resource_name.to_lowercase();
            if name != id {
                *selected.entry(name).or_default() += 1;
            }
            *selected.entry(id).or_default() += 1;
        }
        Self { policy, selected }
    }

    /// The command planning the fix of one VM's unhealthy management-port findings (`findings`
    /// are that VM's); empty when it has none.
    pub fn for_vm(&self, findings: &[Finding]) -> Commands {
        let mut commands = Commands::default();
        let Some(first) = findings.first() else {
            return commands;
        };
        let unhealthy: Vec<(&str, RecommendationKind)> = findings
            .iter()
            .filter(|f| f.status == Status::Unhealthy && changeable(f))
            .filter_map(|f| {
                let rec = self.policy.recommendation(&f.rule)?;
                rec.kind
                    .watches_ports()
                    .then_some((rec.id.as_str(), rec.kind))
            })
            .collect();
        let (strategy, kind) = if unhealthy
            .iter()
            .any(|(_, k)| *k == RecommendationKind::PortsClosed)
        {
            (Strategy::QuickFix, RecommendationKind::PortsClosed)
        } else {
            (Strategy::Jit, RecommendationKind::PortsJit)
        };
        let mut rules: Vec<&str> = Vec::new();
        for (id, _) in unhealthy.iter().filter(|(_, k)| *k == kind) {
            if !rules.contains(id) {
                rules.push(id);
            }
        }
        if rules.is_empty() {
            return commands;
        }
        let mut words: Vec<String> = ["portcullis", "fix", "plan"].map(String::from).to_vec();
        words.extend(source(first));
        if strategy != Strategy::QuickFix {
            words.extend(["--strategy".to_owned(), strategy.to_string()]);
        }
        if rules != [strategy.default_recommendation()] {
            for rule in rules {
                words.extend(["--rule".to_owned(), rule.to_owned()]);
            }
        }
        let with = |resource: String| {
            let mut form = words.clone();
            form.extend(["--resource".to_owned(), resource]);
            form.extend(["-o".to_owned(), PLAN_FILE.to_owned()]);
            form
        };
        let mut forms = Vec::new();
        if self.selects_alone(&first.resource_name) && plain(&first.resource_name) {
            forms.push(with(first.resource_name.clone()));
        }
        forms.push(with(glob::Pattern::escape(&first.resource)));
        commands.push_first(forms.iter().map(Vec::as_slice));
        commands
    }

    fn selects_alone(&self, name: &str) -> bool {
        self.selected.get(&name.to_lowercase()) == Some(&1)
    }
}

/// Whether the finding blames a rule a plan can change: an NSG rule or a security group rule.
fn changeable(finding: &Finding) -> bool {
    super::blamed_rules(finding)
        .iter()
        .any(|(rule, _)| matches!(rule, RuleRef::Nsg(_) | RuleRef::SecurityGroup(_)))
}

/// The live source of the VM's cloud, narrowed to its subscription or region when the finding
/// names a valid one.
fn source(finding: &Finding) -> Vec<String> {
    let mut words = Vec::new();
    match finding.provider {
        Provider::Azure => {
            words.push("--azure".to_owned());
            let scope = std::slice::from_ref(&finding.scope);
            if matches!(Subscriptions::parse(scope), Ok(Subscriptions::Only(_))) {
                words.extend(["--subscriptions".to_owned(), finding.scope.clone()]);
            }
        }
        Provider::Aws => {
            words.push("--aws".to_owned());
            if let Some(region) = &finding.region
                && matches!(Regions::parse(region), Ok(Regions::Named(names)) if names.len() == 1)
            {
                words.extend(["--regions".to_owned(), region.clone()]);
            }
        }
    }
    words
}

/// Whether `--resource NAME` selects by exactly that name: no glob characters, nothing that
/// reads as a tag selector or a flag, no white space that parsing trims.
fn plain(name: &str) -> bool {
    !name.is_empty()
        && name.trim() == name
        && !name.starts_with('-')
        && !name.to_ascii_lowercase().starts_with("tag:")
        && !name.contains(['*', '?', '[', ']'])
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::finding::{PortEvidence, RuleEvidence};
    use crate::model::SgSourceKind;
    use crate::rule_ref::{RuleKind, SgRuleId, SgRuleRef};

    /// An unhealthy finding of `rule` whose 22/tcp a security group rule opens to the internet.
    fn finding(rule: &str, id: &str, name: &str, provider: Provider) -> Finding {
        let mut f = Finding::example(rule, id, Status::Unhealthy);
        let port = "22/tcp".parse().unwrap();
        let target = SgRuleRef {
            group: "sg-1".into(),
            rule_id: SgRuleId::Read("sgr-1".into()),
            protocol: crate::model::Protocol::TCP,
            ports: Some("22".parse().unwrap()),
            source: SgSourceKind::Cidr("0.0.0.0/0".parse().unwrap()),
            description: None,
        };
        f.ports = vec![port];
        f.evidence.exposures = Arc::from(vec![PortEvidence {
            port,
            open: true,
            ipv4_addresses: 3_702_258_432,
            ipv6_addresses: "0".into(),
            rules: vec![RuleEvidence {
                kind: RuleKind::SecurityGroup,
                container: "sg-1".into(),
                name: "tcp 22 from 0.0.0.0/0".into(),
                priority: None,
                jit: false,
                ipv4_addresses: 3_702_258_432,
                ipv6_addresses: "0".into(),
                file: None,
                line: None,
                target: Some(RuleRef::SecurityGroup(Arc::new(target))),
            }],
        }]);
        f.resource_name = name.to_owned();
        f.provider = provider;
        f.scope = match provider {
            Provider::Azure => "11111111-1111-4111-8111-111111111111".to_owned(),
            Provider::Aws => "111122223333".to_owned(),
        };
        f.region = Some("eu-west-1".to_owned());
        f
    }

    fn line(commands: &Commands) -> &str {
        assert!(commands.withheld.is_empty(), "{:?}", commands.withheld);
        match &commands.lines[..] {
            [line] => line,
            lines => panic!("one line expected: {lines:?}"),
        }
    }

    #[test]
    fn the_strategy_follows_the_unhealthy_recommendations() {
        let policy = Policy::builtin();
        let closed = finding(
            "management-ports-closed",
            "/s/vm-1",
            "web-01",
            Provider::Azure,
        );
        let jit = finding("management-ports-jit", "/s/vm-1", "web-01", Provider::Azure);
        let nsg = finding(
            "internet-facing-vm-nsg",
            "/s/vm-1",
            "web-01",
            Provider::Azure,
        );
        let all = [closed.clone(), jit.clone(), nsg.clone()];
        let commands = PlanCommands::new(&all, &policy);
        // An open port: the quick fix first; narrow standing access alone: lock-down.
        let quick_fix = "portcullis fix plan --azure --subscriptions \
                         11111111-1111-4111-8111-111111111111 --resource web-01 -o plan.json";
        assert_eq!(line(&commands.for_vm(&all)), quick_fix);
        assert_eq!(
            line(&commands.for_vm(std::slice::from_ref(&closed))),
            quick_fix
        );
        assert_eq!(
            line(&commands.for_vm(std::slice::from_ref(&jit))),
            "portcullis fix plan --azure --subscriptions 11111111-1111-4111-8111-111111111111 \
             --strategy jit --resource web-01 -o plan.json"
        );
        assert!(commands.for_vm(&[nsg]).lines.is_empty());
        // Nothing filters the VM: no rule to change, no plan.
        let mut unfiltered = closed.clone();
        let mut exposures = unfiltered.evidence.exposures.to_vec();
        exposures[0].rules.clear();
        unfiltered.evidence.exposures = Arc::from(exposures);
        assert!(commands.for_vm(&[unfiltered]).lines.is_empty());
        let mut healthy = closed;
        healthy.status = Status::Healthy;
        assert!(commands.for_vm(&[healthy]).lines.is_empty());
    }

    #[test]
    fn the_vm_is_selected_alone_and_the_source_is_live() {
        let policy = Policy::builtin();
        let rule = "management-ports-closed";
        let vms = [
            finding(rule, "i-0a", "web", Provider::Aws),
            finding(rule, "i-0b", "web", Provider::Aws),
            finding(rule, "i-0c", "db*", Provider::Aws),
            finding(rule, "/s/x[1]", "web", Provider::Azure),
        ];
        let commands = PlanCommands::new(&vms, &policy);
        let of = |i: usize| line(&commands.for_vm(&vms[i..=i])).to_owned();
        // A name other VMs share, or a glob: the id instead, its glob characters escaped.
        assert_eq!(
            of(0),
            "portcullis fix plan --aws --regions eu-west-1 --resource i-0a -o plan.json"
        );
        assert!(of(2).ends_with("--resource i-0c -o plan.json"), "{}", of(2));
        assert_eq!(
            of(3),
            "portcullis fix plan --azure --subscriptions 11111111-1111-4111-8111-111111111111 \
             --resource '/s/x[[]1[]]' -o plan.json"
        );
        // A scope or region that the live source would refuse is left out.
        let mut odd = vms[0].clone();
        odd.region = Some("Not A Region".to_owned());
        assert_eq!(
            line(&commands.for_vm(&[odd])),
            "portcullis fix plan --aws --resource i-0a -o plan.json"
        );
    }

    #[test]
    fn a_name_not_safe_to_paste_gives_the_id() {
        let policy = Policy::builtin();
        let vm = [finding(
            "management-ports-closed",
            "i-0a",
            "web\u{202e}",
            Provider::Aws,
        )];
        let commands = PlanCommands::new(&vm, &policy);
        assert!(line(&commands.for_vm(&vm)).contains("--resource i-0a "));
        let hostile = [finding(
            "management-ports-closed",
            "i-0a\x01",
            "web\x01",
            Provider::Aws,
        )];
        let commands = PlanCommands::new(&hostile, &policy).for_vm(&hostile);
        assert!(commands.lines.is_empty());
        assert!(
            commands.withheld[0].starts_with("no `portcullis fix plan` command"),
            "{:?}",
            commands.withheld
        );
    }
}
