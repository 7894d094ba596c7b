//! The clouds as `fix` writes them: one Resource Manager writer and one EC2 writer per region,
//! connected on first use, and the two things done with a [`Step`]: read what its target holds
//! now, and make the write (or, in a dry run, ask whether it would be allowed).

use std::collections::HashMap;

use tokio::runtime::Runtime;

use crate::cloud::aws::write::{
    self as aws_write, GroupId, Mode, Operation, SgWriter, Subject, Written,
};
use crate::cloud::aws::{AwsOptions, Regions};
use crate::cloud::azure::write::{
    self as azure_write, DefenderRules, NetworkWriter, NicId, NsgId, Precondition,
};
use crate::cloud::azure::{self, Credential};
use crate::limits::Limits;

use super::step::{GROUPS_PER_INTERFACE, Live, Step};

/// The `created-by` tag of the NSGs `fix` creates.
pub const CREATED_BY: &str = "portcullis fix";

/// How to reach the clouds: what `fix apply`, `undo` and `recover` are given.
#[derive(Clone, Debug)]
pub struct Connect {
    /// The AWS profile (else the default chain's).
    pub aws_profile: Option<String>,
    /// Another EC2 endpoint (a local emulator).
    pub aws_endpoint: Option<String>,
    /// The Resource Manager endpoint.
    pub arm_endpoint: String,
    pub limits: Limits,
}

impl Connect {
    /// What the AWS collector and writers are given to read `regions`.
    pub fn aws_options(&self, regions: Regions) -> AwsOptions {
        AwsOptions {
            regions,
            profile: self.aws_profile.clone(),
            endpoint_url: self.aws_endpoint.clone(),
            concurrency: 8,
            progress: false,
            limits: self.limits,
            organization: None,
        }
    }
}

