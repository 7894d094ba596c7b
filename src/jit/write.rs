//! The writes of `jit`, made as `fix` makes its own: one NSG rule at a time through
//! [`crate::fix::clouds::Clouds`] (etag preconditions, retries, governance errors), each recorded
//! in `fix`'s write-ahead journal by [`crate::fix::apply::journaled`] under its apply lock, so
//! that `fix recover` (which every `jit` command runs first) finishes a write a crash cut short.
//! Each grant has its own journal, `jit-<grant id>`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::cloud::aws::write::{LiveSgRule, Mode, RulePorts, SgRuleSpec};
use crate::cloud::azure::write::LiveRule;
use crate::fix::apply::journaled;
use crate::fix::clouds::{Clouds, Connect, StepError, Wrote};
use crate::fix::journal::{JournalError, Journals, PlanId, TornTail};
use crate::fix::recover::{self, Recovered};
use crate::fix::step::{Live, Progress, Step};
use crate::model::{Protocol, SgSourceKind};

use super::grant::GrantId;

/// The journal's intent kind of a rule that opens a grant.
pub const OPEN: &str = "jit-open";
/// The journal's intent kind of a rule that closes a grant (revoked, expired, replaced).
pub const CLOSE: &str = "jit-close";

/// The journal of grant `grant`'s writes.
pub fn journal_of(grant: &GrantId) -> String {
    format!("jit-{grant}")
}

/// Why a grant's rule could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteFailed {
    #[error("{0}")]
    Journal(#[from] JournalError),
    #[error("{0}")]
    Cloud(#[from] StepError),
    #[error("{target}: {holds}; nothing written: look at the rule, and request again")]
    Differs { target: String, holds: String },
}

/// The cloud writer and the journal folder.
pub struct Writer {
    clouds: Clouds,
    journals: Journals,
}

impl Writer {
    pub fn new(connect: Connect) -> Result<Self, String> {
        Ok(Writer {
            clouds: Clouds::new(connect)?,
            journals: Journals::in_state_dir().map_err(|e| e.to_string())?,
        })
    }

    /// Reconciles the writes an earlier `fix` or `jit` left without an outcome.
    pub fn recover(&mut self) -> Result<(Vec<Recovered>, Vec<TornTail>), WriteFailed> {
        let lock = self.journals.lock()?;
        Ok(recover::recover(&self.journals, &lock, &mut self.clouds)?)
    }

    /// The rule as it is now, with its description and etag.
    pub fn read(&mut self, nsg: &str, rule: &str) -> Result<Option<LiveRule>, StepError> {
        let probe = Step::AzureDelete {
            nsg: nsg.to_owned(),
            rule: rule.to_owned(),
            before: Map::new(),
        };
        match self.clouds.read(&probe)? {
            Live::Azure(rule) => Ok(rule),
            Live::Aws(_) | Live::AzureResource(_) | Live::AwsGroup(_) | Live::AwsInterface(_) => {
                unreachable!("an NSG rule reads as a rule")
            }
        }
    }

    /// The inbound rules of security group `group` in `region`, with their descriptions.
    pub fn group_rules(&mut self, region: &str, group: &str) -> Result<Vec<LiveSgRule>, StepError> {
        // A probe to read the group: any rule step on it reads the same.
        let probe = Step::AwsRevoke {
            group: group.to_owned(),
            region: region.to_owned(),
            rule: SgRuleSpec {
                protocol: Protocol::Any,
                ports: RulePorts::All,
                source: SgSourceKind::Group(group.to_owned()),
                description: None,
            },
            tags: BTreeMap::new(),
        };
        match self.clouds.read(&probe)? {
            Live::Aws(rules) => Ok(rules),
            Live::Azure(_) | Live::AzureResource(_) | Live::AwsGroup(_) | Live::AwsInterface(_) => {
                unreachable!("a security group's rules read as such")
            }
        }
    }

    /// What an AWS step's target holds now: a group's rules, a group found by name, or an
    /// interface's groups.
    pub fn read_aws(&mut self, probe: &Step) -> Result<Live, StepError> {
        self.clouds.read(probe)
    }

    /// Creates grant `grant`'s rule `rule` in `nsg` (it must not exist, or hold exactly this).
    pub fn create(
        &mut self,
        grant: &GrantId,
        nsg: &str,
        rule: &str,
        properties: &Map<String, Value>,
    ) -> Result<Wrote, WriteFailed> {
        let step = Step::AzurePut {
            nsg: nsg.to_owned(),
            rule: rule.to_owned(),
            before: None,
            properties: properties.clone(),
        };
        self.journaled(&journal_of(grant), step, OPEN)
    }

    /// Deletes grant `grant`'s rule as read (`live`): only if it still holds what was read.
    pub fn delete(
        &mut self,
        grant: &GrantId,
        nsg: &str,
        live: &LiveRule,
    ) -> Result<Wrote, WriteFailed> {
        let step = Step::AzureDelete {
            nsg: nsg.to_owned(),
            rule: live.name.clone(),
            before: live.properties.clone(),
        };
        self.journaled(&journal_of(grant), step, CLOSE)
    }

    /// Reads the step's target, and unless it is done already, makes the write journaled in
    /// `journal` (`jit-<grant id>`, or on AWS `jit-<instance id>` for a grant group's writes).
    pub fn journaled(
        &mut self,
        journal: &str,
        step: Step,
        kind: &str,
    ) -> Result<Wrote, WriteFailed> {
        let lock = self.journals.lock()?;
        let live = self.clouds.read(&step)?;
        match step.progress(&live) {
            Progress::Done => return Ok(Wrote::AlreadyThere),
            Progress::Differs(holds) => {
                return Err(WriteFailed::Differs {
                    target: step.target(),
                    holds,
                });
            }
            Progress::ToDo => {}
        }
        let plan = PlanId::new(journal)?;
        let mut journal = self.journals.open(&lock, &plan)?.value;
        let journal = std::sync::Mutex::new(&mut journal);
        let clouds = &mut self.clouds;
        let result = journaled(&journal, 0, &step, kind, |step| {
            clouds.write(step, &live, Mode::Apply)
        })?;
        Ok(result?)
    }
}
