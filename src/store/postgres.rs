//! The team store: one PostgreSQL database, its tables in the connection's first `search_path`
//! schema. A run is written in one transaction that first takes a transaction-level advisory
//! lock ([`WRITER_LOCK_KEY`]), so a second audit waits (up to `lock_timeout`) for the first to
//! commit, and is told which session holds the lock when the wait runs out.
//!
//! The `postgres://` URL is libpq's, as tokio-postgres parses it. `sslmode` may be `disable`,
//! `prefer` (the default) or `require`; whenever TLS is used, the server's certificate and host
//! name are checked against the system's trusted roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` name
//! others), as libpq's `verify-full` does. Connecting (TCP, TLS and authentication together)
//! gives up after the URL's `connect_timeout`, else [`CONNECT_TIMEOUT`].

mod ledger;

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, NoTls, Row, Socket, Transaction};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{
    RUN_COLUMNS, RunDetail, RunLists, RunRow, STATUS_COUNTS, StatusCount, Store, StoreError,
    corrupt, observed, status_count,
};
use crate::audit::record::{self, Life, NewRun, Observation, Subject};

/// Schema migrations in order; version N is the Nth entry.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/postgres/0001_history.sql"),
    include_str!("migrations/postgres/0002_fix_times.sql"),
    include_str!("migrations/postgres/0003_jit_ledger.sql"),
];

/// How long connecting may take when the URL sets no `connect_timeout`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The advisory lock every portcullis writer of a database takes: "portcull" in ASCII.
pub const WRITER_LOCK_KEY: i64 = 0x706f_7274_6375_6c6c;

const LIVES: &str = "SELECT fingerprint, rule, resource, scope, region, first_seen, last_seen, \
     unhealthy_since, fixed_at, reopened, exempt, opened_at FROM findings ORDER BY fingerprint";

pub struct PostgresStore {
    client: Client,
    /// Drives the connection's task whenever the store waits for an answer.
    runtime: Runtime,
    /// The URL with its password replaced by `***`.
    name: String,
    wait: Duration,
}

impl PostgresStore {
    /// Connects to the database at `url`, waiting up to `wait` for another writer, and applies
    /// the migrations it lacks.
    pub fn open(url: &str, wait: Duration) -> Result<Self, StoreError> {
        let name = redact(url);
        let mut config: Config = url.parse().map_err(|source| {
            hinted(
                &name,
                source,
                "; the URL is libpq's, with sslmode disable, prefer or require (docs/audits.md)",
            )
        })?;
        let timeout = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(CONNECT_TIMEOUT);
        config.connect_timeout(timeout);
        if config.get_application_name().is_none() {
            config.application_name(format!("portcullis (pid {})", std::process::id()));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| StoreError::Client {
                store: name.clone(),
                source,
            })?;
        let connected = match config.get_ssl_mode() {
            SslMode::Disable => runtime.block_on(connect(&config, NoTls, timeout)),
            _ => {
                let tls = tls(&name)?;
                runtime.block_on(connect(&config, tls, timeout))
            }
        };
        let client = match connected {
            Some(Ok(client)) => client,
            Some(Err(source)) => {
                return Err(hinted(
                    &name,
                    source,
                    "; check the URL's host, port, user and password, and for TLS its sslmode \
                     and the trusted roots (SSL_CERT_FILE)",
                ));
            }
            None => {
                return Err(StoreError::ConnectTimeout {
                    store: name,
                    waited: timeout,
                });
            }
        };
        let mut store = PostgresStore {
            client,
            runtime,
            name,
            wait,
        };
        store.migrate()?;
        Ok(store)
    }