/// Why a step could not be read or written; names the target and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{0}")]
    Azure(#[from] azure_write::WriteError),
    #[error("{0}")]
    Aws(#[from] aws_write::WriteError),
    /// Boxed: it carries the rules written before the error.
    #[error("{0}")]
    AwsPartly(Box<aws_write::AuthorizeError>),
    #[error("{target}: {detail}")]
    Connect { target: String, detail: String },
}

impl From<aws_write::AuthorizeError> for StepError {
    fn from(error: aws_write::AuthorizeError) -> Self {
        StepError::AwsPartly(Box::new(error))
    }
}

impl StepError {
    /// True when the cloud's governance refused the write: the rest goes on.
    pub fn is_blocked(&self) -> bool {
        match self {
            StepError::Azure(e) => matches!(e.kind, azure_write::ErrorKind::Blocked(_)),
            StepError::Aws(e) => e.is_blocked(),
            StepError::AwsPartly(e) => e.error.is_blocked(),
            StepError::Connect { .. } => false,
        }
    }
}

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrote {
    /// The cloud changed.
    Changed,
    /// The cloud already was as the step writes (a replay, a rule already there or gone).
    AlreadyThere,
    /// A dry run: the cloud said the write would be allowed.
    WouldSucceed,
    /// A dry run where the cloud cannot say (Resource Manager has no dry run for rule writes).
    NotChecked,
}

impl From<azure_write::Deleted> for Wrote {
    fn from(deleted: azure_write::Deleted) -> Self {
        match deleted {
            azure_write::Deleted::Deleted => Wrote::Changed,
            azure_write::Deleted::AlreadyGone => Wrote::AlreadyThere,
        }
    }
}

/// The writers, by cloud and region.
pub struct Clouds {
    runtime: Runtime,
    writers: Writers,
}

/// The writers connected so far.
struct Writers {
    connect: Connect,
    azure: Option<NetworkWriter>,
    aws: HashMap<String, SgWriter>,
}

impl Clouds {
    pub fn new(connect: Connect) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        Ok(Clouds {
            runtime,
            writers: Writers {
                connect,
                azure: None,
                aws: HashMap::new(),
            },
        })
    }

    pub fn connect(&self) -> &Connect {
        &self.writers.connect
    }

    /// What the step's target holds now.
    pub fn read(&mut self, step: &Step) -> Result<Live, StepError> {
        match step {
            Step::AzurePut { nsg, rule, .. } | Step::AzureDelete { nsg, rule, .. } => {
                let nsg = NsgId::parse(nsg)?;
                let writer = self.writers.azure(&self.runtime, step)?;
                let live = self.runtime.block_on(writer.get_rule(&nsg, rule))?;
                Ok(Live::Azure(live))
            }
            Step::AwsAuthorize { group, region, .. } | Step::AwsRevoke { group, region, .. } => {
                let group = group_id(step, group)?;
                let writer = self.writers.aws(&self.runtime, step, region)?;
                let rules = self.runtime.block_on(writer.describe_group_rules(&group))?;
                Ok(Live::Aws(rules))
            }
            Step::AzureCreateNsg { nsg, .. } | Step::AzureDeleteNsg { nsg, .. } => {
                let nsg = NsgId::parse(nsg)?;
                let writer = self.writers.azure(&self.runtime, step)?;
                Ok(Live::AzureResource(
                    self.runtime.block_on(writer.get_nsg(&nsg))?,
                ))
            }
            Step::AzureNicNsg { nic, .. } => {
                let nic = NicId::parse(nic)?;
                let writer = self.writers.azure(&self.runtime, step)?;
                Ok(Live::AzureResource(
                    self.runtime.block_on(writer.get_nic(&nic))?,
                ))
            }
            Step::AwsCreateGroup {
                region, vpc, name, ..
            }
            | Step::AwsDeleteGroup {
                region, vpc, name, ..
            } => {
                let writer = self.writers.aws(&self.runtime, step, region)?;
                let group = self.runtime.block_on(writer.find_group(vpc, name))?;
                Ok(Live::AwsGroup(group))
            }
            Step::AwsAttachGroup {
                region, interface, ..
            }
            | Step::AwsDetachGroup {
                region, interface, ..
            } => {
                let writer = self.writers.aws(&self.runtime, step, region)?;
                let groups = self.runtime.block_on(writer.interface_groups(interface))?;
                Ok(Live::AwsInterface(groups))
            }
        }
    }

    /// Makes the step's write against the target as `live` holds it: Azure writes carry the
    /// etag read (so a change since is refused), AWS revokes name the rule id read.
    pub fn write(&mut self, step: &Step, live: &Live, mode: Mode) -> Result<Wrote, StepError> {
        match (step, live) {
            (
                Step::AzurePut {
                    nsg,
                    rule,
                    properties,
                    ..
                },
                Live::Azure(read),
            ) => {
                if mode == Mode::DryRun {
                    return Ok(Wrote::NotChecked);
                }
                let nsg = NsgId::parse(nsg)?;
                let precondition = match read {
                    Some(read) => Precondition::IfMatch(read.etag.clone()),
                    None => Precondition::IfNoneMatch,
                };
                let writer = self.writers.azure(&self.runtime, step)?;
                self.runtime.block_on(writer.put_rule(
                    &nsg,
                    rule,
                    properties,
                    &precondition,
                    DefenderRules::Refuse,
                ))?;
                Ok(Wrote::Changed)
            }
            (Step::AzureDelete { nsg, rule, .. }, Live::Azure(read)) => {
                let Some(read) = read else {
                    return Ok(Wrote::AlreadyThere);
                };
                if mode == Mode::DryRun {
                    return Ok(Wrote::NotChecked);
                }
                let nsg = NsgId::parse(nsg)?;
                let writer = self.writers.azure(&self.runtime, step)?;
                let deleted = self.runtime.block_on(writer.delete_rule(
                    &nsg,
                    rule,
                    &read.etag,
                    DefenderRules::Refuse,
                ))?;
                Ok(Wrote::from(deleted))
            }
            (
                Step::AwsAuthorize {
                    group,
                    region,
                    rule,
                    tags,
                },
                _,
            ) => {
                let group = group_id(step, group)?;
                let writer = self.writers.aws(&self.runtime, step, region)?;
                let written = self.runtime.block_on(writer.authorize_rules(
                    &group,
                    std::slice::from_ref(rule),
                    tags,
                    mode,
                ))?;
                Ok(match written {
                    Written::WouldSucceed => Wrote::WouldSucceed,
                    Written::Done(rules) if rules.iter().all(|r| r.already_there) => {
                        Wrote::AlreadyThere
                    }
                    Written::Done(_) => Wrote::Changed,
                })
            }
            (
                Step::AwsRevoke {
                    group,
                    region,
                    rule,
                    ..
                },
                Live::Aws(rules),
            ) => {
                let ids: Vec<_> = rules
                    .iter()
                    .filter(|r| r.spec.same_access(rule))
                    .map(|r| r.id.clone())
                    .collect();
                if ids.is_empty() {
                    return Ok(Wrote::AlreadyThere);
                }
                let group = group_id(step, group)?;
                let writer = self.writers.aws(&self.runtime, step, region)?;
                let written = self
                    .runtime
                    .block_on(writer.revoke_rules(&group, &ids, mode))?;
                Ok(match written {
                    Written::WouldSucceed => Wrote::WouldSucceed,
                    Written::Done(revoked) if revoked.revoked.is_empty() => Wrote::AlreadyThere,
                    Written::Done(_) => Wrote::Changed,
                })
            }
            (Step::AzureCreateNsg { nsg, location, .. }, Live::AzureResource(read)) => {
                if read.is_some() {
                    return Ok(Wrote::AlreadyThere);
                }
                if mode == Mode::DryRun {
                    return Ok(Wrote::NotChecked);
                }
                let nsg = NsgId::parse(nsg)?;
                let writer = self.writers.azure(&self.runtime, step)?;
                let mut tags = serde_json::Map::new();
                tags.insert("created-by".to_owned(), CREATED_BY.into());
                self.runtime
                    .block_on(writer.create_nsg(&nsg, location, &tags))?;
                Ok(Wrote::Changed)
            }
            (Step::AzureDeleteNsg { nsg, .. }, Live::AzureResource(read)) => {
                let Some(read) = read else {
                    return Ok(Wrote::AlreadyThere);
                };
                if mode == Mode::DryRun {
                    return Ok(Wrote::NotChecked);
                }
                let nsg = NsgId::parse(nsg)?;
                let writer = self.writers.azure(&self.runtime, step)?;
                let deleted = self.runtime.block_on(writer.delete_nsg(&nsg, &read.etag))?;
                Ok(Wrote::from(deleted))
            }
            (Step::AzureNicNsg { nic, after, .. }, Live::AzureResource(Some(read))) => {
                if mode == Mode::DryRun {
                    return Ok(Wrote::NotChecked);
                }
                let nic = NicId::parse(nic)?;
                let after = after.as_deref().map(NsgId::parse).transpose()?;
                let writer = self.writers.azure(&self.runtime, step)?;
                self.runtime
                    .block_on(writer.set_nic_nsg(&nic, read, after.as_ref()))?;
                Ok(Wrote::Changed)
            }
            (
                Step::AwsCreateGroup {
                    region,
                    vpc,
                    name,
                    description,
                    tags,
                },
                Live::AwsGroup(read),
            ) => {
                let writer = self.writers.aws(&self.runtime, step, region)?;
                match read {
                    Some(group) if group.egress.is_empty() => return Ok(Wrote::AlreadyThere),
                    _ if mode == Mode::DryRun => return Ok(Wrote::NotChecked),
                    Some(group) => self.runtime.block_on(writer.revoke_egress(group))?,
                    None => {
                        self.runtime
                            .block_on(writer.create_group(vpc, name, description, tags))?;
                    }
                }
                Ok(Wrote::Changed)
            }
            (Step::AwsDeleteGroup { region, .. }, Live::AwsGroup(read)) => {
                let Some(group) = read else {
                    return Ok(Wrote::AlreadyThere);
                };
                if mode == Mode::DryRun {
                    return Ok(Wrote::NotChecked);
                }
                let writer = self.writers.aws(&self.runtime, step, region)?;
                Ok(
                    match self.runtime.block_on(writer.delete_group(&group.id))? {
                        true => Wrote::Changed,
                        false => Wrote::AlreadyThere,
                    },
                )
            }
            (
                Step::AwsAttachGroup {
                    region,
                    interface,
                    group,
                }
                | Step::AwsDetachGroup {
                    region,
                    interface,
                    group,
                },
                Live::AwsInterface(read),
            ) => {
                let ours = group_id(step, group)?;
                let attach = matches!(step, Step::AwsAttachGroup { .. });
                let groups = interface_groups(interface, read, &ours, attach)?;
                if groups.as_slice() == read.as_slice() {
                    return Ok(Wrote::AlreadyThere);
                }
                if mode == Mode::DryRun {
                    return Ok(Wrote::NotChecked);
                }
                let writer = self.writers.aws(&self.runtime, step, region)?;
                self.runtime
                    .block_on(writer.set_interface_groups(interface, &groups))?;
                Ok(Wrote::Changed)
            }
            (step, _) => Err(StepError::Connect {
                target: step.target(),
                detail: "read from the wrong cloud, or not there; this is a bug in portcullis"
                    .to_owned(),
            }),
        }
    }
}

