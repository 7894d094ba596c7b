//! The embedded store: one SQLite file in WAL mode. A run is written in a `BEGIN IMMEDIATE`
//! transaction, so a second audit waits (up to the busy timeout) for the first to commit.

mod ledger;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, TransactionBehavior, params};

use super::{
    RUN_COLUMNS, RunDetail, RunLists, RunRow, STATUS_COUNTS, StatusCount, Store, StoreError,
    observed, status_count,
};
use crate::audit::record::{self, Life, NewRun, Observation, Subject};

/// Schema migrations in order; version N is the Nth entry.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/sqlite/0001_history.sql"),
    include_str!("migrations/sqlite/0002_fix_times.sql"),
    include_str!("migrations/sqlite/0003_jit_ledger.sql"),
];

pub struct SqliteStore {
    conn: Connection,
    name: String,
    wait: Duration,
}

impl SqliteStore {
    /// Opens or creates the store at `path`, waiting up to `wait` for another writer, and
    /// applies the migrations it lacks.
    pub fn open(path: &Path, wait: Duration) -> Result<Self, StoreError> {
        let name = format!("sqlite:{}", path.display());
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let fail = |source| classify(&name, wait, source);
        let conn = Connection::open(path).map_err(fail)?;
        conn.busy_timeout(wait).map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        let mut store = SqliteStore { conn, name, wait };
        store.migrate()?;
        Ok(store)
    }

    fn error(&self, source: rusqlite::Error) -> StoreError {
        classify(&self.name, self.wait, source)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let known = MIGRATIONS.len() as i64;
        let name = self.name.clone();
        let wait = self.wait;
        let fail = |source| classify(&name, wait, source);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            .map_err(fail)?;
        let current: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                [],
                |r| r.get(0),
            )
            .map_err(fail)?;
        if current > known {
            return Err(StoreError::TooNew {
                store: name.clone(),
                found: current,
                known,
            });
        }
        for (version, sql) in (1..).zip(MIGRATIONS).skip(current as usize) {
            tx.execute_batch(sql).map_err(fail)?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                [version],
            )
            .map_err(fail)?;
        }
        tx.commit().map_err(fail)
    }
}

/// A busy database means another audit held the lock for the whole wait.
fn classify(store: &str, waited: Duration, source: rusqlite::Error) -> StoreError {
    if source.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) {
        return StoreError::Locked {
            store: store.to_owned(),
            holder: "another process is writing it; SQLite does not say which".to_owned(),
            waited,
        };
    }
    StoreError::Sqlite {
        store: store.to_owned(),
        source,
    }
}

fn read_lives(conn: &Connection) -> rusqlite::Result<Vec<Life>> {
    let mut stmt = conn.prepare(
        "SELECT fingerprint, rule, resource, scope, region, first_seen, last_seen, \
         unhealthy_since, fixed_at, reopened, exempt, opened_at FROM findings ORDER BY fingerprint",
    )?;
    stmt.query_map([], |r| {
        Ok(Life {
            subject: Subject {
                fingerprint: r.get(0)?,
                rule: r.get(1)?,
                resource: r.get(2)?,
                scope: r.get(3)?,
                region: r.get(4)?,
            },
            first_seen: r.get(5)?,
            last_seen: r.get(6)?,
            unhealthy_since: r.get(7)?,
            fixed_at: r.get(8)?,
            reopened: r.get(9)?,
            exempt: r.get(10)?,
            opened_at: r.get(11)?,
        })
    })?
    .collect()
}

