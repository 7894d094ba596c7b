//! Writes to security groups, one inbound rule at a time: what `fix` calls to read a group's
//! rules, revoke rules by their `sgr-…` ids, authorize rules (with their descriptions), and
//! modify a rule in place.
//!
//! Answers converge, so that a replayed write (after a crash, or a retry whose first answer was
//! lost) ends where the first would have: `InvalidPermission.Duplicate` on authorize means the
//! rule is there (it is returned, found by content), `InvalidPermission.NotFound` or
//! `InvalidSecurityGroupRuleId.NotFound` on revoke means it is gone (the rules still there are
//! revoked, and the others reported as already gone). Each authorize sends one rule, so a failure
//! never leaves half a call applied.
//!
//! With [`Mode::DryRun`] EC2 only checks permission (`DryRun=true`): `DryRunOperation` is
//! [`Written::WouldSucceed`]; `UnauthorizedOperation`, `AccessDenied` and SCP denials are
//! [`WriteError::Blocked`], in either mode, naming the group, the rules and the IAM action to
//! grant. Calls use the reader's configuration ([`super::config`]): its timeouts, response
//! bounds and retries (throttling is retried with adaptive backoff), and each call must end
//! within the scope deadline.
//!
//! moto (the tests' EC2) answers every `DryRun` with `DryRunOperation`, never
//! `UnauthorizedOperation`; its `ModifySecurityGroupRules` changes only the protocol, ports,
//! description and an IPv4 CIDR (not an IPv6 CIDR, prefix list or referenced group); its revoke
//! answers only `Return`, without the revoked rules; and it returns the new rules of the last
//! permission of an authorize only. The code here relies on none of these.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, PrefixListId, SecurityGroupRule,
    SecurityGroupRuleRequest, SecurityGroupRuleUpdate, UserIdGroupPair,
};
use serde::{Deserialize, Serialize};

use super::calls::CallCounter;
use super::fetch::{PageGuard, SECURITY_GROUP_RULES_PAGE};
use super::{AwsError, AwsOptions, config, errors};
use crate::aws_mapping;
use crate::model::{PortRange, Protocol, SgSourceKind};
use crate::rule_ref::{SgRuleId, SgRuleRef};

/// Why an id was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{text:?} is not a {what} id (`{prefix}…`)")]
pub struct BadId {
    text: String,
    what: &'static str,
    prefix: &'static str,
}

