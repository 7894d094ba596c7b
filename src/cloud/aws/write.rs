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

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{Filter, ResourceType, SecurityGroupRule, SecurityGroupRuleUpdate};

use super::calls::CallCounter;
use super::fetch::{PageGuard, SECURITY_GROUP_RULES_PAGE};
use super::{AwsError, AwsOptions, config, errors};

mod group;
mod rule;

pub use group::{LiveGroup, caller_arn};
pub(super) use rule::live_rule;
pub use rule::{BadId, GroupId, LiveSgRule, RuleId, RulePorts, SgRuleSpec};

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
    DescribeSecurityGroups,
    CreateSecurityGroup,
    RevokeSecurityGroupEgress,
    DeleteSecurityGroup,
    DescribeNetworkInterfaces,
    ModifyNetworkInterfaceAttribute,
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

/// What a write is about, as its errors name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// `security group sg-…`.
    Group(GroupId),
    /// A group known by its name in a VPC (one to create): `security group NAME in VPC vpc-…`.
    Named { name: String, vpc: String },
    /// `network interface eni-…`.
    Interface(String),
}

impl From<GroupId> for Subject {
    fn from(group: GroupId) -> Self {
        Subject::Group(group)
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Group(id) => write!(f, "security group {id}"),
            Subject::Named { name, vpc } => write!(f, "security group {name} in VPC {vpc}"),
            Subject::Interface(id) => write!(f, "network interface {id}"),
        }
    }
}

/// Why a write (or the read it needed) failed, naming the group and rules and what to do.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(
        "{operation} of {rules} in {group} is blocked: {reason}; allow {} for \
         these credentials (the remediation policy in docs/aws.md), or lift the service control \
         policy or permissions boundary that denies it",
        operation.iam_action()
    )]
    Blocked {
        operation: Operation,
        group: Subject,
        rules: String,
        reason: String,
    },
    #[error(
        "{group} does not exist (any more); plan again: the plan was made for a \
         group that is gone"
    )]
    GroupNotFound { group: Subject },
    #[error("{operation} of {rules} in {group} failed: {detail}")]
    Failed {
        operation: Operation,
        group: Subject,
        rules: String,
        detail: String,
    },
    #[error(
        "{operation} of {rules} in {group} did not end within {deadline:?} \
         (--scope-deadline); its effect is unknown: read the group again before retrying"
    )]
    TimedOut {
        operation: Operation,
        group: Subject,
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
            let page = match self
                .answer(operation, &group.clone().into(), "its rules", call)
                .await?
            {
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
            .answer(
                operation,
                &group.clone().into(),
                &format!("rule {id}"),
                call,
            )
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
                .answer(operation, &group.clone().into(), &rule_list(&wanted), call)
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
            group: group.clone().into(),
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
    ///
    /// Each rule created is tagged `tags` (none when empty).
    pub async fn authorize_rules(
        &self,
        group: &GroupId,
        specs: &[SgRuleSpec],
        tags: &BTreeMap<String, String>,
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
            let answer = self
                .answer(operation, &group.clone().into(), &named.join(", "), call)
                .await;
            return match answer {
                Ok(Answer::DryRunOk) => Ok(Written::WouldSucceed),
                Ok(_) => Err(AuthorizeError {
                    authorized: Vec::new(),
                    error: WriteError::Failed {
                        operation,
                        group: group.clone().into(),
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
            match self.authorize_one(group, spec, tags).await {
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
        tags: &BTreeMap<String, String>,
    ) -> Result<Authorized, WriteError> {
        let operation = Operation::AuthorizeSecurityGroupIngress;
        let tagging =
            (!tags.is_empty()).then(|| vec![group::tagging(ResourceType::SecurityGroupRule, tags)]);
        let call = self
            .client
            .authorize_security_group_ingress()
            .group_id(group.as_str())
            .ip_permissions(spec.permission())
            .set_tag_specifications(tagging)
            .send();
        let (code, already_there) = match self
            .answer(operation, &group.clone().into(), &spec.to_string(), call)
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
        match self
            .answer(operation, &group.clone().into(), &what, call)
            .await?
        {
            Answer::DryRunOk => return Ok(Written::WouldSucceed),
            Answer::Ok(_) => {}
            Answer::NotFound(code) | Answer::Duplicate(code) => {
                return Err(WriteError::Failed {
                    operation,
                    group: group.clone().into(),
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
        group: &Subject,
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
            "InvalidPermission.Duplicate" | "InvalidGroup.Duplicate" => Ok(Answer::Duplicate(code)),
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
        group: group.clone().into(),
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
