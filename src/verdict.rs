//! Turns exposure into findings: each recommendation of the policy judges each VM.
//!
//! The engine says who on the internet reaches which port; this module applies the meaning of the
//! three recommendation kinds (section 5 of the semantics) and writes the evidence a reader needs:
//! the open ports, how many addresses reach each, and the rules that let them in.

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;

use crate::addrset::AddressSet;
use crate::engine::{Contribution, Exposures, PortExposure, VmExposure, VmPorts};
use crate::finding::{Evidence, Finding, PortEvidence, RuleEvidence, SourceLocation, Status};
use crate::model::{PortSpec, Provider, Snapshot, Vm};
use crate::policy::{Policy, Recommendation, RecommendationKind, Thresholds};

/// Judges every VM against every recommendation, VMs in snapshot order, recommendations in
/// policy order.
///
/// What a port recommendation finds depends only on a VM's reach, which VMs behind the same
/// filters share (one `Arc`). So each distinct reach is judged once, and its verdicts, evidence
/// included, are shared by the findings of all its VMs: this keeps the judging time and the
/// findings' memory in proportion to the distinct paths, not to the VMs.
pub fn judge(snapshot: &Snapshot, exposures: &Exposures, policy: &Policy) -> Vec<Finding> {
    // Reaches by address: the `Arc`s' pointers identify them.
    let reach_key = |exposure: &VmExposure| Arc::as_ptr(&exposure.reach) as usize;
    let mut index_of: HashMap<usize, usize> = HashMap::new();
    let mut reaches: Vec<&VmPorts> = Vec::new();
    for exposure in exposures.vms.iter().filter(|e| e.internet_facing) {
        index_of.entry(reach_key(exposure)).or_insert_with(|| {
            reaches.push(&exposure.reach);
            reaches.len() - 1
        });
    }
    let shared: Vec<Vec<Option<Verdict>>> = reaches
        .par_iter()
        .map(|reach| {
            policy
                .recommendations
                .iter()
                .map(|rec| port_verdict(snapshot, reach, &exposures.ports, rec))
                .collect()
        })
        .collect();
    // One item per finding, so that the findings are collected straight into one list.
    let recommendations = &policy.recommendations;
    (0..snapshot.vms.len() * recommendations.len())
        .into_par_iter()
        .map(|i| {
            let (v, r) = (i / recommendations.len(), i % recommendations.len());
            let (vm, exposure, rec) = (&snapshot.vms[v], &exposures.vms[v], &recommendations[r]);
            let verdict = exposure
                .internet_facing
                .then(|| &shared[index_of[&reach_key(exposure)]][r]);
            finding(
                snapshot,
                vm,
                exposure,
                rec,
                judge_one(vm, exposure, rec, verdict),
            )
        })
        .collect()
}

/// `shared` is the verdict on the VM's reach, `None` when the VM is not internet-facing.
fn judge_one(
    vm: &Vm,
    exposure: &VmExposure,
    rec: &Recommendation,
    shared: Option<&Option<Verdict>>,
) -> Verdict {
    let Some(shared) = shared else {
        return Verdict::not_applicable(
            "not internet-facing: no public address the internet can route to",
        );
    };
    if rec.kind == RecommendationKind::PortsJit && !holds_jit(vm, exposure) {
        return Verdict::not_applicable(
            "an internet-facing NIC has no network security group to hold JIT rules",
        );
    }
    shared
        .clone()
        .unwrap_or_else(|| filtered(vm, exposure, rec))
}

/// Whether a set of internet addresses is broader than the thresholds.
pub fn is_open(set: &AddressSet, thresholds: &Thresholds) -> bool {
    set.ipv4_count() > thresholds.ipv4_addresses || set.ipv6_count() > thresholds.ipv6_addresses
}

/// The verdict of a recommendation about ports on one reach; `None` for the recommendation
/// about filters, which depends on the VM's interfaces too.
fn port_verdict(
    snapshot: &Snapshot,
    reach: &VmPorts,
    ports: &[PortSpec],
    rec: &Recommendation,
) -> Option<Verdict> {
    match rec.kind {
        RecommendationKind::InternetFacingFiltered => None,
        RecommendationKind::PortsClosed => Some(ports_closed(snapshot, reach, ports, rec)),
        RecommendationKind::PortsJit => Some(ports_jit(snapshot, reach, ports, rec)),
    }
}

/// Whether the VM has somewhere to hold JIT rules: an Azure VM needs an NSG on every
/// internet-facing NIC.
fn holds_jit(vm: &Vm, exposure: &VmExposure) -> bool {
    vm.provider != Provider::Azure || exposure.unfiltered_nics.is_empty()
}