macro_rules! ec2_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(text: &str) -> Result<Self, BadId> {
                let text = text.trim();
                let rest = text.strip_prefix($prefix).unwrap_or_default();
                if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(BadId {
                        text: text.to_string(),
                        what: $what,
                        prefix: $prefix,
                    });
                }
                Ok(Self(text.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = BadId;

            fn try_from(text: String) -> Result<Self, BadId> {
                Self::new(&text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

ec2_id!(
    /// A security group id, `sg-…`.
    GroupId,
    "sg-",
    "security group"
);
ec2_id!(
    /// A security group rule id, `sgr-…`.
    RuleId,
    "sgr-",
    "security group rule"
);

/// The ports a rule allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RulePorts {
    /// Every port (or ICMP type): protocol `-1`, a protocol without ports, or -1.
    All,
    /// TCP or UDP ports.
    Range(PortRange),
    /// One ICMP or ICMPv6 type, with one code or (`None`) every code.
    Icmp { icmp_type: u8, code: Option<u8> },
}

impl RulePorts {
    /// The ports as the model holds them ([`crate::model::SgPermission::ports`]): `None` for all
    /// ports, and for protocols whose rules have no ports.
    pub fn model(self) -> Option<PortRange> {
        match self {
            RulePorts::Range(range) => Some(range),
            RulePorts::All | RulePorts::Icmp { .. } => None,
        }
    }

    /// The same ports whichever way EC2 spells them (`-1` or `0-65535` for every TCP port).
    fn canonical(self, protocol: Protocol) -> RulePorts {
        match self {
            RulePorts::Range(range) if range.is_all() && is_tcp_or_udp(protocol) => RulePorts::All,
            other => other,
        }
    }

    /// `FromPort` and `ToPort` as EC2 takes them for `protocol`; `None` when it takes none.
    fn port_fields(self, protocol: Protocol) -> Option<(i32, i32)> {
        match (self, protocol) {
            (_, Protocol::Any) => None,
            (RulePorts::Range(range), _) => Some((range.first.into(), range.last.into())),
            (RulePorts::Icmp { icmp_type, code }, _) => {
                Some((icmp_type.into(), code.map_or(-1, i32::from)))
            }
            (RulePorts::All, p) if is_tcp_or_udp(p) => Some((0, u16::MAX.into())),
            (RulePorts::All, p) if is_icmp(p) => Some((-1, -1)),
            (RulePorts::All, _) => None,
        }
    }
}

fn is_tcp_or_udp(protocol: Protocol) -> bool {
    protocol == Protocol::TCP || protocol == Protocol::UDP
}

fn is_icmp(protocol: Protocol) -> bool {
    matches!(protocol, Protocol::Number(1 | 58))
}

/// What an inbound rule allows, and its description: what authorize takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SgRuleSpec {
    pub protocol: Protocol,
    pub ports: RulePorts,
    /// An IPv4 or IPv6 CIDR, a prefix list, or a referenced security group.
    pub source: SgSourceKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl SgRuleSpec {
    /// Whether the two allow the same traffic: the same protocol, ports and source. EC2 tells
    /// rules apart by these alone (descriptions aside).
    pub fn same_access(&self, other: &SgRuleSpec) -> bool {
        self.protocol == other.protocol
            && self.ports.canonical(self.protocol) == other.ports.canonical(other.protocol)
            && self.source == other.source
    }

    fn permission(&self) -> IpPermission {
        let mut permission = IpPermission::builder().ip_protocol(protocol_name(self.protocol));
        if let Some((from, to)) = self.ports.port_fields(self.protocol) {
            permission = permission.from_port(from).to_port(to);
        }
        let description = self.description.clone();
        match &self.source {
            SgSourceKind::Cidr(net) if net.is_ipv4() => permission.ip_ranges(
                IpRange::builder()
                    .cidr_ip(net.to_string())
                    .set_description(description)
                    .build(),
            ),
            SgSourceKind::Cidr(net) => permission.ipv6_ranges(
                Ipv6Range::builder()
                    .cidr_ipv6(net.to_string())
                    .set_description(description)
                    .build(),
            ),
            SgSourceKind::PrefixList(id) => permission.prefix_list_ids(
                PrefixListId::builder()
                    .prefix_list_id(id)
                    .set_description(description)
                    .build(),
            ),
            SgSourceKind::Group(id) => permission.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(id)
                    .set_description(description)
                    .build(),
            ),
        }
        .build()
    }

    fn request(&self) -> SecurityGroupRuleRequest {
        let mut request = SecurityGroupRuleRequest::builder()
            .ip_protocol(protocol_name(self.protocol))
            .set_description(self.description.clone());
        if let Some((from, to)) = self.ports.port_fields(self.protocol) {
            request = request.from_port(from).to_port(to);
        } else {
            request = request.from_port(-1).to_port(-1);
        }
        match &self.source {
            SgSourceKind::Cidr(net) if net.is_ipv4() => request.cidr_ipv4(net.to_string()),
            SgSourceKind::Cidr(net) => request.cidr_ipv6(net.to_string()),
            SgSourceKind::PrefixList(id) => request.prefix_list_id(id),
            SgSourceKind::Group(id) => request.referenced_group_id(id),
        }
        .build()
    }
}

/// `tcp 22 from 0.0.0.0/0`, as errors name a rule.
impl fmt::Display for SgRuleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let protocol = match self.protocol {
            Protocol::Any => "all traffic".to_string(),
            p => p.to_string(),
        };
        let ports = match self.ports.canonical(self.protocol) {
            RulePorts::All => String::new(),
            RulePorts::Range(range) => format!(" {range}"),
            RulePorts::Icmp { icmp_type, code } => match code {
                Some(code) => format!(" type {icmp_type} code {code}"),
                None => format!(" type {icmp_type}"),
            },
        };
        let source = match &self.source {
            SgSourceKind::Cidr(net) => net.to_string(),
            SgSourceKind::PrefixList(id) => format!("prefix list {id}"),
            SgSourceKind::Group(id) => format!("security group {id}"),
        };
        write!(f, "{protocol}{ports} from {source}")
    }
}

