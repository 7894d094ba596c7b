//! The JIT ledger: every request (granted or refused), grant and close, with who, what, when and
//! why. SQLite (`jit.db` in the state directory, [`crate::state_dir`]), write-ahead logging and
//! a busy timeout so that a sweeper and a requester can share it, and a versioned schema
//! (`PRAGMA user_version`, one migration a version).
//!
//! The ledger is a record, not the source of truth: a grant's expiry lives in the cloud rule
//! ([`super::grant`]), so a lost ledger loses history, never a close. It should later move
//! behind the store interface that the audit history uses, so that a team can share one server.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::grant::GrantId;

/// The ledger's file in the state directory.
pub const FILE: &str = "jit.db";
/// How long a write waits for another process's transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema, one migration per version; `user_version` is the number applied.
const MIGRATIONS: &[&str] = &["CREATE TABLE grants (
        id TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        vm_id TEXT NOT NULL,
        vm_name TEXT NOT NULL,
        ports TEXT NOT NULL,
        source TEXT NOT NULL,
        requester TEXT NOT NULL,
        justification TEXT NOT NULL,
        opened TEXT NOT NULL,
        closes TEXT NOT NULL,
        state TEXT NOT NULL,
        closed TEXT,
        rules TEXT NOT NULL
    );
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        grant_id TEXT,
        event TEXT NOT NULL,
        who TEXT NOT NULL,
        detail TEXT NOT NULL
    );"];

/// Why the ledger could not be used; names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(
        "no state directory for the JIT ledger: set PORTCULLIS_STATE_DIR (or XDG_STATE_HOME or \
         HOME)"
    )]
    NoStateDir,
    #[error("JIT ledger {}: cannot create its folder: {source}; check the state directory's permissions", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("JIT ledger {}: {source}; check the state directory's permissions and free space", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "JIT ledger {}: schema version {found} is newer than this portcullis knows ({known}); \
         use a newer portcullis",
        path.display()
    )]
    Newer {
        path: PathBuf,
        found: usize,
        known: usize,
    },
    #[error("JIT ledger {}: grant {grant} has state {state:?}, which no portcullis writes; the file is damaged", path.display())]
    BadState {
        path: PathBuf,
        grant: String,
        state: String,
    },
}

/// How a grant stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Active,
    Expired,
    Revoked,
    Replaced,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Active => "active",
            State::Expired => "expired",
            State::Revoked => "revoked",
            State::Replaced => "replaced",
        })
    }
}

impl FromStr for State {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "active" => Ok(State::Active),
            "expired" => Ok(State::Expired),
            "revoked" => Ok(State::Revoked),
            "replaced" => Ok(State::Replaced),
            _ => Err(()),
        }
    }
}

/// One grant's rule: the NSG and the rule name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RuleAt {
    pub nsg: String,
    pub rule: String,
}

/// A grant as the ledger records it (and `jit list --format json` prints it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub id: GrantId,
    pub provider: String,
    pub vm_id: String,
    pub vm_name: String,
    /// `22/tcp`, …
    pub ports: Vec<String>,
    pub source: String,
    pub requester: String,
    pub justification: String,
    /// RFC 3339.
    pub opened: String,
    pub closes: String,
    pub state: State,
    pub closed: Option<String>,
    pub rules: Vec<RuleAt>,
}

/// The ledger, open.
pub struct Ledger {
    path: PathBuf,
    conn: Connection,
}

impl Ledger {
    /// `jit.db` in the state directory (created with it).
    pub fn in_state_dir() -> Result<Self, LedgerError> {
        let dir = crate::state_dir::locate().ok_or(LedgerError::NoStateDir)?;
        Ledger::open(&dir.join(FILE))
    }

