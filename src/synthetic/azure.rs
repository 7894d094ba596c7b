//! The Azure part of a synthetic estate: subscriptions of virtual networks whose subnets hold
//! workloads of VMs, with NSGs on subnets and NICs, public IPs and application security groups.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use rand::RngExt;
use rand::seq::IndexedRandom;

use super::{
    Outside, Params, Pool, Rng, host, network, pick, public_v4, public_v6, single, v4, weighted,
};
use crate::addrset::Family;
use crate::engine::standard_default_rules;
use crate::model::{
    Access, AddressPrefix, AppSecurityGroup, Direction, IpConfig, Nic, Nsg, NsgRule, PortRange,
    Protocol, Provider, PublicIp, Snapshot, Subnet, Vm,
};

const REGIONS: &[&str] = &[
    "westeurope",
    "northeurope",
    "eastus",
    "eastus2",
    "westus2",
    "uksouth",
    "germanywestcentral",
    "southeastasia",
];
const VMS_PER_SUBSCRIPTION: usize = 20_000;
/// Share of NSGs that hold rules opening management ports broadly. A VM is exposed only when
/// every NSG on its path is sloppy (or absent), which makes about one internet-facing VM in six.
const SLOPPY_NSGS: f64 = 0.3;
const SUBNETS_PER_VNET: usize = 16;
/// Hosts a /24 subnet can give out (Azure keeps the first four and the last address).
const HOSTS_PER_SUBNET: u32 = 250;

/// What a workload does, and how many of its VMs have a public IP.
#[derive(Clone, Copy)]
struct Role {
    name: &'static str,
    public: f64,
}

const ROLES: &[(Role, u32)] = &[
    (role("web", 0.8), 20),
    (role("api", 0.4), 15),
    (role("app", 0.05), 25),
    (role("db", 0.02), 10),
    (role("jump", 1.0), 3),
    (role("dc", 0.0), 2),
    (role("batch", 0.1), 15),
    (role("ftp", 0.9), 2),
    (role("cache", 0.0), 8),
];

const fn role(name: &'static str, public: f64) -> Role {
    Role { name, public }
}

/// Where an NSG sits and which destinations its rules can name: the addresses, subnets and
/// application security groups of the NICs behind it.
#[derive(Default)]
struct Behind {
    home: Option<Home>,
    addresses: Vec<IpAddr>,
    subnets: Vec<IpNetwork>,
    asgs: Vec<String>,
}

/// Subscription, resource group and region of a resource.
#[derive(Clone)]
struct Home {
    subscription: String,
    resource_group: String,
    region: &'static str,
}

impl Home {
    fn id(&self, kind: &str, name: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{kind}/{name}",
            self.subscription, self.resource_group
        )
    }
}

/// The subnet being filled with workloads.
struct CurrentSubnet {
    id: String,
    cidr: IpNetwork,
    cidr_v6: Option<IpNetwork>,
    nsg: Option<usize>,
    next_host: u32,
}

pub(super) fn generate(rng: &mut Rng, outside: &Outside, params: &Params, out: &mut Snapshot) {
    if params.vms == 0 && params.nsgs == 0 {
        return;
    }
    let subscriptions: Vec<String> = (0..params.vms.div_ceil(VMS_PER_SUBSCRIPTION).max(1))
        .map(|s| format!("{:08x}-5e7d-4c1a-9b3f-{:012x}", params.seed as u32, s))
        .collect();
    let mut behind: Vec<Behind> = (0..params.nsgs).map(|_| Behind::default()).collect();
    let mut pool = Pool::new(params.nsgs);
    let mut estate = Estate {
        rng,
        out,
        behind: &mut behind,
        pool: &mut pool,
        vnets: 0,
        subnets_in_vnet: SUBNETS_PER_VNET,
        vnet_home: None,
        workloads: 0,
        vms: 0,
    };
    while estate.vms < params.vms {
        let mut subnet = estate.new_subnet(&subscriptions);
        for _ in 0..estate.rng.random_range(1..=7) {
            // A workload takes at most 38 addresses (19 VMs of up to 2 NICs).
            if estate.vms == params.vms || subnet.next_host > HOSTS_PER_SUBNET - 40 {
                break;
            }
            estate.workload(&mut subnet, params.vms);
        }
    }
    for (index, behind) in behind.iter().enumerate() {
        let home = behind.home.clone().unwrap_or_else(|| Home {
            subscription: subscriptions[index % subscriptions.len()].clone(),
            resource_group: "rg-unused-nsgs".to_string(),
            region: REGIONS[index % REGIONS.len()],
        });
        let nsg = nsg(rng, outside, index, &home, behind, params.rules_per_nsg);
        out.nsgs.push(nsg);
    }
}

