//! Synthetic estates: a seeded generator of realistic Azure and AWS estates of any size, for
//! benchmarks and tests (`portcullis generate`).
//!
//! The same parameters and seed always give the same estate: the generator draws from
//! [`Xoshiro256PlusPlus`], whose output rand keeps stable across versions and platforms. The estate
//! is built as a [`Snapshot`]; [`export`] writes it in the clouds' own formats (Azure ARM list
//! pages, AWS CLI `describe-*` output), so that loading real formats can be measured too.
//!
//! It is realistic where the engine's work depends on it:
//! - VMs come in workloads of about ten (a scale set, a launch template) that share their
//!   filters, and workloads share subnets; so an Azure NSG or an AWS security group is used by
//!   about `vms / nsgs` VMs, and some subnets have an NSG while others do not.
//! - Most filters are tidy; some (a fifth to a third) are sloppy and hold the rules that open
//!   management ports to broad ranges, so that a realistic share of VMs is found exposed.
//! - Rules mix what real estates hold: allows and denies in priority order, `*`, `Internet`,
//!   service tags, CIDRs, bare addresses, split halves of the internet and lists of prefixes,
//!   single ports, ranges and lists of ranges, rules restricted to some source ports, JIT grants,
//!   rules whose destination is one NIC, a part of a subnet or an application security group
//!   (so NICs behind one NSG are evaluated against different rules), and outbound rules.
//! - Part of the VMs have public addresses, a few IPv6 ones; some public IP resources have no
//!   address allocated.
//! - AWS interfaces carry several security groups out of a shared pool; subnets have network ACLs
//!   and route tables (the VPC's main table or an explicit one, some without an internet gateway
//!   route); security groups name prefix lists and other groups.

mod aws;
mod azure;
pub mod export;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;

use ipnetwork::IpNetwork;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};

use crate::model::Snapshot;

/// The generator's source of randomness.
type Rng = Xoshiro256PlusPlus;

/// Which clouds an estate spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Clouds {
    Azure,
    Aws,
    /// Half the VMs and filters in each cloud.
    Mixed,
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct Params {
    pub vms: usize,
    /// Azure NSGs, or AWS security groups.
    pub nsgs: usize,
    /// Custom rules per NSG, or rules (one source of one permission) per security group.
    pub rules_per_nsg: usize,
    pub clouds: Clouds,
    pub seed: u64,
}

/// Generates the estate `params` describe.
pub fn generate(params: &Params) -> Snapshot {
    let mut rng = Rng::seed_from_u64(params.seed);
    let outside = Outside::new(&mut rng);
    let (azure_share, aws_share) = match params.clouds {
        Clouds::Azure => (1, 0),
        Clouds::Aws => (0, 1),
        Clouds::Mixed => (1, 1),
    };
    let shares = azure_share + aws_share;
    let azure_vms = params.vms.div_ceil(shares) * azure_share;
    let azure_nsgs = params.nsgs.div_ceil(shares) * azure_share;
    let mut snapshot = Snapshot::new();
    azure::generate(
        &mut rng,
        &outside,
        &Params {
            vms: azure_vms,
            nsgs: azure_nsgs,
            ..params.clone()
        },
        &mut snapshot,
    );
    aws::generate(
        &mut rng,
        &outside,
        &Params {
            vms: params.vms - azure_vms,
            nsgs: params.nsgs - azure_nsgs,
            ..params.clone()
        },
        &mut snapshot,
    );
    snapshot
}

/// The internet as an estate's rules name it: the company's offices and administrators, its
/// partners, and ranges it blocks. Drawn once per estate so that, as in real estates, the same
/// ranges recur in many rules.
struct Outside {
    /// Office egress ranges, /28 and /29.
    offices: Vec<IpNetwork>,
    /// Office IPv6 ranges, /56.
    offices_v6: Vec<IpNetwork>,
    /// Administrators' home and VPN addresses, /32.
    admins: Vec<IpNetwork>,
    /// Partners' networks, /29 and /30.
    partners: Vec<IpNetwork>,
    /// Cloud providers' and large partners' ranges, /12 to /18: broad enough to count as open.
    broad: Vec<IpNetwork>,
    /// Ranges a security team blocks, /8 to /16.
    blocked: Vec<IpNetwork>,
}

impl Outside {
    /// The narrow ranges together (offices, administrators, partners) hold at most 232 IPv4
    /// addresses, under the /24 that makes a port open: however many narrow rules reach a VM, only
    /// broad ones make it open, as in real estates.
    fn new(rng: &mut Rng) -> Self {
        Self {
            offices: (0..6).map(|_| public_v4(rng, 28..=29)).collect(),
            offices_v6: (0..3).map(|_| public_v6(rng, 56)).collect(),
            admins: (0..40).map(|_| public_v4(rng, 32..=32)).collect(),
            partners: (0..12).map(|_| public_v4(rng, 29..=30)).collect(),
            broad: (0..10).map(|_| public_v4(rng, 12..=18)).collect(),
            blocked: (0..30).map(|_| public_v4(rng, 8..=16)).collect(),
        }
    }

