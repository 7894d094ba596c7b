//! The audit store: where `portcullis audit` records each run and what `portcullis history`
//! reads back. One trait, [`Store`], with an embedded SQLite backend (the default, in the state
//! directory) and room for a shared server backend. Every backend runs its versioned migrations
//! on open, and writes a run under a lock so that two audits never interleave.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::audit::record::{Life, NewRun, Observation};

mod sqlite;

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

/// A place that keeps audit runs and the lives of their findings.
pub trait Store {
    /// Records `run` and advances the findings' lives, all in one transaction under the store's
    /// writer lock. Returns the new run's id.
    fn record(&mut self, run: &NewRun) -> Result<i64, StoreError>;
    /// Every run, oldest first.
    fn runs(&mut self) -> Result<Vec<RunSummary>, StoreError>;
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
    #[error("no state directory for the audit store: set PORTCULLIS_STATE_DIR or pass --store")]
    NoStateDir,
    #[error("cannot create the audit store's folder {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("PostgreSQL stores are not supported by this build (store `{0}`); use sqlite:PATH")]
    Unsupported(String),
    #[error("audit store {store}: {source}")]
    Sqlite {
        store: String,
        source: rusqlite::Error,
    },
    #[error(
        "audit store {store} is held by another audit ({holder}); waited {}s — try again when it has finished",
        waited.as_secs()
    )]
    Locked {
        store: String,
        holder: String,
        waited: Duration,
    },
    #[error("audit store {store} holds a bad value: {message}")]
    Corrupt { store: String, message: String },
    #[error(
        "audit store {store} has schema version {found}, newer than this portcullis knows ({known}); upgrade portcullis"
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
        StoreUrl::Postgres(url) => Err(StoreError::Unsupported(url.clone())),
    }
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
