//! One region's data as the EC2 API returns it: the list calls, run in parallel, each through
//! its paginator at the largest page size the call allows (the bounds of the EC2 API model), so
//! a region costs the fewest calls its size permits.

use std::collections::BTreeSet;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    ManagedPrefixList, NetworkAcl, PrefixListEntry, Reservation, RouteTable, SecurityGroup, Subnet,
};
use tokio::task::JoinSet;

use super::errors;
use super::progress::RegionBar;

/// Largest `MaxResults` of each call.
pub(super) const INSTANCES_PAGE: i32 = 1000;
pub(super) const SECURITY_GROUPS_PAGE: i32 = 1000;
pub(super) const NETWORK_ACLS_PAGE: i32 = 1000;
pub(super) const ROUTE_TABLES_PAGE: i32 = 100;
pub(super) const SUBNETS_PAGE: i32 = 1000;
pub(super) const PREFIX_LISTS_PAGE: i32 = 100;
pub(super) const PREFIX_LIST_ENTRIES_PAGE: i32 = 100;

/// The lists every region reads, before the prefix lists' entries.
pub(super) const LISTS: u64 = 6;

/// Everything read from one region.
#[derive(Debug, Default)]
pub(super) struct RegionData {
    pub reservations: Vec<Reservation>,
    pub security_groups: Vec<SecurityGroup>,
    pub network_acls: Vec<NetworkAcl>,
    pub route_tables: Vec<RouteTable>,
    pub subnets: Vec<Subnet>,
    pub prefix_lists: Vec<ManagedPrefixList>,
    /// Entries of each prefix list a security group references, by list id, in id order.
    pub prefix_list_entries: Vec<(String, Vec<PrefixListEntry>)>,
}

/// Every page of a paginated call, its items concatenated; counts pages on the region's bar.
macro_rules! all_pages {
    ($bar:expr, $operation:literal, $paginator:expr, $items:ident) => {{
        let mut pages = $paginator.send();
        let mut all = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| errors::describe($operation, &e))?;
            let items = page.$items.unwrap_or_default();
            $bar.page(items.len());
            all.extend(items);
        }
        $bar.list_done();
        Ok::<_, String>(all)
    }};
}

/// Reads a region. The first error stops it: a region is read whole or not at all.
pub(super) async fn region(client: &Client, bar: &RegionBar) -> Result<RegionData, String> {
    let instances = async {
        all_pages!(
            bar,
            "DescribeInstances",
            client
                .describe_instances()
                .max_results(INSTANCES_PAGE)
                .into_paginator(),
            reservations
        )
    };
    let groups_and_lists = async {
        let groups = all_pages!(
            bar,
            "DescribeSecurityGroups",
            client
                .describe_security_groups()
                .max_results(SECURITY_GROUPS_PAGE)
                .into_paginator(),
            security_groups
        )?;
        let entries = referenced_prefix_lists(client, bar, &groups).await?;
        Ok((groups, entries))
    };
    let network_acls = async {
        all_pages!(
            bar,
            "DescribeNetworkAcls",
            client
                .describe_network_acls()
                .max_results(NETWORK_ACLS_PAGE)
                .into_paginator(),
            network_acls
        )
    };
    let route_tables = async {
        all_pages!(
            bar,
            "DescribeRouteTables",
            client
                .describe_route_tables()
                .max_results(ROUTE_TABLES_PAGE)
                .into_paginator(),
            route_tables
        )
    };
    let subnets = async {
        all_pages!(
            bar,
            "DescribeSubnets",
            client
                .describe_subnets()
                .max_results(SUBNETS_PAGE)
                .into_paginator(),
            subnets
        )
    };
    let prefix_lists = async {
        all_pages!(
            bar,
            "DescribeManagedPrefixLists",
            client
                .describe_managed_prefix_lists()
                .max_results(PREFIX_LISTS_PAGE)
                .into_paginator(),
            prefix_lists
        )
    };
    let (
        reservations,
        (security_groups, prefix_list_entries),
        network_acls,
        route_tables,
        subnets,
        prefix_lists,
    ) = tokio::try_join!(
        instances,
        groups_and_lists,
        network_acls,
        route_tables,
        subnets,
        prefix_lists
    )?;
    Ok(RegionData {
        reservations,
        security_groups,
        network_acls,
        route_tables,
        subnets,
        prefix_lists,
        prefix_list_entries,
    })
}

/// The entries of every prefix list the groups' inbound permissions name, read in parallel.
/// Only referenced lists are read: a region holds dozens of AWS-managed lists no rule uses.
async fn referenced_prefix_lists(
    client: &Client,
    bar: &RegionBar,
    groups: &[SecurityGroup],
) -> Result<Vec<(String, Vec<PrefixListEntry>)>, String> {
    let ids: BTreeSet<&str> = groups
        .iter()
        .flat_map(SecurityGroup::ip_permissions)
        .flat_map(|permission| permission.prefix_list_ids())
        .filter_map(|list| list.prefix_list_id())
        .collect();
    bar.more_lists(ids.len() as u64);
    let mut tasks = JoinSet::new();
    for id in ids {
        let client = client.clone();
        let bar = bar.clone();
        let id = id.to_string();
        tasks.spawn(async move {
            let entries = all_pages!(
                bar,
                "GetManagedPrefixListEntries",
                client
                    .get_managed_prefix_list_entries()
                    .prefix_list_id(&id)
                    .max_results(PREFIX_LIST_ENTRIES_PAGE)
                    .into_paginator(),
                entries
            );
            entries.map(|entries| (id, entries))
        });
    }
    let mut lists = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let list = joined.map_err(|e| format!("GetManagedPrefixListEntries: {e}"))??;
        lists.push(list);
    }
    lists.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(lists)
}

/// The regions enabled for the account (DescribeRegions without `AllRegions`), sorted.
pub(super) async fn enabled_regions(client: &Client) -> Result<Vec<String>, String> {
    let output = client
        .describe_regions()
        .send()
        .await
        .map_err(|e| errors::describe("DescribeRegions", &e))?;
    let mut names: Vec<String> = output
        .regions()
        .iter()
        .filter_map(|r| r.region_name().map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}