    /// One to four office ranges, as one rule lists them.
    fn some_offices(&self, rng: &mut Rng) -> Vec<IpNetwork> {
        let count = rng.random_range(1..=4);
        self.offices.sample(rng, count).copied().collect()
    }

    /// A partner's network; in a sloppy filter, often a broad range.
    fn partner(&self, rng: &mut Rng, sloppy: bool) -> IpNetwork {
        if sloppy && rng.random_bool(0.5) {
            pick(rng, &self.broad)
        } else {
            pick(rng, &self.partners)
        }
    }
}

/// First octets of IPv4 blocks that are public unicast (none of the special-purpose ranges).
const PUBLIC_FIRST_OCTETS: &[u8] = &[
    3, 4, 8, 13, 18, 20, 23, 31, 34, 35, 40, 45, 51, 52, 54, 62, 64, 66, 78, 80, 81, 82, 85, 87,
    88, 91, 93, 94, 95, 104, 109, 130, 131, 137, 138, 141, 145, 146, 147, 151, 152, 155, 157, 160,
    161, 163, 164, 167, 168, 176, 178, 185, 188, 193, 194, 195, 212, 213, 217,
];

/// A random public IPv4 network with a prefix length in `lengths`.
fn public_v4(rng: &mut Rng, lengths: RangeInclusive<u8>) -> IpNetwork {
    let prefix = rng.random_range(lengths);
    let first = pick(rng, PUBLIC_FIRST_OCTETS);
    let rest: u32 = rng.random_range(0..1 << 24);
    let address = u32::from(first) << 24 | rest;
    network(IpAddr::V4(Ipv4Addr::from(address)), prefix)
}

/// A random global unicast IPv6 network (inside 2a00::/12) with the given prefix length.
fn public_v6(rng: &mut Rng, prefix: u8) -> IpNetwork {
    let address = 0x2a00u128 << 112 | rng.random_range(0..1u128 << 116);
    network(IpAddr::V6(Ipv6Addr::from(address)), prefix)
}

/// The network of `prefix` bits that contains `address`.
fn network(address: IpAddr, prefix: u8) -> IpNetwork {
    let net = IpNetwork::new(address, prefix).unwrap_or_else(|_| IpNetwork::from(address));
    IpNetwork::new(net.network(), net.prefix()).unwrap_or(net)
}

/// Picks one of a constant, non-empty list of options.
fn pick<T: Clone>(rng: &mut Rng, options: &[T]) -> T {
    options
        .choose(rng)
        .expect("option lists are constant and non-empty")
        .clone()
}

/// Picks from a table of (value, weight) pairs.
fn weighted<T: Copy>(rng: &mut Rng, table: &[(T, u32)]) -> T {
    let (value, _) = table
        .choose_weighted(rng, |&(_, weight)| weight)
        .expect("weight tables are constant, non-empty and positive");
    *value
}

/// The addresses of the `index`-th /24 of a /16 block, `10.{block}.{index}.0/24`: VNets and
/// VPCs reuse the private ranges, as real ones do.
fn subnet_v4(block: usize, index: usize) -> IpNetwork {
    let address = Ipv4Addr::new(10, (block % 256) as u8, (index % 256) as u8, 0);
    network(IpAddr::V4(address), 24)
}

/// `::/0`.
fn any_v6() -> IpNetwork {
    network(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
}

/// `{first}.0.0.0/{prefix}`.
fn v4(first: u8, prefix: u8) -> IpNetwork {
    network(IpAddr::V4(Ipv4Addr::new(first, 0, 0, 0)), prefix)
}

/// Host `host` of a subnet.
fn host(subnet: &IpNetwork, host: u32) -> IpAddr {
    match subnet {
        IpNetwork::V4(net) => IpAddr::V4(Ipv4Addr::from(u32::from(net.network()) + host)),
        IpNetwork::V6(net) => {
            IpAddr::V6(Ipv6Addr::from(u128::from(net.network()) + u128::from(host)))
        }
    }
}

/// A single address as a network (`/32` or `/128`).
fn single(address: IpAddr) -> IpNetwork {
    IpNetwork::from(address)
}

/// Round-robin assignment of a pool of filters (NSGs or security groups) to the places that use
/// them, so that every filter is used and each by about as many VMs.
struct Pool {
    size: usize,
    next: usize,
}

impl Pool {
    fn new(size: usize) -> Self {
        Self { size, next: 0 }
    }

    /// The next filter, or `None` when the pool is empty.
    fn take(&mut self) -> Option<usize> {
        (self.size > 0).then(|| {
            let taken = self.next % self.size;
            self.next += 1;
            taken
        })
    }
}
