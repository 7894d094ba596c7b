//! The AWS part of a synthetic estate: accounts of VPCs whose subnets hold workloads of
//! instances, with security groups from a shared pool, network ACLs, route tables (the VPC's main
//! table or an explicit one) and prefix lists.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use rand::RngExt;
use rand::seq::IndexedRandom;

use super::{
    Outside, Params, Pool, Rng, any_v6, host, network, pick, public_v4, subnet_v4, v4, weighted,
};
use crate::model::{
    Access, IpConfig, NaclEntry, NetworkAcl, Nic, PrefixList, Protocol, Provider, Route,
    RouteTable, SecurityGroup, SgPermission, SgSource, SgSourceKind, Snapshot, Subnet, Vm,
};

const REGIONS: &[&str] = &[
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
];
const INSTANCES_PER_ACCOUNT: usize = 20_000;
/// Share of security groups that hold rules opening management ports broadly. An interface's
/// groups add up, so this exposes about a third of the internet-facing instances.
const SLOPPY_GROUPS: f64 = 0.2;
const SUBNETS_PER_VPC: usize = 16;
/// Hosts a /24 subnet can give out (AWS keeps the first four and the last address).
const HOSTS_PER_SUBNET: u32 = 250;

/// What a workload (a launch template, an auto-scaling group) does, and which share of its
/// instances get a public address when they run in a public subnet.
const ROLES: &[(&str, u32)] = &[
    ("web", 20),
    ("api", 15),
    ("app", 25),
    ("db", 10),
    ("bastion", 3),
    ("batch", 15),
    ("cache", 8),
];

#[derive(Clone, Copy, PartialEq)]
enum SubnetKind {
    /// Routes 0.0.0.0/0 and ::/0 to an internet gateway (through its explicit table, or through a
    /// main table that does).
    Public,
    /// Routes to a NAT gateway and an egress-only gateway: not reachable from the internet.
    Private,
    /// Local routes only.
    Isolated,
}

/// A VPC's explicit route tables and network ACLs, by index into the snapshot's lists.
struct Vpc {
    id: String,
    number: usize,
    account: String,
    region: &'static str,
    public_table: usize,
    private_table: usize,
    isolated_table: usize,
    default_acl: usize,
    custom_acl: usize,
    /// Security groups its workloads use, to share among later workloads.
    groups: Vec<usize>,
    subnets: usize,
}

/// The subnet being filled with workloads.
struct CurrentSubnet {
    id: String,
    kind: SubnetKind,
    cidr: IpNetwork,
    cidr_v6: Option<IpNetwork>,
    next_host: u32,
}

pub(super) fn generate(rng: &mut Rng, outside: &Outside, params: &Params, out: &mut Snapshot) {
    if params.vms == 0 && params.nsgs == 0 {
        return;
    }
    let accounts: Vec<String> = (0..params.vms.div_ceil(INSTANCES_PER_ACCOUNT).max(1))
        .map(|a| format!("{:012}", 210_987_654_321u64 + a as u64 * 1_000_003))
        .collect();
    let prefix_lists = prefix_lists(rng, outside, params.nsgs, out);
    let mut estate = Estate {
        rng,
        out,
        pool: Pool::new(params.nsgs),
        group_vpcs: vec![None; params.nsgs],
        vpcs: Vec::new(),
        subnets: 0,
        workloads: 0,
        instances: 0,
    };
    while estate.instances < params.vms {
        let mut subnet = estate.new_subnet(&accounts);
        for _ in 0..estate.rng.random_range(1..=7) {
            // A workload takes at most 38 addresses (19 instances of up to 2 interfaces).
            if estate.instances == params.vms || subnet.next_host > HOSTS_PER_SUBNET - 40 {
                break;
            }
            estate.workload(&mut subnet, params.vms);
        }
    }
    let Estate {
        rng,
        out,
        group_vpcs,
        vpcs,
        ..
    } = estate;
    let group_ids: Vec<String> = (0..params.nsgs).map(group_id).collect();
    for (index, vpc) in group_vpcs.iter().enumerate() {
        let vpc = vpc.or_else(|| (!vpcs.is_empty()).then(|| index % vpcs.len()));
        let context = GroupContext {
            outside,
            vpc: vpc.map(|v| &vpcs[v]),
            prefix_lists: &prefix_lists,
            group_ids: &group_ids,
        };
        let group = security_group(rng, &context, index, params.rules_per_nsg);
        out.security_groups.push(group);
    }
}

