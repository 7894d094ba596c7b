//! The collector against mocked EC2 responses: paging of every call (moto pages only
//! DescribeInstances), page sizes, call counts, and regions that fail.

use std::time::{Duration, Instant};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_sdk_ec2::operation::describe_managed_prefix_lists::DescribeManagedPrefixListsOutput;
use aws_sdk_ec2::operation::describe_network_acls::DescribeNetworkAclsOutput;
use aws_sdk_ec2::operation::describe_route_tables::DescribeRouteTablesOutput;
use aws_sdk_ec2::operation::describe_security_group_rules::DescribeSecurityGroupRulesOutput;
use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
use aws_sdk_ec2::operation::get_managed_prefix_list_entries::GetManagedPrefixListEntriesOutput;
use aws_sdk_ec2::types::{
    GroupIdentifier, Instance, InstanceNetworkInterface, InstanceNetworkInterfaceAssociation,
    InstancePrivateIpAddress, IpPermission, IpRange, ManagedPrefixList, NetworkAcl,
    NetworkAclAssociation, NetworkAclEntry, Placement, PrefixListEntry, PrefixListId, Reservation,
    Route, RouteTable, RouteTableAssociation, RuleAction, SecurityGroup, SecurityGroupRule, Subnet,
};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};

use super::fetch::{
    INSTANCES_PAGE, NETWORK_ACLS_PAGE, PREFIX_LIST_ENTRIES_PAGE, PREFIX_LISTS_PAGE,
    ROUTE_TABLES_PAGE, SECURITY_GROUP_RULES_PAGE, SECURITY_GROUPS_PAGE, SUBNETS_PAGE,
};
use super::progress::Progress;
use super::{AwsCollected, RegionTarget, collect_regions};
use crate::finding::Status;
use crate::load::Loaded;
use crate::policy::Policy;
use crate::scan;

const ACCOUNT: &str = "111122223333";

/// A client configuration answering from `rules`, as one region's would.
pub(super) fn mocked(rules: &[Rule]) -> aws_sdk_ec2::Config {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "secret", None, None, "test"))
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(1)))
        .http_client(create_mock_http_client())
        .interceptor(interceptor)
        .build()
}

fn collect(regions: Vec<(&str, Vec<Rule>)>) -> AwsCollected {
    let regions: Vec<RegionTarget> = regions
        .into_iter()
        .map(|(name, rules)| RegionTarget {
            account: None,
            region: name.to_string(),
            config: mocked(&rules),
        })
        .collect();
    let names: Vec<String> = regions.iter().map(|t| t.region.clone()).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(collect_regions(
        &regions,
        2,
        Duration::from_secs(60),
        Progress::new(false, &names),
        Instant::now(),
    ))
}

/// An instance with one interface: private 10.0.{n}.5, public 54.0.0.{n}.
fn reservation(n: u8) -> Reservation {
    let association = InstanceNetworkInterfaceAssociation::builder()
        .public_ip(format!("54.0.0.{n}"))
        .build();
    let interface = InstanceNetworkInterface::builder()
        .network_interface_id(format!("eni-{n}"))
        .subnet_id(format!("subnet-{n}"))
        .groups(
            GroupIdentifier::builder()
                .group_id(format!("sg-{n}"))
                .build(),
        )
        .private_ip_addresses(
            InstancePrivateIpAddress::builder()
                .private_ip_address(format!("10.0.{n}.5"))
                .association(association)
                .build(),
        )
        .build();
    Reservation::builder()
        .owner_id(ACCOUNT)
        .instances(
            Instance::builder()
                .instance_id(format!("i-{n}"))
                .placement(Placement::builder().availability_zone("us-east-1a").build())
                .network_interfaces(interface)
                .build(),
        )
        .build()
}

/// Group `sg-n` allowing `port` from `source` (a CIDR, or a `pl-` prefix list).
fn group(n: u8, port: i32, source: &str) -> SecurityGroup {
    let permission = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port);
    let permission = if source.starts_with("pl-") {
        permission.prefix_list_ids(PrefixListId::builder().prefix_list_id(source).build())
    } else {
        permission.ip_ranges(IpRange::builder().cidr_ip(source).build())
    };
    SecurityGroup::builder()
        .group_id(format!("sg-{n}"))
        .group_name(format!("group-{n}"))
        .vpc_id("vpc-1")
        .ip_permissions(permission.build())
        .build()
}