/// EC2's name of a protocol: `tcp`, `udp`, `icmp`, `icmpv6`, `-1`, else its number.
fn protocol_name(protocol: Protocol) -> String {
    match protocol {
        Protocol::Any => "-1".to_string(),
        Protocol::Number(6 | 17 | 1 | 58) => protocol.to_string(),
        Protocol::Number(n) => n.to_string(),
    }
}

/// An inbound security group rule as EC2 holds it now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSgRule {
    pub id: RuleId,
    pub group_id: GroupId,
    #[serde(flatten)]
    pub spec: SgRuleSpec,
}

impl LiveSgRule {
    /// Whether this is the rule `reference` (from a scan) names, with the content it had then:
    /// the same group, the same `sgr-…` id when the scan read one, and the same access and
    /// description. A rule that differs was changed since the scan.
    pub fn matches_ref(&self, reference: &SgRuleRef) -> bool {
        let id_matches = match &reference.rule_id {
            SgRuleId::Read(id) => id == self.id.as_str(),
            SgRuleId::Derived(_) => true,
        };
        *reference.group == *self.group_id.as_str()
            && id_matches
            && self.spec.protocol == reference.protocol
            && self.spec.ports.model() == reference.ports
            && self.spec.source == reference.source
            && self.spec.description == reference.description
    }
}

/// An inbound rule of `DescribeSecurityGroupRules` as a [`LiveSgRule`], or what is wrong with it.
pub(super) fn live_rule(rule: &SecurityGroupRule) -> Result<LiveSgRule, String> {
    let id = rule.security_group_rule_id().unwrap_or_default();
    let owner = format!("security group rule {id:?}");
    let id = RuleId::new(id).map_err(|e| e.to_string())?;
    let group_id = GroupId::new(rule.group_id().unwrap_or_default())
        .map_err(|e| format!("GroupId of {owner}: {e}"))?;
    let protocol: Protocol = rule
        .ip_protocol()
        .ok_or_else(|| format!("{owner} has no IpProtocol"))?
        .parse()
        .map_err(|e| format!("IpProtocol of {owner}: {e}"))?;
    let (from, to) = (rule.from_port(), rule.to_port());
    let ports = if is_tcp_or_udp(protocol) {
        aws_mapping::port_range(protocol, from.map(i64::from), to.map(i64::from))
            .map_err(|e| e.message(("FromPort", "ToPort"), &owner))?
            .map_or(RulePorts::All, RulePorts::Range)
    } else if is_icmp(protocol) {
        let number = |value: Option<i32>, field: &str| match value {
            None | Some(-1) => Ok(None),
            Some(n) => u8::try_from(n)
                .map(Some)
                .map_err(|_| format!("{field} {n} of {owner} is not an ICMP type or code")),
        };
        match (number(from, "FromPort")?, number(to, "ToPort")?) {
            (None, _) => RulePorts::All,
            (Some(icmp_type), code) => RulePorts::Icmp { icmp_type, code },
        }
    } else {
        RulePorts::All
    };
    let cidr = |text: &str, field: &str| {
        text.trim()
            .parse()
            .map(SgSourceKind::Cidr)
            .map_err(|e| format!("{field} {text:?} of {owner} is invalid: {e}"))
    };
    let source = match (
        rule.cidr_ipv4(),
        rule.cidr_ipv6(),
        rule.prefix_list_id(),
        rule.referenced_group_info().and_then(|g| g.group_id()),
    ) {
        (Some(v4), ..) => cidr(v4, "CidrIpv4")?,
        (None, Some(v6), ..) => cidr(v6, "CidrIpv6")?,
        (None, None, Some(list), _) => SgSourceKind::PrefixList(list.to_string()),
        (None, None, None, Some(group)) => SgSourceKind::Group(group.to_string()),
        (None, None, None, None) => return Err(format!("{owner} has no source")),
    };
    Ok(LiveSgRule {
        id,
        group_id,
        spec: SgRuleSpec {
            protocol,
            ports,
            source,
            description: rule.description().map(str::to_string),
        },
    })
}