/// `10.{number}.0.0/16`: VPCs reuse the private ranges, as real ones do.
fn vpc_cidr(number: usize) -> IpNetwork {
    network(IpAddr::V4([10, (number % 256) as u8, 0, 0].into()), 16)
}

fn group_id(index: usize) -> String {
    format!("sg-{index:017x}")
}

/// The customer-managed prefix lists security groups name (with their entries), and one
/// AWS-managed list whose entries were not exported.
struct PrefixLists {
    resolved: Vec<String>,
    unresolved: String,
}

fn prefix_lists(
    rng: &mut Rng,
    outside: &Outside,
    groups: usize,
    out: &mut Snapshot,
) -> PrefixLists {
    let resolved: Vec<String> = (0..(groups / 200).clamp(2, 50))
        .map(|number| {
            let id = format!("pl-{number:017x}");
            let count = rng.random_range(2..=20);
            // A prefix list holds each entry once.
            let entries: BTreeSet<IpNetwork> = (0..count)
                .map(|_| {
                    if rng.random_bool(0.3) {
                        pick(rng, &outside.offices)
                    } else {
                        pick(rng, &outside.admins)
                    }
                })
                .collect();
            out.prefix_lists.push(PrefixList {
                id: id.clone(),
                name: format!("corp-ranges-{number:02}"),
                entries: Some(entries.into_iter().collect()),
            });
            id
        })
        .collect();
    let unresolved = "pl-3b927c52".to_string();
    out.prefix_lists.push(PrefixList {
        id: unresolved.clone(),
        name: "com.amazonaws.global.cloudfront.origin-facing".to_string(),
        entries: None,
    });
    PrefixLists {
        resolved,
        unresolved,
    }
}

/// The estate being laid out: VPCs, subnets, workloads, instances.
struct Estate<'a> {
    rng: &'a mut Rng,
    out: &'a mut Snapshot,
    pool: Pool,
    /// The VPC of each security group of the pool: that of the first workload using it.
    group_vpcs: Vec<Option<usize>>,
    vpcs: Vec<Vpc>,
    subnets: usize,
    workloads: usize,
    instances: usize,
}