/// The rules of [`group`]`(n, port, source)` as `DescribeSecurityGroupRules` lists them: the
/// inbound one, `sgr-n`, and an outbound one that must not be taken for it.
fn group_rules(n: u8, port: i32, source: &str) -> [SecurityGroupRule; 2] {
    let rule = SecurityGroupRule::builder()
        .group_id(format!("sg-{n}"))
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port);
    let rule = if source.starts_with("pl-") {
        rule.prefix_list_id(source)
    } else {
        rule.cidr_ipv4(source)
    };
    [
        rule.clone()
            .security_group_rule_id(format!("sgr-egress-{n}"))
            .is_egress(true)
            .build(),
        rule.security_group_rule_id(format!("sgr-{n}"))
            .is_egress(false)
            .build(),
    ]
}

fn acl(n: u8) -> NetworkAcl {
    let entry = |number: i32, action: RuleAction| {
        NetworkAclEntry::builder()
            .rule_number(number)
            .egress(false)
            .rule_action(action)
            .protocol("-1")
            .cidr_block("0.0.0.0/0")
            .build()
    };
    NetworkAcl::builder()
        .network_acl_id(format!("acl-{n}"))
        .vpc_id("vpc-1")
        .associations(
            NetworkAclAssociation::builder()
                .subnet_id(format!("subnet-{n}"))
                .build(),
        )
        .entries(entry(100, RuleAction::Allow))
        .entries(entry(32767, RuleAction::Deny))
        .build()
}

fn route_table(n: u8) -> RouteTable {
    RouteTable::builder()
        .route_table_id(format!("rtb-{n}"))
        .vpc_id("vpc-1")
        .associations(
            RouteTableAssociation::builder()
                .main(false)
                .subnet_id(format!("subnet-{n}"))
                .build(),
        )
        .routes(
            Route::builder()
                .destination_cidr_block("0.0.0.0/0")
                .gateway_id("igw-1")
                .build(),
        )
        .build()
}

fn subnet(n: u8) -> Subnet {
    Subnet::builder()
        .subnet_id(format!("subnet-{n}"))
        .vpc_id("vpc-1")
        .cidr_block(format!("10.0.{n}.0/24"))
        .build()
}

fn prefix_list(id: &str) -> ManagedPrefixList {
    ManagedPrefixList::builder()
        .prefix_list_id(id)
        .prefix_list_name(format!("{id}-name"))
        .build()
}

fn entry(cidr: &str) -> PrefixListEntry {
    PrefixListEntry::builder().cidr(cidr).build()
}