/// The estate being laid out: VNets, subnets, workloads, VMs.
struct Estate<'a> {
    rng: &'a mut Rng,
    out: &'a mut Snapshot,
    behind: &'a mut [Behind],
    pool: &'a mut Pool,
    vnets: usize,
    subnets_in_vnet: usize,
    vnet_home: Option<(Home, String)>,
    workloads: usize,
    vms: usize,
}

impl Estate<'_> {
    fn new_subnet(&mut self, subscriptions: &[String]) -> CurrentSubnet {
        if self.subnets_in_vnet == SUBNETS_PER_VNET || self.vnet_home.is_none() {
            let home = Home {
                subscription: subscriptions[self.vnets % subscriptions.len()].clone(),
                resource_group: format!("rg-network-{:04}", self.vnets),
                region: pick(self.rng, REGIONS),
            };
            let vnet_id = home.id(
                "Microsoft.Network/virtualNetworks",
                &format!("vnet-{:04}", self.vnets),
            );
            self.vnet_home = Some((home, vnet_id));
            self.vnets += 1;
            self.subnets_in_vnet = 0;
        }
        let (home, vnet_id) = self.vnet_home.clone().expect("set above");
        let index = self.subnets_in_vnet;
        self.subnets_in_vnet += 1;
        let cidr = super::subnet_v4(self.vnets - 1, index);
        let cidr_v6 = self.rng.random_bool(0.1).then(|| {
            let address = (0xfd00u128 << 112)
                | ((self.vnets as u128 & 0xffff) << 80)
                | ((index as u128) << 64);
            network(IpAddr::from(address.to_be_bytes()), 64)
        });
        let nsg = if self.rng.random_bool(0.75) {
            self.pool.take()
        } else {
            None
        };
        let name = format!("snet-{index:02}");
        let id = format!("{vnet_id}/subnets/{name}");
        let nsg_id = nsg.map(|n| self.attach(n, &home));
        if let Some(nsg) = nsg {
            self.behind[nsg].subnets.push(cidr);
        }
        self.out.subnets.push(Subnet {
            id: id.clone(),
            name,
            provider: Provider::Azure,
            network_id: Some(vnet_id),
            nsg_id,
            cidrs: [Some(cidr), cidr_v6].into_iter().flatten().collect(),
        });
        CurrentSubnet {
            id,
            cidr,
            cidr_v6,
            nsg,
            next_host: 4,
        }
    }

    /// Attaches an NSG to something in `home` and returns its id. An NSG lives in the
    /// subscription and region of the first thing it is attached to.
    fn attach(&mut self, nsg: usize, home: &Home) -> String {
        let home = self.behind[nsg].home.get_or_insert_with(|| Home {
            resource_group: format!("rg-security-{:04}", nsg / 100),
            ..home.clone()
        });
        nsg_id(home, nsg)
    }

    /// Adds a workload of about ten VMs to `subnet`.
    fn workload(&mut self, subnet: &mut CurrentSubnet, total_vms: usize) {
        let role = weighted(self.rng, ROLES);
        let index = self.workloads;
        self.workloads += 1;
        let (vnet_home, _) = self.vnet_home.clone().expect("a subnet exists");
        let home = Home {
            resource_group: format!("rg-{}-{index:05}", role.name),
            ..vnet_home
        };
        let size = self.rng.random_range(1..=19).min(total_vms - self.vms);
        let nic_nsg_chance = if subnet.nsg.is_some() { 0.8 } else { 0.95 };
        let nic_nsg = if self.rng.random_bool(nic_nsg_chance) {
            self.pool.take()
        } else {
            None
        };
        let nic_nsg_id = nic_nsg.map(|n| self.attach(n, &home));
        let asg = self.rng.random_bool(0.4).then(|| {
            let name = format!("asg-{}-{index:05}", role.name);
            let id = home.id("Microsoft.Network/applicationSecurityGroups", &name);
            self.out.app_security_groups.push(AppSecurityGroup {
                id: id.clone(),
                name,
            });
            id
        });
        let mut addresses = Vec::new();
        for vm_number in 0..size {
            let name = format!("{}-{index:05}-{vm_number:02}", role.name);
            let vm_id = home.id("Microsoft.Compute/virtualMachines", &name);
            let nic_count = if self.rng.random_bool(0.05) { 2 } else { 1 };
            let mut nic_ids = Vec::new();
            for nic_number in 0..nic_count {
                let nic_name = format!("{name}-nic{nic_number}");
                let nic_id = home.id("Microsoft.Network/networkInterfaces", &nic_name);
                // Only the first NIC of a VM faces the internet.
                let public = nic_number == 0 && self.rng.random_bool(role.public);
                let ip_configs = self.ip_configs(&home, &nic_name, subnet, public, asg.as_deref());
                addresses.extend(ip_configs.iter().filter_map(|c| c.private_ip));
                self.out.nics.push(Nic {
                    id: nic_id.clone(),
                    name: nic_name,
                    provider: Provider::Azure,
                    vm_id: Some(vm_id.clone()),
                    subnet_id: Some(subnet.id.clone()),
                    nsg_id: nic_nsg_id.clone(),
                    security_group_ids: Vec::new(),
                    ip_configs,
                    origin: None,
                });
                nic_ids.push(nic_id);
            }
            self.out.vms.push(Vm {
                id: vm_id,
                name,
                provider: Provider::Azure,
                scope: home.subscription.clone(),
                region: Some(home.region.to_string()),
                power_state: Some(power_state(self.rng).to_string()),
                nic_ids,
                tags: tags(self.rng, role.name),
                origin: None,
            });
            self.vms += 1;
        }
        for nsg in [subnet.nsg, nic_nsg].into_iter().flatten() {
            let behind = &mut self.behind[nsg];
            behind.addresses.extend_from_slice(&addresses);
            behind.asgs.extend(asg.clone());
        }
        if let Some(nsg) = nic_nsg {
            self.behind[nsg].subnets.push(subnet.cidr);
        }
    }

    /// A NIC's ip configurations: a private IPv4 address, with a public IP when `public`, and in
    /// dual-stack subnets now and then a second, IPv6 configuration with a public IPv6 address.
    fn ip_configs(
        &mut self,
        home: &Home,
        nic_name: &str,
        subnet: &mut CurrentSubnet,
        public: bool,
        asg: Option<&str>,
    ) -> Vec<IpConfig> {
        let host_number = subnet.next_host;
        subnet.next_host += 1;
        let asgs: Vec<String> = asg.into_iter().map(str::to_string).collect();
        let mut configs = vec![IpConfig {
            name: Some("ipconfig1".to_string()),
            private_ip: Some(host(&subnet.cidr, host_number)),
            public_ip_id: public.then(|| self.public_ip(home, nic_name, Family::V4)),
            public_ip: None,
            app_security_group_ids: asgs.clone(),
        }];
        if let Some(cidr_v6) = subnet
            .cidr_v6
            .filter(|_| public && self.rng.random_bool(0.3))
        {
            configs.push(IpConfig {
                name: Some("ipconfig-v6".to_string()),
                private_ip: Some(host(&cidr_v6, host_number)),
                public_ip_id: Some(self.public_ip(home, nic_name, Family::V6)),
                public_ip: None,
                app_security_group_ids: asgs,
            });
        }
        configs
    }

    /// Adds a public IP resource and returns its id. Now and then a dynamic one of a
    /// deallocated VM has no address.
    fn public_ip(&mut self, home: &Home, nic_name: &str, family: Family) -> String {
        let name = match family {
            Family::V4 => format!("{nic_name}-pip"),
            Family::V6 => format!("{nic_name}-pip6"),
        };
        let id = home.id("Microsoft.Network/publicIPAddresses", &name);
        let address = self.rng.random_bool(0.98).then(|| match family {
            Family::V4 => public_v4(self.rng, 32..=32).ip(),
            Family::V6 => public_v6(self.rng, 128).ip(),
        });
        self.out.public_ips.push(PublicIp {
            id: id.clone(),
            name,
            family,
            address,
        });
        id
    }
}