impl Estate<'_> {
    fn new_vpc(&mut self, accounts: &[String]) {
        let number = self.vpcs.len();
        let id = format!("vpc-{number:017x}");
        let cidr = vpc_cidr(number);
        let igw = format!("igw-{number:017x}");
        let local = Route {
            destination: cidr,
            target: "local".to_string(),
            active: true,
        };
        let default_v4 = v4(0, 0);
        let default_v6 = any_v6();
        let route = |destination, target: &str| Route {
            destination,
            target: target.to_string(),
            active: true,
        };
        let to_internet = vec![
            local.clone(),
            route(default_v4, &igw),
            route(default_v6, &igw),
        ];
        let to_nat = vec![
            local.clone(),
            route(default_v4, &format!("nat-{number:017x}")),
            route(default_v6, &format!("eigw-{number:017x}")),
        ];
        let mut isolated = vec![local];
        if self.rng.random_bool(0.3) {
            // The internet gateway was detached: a route left behind, inactive.
            isolated.push(Route {
                active: false,
                ..route(default_v4, &igw)
            });
        }
        // Most VPCs keep the main table private; lazy ones route it to the internet.
        let main_routes = if self.rng.random_bool(0.2) {
            to_internet.clone()
        } else {
            to_nat.clone()
        };
        let mut table = |main: bool, routes: Vec<Route>| {
            let index = self.out.route_tables.len();
            self.out.route_tables.push(RouteTable {
                id: format!("rtb-{index:017x}"),
                vpc_id: Some(id.clone()),
                main,
                subnet_ids: Vec::new(),
                routes,
            });
            index
        };
        table(true, main_routes);
        let public_table = table(false, to_internet);
        let private_table = table(false, to_nat);
        let isolated_table = table(false, isolated);
        let default_acl = self.out.network_acls.len();
        self.out
            .network_acls
            .push(default_network_acl(default_acl, &id));
        let custom_acl = self.out.network_acls.len();
        let entries = custom_acl_entries(self.rng);
        self.out.network_acls.push(NetworkAcl {
            id: format!("acl-{custom_acl:017x}"),
            vpc_id: Some(id.clone()),
            is_default: false,
            subnet_ids: Vec::new(),
            entries,
            origin: None,
        });
        self.vpcs.push(Vpc {
            id,
            number,
            account: accounts[number % accounts.len()].clone(),
            region: pick(self.rng, REGIONS),
            public_table,
            private_table,
            isolated_table,
            default_acl,
            custom_acl,
            groups: Vec::new(),
            subnets: 0,
        });
    }

    fn new_subnet(&mut self, accounts: &[String]) -> CurrentSubnet {
        if self
            .vpcs
            .last()
            .is_none_or(|vpc| vpc.subnets == SUBNETS_PER_VPC)
        {
            self.new_vpc(accounts);
        }
        let kind = weighted(
            self.rng,
            &[
                (SubnetKind::Public, 45),
                (SubnetKind::Private, 45),
                (SubnetKind::Isolated, 10),
            ],
        );
        let dual_stack = kind != SubnetKind::Isolated && self.rng.random_bool(0.15);
        let explicit_table = match kind {
            SubnetKind::Public => self.rng.random_bool(0.85),
            SubnetKind::Private => self.rng.random_bool(0.5),
            SubnetKind::Isolated => true,
        };
        let custom_acl = kind == SubnetKind::Public && self.rng.random_bool(0.5);
        let id = format!("subnet-{:017x}", self.subnets);
        self.subnets += 1;
        let vpc = self.vpcs.last_mut().expect("a VPC was made above");
        let index = vpc.subnets;
        vpc.subnets += 1;
        let cidr = subnet_v4(vpc.number, index);
        let cidr_v6 = dual_stack.then(|| {
            let address = (0x2600_1f18u128 << 96)
                | ((vpc.number as u128 & 0xffff) << 72)
                | ((index as u128) << 64);
            network(IpAddr::from(address.to_be_bytes()), 64)
        });
        if explicit_table {
            let table = match kind {
                SubnetKind::Public => vpc.public_table,
                SubnetKind::Private => vpc.private_table,
                SubnetKind::Isolated => vpc.isolated_table,
            };
            self.out.route_tables[table].subnet_ids.push(id.clone());
        }
        let acl = if custom_acl {
            vpc.custom_acl
        } else {
            vpc.default_acl
        };
        self.out.network_acls[acl].subnet_ids.push(id.clone());
        let name = match kind {
            SubnetKind::Public => "public",
            SubnetKind::Private => "private",
            SubnetKind::Isolated => "isolated",
        };
        self.out.subnets.push(Subnet {
            id: id.clone(),
            name: format!("{name}-{index:02}"),
            provider: Provider::Aws,
            network_id: Some(vpc.id.clone()),
            nsg_id: None,
            cidrs: [Some(cidr), cidr_v6].into_iter().flatten().collect(),
        });
        CurrentSubnet {
            id,
            kind,
            cidr,
            cidr_v6,
            next_host: 4,
        }
    }

    /// Adds a workload of about ten instances to `subnet`: its own security group from the pool,
    /// and often one or two that earlier workloads of the VPC use (bastion access, monitoring).
    fn workload(&mut self, subnet: &mut CurrentSubnet, total: usize) {
        let role = weighted(self.rng, ROLES);
        let number = self.workloads;
        self.workloads += 1;
        let vpc_index = self.vpcs.len() - 1;
        let mut groups: Vec<usize> = self.pool.take().into_iter().collect();
        for &group in &groups {
            self.group_vpcs[group].get_or_insert(vpc_index);
        }
        let vpc = &mut self.vpcs[vpc_index];
        for chance in [0.4, 0.15] {
            let shared = vpc.groups.choose(self.rng).copied();
            if let Some(shared) =
                shared.filter(|g| self.rng.random_bool(chance) && !groups.contains(g))
            {
                groups.push(shared);
            }
        }
        vpc.groups.extend(groups.first().copied());
        let group_ids: Vec<String> = groups.iter().map(|&g| group_id(g)).collect();
        let account = vpc.account.clone();
        let region = vpc.region;
        let size = self.rng.random_range(1..=19).min(total - self.instances);
        for instance_number in 0..size {
            let id = format!("i-{:017x}", self.instances);
            let running = self.rng.random_bool(0.9);
            // AWS releases an auto-assigned public address when the instance stops.
            let public = running
                && match subnet.kind {
                    SubnetKind::Public => self.rng.random_bool(0.85),
                    // A public address where no route leads to an internet gateway.
                    SubnetKind::Private => self.rng.random_bool(0.01),
                    SubnetKind::Isolated => false,
                };
            let interfaces = if self.rng.random_bool(0.05) { 2 } else { 1 };
            let mut nic_ids = Vec::new();
            for interface in 0..interfaces {
                let nic_id = format!("eni-{:017x}", self.out.nics.len());
                let ip_configs = self.ip_configs(subnet, public && interface == 0);
                self.out.nics.push(Nic {
                    id: nic_id.clone(),
                    name: nic_id.clone(),
                    provider: Provider::Aws,
                    vm_id: Some(id.clone()),
                    subnet_id: Some(subnet.id.clone()),
                    nsg_id: None,
                    security_group_ids: group_ids.clone(),
                    ip_configs,
                    origin: None,
                });
                nic_ids.push(nic_id);
            }
            let name = format!("{role}-{number:05}-{instance_number:02}");
            let env = weighted(self.rng, &[("prod", 50), ("staging", 30), ("dev", 20)]);
            let tags = BTreeMap::from([
                ("Name".to_string(), name.clone()),
                ("env".to_string(), env.to_string()),
                (
                    "team".to_string(),
                    format!("team-{:02}", self.rng.random_range(1..=40)),
                ),
            ]);
            self.out.vms.push(Vm {
                id,
                name,
                provider: Provider::Aws,
                scope: account.clone(),
                region: Some(region.to_string()),
                power_state: Some(if running { "running" } else { "stopped" }.to_string()),
                nic_ids,
                tags,
                origin: None,
            });
            self.instances += 1;
        }
    }

    /// An interface's addresses: a private IPv4 with its public association when `public`, and
    /// in dual-stack subnets mostly a global IPv6 address.
    fn ip_configs(&mut self, subnet: &mut CurrentSubnet, public: bool) -> Vec<IpConfig> {
        let host_number = subnet.next_host;
        subnet.next_host += 1;
        let mut configs = vec![IpConfig {
            private_ip: Some(host(&subnet.cidr, host_number)),
            public_ip: public.then(|| public_v4(self.rng, 32..=32).ip()),
            ..IpConfig::default()
        }];
        if let Some(cidr_v6) = subnet.cidr_v6.filter(|_| self.rng.random_bool(0.6)) {
            let address = host(&cidr_v6, host_number);
            configs.push(IpConfig {
                private_ip: Some(address),
                public_ip: Some(address),
                ..IpConfig::default()
            });
        }
        configs
    }
}

