//! The write-ahead journal of `fix`: every cloud write is recorded as an intent, durable on disk
//! before the write is sent, and its outcome after the write was verified, so that a `fix` killed
//! half-way can be reconciled by `fix recover` against live state.
//!
//! The journals live in `<state>/journal/` ([`crate::state_dir`]), one append-only JSON-lines
//! file per applied plan, named by the plan's id (`<plan>.jsonl`). A line is one entry: an
//! intent (its id, its kind, and whatever body the fix code needs to redo or check it: targets,
//! before- and after-images) or the outcome of an earlier intent. An entry counts once its line
//! ends with a newline and the file was synced: a last line without one was cut by a crash before
//! [`Journal::record_intent`] returned, so nothing was written to the cloud for it; it is skipped
//! with a warning (and cut off when the journal is opened for writing). A bad line anywhere else
//! is corruption, reported with the file and line.
//!
//! Only one process applies at a time: [`Journals::lock`] takes an advisory lock (`flock`) on
//! `<state>/journal/apply.lock`, which the kernel releases when the process ends however it ends,
//! and a journal can be written only under it.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The lock file in the journal folder.
pub const LOCK_FILE: &str = "apply.lock";

/// The extension of a plan's journal.
const EXTENSION: &str = "jsonl";

/// Why a journal could not be opened, read or written, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "no state directory for the fix journal: set PORTCULLIS_STATE_DIR (or XDG_STATE_HOME or \
         HOME)"
    )]
    NoStateDir,
    #[error(
        "plan id {0:?} cannot name a journal: use 1 to 128 letters, digits, `.`, `_` or `-`, not \
         starting with `.`"
    )]
    BadPlanId(String),
    #[error("fix journal {}: {action}: {source}; check the state directory's permissions and free space", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    #[error(
        "another `portcullis fix` (pid {holder}) is applying changes (lock {}); wait for it to \
         finish, or run `portcullis fix recover` once it has ended",
        path.display()
    )]
    Locked { path: PathBuf, holder: String },
    #[error(
        "fix journal {}, line {line}: {reason}; the journal is damaged: move the file aside and \
         check the cloud by hand against the plan",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("fix journal {}: intent {intent} was never recorded; record the intent before its outcome", path.display())]
    UnknownIntent { path: PathBuf, intent: IntentId },
    #[error("fix journal {}: intent {intent} already has an outcome", path.display())]
    OutcomeTwice { path: PathBuf, intent: IntentId },
}

/// Something in a journal that was skipped, for the caller to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub path: PathBuf,
    pub line: usize,
    pub bytes: usize,
}

impl fmt::Display for TornTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fix journal {}: line {} ({} bytes) was cut by a crash while being written and is \
             ignored; nothing was sent to the cloud for it",
            self.path.display(),
            self.line,
            self.bytes
        )
    }
}

/// The id of a plan, which names its journal file.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PlanId(String);

impl PlanId {
    pub fn new(text: &str) -> Result<Self, JournalError> {
        let valid = (1..=128).contains(&text.len())
            && !text.starts_with('.')
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if valid {
            Ok(PlanId(text.to_string()))
        } else {
            Err(JournalError::BadPlanId(text.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PlanId {
    type Error = JournalError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        PlanId::new(&text)
    }
}

impl From<PlanId> for String {
    fn from(id: PlanId) -> String {
        id.0
    }
}

impl fmt::Display for PlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The number of an intent in its plan's journal, from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IntentId(pub u64);

impl fmt::Display for IntentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A write about to be made: its kind (chosen by the fix code, e.g. `aws-revoke`) and the body
/// the fix code needs to redo or check it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub kind: String,
    pub body: serde_json::Value,
}

/// How an intended write ended, as verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The write was made and verified.
    Applied,
    /// The cloud already was as intended (a replay, a rule already there or already gone).
    Converged,
    /// The cloud's governance refused it (permissions, policy, lock).
    Blocked,
    /// It failed; the detail says why.
    Failed,
}

/// The outcome of an intent: its status and what the fix code wants to keep about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: Status,
    pub detail: serde_json::Value,
}

/// One line of a journal.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "snake_case", deny_unknown_fields)]
enum Line {
    Intent {
        id: IntentId,
        /// Seconds since the Unix epoch.
        at: u64,
        kind: String,
        body: serde_json::Value,
    },
    Outcome {
        intent: IntentId,
        at: u64,
        status: Status,
        detail: serde_json::Value,
    },
}

/// An intent as a journal holds it, with its outcome once recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub id: IntentId,
    pub intent: Intent,
    pub outcome: Option<Outcome>,
    /// The line it was recorded at.
    pub line: usize,
}