fn nsg_id(home: &Home, index: usize) -> String {
    home.id(
        "Microsoft.Network/networkSecurityGroups",
        &format!("nsg-{index:05}"),
    )
}

fn power_state(rng: &mut Rng) -> &'static str {
    weighted(rng, &[("running", 90), ("deallocated", 8), ("stopped", 2)])
}

fn tags(rng: &mut Rng, role: &str) -> BTreeMap<String, String> {
    let env = weighted(rng, &[("prod", 50), ("test", 30), ("dev", 20)]);
    BTreeMap::from([
        ("env".to_string(), env.to_string()),
        ("role".to_string(), role.to_string()),
        (
            "owner".to_string(),
            format!("team-{:02}", rng.random_range(1..=40)),
        ),
    ])
}

/// What a custom rule is for; each purpose appears about as often as its weight says.
#[derive(Clone, Copy, Debug)]
enum Purpose {
    /// Allow HTTP and HTTPS from `*` or `Internet`.
    Web,
    /// Allow SSH, RDP or WinRM from office ranges or an administrator's address.
    ManagementFromOffice,
    /// Allow SSH or RDP from anywhere: what the recommendations flag.
    ManagementFromAnywhere,
    /// A just-in-time grant: one address to one NIC's management port.
    Jit,
    /// Allow from an Azure service tag.
    ServiceTag,
    /// Allow application ports from inside the VNet.
    Internal,
    /// Allow a partner's network to a range of ports, which may cover management ports.
    Partner,
    /// Deny blocked ranges on every port.
    Blocklist,
    /// Deny management ports from the internet.
    DenyManagement,
    /// Allow UDP services.
    Udp,
    Icmp,
    /// Allow every protocol from a partner or office.
    AnyProtocol,
    /// A rule restricted to some source ports.
    SourcePorts,
    Outbound,
}

