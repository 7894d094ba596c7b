//! The PostgreSQL server scripts/test starts (scripts/lib/postgres.sh), for the tests that run
//! their store cases on both backends: a fresh database per case, and a client session of the
//! test's own.

use std::path::Path;

/// The stores every case runs against: SQLite, and PostgreSQL when the test server is up.
pub fn stores(dir: &Path, case: &str) -> Vec<String> {
    let mut stores = vec![format!("sqlite:{}", dir.join("audit.db").display())];
    stores.extend(postgres_database(case));
    stores
}

/// The server scripts/test starts: `postgres://USER:PASSWORD@127.0.0.1:PORT/DATABASE?QUERY`.
const POSTGRES_URL: &str = "PORTCULLIS_TEST_POSTGRES_URL";

/// A fresh database `portcullis_CASE` on the test server, as a store URL, so that cases run in
/// parallel. Without a server the PostgreSQL half of the case is skipped, saying so, unless
/// PORTCULLIS_REQUIRE_POSTGRES=1 (as scripts/test sets), when the case fails.
pub fn postgres_database(case: &str) -> Option<String> {
    let base = postgres_env(POSTGRES_URL, case)?;
    let database = format!("portcullis_{case}");
    let server = Session::connect(&base, "portcullis tests");
    server.run(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"));
    server.run(&format!("CREATE DATABASE {database}"));
    let (server, tail) = base
        .rsplit_once('/')
        .expect("the test server's URL ends in /DATABASE");
    let query = tail.find('?').map_or("", |at| &tail[at..]);
    Some(format!("{server}/{database}{query}"))
}

/// The test server's variable `name`; `None`, saying so, when unset (see [`postgres_database`]).
pub fn postgres_env(name: &str, case: &str) -> Option<String> {
    let value = std::env::var(name).ok().filter(|v| !v.is_empty());
    if value.is_none() {
        assert_ne!(
            std::env::var("PORTCULLIS_REQUIRE_POSTGRES").as_deref(),
            Ok("1"),
            "PORTCULLIS_REQUIRE_POSTGRES=1 but {name} is unset: run scripts/test, which starts PostgreSQL"
        );
        println!("skipping the PostgreSQL store of {case}: {name} is unset (scripts/test sets it)");
    }
    value
}

/// A client session of the test's own, beside the store's.
pub struct Session {
    client: tokio_postgres::Client,
    runtime: tokio::runtime::Runtime,
}

impl Session {
    pub fn connect(url: &str, application: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut config: tokio_postgres::Config = url.parse().unwrap();
        config.application_name(application);
        let (client, connection) = runtime
            .block_on(config.connect(tokio_postgres::NoTls))
            .unwrap();
        runtime.spawn(connection);
        Session { client, runtime }
    }

    pub fn run(&self, sql: &str) {
        self.runtime
            .block_on(self.client.batch_execute(sql))
            .unwrap();
    }

    pub fn count(&self, sql: &str) -> i64 {
        let row = self.runtime.block_on(self.client.query_one(sql, &[]));
        row.unwrap().get(0)
    }
}