/// Whether a write is made, or only checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Apply,
    /// EC2 checks the permission (`DryRun=true`) and changes nothing.
    DryRun,
}

/// What a write did, or in a dry run, that it would be allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written<T> {
    Done(T),
    /// EC2 answered `DryRunOperation`: the credentials may make this write.
    WouldSucceed,
}

/// What a revoke did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Revoked {
    /// Rules this call removed.
    pub revoked: Vec<RuleId>,
    /// Rules that were not in the group (any more): nothing to do.
    pub already_gone: Vec<RuleId>,
}

/// A rule that authorize left in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorized {
    pub rule: LiveSgRule,
    /// True when the group already held a rule with this access (EC2 answered `Duplicate`);
    /// its description is then the existing rule's.
    pub already_there: bool,
}

/// The EC2 calls made here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    DescribeSecurityGroupRules,
    RevokeSecurityGroupIngress,
    AuthorizeSecurityGroupIngress,
    ModifySecurityGroupRules,
}

impl Operation {
    /// The IAM action that allows it.
    pub fn iam_action(self) -> String {
        format!("ec2:{self}")
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Why a write (or the read it needed) failed, naming the group and rules and what to do.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(
        "{operation} of {rules} in security group {group} is blocked: {reason}; allow {} for \
         these credentials (the remediation policy in docs/aws.md), or lift the service control \
         policy or permissions boundary that denies it",
        operation.iam_action()
    )]
    Blocked {
        operation: Operation,
        group: GroupId,
        rules: String,
        reason: String,
    },
    #[error(
        "security group {group} does not exist (any more); plan again: the plan was made for a \
         group that is gone"
    )]
    GroupNotFound { group: GroupId },
    #[error("{operation} of {rules} in security group {group} failed: {detail}")]
    Failed {
        operation: Operation,
        group: GroupId,
        rules: String,
        detail: String,
    },
    #[error(
        "{operation} of {rules} in security group {group} did not end within {deadline:?} \
         (--scope-deadline); its effect is unknown: read the group again before retrying"
    )]
    TimedOut {
        operation: Operation,
        group: GroupId,
        rules: String,
        deadline: Duration,
    },
    #[error(
        "security group {group}: {detail}; the rules EC2 returned cannot be read, so nothing \
         more is written to this group"
    )]
    Unreadable { group: GroupId, detail: String },
    #[error(
        "{operation} of {rule} in security group {group}: EC2 answered {code}, yet no rule with \
         that access is in the group; read the group again and plan again"
    )]
    NotVerified {
        operation: Operation,
        group: GroupId,
        rule: String,
        code: String,
    },
}

impl WriteError {
    /// True when the cloud's governance refused the write (as opposed to a failure).
    pub fn is_blocked(&self) -> bool {
        matches!(self, WriteError::Blocked { .. })
    }
}

/// An authorize that stopped at a rule: the rules before it are in place.
#[derive(Debug, thiserror::Error)]
#[error(
    "{error}{}",
    if authorized.is_empty() {
        String::new()
    } else {
        format!(
            " (partly done: {} of the rules asked for are in place: {})",
            authorized.len(),
            authorized.iter().map(|a| a.rule.id.as_str()).collect::<Vec<_>>().join(", ")
        )
    }
)]
pub struct AuthorizeError {
    pub authorized: Vec<Authorized>,
    pub error: WriteError,
}

/// How EC2 answered a write, sorted by what the caller does next.
enum Answer<T> {
    Ok(T),
    DryRunOk,
    Duplicate(String),
    NotFound(String),
}

/// EC2 codes that mean the rule asked about is not there.
const RULE_NOT_FOUND: [&str; 2] = [
    "InvalidPermission.NotFound",
    "InvalidSecurityGroupRuleId.NotFound",
];

/// How many times a revoke is sent again after an answer that some rules were gone already.
const REVOKE_ROUNDS: usize = 3;

/// Security group writes in one region.
#[derive(Clone, Debug)]
pub struct SgWriter {
    client: Client,
    counter: CallCounter,
    deadline: Duration,
}

impl SgWriter {
    /// A writer for `region`, configured like the reader (`options`' profile, endpoint and
    /// limits); fails when no credentials resolve.
    pub async fn connect(options: &AwsOptions, region: &str) -> Result<SgWriter, AwsError> {
        let setup = config::load(options).await?;
        Ok(Self::with_config(
            &setup.base,
            region,
            options.limits.scope_deadline,
        ))
    }

