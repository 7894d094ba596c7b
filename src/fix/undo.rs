//! `fix undo`: takes back what `fix apply` wrote for a plan, as its journal records it, newest
//! write first. Each write's inverse ([`Step::inverse`]) is made only where the target still
//! holds what apply wrote; where someone changed it since, undo says what it holds now and
//! touches nothing there. A write apply found already made (a rule already there) was not
//! apply's, and is left. Undo's own writes are journaled like apply's.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::apply::journaled;
use super::clouds::{Clouds, StepError, Wrote};
use super::journal::{self, Journal, JournalError, Recorded as JournalRecord};
use super::recover::FOUND_WRITTEN;
use super::step::{self, Progress, Recorded, Step};
use crate::cloud::aws::write::Mode;

/// How undoing one write ended.
#[derive(Debug)]
pub struct Undone {
    pub change: usize,
    /// The write that takes apply's back.
    pub target: String,
    pub verb: &'static str,
    pub result: UndoResult,
}

#[derive(Debug)]
pub enum UndoResult {
    /// Written (or, in a dry run, checked).
    Written(Result<Wrote, StepError>),
    /// The target already holds what it held before apply.
    AlreadyUndone,
    /// The target was changed since apply: nothing written.
    Differs(String),
    /// The target could not be read: nothing written.
    Unread(StepError),
}

impl UndoResult {
    /// Whether the target is back as it was (or, in a dry run, would be allowed back).
    pub fn is_ok(&self) -> bool {
        matches!(self, UndoResult::Written(Ok(_)) | UndoResult::AlreadyUndone)
    }
}

/// The writes of apply still in effect, newest first: per change, the last apply write that
/// succeeded and that no later undo took back.
pub fn in_effect(records: &[JournalRecord]) -> Result<Vec<(usize, Step)>, String> {
    let mut last: BTreeMap<usize, (usize, Option<Step>)> = BTreeMap::new();
    for (sequence, record) in records.iter().enumerate() {
        let Some(outcome) = &record.outcome else {
            continue;
        };
        let body: Recorded = serde_json::from_value(record.intent.body.clone()).map_err(|e| {
            format!(
                "line {}: the intent is not a write fix knows: {e}",
                record.line
            )
        })?;
        let ours = outcome.status == journal::Status::Applied
            || (outcome.status == journal::Status::Converged
                && outcome.detail == serde_json::json!(FOUND_WRITTEN));
        let succeeded = matches!(
            outcome.status,
            journal::Status::Applied | journal::Status::Converged
        );
        match record.intent.kind.as_str() {
            step::APPLY if ours => {
                last.insert(body.change, (sequence, Some(body.step)));
            }
            step::UNDO if succeeded => {
                last.insert(body.change, (sequence, None));
            }
            _ => {}
        }
    }
    let mut writes: Vec<(usize, usize, Step)> = last
        .into_iter()
        .filter_map(|(change, (sequence, step))| Some((sequence, change, step?)))
        .collect();
    writes.sort_by_key(|w| std::cmp::Reverse(w.0));
    Ok(writes
        .into_iter()
        .map(|(_, change, step)| (change, step))
        .collect())
}

/// Takes back `writes` (from [`in_effect`]), journaling each write in `journal` (none in a dry
/// run).
pub fn undo(
    writes: Vec<(usize, Step)>,
    clouds: &mut Clouds,
    mut journal: Option<&mut Journal<'_>>,
    mode: Mode,
) -> Result<Vec<Undone>, JournalError> {
    let mut undone = Vec::new();
    for (change, applied) in writes {
        let inverse = applied.inverse();
        let result = match clouds.read(&inverse) {
            Err(error) => UndoResult::Unread(error),
            Ok(live) => match inverse.progress(&live) {
                Progress::Done => UndoResult::AlreadyUndone,
                Progress::Differs(holds) => UndoResult::Differs(holds),
                Progress::ToDo => UndoResult::Written(match journal.as_deref_mut() {
                    Some(journal) => {
                        let journal = Mutex::new(journal);
                        journaled(&journal, change, &inverse, step::UNDO, |step| {
                            clouds.write(step, &live, mode)
                        })?
                    }
                    None => clouds.write(&inverse, &live, mode),
                }),
            },
        };
        undone.push(Undone {
            change,
            target: inverse.target(),
            verb: inverse.verb(),
            result,
        });
    }
    Ok(undone)
}
