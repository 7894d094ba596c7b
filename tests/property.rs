//! The exact engine, and the quick fix planned with it, against a brute-force reference.
//!
//! Random rule sets are built from fixed pools of prefixes and port ranges. The engine computes
//! address sets; the reference below evaluates single (address, port) points one at a time,
//! straight from the semantics. Every address set the engine can produce is constant between
//! the boundaries of the pool's ranges, so checking every boundary (and its neighbours) checks
//! every piece of the address space, not just a sample.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use portcullis::addrset::{AddressSet, Family};
use portcullis::engine::{self, EngineConfig};
use portcullis::finding::Status;
use portcullis::fix;
use portcullis::model::*;
use portcullis::policy::Policy;
use portcullis::rule_ref::RuleKind;
use portcullis::verdict;
use proptest::prelude::*;

const SOURCES: &[&str] = &[
    "*",
    "Internet",
    "VirtualNetwork",
    "AzureLoadBalancer",
    "AzureCloud",
    "0.0.0.0/0",
    "0.0.0.0/1",
    "128.0.0.0/1",
    "::/0",
    "2000::/3",
    "2001:db8::/32",
    "10.0.0.0/8",
    "203.0.113.7",
    "8.8.0.0/16",
    "8.8.8.0/24",
    "8.8.8.8/29",
    "100.64.0.0/10",
    "2a01:100::/32",
    "2a01:100:5::/48",
    "1.0.0.0/8",
    "192.168.1.0/24",
    "198.51.100.0/24",
    "52.0.0.0/6",
];
const PORTS: &[&str] = &[
    "*",
    "22",
    "3389",
    "20-23",
    "1433-3389",
    "5985-5986",
    "80",
    "389",
];
const PROTOCOLS: &[&str] = &["Tcp", "Udp", "*", "Icmp"];
const NIC_V4: &str = "10.0.0.4";
const NIC_V6: &str = "fd00::4";
const DESTINATIONS: &[&str] = &[
    "*",
    "VirtualNetwork",
    "10.0.0.4",
    "10.0.1.0/24",
    "Internet",
    "fd00::/64",
];
const MEMBER_ASG: &str = "/asg/member";

/// The built-in policy, built once: the references ask for it at every probe point.
fn policy() -> &'static Policy {
    static POLICY: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
    POLICY.get_or_init(Policy::builtin)
}

fn config() -> EngineConfig {
    EngineConfig::from_policy(policy())
}

#[derive(Clone, Debug)]
struct RuleSpec {
    allow: bool,
    priority: u32,
    protocol: &'static str,
    sources: Vec<&'static str>,
    source_ports_restricted: bool,
    destination: Option<&'static str>,
    destination_asg: Option<bool>,
    ports: Vec<&'static str>,
    jit: bool,
}

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    (
        any::<bool>(),
        100u32..140,
        prop::sample::select(PROTOCOLS),
        prop::collection::vec(prop::sample::select(SOURCES), 1..3),
        prop::bool::weighted(0.15),
        prop::sample::select(DESTINATIONS),
        prop::option::weighted(0.15, any::<bool>()),
        prop::collection::vec(prop::sample::select(PORTS), 1..3),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(allow, priority, protocol, sources, restricted, destination, asg, ports, jit)| {
                RuleSpec {
                    allow,
                    priority,
                    protocol,
                    sources,
                    source_ports_restricted: restricted,
                    destination: asg.is_none().then_some(destination),
                    destination_asg: asg,
                    ports,
                    jit,
                }
            },
        )
}

