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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fix::journal::{Intent, IntentId, Outcome, Status};

    fn step(cidr: &str) -> Step {
        Step::AwsRevoke {
            group: "sg-1".to_owned(),
            region: "eu-west-1".to_owned(),
            rule: crate::cloud::aws::write::SgRuleSpec {
                protocol: crate::model::Protocol::TCP,
                ports: crate::cloud::aws::write::RulePorts::All,
                source: crate::model::SgSourceKind::Cidr(cidr.parse().unwrap()),
                description: None,
            },
            tags: std::collections::BTreeMap::new(),
        }
    }

    fn record(
        line: usize,
        kind: &str,
        change: usize,
        cidr: &str,
        outcome: Option<(Status, &str)>,
    ) -> JournalRecord {
        JournalRecord {
            id: IntentId(line as u64),
            intent: Intent {
                kind: kind.to_owned(),
                body: serde_json::to_value(Recorded {
                    change,
                    step: step(cidr),
                })
                .unwrap(),
            },
            outcome: outcome.map(|(status, detail)| Outcome {
                status,
                detail: json!(detail),
            }),
            line,
        }
    }

    #[test]
    fn the_writes_in_effect_are_the_last_successful_applies_not_undone_newest_first() {
        let records = [
            record(
                1,
                step::APPLY,
                0,
                "1.0.0.0/8",
                Some((Status::Applied, "Changed")),
            ),
            record(
                2,
                step::APPLY,
                1,
                "2.0.0.0/8",
                Some((Status::Applied, "Changed")),
            ),
            // Found in place at apply: not apply's to undo.
            record(
                3,
                step::APPLY,
                2,
                "3.0.0.0/8",
                Some((Status::Converged, "AlreadyThere")),
            ),
            // Written, as recover found after a crash.
            record(
                4,
                step::APPLY,
                3,
                "4.0.0.0/8",
                Some((Status::Converged, FOUND_WRITTEN)),
            ),
            record(
                5,
                step::APPLY,
                4,
                "5.0.0.0/8",
                Some((Status::Blocked, "denied")),
            ),
            record(6, step::APPLY, 5, "6.0.0.0/8", None),
            // Change 1 was undone, then change 0 applied again by a later apply.
            record(
                7,
                step::UNDO,
                1,
                "2.0.0.0/8",
                Some((Status::Applied, "Changed")),
            ),
            record(
                8,
                step::APPLY,
                0,
                "1.0.0.0/8",
                Some((Status::Applied, "Changed")),
            ),
        ];
        let changes: Vec<usize> = in_effect(&records)
            .unwrap()
            .into_iter()
            .map(|(change, _)| change)
            .collect();
        assert_eq!(changes, vec![0, 3]);
    }
}
