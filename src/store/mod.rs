//! The store: where `portcullis audit` records each run and what `portcullis history` reads
//! back ([`Store`]), and where `portcullis jit` keeps its ledger
//! ([`crate::jit::ledger::Ledger`]). Both traits are implemented by an embedded SQLite backend
//! (the default, `audit.db` in the state directory) and a PostgreSQL backend for a team's shared
//! server, so that one `--store` holds a team's audit history and JIT ledger. Every backend runs
//! its versioned migrations (one sequence for all its tables) on open, and writes a run under a
//! lock so that two audits never interleave. Both keep a run's lists as JSON text; the helpers
//! here turn them back.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::audit::record::{Life, NewRun, Observation, Observed};
use crate::jit::ledger::Ledger;
use crate::model::MissingScope;

mod ledger;
mod postgres;
mod sqlite;

pub use postgres::{CONNECT_TIMEOUT, PostgresStore, WRITER_LOCK_KEY};
pub use sqlite::SqliteStore;

/// How long a writer waits for another audit to finish with the store before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(60);

/// One recorded run, as `history runs` lists it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RunSummary {
    pub id: i64,
    pub time: String,
    pub sources: Vec<String>,
    pub score: f64,
    pub scopes_read: Vec<String>,
    pub scopes_missing: usize,
}

/// One recorded run in full, as `history show` and `history trend` read it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunDetail {
    pub summary: RunSummary,
    /// The scopes that could not be read, with the error.
    pub scopes_missing: Vec<MissingScope>,
    pub policy_digest: String,
    /// The score per scope and control, as the JSON report writes it.
    pub score_detail: String,
}

/// How many findings of one recommendation one run observed with one status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusCount {
    pub run: i64,
    pub rule: String,
    pub status: Observed,
    pub count: u64,
}

/// A place that keeps audit runs and the lives of their findings.
pub trait Store {
    /// Records `run` and advances the findings' lives, all in one transaction under the store's
    /// writer lock. Returns the new run's id.
    fn record(&mut self, run: &NewRun) -> Result<i64, StoreError>;
    /// Every run in full, oldest first.
    fn run_details(&mut self) -> Result<Vec<RunDetail>, StoreError>;
    /// Every run, oldest first.
    fn runs(&mut self) -> Result<Vec<RunSummary>, StoreError> {
        Ok(self
            .run_details()?
            .into_iter()
            .map(|detail| detail.summary)
            .collect())
    }
    /// Per run, recommendation and status, how many findings were observed, in run order.
    fn status_counts(&mut self) -> Result<Vec<StatusCount>, StoreError>;
    /// What run `run` observed, not-assessed findings included.
    fn observations(&mut self, run: i64) -> Result<Vec<Observation>, StoreError>;
    /// The fingerprints of findings unhealthy (exempt or not) in any run up to `run`.
    fn unhealthy_up_to(&mut self, run: i64) -> Result<BTreeSet<String>, StoreError>;
    /// Every finding ever recorded, with its life.
    fn lives(&mut self) -> Result<Vec<Life>, StoreError>;
}

/// Why the store could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store URL `{0}` is neither sqlite:PATH nor postgres://…")]
    BadUrl(String),
    #[error("no state directory for the store: set PORTCULLIS_STATE_DIR or pass --store")]
    NoStateDir,
    #[error("cannot create the store's folder {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("store {store}: {source}")]
    Sqlite {
        store: String,
        source: rusqlite::Error,
    },
    #[error(
        "store {store} is held by another writer ({holder}); waited {}s — try again when it has finished",
        waited.as_secs()
    )]
    Locked {
        store: String,
        holder: String,
        waited: Duration,
    },
    #[error("store {store}: {detail}")]
    Postgres {
        store: String,
        detail: String,
        source: tokio_postgres::Error,
    },
    #[error(
        "store {store}: no answer within {}s of connecting; check the URL's host and port, or raise its connect_timeout",
        waited.as_secs()
    )]
    ConnectTimeout { store: String, waited: Duration },
    #[error("store {store}: cannot start the PostgreSQL client: {source}")]
    Client {
        store: String,
        source: std::io::Error,
    },
    #[error("store {store}: cannot set up TLS: {source}")]
    Tls {
        store: String,
        source: rustls::Error,
    },
    #[error("store {store} holds a bad value: {message}")]
    Corrupt { store: String, message: String },
    #[error(
        "store {store} has schema version {found}, newer than this portcullis knows ({known}); upgrade portcullis"
    )]
    TooNew {
        store: String,
        found: i64,
        known: i64,
    },
}