/// Weights in thousandths.
const PURPOSES: &[(Purpose, u32)] = &[
    (Purpose::Web, 140),
    (Purpose::ManagementFromOffice, 110),
    (Purpose::ManagementFromAnywhere, 4),
    (Purpose::Jit, 30),
    (Purpose::ServiceTag, 80),
    (Purpose::Internal, 170),
    (Purpose::Partner, 60),
    (Purpose::Blocklist, 60),
    (Purpose::DenyManagement, 40),
    (Purpose::Udp, 50),
    (Purpose::Icmp, 30),
    (Purpose::AnyProtocol, 16),
    (Purpose::SourcePorts, 40),
    (Purpose::Outbound, 170),
];

const SERVICE_TAGS: &[&str] = &[
    "AzureCloud",
    "AzureCloud.westeurope",
    "GatewayManager",
    "AzureFrontDoor.Backend",
    "Storage",
    "AzureMonitor",
    "ApiManagement",
];

fn nsg(
    rng: &mut Rng,
    outside: &Outside,
    index: usize,
    home: &Home,
    behind: &Behind,
    rules: usize,
) -> Nsg {
    let id = nsg_id(home, index);
    // Unique priorities, increasing with random gaps: within Azure's 100..=4096 for up to 3,996
    // rules (Azure allows 1,000).
    let widest_gap = ((4096 - 100) / rules.max(1)).max(1) as u32;
    let mut priority = 100;
    let sloppy = rng.random_bool(SLOPPY_NSGS);
    let rules = (0..rules)
        .map(|number| {
            let purpose = match weighted(rng, PURPOSES) {
                Purpose::ManagementFromAnywhere if !sloppy => Purpose::ManagementFromOffice,
                purpose => purpose,
            };
            let rule = nsg_rule(rng, outside, behind, purpose, sloppy, number, priority);
            priority += rng.random_range(1..=widest_gap);
            rule
        })
        .collect();
    let mut default_rules = standard_default_rules();
    default_rules.extend(default_outbound_rules());
    Nsg {
        id,
        name: format!("nsg-{index:05}"),
        region: Some(home.region.to_string()),
        rules,
        default_rules,
        grant_expiries: BTreeMap::new(),
        origin: None,
    }
}

