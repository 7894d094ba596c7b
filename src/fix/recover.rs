//! `fix recover`: every intent of every journal without an outcome (a `fix` that ended between
//! journaling a write and recording how it went) is reconciled against the live target. A target
//! that already holds what the write wrote gets the outcome `converged`; one that still holds
//! what it was planned from gets the write again (a replay converges: the step reads the target
//! first); one that holds something else is recorded as failed, naming what it holds, and is
//! left alone. `fix apply` and `fix undo` recover first.

use super::apply::outcome_of;
use super::clouds::{Clouds, StepError, Wrote};
use super::journal::{self, ApplyLock, JournalError, Journals, Outcome, PlanId, TornTail};
use super::step::{Progress, Recorded, Step};

/// What recovering one intent did.
#[derive(Debug)]
pub struct Recovered {
    pub plan: PlanId,
    pub target: String,
    pub verb: &'static str,
    pub result: RecoverResult,
}

/// How one intent was reconciled.
#[derive(Debug)]
pub enum RecoverResult {
    /// The write had been made before the process ended.
    FoundWritten,
    /// The write had not been made; it was made now (or failed, or was refused).
    Replayed(Result<Wrote, StepError>),
    /// The target holds neither state: recorded as failed, nothing written.
    Differs(String),
    /// The target could not be read: left pending, for the next recover.
    Unread(StepError),
}

/// The outcome detail of an intent found written by recover; `fix undo` takes such writes back
/// as it does the writes it saw succeed.
pub const FOUND_WRITTEN: &str = "FoundWritten";

/// Reconciles every pending intent; returns what was done and the torn lines skipped.
pub fn recover(
    journals: &Journals,
    lock: &ApplyLock,
    clouds: &mut Clouds,
) -> Result<(Vec<Recovered>, Vec<TornTail>), JournalError> {
    let pending = journals.pending()?;
    let mut warnings = pending.warnings;
    let mut recovered = Vec::new();
    for one in pending.value {
        let recorded: Recorded = match serde_json::from_value(one.recorded.intent.body.clone()) {
            Ok(recorded) => recorded,
            Err(e) => {
                return Err(JournalError::Corrupt {
                    path: one.path.clone(),
                    line: one.recorded.line,
                    reason: format!("the intent is not a write fix knows: {e}"),
                });
            }
        };
        let step = recorded.step;
        let mut journal = journals.open(lock, &one.plan)?;
        warnings.append(&mut journal.warnings);
        let result = reconcile(&step, clouds, |result| {
            let outcome = match result {
                Reconciled::FoundWritten => Outcome {
                    status: journal::Status::Converged,
                    detail: serde_json::json!(FOUND_WRITTEN),
                },
                Reconciled::Replayed(result) => outcome_of(result),
                Reconciled::Differs(holds) => Outcome {
                    status: journal::Status::Failed,
                    detail: serde_json::json!(format!("changed by someone else: {holds}")),
                },
            };
            journal.value.record_outcome(one.recorded.id, &outcome)
        })?;
        recovered.push(Recovered {
            plan: one.plan,
            target: step.target(),
            verb: step.verb(),
            result,
        });
    }
    Ok((recovered, warnings))
}

/// What reconciling found, for the outcome to record.
enum Reconciled<'a> {
    FoundWritten,
    Replayed(&'a Result<Wrote, StepError>),
    Differs(&'a str),
}

fn reconcile(
    step: &Step,
    clouds: &mut Clouds,
    record: impl FnOnce(Reconciled<'_>) -> Result<(), JournalError>,
) -> Result<RecoverResult, JournalError> {
    let live = match clouds.read(step) {
        Ok(live) => live,
        Err(error) => return Ok(RecoverResult::Unread(error)),
    };
    Ok(match step.progress(&live) {
        Progress::Done => {
            record(Reconciled::FoundWritten)?;
            RecoverResult::FoundWritten
        }
        Progress::ToDo => {
            let result = clouds.write(step, &live, crate::cloud::aws::write::Mode::Apply);
            record(Reconciled::Replayed(&result))?;
            RecoverResult::Replayed(result)
        }
        Progress::Differs(holds) => {
            record(Reconciled::Differs(&holds))?;
            RecoverResult::Differs(holds)
        }
    })
}