impl Store for SqliteStore {
    fn record(&mut self, run: &NewRun) -> Result<i64, StoreError> {
        let lists = RunLists::of(run, &self.name)?;
        let result = (|| -> rusqlite::Result<i64> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut lives: BTreeMap<String, Life> = read_lives(&tx)?
                .into_iter()
                .map(|life| (life.subject.fingerprint.clone(), life))
                .collect();
            let observations = record::advance(&mut lives, run);
            tx.execute(
                "INSERT INTO runs (time, sources, scopes_read, scopes_missing, policy_digest, \
                 score, score_detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    run.time,
                    lists.sources,
                    lists.scopes_read,
                    lists.scopes_missing,
                    run.policy_digest,
                    run.score,
                    run.score_detail
                ],
            )?;
            let id = tx.last_insert_rowid();
            {
                let mut insert = tx.prepare(
                    "INSERT OR REPLACE INTO observations (run_id, fingerprint, rule, resource, \
                     scope, region, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for o in &observations {
                    let s = &o.subject;
                    insert.execute(params![
                        id,
                        s.fingerprint,
                        s.rule,
                        s.resource,
                        s.scope,
                        s.region,
                        o.status.as_str()
                    ])?;
                }
                let mut upsert = tx.prepare(
                    "INSERT OR REPLACE INTO findings (fingerprint, rule, resource, scope, region, \
                     first_seen, last_seen, unhealthy_since, fixed_at, reopened, exempt, \
                     opened_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )?;
                for life in lives.values() {
                    let s = &life.subject;
                    upsert.execute(params![
                        s.fingerprint,
                        s.rule,
                        s.resource,
                        s.scope,
                        s.region,
                        life.first_seen,
                        life.last_seen,
                        life.unhealthy_since,
                        life.fixed_at,
                        life.reopened,
                        life.exempt,
                        life.opened_at
                    ])?;
                }
            }
            tx.commit()?;
            Ok(id)
        })();
        result.map_err(|e| self.error(e))
    }

    fn run_details(&mut self) -> Result<Vec<RunDetail>, StoreError> {
        let rows = (|| -> rusqlite::Result<Vec<RunRow>> {
            let mut stmt = self
                .conn
                .prepare(&format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id"))?;
            stmt.query_map([], |r| {
                Ok(RunRow {
                    id: r.get(0)?,
                    time: r.get(1)?,
                    score: r.get(3)?,
                    lists: RunLists {
                        sources: r.get(2)?,
                        scopes_read: r.get(4)?,
                        scopes_missing: r.get(5)?,
                    },
                    policy_digest: r.get(6)?,
                    score_detail: r.get(7)?,
                })
            })?
            .collect()
        })()
        .map_err(|e| self.error(e))?;
        rows.into_iter().map(|row| row.detail(&self.name)).collect()
    }

    fn status_counts(&mut self) -> Result<Vec<StatusCount>, StoreError> {
        let rows = (|| -> rusqlite::Result<Vec<(i64, String, String, i64)>> {
            let mut stmt = self.conn.prepare(STATUS_COUNTS)?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect()
        })()
        .map_err(|e| self.error(e))?;
        rows.into_iter()
            .map(|(run, rule, status, count)| status_count(&self.name, run, rule, &status, count))
            .collect()
    }

    fn observations(&mut self, run: i64) -> Result<Vec<Observation>, StoreError> {
        let rows = (|| -> rusqlite::Result<Vec<(Subject, String)>> {
            let mut stmt = self.conn.prepare(
                "SELECT fingerprint, rule, resource, scope, region, status FROM observations \
                 WHERE run_id = ?1 ORDER BY fingerprint",
            )?;
            stmt.query_map([run], |r| {
                Ok((
                    Subject {
                        fingerprint: r.get(0)?,
                        rule: r.get(1)?,
                        resource: r.get(2)?,
                        scope: r.get(3)?,
                        region: r.get(4)?,
                    },
                    r.get(5)?,
                ))
            })?
            .collect()
        })()
        .map_err(|e| self.error(e))?;
        rows.into_iter()
            .map(|(subject, status)| {
                Ok(Observation {
                    subject,
                    status: observed(&self.name, &status)?,
                })
            })
            .collect()
    }

    fn unhealthy_up_to(&mut self, run: i64) -> Result<BTreeSet<String>, StoreError> {
        (|| -> rusqlite::Result<BTreeSet<String>> {
            let mut stmt = self.conn.prepare(
                "SELECT DISTINCT fingerprint FROM observations \
                 WHERE run_id <= ?1 AND status IN ('unhealthy', 'exempt')",
            )?;
            stmt.query_map([run], |r| r.get(0))?.collect()
        })()
        .map_err(|e| self.error(e))
    }

    fn lives(&mut self) -> Result<Vec<Life>, StoreError> {
        read_lives(&self.conn).map_err(|e| self.error(e))
    }
}

impl SqliteStore {
    /// The schema version the store is at.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::Observed;

    fn run(time: &str, status: Observed) -> NewRun {
        NewRun {
            time: time.to_owned(),
            sources: vec!["estate.json".to_owned()],
            scopes_read: vec!["azure s1".to_owned()],
            scopes_missing: Vec::new(),
            policy_digest: "d".to_owned(),
            score: 50.0,
            score_detail: "{}".to_owned(),
            observations: vec![Observation {
                subject: Subject {
                    fingerprint: "r|vm1".to_owned(),
                    rule: "r".to_owned(),
                    resource: "vm1".to_owned(),
                    scope: "s1".to_owned(),
                    region: None,
                },
                status,
            }],
        }
    }

    #[test]
    fn migrations_run_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/audit.db");
        let mut store = SqliteStore::open(&path, Duration::ZERO).unwrap();
        store.record(&run("t1", Observed::Unhealthy)).unwrap();
        drop(store);
        let mut store = SqliteStore::open(&path, Duration::ZERO).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let rows: i64 = store
            .conn
            .query_row("SELECT COUNT(*) FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, MIGRATIONS.len() as i64);
        assert_eq!(store.runs().unwrap().len(), 1);
        let mode: String = store
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_version_1_store_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL); \
             INSERT INTO schema_version VALUES (1); \
             INSERT INTO findings VALUES ('r|vm1', 'r', 'vm1', 's1', NULL, 't1', 't2', NULL, \
             't2', 0, 0)",
        )
        .unwrap();
        drop(conn);
        let mut store = SqliteStore::open(&path, Duration::ZERO).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let lives = store.lives().unwrap();
        assert_eq!(lives[0].fixed_at.as_deref(), Some("t2"));
        assert_eq!(lives[0].opened_at, None);
        store.record(&run("t3", Observed::Unhealthy)).unwrap();
        store.record(&run("t4", Observed::Healthy)).unwrap();
        assert_eq!(store.lives().unwrap()[0].opened_at.as_deref(), Some("t3"));
    }

    #[test]
    fn a_store_newer_than_this_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let store = SqliteStore::open(&path, Duration::ZERO).unwrap();
        store
            .conn
            .execute("INSERT INTO schema_version (version) VALUES (99)", [])
            .unwrap();
        drop(store);
        let err = SqliteStore::open(&path, Duration::ZERO).err().unwrap();
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    }

    #[test]
    fn a_held_lock_is_reported_after_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let mut holder = SqliteStore::open(&path, Duration::ZERO).unwrap();
        let mut waiter = SqliteStore::open(&path, Duration::from_millis(50)).unwrap();
        let tx = holder
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        let err = waiter.record(&run("t1", Observed::Unhealthy)).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        tx.rollback().unwrap();
        waiter.record(&run("t1", Observed::Unhealthy)).unwrap();
        assert_eq!(waiter.lives().unwrap().len(), 1);
    }
}