/// The groups to give `interface`, which holds `read`: with `ours` (attach) or without it. An
/// interface holds at most [`GROUPS_PER_INTERFACE`] groups and at least one.
pub fn interface_groups(
    interface: &str,
    read: &[GroupId],
    ours: &GroupId,
    attach: bool,
) -> Result<Vec<GroupId>, aws_write::WriteError> {
    let refuse = |detail: String| aws_write::WriteError::Failed {
        operation: Operation::ModifyNetworkInterfaceAttribute,
        group: Subject::Interface(interface.to_owned()),
        rules: format!("security group {ours}"),
        detail,
    };
    match (attach, read.contains(ours)) {
        (true, true) | (false, false) => Ok(read.to_vec()),
        (true, false) if read.len() >= GROUPS_PER_INTERFACE => Err(refuse(format!(
            "it holds {} security groups already ({}), the most an interface holds: take one \
             off it, or ask for the quota to be raised",
            read.len(),
            read.iter()
                .map(GroupId::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        (true, false) => Ok(read.iter().chain([ours]).cloned().collect()),
        (false, true) if read.len() == 1 => Err(refuse(
            "it holds no other security group, and an interface needs one: give it another \
             group first"
                .to_owned(),
        )),
        (false, true) => Ok(read.iter().filter(|g| *g != ours).cloned().collect()),
    }
}

impl Writers {
    fn azure(&mut self, runtime: &Runtime, step: &Step) -> Result<&NetworkWriter, StepError> {
        if self.azure.is_none() {
            let credential = Credential::from_env();
            let writer =
                NetworkWriter::new(&self.connect.arm_endpoint, &credential, self.connect.limits)
                    .map_err(|detail| StepError::Connect {
                        target: step.target(),
                        detail,
                    })?;
            runtime
                .block_on(writer.check_credential())
                .map_err(|detail| StepError::Connect {
                    target: step.target(),
                    detail,
                })?;
            self.azure = Some(writer);
        }
        Ok(self.azure.as_ref().expect("connected above"))
    }

    fn aws(
        &mut self,
        runtime: &Runtime,
        step: &Step,
        region: &str,
    ) -> Result<&SgWriter, StepError> {
        if !self.aws.contains_key(region) {
            let options = self
                .connect
                .aws_options(Regions::Named(vec![region.to_owned()]));
            let writer = runtime
                .block_on(SgWriter::connect(&options, region))
                .map_err(|e| StepError::Connect {
                    target: step.target(),
                    detail: e.to_string(),
                })?;
            self.aws.insert(region.to_owned(), writer);
        }
        Ok(&self.aws[region])
    }
}

fn group_id(step: &Step, group: &str) -> Result<GroupId, StepError> {
    GroupId::new(group).map_err(|e| StepError::Connect {
        target: step.target(),
        detail: e.to_string(),
    })
}

/// The Azure collector's options for re-reading subscriptions after a write.
pub fn azure_options(connect: &Connect, subscriptions: Vec<String>) -> azure::AzureOptions {
    azure::AzureOptions {
        subscriptions: azure::Subscriptions::Only(subscriptions),
        arm_endpoint: connect.arm_endpoint.clone(),
        credential: Credential::from_env(),
        progress: false,
        limits: connect.limits,
    }
}