/// An intent without an outcome: the process that recorded it ended before verifying the write.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    pub plan: PlanId,
    pub path: PathBuf,
    pub recorded: Recorded,
}

/// What reading journals found: the value, and the torn lines skipped.
#[derive(Debug)]
pub struct WithWarnings<T> {
    pub value: T,
    pub warnings: Vec<TornTail>,
}

/// The journal folder of a state directory.
#[derive(Clone, Debug)]
pub struct Journals {
    dir: PathBuf,
}

/// The advisory lock that makes a process the only one applying; released when dropped or when
/// the process ends.
#[derive(Debug)]
pub struct ApplyLock {
    _file: File,
}

/// One plan's journal, open for appending under the apply lock.
#[derive(Debug)]
pub struct Journal<'lock> {
    plan: PlanId,
    path: PathBuf,
    file: File,
    /// Whether each intent recorded so far has an outcome.
    intents: BTreeMap<IntentId, bool>,
    _lock: &'lock ApplyLock,
}

fn io_error<'a>(
    path: &'a Path,
    action: &'static str,
) -> impl FnOnce(io::Error) -> JournalError + 'a {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// Syncs a directory, so that the entries created in it survive a crash.
fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir, "cannot sync the folder"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Journals {
    /// `journal/` in the state directory.
    pub fn in_state_dir() -> Result<Self, JournalError> {
        let state = crate::state_dir::locate().ok_or(JournalError::NoStateDir)?;
        Ok(Self::at(state.join("journal")))
    }

    /// The journal folder `dir` (created when first locked).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Journals { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of `plan`'s journal.
    pub fn path(&self, plan: &PlanId) -> PathBuf {
        self.dir.join(format!("{plan}.{EXTENSION}"))
    }

    /// Takes the apply lock without waiting, creating the journal folder if needed; fails naming
    /// the pid of the process that holds it.
    pub fn lock(&self) -> Result<ApplyLock, JournalError> {
        if !self.dir.is_dir() {
            fs::create_dir_all(&self.dir)
                .map_err(io_error(&self.dir, "cannot create the folder"))?;
            if let Some(parent) = self.dir.parent() {
                sync_dir(parent)?;
            }
        }
        let path = self.dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error(&path, "cannot open the lock file"))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                // The holder writes its pid right after locking; an empty file means it is
                // about to.
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "unknown".to_string(),
                    pid => pid.to_string(),
                };
                return Err(JournalError::Locked { path, holder });
            }
            Err(TryLockError::Error(source)) => {
                return Err(JournalError::Io {
                    path,
                    action: "cannot lock",
                    source,
                });
            }
        }
        file.set_len(0)
            .and_then(|()| file.write_all(std::process::id().to_string().as_bytes()))
            .and_then(|()| file.sync_data())
            .map_err(io_error(
                &path,
                "cannot record this process in the lock file",
            ))?;
        Ok(ApplyLock { _file: file })
    }

    /// Opens (creating) `plan`'s journal for appending. A torn last line is cut off, and
    /// returned as a warning.
    pub fn open<'lock>(
        &self,
        lock: &'lock ApplyLock,
        plan: &PlanId,
    ) -> Result<WithWarnings<Journal<'lock>>, JournalError> {
        let path = self.path(plan);
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_error(&path, "cannot open"))?;
        if !existed {
            sync_dir(&self.dir)?;
        }
        let mut text = Vec::new();
        file.read_to_end(&mut text)
            .map_err(io_error(&path, "cannot read"))?;
        let parsed = parse(&path, &text)?;
        if let Some(torn) = &parsed.torn {
            let keep = (text.len() - torn.bytes) as u64;
            file.set_len(keep)
                .and_then(|()| file.sync_data())
                .map_err(io_error(&path, "cannot cut the torn last line"))?;
        }
        file.seek(SeekFrom::End(0))
            .map_err(io_error(&path, "cannot seek"))?;
        let intents = parsed
            .recorded
            .iter()
            .map(|r| (r.id, r.outcome.is_some()))
            .collect();
        Ok(WithWarnings {
            value: Journal {
                plan: plan.clone(),
                path,
                file,
                intents,
                _lock: lock,
            },
            warnings: parsed.torn.into_iter().collect(),
        })
    }

    /// Every intent of `plan`'s journal with its outcome, in order; nothing when it has none.
    pub fn read(&self, plan: &PlanId) -> Result<WithWarnings<Vec<Recorded>>, JournalError> {
        let path = self.path(plan);
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_error(&path, "cannot read")(e)),
        };
        let parsed = parse(&path, &text)?;
        Ok(WithWarnings {
            value: parsed.recorded,
            warnings: parsed.torn.into_iter().collect(),
        })
    }

    /// The intents without an outcome across every plan's journal, by plan then intent.
    pub fn pending(&self) -> Result<WithWarnings<Vec<Pending>>, JournalError> {
        let mut plans = Vec::new();
        match fs::read_dir(&self.dir) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.map_err(io_error(&self.dir, "cannot list"))?;
                    let path = entry.path();
                    if path.extension().and_then(|e| e.to_str()) != Some(EXTENSION) {
                        continue;
                    }
                    let stem = path.file_stem().and_then(|s| s.to_str());
                    if let Some(plan) = stem.and_then(|s| PlanId::new(s).ok()) {
                        plans.push(plan);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&self.dir, "cannot list")(e)),
        }
        plans.sort();
        let mut pending = Vec::new();
        let mut warnings = Vec::new();
        for plan in plans {
            let read = self.read(&plan)?;
            warnings.extend(read.warnings);
            let path = self.path(&plan);
            pending.extend(read.value.into_iter().filter(|r| r.outcome.is_none()).map(
                |recorded| Pending {
                    plan: plan.clone(),
                    path: path.clone(),
                    recorded,
                },
            ));
        }
        Ok(WithWarnings {
            value: pending,
            warnings,
        })
    }
}

