//! Security group writes against mocked EC2 answers that moto cannot give (it answers every dry
//! run `DryRunOperation` and never refuses a permission), and the conversion of rules.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::operation::authorize_security_group_ingress::AuthorizeSecurityGroupIngressOutput;
use aws_sdk_ec2::operation::describe_security_group_rules::DescribeSecurityGroupRulesOutput;
use aws_sdk_ec2::operation::revoke_security_group_ingress::RevokeSecurityGroupIngressOutput;
use aws_sdk_ec2::types::{ReferencedSecurityGroup, SecurityGroupRule};
use aws_smithy_mocks::{Rule, mock};

use super::*;
use crate::cloud::aws::tests::{ec2_error, mocked};
use crate::model::{PortRange, Protocol, SgSourceKind};
use crate::rule_ref::{SgRuleId, SgRuleRef};

fn group() -> GroupId {
    GroupId::new("sg-0a1").unwrap()
}

fn id(text: &str) -> RuleId {
    RuleId::new(text).unwrap()
}

fn writer(rules: &[Rule]) -> SgWriter {
    SgWriter::with_config(&mocked(rules), "us-east-1", Duration::from_secs(30))
}

fn run<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn ssh_from_anywhere() -> SgRuleSpec {
    SgRuleSpec {
        protocol: Protocol::TCP,
        ports: RulePorts::Range(PortRange::single(22)),
        source: SgSourceKind::Cidr("0.0.0.0/0".parse().unwrap()),
        description: Some("admin".into()),
    }
}

/// `rule` as `DescribeSecurityGroupRules` lists it in group [`group`].
fn listed(rule_id: &str) -> SecurityGroupRule {
    SecurityGroupRule::builder()
        .security_group_rule_id(rule_id)
        .group_id("sg-0a1")
        .is_egress(false)
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .cidr_ipv4("0.0.0.0/0")
        .description("admin")
        .build()
}

const SCP_DENIAL: &str = "You are not authorized to perform this operation. User: \
                          arn:aws:sts::1:assumed-role/fixer is not authorized to perform: \
                          ec2:RevokeSecurityGroupIngress with an explicit deny in a service \
                          control policy";

#[test]
fn refused_permissions_are_blocked_naming_the_group_rules_and_action() {
    for (status, code) in [
        (403, "UnauthorizedOperation"),
        (403, "AccessDenied"),
        (400, "UnauthorizedOperation"),
    ] {
        let body =
            ec2_error(code).map(|b| b.replace(&format!("{code} message from EC2"), SCP_DENIAL));
        let writer = writer(&[mock!(Client::revoke_security_group_ingress)
            .sequence()
            .http_status(status, body)
            .repeatedly()
            .build()]);
        for mode in [Mode::Apply, Mode::DryRun] {
            let error = run(writer.revoke_rules(&group(), &[id("sgr-1"), id("sgr-2")], mode));
            let error = match error {
                Err(error) => error,
                Ok(written) => panic!("{code}: {written:?}"),
            };
            assert!(error.is_blocked(), "{code}: {error}");
            let text = error.to_string();
            for part in [
                "RevokeSecurityGroupIngress of rules sgr-1, sgr-2 in security group sg-0a1 is blocked",
                "explicit deny in a service control policy",
                "allow ec2:RevokeSecurityGroupIngress",
                "docs/aws.md",
            ] {
                assert!(text.contains(part), "{code}: {text}");
            }
        }
    }
}

#[test]
fn a_dry_run_that_would_succeed_says_so_and_changes_nothing() {
    let writer = writer(&[
        mock!(Client::authorize_security_group_ingress)
            .match_requests(|request| request.dry_run() == Some(true))
            .sequence()
            .http_status(412, ec2_error("DryRunOperation"))
            .build(),
        mock!(Client::revoke_security_group_ingress)
            .match_requests(|request| request.dry_run() == Some(true))
            .sequence()
            .http_status(412, ec2_error("DryRunOperation"))
            .build(),
    ]);
    let authorized = run(writer.authorize_rules(
        &group(),
        &[ssh_from_anywhere()],
        &BTreeMap::new(),
        Mode::DryRun,
    ));
    assert_eq!(authorized.unwrap(), Written::WouldSucceed);
    let revoked = run(writer.revoke_rules(&group(), &[id("sgr-1")], Mode::DryRun));
    assert_eq!(revoked.unwrap(), Written::WouldSucceed);
    assert_eq!(writer.api_calls(), 2);
}

