//! The JIT ledger: every request (granted or refused), grant and close, with who, what, when and
//! why. It is one side of the store that the audit history uses ([`crate::store`]): the
//! [`Ledger`] trait, implemented by the embedded SQLite store (by default `audit.db` in the state
//! directory) and by the PostgreSQL store, so that a team's requesters and sweepers share one
//! record. Each write is one transaction, so a sweeper and a requester writing at once both
//! keep their events.
//!
//! The ledger is a record, not the source of truth: a grant's expiry lives in the cloud rule
//! ([`super::grant`]), so a lost or unreachable ledger loses history, never a close.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::grant::GrantId;
use crate::store::StoreError;

/// What the ledger records, written and read through the store.
pub trait Ledger {
    /// Records `event` alone: a request, a refusal.
    fn record(&mut self, event: &Event) -> Result<(), StoreError>;
    /// Records an opened grant (its rules written) and its `opened` event, in one transaction.
    fn opened(&mut self, grant: &Grant) -> Result<(), StoreError>;
    /// Marks the grant ended as the closing says, unless it had ended already (a sweep after a
    /// revoke does not rewrite how it ended), and records the close, in one transaction. A grant
    /// the ledger does not know (opened elsewhere, or before the ledger was lost) gets the event
    /// only.
    fn closed(&mut self, closing: &Closing) -> Result<(), StoreError>;
    /// The grants, oldest first: the active ones, or with `all` every one.
    fn grants(&mut self, all: bool) -> Result<Vec<Grant>, StoreError>;
    /// Grant `id`, if recorded.
    fn grant(&mut self, id: &GrantId) -> Result<Option<Grant>, StoreError>;
    /// Every event, in the order they were recorded.
    fn events(&mut self) -> Result<Vec<Event>, StoreError>;
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
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "active" => Ok(State::Active),
            "expired" => Ok(State::Expired),
            "revoked" => Ok(State::Revoked),
            "replaced" => Ok(State::Replaced),
            _ => Err(format!("grant state {text:?}, which no portcullis writes")),
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

/// What happened to a grant, or to a request for one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Requested,
    Refused,
    Opened,
    /// It ended, as this state.
    Closed(State),
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::Requested => f.write_str("requested"),
            EventKind::Refused => f.write_str("refused"),
            EventKind::Opened => f.write_str("opened"),
            EventKind::Closed(state) => write!(f, "closed: {state}"),
        }
    }
}

impl FromStr for EventKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "requested" => Ok(EventKind::Requested),
            "refused" => Ok(EventKind::Refused),
            "opened" => Ok(EventKind::Opened),
            _ => match text.strip_prefix("closed: ") {
                Some(state) => state.parse().map(EventKind::Closed),
                None => Err(format!("event {text:?}, which no portcullis writes")),
            },
        }
    }
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One line of the ledger's record (and of `jit log --format json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    /// RFC 3339.
    pub at: String,
    pub grant: Option<GrantId>,
    #[serde(rename = "event")]
    pub kind: EventKind,
    pub who: String,
    pub detail: String,
}

impl Event {
    /// The `opened` event of `grant`: what it opens, to whom, until when and why.
    pub fn opened(grant: &Grant) -> Self {
        Event {
            at: grant.opened.clone(),
            grant: Some(grant.id.clone()),
            kind: EventKind::Opened,
            who: grant.requester.clone(),
            detail: format!(
                "{} from {} to {} until {}: {}",
                grant.ports.join(", "),
                grant.source,
                grant.vm_id,
                grant.closes,
                grant.justification
            ),
        }
    }
}

/// A grant ending: how, when, by whom and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closing {
    pub grant: GrantId,
    pub state: State,
    pub at: String,
    pub who: String,
    pub detail: String,
}

impl Closing {
    /// The close as an event.
    pub fn event(&self) -> Event {
        Event {
            at: self.at.clone(),
            grant: Some(self.grant.clone()),
            kind: EventKind::Closed(self.state),
            who: self.who.clone(),
            detail: self.detail.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kinds_read_back_as_written() {
        let kinds = [
            EventKind::Requested,
            EventKind::Refused,
            EventKind::Opened,
            EventKind::Closed(State::Expired),
            EventKind::Closed(State::Revoked),
            EventKind::Closed(State::Replaced),
        ];
        for kind in kinds {
            assert_eq!(kind.to_string().parse(), Ok(kind), "{kind}");
        }
        for bad in ["closed", "closed: lost", "deleted", ""] {
            assert!(bad.parse::<EventKind>().is_err(), "{bad}");
        }
    }
}
