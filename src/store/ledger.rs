//! The JIT ledger's rows as both backends keep them ([`crate::jit::ledger::Ledger`]): a grant's
//! ports as `22/tcp,3389/tcp`, its rules as JSON, its state and each event's kind as their text.

use super::{StoreError, corrupt, json, text};
use crate::jit::grant::GrantId;
use crate::jit::ledger::{Event, Grant};

/// The columns of `jit_grants` in the order both backends write and select them.
pub(super) const GRANT_COLUMNS: &str = "id, provider, vm_id, vm_name, ports, source, requester, \
     justification, opened, closes, state, closed, rules";

/// The columns of `jit_events` in the order both backends write and select them.
pub(super) const EVENT_COLUMNS: &str = "at, grant_id, event, who, detail";

/// A `jit_grants` row.
pub(super) struct GrantRow {
    pub id: String,
    pub provider: String,
    pub vm_id: String,
    pub vm_name: String,
    pub ports: String,
    pub source: String,
    pub requester: String,
    pub justification: String,
    pub opened: String,
    pub closes: String,
    pub state: String,
    pub closed: Option<String>,
    pub rules: String,
}

impl GrantRow {
    pub fn of(grant: &Grant, store: &str) -> Result<Self, StoreError> {
        Ok(GrantRow {
            id: grant.id.to_string(),
            provider: grant.provider.clone(),
            vm_id: grant.vm_id.clone(),
            vm_name: grant.vm_name.clone(),
            ports: grant.ports.join(","),
            source: grant.source.clone(),
            requester: grant.requester.clone(),
            justification: grant.justification.clone(),
            opened: grant.opened.clone(),
            closes: grant.closes.clone(),
            state: grant.state.to_string(),
            closed: grant.closed.clone(),
            rules: text(store, "grant rules", &grant.rules)?,
        })
    }

    pub fn grant(self, store: &str) -> Result<Grant, StoreError> {
        let state = self
            .state
            .parse()
            .map_err(|e| corrupt(store, format!("JIT grant {}: {e}", self.id)))?;
        let rules = json(store, "jit_grants.rules", &self.rules)?;
        Ok(Grant {
            id: grant_id(store, &self.id)?,
            provider: self.provider,
            vm_id: self.vm_id,
            vm_name: self.vm_name,
            ports: self.ports.split(',').map(str::to_owned).collect(),
            source: self.source,
            requester: self.requester,
            justification: self.justification,
            opened: self.opened,
            closes: self.closes,
            state,
            closed: self.closed,
            rules,
        })
    }
}

/// A `jit_events` row.
pub(super) struct EventRow {
    pub at: String,
    pub grant: Option<String>,
    pub kind: String,
    pub who: String,
    pub detail: String,
}

impl EventRow {
    pub fn of(event: &Event) -> Self {
        EventRow {
            at: event.at.clone(),
            grant: event.grant.as_ref().map(ToString::to_string),
            kind: event.kind.to_string(),
            who: event.who.clone(),
            detail: event.detail.clone(),
        }
    }

    pub fn event(self, store: &str) -> Result<Event, StoreError> {
        Ok(Event {
            grant: self
                .grant
                .as_deref()
                .map(|id| grant_id(store, id))
                .transpose()?,
            kind: self
                .kind
                .parse()
                .map_err(|e| corrupt(store, format!("JIT event at {}: {e}", self.at)))?,
            at: self.at,
            who: self.who,
            detail: self.detail,
        })
    }
}

fn grant_id(store: &str, text: &str) -> Result<GrantId, StoreError> {
    GrantId::parse(text).map_err(|e| corrupt(store, format!("JIT grant id: {e}")))
}