    fn with_config(base: &aws_sdk_ec2::Config, region: &str, deadline: Duration) -> SgWriter {
        let counter = CallCounter::default();
        SgWriter {
            client: counter.client(base, region),
            counter,
            deadline,
        }
    }

    /// Requests sent so far, retries included.
    pub fn api_calls(&self) -> u64 {
        self.counter.calls()
    }

    /// Every inbound rule of `group`, in EC2's order.
    pub async fn describe_group_rules(
        &self,
        group: &GroupId,
    ) -> Result<Vec<LiveSgRule>, WriteError> {
        let operation = Operation::DescribeSecurityGroupRules;
        let mut guard = PageGuard::listing("DescribeSecurityGroupRules", "the group's rules");
        let mut token = None;
        let mut rules = Vec::new();
        loop {
            let call = self
                .client
                .describe_security_group_rules()
                .filters(
                    Filter::builder()
                        .name("group-id")
                        .values(group.as_str())
                        .build(),
                )
                .max_results(SECURITY_GROUP_RULES_PAGE)
                .set_next_token(token.take())
                .send();
            let page = match self.answer(operation, group, "its rules", call).await? {
                Answer::Ok(page) => page,
                Answer::DryRunOk | Answer::Duplicate(_) | Answer::NotFound(_) => {
                    return Err(unexpected(operation, group, "its rules"));
                }
            };
            rules.extend(inbound(group, page.security_group_rules())?);
            match guard
                .next(page.next_token)
                .map_err(|detail| WriteError::Unreadable {
                    group: group.clone(),
                    detail,
                })? {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        Ok(rules)
    }

    /// Inbound rule `id` of `group` as it is now; `None` when the group holds no such rule.
    pub async fn describe_rule(
        &self,
        group: &GroupId,
        id: &RuleId,
    ) -> Result<Option<LiveSgRule>, WriteError> {
        let operation = Operation::DescribeSecurityGroupRules;
        let call = self
            .client
            .describe_security_group_rules()
            .security_group_rule_ids(id.as_str())
            .send();
        match self
            .answer(operation, group, &format!("rule {id}"), call)
            .await?
        {
            Answer::Ok(output) => Ok(inbound(group, output.security_group_rules())?
                .into_iter()
                .find(|rule| rule.id == *id)),
            Answer::NotFound(_) => Ok(None),
            Answer::DryRunOk | Answer::Duplicate(_) => {
                Err(unexpected(operation, group, &format!("rule {id}")))
            }
        }
    }

    /// Revokes inbound rules `ids` of `group` (`RevokeSecurityGroupIngress` with
    /// `SecurityGroupRuleIds`). Rules no longer in the group are reported as already gone; EC2
    /// revokes nothing when any id is unknown, so the rest are revoked again without them.
    pub async fn revoke_rules(
        &self,
        group: &GroupId,
        ids: &[RuleId],
        mode: Mode,
    ) -> Result<Written<Revoked>, WriteError> {
        let operation = Operation::RevokeSecurityGroupIngress;
        let mut wanted: Vec<RuleId> = Vec::new();
        for id in ids {
            if !wanted.contains(id) {
                wanted.push(id.clone());
            }
        }
        let mut outcome = Revoked::default();
        for _ in 0..REVOKE_ROUNDS {
            if wanted.is_empty() {
                return Ok(Written::Done(outcome));
            }
            let call = self
                .client
                .revoke_security_group_ingress()
                .group_id(group.as_str())
                .set_security_group_rule_ids(Some(
                    wanted.iter().map(|id| id.as_str().to_string()).collect(),
                ))
                .dry_run(mode == Mode::DryRun)
                .send();
            match self
                .answer(operation, group, &rule_list(&wanted), call)
                .await?
            {
                Answer::Ok(_) => {
                    outcome.revoked.append(&mut wanted);
                    return Ok(Written::Done(outcome));
                }
                Answer::DryRunOk => return Ok(Written::WouldSucceed),
                Answer::NotFound(_) | Answer::Duplicate(_) => {
                    let live = self.describe_group_rules(group).await?;
                    let (present, gone): (Vec<RuleId>, Vec<RuleId>) = wanted
                        .into_iter()
                        .partition(|id| live.iter().any(|rule| rule.id == *id));
                    outcome.already_gone.extend(gone);
                    wanted = present;
                }
            }
        }
        if wanted.is_empty() {
            return Ok(Written::Done(outcome));
        }
        Err(WriteError::Failed {
            operation,
            group: group.clone(),
            rules: rule_list(&wanted),
            detail: format!(
                "EC2 kept answering that some of the rules are not in the group, yet they are \
                 listed in it ({REVOKE_ROUNDS} tries); read the group again and plan again"
            ),
        })
    }

    /// Authorizes inbound rules `specs` in `group`, one call per rule, with their descriptions,
    /// and returns them as EC2 holds them. A rule whose access the group already allows is
    /// returned as it is there.
    pub async fn authorize_rules(
        &self,
        group: &GroupId,
        specs: &[SgRuleSpec],
        mode: Mode,
    ) -> Result<Written<Vec<Authorized>>, AuthorizeError> {
        let operation = Operation::AuthorizeSecurityGroupIngress;
        if specs.is_empty() {
            return Ok(Written::Done(Vec::new()));
        }
        if mode == Mode::DryRun {
            let call = self
                .client
                .authorize_security_group_ingress()
                .group_id(group.as_str())
                .set_ip_permissions(Some(specs.iter().map(SgRuleSpec::permission).collect()))
                .dry_run(true)
                .send();
            let named = specs.iter().map(ToString::to_string).collect::<Vec<_>>();
            let answer = self.answer(operation, group, &named.join(", "), call).await;
            return match answer {
                Ok(Answer::DryRunOk) => Ok(Written::WouldSucceed),
                Ok(_) => Err(AuthorizeError {
                    authorized: Vec::new(),
                    error: WriteError::Failed {
                        operation,
                        group: group.clone(),
                        rules: named.join(", "),
                        detail: "EC2 did not answer DryRunOperation to a dry run".to_string(),
                    },
                }),
                Err(error) => Err(AuthorizeError {
                    authorized: Vec::new(),
                    error,
                }),
            };
        }
        let mut authorized: Vec<Authorized> = Vec::new();
        for spec in specs {
            if authorized.iter().any(|a| a.rule.spec.same_access(spec)) {
                continue;
            }
            match self.authorize_one(group, spec).await {
                Ok(done) => authorized.push(done),
                Err(error) => return Err(AuthorizeError { authorized, error }),
            }
        }
        Ok(Written::Done(authorized))
    }

    async fn authorize_one(
        &self,
        group: &GroupId,
        spec: &SgRuleSpec,
    ) -> Result<Authorized, WriteError> {
        let operation = Operation::AuthorizeSecurityGroupIngress;
        let call = self
            .client
            .authorize_security_group_ingress()
            .group_id(group.as_str())
            .ip_permissions(spec.permission())
            .send();
        let (code, already_there) = match self
            .answer(operation, group, &spec.to_string(), call)
            .await?
        {
            Answer::Ok(output) => {
                let created = inbound(group, output.security_group_rules())?
                    .into_iter()
                    .find(|rule| rule.spec.same_access(spec));
                if let Some(rule) = created {
                    return Ok(Authorized {
                        rule,
                        already_there: false,
                    });
                }
                // EC2 did not say which rule it made: look it up.
                ("success".to_string(), false)
            }
            Answer::Duplicate(code) => (code, true),
            Answer::DryRunOk | Answer::NotFound(_) => ("an unexpected answer".to_string(), false),
        };
        let found = self
            .describe_group_rules(group)
            .await?
            .into_iter()
            .find(|rule| rule.spec.same_access(spec));
        match found {
            Some(rule) => Ok(Authorized {
                rule,
                already_there,
            }),
            None => Err(WriteError::NotVerified {
                operation,
                group: group.clone(),
                rule: spec.to_string(),
                code,
            }),
        }
    }

    /// Changes rule `id` of `group` in place to `spec` (`ModifySecurityGroupRules`), keeping its
    /// id, and returns it as EC2 then holds it (checked: its access, and its description when
    /// `spec` gives one).
    pub async fn modify_rule(
        &self,
        group: &GroupId,
        id: &RuleId,
        spec: &SgRuleSpec,
        mode: Mode,
    ) -> Result<Written<LiveSgRule>, WriteError> {
        let operation = Operation::ModifySecurityGroupRules;
        let what = format!("rule {id} (to {spec})");
        let call = self
            .client
            .modify_security_group_rules()
            .group_id(group.as_str())
            .security_group_rules(
                SecurityGroupRuleUpdate::builder()
                    .security_group_rule_id(id.as_str())
                    .security_group_rule(spec.request())
                    .build(),
            )
            .dry_run(mode == Mode::DryRun)
            .send();
        match self.answer(operation, group, &what, call).await? {
            Answer::DryRunOk => return Ok(Written::WouldSucceed),
            Answer::Ok(_) => {}
            Answer::NotFound(code) | Answer::Duplicate(code) => {
                return Err(WriteError::Failed {
                    operation,
                    group: group.clone(),
                    rules: what,
                    detail: format!("{code}: the rule is not in the group (any more); plan again"),
                });
            }
        }
        match self.describe_rule(group, id).await? {
            Some(rule)
                if rule.spec.same_access(spec)
                    && (spec.description.is_none()
                        || rule.spec.description == spec.description) =>
            {
                Ok(Written::Done(rule))
            }
            _ => Err(WriteError::NotVerified {
                operation,
                group: group.clone(),
                rule: what,
                code: "success".to_string(),
            }),
        }
    }

    /// Sends `call` within the deadline and sorts EC2's answer.
    async fn answer<T, E>(
        &self,
        operation: Operation,
        group: &GroupId,
        rules: &str,
        call: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    ) -> Result<Answer<T>, WriteError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let result = tokio::time::timeout(self.deadline, call)
            .await
            .map_err(|_| WriteError::TimedOut {
                operation,
                group: group.clone(),
                rules: rules.to_string(),
                deadline: self.deadline,
            })?;
        let error = match result {
            Ok(output) => return Ok(Answer::Ok(output)),
            Err(error) => error,
        };
        let code = error.code().unwrap_or_default().to_string();
        match code.as_str() {
            "DryRunOperation" => Ok(Answer::DryRunOk),
            "InvalidPermission.Duplicate" => Ok(Answer::Duplicate(code)),
            c if RULE_NOT_FOUND.contains(&c) => Ok(Answer::NotFound(code)),
            "InvalidGroup.NotFound" | "InvalidGroupId.NotFound" => Err(WriteError::GroupNotFound {
                group: group.clone(),
            }),
            "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" => {
                Err(WriteError::Blocked {
                    operation,
                    group: group.clone(),
                    rules: rules.to_string(),
                    reason: format!("{code}: {}", error.message().unwrap_or("no message")),
                })
            }
            _ => Err(WriteError::Failed {
                operation,
                group: group.clone(),
                rules: rules.to_string(),
                detail: errors::describe(&operation.to_string(), &error),
            }),
        }
    }
}

/// A read that EC2 answered as if it were a write.
fn unexpected(operation: Operation, group: &GroupId, rules: &str) -> WriteError {
    WriteError::Failed {
        operation,
        group: group.clone(),
        rules: rules.to_string(),
        detail: "EC2 answered a read as if it were a write (DryRun or Duplicate); is the \
                 endpoint EC2?"
            .to_string(),
    }
}

/// `rules sgr-1, sgr-2`.
fn rule_list(ids: &[RuleId]) -> String {
    let ids: Vec<&str> = ids.iter().map(RuleId::as_str).collect();
    format!("rules {}", ids.join(", "))
}

/// The inbound rules of `group` among `rules`, converted; one that cannot be read fails.
fn inbound(group: &GroupId, rules: &[SecurityGroupRule]) -> Result<Vec<LiveSgRule>, WriteError> {
    rules
        .iter()
        .filter(|rule| rule.is_egress() != Some(true))
        .filter(|rule| rule.group_id() == Some(group.as_str()))
        .map(|rule| {
            live_rule(rule).map_err(|detail| WriteError::Unreadable {
                group: group.clone(),
                detail,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
