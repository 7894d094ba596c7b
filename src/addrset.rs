//! Exact sets of IP addresses, as sorted disjoint ranges.
//!
//! Everything portcullis says about "who on the internet can reach a port" is computed with these
//! sets: a rule's sources become an [`AddressSet`], first-match evaluation subtracts what earlier
//! rules decided, layers intersect, security groups union. Counting a set gives the exact number
//! of addresses, so `0.0.0.0/1` + `128.0.0.0/1` is as open as `0.0.0.0/0`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::IpNetwork;

/// A set of integers as sorted, disjoint, non-adjacent inclusive ranges.
///
/// IPv4 addresses live in the low 32 bits; the same type serves both families. Sets hold no spare
/// capacity: a large estate's evaluation keeps millions of small ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RangeSet {
    ranges: Vec<(u128, u128)>,
}

impl RangeSet {
    pub fn empty() -> Self {
        Self::default()
    }

    /// The set holding exactly `first..=last`.
    pub fn range(first: u128, last: u128) -> Self {
        debug_assert!(first <= last);
        Self {
            ranges: vec![(first, last)],
        }
    }

    /// Builds a set from ranges in any order, overlapping or not.
    pub fn from_ranges(mut ranges: Vec<(u128, u128)>) -> Self {
        ranges.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
        for (first, last) in ranges {
            match merged.last_mut() {
                Some(prev) if first <= prev.1.saturating_add(1) => prev.1 = prev.1.max(last),
                _ => merged.push((first, last)),
            }
        }
        merged.shrink_to_fit();
        Self { ranges: merged }
    }

    pub fn ranges(&self) -> &[(u128, u128)] {
        &self.ranges
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn contains(&self, value: u128) -> bool {
        let idx = self.ranges.partition_point(|&(_, last)| last < value);
        self.ranges
            .get(idx)
            .is_some_and(|&(first, _)| first <= value)
    }

    /// Number of members. Saturates at `u128::MAX` for the whole 128-bit space, which only the
    /// raw `::/0` reaches; every count portcullis reports is of a set inside the internet.
    pub fn len(&self) -> u128 {
        self.ranges.iter().fold(0u128, |acc, &(first, last)| {
            acc.saturating_add((last - first).saturating_add(1))
        })
    }

    pub fn union(&self, other: &Self) -> Self {
        if other.is_empty() {
            return self.clone();
        }
        if self.is_empty() {
            return other.clone();
        }
        let mut all = Vec::with_capacity(self.ranges.len() + other.ranges.len());
        all.extend_from_slice(&self.ranges);
        all.extend_from_slice(&other.ranges);
        Self::from_ranges(all)
    }

    pub fn intersect(&self, other: &Self) -> Self {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a0, a1) = self.ranges[i];
            let (b0, b1) = other.ranges[j];
            let first = a0.max(b0);
            let last = a1.min(b1);
            if first <= last {
                out.push((first, last));
            }
            if a1 < b1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        out.shrink_to_fit();
        Self { ranges: out }
    }

    pub fn difference(&self, other: &Self) -> Self {
        if self.is_empty() || other.is_empty() {
            return self.clone();
        }
        let mut out = Vec::with_capacity(self.ranges.len());
        let mut j = 0;
        for &(first, last) in &self.ranges {
            let mut start = first;
            let mut exhausted = false;
            while j < other.ranges.len() && other.ranges[j].1 < start {
                j += 1;
            }
            let mut k = j;
            while k < other.ranges.len() && other.ranges[k].0 <= last {
                let (b0, b1) = other.ranges[k];
                if b0 > start {
                    out.push((start, b0 - 1));
                }
                if b1 >= last {
                    exhausted = true;
                    break;
                }
                start = b1 + 1;
                k += 1;
            }
            if !exhausted {
                out.push((start, last));
            }
        }
        out.shrink_to_fit();
        Self { ranges: out }
    }
}

/// The two address families.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Family {
    #[serde(rename = "ipv4")]
    V4,
    #[serde(rename = "ipv6")]
    V6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// A set of IPv4 and IPv6 addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AddressSet {
    pub v4: RangeSet,
    pub v6: RangeSet,
}

const V4_MAX: u128 = u32::MAX as u128;

impl AddressSet {
    pub fn empty() -> Self {
        Self::default()
    }

    /// Every address of both families.
    pub fn everything() -> Self {
        Self::all_of(Family::V4).union(&Self::all_of(Family::V6))
    }

    /// Every address of one family.
    pub fn all_of(family: Family) -> Self {
        match family {
            Family::V4 => Self {
                v4: RangeSet::range(0, V4_MAX),
                v6: RangeSet::empty(),
            },
            Family::V6 => Self {
                v4: RangeSet::empty(),
                v6: RangeSet::range(0, u128::MAX),
            },
        }
    }

    pub fn network(net: &IpNetwork) -> Self {
        match net {
            IpNetwork::V4(n) => {
                let first = u32::from(n.network()) as u128;
                let last = u32::from(n.broadcast()) as u128;
                Self {
                    v4: RangeSet::range(first, last),
                    v6: RangeSet::empty(),
                }
            }
            IpNetwork::V6(n) => {
                let first = u128::from(n.network());
                let host_bits = 128 - u32::from(n.prefix());
                let last = if host_bits == 128 {
                    u128::MAX
                } else {
                    first | ((1u128 << host_bits) - 1)
                };
                Self {
                    v4: RangeSet::empty(),
                    v6: RangeSet::range(first, last),
                }
            }
        }
    }

