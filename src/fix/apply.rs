//! `fix apply`'s stages: refuse what cannot be applied (an offline plan, a plan of another
//! policy), read every target live, sort the plan's changes into done, to do and stale (a stale
//! plan is refused whole, before any write), then make the writes, one at a time per NSG or
//! security group and several NSGs and groups at once, each journaled before it is sent and its
//! outcome after. Verification by a new scan is [`super::verify`].
//!
//! A second apply of the same plan finds every change done and writes nothing; an apply after a
//! crash finds the changes made so far done and makes the rest.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::azure_rule;
use crate::cloud::aws::write::Mode;

use super::clouds::{Clouds, Connect, StepError, Wrote};
use super::journal::{self, Intent, Journal, JournalError, Outcome};
use super::plan::{Change, NsgRuleChange, Plan, SgRuleChange};
use super::step::{self, Live, Progress, Recorded, Step, sg_spec};

/// The `description` of the rules `fix` creates in NSGs.
const CREATED_DESCRIPTION: &str = "Created by portcullis fix";

/// Why a plan is not applied at all; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum RefusedError {
    #[error(
        "the plan was made from files ({files}), not from the live state: plan again with \
         --aws or --azure to apply it (`fix show` prints its commands)"
    )]
    Offline { files: String },
    #[error(
        "the plan was judged with another policy (digest {planned}, this policy's is {given}); \
         apply with the policy the plan was made with, or plan again"
    )]
    OtherPolicy { planned: String, given: String },
    #[error(
        "security group {group} has no region in the plan; plan again from a live scan (--aws)"
    )]
    NoRegion { group: String },
    #[error(
        "the plan reads security groups of organisation member accounts ({account}); apply it \
         with credentials of that account: plan again there with --aws"
    )]
    OtherAccount { account: String },
    #[error("cannot read {target}: {error}")]
    Read {
        target: String,
        error: Box<StepError>,
    },
    #[error(
        "the plan is stale, nothing was written: {}; plan again from the live state",
        stale.iter().map(|s| format!("change {} ({}): {}", s.change + 1, s.target, s.holds)).collect::<Vec<_>>().join("; ")
    )]
    Stale { stale: Vec<Stale> },
    #[error("{0}")]
    Journal(#[from] JournalError),
}

/// A change whose target is neither as the plan read it nor as the plan leaves it.
#[derive(Debug)]
pub struct Stale {
    pub change: usize,
    pub target: String,
    pub holds: String,
}

/// A change of the plan and where its target stands.
#[derive(Debug)]
pub struct Checked {
    pub change: usize,
    /// The write to make, and the target as read for it; `None` when already done.
    pub todo: Option<(Step, Live)>,
    pub target: String,
}

/// How one change ended.
#[derive(Debug)]
pub struct ChangeOutcome {
    pub change: usize,
    pub target: String,
    pub verb: &'static str,
    pub result: Result<Wrote, StepError>,
}

/// Refuses a plan that cannot be applied: made from files, or judged with another policy.
pub fn refuse(plan: &Plan, policy_digest: &str) -> Result<(), RefusedError> {
    if let super::PlanSource::Offline { files } = &plan.source {
        return Err(RefusedError::Offline {
            files: files.join(", "),
        });
    }
    if plan.policy_digest != policy_digest {
        return Err(RefusedError::OtherPolicy {
            planned: plan.policy_digest.clone(),
            given: policy_digest.to_owned(),
        });
    }
    if let super::PlanSource::Live { scopes } = &plan.source
        && let Some(account) = scopes.iter().find_map(|s| s.account.clone())
    {
        return Err(RefusedError::OtherAccount { account });
    }
    Ok(())
}