    /// Opens (creating) the ledger at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        let fail = |source| LedgerError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| LedgerError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let mut conn = Connection::open(path).map_err(fail)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        let version: usize = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(fail)?;
        if version > MIGRATIONS.len() {
            return Err(LedgerError::Newer {
                path: path.to_path_buf(),
                found: version,
                known: MIGRATIONS.len(),
            });
        }
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction().map_err(fail)?;
            tx.execute_batch(migration).map_err(fail)?;
            tx.pragma_update(None, "user_version", index + 1)
                .map_err(fail)?;
            tx.commit().map_err(fail)?;
        }
        Ok(Ledger {
            path: path.to_path_buf(),
            conn,
        })
    }

    fn fail(&self, source: rusqlite::Error) -> LedgerError {
        LedgerError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Records an event: `requested`, `refused`, `opened`, `closed`, with who and why.
    pub fn event(
        &self,
        at: &str,
        grant: Option<&GrantId>,
        event: &str,
        who: &str,
        detail: &str,
    ) -> Result<(), LedgerError> {
        self.conn
            .execute(
                "INSERT INTO events (at, grant_id, event, who, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![at, grant.map(GrantId::as_str), event, who, detail],
            )
            .map(drop)
            .map_err(|e| self.fail(e))
    }

    /// Records an opened grant (its rules written).
    pub fn opened(&self, grant: &Grant) -> Result<(), LedgerError> {
        let rules = serde_json::to_string(&grant.rules).expect("rules are JSON");
        self.conn
            .execute(
                "INSERT OR REPLACE INTO grants (id, provider, vm_id, vm_name, ports, source, \
                 requester, justification, opened, closes, state, closed, rules) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    grant.id.as_str(),
                    grant.provider,
                    grant.vm_id,
                    grant.vm_name,
                    grant.ports.join(","),
                    grant.source,
                    grant.requester,
                    grant.justification,
                    grant.opened,
                    grant.closes,
                    grant.state.to_string(),
                    grant.closed,
                    rules,
                ],
            )
            .map_err(|e| self.fail(e))?;
        self.event(
            &grant.opened,
            Some(&grant.id),
            "opened",
            &grant.requester,
            &format!(
                "{} from {} to {} until {}: {}",
                grant.ports.join(", "),
                grant.source,
                grant.vm_id,
                grant.closes,
                grant.justification
            ),
        )
    }

    /// Records that grant `id` ended (`state`) at `at`, by `who`; a grant the ledger does not
    /// know (opened elsewhere, or before the ledger was lost) gets the event only.
    pub fn closed(
        &self,
        id: &GrantId,
        state: State,
        at: &str,
        who: &str,
        detail: &str,
    ) -> Result<(), LedgerError> {
        self.conn
            .execute(
                "UPDATE grants SET state = ?2, closed = ?3 WHERE id = ?1 AND state = 'active'",
                params![id.as_str(), state.to_string(), at],
            )
            .map_err(|e| self.fail(e))?;
        self.event(at, Some(id), &format!("closed: {state}"), who, detail)
    }

    /// The grants, oldest first: the active ones, or with `all` every one.
    pub fn list(&self, all: bool) -> Result<Vec<Grant>, LedgerError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT id, provider, vm_id, vm_name, ports, source, requester, justification, \
                 opened, closes, state, closed, rules FROM grants \
                 WHERE ?1 OR state = 'active' ORDER BY opened, id",
            )
            .map_err(|e| self.fail(e))?;
        let rows = statement
            .query_map(params![all], row)
            .map_err(|e| self.fail(e))?;
        let mut grants = Vec::new();
        for read in rows {
            let (grant, state) = read.map_err(|e| self.fail(e))?;
            grants.push(self.with_state(grant, state)?);
        }
        Ok(grants)
    }

    /// Grant `id`, if recorded.
    pub fn get(&self, id: &GrantId) -> Result<Option<Grant>, LedgerError> {
        let found = self
            .conn
            .query_row(
                "SELECT id, provider, vm_id, vm_name, ports, source, requester, justification, \
                 opened, closes, state, closed, rules FROM grants WHERE id = ?1",
                params![id.as_str()],
                row,
            )
            .optional()
            .map_err(|e| self.fail(e))?;
        found
            .map(|(grant, state)| self.with_state(grant, state))
            .transpose()
    }

    fn with_state(&self, mut grant: Grant, state: String) -> Result<Grant, LedgerError> {
        grant.state = state.parse().map_err(|()| LedgerError::BadState {
            path: self.path.clone(),
            grant: grant.id.to_string(),
            state,
        })?;
        Ok(grant)
    }
}

/// A row of `grants`, with its state as text.
fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Grant, String)> {
    let id: String = r.get(0)?;
    let ports: String = r.get(4)?;
    let rules: String = r.get(12)?;
    let grant = Grant {
        id: GrantId::parse(&id).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
        })?,
        provider: r.get(1)?,
        vm_id: r.get(2)?,
        vm_name: r.get(3)?,
        ports: ports.split(',').map(str::to_owned).collect(),
        source: r.get(5)?,
        requester: r.get(6)?,
        justification: r.get(7)?,
        opened: r.get(8)?,
        closes: r.get(9)?,
        state: State::Active,
        closed: r.get(11)?,
        rules: serde_json::from_str(&rules).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(12, rusqlite::types::Type::Text, e.into())
        })?,
    };
    Ok((grant, r.get(10)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(id: &str, opened: &str) -> Grant {
        Grant {
            id: GrantId::parse(id).unwrap(),
            provider: "azure".into(),
            vm_id:
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/web"
                    .into(),
            vm_name: "web".into(),
            ports: vec!["22/tcp".into(), "3389/tcp".into()],
            source: "203.0.113.9/32".into(),
            requester: "alice@contoso.com".into(),
            justification: "INC-42".into(),
            opened: opened.into(),
            closes: "2026-12-03T09:00:00Z".into(),
            state: State::Active,
            closed: None,
            rules: vec![RuleAt {
                nsg: "/subscriptions/s/…/web-nsg".into(),
                rule: format!("portcullis-jit-{id}"),
            }],
        }
    }

    #[test]
    fn grants_are_recorded_listed_and_closed_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join(FILE);
        let ledger = Ledger::open(&path).unwrap();
        let (a, b) = (
            grant("aaaaaaaaaaaa", "2026-12-03T06:00:00Z"),
            grant("bbbbbbbbbbbb", "2026-12-03T07:00:00Z"),
        );
        ledger.opened(&a).unwrap();
        ledger.opened(&b).unwrap();
        assert_eq!(ledger.list(false).unwrap(), [a.clone(), b.clone()]);
        ledger
            .closed(&a.id, State::Revoked, "2026-12-03T07:30:00Z", "bob", "done")
            .unwrap();
        // A second close (a sweep after the revoke) does not rewrite how it ended.
        ledger
            .closed(
                &a.id,
                State::Expired,
                "2026-12-03T09:00:00Z",
                "sweep",
                "expired",
            )
            .unwrap();
        drop(ledger);
        let ledger = Ledger::open(&path).unwrap();
        assert_eq!(ledger.list(false).unwrap(), [b]);
        let ended = ledger.get(&a.id).unwrap().unwrap();
        assert_eq!(
            (ended.state, ended.closed.as_deref()),
            (State::Revoked, Some("2026-12-03T07:30:00Z"))
        );
        assert_eq!(ledger.list(true).unwrap().len(), 2);
        let events: i64 = ledger
            .conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(events, 4);
        let mode: String = ledger
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let error = Ledger::open(&path).err().unwrap();
        assert!(
            matches!(error, LedgerError::Newer { found: 99, .. }),
            "{error}"
        );
    }
}