    pub fn from_networks<'a>(nets: impl IntoIterator<Item = &'a IpNetwork>) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in nets {
            let set = Self::network(net);
            v4.extend_from_slice(set.v4.ranges());
            v6.extend_from_slice(set.v6.ranges());
        }
        Self {
            v4: RangeSet::from_ranges(v4),
            v6: RangeSet::from_ranges(v6),
        }
    }

    pub fn family(&self, family: Family) -> &RangeSet {
        match family {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }

    /// This set restricted to one family.
    pub fn only(&self, family: Family) -> Self {
        match family {
            Family::V4 => Self {
                v4: self.v4.clone(),
                v6: RangeSet::empty(),
            },
            Family::V6 => Self {
                v4: RangeSet::empty(),
                v6: self.v6.clone(),
            },
        }
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub fn contains(&self, addr: &IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => self.v4.contains(u32::from(*a) as u128),
            IpAddr::V6(a) => self.v6.contains(u128::from(*a)),
        }
    }

    /// Exact number of IPv4 members.
    pub fn ipv4_count(&self) -> u64 {
        self.v4.len() as u64
    }

    /// Number of IPv6 members (saturating only for the raw whole space).
    pub fn ipv6_count(&self) -> u128 {
        self.v6.len()
    }

    pub fn union(&self, other: &Self) -> Self {
        Self {
            v4: self.v4.union(&other.v4),
            v6: self.v6.union(&other.v6),
        }
    }

    pub fn intersect(&self, other: &Self) -> Self {
        Self {
            v4: self.v4.intersect(&other.v4),
            v6: self.v6.intersect(&other.v6),
        }
    }

    pub fn difference(&self, other: &Self) -> Self {
        Self {
            v4: self.v4.difference(&other.v4),
            v6: self.v6.difference(&other.v6),
        }
    }

    /// The set as CIDR blocks, smallest number of blocks, IPv4 first.
    pub fn to_networks(&self) -> Vec<IpNetwork> {
        let mut out = Vec::new();
        for &(first, last) in self.v4.ranges() {
            for (base, prefix) in cidr_blocks(first, last, 32) {
                let addr = Ipv4Addr::from(base as u32);
                out.push(IpNetwork::new(IpAddr::V4(addr), prefix).expect("prefix <= 32"));
            }
        }
        for &(first, last) in self.v6.ranges() {
            for (base, prefix) in cidr_blocks(first, last, 128) {
                let addr = Ipv6Addr::from(base);
                out.push(IpNetwork::new(IpAddr::V6(addr), prefix).expect("prefix <= 128"));
            }
        }
        out
    }
}

/// Splits `first..=last` into aligned power-of-two blocks of a `bits`-wide space.
fn cidr_blocks(first: u128, last: u128, bits: u8) -> Vec<(u128, u8)> {
    let mut out = Vec::new();
    let mut start = first;
    loop {
        // Largest block aligned at `start` that does not pass `last`.
        let mut size_log = if start == 0 {
            u32::from(bits)
        } else {
            start.trailing_zeros().min(u32::from(bits))
        };
        while size_log > 0 {
            let span_minus_one = if size_log == 128 {
                u128::MAX
            } else {
                (1u128 << size_log) - 1
            };
            if start
                .checked_add(span_minus_one)
                .is_some_and(|end| end <= last)
            {
                break;
            }
            size_log -= 1;
        }
        out.push((start, bits - size_log as u8));
        let span_minus_one = if size_log == 128 {
            u128::MAX
        } else {
            (1u128 << size_log) - 1
        };
        let end = start + span_minus_one;
        if end >= last {
            break;
        }
        start = end + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNetwork {
        s.parse().unwrap()
    }

    fn set(nets: &[&str]) -> AddressSet {
        let nets: Vec<IpNetwork> = nets.iter().map(|s| net(s)).collect();
        AddressSet::from_networks(&nets)
    }

    #[test]
    fn split_halves_make_the_whole_space() {
        assert_eq!(set(&["0.0.0.0/1", "128.0.0.0/1"]), set(&["0.0.0.0/0"]));
        assert_eq!(set(&["0.0.0.0/0"]).ipv4_count(), 1 << 32);
    }

    #[test]
    fn difference_punches_holes() {
        let d = set(&["10.0.0.0/8"]).difference(&set(&["10.1.0.0/16", "10.255.255.255/32"]));
        assert_eq!(d.ipv4_count(), (1 << 24) - (1 << 16) - 1);
        assert!(!d.contains(&"10.1.2.3".parse().unwrap()));
        assert!(d.contains(&"10.2.0.0".parse().unwrap()));
        assert!(!d.contains(&"10.255.255.255".parse().unwrap()));
    }

    #[test]
    fn intersect_and_union_across_families() {
        let a = set(&["2001:db8::/32", "192.0.2.0/24"]);
        let b = set(&["2001:db8:1::/48", "192.0.2.128/25", "198.51.100.0/24"]);
        let i = a.intersect(&b);
        assert_eq!(i.ipv4_count(), 128);
        assert_eq!(i.ipv6_count(), 1u128 << 80);
        assert_eq!(a.union(&b).ipv4_count(), 512);
    }

    #[test]
    fn whole_ipv6_space_saturates_instead_of_overflowing() {
        assert_eq!(set(&["::/0"]).ipv6_count(), u128::MAX);
        assert_eq!(set(&["2000::/3"]).ipv6_count(), 1u128 << 125);
    }

    #[test]
    fn to_networks_is_minimal_and_round_trips() {
        let s = set(&["10.0.0.0/8"]).difference(&set(&["10.0.0.0/9"]));
        assert_eq!(s.to_networks(), vec![net("10.128.0.0/9")]);
        let odd = AddressSet {
            v4: RangeSet::range(1, 6),
            v6: RangeSet::empty(),
        };
        let blocks = odd.to_networks();
        assert_eq!(blocks.len(), 4); // 1/32, 2/31, 4/31, 6/32
        assert_eq!(AddressSet::from_networks(&blocks), odd);
    }
}