#[test]
fn throttled_writes_are_retried() {
    let writer = writer(&[mock!(Client::revoke_security_group_ingress)
        .sequence()
        .http_status(503, ec2_error("RequestLimitExceeded"))
        .output(|| {
            RevokeSecurityGroupIngressOutput::builder()
                .r#return(true)
                .build()
        })
        .build()]);
    let revoked = run(writer.revoke_rules(&group(), &[id("sgr-1")], Mode::Apply)).unwrap();
    let Written::Done(revoked) = revoked else {
        panic!("{revoked:?}");
    };
    assert_eq!(revoked.revoked, [id("sgr-1")]);
    assert_eq!(writer.api_calls(), 2);
}

#[test]
fn a_revoke_answered_not_found_revokes_the_rules_still_there() {
    // AWS's own code for an unknown rule id, which moto does not send.
    let writer = writer(&[
        mock!(Client::revoke_security_group_ingress)
            .match_requests(|request| request.security_group_rule_ids().len() == 2)
            .sequence()
            .http_status(400, ec2_error("InvalidSecurityGroupRuleId.NotFound"))
            .build(),
        mock!(Client::describe_security_group_rules).then_output(|| {
            DescribeSecurityGroupRulesOutput::builder()
                .security_group_rules(listed("sgr-1"))
                .build()
        }),
        mock!(Client::revoke_security_group_ingress)
            .match_requests(|request| request.security_group_rule_ids() == ["sgr-1"])
            .then_output(|| {
                RevokeSecurityGroupIngressOutput::builder()
                    .r#return(true)
                    .build()
            }),
    ]);
    let revoked = run(writer.revoke_rules(&group(), &[id("sgr-1"), id("sgr-2")], Mode::Apply));
    assert_eq!(
        revoked.unwrap(),
        Written::Done(Revoked {
            revoked: vec![id("sgr-1")],
            already_gone: vec![id("sgr-2")],
        })
    );
}

#[test]
fn an_authorize_that_fails_half_way_reports_what_is_in_place() {
    let second = SgRuleSpec {
        ports: RulePorts::Range(PortRange::single(443)),
        ..ssh_from_anywhere()
    };
    let writer = writer(&[
        mock!(Client::authorize_security_group_ingress)
            .match_requests(|request| request.ip_permissions()[0].from_port() == Some(22))
            .then_output(|| {
                AuthorizeSecurityGroupIngressOutput::builder()
                    .r#return(true)
                    .security_group_rules(listed("sgr-new"))
                    .build()
            }),
        mock!(Client::authorize_security_group_ingress)
            .sequence()
            .http_status(400, ec2_error("RulesPerSecurityGroupLimitExceeded"))
            .build(),
    ]);
    let error = run(writer.authorize_rules(
        &group(),
        &[ssh_from_anywhere(), second],
        &BTreeMap::new(),
        Mode::Apply,
    ))
    .unwrap_err();
    assert_eq!(error.authorized.len(), 1);
    assert_eq!(error.authorized[0].rule.id, id("sgr-new"));
    assert!(!error.error.is_blocked());
    let text = error.to_string();
    assert!(
        text.contains("RulesPerSecurityGroupLimitExceeded"),
        "{text}"
    );
    assert!(text.contains("tcp 443 from 0.0.0.0/0"), "{text}");
    assert!(
        text.contains("partly done: 1 of the rules asked for are in place: sgr-new"),
        "{text}"
    );
}

#[test]
fn a_write_past_the_deadline_is_of_unknown_effect() {
    let writer = SgWriter::with_config(
        &mocked(&[mock!(Client::revoke_security_group_ingress)
            .sequence()
            .http_status(503, ec2_error("RequestLimitExceeded"))
            .repeatedly()
            .build()]),
        "us-east-1",
        Duration::ZERO,
    );
    let error = run(writer.revoke_rules(&group(), &[id("sgr-1")], Mode::Apply)).unwrap_err();
    assert!(matches!(error, WriteError::TimedOut { .. }), "{error}");
    assert!(
        error.to_string().contains("its effect is unknown"),
        "{error}"
    );
}