/// A region whose every list comes in two pages, each asked for at the call's largest page
/// size. Instance 1 and what it needs are on the first pages, instance 2 and what it needs on
/// the second ones: SSH open to the world on i-1, RDP open to the prefix list pl-1 on i-2, whose
/// internet-wide entry is on the second page of its entries.
fn two_pages_of_everything() -> Vec<Rule> {
    vec![
        mock!(Client::describe_instances)
            .match_requests(|r| r.max_results() == Some(INSTANCES_PAGE) && r.next_token().is_none())
            .then_output(|| {
                DescribeInstancesOutput::builder()
                    .reservations(reservation(1))
                    .next_token("instances-2")
                    .build()
            }),
        mock!(Client::describe_instances)
            .match_requests(|r| {
                r.max_results() == Some(INSTANCES_PAGE) && r.next_token() == Some("instances-2")
            })
            .then_output(|| {
                DescribeInstancesOutput::builder()
                    .reservations(reservation(2))
                    .build()
            }),
        mock!(Client::describe_security_groups)
            .match_requests(|r| {
                r.max_results() == Some(SECURITY_GROUPS_PAGE) && r.next_token().is_none()
            })
            .then_output(|| {
                DescribeSecurityGroupsOutput::builder()
                    .security_groups(group(1, 22, "0.0.0.0/0"))
                    .next_token("groups-2")
                    .build()
            }),
        mock!(Client::describe_security_groups)
            .match_requests(|r| {
                r.max_results() == Some(SECURITY_GROUPS_PAGE) && r.next_token() == Some("groups-2")
            })
            .then_output(|| {
                DescribeSecurityGroupsOutput::builder()
                    .security_groups(group(2, 3389, "pl-1"))
                    .build()
            }),
        mock!(Client::describe_security_group_rules)
            .match_requests(|r| {
                r.max_results() == Some(SECURITY_GROUP_RULES_PAGE) && r.next_token().is_none()
            })
            .then_output(|| {
                DescribeSecurityGroupRulesOutput::builder()
                    .set_security_group_rules(Some(group_rules(1, 22, "0.0.0.0/0").to_vec()))
                    .next_token("rules-2")
                    .build()
            }),
        mock!(Client::describe_security_group_rules)
            .match_requests(|r| {
                r.max_results() == Some(SECURITY_GROUP_RULES_PAGE)
                    && r.next_token() == Some("rules-2")
            })
            .then_output(|| {
                DescribeSecurityGroupRulesOutput::builder()
                    .set_security_group_rules(Some(group_rules(2, 3389, "pl-1").to_vec()))
                    .build()
            }),
        mock!(Client::describe_network_acls)
            .match_requests(|r| {
                r.max_results() == Some(NETWORK_ACLS_PAGE) && r.next_token().is_none()
            })
            .then_output(|| {
                DescribeNetworkAclsOutput::builder()
                    .network_acls(acl(1))
                    .next_token("acls-2")
                    .build()
            }),
        mock!(Client::describe_network_acls)
            .match_requests(|r| {
                r.max_results() == Some(NETWORK_ACLS_PAGE) && r.next_token() == Some("acls-2")
            })
            .then_output(|| {
                DescribeNetworkAclsOutput::builder()
                    .network_acls(acl(2))
                    .build()
            }),
        mock!(Client::describe_route_tables)
            .match_requests(|r| {
                r.max_results() == Some(ROUTE_TABLES_PAGE) && r.next_token().is_none()
            })
            .then_output(|| {
                DescribeRouteTablesOutput::builder()
                    .route_tables(route_table(1))
                    .next_token("tables-2")
                    .build()
            }),
        mock!(Client::describe_route_tables)
            .match_requests(|r| {
                r.max_results() == Some(ROUTE_TABLES_PAGE) && r.next_token() == Some("tables-2")
            })
            .then_output(|| {
                DescribeRouteTablesOutput::builder()
                    .route_tables(route_table(2))
                    .build()
            }),
        mock!(Client::describe_subnets)
            .match_requests(|r| r.max_results() == Some(SUBNETS_PAGE) && r.next_token().is_none())
            .then_output(|| {
                DescribeSubnetsOutput::builder()
                    .subnets(subnet(1))
                    .next_token("subnets-2")
                    .build()
            }),
        mock!(Client::describe_subnets)
            .match_requests(|r| {
                r.max_results() == Some(SUBNETS_PAGE) && r.next_token() == Some("subnets-2")
            })
            .then_output(|| DescribeSubnetsOutput::builder().subnets(subnet(2)).build()),
        mock!(Client::describe_managed_prefix_lists)
            .match_requests(|r| {
                r.max_results() == Some(PREFIX_LISTS_PAGE) && r.next_token().is_none()
            })
            .then_output(|| {
                DescribeManagedPrefixListsOutput::builder()
                    .prefix_lists(prefix_list("pl-aws"))
                    .next_token("lists-2")
                    .build()
            }),
        mock!(Client::describe_managed_prefix_lists)
            .match_requests(|r| {
                r.max_results() == Some(PREFIX_LISTS_PAGE) && r.next_token() == Some("lists-2")
            })
            .then_output(|| {
                DescribeManagedPrefixListsOutput::builder()
                    .prefix_lists(prefix_list("pl-1"))
                    .build()
            }),
        mock!(Client::get_managed_prefix_list_entries)
            .match_requests(|r| {
                r.prefix_list_id() == Some("pl-1")
                    && r.max_results() == Some(PREFIX_LIST_ENTRIES_PAGE)
                    && r.next_token().is_none()
            })
            .then_output(|| {
                GetManagedPrefixListEntriesOutput::builder()
                    .entries(entry("10.0.0.0/8"))
                    .next_token("entries-2")
                    .build()
            }),
        mock!(Client::get_managed_prefix_list_entries)
            .match_requests(|r| {
                r.prefix_list_id() == Some("pl-1")
                    && r.max_results() == Some(PREFIX_LIST_ENTRIES_PAGE)
                    && r.next_token() == Some("entries-2")
            })
            .then_output(|| {
                GetManagedPrefixListEntriesOutput::builder()
                    .entries(entry("0.0.0.0/1"))
                    .build()
            }),
    ]
}

/// `management-ports-closed` of each VM: status and open ports.
fn closed_ports(collected: &AwsCollected) -> Vec<(String, Status, Vec<String>)> {
    let loaded = Loaded {
        snapshot: collected.collected.snapshot.clone(),
        ..Loaded::default()
    };
    let (report, _) = scan::scan(&loaded, &Policy::builtin());
    report
        .findings
        .into_iter()
        .filter(|f| f.rule == "management-ports-closed")
        .map(|f| {
            let ports = f.ports.iter().map(ToString::to_string).collect();
            (f.resource, f.status, ports)
        })
        .collect()
}

