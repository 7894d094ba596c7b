//! The JIT ledger in the team store: each write one transaction. Ledger writes take no advisory
//! lock (an audit recording a large run does not hold up a grant): their rows never overlap,
//! `jit_events` numbers its rows from a sequence, and a close changes a grant only while it is
//! still active, so a requester and a sweeper writing at once both keep their events.

use tokio_postgres::{Row, Transaction};

use super::{PostgresStore, postgres_error};
use crate::jit::grant::GrantId;
use crate::jit::ledger::{Closing, Event, Grant, Ledger};
use crate::store::StoreError;
use crate::store::ledger::{EVENT_COLUMNS, EventRow, GRANT_COLUMNS, GrantRow};

async fn insert_event(tx: &Transaction<'_>, store: &str, event: &Event) -> Result<(), StoreError> {
    let row = EventRow::of(event);
    tx.execute(
        &format!("INSERT INTO jit_events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"),
        &[&row.at, &row.grant, &row.kind, &row.who, &row.detail],
    )
    .await
    .map(drop)
    .map_err(|e| postgres_error(store, e))
}

fn grant_row(r: &Row, store: &str) -> Result<GrantRow, StoreError> {
    let pg = |e| postgres_error(store, e);
    Ok(GrantRow {
        id: r.try_get(0).map_err(pg)?,
        provider: r.try_get(1).map_err(pg)?,
        vm_id: r.try_get(2).map_err(pg)?,
        vm_name: r.try_get(3).map_err(pg)?,
        ports: r.try_get(4).map_err(pg)?,
        source: r.try_get(5).map_err(pg)?,
        requester: r.try_get(6).map_err(pg)?,
        justification: r.try_get(7).map_err(pg)?,
        opened: r.try_get(8).map_err(pg)?,
        closes: r.try_get(9).map_err(pg)?,
        state: r.try_get(10).map_err(pg)?,
        closed: r.try_get(11).map_err(pg)?,
        rules: r.try_get(12).map_err(pg)?,
    })
}

impl PostgresStore {
    /// Runs `work` in one transaction (no advisory lock) and commits it.
    fn ledger_write(
        &mut self,
        work: impl AsyncFnOnce(&Transaction<'_>, &str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let PostgresStore {
            client,
            runtime,
            name,
            ..
        } = self;
        runtime.block_on(async {
            let tx = client
                .transaction()
                .await
                .map_err(|e| postgres_error(name, e))?;
            work(&tx, name).await?;
            tx.commit().await.map_err(|e| postgres_error(name, e))
        })
    }
}

impl Ledger for PostgresStore {
    fn record(&mut self, event: &Event) -> Result<(), StoreError> {
        self.ledger_write(async |tx, name| insert_event(tx, name, event).await)
    }

    fn opened(&mut self, grant: &Grant) -> Result<(), StoreError> {
        let row = GrantRow::of(grant, &self.name)?;
        self.ledger_write(async |tx, name| {
            tx.execute(
                &format!(
                    "INSERT INTO jit_grants ({GRANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, \
                     $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO UPDATE SET \
                     provider = EXCLUDED.provider, vm_id = EXCLUDED.vm_id, \
                     vm_name = EXCLUDED.vm_name, ports = EXCLUDED.ports, \
                     source = EXCLUDED.source, requester = EXCLUDED.requester, \
                     justification = EXCLUDED.justification, opened = EXCLUDED.opened, \
                     closes = EXCLUDED.closes, state = EXCLUDED.state, \
                     closed = EXCLUDED.closed, rules = EXCLUDED.rules"
                ),
                &[
                    &row.id,
                    &row.provider,
                    &row.vm_id,
                    &row.vm_name,
                    &row.ports,
                    &row.source,
                    &row.requester,
                    &row.justification,
                    &row.opened,
                    &row.closes,
                    &row.state,
                    &row.closed,
                    &row.rules,
                ],
            )
            .await
            .map_err(|e| postgres_error(name, e))?;
            insert_event(tx, name, &Event::opened(grant)).await
        })
    }

    fn closed(&mut self, closing: &Closing) -> Result<(), StoreError> {
        let state = closing.state.to_string();
        self.ledger_write(async |tx, name| {
            tx.execute(
                "UPDATE jit_grants SET state = $2, closed = $3 WHERE id = $1 AND state = 'active'",
                &[&closing.grant.as_str(), &state, &closing.at],
            )
            .await
            .map_err(|e| postgres_error(name, e))?;
            insert_event(tx, name, &closing.event()).await
        })
    }

    fn grants(&mut self, all: bool) -> Result<Vec<Grant>, StoreError> {
        self.query(
            &format!(
                "SELECT {GRANT_COLUMNS} FROM jit_grants WHERE $1 OR state = 'active' \
                 ORDER BY opened, id"
            ),
            &[&all],
        )?
        .iter()
        .map(|r| grant_row(r, &self.name)?.grant(&self.name))
        .collect()
    }

    fn grant(&mut self, id: &GrantId) -> Result<Option<Grant>, StoreError> {
        self.query(
            &format!("SELECT {GRANT_COLUMNS} FROM jit_grants WHERE id = $1"),
            &[&id.as_str()],
        )?
        .first()
        .map(|r| grant_row(r, &self.name)?.grant(&self.name))
        .transpose()
    }

    fn events(&mut self) -> Result<Vec<Event>, StoreError> {
        let pg = |e| postgres_error(&self.name, e);
        self.query(
            &format!("SELECT {EVENT_COLUMNS} FROM jit_events ORDER BY seq"),
            &[],
        )?
        .iter()
        .map(|r| {
            EventRow {
                at: r.try_get(0).map_err(pg)?,
                grant: r.try_get(1).map_err(pg)?,
                kind: r.try_get(2).map_err(pg)?,
                who: r.try_get(3).map_err(pg)?,
                detail: r.try_get(4).map_err(pg)?,
            }
            .event(&self.name)
        })
        .collect()
    }
}