/// The default outbound rules every exported NSG lists (the engine reads inbound ones only).
fn default_outbound_rules() -> Vec<NsgRule> {
    let tag = |t: &str| AddressPrefix::Tag(t.to_string());
    [
        (
            "AllowVnetOutBound",
            65000,
            Access::Allow,
            tag("VirtualNetwork"),
        ),
        (
            "AllowInternetOutBound",
            65001,
            Access::Allow,
            tag("Internet"),
        ),
        ("DenyAllOutBound", 65500, Access::Deny, AddressPrefix::Any),
    ]
    .into_iter()
    .map(|(name, priority, access, destination)| NsgRule {
        name: name.to_string(),
        priority,
        direction: Direction::Outbound,
        access,
        protocol: Protocol::Any,
        sources: vec![if access == Access::Allow {
            tag("VirtualNetwork")
        } else {
            AddressPrefix::Any
        }],
        source_asg_ids: Vec::new(),
        source_ports: Vec::new(),
        destinations: vec![destination],
        destination_asg_ids: Vec::new(),
        destination_ports: vec![PortRange::ALL],
        origin: None,
    })
    .collect()
}

/// Port ranges written as Azure lists them, separated by commas: `"80,443"`, `"8000-8999"`.
fn ports(list: &str) -> Vec<PortRange> {
    list.split(',').filter_map(|p| p.parse().ok()).collect()
}

fn prefixes(nets: impl IntoIterator<Item = IpNetwork>) -> Vec<AddressPrefix> {
    nets.into_iter().map(AddressPrefix::Network).collect()
}

fn tag(name: &str) -> Vec<AddressPrefix> {
    vec![AddressPrefix::Tag(name.to_string())]
}

fn nsg_rule(
    rng: &mut Rng,
    outside: &Outside,
    behind: &Behind,
    purpose: Purpose,
    sloppy: bool,
    number: usize,
    priority: u32,
) -> NsgRule {
    let mut rule = NsgRule {
        name: String::new(),
        priority,
        direction: Direction::Inbound,
        access: Access::Allow,
        protocol: Protocol::TCP,
        sources: vec![AddressPrefix::Any],
        source_asg_ids: Vec::new(),
        source_ports: Vec::new(),
        destinations: vec![AddressPrefix::Any],
        destination_asg_ids: Vec::new(),
        destination_ports: vec![PortRange::ALL],
        origin: None,
    };
    let name = match purpose {
        Purpose::Web => {
            if rng.random_bool(0.5) {
                rule.sources = tag("Internet");
            }
            rule.destination_ports = ports(pick(rng, &["443", "80", "80,443", "443,8443"]));
            "allow-web"
        }
        Purpose::ManagementFromOffice => {
            rule.sources = if rng.random_bool(0.7) {
                prefixes(outside.some_offices(rng))
            } else {
                prefixes([pick(rng, &outside.admins)])
            };
            rule.destination_ports = ports(pick(
                rng,
                &["22", "3389", "22,3389", "5985-5986", "3389,5986"],
            ));
            "allow-mgmt-office"
        }
        Purpose::ManagementFromAnywhere => {
            rule.sources = match rng.random_range(0..4) {
                0 => vec![AddressPrefix::Any],
                1 => tag("Internet"),
                2 => prefixes([v4(0, 0)]),
                // The two halves of the IPv4 space: as open as 0.0.0.0/0.
                _ => prefixes([v4(0, 1), v4(128, 1)]),
            };
            rule.destination_ports = ports(pick(rng, &["22", "3389", "22,3389"]));
            "allow-mgmt-any"
        }
        Purpose::Jit => {
            rule.sources = prefixes([pick(rng, &outside.admins)]);
            rule.destination_ports = ports(pick(rng, &["22", "3389"]));
            if let Some(&address) = behind.addresses.choose(rng) {
                rule.destinations = prefixes([single(address)]);
            }
            let request: u32 = rng.random_range(100_000_000..1_000_000_000);
            return NsgRule {
                name: format!("SecurityCenter-JITRule_{request}_{number:04}"),
                ..rule
            };
        }
        Purpose::ServiceTag => {
            rule.sources = tag(pick(rng, SERVICE_TAGS));
            rule.destination_ports = ports(if sloppy {
                pick(rng, &["443", "443,1433", "3389"])
            } else {
                pick(rng, &["443", "65200-65535"])
            });
            "allow-service"
        }
        Purpose::Internal => {
            rule.sources = match behind.subnets.choose(rng) {
                Some(&subnet) if rng.random_bool(0.3) => prefixes([subnet]),
                _ if rng.random_bool(0.5) => prefixes([v4(10, 8)]),
                _ => tag("VirtualNetwork"),
            };
            rule.destination_ports = ports(pick(
                rng,
                &[
                    "8080",
                    "8000-8999",
                    "1433",
                    "5432,6379",
                    "22,3389",
                    "*",
                    "9000-9100,8443",
                ],
            ));
            "allow-internal"
        }
        Purpose::Partner => {
            rule.sources = prefixes([outside.partner(rng, sloppy)]);
            rule.destination_ports = ports(pick(
                rng,
                &[
                    "20-25",
                    "1000-2000",
                    "1433",
                    "1024-65535",
                    "21,990,40000-40100",
                ],
            ));
            "allow-partner"
        }
        Purpose::Blocklist => {
            rule.access = Access::Deny;
            rule.protocol = Protocol::Any;
            let count = rng.random_range(1..=6);
            rule.sources = prefixes(outside.blocked.sample(rng, count).copied());
            "deny-blocked"
        }
        Purpose::DenyManagement => {
            rule.access = Access::Deny;
            rule.sources = tag("Internet");
            rule.destination_ports = ports("22,3389,5985-5986,23");
            "deny-mgmt-internet"
        }
        Purpose::Udp => {
            rule.protocol = Protocol::UDP;
            rule.destination_ports = ports(pick(rng, &["53", "123", "500,4500", "3389", "389"]));
            if !sloppy || rng.random_bool(0.5) {
                rule.sources = prefixes(outside.some_offices(rng));
            }
            "allow-udp"
        }
        Purpose::Icmp => {
            rule.protocol = Protocol::Number(1);
            "allow-icmp"
        }
        Purpose::AnyProtocol => {
            rule.protocol = Protocol::Any;
            rule.sources = if rng.random_bool(0.5) {
                prefixes([outside.partner(rng, sloppy)])
            } else {
                let mut offices = outside.some_offices(rng);
                offices.push(pick(rng, &outside.offices_v6));
                prefixes(offices)
            };
            "allow-all-protocols"
        }
        Purpose::SourcePorts => {
            // An allow limited to some source ports still lets everyone in.
            if !sloppy || rng.random_bool(0.5) {
                rule.access = Access::Deny;
            }
            rule.sources = tag("Internet");
            rule.source_ports = ports(pick(rng, &["1024-65535", "53", "80,443"]));
            rule.destination_ports = ports(pick(rng, &["22", "3389", "8080-8090"]));
            "source-ports"
        }
        Purpose::Outbound => {
            rule.direction = Direction::Outbound;
            rule.sources = tag("VirtualNetwork");
            rule.destinations = tag(pick(rng, &["Internet", "Storage", "AzureCloud"]));
            rule.destination_ports = ports(pick(rng, &["443", "80,443", "*"]));
            return NsgRule {
                name: format!("outbound-{number:03}"),
                ..rule
            };
        }
    };
    destination(rng, behind, &mut rule);
    NsgRule {
        name: format!("{name}-{number:03}"),
        ..rule
    }
}