fn nsg(id: &str, rules: &[RuleSpec]) -> Nsg {
    Nsg {
        id: id.into(),
        name: id.into(),
        region: None,
        rules: rules
            .iter()
            .enumerate()
            .map(|(i, r)| NsgRule {
                name: if r.jit && r.allow {
                    format!("SecurityCenter-JITRule-{i}")
                } else {
                    format!("rule-{i}")
                },
                priority: r.priority,
                direction: Direction::Inbound,
                access: if r.allow { Access::Allow } else { Access::Deny },
                protocol: r.protocol.parse().unwrap(),
                sources: r.sources.iter().map(|s| s.parse().unwrap()).collect(),
                source_asg_ids: Vec::new(),
                source_ports: if r.source_ports_restricted {
                    vec!["1024-65535".parse().unwrap()]
                } else {
                    Vec::new()
                },
                destinations: r.destination.iter().map(|s| s.parse().unwrap()).collect(),
                destination_asg_ids: r
                    .destination_asg
                    .map(|member| {
                        vec![if member {
                            MEMBER_ASG.to_string()
                        } else {
                            "/asg/other".to_string()
                        }]
                    })
                    .unwrap_or_default(),
                destination_ports: r.ports.iter().map(|p| p.parse().unwrap()).collect(),
                origin: None,
            })
            .collect(),
        default_rules: Vec::new(),
        grant_expiries: Default::default(),
        origin: None,
    }
}

fn azure_snapshot(
    subnet: Option<&[RuleSpec]>,
    nic: Option<&[RuleSpec]>,
    with_v6: bool,
) -> Snapshot {
    let mut s = Snapshot::new();
    let mut configs = vec![IpConfig {
        name: Some("v4".into()),
        private_ip: Some(NIC_V4.parse().unwrap()),
        public_ip_id: Some("/pip/v4".into()),
        app_security_group_ids: vec![MEMBER_ASG.into()],
        ..IpConfig::default()
    }];
    s.public_ips.push(PublicIp {
        id: "/pip/v4".into(),
        name: "v4".into(),
        family: Family::V4,
        address: None,
    });
    if with_v6 {
        configs.push(IpConfig {
            name: Some("v6".into()),
            private_ip: Some(NIC_V6.parse().unwrap()),
            public_ip_id: Some("/pip/v6".into()),
            ..IpConfig::default()
        });
        s.public_ips.push(PublicIp {
            id: "/pip/v6".into(),
            name: "v6".into(),
            family: Family::V6,
            address: None,
        });
    }
    if let Some(rules) = subnet {
        s.nsgs.push(nsg("/nsg/subnet", rules));
    }
    if let Some(rules) = nic {
        s.nsgs.push(nsg("/nsg/nic", rules));
    }
    s.subnets.push(Subnet {
        id: "/subnet".into(),
        name: "subnet".into(),
        provider: Provider::Azure,
        network_id: None,
        nsg_id: subnet.map(|_| "/nsg/subnet".into()),
        cidrs: Vec::new(),
    });
    s.nics.push(Nic {
        id: "/nic".into(),
        name: "nic".into(),
        provider: Provider::Azure,
        vm_id: Some("/vm".into()),
        subnet_id: Some("/subnet".into()),
        nsg_id: nic.map(|_| "/nsg/nic".into()),
        security_group_ids: Vec::new(),
        ip_configs: configs,
        origin: None,
    });
    s.vms.push(Vm {
        id: "/vm".into(),
        name: "vm".into(),
        provider: Provider::Azure,
        scope: "sub".into(),
        region: None,
        power_state: None,
        nic_ids: Vec::new(),
        tags: Default::default(),
        origin: None,
    });
    s
}