/// Reads every change's target and sorts the changes into done and to do; refuses the whole
/// plan when any target is neither as planned from nor as planned.
pub fn check(plan: &Plan, clouds: &mut Clouds) -> Result<Vec<Checked>, RefusedError> {
    let mut groups: HashMap<String, Live> = HashMap::new();
    let mut checked = Vec::new();
    let mut stale = Vec::new();
    for (index, change) in plan.changes.iter().enumerate() {
        let result = match change {
            Change::Azure(c) => check_nsg_rule(index, c, clouds)?,
            Change::Aws(c) => check_sg_rule(index, c, clouds, &mut groups)?,
            Change::AzureNewNsg(c) => check_step(
                index,
                Step::AzureCreateNsg {
                    nsg: c.nsg.clone(),
                    location: c.location.clone(),
                    nic: c.nic.clone(),
                },
                clouds,
            )?,
            Change::AzureNic(c) => check_step(
                index,
                Step::AzureNicNsg {
                    nic: c.nic.clone(),
                    before: c.before.clone(),
                    after: c.after.clone(),
                },
                clouds,
            )?,
        };
        match result {
            Ok(one) => checked.push(one),
            Err(one) => stale.push(one),
        }
    }
    if !stale.is_empty() {
        return Err(RefusedError::Stale { stale });
    }
    checked.sort_by_key(|c| c.todo.as_ref().map_or(0, |(step, _)| order(step)));
    Ok(checked)
}

/// Creations first, then replacements, then removals: the narrower access is in place before
/// the broad one goes, so no allowed source loses access half-way; and a new NSG exists before
/// a NIC names it.
fn order(step: &Step) -> u8 {
    match step {
        Step::AzurePut { before: None, .. }
        | Step::AwsAuthorize { .. }
        | Step::AzureCreateNsg { .. }
        | Step::AwsCreateGroup { .. }
        | Step::AwsAttachGroup { .. } => 0,
        Step::AzurePut { .. } | Step::AzureNicNsg { .. } => 1,
        Step::AzureDelete { .. }
        | Step::AwsRevoke { .. }
        | Step::AzureDeleteNsg { .. }
        | Step::AwsDetachGroup { .. }
        | Step::AwsDeleteGroup { .. } => 2,
    }
}

/// Reads the target of `step`, which the plan's change makes whole, and sorts it by where it
/// stands.
fn check_step(
    index: usize,
    step: Step,
    clouds: &mut Clouds,
) -> Result<Result<Checked, Stale>, RefusedError> {
    let target = step.target();
    let live = clouds.read(&step).map_err(|error| RefusedError::Read {
        target: target.clone(),
        error: Box::new(error),
    })?;
    Ok(match step.progress(&live) {
        Progress::Done => Ok(Checked {
            change: index,
            todo: None,
            target,
        }),
        Progress::ToDo => Ok(Checked {
            change: index,
            todo: Some((step, live)),
            target,
        }),
        Progress::Differs(holds) => Err(Stale {
            change: index,
            target,
            holds,
        }),
    })
}

fn check_nsg_rule(
    index: usize,
    change: &NsgRuleChange,
    clouds: &mut Clouds,
) -> Result<Result<Checked, Stale>, RefusedError> {
    // A probe to read the rule: any step on it reads the same.
    let probe = Step::AzureDelete {
        nsg: change.nsg.clone(),
        rule: change.rule.clone(),
        before: Default::default(),
    };
    let target = probe.target();
    let live = clouds.read(&probe).map_err(|error| RefusedError::Read {
        target: target.clone(),
        error: Box::new(error),
    })?;
    let Live::Azure(read) = &live else {
        unreachable!("an NSG rule reads as a rule")
    };
    let model = match read {
        Some(rule) => Some(
            azure_rule::from_properties(&target, &rule.name, &rule.properties).map_err(|e| {
                RefusedError::Read {
                    target: target.clone(),
                    error: Box::new(StepError::Connect {
                        target: target.clone(),
                        detail: e.to_string(),
                    }),
                }
            })?,
        ),
        None => None,
    };
    let stale = |holds: String| Stale {
        change: index,
        target: target.clone(),
        holds,
    };
    if model == change.after {
        return Ok(Ok(Checked {
            change: index,
            todo: None,
            target,
        }));
    }
    if model != change.before {
        return Ok(Err(stale(match read {
            Some(rule) => format!("it now holds {}", Value::Object(rule.properties.clone())),
            None => "it was deleted since".to_owned(),
        })));
    }
    let step = match (read, &change.after) {
        (Some(read), Some(after)) => Step::AzurePut {
            nsg: change.nsg.clone(),
            rule: change.rule.clone(),
            before: Some(read.properties.clone()),
            properties: azure_rule::replace_modeled(&read.properties, after),
        },
        (None, Some(after)) => {
            let mut properties = azure_rule::properties(after);
            properties.insert("description".to_owned(), CREATED_DESCRIPTION.into());
            Step::AzurePut {
                nsg: change.nsg.clone(),
                rule: change.rule.clone(),
                before: None,
                properties,
            }
        }
        (Some(read), None) => Step::AzureDelete {
            nsg: change.nsg.clone(),
            rule: change.rule.clone(),
            before: read.properties.clone(),
        },
        (None, None) => {
            return Ok(Ok(Checked {
                change: index,
                todo: None,
                target,
            }));
        }
    };
    Ok(Ok(Checked {
        change: index,
        todo: Some((step, live)),
        target,
    }))
}