fn nacl_entry(
    rule_number: u32,
    access: Access,
    protocol: Protocol,
    cidr: IpNetwork,
    ports: Option<&str>,
) -> NaclEntry {
    NaclEntry {
        rule_number,
        egress: false,
        access,
        protocol,
        cidr,
        ports: ports.and_then(|p| p.parse().ok()),
        origin: None,
    }
}

/// Inbound and outbound entries that deny what no other entry allows (rule `*`, 32767).
fn closing_entries() -> Vec<NaclEntry> {
    let any_v6 = any_v6();
    let mut entries = Vec::new();
    for egress in [false, true] {
        for cidr in [v4(0, 0), any_v6] {
            entries.push(NaclEntry {
                egress,
                ..nacl_entry(32767, Access::Deny, Protocol::Any, cidr, None)
            });
        }
    }
    entries
}

/// A VPC's default network ACL: everything in and out.
fn default_network_acl(index: usize, vpc_id: &str) -> NetworkAcl {
    let any_v6 = any_v6();
    let mut entries = Vec::new();
    for egress in [false, true] {
        entries.push(NaclEntry {
            egress,
            ..nacl_entry(100, Access::Allow, Protocol::Any, v4(0, 0), None)
        });
        entries.push(NaclEntry {
            egress,
            ..nacl_entry(101, Access::Allow, Protocol::Any, any_v6, None)
        });
    }
    entries.extend(closing_entries());
    NetworkAcl {
        id: format!("acl-{index:017x}"),
        vpc_id: Some(vpc_id.to_string()),
        is_default: true,
        subnet_ids: Vec::new(),
        entries,
        origin: None,
    }
}