/// Most rules apply to every NIC behind the NSG (`*`, `VirtualNetwork`); about one in eight
/// names a NIC's address, two of them, a subnet, half a subnet or an application security group.
fn destination(rng: &mut Rng, behind: &Behind, rule: &mut NsgRule) {
    if !rng.random_bool(0.12) || behind.addresses.is_empty() {
        if rng.random_bool(0.35) {
            rule.destinations = tag("VirtualNetwork");
        }
        return;
    }
    let addresses = |rng: &mut Rng, count| {
        let chosen: Vec<IpNetwork> = behind
            .addresses
            .sample(rng, count)
            .map(|&a| single(a))
            .collect();
        prefixes(chosen)
    };
    rule.destinations = match rng.random_range(0..5) {
        0 => addresses(rng, 1),
        1 => addresses(rng, 2),
        2 if !behind.asgs.is_empty() => {
            rule.destination_asg_ids = vec![pick(rng, &behind.asgs)];
            Vec::new()
        }
        3 => prefixes(behind.subnets.choose(rng).copied()),
        _ => match behind.subnets.choose(rng) {
            Some(IpNetwork::V4(subnet)) => {
                let upper = rng.random_bool(0.5);
                let first = u32::from(subnet.network()) + if upper { subnet.size() / 2 } else { 0 };
                prefixes([network(IpAddr::V4(first.into()), subnet.prefix() + 1)])
            }
            _ => addresses(rng, 1),
        },
    };
}