#[test]
fn rules_are_read_with_every_kind_of_source_and_icmp_types() {
    let base = || {
        SecurityGroupRule::builder()
            .security_group_rule_id("sgr-9")
            .group_id("sg-0a1")
    };
    let cases = [
        (
            base()
                .ip_protocol("icmp")
                .from_port(8)
                .to_port(-1)
                .cidr_ipv6("::/0"),
            Protocol::Number(1),
            RulePorts::Icmp {
                icmp_type: 8,
                code: None,
            },
            SgSourceKind::Cidr("::/0".parse().unwrap()),
        ),
        (
            base()
                .ip_protocol("-1")
                .from_port(-1)
                .to_port(-1)
                .prefix_list_id("pl-1"),
            Protocol::Any,
            RulePorts::All,
            SgSourceKind::PrefixList("pl-1".into()),
        ),
        (
            base()
                .ip_protocol("udp")
                .from_port(0)
                .to_port(65535)
                .referenced_group_info(ReferencedSecurityGroup::builder().group_id("sg-2").build()),
            Protocol::UDP,
            RulePorts::Range(PortRange::ALL),
            SgSourceKind::Group("sg-2".into()),
        ),
    ];
    for (rule, protocol, ports, source) in cases {
        let rule = live_rule(&rule.build()).unwrap();
        assert_eq!(
            (rule.spec.protocol, rule.spec.ports, rule.spec.source),
            (protocol, ports, source)
        );
    }
    // The spellings of every TCP port are the same access; ICMP types are told apart.
    let all_tcp = SgRuleSpec {
        ports: RulePorts::All,
        ..ssh_from_anywhere()
    };
    let range_tcp = SgRuleSpec {
        ports: RulePorts::Range(PortRange::ALL),
        ..ssh_from_anywhere()
    };
    assert!(all_tcp.same_access(&range_tcp));
    assert!(!all_tcp.same_access(&ssh_from_anywhere()));
    let echo = |code| SgRuleSpec {
        protocol: Protocol::Number(1),
        ports: RulePorts::Icmp { icmp_type: 8, code },
        ..ssh_from_anywhere()
    };
    assert!(!echo(None).same_access(&echo(Some(0))));
    for (rule, error) in [
        (
            base()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .cidr_ipv4("10.0.0.300/8"),
            "CidrIpv4 \"10.0.0.300/8\" of security group rule \"sgr-9\" is invalid",
        ),
        (
            base()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(70000)
                .cidr_ipv4("10.0.0.0/8"),
            "security group rule \"sgr-9\"",
        ),
        (
            base().ip_protocol("tcp").from_port(22).to_port(22),
            "security group rule \"sgr-9\" has no source",
        ),
    ] {
        let text = live_rule(&rule.build()).unwrap_err();
        assert!(text.contains(error), "{text}");
    }
}

#[test]
fn a_live_rule_matches_the_scan_reference_only_while_unchanged() {
    let rule = live_rule(&listed("sgr-1")).unwrap();
    let reference = SgRuleRef {
        group: "sg-0a1".into(),
        rule_id: SgRuleId::Read("sgr-1".into()),
        protocol: Protocol::TCP,
        ports: Some(PortRange::single(22)),
        source: SgSourceKind::Cidr("0.0.0.0/0".parse().unwrap()),
        description: Some("admin".into()),
    };
    assert!(rule.matches_ref(&reference));
    let derived = SgRuleRef {
        rule_id: SgRuleId::Derived("sg-0a1/tcp/22/cidr:0.0.0.0/0".into()),
        ..reference.clone()
    };
    assert!(rule.matches_ref(&derived));
    for changed in [
        SgRuleRef {
            rule_id: SgRuleId::Read("sgr-2".into()),
            ..reference.clone()
        },
        SgRuleRef {
            ports: Some(PortRange::single(23)),
            ..reference.clone()
        },
        SgRuleRef {
            description: None,
            ..reference.clone()
        },
        SgRuleRef {
            group: "sg-0b2".into(),
            ..reference.clone()
        },
    ] {
        assert!(!rule.matches_ref(&changed), "{changed:?}");
    }
}

#[test]
fn ids_are_checked() {
    assert!(GroupId::new("sg-0123abc").is_ok());
    assert!(RuleId::new("sgr-0123abc").is_ok());
    for bad in ["", "sg-", "sgr-1", "sg-1/2", "i-123"] {
        assert!(GroupId::new(bad).is_err(), "{bad}");
    }
    let error = RuleId::new("sg-1").unwrap_err().to_string();
    assert_eq!(error, "\"sg-1\" is not a security group rule id (`sgr-…`)");
}