fn check_sg_rule(
    index: usize,
    change: &SgRuleChange,
    clouds: &mut Clouds,
    groups: &mut HashMap<String, Live>,
) -> Result<Result<Checked, Stale>, RefusedError> {
    let region = change
        .region
        .clone()
        .ok_or_else(|| RefusedError::NoRegion {
            group: change.group.clone(),
        })?;
    let (step, planned_id) = match (&change.before, &change.after) {
        (Some(before), _) => (
            Step::AwsRevoke {
                group: change.group.clone(),
                region,
                rule: sg_spec(before),
                tags: BTreeMap::new(),
            },
            before.rule_id.clone(),
        ),
        (None, Some(after)) => (
            Step::AwsAuthorize {
                group: change.group.clone(),
                region,
                rule: sg_spec(after),
                tags: BTreeMap::new(),
            },
            None,
        ),
        (None, None) => {
            return Ok(Ok(Checked {
                change: index,
                todo: None,
                target: format!("security group {}", change.group),
            }));
        }
    };
    let target = step.target();
    if !groups.contains_key(&change.group) {
        let live = clouds.read(&step).map_err(|error| RefusedError::Read {
            target: target.clone(),
            error: Box::new(error),
        })?;
        groups.insert(change.group.clone(), live);
    }
    let live = groups[&change.group].clone();
    if let (Step::AwsRevoke { rule, .. }, Live::Aws(rules), Some(planned)) =
        (&step, &live, &planned_id)
        && let Some(found) = rules.iter().find(|r| r.spec.same_access(rule))
        && found.id.as_str() != planned
    {
        return Ok(Err(Stale {
            change: index,
            target,
            holds: format!(
                "the rule was replaced since: it is {} now, the plan read {planned}",
                found.id
            ),
        }));
    }
    let step = with_tags_read(step, &live);
    let todo = match step.progress(&live) {
        Progress::Done => None,
        _ => Some((step, live)),
    };
    Ok(Ok(Checked {
        change: index,
        todo,
        target,
    }))
}

/// A revoke carries the tags of the rule as read, so that undo authorizes it again with them.
fn with_tags_read(mut step: Step, live: &Live) -> Step {
    if let (Step::AwsRevoke { rule, tags, .. }, Live::Aws(rules)) = (&mut step, live)
        && let Some(read) = rules.iter().find(|r| r.spec.same_access(rule))
    {
        tags.clone_from(&read.tags);
    }
    step
}

/// How many NSGs or security groups are written at the same time, each by its own thread with
/// its own connections.
pub const WRITERS: usize = 4;