#[test]
fn every_list_is_read_to_its_last_page() {
    let collected = collect(vec![("us-east-1", two_pages_of_everything())]);
    let report = &collected.collected.report;
    assert!(report.complete, "{report:?}");
    let snapshot = &collected.collected.snapshot;
    assert_eq!(snapshot.vms.len(), 2);
    assert_eq!(snapshot.security_groups.len(), 2);
    assert_eq!(snapshot.network_acls.len(), 2);
    assert_eq!(snapshot.route_tables.len(), 2);
    assert_eq!(snapshot.subnets.len(), 2);
    let lists: Vec<(&str, Option<usize>)> = snapshot
        .prefix_lists
        .iter()
        .map(|l| (l.id.as_str(), l.entries.as_ref().map(Vec::len)))
        .collect();
    assert_eq!(lists, [("pl-aws", None), ("pl-1", Some(2))]);
    // Each inbound source has the id DescribeSecurityGroupRules gave its rule.
    let rule_ids: Vec<(&str, Option<&str>)> = snapshot
        .security_groups
        .iter()
        .flat_map(|g| {
            g.inbound
                .iter()
                .flat_map(|p| &p.sources)
                .map(move |s| (g, s))
        })
        .map(|(g, s)| (g.id.as_str(), s.rule_id.as_deref()))
        .collect();
    assert_eq!(rule_ids, [("sg-1", Some("sgr-1")), ("sg-2", Some("sgr-2"))]);
    assert_eq!(
        closed_ports(&collected),
        [
            (
                "i-1".to_string(),
                Status::Unhealthy,
                vec!["22/tcp".to_string()]
            ),
            (
                "i-2".to_string(),
                Status::Unhealthy,
                vec!["3389/tcp".to_string()]
            ),
        ]
    );
    // Two pages of each of the seven lists and of the one referenced prefix list's entries.
    assert_eq!(report.api_calls, 16);
    assert_eq!(report.scopes[0].api_calls, 16);
    assert_eq!(report.resources, snapshot.resource_count());
}

/// One page of each list, with instance `n` and all it needs, except the call `without`.
pub(super) fn one_page_region(n: u8, without: &str) -> Vec<Rule> {
    [
        (
            "DescribeInstances",
            mock!(Client::describe_instances).then_output(move || {
                DescribeInstancesOutput::builder()
                    .reservations(reservation(n))
                    .build()
            }),
        ),
        (
            "DescribeSecurityGroups",
            mock!(Client::describe_security_groups).then_output(move || {
                DescribeSecurityGroupsOutput::builder()
                    .security_groups(group(n, 22, "0.0.0.0/0"))
                    .build()
            }),
        ),
        (
            "DescribeSecurityGroupRules",
            mock!(Client::describe_security_group_rules).then_output(move || {
                DescribeSecurityGroupRulesOutput::builder()
                    .set_security_group_rules(Some(group_rules(n, 22, "0.0.0.0/0").to_vec()))
                    .build()
            }),
        ),
        (
            "DescribeNetworkAcls",
            mock!(Client::describe_network_acls).then_output(move || {
                DescribeNetworkAclsOutput::builder()
                    .network_acls(acl(n))
                    .build()
            }),
        ),
        (
            "DescribeRouteTables",
            mock!(Client::describe_route_tables).then_output(move || {
                DescribeRouteTablesOutput::builder()
                    .route_tables(route_table(n))
                    .build()
            }),
        ),
        (
            "DescribeSubnets",
            mock!(Client::describe_subnets)
                .then_output(move || DescribeSubnetsOutput::builder().subnets(subnet(n)).build()),
        ),
        (
            "DescribeManagedPrefixLists",
            mock!(Client::describe_managed_prefix_lists)
                .then_output(|| DescribeManagedPrefixListsOutput::builder().build()),
        ),
    ]
    .into_iter()
    .filter(|(operation, _)| *operation != without)
    .map(|(_, rule)| rule)
    .collect()
}

/// The body of an EC2 error response, as the query protocol sends it.
pub(super) fn ec2_error(code: &str) -> Option<String> {
    Some(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code>\
         <Message>{code} message from EC2</Message></Error></Errors><RequestID>r-1</RequestID>\
         </Response>"
    ))
}