/// A public subnets' network ACL: blocked ranges first, web and office management traffic, the
/// ephemeral ports (which let in every management port above 1024), the VPC's own addresses.
fn custom_acl_entries(rng: &mut Rng) -> Vec<NaclEntry> {
    let any_v4 = v4(0, 0);
    let any_v6 = any_v6();
    let tcp = Protocol::TCP;
    let mut entries: Vec<NaclEntry> = (0..rng.random_range(0..4))
        .map(|n| {
            nacl_entry(
                50 + n,
                Access::Deny,
                Protocol::Any,
                public_v4(rng, 8..=16),
                None,
            )
        })
        .collect();
    let management_source = if rng.random_bool(0.2) {
        any_v4
    } else {
        public_v4(rng, 24..=28)
    };
    entries.extend([
        nacl_entry(100, Access::Allow, tcp, any_v4, Some("443")),
        nacl_entry(110, Access::Allow, tcp, any_v4, Some("80")),
        nacl_entry(120, Access::Allow, tcp, management_source, Some("22")),
        nacl_entry(130, Access::Allow, tcp, management_source, Some("3389")),
        nacl_entry(140, Access::Allow, tcp, any_v4, Some("1024-65535")),
        nacl_entry(
            150,
            Access::Allow,
            Protocol::UDP,
            any_v4,
            Some("1024-65535"),
        ),
        nacl_entry(160, Access::Allow, Protocol::Any, v4(10, 8), None),
        nacl_entry(170, Access::Allow, tcp, any_v6, Some("443")),
        NaclEntry {
            egress: true,
            ..nacl_entry(100, Access::Allow, Protocol::Any, any_v4, None)
        },
    ]);
    entries.extend(closing_entries());
    entries
}

/// What one security group rule is for; each appears about as often as its weight says.
#[derive(Clone, Copy, Debug)]
enum Purpose {
    /// HTTP or HTTPS from anywhere, IPv4 and often IPv6.
    Web,
    /// SSH, RDP or WinRM from office ranges or an administrator's address.
    ManagementFromOffice,
    /// SSH or RDP from anywhere: what the recommendations flag.
    ManagementFromAnywhere,
    /// A short-lived grant whose description marks it as just-in-time access.
    Jit,
    PrefixList,
    /// From another security group: internal.
    GroupReference,
    /// From the private ranges.
    Internal,
    /// A partner's network to a range of ports, which may cover management ports.
    Partner,
    Udp,
    Icmp,
    /// All traffic from the VPC or, rarely, from anywhere.
    AllTraffic,
    AllTrafficFromAnywhere,
    /// Every TCP port from a partner.
    AllPorts,
}

/// Weights in thousandths.
const PURPOSES: &[(Purpose, u32)] = &[
    (Purpose::Web, 150),
    (Purpose::ManagementFromOffice, 120),
    (Purpose::ManagementFromAnywhere, 4),
    (Purpose::Jit, 30),
    (Purpose::PrefixList, 60),
    (Purpose::GroupReference, 120),
    (Purpose::Internal, 170),
    (Purpose::Partner, 60),
    (Purpose::Udp, 50),
    (Purpose::Icmp, 30),
    (Purpose::AllTraffic, 40),
    (Purpose::AllTrafficFromAnywhere, 1),
    (Purpose::AllPorts, 20),
];

/// What a security group's rules can name.
struct GroupContext<'a> {
    outside: &'a Outside,
    vpc: Option<&'a Vpc>,
    prefix_lists: &'a PrefixLists,
    group_ids: &'a [String],
}

fn security_group(
    rng: &mut Rng,
    context: &GroupContext,
    index: usize,
    rules: usize,
) -> SecurityGroup {
    let mut inbound = Vec::new();
    let mut left = rules;
    let sloppy = rng.random_bool(SLOPPY_GROUPS);
    while left > 0 {
        let purpose = match weighted(rng, PURPOSES) {
            Purpose::ManagementFromAnywhere if !sloppy => Purpose::ManagementFromOffice,
            Purpose::AllTrafficFromAnywhere if !sloppy => Purpose::AllTraffic,
            purpose => purpose,
        };
        let mut permission = sg_permission(rng, context, purpose, sloppy);
        permission.sources.truncate(left);
        left -= permission.sources.len();
        inbound.push(permission);
    }
    SecurityGroup {
        id: group_id(index),
        name: format!("sg-{index:05}"),
        vpc_id: context.vpc.map(|v| v.id.clone()),
        inbound,
        origin: None,
    }
}

fn cidr_source(cidr: IpNetwork, description: Option<String>) -> SgSource {
    SgSource {
        kind: SgSourceKind::Cidr(cidr),
        description,
        rule_id: None,
    }
}

