//! The security groups of `jit` grants and the interfaces they are attached to: find a group by
//! its name in a VPC, create one (tagged, without the default allow-all egress rule, so that
//! attaching it never widens what the VM may send), delete one, read an interface's groups and
//! replace them; and who the credentials are (`GetCallerIdentity`), the requester of a grant.
//!
//! Answers converge as the rule writes' do: `InvalidGroup.Duplicate` on create means the group
//! is there (it is returned, found by name), `InvalidGroup.NotFound` on delete that it is gone.
//! `ModifyNetworkInterfaceAttribute` replaces the interface's whole list, so callers send the
//! list they read just before, with or without their group.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, IpPermission, ResourceType, Tag, TagSpecification};

use super::{Answer, Operation, SgWriter, Subject, WriteError, unexpected};
use crate::cloud::aws::calls::CallCounter;
use crate::cloud::aws::{AwsError, AwsOptions, config, organization};

use super::GroupId;

/// A security group as found by its name: its id, how many inbound permissions it holds, its
/// outbound permissions and its tags.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveGroup {
    pub id: GroupId,
    pub inbound: usize,
    pub egress: Vec<IpPermission>,
    pub tags: BTreeMap<String, String>,
}

impl LiveGroup {
    /// Whether the group carries every one of `tags` (those portcullis made it with).
    pub fn has_tags(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.iter()
            .all(|(key, value)| self.tags.get(key) == Some(value))
    }
}

/// The ARN the credentials `options` resolve to are (`GetCallerIdentity`).
pub async fn caller_arn(options: &AwsOptions) -> Result<String, AwsError> {
    let setup = config::load(options).await?;
    let sts = CallCounter::default().sts(&setup.sts);
    let identity = organization::caller_identity(&sts)
        .await
        .map_err(AwsError)?;
    identity.arn.ok_or_else(|| {
        AwsError("GetCallerIdentity: the answer names no ARN; check --endpoint-url".to_string())
    })
}

