//! The JIT ledger in the embedded store: each write one `BEGIN IMMEDIATE` transaction, so a
//! requester and a sweeper writing at once take turns (up to the busy timeout) and both keep
//! their events.

use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::SqliteStore;
use crate::jit::grant::GrantId;
use crate::jit::ledger::{Closing, Event, Grant, Ledger};
use crate::store::StoreError;
use crate::store::ledger::{EVENT_COLUMNS, EventRow, GRANT_COLUMNS, GrantRow};

fn insert_event(conn: &rusqlite::Connection, event: &Event) -> rusqlite::Result<()> {
    let row = EventRow::of(event);
    conn.execute(
        &format!("INSERT INTO jit_events ({EVENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
        params![row.at, row.grant, row.kind, row.who, row.detail],
    )
    .map(drop)
}

fn grant_row(r: &Row<'_>) -> rusqlite::Result<GrantRow> {
    Ok(GrantRow {
        id: r.get(0)?,
        provider: r.get(1)?,
        vm_id: r.get(2)?,
        vm_name: r.get(3)?,
        ports: r.get(4)?,
        source: r.get(5)?,
        requester: r.get(6)?,
        justification: r.get(7)?,
        opened: r.get(8)?,
        closes: r.get(9)?,
        state: r.get(10)?,
        closed: r.get(11)?,
        rules: r.get(12)?,
    })
}

impl SqliteStore {
    /// Runs `work` in one immediate transaction and commits it.
    fn ledger_write(
        &mut self,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>,
    ) -> Result<(), StoreError> {
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            work(&tx)?;
            tx.commit()
        })();
        result.map_err(|e| self.error(e))
    }
}

impl Ledger for SqliteStore {
    fn record(&mut self, event: &Event) -> Result<(), StoreError> {
        self.ledger_write(|tx| insert_event(tx, event))
    }

    fn opened(&mut self, grant: &Grant) -> Result<(), StoreError> {
        let row = GrantRow::of(grant, &self.name)?;
        self.ledger_write(|tx| {
            tx.execute(
                &format!(
                    "INSERT OR REPLACE INTO jit_grants ({GRANT_COLUMNS}) VALUES \
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                ),
                params![
                    row.id,
                    row.provider,
                    row.vm_id,
                    row.vm_name,
                    row.ports,
                    row.source,
                    row.requester,
                    row.justification,
                    row.opened,
                    row.closes,
                    row.state,
                    row.closed,
                    row.rules
                ],
            )?;
            insert_event(tx, &Event::opened(grant))
        })
    }

    fn closed(&mut self, closing: &Closing) -> Result<(), StoreError> {
        self.ledger_write(|tx| {
            tx.execute(
                "UPDATE jit_grants SET state = ?2, closed = ?3 WHERE id = ?1 AND state = 'active'",
                params![
                    closing.grant.as_str(),
                    closing.state.to_string(),
                    closing.at
                ],
            )?;
            insert_event(tx, &closing.event())
        })
    }

    fn grants(&mut self, all: bool) -> Result<Vec<Grant>, StoreError> {
        let rows = (|| -> rusqlite::Result<Vec<GrantRow>> {
            let mut stmt = self.conn.prepare(&format!(
                "SELECT {GRANT_COLUMNS} FROM jit_grants WHERE ?1 OR state = 'active' \
                 ORDER BY opened, id"
            ))?;
            stmt.query_map(params![all], grant_row)?.collect()
        })()
        .map_err(|e| self.error(e))?;
        rows.into_iter().map(|row| row.grant(&self.name)).collect()
    }

    fn grant(&mut self, id: &GrantId) -> Result<Option<Grant>, StoreError> {
        let row = self
            .conn
            .query_row(
                &format!("SELECT {GRANT_COLUMNS} FROM jit_grants WHERE id = ?1"),
                params![id.as_str()],
                grant_row,
            )
            .optional()
            .map_err(|e| self.error(e))?;
        row.map(|row| row.grant(&self.name)).transpose()
    }

    fn events(&mut self) -> Result<Vec<Event>, StoreError> {
        let rows = (|| -> rusqlite::Result<Vec<EventRow>> {
            let mut stmt = self.conn.prepare(&format!(
                "SELECT {EVENT_COLUMNS} FROM jit_events ORDER BY seq"
            ))?;
            stmt.query_map([], |r| {
                Ok(EventRow {
                    at: r.get(0)?,
                    grant: r.get(1)?,
                    kind: r.get(2)?,
                    who: r.get(3)?,
                    detail: r.get(4)?,
                })
            })?
            .collect()
        })()
        .map_err(|e| self.error(e))?;
        rows.into_iter().map(|row| row.event(&self.name)).collect()
    }
}