fn finding(
    snapshot: &Snapshot,
    vm: &Vm,
    exposure: &VmExposure,
    rec: &Recommendation,
    verdict: Verdict,
) -> Finding {
    Finding {
        rule: rec.id.clone(),
        control: rec.control.clone(),
        resource: vm.id.clone(),
        resource_name: vm.name.clone(),
        provider: vm.provider,
        scope: vm.scope.clone(),
        region: vm.region.clone(),
        status: verdict.status,
        severity: rec.severity,
        ports: verdict.ports,
        evidence: Evidence {
            summary: verdict.summary,
            exposures: verdict.exposures,
            notes: exposure.notes.clone(),
        },
        location: vm_location(snapshot, vm),
        commands: Vec::new(),
        commands_withheld: Vec::new(),
        baseline: None,
        exemption: None,
    }
}

/// Where a VM was read from. A VM without a line (a snapshot written by a live collector) is
/// placed at the top of the only file the snapshot came from, when there is one.
fn vm_location(snapshot: &Snapshot, vm: &Vm) -> Option<SourceLocation> {
    match (vm.origin, snapshot.sources.as_slice()) {
        (Some(origin), sources) => Some(SourceLocation {
            file: sources.get(origin.file as usize)?.clone(),
            line: origin.line,
        }),
        (None, [only]) => Some(SourceLocation {
            file: only.clone(),
            line: 1,
        }),
        (None, _) => None,
    }
}

#[derive(Clone)]
struct Verdict {
    status: Status,
    summary: String,
    ports: Vec<PortSpec>,
    exposures: Arc<[PortEvidence]>,
}

impl Verdict {
    fn not_applicable(why: &str) -> Self {
        Self::plain(Status::NotApplicable, why.to_string())
    }

    fn plain(status: Status, summary: String) -> Self {
        Self {
            status,
            summary,
            ports: Vec::new(),
            exposures: Arc::default(),
        }
    }
}

fn filtered(vm: &Vm, exposure: &VmExposure, rec: &Recommendation) -> Verdict {
    match vm.provider {
        Provider::Azure if !exposure.unfiltered_nics.is_empty() => Verdict::plain(
            Status::Unhealthy,
            format!(
                "no network security group on internet-facing NIC {} nor on its subnet",
                exposure.unfiltered_nics.join(", ")
            ),
        ),
        Provider::Azure => Verdict::plain(
            Status::Healthy,
            "every internet-facing NIC is filtered by a network security group".into(),
        ),
        Provider::Aws => {
            // Each interface is judged on its own: two narrow allow-alls on two interfaces do
            // not add up to a broad one.
            let widest_open = exposure
                .reach
                .allow_all
                .iter()
                .filter(|set| is_open(set, &rec.thresholds))
                .max_by_key(|set| (set.ipv4_count(), set.ipv6_count()));
            match widest_open {
                Some(set) => Verdict::plain(
                    Status::Unhealthy,
                    format!(
                        "security groups of an internet-facing interface allow all traffic on \
                         every port from {}",
                        describe_count(set)
                    ),
                ),
                None => Verdict::plain(
                    Status::Healthy,
                    "security groups filter the internet-facing interfaces".into(),
                ),
            }
        }
    }
}

fn ports_closed(
    snapshot: &Snapshot,
    reach: &VmPorts,
    ports: &[PortSpec],
    rec: &Recommendation,
) -> Verdict {
    let mut open = Vec::new();
    let mut evidence = Vec::new();
    for (port, reach) in watched(reach, ports, rec) {
        if reach.reachable.is_empty() {
            continue;
        }
        let is_open = is_open(&reach.reachable, &rec.thresholds);
        if is_open {
            open.push(port);
        }
        evidence.push(port_evidence(
            snapshot,
            port,
            is_open,
            &reach.reachable,
            &reach.rules,
        ));
    }
    let summary = if open.is_empty() {
        if evidence.is_empty() {
            "no watched port is reachable from the internet".to_string()
        } else {
            "watched ports are reachable only from narrow ranges".to_string()
        }
    } else {
        format!("open to the internet: {}", port_list(&open))
    };
    Verdict {
        status: if open.is_empty() {
            Status::Healthy
        } else {
            Status::Unhealthy
        },
        summary,
        ports: open,
        exposures: evidence.into(),
    }
}