impl SgWriter {
    /// The group named `name` in VPC `vpc`; `None` when there is none.
    pub async fn find_group(&self, vpc: &str, name: &str) -> Result<Option<LiveGroup>, WriteError> {
        let operation = Operation::DescribeSecurityGroups;
        let subject = named(vpc, name);
        let call = self
            .client
            .describe_security_groups()
            .filters(Filter::builder().name("vpc-id").values(vpc).build())
            .filters(Filter::builder().name("group-name").values(name).build())
            .send();
        let output = match self.answer(operation, &subject, "the group", call).await {
            Ok(Answer::Ok(output)) => output,
            Err(WriteError::GroupNotFound { .. }) => return Ok(None),
            Ok(_) => {
                return Err(failed(
                    operation,
                    &subject,
                    "EC2 answered a read as a write",
                ));
            }
            Err(error) => return Err(error),
        };
        let Some(group) = output
            .security_groups()
            .iter()
            .find(|g| g.group_name() == Some(name) && g.vpc_id() == Some(vpc))
        else {
            return Ok(None);
        };
        let id = GroupId::new(group.group_id().unwrap_or_default())
            .map_err(|e| failed(operation, &subject, &e.to_string()))?;
        Ok(Some(LiveGroup {
            id,
            inbound: group.ip_permissions().len(),
            egress: group.ip_permissions_egress().to_vec(),
            tags: group
                .tags()
                .iter()
                .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned())))
                .collect(),
        }))
    }

    /// Creates group `name` in VPC `vpc` with `description` and `tags`, and revokes the
    /// allow-all egress rule EC2 gives every new group; returns its id. A group of that name
    /// already there is kept (its egress rules revoked).
    pub async fn create_group(
        &self,
        vpc: &str,
        name: &str,
        description: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<GroupId, WriteError> {
        let operation = Operation::CreateSecurityGroup;
        let subject = named(vpc, name);
        let tagging = tagging(ResourceType::SecurityGroup, tags);
        let call = self
            .client
            .create_security_group()
            .vpc_id(vpc)
            .group_name(name)
            .description(description)
            .tag_specifications(tagging)
            .send();
        match self.answer(operation, &subject, "the group", call).await? {
            Answer::Ok(_) | Answer::Duplicate(_) => {}
            Answer::DryRunOk | Answer::NotFound(_) => {
                return Err(failed(operation, &subject, "EC2 gave an unexpected answer"));
            }
        }
        let group = self.find_group(vpc, name).await?.ok_or_else(|| {
            failed(
                operation,
                &subject,
                "EC2 answered that it made the group, yet it is not there; read again",
            )
        })?;
        self.revoke_egress(&group).await?;
        Ok(group.id)
    }

    /// Revokes every outbound permission of `group` (none: nothing is sent).
    pub async fn revoke_egress(&self, group: &LiveGroup) -> Result<(), WriteError> {
        if group.egress.is_empty() {
            return Ok(());
        }
        let operation = Operation::RevokeSecurityGroupEgress;
        let call = self
            .client
            .revoke_security_group_egress()
            .group_id(group.id.as_str())
            .set_ip_permissions(Some(group.egress.clone()))
            .send();
        match self
            .answer(
                operation,
                &group.id.clone().into(),
                "its egress rules",
                call,
            )
            .await?
        {
            Answer::Ok(_) | Answer::NotFound(_) => Ok(()),
            Answer::DryRunOk | Answer::Duplicate(_) => {
                Err(unexpected(operation, &group.id, "its egress rules"))
            }
        }
    }

    /// Deletes `group`; false when it was gone already.
    pub async fn delete_group(&self, group: &GroupId) -> Result<bool, WriteError> {
        let operation = Operation::DeleteSecurityGroup;
        let call = self
            .client
            .delete_security_group()
            .group_id(group.as_str())
            .send();
        match self
            .answer(operation, &group.clone().into(), "the group", call)
            .await
        {
            Ok(Answer::Ok(_)) => Ok(true),
            Err(WriteError::GroupNotFound { .. }) => Ok(false),
            Ok(_) => Err(unexpected(operation, group, "the group")),
            Err(error) => Err(error),
        }
    }

    /// The security groups of network interface `interface`, in EC2's order.
    pub async fn interface_groups(&self, interface: &str) -> Result<Vec<GroupId>, WriteError> {
        let operation = Operation::DescribeNetworkInterfaces;
        let subject = Subject::Interface(interface.to_owned());
        let call = self
            .client
            .describe_network_interfaces()
            .network_interface_ids(interface)
            .send();
        let output = match self.answer(operation, &subject, "its groups", call).await? {
            Answer::Ok(output) => output,
            _ => {
                return Err(failed(
                    operation,
                    &subject,
                    "EC2 answered a read as a write",
                ));
            }
        };
        let found = output
            .network_interfaces()
            .iter()
            .find(|n| n.network_interface_id() == Some(interface))
            .ok_or_else(|| failed(operation, &subject, "EC2 does not list it (any more)"))?;
        found
            .groups()
            .iter()
            .map(|g| {
                GroupId::new(g.group_id().unwrap_or_default())
                    .map_err(|e| failed(operation, &subject, &e.to_string()))
            })
            .collect()
    }

    /// Replaces the security groups of `interface` with `groups`.
    pub async fn set_interface_groups(
        &self,
        interface: &str,
        groups: &[GroupId],
    ) -> Result<(), WriteError> {
        let operation = Operation::ModifyNetworkInterfaceAttribute;
        let subject = Subject::Interface(interface.to_owned());
        let list: Vec<String> = groups.iter().map(|g| g.as_str().to_owned()).collect();
        let call = self
            .client
            .modify_network_interface_attribute()
            .network_interface_id(interface)
            .set_groups(Some(list.clone()))
            .send();
        match self
            .answer(
                operation,
                &subject,
                &format!("groups {}", list.join(", ")),
                call,
            )
            .await?
        {
            Answer::Ok(_) => Ok(()),
            _ => Err(failed(operation, &subject, "EC2 gave an unexpected answer")),
        }
    }
}

fn named(vpc: &str, name: &str) -> Subject {
    Subject::Named {
        name: name.to_owned(),
        vpc: vpc.to_owned(),
    }
}

fn failed(operation: Operation, subject: &Subject, detail: &str) -> WriteError {
    WriteError::Failed {
        operation,
        group: subject.clone(),
        rules: "the group".to_owned(),
        detail: detail.to_owned(),
    }
}

/// The tags `tags` for a resource of type `kind` being created.
pub(super) fn tagging(kind: ResourceType, tags: &BTreeMap<String, String>) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build()
}
