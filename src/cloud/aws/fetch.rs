//! One region's data as the EC2 API returns it: the list calls, run in parallel, each paged to
//! its end at the largest page size the call allows (the bounds of the EC2 API model), so a
//! region costs the fewest calls its size permits; a listing that loops or never ends fails.

use std::collections::{BTreeSet, HashSet};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    ManagedPrefixList, NetworkAcl, PrefixListEntry, Reservation, RouteTable, SecurityGroup,
    SecurityGroupRule, Subnet,
};
use tokio::task::JoinSet;

use super::errors;
use super::progress::RegionBar;

/// Largest `MaxResults` of each call.
pub(super) const INSTANCES_PAGE: i32 = 1000;
pub(super) const SECURITY_GROUPS_PAGE: i32 = 1000;
pub(super) const SECURITY_GROUP_RULES_PAGE: i32 = 1000;
pub(super) const NETWORK_ACLS_PAGE: i32 = 1000;
pub(super) const ROUTE_TABLES_PAGE: i32 = 100;
pub(super) const SUBNETS_PAGE: i32 = 1000;
pub(super) const PREFIX_LISTS_PAGE: i32 = 100;
pub(super) const PREFIX_LIST_ENTRIES_PAGE: i32 = 100;

/// The lists every region reads, before the prefix lists' entries.
pub(super) const LISTS: u64 = 7;

/// Everything read from one region.
#[derive(Debug, Default)]
pub(super) struct RegionData {
    pub reservations: Vec<Reservation>,
    pub security_groups: Vec<SecurityGroup>,
    /// The same groups' rules one by one, for their `sgr-…` ids, which
    /// `DescribeSecurityGroups` does not show.
    pub security_group_rules: Vec<SecurityGroupRule>,
    pub network_acls: Vec<NetworkAcl>,
    pub route_tables: Vec<RouteTable>,
    pub subnets: Vec<Subnet>,
    pub prefix_lists: Vec<ManagedPrefixList>,
    /// Entries of each prefix list a security group references, by list id, in id order.
    pub prefix_list_entries: Vec<(String, Vec<PrefixListEntry>)>,
}

/// Every page of a paginated call, its items concatenated; counts pages on the region's bar.
/// Pages by hand rather than through the SDK's paginator, which ends the list silently on a
/// repeated token: here a repeated or endless token fails the region ([`PageGuard`]).
macro_rules! all_pages {
    ($bar:expr, $operation:literal, $request:expr, $items:ident) => {{
        let mut guard = PageGuard::new($operation);
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = $request
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| errors::describe($operation, &e))?;
            let items = page.$items.unwrap_or_default();
            $bar.page(items.len());
            all.extend(items);
            match guard.next(page.next_token)? {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        $bar.list_done();
        Ok::<_, String>(all)
    }};
}

/// Most pages one listing may take: 100 million items at the largest page size, far beyond any
/// region's, yet an endless listing is stopped within minutes.
pub(super) const MAX_PAGES: u64 = 100_000;

/// Watches one listing's `NextToken`s: a token seen before would loop, and a listing of more
/// than [`MAX_PAGES`] pages does not end; either fails the region.
pub(super) struct PageGuard {
    operation: &'static str,
    /// What a listing that cannot be trusted leaves unread.
    unread: &'static str,
    seen: HashSet<String>,
    pages: u64,
}

impl PageGuard {
    /// The guard of a region's listing.
    pub(super) fn new(operation: &'static str) -> Self {
        Self::listing(operation, "the region")
    }

    /// The guard of a listing that, when it cannot be trusted, leaves `unread` unread.
    pub(super) fn listing(operation: &'static str, unread: &'static str) -> Self {
        Self {
            operation,
            unread,
            seen: HashSet::new(),
            pages: 0,
        }
    }

    /// The token to ask the next page with, none when the list is complete, or why the list
    /// cannot be trusted.
    pub(super) fn next(&mut self, token: Option<String>) -> Result<Option<String>, String> {
        self.pages += 1;
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        let (operation, unread) = (self.operation, self.unread);
        if self.pages >= MAX_PAGES {
            return Err(format!(
                "{operation}: the listing did not end after {MAX_PAGES} pages; the endpoint keeps \
                 sending a NextToken, so {unread} is not read"
            ));
        }
        if !self.seen.insert(token.clone()) {
            return Err(format!(
                "{operation}: page {} repeats a NextToken of an earlier page; the listing would \
                 loop, so {unread} is not read",
                self.pages
            ));
        }
        Ok(Some(token))
    }
}

/// Reads a region. The first error stops it: a region is read whole or not at all.
pub(super) async fn region(client: &Client, bar: &RegionBar) -> Result<RegionData, String> {
    let instances = async {
        all_pages!(
            bar,
            "DescribeInstances",
            client.describe_instances().max_results(INSTANCES_PAGE),
            reservations
        )
    };
    let groups_and_lists = async {
        let groups = all_pages!(
            bar,
            "DescribeSecurityGroups",
            client
                .describe_security_groups()
                .max_results(SECURITY_GROUPS_PAGE),
            security_groups
        )?;
        let entries = referenced_prefix_lists(client, bar, &groups).await?;
        Ok((groups, entries))
    };
    let security_group_rules = async {
        all_pages!(
            bar,
            "DescribeSecurityGroupRules",
            client
                .describe_security_group_rules()
                .max_results(SECURITY_GROUP_RULES_PAGE),
            security_group_rules
        )
    };
    let network_acls = async {
        all_pages!(
            bar,
            "DescribeNetworkAcls",
            client
                .describe_network_acls()
                .max_results(NETWORK_ACLS_PAGE),
            network_acls
        )
    };
    let route_tables = async {
        all_pages!(
            bar,
            "DescribeRouteTables",
            client
                .describe_route_tables()
                .max_results(ROUTE_TABLES_PAGE),
            route_tables
        )
    };
    let subnets = async {
        all_pages!(
            bar,
            "DescribeSubnets",
            client.describe_subnets().max_results(SUBNETS_PAGE),
            subnets
        )
    };
    let prefix_lists = async {
        all_pages!(
            bar,
            "DescribeManagedPrefixLists",
            client
                .describe_managed_prefix_lists()
                .max_results(PREFIX_LISTS_PAGE),
            prefix_lists
        )
    };
    let (
        reservations,
        (security_groups, prefix_list_entries),
        security_group_rules,
        network_acls,
        route_tables,
        subnets,
        prefix_lists,
    ) = tokio::try_join!(
        instances,
        groups_and_lists,
        security_group_rules,
        network_acls,
        route_tables,
        subnets,
        prefix_lists
    )?;
    Ok(RegionData {
        reservations,
        security_groups,
        security_group_rules,
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
                    .max_results(PREFIX_LIST_ENTRIES_PAGE),
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