fn ports_jit(
    snapshot: &Snapshot,
    reach: &VmPorts,
    ports: &[PortSpec],
    rec: &Recommendation,
) -> Verdict {
    let mut standing_ports = Vec::new();
    let mut evidence = Vec::new();
    let mut through_jit = false;
    let mut expired: Vec<String> = Vec::new();
    for (port, reach) in watched(reach, ports, rec) {
        through_jit |= !reach.reachable.is_empty();
        if reach.standing.is_empty() {
            continue;
        }
        let rules: Vec<Contribution> = reach
            .rules
            .iter()
            .filter(|c| !c.rule.jit)
            .map(|c| Contribution {
                rule: c.rule.clone(),
                addresses: c.addresses.intersect(&reach.standing),
            })
            .filter(|c| !c.addresses.is_empty())
            .collect();
        for c in &rules {
            if let Some(since) = &c.rule.expired_grant {
                let text = format!(
                    "expired JIT grant still open since {since} ({})",
                    c.rule.name
                );
                if !expired.contains(&text) {
                    expired.push(text);
                }
            }
        }
        let is_open = is_open(&reach.standing, &rec.thresholds);
        standing_ports.push(port);
        evidence.push(port_evidence(
            snapshot,
            port,
            is_open,
            &reach.standing,
            &rules,
        ));
    }
    if standing_ports.is_empty() {
        let summary = if through_jit {
            "watched ports are reached only through JIT grants"
        } else {
            "no watched port is reachable from the internet"
        };
        return Verdict::plain(Status::Healthy, summary.to_string());
    }
    let standing = format!(
        "standing access (not a JIT grant) from the internet to {}",
        port_list(&standing_ports)
    );
    Verdict {
        status: Status::Unhealthy,
        summary: if expired.is_empty() {
            standing
        } else {
            format!("{}: {standing}", expired.join("; "))
        },
        ports: standing_ports,
        exposures: evidence.into(),
    }
}

/// The recommendation's ports with their exposure, in port order.
fn watched<'a>(
    reach: &'a VmPorts,
    ports: &'a [PortSpec],
    rec: &'a Recommendation,
) -> impl Iterator<Item = (PortSpec, &'a PortExposure)> + 'a {
    ports
        .iter()
        .zip(&reach.ports)
        .filter(|(port, _)| rec.ports.contains(port))
        .map(|(port, reach)| (*port, reach))
}

/// `22/tcp, 3389/tcp`.
pub fn port_list(ports: &[PortSpec]) -> String {
    ports
        .iter()
        .map(PortSpec::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn port_evidence(
    snapshot: &Snapshot,
    port: PortSpec,
    open: bool,
    set: &AddressSet,
    rules: &[Contribution],
) -> PortEvidence {
    PortEvidence {
        port,
        open,
        ipv4_addresses: set.ipv4_count(),
        ipv6_addresses: set.ipv6_count().to_string(),
        rules: rules
            .iter()
            .map(|c| RuleEvidence {
                kind: c.rule.kind(),
                container: c.rule.container().to_string(),
                name: c.rule.name.clone(),
                priority: c.rule.priority,
                jit: c.rule.jit,
                ipv4_addresses: c.addresses.ipv4_count(),
                ipv6_addresses: c.addresses.ipv6_count().to_string(),
                file: c
                    .rule
                    .origin
                    .and_then(|o| snapshot.sources.get(o.file as usize).cloned()),
                line: c.rule.origin.map(|o| o.line),
                target: Some(c.rule.target.clone()),
            })
            .collect(),
    }
}

/// "3,702,258,432 IPv4 addresses", "2^125 IPv6 addresses", or both.
pub fn describe_count(set: &AddressSet) -> String {
    let mut parts = Vec::new();
    if !set.v4.is_empty() {
        parts.push(format!(
            "{} IPv4 addresses",
            thousands(set.ipv4_count() as u128)
        ));
    }
    if !set.v6.is_empty() {
        parts.push(format!(
            "{} IPv6 addresses",
            ipv6_count_text(set.ipv6_count())
        ));
    }
    if parts.is_empty() {
        "no address".to_string()
    } else {
        parts.join(" and ")
    }
}

/// An IPv6 count for people: `2^80` for large powers of two, else digits grouped by thousands.
pub fn ipv6_count_text(n: u128) -> String {
    if n.is_power_of_two() && n > 1 << 20 {
        format!("2^{}", n.trailing_zeros())
    } else {
        thousands(n)
    }
}

/// Groups digits by thousands: 3702258432 → "3,702,258,432".
pub fn thousands(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(256), "256");
        assert_eq!(thousands(3_702_258_432), "3,702,258,432");
    }

    #[test]
    fn counts_read_naturally() {
        let v6: ipnetwork::IpNetwork = "2000::/3".parse().unwrap();
        assert_eq!(
            describe_count(&AddressSet::network(&v6)),
            "2^125 IPv6 addresses"
        );
        assert_eq!(describe_count(&AddressSet::empty()), "no address");
    }
}