    /// The schema version the store is at.
    pub fn schema_version(&mut self) -> Result<i64, StoreError> {
        let row = self.runtime.block_on(
            self.client
                .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[]),
        );
        let version: i32 = row
            .and_then(|row| row.try_get(0))
            .map_err(|e| postgres_error(&self.name, e))?;
        Ok(i64::from(version))
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let known = MIGRATIONS.len() as i64;
        let current = self.write(async |tx, name| {
            let pg = |e| postgres_error(name, e);
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
            )
            .await
            .map_err(pg)?;
            let row = tx
                .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
                .await
                .map_err(pg)?;
            let current = i64::from(row.try_get::<_, i32>(0).map_err(pg)?);
            for (version, sql) in (1..).zip(MIGRATIONS).skip(current.max(0) as usize) {
                tx.batch_execute(sql).await.map_err(pg)?;
                tx.execute(
                    "INSERT INTO schema_version (version) VALUES ($1)",
                    &[&version],
                )
                .await
                .map_err(pg)?;
            }
            Ok(current)
        })?;
        if current > known {
            return Err(StoreError::TooNew {
                store: self.name.clone(),
                found: current,
                known,
            });
        }
        Ok(())
    }

    /// Runs `work` in one transaction holding the writer lock, and commits it.
    fn write<T>(
        &mut self,
        work: impl AsyncFnOnce(&Transaction<'_>, &str) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let PostgresStore {
            client,
            runtime,
            name,
            wait,
        } = self;
        // A lock_timeout of 0 would wait for ever.
        let lock_timeout = format!("{}ms", wait.as_millis().max(1));
        runtime.block_on(async {
            let pg = |e| postgres_error(name, e);
            let tx = client.transaction().await.map_err(pg)?;
            tx.execute(
                "SELECT set_config('lock_timeout', $1, true)",
                &[&lock_timeout],
            )
            .await
            .map_err(pg)?;
            if let Err(e) = tx
                .execute("SELECT pg_advisory_xact_lock($1)", &[&WRITER_LOCK_KEY])
                .await
            {
                if e.code() != Some(&SqlState::LOCK_NOT_AVAILABLE) {
                    return Err(pg(e));
                }
                drop(tx);
                return Err(StoreError::Locked {
                    store: name.clone(),
                    holder: holder(client).await,
                    waited: *wait,
                });
            }
            let value = work(&tx, name).await?;
            tx.commit().await.map_err(pg)?;
            Ok(value)
        })
    }

    fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        self.runtime
            .block_on(self.client.query(sql, params))
            .map_err(|e| postgres_error(&self.name, e))
    }
}

/// Connects with `tls`, starting the connection's task; `None` when `timeout` ran out first.
async fn connect<T>(
    config: &Config,
    tls: T,
    timeout: Duration,
) -> Option<Result<Client, tokio_postgres::Error>>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as tokio_postgres::tls::TlsConnect<Socket>>::Future: Send,
{
    let connected = tokio::time::timeout(timeout, config.connect(tls))
        .await
        .ok()?;
    Some(connected.map(|(client, connection)| {
        // A connection that breaks fails the client's next call, which reports it.
        tokio::spawn(connection);
        client
    }))
}

/// A TLS connector trusting the system's roots.
fn tls(name: &str) -> Result<MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|source| StoreError::Tls {
        store: name.to_owned(),
        source,
    })?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// Who holds the writer lock, as far as `pg_stat_activity` shows it to this role.
async fn holder(client: &Client) -> String {
    let row = client
        .query_opt(
            "SELECT a.pid, a.application_name, a.usename::text, host(a.client_addr), \
             a.xact_start::text FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND ((l.classid::bigint << 32) | l.objid::bigint) = $1",
            &[&WRITER_LOCK_KEY],
        )
        .await;
    let row = match row {
        Ok(Some(row)) => row,
        Ok(None) => return "a session that has let go of it since".to_owned(),
        Err(e) => return format!("a session portcullis could not name: {}", chain(&e)),
    };
    let text = |i: usize| row.try_get::<_, Option<String>>(i).ok().flatten();
    let mut holder = match row.try_get::<_, i32>(0) {
        Ok(pid) => format!("server process {pid}"),
        Err(_) => "a server process".to_owned(),
    };
    if let Some(application) = text(1).filter(|a| !a.is_empty()) {
        holder.push_str(&format!(", application `{application}`"));
    }
    if let Some(user) = text(2) {
        holder.push_str(&format!(", user {user}"));
    }
    if let Some(address) = text(3) {
        holder.push_str(&format!(" from {address}"));
    }
    if let Some(since) = text(4) {
        holder.push_str(&format!(", in a transaction since {since}"));
    }
    holder
}

fn postgres_error(store: &str, source: tokio_postgres::Error) -> StoreError {
    hinted(store, source, "")
}

/// [`postgres_error`] with `hint`, what to do, after the error's own text.
fn hinted(store: &str, source: tokio_postgres::Error, hint: &str) -> StoreError {
    StoreError::Postgres {
        store: store.to_owned(),
        detail: format!("{}{hint}", chain(&source)),
        source,
    }
}

/// The error and its causes, the server's message with its SQLSTATE when it sent one.
fn chain(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            text.push_str(&format!(": {detail}"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; {hint}"));
        }
        return text;
    }
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(&format!(": {e}"));
        cause = e.source();
    }
    text
}

/// `url` with the password, in the user part or a `password=` parameter, replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user, hosts)) => match user.split_once(':') {
            Some((user, _)) => format!("{user}:***@{hosts}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let query = query.map(|query| {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some(("password", _)) => "password=***".to_owned(),
                _ => param.to_owned(),
            })
            .collect();
        format!("?{}", params.join("&"))
    });
    format!("{scheme}://{authority}{path}{}", query.unwrap_or_default())
}