/// Where a store lives, parsed from `--store`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl StoreUrl {
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        if let Some(path) = text.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(StoreError::BadUrl(text.to_owned()));
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(text.to_owned()));
        }
        Err(StoreError::BadUrl(text.to_owned()))
    }

    /// `audit.db` in the state directory ([`crate::state_dir`]).
    pub fn default_location() -> Result<Self, StoreError> {
        let dir = crate::state_dir::locate().ok_or(StoreError::NoStateDir)?;
        Ok(StoreUrl::Sqlite(dir.join("audit.db")))
    }

    /// `--store`'s value, else the default location.
    pub fn from_arg(arg: Option<&str>) -> Result<Self, StoreError> {
        arg.map_or_else(Self::default_location, Self::parse)
    }
}

/// Opens (creating if needed) the store at `url` and brings its schema up to date.
pub fn open(url: &StoreUrl) -> Result<Box<dyn Store>, StoreError> {
    match url {
        StoreUrl::Sqlite(path) => Ok(Box::new(SqliteStore::open(path, LOCK_WAIT)?)),
        StoreUrl::Postgres(url) => Ok(Box::new(PostgresStore::open(url, LOCK_WAIT)?)),
    }
}

/// [`open`], for the JIT ledger it holds.
pub fn open_ledger(url: &StoreUrl) -> Result<Box<dyn Ledger>, StoreError> {
    match url {
        StoreUrl::Sqlite(path) => Ok(Box::new(SqliteStore::open(path, LOCK_WAIT)?)),
        StoreUrl::Postgres(url) => Ok(Box::new(PostgresStore::open(url, LOCK_WAIT)?)),
    }
}

/// A run's lists as both backends keep them: JSON text.
struct RunLists {
    sources: String,
    scopes_read: String,
    scopes_missing: String,
}

impl RunLists {
    fn of(run: &NewRun, store: &str) -> Result<Self, StoreError> {
        Ok(RunLists {
            sources: text(store, "sources", &run.sources)?,
            scopes_read: text(store, "scopes read", &run.scopes_read)?,
            scopes_missing: text(store, "scopes missing", &run.scopes_missing)?,
        })
    }
}

/// The columns of `runs` in the order both backends select them.
const RUN_COLUMNS: &str =
    "id, time, sources, score, scopes_read, scopes_missing, policy_digest, score_detail";

/// A `runs` row as both backends read it back.
struct RunRow {
    id: i64,
    time: String,
    score: f64,
    lists: RunLists,
    policy_digest: String,
    score_detail: String,
}

impl RunRow {
    fn detail(self, store: &str) -> Result<RunDetail, StoreError> {
        let missing: Vec<MissingScope> = json(store, "scopes_missing", &self.lists.scopes_missing)?;
        Ok(RunDetail {
            summary: RunSummary {
                id: self.id,
                time: self.time,
                sources: json(store, "sources", &self.lists.sources)?,
                score: self.score,
                scopes_read: json(store, "scopes_read", &self.lists.scopes_read)?,
                scopes_missing: missing.len(),
            },
            scopes_missing: missing,
            policy_digest: self.policy_digest,
            score_detail: self.score_detail,
        })
    }
}

/// Counts per run, recommendation and status, in the order both backends select them.
const STATUS_COUNTS: &str = "SELECT run_id, rule, status, COUNT(*) FROM observations \
     GROUP BY run_id, rule, status ORDER BY run_id, rule, status";

/// A [`STATUS_COUNTS`] row read back.
fn status_count(
    store: &str,
    run: i64,
    rule: String,
    status: &str,
    count: i64,
) -> Result<StatusCount, StoreError> {
    Ok(StatusCount {
        run,
        rule,
        status: observed(store, status)?,
        count: u64::try_from(count)
            .map_err(|_| corrupt(store, format!("{count} observations in run {run}")))?,
    })
}

fn corrupt(store: &str, message: String) -> StoreError {
    StoreError::Corrupt {
        store: store.to_owned(),
        message,
    }
}

fn text<T: serde::Serialize>(store: &str, what: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| corrupt(store, format!("{what}: {e}")))
}

fn json<T: serde::de::DeserializeOwned>(
    store: &str,
    column: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(store, format!("column {column}: {e}")))
}

/// An observation's status column read back.
fn observed(store: &str, text: &str) -> Result<Observed, StoreError> {
    text.parse().map_err(|e| corrupt(store, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let cases = [
            (
                "sqlite:/tmp/a.db",
                Some(StoreUrl::Sqlite("/tmp/a.db".into())),
            ),
            ("sqlite:", None),
            (
                "postgres://u@127.0.0.1/db",
                Some(StoreUrl::Postgres("postgres://u@127.0.0.1/db".into())),
            ),
            ("/tmp/a.db", None),
            ("mysql://x", None),
        ];
        for (text, want) in cases {
            assert_eq!(StoreUrl::parse(text).ok(), want, "{text}");
        }
    }
}