fn sg_permission(
    rng: &mut Rng,
    context: &GroupContext,
    purpose: Purpose,
    sloppy: bool,
) -> SgPermission {
    let outside = context.outside;
    let anywhere = || cidr_source(v4(0, 0), None);
    let described = |cidr, description: &str| cidr_source(cidr, Some(description.to_string()));
    let group = |id, description: Option<&str>| SgSource {
        kind: SgSourceKind::Group(id),
        description: description.map(str::to_string),
        rule_id: None,
    };
    // (protocol, ports as `N` or `N-M`, or "" for all, sources)
    let (protocol, ports, sources) = match purpose {
        Purpose::Web => {
            let mut sources = vec![anywhere()];
            if rng.random_bool(0.5) {
                sources.push(cidr_source(any_v6(), None));
            }
            (Protocol::TCP, pick(rng, &["443", "80", "8443"]), sources)
        }
        Purpose::ManagementFromOffice => {
            let sources = if rng.random_bool(0.7) {
                let offices = outside.some_offices(rng);
                offices
                    .into_iter()
                    .map(|o| described(o, "office"))
                    .collect()
            } else {
                vec![described(pick(rng, &outside.admins), "admin home")]
            };
            (
                Protocol::TCP,
                pick(rng, &["22", "3389", "5985-5986"]),
                sources,
            )
        }
        Purpose::ManagementFromAnywhere => {
            let sources = if rng.random_bool(0.7) {
                vec![anywhere()]
            } else {
                // The two halves of the IPv4 space: as open as 0.0.0.0/0.
                vec![cidr_source(v4(0, 1), None), cidr_source(v4(128, 1), None)]
            };
            (Protocol::TCP, pick(rng, &["22", "3389"]), sources)
        }
        Purpose::Jit => {
            let ticket: u32 = rng.random_range(1000..100_000);
            let description = format!("portcullis-jit-REQ-{ticket}");
            let source = described(pick(rng, &outside.admins), &description);
            (Protocol::TCP, pick(rng, &["22", "3389"]), vec![source])
        }
        Purpose::PrefixList => {
            let list = match context.prefix_lists.resolved.choose(rng) {
                // A list whose entries were not exported counts as the whole internet.
                Some(list) if !sloppy || rng.random_bool(0.9) => list.clone(),
                _ => context.prefix_lists.unresolved.clone(),
            };
            let source = SgSource {
                kind: SgSourceKind::PrefixList(list),
                description: Some("corporate ranges".to_string()),
                rule_id: None,
            };
            (
                Protocol::TCP,
                pick(rng, &["443", "22", "1433"]),
                vec![source],
            )
        }
        Purpose::GroupReference => {
            let ports = pick(rng, &["8080", "5432", "6379", "22", "3389", "8000-8999"]);
            let source = group(pick(rng, context.group_ids), None);
            (Protocol::TCP, ports, vec![source])
        }
        Purpose::Internal => {
            let ports = pick(rng, &["8080", "8000-8999", "1433", "5432", "22", "0-65535"]);
            let cidr = match context.vpc {
                Some(vpc) if rng.random_bool(0.6) => vpc_cidr(vpc.number),
                _ => v4(10, 8),
            };
            (Protocol::TCP, ports, vec![cidr_source(cidr, None)])
        }
        Purpose::Partner => {
            let ports = pick(rng, &["20-25", "1000-2000", "1433", "1024-65535", "21"]);
            let source = described(outside.partner(rng, sloppy), "partner");
            (Protocol::TCP, ports, vec![source])
        }
        Purpose::Udp => {
            let ports = pick(rng, &["53", "123", "500", "4500", "3389", "389"]);
            let source = if sloppy && rng.random_bool(0.5) {
                anywhere()
            } else {
                cidr_source(pick(rng, &outside.offices), None)
            };
            (Protocol::UDP, ports, vec![source])
        }
        Purpose::Icmp => (Protocol::Number(1), "", vec![anywhere()]),
        Purpose::AllTraffic => {
            let source = match context.vpc {
                Some(vpc) if rng.random_bool(0.5) => cidr_source(vpc_cidr(vpc.number), None),
                _ => group(pick(rng, context.group_ids), Some("same tier")),
            };
            (Protocol::Any, "", vec![source])
        }
        Purpose::AllTrafficFromAnywhere => (Protocol::Any, "", vec![anywhere()]),
        Purpose::AllPorts => {
            let source = cidr_source(outside.partner(rng, sloppy), None);
            (Protocol::TCP, "0-65535", vec![source])
        }
    };
    SgPermission {
        protocol,
        ports: Some(ports)
            .filter(|p| !p.is_empty())
            .and_then(|p| p.parse().ok()),
        sources,
        origin: None,
    }
}
