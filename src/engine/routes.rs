//! Which internet addresses an AWS subnet's route table sends to an internet gateway (section 2
//! of the semantics).
//!
//! A reply to an internet address leaves by the route AWS picks for that address: the most
//! specific destination that holds it. Only replies routed to an internet gateway (`igw-…`) get
//! back, so only those addresses can hold a connection to the VM. A blackhole route (its target
//! was deleted) drops what it wins: it is no route to the internet, and it still shadows the
//! broader routes behind it, as in AWS.

use std::cmp::Reverse;

use crate::addrset::{AddressSet, Family};
use crate::model::{Route, RouteTable};

/// The addresses of `internet` of one family that `table` routes to an internet gateway, and a
/// note for each blackhole route that decides some of them.
pub fn to_internet_gateway(
    table: &RouteTable,
    family: Family,
    internet: &AddressSet,
) -> (AddressSet, Vec<String>) {
    let mut routes: Vec<&Route> = table
        .routes
        .iter()
        .filter(|r| Family::of(&r.destination.ip()) == family)
        .collect();
    routes.sort_by_key(|r| Reverse(r.destination.prefix()));
    let mut remaining = internet.only(family);
    let mut routed = AddressSet::empty();
    let mut notes = Vec::new();
    for route in routes {
        if remaining.is_empty() {
            break;
        }
        let decided = AddressSet::network(&route.destination).intersect(&remaining);
        if decided.is_empty() {
            continue;
        }
        remaining = remaining.difference(&decided);
        if !route.active {
            notes.push(format!(
                "route table {}: the route to {} via {} is a blackhole (its target no longer \
                 exists), so AWS drops replies to those addresses; they are not counted as \
                 reaching the VM",
                table.id, route.destination, route.target
            ));
        } else if route.target.starts_with("igw-") {
            routed = routed.union(&decided);
        }
    }
    (routed, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Route;

    fn table(routes: &[(&str, &str, bool)]) -> RouteTable {
        RouteTable {
            id: "rtb-1".into(),
            vpc_id: None,
            main: false,
            subnet_ids: Vec::new(),
            routes: routes
                .iter()
                .map(|&(destination, target, active)| Route {
                    destination: destination.parse().unwrap(),
                    target: target.into(),
                    active,
                })
                .collect(),
        }
    }

    /// (routes, IPv4 addresses routed to the gateway out of 0.0.0.0/0, blackhole notes)
    #[test]
    fn the_most_specific_route_decides() {
        let internet = AddressSet::network(&"0.0.0.0/0".parse().unwrap());
        let all = 1u64 << 32;
        for (routes, routed, notes) in [
            (vec![("0.0.0.0/0", "igw-1", true)], all, 0),
            (vec![("0.0.0.0/0", "igw-1", false)], 0, 1),
            (vec![("0.0.0.0/0", "nat-1", true)], 0, 0),
            (
                vec![("0.0.0.0/1", "igw-1", true), ("128.0.0.0/1", "igw-1", true)],
                all,
                0,
            ),
            (
                vec![("0.0.0.0/0", "igw-1", true), ("8.0.0.0/8", "igw-2", false)],
                all - (1 << 24),
                1,
            ),
            (
                vec![
                    ("0.0.0.0/0", "igw-1", true),
                    ("0.0.0.0/1", "igw-old", false),
                    ("128.0.0.0/1", "igw-old", false),
                ],
                0,
                2,
            ),
            (
                vec![("0.0.0.0/0", "igw-1", true), ("::/0", "igw-1", false)],
                all,
                0,
            ),
        ] {
            let (set, found) = to_internet_gateway(&table(&routes), Family::V4, &internet);
            assert_eq!(
                (set.ipv4_count(), found.len()),
                (routed, notes),
                "{routes:?}"
            );
        }
    }
}