/// A journal's entries, and its torn last line if any.
struct Parsed {
    recorded: Vec<Recorded>,
    torn: Option<TornTail>,
}

fn parse(path: &Path, text: &[u8]) -> Result<Parsed, JournalError> {
    let corrupt = |line: usize, reason: String| JournalError::Corrupt {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut recorded: Vec<Recorded> = Vec::new();
    let mut torn = None;
    let mut rest = text;
    let mut number = 0;
    while !rest.is_empty() {
        number += 1;
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            torn = Some(TornTail {
                path: path.to_path_buf(),
                line: number,
                bytes: rest.len(),
            });
            break;
        };
        let line = &rest[..end];
        rest = &rest[end + 1..];
        let entry: Line =
            serde_json::from_slice(line).map_err(|e| corrupt(number, e.to_string()))?;
        match entry {
            Line::Intent { id, kind, body, .. } => {
                if recorded.iter().any(|r| r.id == id) {
                    return Err(corrupt(number, format!("intent {id} is recorded twice")));
                }
                recorded.push(Recorded {
                    id,
                    intent: Intent { kind, body },
                    outcome: None,
                    line: number,
                });
            }
            Line::Outcome {
                intent,
                status,
                detail,
                ..
            } => {
                let Some(target) = recorded.iter_mut().find(|r| r.id == intent) else {
                    return Err(corrupt(
                        number,
                        format!("outcome of intent {intent}, which no earlier line records"),
                    ));
                };
                if target.outcome.is_some() {
                    return Err(corrupt(
                        number,
                        format!("a second outcome of intent {intent}"),
                    ));
                }
                target.outcome = Some(Outcome { status, detail });
            }
        }
    }
    Ok(Parsed { recorded, torn })
}