fn life(row: &Row, store: &str) -> Result<Life, StoreError> {
    let pg = |e| postgres_error(store, e);
    let reopened: i64 = row.try_get(9).map_err(pg)?;
    Ok(Life {
        subject: Subject {
            fingerprint: row.try_get(0).map_err(pg)?,
            rule: row.try_get(1).map_err(pg)?,
            resource: row.try_get(2).map_err(pg)?,
            scope: row.try_get(3).map_err(pg)?,
            region: row.try_get(4).map_err(pg)?,
        },
        first_seen: row.try_get(5).map_err(pg)?,
        last_seen: row.try_get(6).map_err(pg)?,
        unhealthy_since: row.try_get(7).map_err(pg)?,
        fixed_at: row.try_get(8).map_err(pg)?,
        reopened: u32::try_from(reopened)
            .map_err(|_| corrupt(store, format!("column reopened: {reopened} is not a count")))?,
        exempt: row.try_get(10).map_err(pg)?,
        opened_at: row.try_get(11).map_err(pg)?,
    })
}

impl Store for PostgresStore {
    fn record(&mut self, run: &NewRun) -> Result<i64, StoreError> {
        let lists = RunLists::of(run, &self.name)?;
        self.write(async |tx, name| {
            let pg = |e| postgres_error(name, e);
            let mut lives = BTreeMap::new();
            for row in tx.query(LIVES, &[]).await.map_err(pg)? {
                let life = life(&row, name)?;
                lives.insert(life.subject.fingerprint.clone(), life);
            }
            let observations = record::advance(&mut lives, run);
            let row = tx
                .query_one(
                    "INSERT INTO runs (time, sources, scopes_read, scopes_missing, policy_digest, \
                     score, score_detail) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    &[
                        &run.time,
                        &lists.sources,
                        &lists.scopes_read,
                        &lists.scopes_missing,
                        &run.policy_digest,
                        &run.score,
                        &run.score_detail,
                    ],
                )
                .await
                .map_err(pg)?;
            let id: i64 = row.try_get(0).map_err(pg)?;

            // As SQLite's INSERT OR REPLACE, the last observation of a fingerprint wins.
            let unique: BTreeMap<&str, &Observation> = observations
                .iter()
                .map(|o| (o.subject.fingerprint.as_str(), o))
                .collect();
            let column = |f: fn(&Observation) -> &str| unique.values().map(|o| f(o)).collect();
            let fingerprints: Vec<&str> = column(|o| &o.subject.fingerprint);
            let rules: Vec<&str> = column(|o| &o.subject.rule);
            let resources: Vec<&str> = column(|o| &o.subject.resource);
            let scopes: Vec<&str> = column(|o| &o.subject.scope);
            let statuses: Vec<&str> = column(|o| o.status.as_str());
            let regions: Vec<Option<&str>> = unique
                .values()
                .map(|o| o.subject.region.as_deref())
                .collect();
            tx.execute(
                "INSERT INTO observations (run_id, fingerprint, rule, resource, scope, region, \
                 status) SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], \
                 $5::text[], $6::text[], $7::text[])",
                &[
                    &id,
                    &fingerprints,
                    &rules,
                    &resources,
                    &scopes,
                    &regions,
                    &statuses,
                ],
            )
            .await
            .map_err(pg)?;

            let subject = |f: fn(&Subject) -> &str| lives.values().map(|l| f(&l.subject)).collect();
            let fingerprints: Vec<&str> = subject(|s| &s.fingerprint);
            let rules: Vec<&str> = subject(|s| &s.rule);
            let resources: Vec<&str> = subject(|s| &s.resource);
            let scopes: Vec<&str> = subject(|s| &s.scope);
            let regions: Vec<Option<&str>> = lives
                .values()
                .map(|l| l.subject.region.as_deref())
                .collect();
            let first_seen: Vec<&str> = lives.values().map(|l| l.first_seen.as_str()).collect();
            let last_seen: Vec<&str> = lives.values().map(|l| l.last_seen.as_str()).collect();
            let unhealthy_since: Vec<Option<&str>> = lives
                .values()
                .map(|l| l.unhealthy_since.as_deref())
                .collect();
            let fixed_at: Vec<Option<&str>> =
                lives.values().map(|l| l.fixed_at.as_deref()).collect();
            let reopened: Vec<i64> = lives.values().map(|l| i64::from(l.reopened)).collect();
            let exempt: Vec<bool> = lives.values().map(|l| l.exempt).collect();
            let opened_at: Vec<Option<&str>> =
                lives.values().map(|l| l.opened_at.as_deref()).collect();
            tx.execute(
                "INSERT INTO findings (fingerprint, rule, resource, scope, region, first_seen, \
                 last_seen, unhealthy_since, fixed_at, reopened, exempt, opened_at) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], \
                 $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[], \
                 $11::boolean[], $12::text[]) \
                 ON CONFLICT (fingerprint) DO UPDATE SET rule = EXCLUDED.rule, \
                 resource = EXCLUDED.resource, scope = EXCLUDED.scope, region = EXCLUDED.region, \
                 first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen, \
                 unhealthy_since = EXCLUDED.unhealthy_since, fixed_at = EXCLUDED.fixed_at, \
                 reopened = EXCLUDED.reopened, exempt = EXCLUDED.exempt, \
                 opened_at = EXCLUDED.opened_at",
                &[
                    &fingerprints,
                    &rules,
                    &resources,
                    &scopes,
                    &regions,
                    &first_seen,
                    &last_seen,
                    &unhealthy_since,
                    &fixed_at,
                    &reopened,
                    &exempt,
                    &opened_at,
                ],
            )
            .await
            .map_err(pg)?;
            Ok(id)
        })
    }

    fn run_details(&mut self) -> Result<Vec<RunDetail>, StoreError> {
        let pg = |e| postgres_error(&self.name, e);
        self.query(&format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id"), &[])?
            .iter()
            .map(|r| {
                RunRow {
                    id: r.try_get(0).map_err(pg)?,
                    time: r.try_get(1).map_err(pg)?,
                    score: r.try_get(3).map_err(pg)?,
                    lists: RunLists {
                        sources: r.try_get(2).map_err(pg)?,
                        scopes_read: r.try_get(4).map_err(pg)?,
                        scopes_missing: r.try_get(5).map_err(pg)?,
                    },
                    policy_digest: r.try_get(6).map_err(pg)?,
                    score_detail: r.try_get(7).map_err(pg)?,
                }
                .detail(&self.name)
            })
            .collect()
    }

    fn status_counts(&mut self) -> Result<Vec<StatusCount>, StoreError> {
        let pg = |e| postgres_error(&self.name, e);
        self.query(STATUS_COUNTS, &[])?
            .iter()
            .map(|r| {
                let status: &str = r.try_get(2).map_err(pg)?;
                status_count(
                    &self.name,
                    r.try_get(0).map_err(pg)?,
                    r.try_get(1).map_err(pg)?,
                    status,
                    r.try_get(3).map_err(pg)?,
                )
            })
            .collect()
    }

    fn observations(&mut self, run: i64) -> Result<Vec<Observation>, StoreError> {
        let pg = |e| postgres_error(&self.name, e);
        self.query(
            "SELECT fingerprint, rule, resource, scope, region, status FROM observations \
             WHERE run_id = $1 ORDER BY fingerprint",
            &[&run],
        )?
        .iter()
        .map(|r| {
            Ok(Observation {
                subject: Subject {
                    fingerprint: r.try_get(0).map_err(pg)?,
                    rule: r.try_get(1).map_err(pg)?,
                    resource: r.try_get(2).map_err(pg)?,
                    scope: r.try_get(3).map_err(pg)?,
                    region: r.try_get(4).map_err(pg)?,
                },
                status: observed(&self.name, r.try_get(5).map_err(pg)?)?,
            })
        })
        .collect()
    }

    fn unhealthy_up_to(&mut self, run: i64) -> Result<BTreeSet<String>, StoreError> {
        let pg = |e| postgres_error(&self.name, e);
        self.query(
            "SELECT DISTINCT fingerprint FROM observations \
             WHERE run_id <= $1 AND status IN ('unhealthy', 'exempt')",
            &[&run],
        )?
        .iter()
        .map(|r| r.try_get(0).map_err(pg))
        .collect()
    }

    fn lives(&mut self) -> Result<Vec<Life>, StoreError> {
        self.query(LIVES, &[])?
            .iter()
            .map(|row| life(row, &self.name))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_redacted() {
        let cases = [
            (
                "postgres://audit:s3cret@db.example:5432/portcullis",
                "postgres://audit:***@db.example:5432/portcullis",
            ),
            (
                "postgresql://audit@db.example/portcullis?sslmode=require&password=s3cret",
                "postgresql://audit@db.example/portcullis?sslmode=require&password=***",
            ),
            (
                "postgres://a:p@ss:w@rd@h1,h2:5433",
                "postgres://a:***@h1,h2:5433",
            ),
            ("postgres://h/db", "postgres://h/db"),
        ];
        for (url, want) in cases {
            assert_eq!(redact(url), want, "{url}");
        }
    }
}