#[test]
fn a_failing_region_is_reported_and_the_others_are_read() {
    for (status, code, hint) in [
        (
            403,
            "UnauthorizedOperation",
            "may not call ec2:DescribeSubnets",
        ),
        (401, "AuthFailure", "opt-in region not enabled"),
        (401, "OptInRequired", "has not opted in"),
        (400, "ExpiredToken", "sign in again"),
        (400, "SomethingElse", "SomethingElse message from EC2"),
    ] {
        let mut failing = one_page_region(2, "DescribeSubnets");
        failing.push(
            mock!(Client::describe_subnets)
                .sequence()
                .http_status(status, ec2_error(code))
                .repeatedly()
                .build(),
        );
        let collected = collect(vec![
            ("us-east-1", one_page_region(1, "")),
            ("eu-west-1", failing),
        ]);
        let report = &collected.collected.report;
        assert!(!report.complete, "{code}");
        assert_eq!(report.scopes.len(), 2);
        assert_eq!(report.scopes[0].name, "us-east-1");
        assert_eq!(report.scopes[0].error, None, "{code}");
        assert_eq!(report.scopes[1].name, "eu-west-1");
        let error = report.scopes[1].error.as_deref().unwrap_or_default();
        assert!(
            error.starts_with(&format!("DescribeSubnets: {code}: ")),
            "{error}"
        );
        assert!(error.contains(hint), "{code}: {error}");
        assert_eq!(report.scopes[1].resources, 0);
        // Nothing of the failed region is kept, and the snapshot says it is missing.
        let snapshot = &collected.collected.snapshot;
        let vms: Vec<&str> = snapshot.vms.iter().map(|vm| vm.id.as_str()).collect();
        assert_eq!(vms, ["i-1"], "{code}");
        assert_eq!(snapshot.missing_scopes.len(), 1);
        assert_eq!(snapshot.missing_scopes[0].name, "eu-west-1");
        assert_eq!(snapshot.missing_scopes[0].error, error);
    }
}

#[test]
fn throttled_calls_are_retried_and_counted() {
    let mut rules = one_page_region(1, "DescribeSubnets");
    rules.push(
        mock!(Client::describe_subnets)
            .sequence()
            .http_status(503, ec2_error("RequestLimitExceeded"))
            .output(|| DescribeSubnetsOutput::builder().subnets(subnet(1)).build())
            .build(),
    );
    let collected = collect(vec![("us-east-1", rules)]);
    let report = &collected.collected.report;
    assert!(report.complete, "{report:?}");
    assert_eq!(collected.collected.snapshot.subnets.len(), 1);
    assert_eq!(report.api_calls, 8);
}

#[test]
fn data_the_model_cannot_hold_fails_the_region_naming_it() {
    let bad_cidr = SecurityGroup::builder()
        .group_id("sg-9")
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("10.0.0.300/8").build())
                .build(),
        )
        .build();
    let reversed = SecurityGroup::builder()
        .group_id("sg-9")
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(23)
                .to_port(22)
                .build(),
        )
        .build();
    for (group, want) in [
        (
            bad_cidr,
            "CidrIp \"10.0.0.300/8\" of security group \"sg-9\" is invalid",
        ),
        (
            reversed,
            "ports 23-22 of security group \"sg-9\" end before they start",
        ),
    ] {
        let mut rules = one_page_region(1, "DescribeSecurityGroups");
        rules.push(
            mock!(Client::describe_security_groups).then_output(move || {
                DescribeSecurityGroupsOutput::builder()
                    .security_groups(group.clone())
                    .build()
            }),
        );
        let collected = collect(vec![("us-east-1", rules)]);
        let error = collected.collected.report.scopes[0]
            .error
            .clone()
            .unwrap_or_default();
        assert!(error.contains(want), "{error}");
    }
}

#[test]
fn a_listing_that_loops_or_never_ends_fails() {
    use super::fetch::{MAX_PAGES, PageGuard};
    // Tokens as an endpoint returns them, and what the listing makes of each.
    let ended = |tokens: &[Option<&str>]| {
        let mut guard = PageGuard::new("DescribeSubnets");
        tokens
            .iter()
            .map(|token| guard.next(token.map(str::to_string)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ended(&[Some("a"), Some("b"), None]),
        [Ok(Some("a".into())), Ok(Some("b".into())), Ok(None)]
    );
    assert_eq!(ended(&[Some("")]), [Ok(None)]);
    let looped = ended(&[Some("a"), Some("b"), Some("a")]);
    assert_eq!(
        looped[2],
        Err(
            "DescribeSubnets: page 3 repeats a NextToken of an earlier page; the listing would \
             loop, so the region is not read"
                .into()
        )
    );

    let mut guard = PageGuard::new("DescribeSubnets");
    for page in 1..MAX_PAGES {
        assert!(guard.next(Some(page.to_string())).is_ok(), "page {page}");
    }
    let endless = guard.next(Some("one more".into())).unwrap_err();
    assert!(
        endless.contains("did not end after 100000 pages"),
        "{endless}"
    );
}