/// Every range boundary of the pools and the internet, with neighbours: one point per piece.
fn probe_points(extra: &[IpNetwork]) -> Vec<IpAddr> {
    let p = policy();
    let mut nets: Vec<IpNetwork> = SOURCES.iter().filter_map(|s| s.parse().ok()).collect();
    nets.extend(p.internet.to_networks());
    nets.extend(extra);
    let mut points = BTreeSet::new();
    for net in nets {
        let set = AddressSet::network(&net);
        for (family, ranges) in [(Family::V4, set.v4.ranges()), (Family::V6, set.v6.ranges())] {
            let max = if family == Family::V4 {
                u32::MAX as u128
            } else {
                u128::MAX
            };
            for &(first, last) in ranges {
                for v in [
                    first.checked_sub(1),
                    Some(first),
                    Some(last),
                    last.checked_add(1).filter(|v| *v <= max),
                ]
                .into_iter()
                .flatten()
                {
                    points.insert((family, v));
                }
            }
        }
    }
    points
        .into_iter()
        .map(|(family, v)| match family {
            Family::V4 => IpAddr::V4((v as u32).into()),
            Family::V6 => IpAddr::V6(v.into()),
        })
        .collect()
}

/// Reference: the rule of `nsg` that decides the point, if any matches.
fn deciding_nsg_rule<'a>(
    nsg: &'a Nsg,
    point: &IpAddr,
    port: &PortSpec,
    private_ip: &IpAddr,
    internet: &AddressSet,
) -> Option<&'a NsgRule> {
    let mut rules: Vec<&NsgRule> = nsg.rules.iter().collect();
    rules.sort_by_key(|r| r.priority);
    rules.into_iter().find(|r| {
        let source = r.sources.iter().any(|s| match s {
            AddressPrefix::Any => true,
            AddressPrefix::Network(n) => n.contains(*point),
            AddressPrefix::Tag(t) => {
                !(t.eq_ignore_ascii_case("VirtualNetwork")
                    || t.eq_ignore_ascii_case("AzureLoadBalancer"))
                    && internet.contains(point)
            }
        });
        let destination = r.destinations.iter().any(|d| match d {
            AddressPrefix::Any => true,
            AddressPrefix::Network(n) => n.contains(*private_ip),
            AddressPrefix::Tag(t) => t.eq_ignore_ascii_case("VirtualNetwork"),
        }) || (r.destination_asg_ids.iter().any(|a| a == MEMBER_ASG)
            && private_ip.is_ipv4());
        let dodgeable_deny = r.access == Access::Deny && !r.source_ports.is_empty();
        r.direction == Direction::Inbound
            && r.protocol.matches(port.protocol)
            && r.destination_ports.iter().any(|p| p.contains(port.port))
            && source
            && destination
            && !dodgeable_deny
    })
}