/// Makes the writes of `checked`: one at a time and in order within an NSG or security group,
/// up to [`WRITERS`] NSGs and groups at once; each journaled before it is sent and its outcome
/// after. In a dry run nothing is journaled (nothing is written). Outcomes come back in the
/// plan's order.
pub fn write(
    checked: Vec<Checked>,
    connect: &Connect,
    journal: Option<&mut Journal<'_>>,
    mode: Mode,
) -> Result<Vec<ChangeOutcome>, JournalError> {
    let groups = by_container(checked);
    let writers = WRITERS.min(groups.len());
    let queue = Mutex::new(groups.into_iter());
    let journal = journal.map(Mutex::new);
    let outcomes = Mutex::new(Vec::new());
    let failures: Vec<JournalError> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..writers)
            .map(|_| {
                scope.spawn(|| -> Result<(), JournalError> {
                    let mut clouds = Clouds::new(connect.clone());
                    loop {
                        let next = lock(&queue).next();
                        let Some(group) = next else {
                            return Ok(());
                        };
                        for Todo { change, step, live } in group {
                            let result = match (&mut clouds, journal.as_ref()) {
                                (Err(detail), _) => Err(StepError::Connect {
                                    target: step.target(),
                                    detail: detail.clone(),
                                }),
                                (Ok(clouds), Some(journal)) => {
                                    journaled(journal, change, &step, step::APPLY, |step| {
                                        clouds.write(step, &live, mode)
                                    })?
                                }
                                (Ok(clouds), None) => clouds.write(&step, &live, mode),
                            };
                            lock(&outcomes).push(ChangeOutcome {
                                change,
                                target: step.target(),
                                verb: step.verb(),
                                result,
                            });
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .filter_map(|w| w.join().expect("a writer thread panicked").err())
            .collect()
    });
    if let Some(failure) = failures.into_iter().next() {
        return Err(failure);
    }
    let mut outcomes = outcomes.into_inner().unwrap_or_else(|p| p.into_inner());
    outcomes.sort_by_key(|o| o.change);
    Ok(outcomes)
}

/// One write to make: the change it is for, the step, and its target as read.
struct Todo {
    change: usize,
    step: Step,
    live: Live,
}

/// The writes to make, NSG by NSG and group by group, each in the order [`check`] put them.
fn by_container(checked: Vec<Checked>) -> Vec<Vec<Todo>> {
    let mut groups: Vec<(String, Vec<Todo>)> = Vec::new();
    for one in checked {
        let Some((step, live)) = one.todo else {
            continue;
        };
        let key = step.container().to_ascii_lowercase();
        let todo = Todo {
            change: one.change,
            step,
            live,
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(todo),
            None => groups.push((key, vec![todo])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Records `step` as an intent, makes it with `write`, and records its outcome: the one way
/// `fix` writes to a cloud. [`crash_point`]s sit between the three.
pub fn journaled(
    journal: &Mutex<&mut Journal<'_>>,
    change: usize,
    step: &Step,
    kind: &str,
    write: impl FnOnce(&Step) -> Result<Wrote, StepError>,
) -> Result<Result<Wrote, StepError>, JournalError> {
    let body = serde_json::to_value(Recorded {
        change,
        step: step.clone(),
    })
    .expect("a step is JSON");
    let intent = lock(journal).record_intent(&Intent {
        kind: kind.to_owned(),
        body,
    })?;
    crash_point();
    let result = write(step);
    crash_point();
    lock(journal).record_outcome(intent, &outcome_of(&result))?;
    crash_point();
    Ok(result)
}

/// The journal's outcome of a write.
pub fn outcome_of(result: &Result<Wrote, StepError>) -> Outcome {
    match result {
        Ok(wrote) => Outcome {
            status: if *wrote == Wrote::Changed {
                journal::Status::Applied
            } else {
                journal::Status::Converged
            },
            detail: json!(format!("{wrote:?}")),
        },
        Err(error) => Outcome {
            status: if error.is_blocked() {
                journal::Status::Blocked
            } else {
                journal::Status::Failed
            },
            detail: json!(error.to_string()),
        },
    }
}

/// The environment variable of the crash tests: `N` ends the process (as `kill -9` would) at the
/// N-th point between journaling and writing. Never set outside tests.
pub const CRASH_AT_VARIABLE: &str = "PORTCULLIS_TEST_CRASH_AT";

/// Ends the process here when [`CRASH_AT_VARIABLE`] says this is the point.
fn crash_point() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static PASSED: AtomicU64 = AtomicU64::new(0);
    let Some(at) = std::env::var(CRASH_AT_VARIABLE)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    if PASSED.fetch_add(1, Ordering::SeqCst) + 1 == at {
        std::process::abort();
    }
}