impl Journal<'_> {
    pub fn plan(&self) -> &PlanId {
        &self.plan
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records `intent`; when this returns, the intent is on disk (file synced), and the write
    /// may be sent.
    pub fn record_intent(&mut self, intent: &Intent) -> Result<IntentId, JournalError> {
        let id = IntentId(self.intents.keys().next_back().map_or(1, |last| last.0 + 1));
        self.append(&Line::Intent {
            id,
            at: now(),
            kind: intent.kind.clone(),
            body: intent.body.clone(),
        })?;
        self.intents.insert(id, false);
        Ok(id)
    }

    /// Records how intent `id` ended, once the write was verified.
    pub fn record_outcome(&mut self, id: IntentId, outcome: &Outcome) -> Result<(), JournalError> {
        match self.intents.get(&id) {
            None => {
                return Err(JournalError::UnknownIntent {
                    path: self.path.clone(),
                    intent: id,
                });
            }
            Some(true) => {
                return Err(JournalError::OutcomeTwice {
                    path: self.path.clone(),
                    intent: id,
                });
            }
            Some(false) => {}
        }
        self.append(&Line::Outcome {
            intent: id,
            at: now(),
            status: outcome.status,
            detail: outcome.detail.clone(),
        })?;
        self.intents.insert(id, true);
        Ok(())
    }

    /// Writes `line` whole, with its newline, in one write, and syncs the file.
    fn append(&mut self, line: &Line) -> Result<(), JournalError> {
        let mut bytes = serde_json::to_vec(line).map_err(|e| JournalError::Io {
            path: self.path.clone(),
            action: "cannot encode an entry",
            source: io::Error::other(e),
        })?;
        bytes.push(b'\n');
        self.file
            .write_all(&bytes)
            .and_then(|()| self.file.sync_data())
            .map_err(io_error(&self.path, "cannot append"))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};

    use serde_json::json;

    use super::*;

    /// Set in a child process of these tests: what the child does, and in which journal folder.
    const CHILD: &str = "PORTCULLIS_TEST_JOURNAL_CHILD";
    const READY: &str = "journal-child-ready";

    fn plan() -> PlanId {
        PlanId::new("plan-20261202-1").unwrap()
    }

    fn intent(n: u64) -> Intent {
        Intent {
            kind: "aws-revoke".into(),
            body: json!({"group": "sg-1", "rules": [format!("sgr-{n}")]}),
        }
    }

    fn applied() -> Outcome {
        Outcome {
            status: Status::Applied,
            detail: json!({"verified": true}),
        }
    }

    /// The other half of the tests below that need a second process: run by them as this test
    /// binary with [`CHILD`] set; does nothing otherwise.
    #[test]
    fn child_process() {
        let Ok(order) = std::env::var(CHILD) else {
            return;
        };
        let (what, dir) = order.split_once(':').unwrap();
        let journals = Journals::at(dir);
        let lock = journals.lock().unwrap();
        if what == "intent" {
            let mut journal = journals.open(&lock, &plan()).unwrap().value;
            journal.record_intent(&intent(1)).unwrap();
            let id = journal.record_intent(&intent(2)).unwrap();
            journal.record_outcome(id, &applied()).unwrap();
            journal.record_intent(&intent(3)).unwrap();
        }
        println!("{READY}");
        // Holds the lock (and stays between intent and outcome) until killed.
        let _ = io::stdin().read_line(&mut String::new());
        unreachable!("the parent kills this process");
    }

    /// This test binary running [`child_process`] with `order`, once it says it is ready.
    fn child(order: &str, dir: &Path) -> Child {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "fix::journal::tests::child_process",
                "--nocapture",
            ])
            .env(CHILD, format!("{order}:{}", dir.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let ready = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains(READY));
        assert!(ready, "the child process did not get ready");
        child
    }

    #[test]
    fn an_intent_is_on_disk_when_recorded_and_pending_until_its_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let journals = Journals::at(dir.path().join("journal"));
        let lock = journals.lock().unwrap();
        let mut journal = journals.open(&lock, &plan()).unwrap().value;
        let first = journal.record_intent(&intent(1)).unwrap();
        // Another reader of the folder sees it at once: it was written before the call returned.
        let pending = journals.pending().unwrap().value;
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].plan, plan());
        assert_eq!(pending[0].recorded.id, first);
        assert_eq!(pending[0].recorded.intent, intent(1));
        journal.record_outcome(first, &applied()).unwrap();
        assert!(journals.pending().unwrap().value.is_empty());
        // Reopened, the journal goes on numbering and knows what has an outcome.
        drop(journal);
        let mut journal = journals.open(&lock, &plan()).unwrap().value;
        let second = journal.record_intent(&intent(2)).unwrap();
        assert_eq!(second, IntentId(2));
        assert!(matches!(
            journal.record_outcome(first, &applied()),
            Err(JournalError::OutcomeTwice { .. })
        ));
        assert!(matches!(
            journal.record_outcome(IntentId(9), &applied()),
            Err(JournalError::UnknownIntent { .. })
        ));
        let read = journals.read(&plan()).unwrap().value;
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].outcome.as_ref(), Some(&applied()));
        assert_eq!(read[1].outcome, None);
    }

    /// A journal folder holding [`plan`]'s journal with intent 1, and its lock.
    fn one_intent() -> (tempfile::TempDir, Journals, ApplyLock) {
        let dir = tempfile::tempdir().unwrap();
        let journals = Journals::at(dir.path());
        let lock = journals.lock().unwrap();
        let mut journal = journals.open(&lock, &plan()).unwrap().value;
        journal.record_intent(&intent(1)).unwrap();
        drop(journal);
        (dir, journals, lock)
    }

    #[test]
    fn a_torn_last_line_is_skipped_with_a_warning_and_cut_before_appending() {
        let (_dir, journals, lock) = one_intent();
        let path = journals.path(&plan());
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"entry":"intent","id":2,"at":1,"ki"#)
            .unwrap();
        drop(file);
        let read = journals.pending().unwrap();
        assert_eq!(read.value.len(), 1);
        assert_eq!(read.warnings.len(), 1);
        assert_eq!(read.warnings[0].line, 2);
        assert!(read.warnings[0].to_string().contains("cut by a crash"));
        let opened = journals.open(&lock, &plan()).unwrap();
        assert_eq!(opened.warnings.len(), 1);
        let mut journal = opened.value;
        assert_eq!(journal.record_intent(&intent(2)).unwrap(), IntentId(2));
        let read = journals.read(&plan()).unwrap();
        assert!(read.warnings.is_empty());
        assert_eq!(read.value.len(), 2);
        assert_eq!(read.value[1].intent, intent(2));
    }

    #[test]
    fn a_bad_line_before_the_last_is_named_as_corruption() {
        let (_dir, journals, lock) = one_intent();
        let path = journals.path(&plan());
        let good = fs::read_to_string(&path).unwrap();
        fs::write(&path, format!("{good}not json\n{good}")).unwrap();
        for error in [
            journals.pending().unwrap_err(),
            journals.open(&lock, &plan()).unwrap_err(),
        ] {
            let JournalError::Corrupt {
                path: named, line, ..
            } = &error
            else {
                panic!("{error}");
            };
            assert_eq!((named, *line), (&path, 2));
            let text = error.to_string();
            assert!(text.contains("line 2") && text.contains(path.to_str().unwrap()));
        }
        fs::write(&path, format!("{good}{good}")).unwrap();
        let error = journals.pending().unwrap_err().to_string();
        assert!(
            error.contains("line 2: intent #1 is recorded twice"),
            "{error}"
        );
    }

    #[test]
    fn intents_of_a_killed_process_are_pending_and_its_lock_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = child("intent", dir.path());
        // The child recorded intents 1 to 3, and the outcome of 2 only, then was killed.
        child.kill().unwrap();
        child.wait().unwrap();
        let journals = Journals::at(dir.path());
        let pending = journals.pending().unwrap();
        assert!(pending.warnings.is_empty());
        let ids: Vec<IntentId> = pending.value.iter().map(|p| p.recorded.id).collect();
        assert_eq!(ids, [IntentId(1), IntentId(3)]);
        assert_eq!(pending.value[1].recorded.intent, intent(3));
        assert_eq!(pending.value[1].path, journals.path(&plan()));
        // Recovery can take over: the kernel released the dead process's lock.
        let lock = journals.lock().unwrap();
        let mut journal = journals.open(&lock, &plan()).unwrap().value;
        for id in ids {
            let converged = Outcome {
                status: Status::Converged,
                detail: json!(null),
            };
            journal.record_outcome(id, &converged).unwrap();
        }
        assert!(journals.pending().unwrap().value.is_empty());
    }

    #[test]
    fn a_second_process_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = child("lock", dir.path());
        let error = Journals::at(dir.path()).lock().unwrap_err();
        child.kill().unwrap();
        child.wait().unwrap();
        let JournalError::Locked { holder, .. } = &error else {
            panic!("{error}");
        };
        assert_eq!(holder, &child.id().to_string());
        assert!(error.to_string().contains(&format!("pid {}", child.id())));
        Journals::at(dir.path()).lock().unwrap();
    }

    #[test]
    fn plan_ids_are_safe_file_names() {
        for good in ["plan-1", "a.b_c-9"] {
            assert!(PlanId::new(good).is_ok(), "{good}");
        }
        for bad in ["", ".hidden", "../x", "a/b", "a b", &"x".repeat(129)] {
            assert!(PlanId::new(bad).is_err(), "{bad}");
        }
    }
}