fn check_azure(
    subnet: Option<Vec<RuleSpec>>,
    nic: Option<Vec<RuleSpec>>,
    with_v6: bool,
) -> Result<(), TestCaseError> {
    let config = config();
    let snapshot = azure_snapshot(subnet.as_deref(), nic.as_deref(), with_v6);
    let exposures = engine::evaluate(&snapshot, &config);
    let vm = &exposures.vms[0];
    let nsg_of = |id: &str| snapshot.nsgs.iter().find(|n| n.id == id);
    let layers = [nsg_of("/nsg/subnet"), nsg_of("/nsg/nic")];
    let private_v4: IpAddr = NIC_V4.parse().unwrap();
    let private_v6: IpAddr = NIC_V6.parse().unwrap();
    for point in probe_points(&[]) {
        let private_ip = if point.is_ipv4() {
            private_v4
        } else {
            private_v6
        };
        let facing = point.is_ipv4() || with_v6;
        for (i, port) in exposures.ports.iter().enumerate() {
            let got = &vm.reach.ports[i];
            let mut reachable = facing && config.internet.contains(&point);
            let mut deciding = Vec::new();
            for nsg in layers.into_iter().flatten() {
                match deciding_nsg_rule(nsg, &point, port, &private_ip, &config.internet) {
                    Some(r) if r.access == Access::Allow => deciding.push(r),
                    _ => reachable = false,
                }
            }
            prop_assert_eq!(
                got.reachable.contains(&point),
                reachable,
                "reachable {} on {}",
                point,
                port
            );
            if !reachable {
                continue;
            }
            let standing = deciding
                .iter()
                .all(|r| !r.name.starts_with("SecurityCenter-JITRule"));
            prop_assert_eq!(
                got.standing.contains(&point),
                standing,
                "standing {} on {}",
                point,
                port
            );
            let mut want: Vec<&str> = deciding.iter().map(|r| r.name.as_str()).collect();
            let mut have: Vec<&str> = got
                .rules
                .iter()
                .filter(|c| c.addresses.contains(&point))
                .map(|c| c.rule.name.as_str())
                .collect();
            want.sort();
            have.sort();
            prop_assert_eq!(have, want, "deciding rules for {} on {}", point, port);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn azure_engine_matches_point_by_point_reference(
        subnet in prop::option::weighted(0.6, prop::collection::vec(rule_spec(), 0..6)),
        nic in prop::option::weighted(0.8, prop::collection::vec(rule_spec(), 0..8)),
        with_v6 in any::<bool>(),
    ) {
        check_azure(subnet, nic, with_v6)?;
    }
}

const SG_PROTOCOLS: &[&str] = &["-1", "tcp", "udp", "icmp", "6"];
const SG_PORTS: &[Option<(u16, u16)>] = &[
    None,
    Some((22, 22)),
    Some((0, 65535)),
    Some((20, 3389)),
    Some((3389, 3389)),
    Some((80, 443)),
];
const RESOLVED_LIST: &str = "pl-resolved";
const UNRESOLVED_LIST: &str = "pl-unresolved";

#[derive(Clone, Debug)]
enum SourceSpec {
    Cidr(&'static str),
    PrefixList(bool),
    Group,
}

fn sg_source() -> impl Strategy<Value = (SourceSpec, bool)> {
    let cidrs: Vec<&'static str> = SOURCES
        .iter()
        .copied()
        .filter(|s| s.contains('/') || s.contains('.'))
        .collect();
    (
        prop_oneof![
            6 => prop::sample::select(cidrs).prop_map(SourceSpec::Cidr),
            1 => any::<bool>().prop_map(SourceSpec::PrefixList),
            1 => Just(SourceSpec::Group),
        ],
        prop::bool::weighted(0.2),
    )
}

fn sg_permission() -> impl Strategy<Value = SgPermission> {
    (
        prop::sample::select(SG_PROTOCOLS),
        prop::sample::select(SG_PORTS),
        prop::collection::vec(sg_source(), 1..4),
    )
        .prop_map(|(protocol, ports, sources)| SgPermission {
            protocol: protocol.parse().unwrap(),
            ports: ports.map(|(first, last)| PortRange { first, last }),
            sources: sources
                .into_iter()
                .map(|(kind, jit)| SgSource {
                    kind: match kind {
                        SourceSpec::Cidr(c) => SgSourceKind::Cidr(c.parse().unwrap()),
                        SourceSpec::PrefixList(true) => {
                            SgSourceKind::PrefixList(RESOLVED_LIST.into())
                        }
                        SourceSpec::PrefixList(false) => {
                            SgSourceKind::PrefixList(UNRESOLVED_LIST.into())
                        }
                        SourceSpec::Group => SgSourceKind::Group("sg-other".into()),
                    },
                    description: jit.then(|| "portcullis-jit-grant".to_string()),
                    rule_id: None,
                })
                .collect(),
            origin: None,
        })
}

fn nacl_entry() -> impl Strategy<Value = NaclEntry> {
    let cidrs: Vec<&'static str> = SOURCES
        .iter()
        .copied()
        .filter(|s| s.contains('/'))
        .collect();
    (
        1u32..200,
        any::<bool>(),
        prop::sample::select(SG_PROTOCOLS),
        prop::sample::select(SG_PORTS),
        prop::sample::select(cidrs),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(rule_number, allow, protocol, ports, cidr, egress)| NaclEntry {
                rule_number,
                egress,
                access: if allow { Access::Allow } else { Access::Deny },
                protocol: protocol.parse().unwrap(),
                cidr: cidr.parse().unwrap(),
                ports: ports.map(|(first, last)| PortRange { first, last }),
                origin: None,
            },
        )
}

#[derive(Clone, Debug)]
struct AwsCase {
    groups: Vec<Vec<SgPermission>>,
    acl: Option<Vec<NaclEntry>>,
    igw_v4: bool,
    v6_target: Option<&'static str>,
}

fn aws_case() -> impl Strategy<Value = AwsCase> {
    (
        prop::collection::vec(prop::collection::vec(sg_permission(), 0..4), 1..3),
        prop::option::weighted(0.7, prop::collection::vec(nacl_entry(), 0..6)),
        prop::bool::weighted(0.85),
        prop::option::of(prop::sample::select(&["igw-1", "eigw-1"][..])),
    )
        .prop_map(|(groups, acl, igw_v4, v6_target)| AwsCase {
            groups,
            acl,
            igw_v4,
            v6_target,
        })
}

const PRIVATE_LIST_RANGE: &str = "52.0.0.0/8";

fn aws_snapshot(case: &AwsCase) -> Snapshot {
    let mut s = Snapshot::new();
    for (i, inbound) in case.groups.iter().enumerate() {
        s.security_groups.push(SecurityGroup {
            id: format!("sg-{i}"),
            name: format!("sg-{i}"),
            vpc_id: Some("vpc-1".into()),
            inbound: inbound.clone(),
            origin: None,
        });
    }
    s.prefix_lists.push(PrefixList {
        id: RESOLVED_LIST.into(),
        name: "resolved".into(),
        entries: Some(vec![
            PRIVATE_LIST_RANGE.parse().unwrap(),
            "2a01:100:5::/48".parse().unwrap(),
        ]),
    });
    s.prefix_lists.push(PrefixList {
        id: UNRESOLVED_LIST.into(),
        name: "unresolved".into(),
        entries: None,
    });
    if let Some(entries) = &case.acl {
        s.network_acls.push(NetworkAcl {
            id: "acl-1".into(),
            vpc_id: Some("vpc-1".into()),
            is_default: false,
            subnet_ids: vec!["subnet-1".into()],
            entries: entries.clone(),
            origin: None,
        });
    }
    let mut routes = Vec::new();
    if case.igw_v4 {
        routes.push(Route {
            destination: "0.0.0.0/0".parse().unwrap(),
            target: "igw-1".into(),
            active: true,
        });
    }
    if let Some(target) = case.v6_target {
        routes.push(Route {
            destination: "::/0".parse().unwrap(),
            target: target.into(),
            active: true,
        });
    }
    s.route_tables.push(RouteTable {
        id: "rtb-main".into(),
        vpc_id: Some("vpc-1".into()),
        main: true,
        subnet_ids: Vec::new(),
        routes,
    });
    s.subnets.push(Subnet {
        id: "subnet-1".into(),
        name: String::new(),
        provider: Provider::Aws,
        network_id: Some("vpc-1".into()),
        nsg_id: None,
        cidrs: Vec::new(),
    });
    s.nics.push(Nic {
        id: "eni-1".into(),
        name: String::new(),
        provider: Provider::Aws,
        vm_id: Some("i-1".into()),
        subnet_id: Some("subnet-1".into()),
        nsg_id: None,
        security_group_ids: (0..case.groups.len()).map(|i| format!("sg-{i}")).collect(),
        ip_configs: vec![
            IpConfig {
                private_ip: Some("10.0.0.4".parse().unwrap()),
                public_ip: Some("54.1.2.3".parse().unwrap()),
                ..IpConfig::default()
            },
            IpConfig {
                private_ip: Some("2600:1f18::4".parse().unwrap()),
                public_ip: Some("2600:1f18::4".parse().unwrap()),
                ..IpConfig::default()
            },
        ],
        origin: None,
    });
    s.vms.push(Vm {
        id: "i-1".into(),
        name: "i-1".into(),
        provider: Provider::Aws,
        scope: "111122223333".into(),
        region: None,
        power_state: None,
        nic_ids: vec!["eni-1".into()],
        tags: Default::default(),
        origin: None,
    });
    s
}

/// Reference: the sources of the groups' permissions that admit the point on the port, with
/// the index of their group.
fn sg_sources_reaching<'a>(
    groups: &'a [Vec<SgPermission>],
    point: &IpAddr,
    port: &PortSpec,
) -> Vec<(usize, &'a SgSource)> {
    let internet = policy().internet.contains(point);
    let list = resolved_list();
    let mut out = Vec::new();
    for (g, inbound) in groups.iter().enumerate() {
        for perm in inbound {
            if !perm.protocol.matches(port.protocol)
                || perm.ports.is_some_and(|r| !r.contains(port.port))
            {
                continue;
            }
            for source in &perm.sources {
                let hit = match &source.kind {
                    SgSourceKind::Cidr(n) => n.contains(*point),
                    SgSourceKind::PrefixList(id) if id == RESOLVED_LIST => {
                        list.iter().any(|n| n.contains(*point))
                    }
                    SgSourceKind::PrefixList(_) => internet,
                    SgSourceKind::Group(_) => false,
                };
                if hit {
                    out.push((g, source));
                }
            }
        }
    }
    out
}

/// Reference: whether the network ACL (if any) lets the point in on the port.
fn acl_allows(acl: Option<&[NaclEntry]>, point: &IpAddr, port: &PortSpec) -> bool {
    acl.is_none_or(|entries| {
        let mut inbound: Vec<&NaclEntry> = entries.iter().filter(|e| !e.egress).collect();
        inbound.sort_by_key(|e| e.rule_number);
        inbound
            .into_iter()
            .find(|e| {
                e.protocol.matches(port.protocol)
                    && e.ports.is_none_or(|r| r.contains(port.port))
                    && e.cidr.contains(*point)
            })
            .is_some_and(|e| e.access == Access::Allow)
    })
}

fn resolved_list() -> Vec<IpNetwork> {
    vec![
        PRIVATE_LIST_RANGE.parse().unwrap(),
        "2a01:100:5::/48".parse().unwrap(),
    ]
}

fn check_aws(case: AwsCase) -> Result<(), TestCaseError> {
    let config = config();
    let snapshot = aws_snapshot(&case);
    let exposures = engine::evaluate(&snapshot, &config);
    let vm = &exposures.vms[0];
    let facing_v4 = case.igw_v4;
    let facing_v6 = case.v6_target == Some("igw-1");
    prop_assert_eq!(vm.internet_facing, facing_v4 || facing_v6);
    for point in probe_points(&resolved_list()) {
        let facing = if point.is_ipv4() {
            facing_v4
        } else {
            facing_v6
        };
        let internet = config.internet.contains(&point);
        for (i, port) in exposures.ports.iter().enumerate() {
            let got = &vm.reach.ports[i];
            let sg_sources: Vec<(usize, bool)> = sg_sources_reaching(&case.groups, &point, port)
                .into_iter()
                .map(|(g, source)| (g, source.description.is_some()))
                .collect();
            let reachable = facing
                && internet
                && !sg_sources.is_empty()
                && acl_allows(case.acl.as_deref(), &point, port);
            prop_assert_eq!(
                got.reachable.contains(&point),
                reachable,
                "reachable {} on {}",
                point,
                port
            );
            if !reachable {
                continue;
            }
            let standing = sg_sources.iter().any(|&(_, jit)| !jit);
            prop_assert_eq!(
                got.standing.contains(&point),
                standing,
                "standing {} on {}",
                point,
                port
            );
            let sg_rules = got
                .rules
                .iter()
                .filter(|c| {
                    c.rule.kind() == RuleKind::SecurityGroup && c.addresses.contains(&point)
                })
                .count();
            prop_assert_eq!(
                sg_rules,
                sg_sources.len(),
                "security group rules for {} on {}",
                point,
                port
            );
            let acl_rules = got
                .rules
                .iter()
                .filter(|c| c.rule.kind() == RuleKind::NetworkAcl && c.addresses.contains(&point))
                .count();
            prop_assert_eq!(acl_rules, usize::from(case.acl.is_some()));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn aws_engine_matches_point_by_point_reference(case in aws_case()) {
        check_aws(case)?;
    }
}

// The quick fix against the same reference: planned offline and applied to the snapshot, it
// closes every management port to broad internet sources (except what the plan skips), leaves
// every other port's exposure exactly as it was, never opens anything, and keeps every point
// that reached a management port through narrow sources only.

/// Ports whose numbers no management port uses: their exposure must not change.
const OTHER_PORTS: &[&str] = &["80/tcp", "80/udp", "24/tcp", "20/tcp", "3390/tcp", "53/udp"];

fn quick_fix(snapshot: &Snapshot, narrowing: bool) -> (Snapshot, fix::Plan) {
    let options = fix::PlanOptions {
        strategy: fix::Strategy::QuickFix,
        recommendations: Vec::new(),
        resources: Vec::new(),
        allow_protocol_narrowing: narrowing,
    };
    let source = fix::PlanSource::Offline {
        files: vec!["estate.json".into()],
    };
    let plan = fix::plan(snapshot, policy(), &options, source, "t".into()).unwrap();
    let after = fix::apply_to_snapshot(snapshot, &plan).unwrap();
    (after, plan)
}

/// Whether an address set's internet addresses are within the open thresholds.
fn narrow(set: &AddressSet) -> bool {
    let p = policy();
    !verdict::is_open(&set.intersect(&p.internet), &p.thresholds)
}

fn narrow_prefix(prefix: &AddressPrefix) -> bool {
    match prefix {
        AddressPrefix::Network(n) => narrow(&AddressSet::network(n)),
        AddressPrefix::Tag(t) => {
            t.eq_ignore_ascii_case("VirtualNetwork") || t.eq_ignore_ascii_case("AzureLoadBalancer")
        }
        AddressPrefix::Any => false,
    }
}

fn management_ports_closed(snapshot: &Snapshot, vm: &str) -> bool {
    let p = policy();
    let exposures = engine::evaluate(snapshot, &config());
    verdict::judge(snapshot, &exposures, p)
        .iter()
        .filter(|f| f.resource == vm && f.rule == "management-ports-closed")
        .all(|f| f.status != Status::Unhealthy)
}

/// Reference: whether the point reaches the VM's port through the Azure layers, and whether
/// every layer's deciding allow has a narrow source holding the point.
fn azure_reach(
    snapshot: &Snapshot,
    point: &IpAddr,
    port: &PortSpec,
    with_v6: bool,
) -> (bool, bool) {
    let internet = &policy().internet;
    let private_ip: IpAddr = if point.is_ipv4() { NIC_V4 } else { NIC_V6 }
        .parse()
        .unwrap();
    let mut reachable = (point.is_ipv4() || with_v6) && internet.contains(point);
    let mut through_narrow = true;
    for id in ["/nsg/subnet", "/nsg/nic"] {
        let Some(nsg) = snapshot.nsgs.iter().find(|n| n.id == id) else {
            continue;
        };
        match deciding_nsg_rule(nsg, point, port, &private_ip, internet) {
            Some(r) if r.access == Access::Allow => {
                through_narrow &= r
                    .sources
                    .iter()
                    .any(|s| narrow_prefix(s) && prefix_holds(s, point));
            }
            _ => reachable = false,
        }
    }
    (reachable, reachable && through_narrow)
}

fn prefix_holds(prefix: &AddressPrefix, point: &IpAddr) -> bool {
    match prefix {
        AddressPrefix::Network(n) => n.contains(*point),
        _ => false,
    }
}

fn check_fix<R: Fn(&Snapshot, &IpAddr, &PortSpec) -> (bool, bool)>(
    before: &Snapshot,
    after: &Snapshot,
    plan: &fix::Plan,
    vm: &str,
    points: &[IpAddr],
    reach: R,
) -> Result<(), TestCaseError> {
    let p = policy();
    let skipped = plan.skipped.iter().any(|s| s.resource == vm);
    prop_assert!(
        skipped || management_ports_closed(after, vm),
        "management ports still open and nothing skipped: {:#?}",
        plan
    );
    let other: Vec<PortSpec> = OTHER_PORTS.iter().map(|s| s.parse().unwrap()).collect();
    for point in points {
        for port in &other {
            prop_assert_eq!(
                reach(before, point, port).0,
                reach(after, point, port).0,
                "{} on {} changed",
                point,
                port
            );
        }
        for port in &p.management_ports {
            let (was, was_narrow) = reach(before, point, port);
            let (is, _) = reach(after, point, port);
            prop_assert!(was || !is, "{} on {} opened", point, port);
            prop_assert!(!was_narrow || is, "narrow {} on {} lost", point, port);
        }
    }
    Ok(())
}

fn check_azure_fix(
    subnet: Option<Vec<RuleSpec>>,
    nic: Option<Vec<RuleSpec>>,
    with_v6: bool,
    narrowing: bool,
) -> Result<(), TestCaseError> {
    let snapshot = azure_snapshot(subnet.as_deref(), nic.as_deref(), with_v6);
    let (after, plan) = quick_fix(&snapshot, narrowing);
    for change in &plan.changes {
        if let fix::plan::Change::Azure(c) = change {
            prop_assert!(!c.rule.starts_with("SecurityCenter-"), "{:?}", c);
        }
    }
    let points = probe_points(&[]);
    check_fix(
        &snapshot,
        &after,
        &plan,
        "/vm",
        &points,
        |s, point, port| azure_reach(s, point, port, with_v6),
    )
}

fn check_aws_fix(case: AwsCase, narrowing: bool) -> Result<(), TestCaseError> {
    let snapshot = aws_snapshot(&case);
    let (after, plan) = quick_fix(&snapshot, narrowing);
    let internet = &policy().internet;
    let lists = engine::prefix_lists(&snapshot.prefix_lists);
    let config = config();
    let reach = |s: &Snapshot, point: &IpAddr, port: &PortSpec| {
        let facing = if point.is_ipv4() {
            case.igw_v4
        } else {
            case.v6_target == Some("igw-1")
        };
        let groups: Vec<Vec<SgPermission>> = s
            .security_groups
            .iter()
            .map(|g| g.inbound.clone())
            .collect();
        let sources = sg_sources_reaching(&groups, point, port);
        let reachable = facing
            && internet.contains(point)
            && !sources.is_empty()
            && acl_allows(case.acl.as_deref(), point, port);
        let through_narrow = sources
            .iter()
            .any(|(_, source)| narrow(&engine::sg_source_addresses(&source.kind, &lists, &config)));
        (reachable, reachable && through_narrow)
    };
    check_fix(
        &snapshot,
        &after,
        &plan,
        "i-1",
        &probe_points(&resolved_list()),
        reach,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn azure_quick_fix_closes_only_broad_management_access(
        subnet in prop::option::weighted(0.6, prop::collection::vec(rule_spec(), 0..6)),
        nic in prop::option::weighted(0.8, prop::collection::vec(rule_spec(), 0..8)),
        with_v6 in any::<bool>(),
        narrowing in any::<bool>(),
    ) {
        check_azure_fix(subnet, nic, with_v6, narrowing)?;
    }

    #[test]
    fn aws_quick_fix_closes_only_broad_management_access(
        case in aws_case(),
        narrowing in any::<bool>(),
    ) {
        check_aws_fix(case, narrowing)?;
    }
}
