//! Talking to the clouds. Live collectors read an estate straight from a cloud's API into a
//! [`Snapshot`].
//!
//! Each provider's collector lives in its own submodule and is the only code that touches that
//! cloud's SDK. A collector never presents a partial estate as complete: every region or
//! subscription it tried is listed in the [`CollectionReport`], with the error when it failed,
//! and the CLI exits with [`EXIT_INCOMPLETE`] when any failed.

pub mod aws;
pub mod azure;

use serde::Serialize;

use std::collections::BTreeSet;

use crate::model::{MissingScope, Provider, ReadScope, Snapshot, scope_label};

/// Exit status of a scan or snapshot whose collection missed some regions, accounts or
/// subscriptions.
pub const EXIT_INCOMPLETE: u8 = 3;

/// What a collector read, and how the reading went.
#[derive(Debug)]
pub struct Collected {
    pub snapshot: Snapshot,
    pub report: CollectionReport,
}

/// How one collection went, as the outputs show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CollectionReport {
    pub provider: Provider,
    /// False when any scope failed: the findings then cover only part of the estate.
    pub complete: bool,
    /// Every region (AWS) or subscription (Azure) tried, in a stable order; in an organisation
    /// scan, also each account that could not be read at all.
    pub scopes: Vec<ScopeStatus>,
    pub api_calls: u64,
    pub resources: usize,
    pub seconds: f64,
}

/// One region, account or subscription.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScopeStatus {
    /// Region name, account id or subscription id.
    pub name: String,
    /// `region`, `account` or `subscription`.
    pub kind: &'static str,
    /// The account of a region (and of itself, for an account), in an organisation scan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Why it could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub api_calls: u64,
    pub resources: usize,
}

/// The kind of an organisation's member account that could not be read at all.
pub const ACCOUNT: &str = "account";

impl ScopeStatus {
    /// `region eu-west-1 of account 111122223333`, as error lines name it.
    pub fn label(&self) -> String {
        scope_label(self.kind, &self.name, self.account.as_deref())
    }
}

impl CollectionReport {
    /// The scopes that failed.
    pub fn failures(&self) -> impl Iterator<Item = &ScopeStatus> {
        self.scopes.iter().filter(|s| s.error.is_some())
    }

    /// The failed scopes as the snapshot records them, so that a snapshot file written from a
    /// partial collection says so when it is scanned later.
    pub fn missing_scopes(&self) -> Vec<MissingScope> {
        self.failures()
            .map(|scope| MissingScope {
                provider: self.provider,
                kind: scope.kind.to_string(),
                name: scope.name.clone(),
                account: scope.account.clone(),
                error: scope.error.clone().unwrap_or_default(),
            })
            .collect()
    }

    /// The scopes read whole, as the snapshot records them.
    pub fn read_scopes(&self) -> Vec<ReadScope> {
        self.scopes
            .iter()
            .filter(|s| s.error.is_none())
            .map(|scope| ReadScope {
                provider: self.provider,
                kind: scope.kind.to_string(),
                name: scope.name.clone(),
                account: scope.account.clone(),
            })
            .collect()
    }

    /// `aws: 3 regions (1 failed), 412 API calls, 5,120 resources, 2.4s`; an organisation scan
    /// starts `aws: 4 accounts (1 failed), 9 regions, …`.
    pub fn one_line(&self) -> String {
        let failed = |count: usize| {
            if count > 0 {
                format!(" ({count} failed)")
            } else {
                String::new()
            }
        };
        let (accounts, scopes): (Vec<&ScopeStatus>, Vec<&ScopeStatus>) =
            self.scopes.iter().partition(|s| s.kind == ACCOUNT);
        let members: BTreeSet<&str> = self
            .scopes
            .iter()
            .filter_map(|s| s.account.as_deref())
            .collect();
        let members = if members.is_empty() {
            String::new()
        } else {
            format!("{} accounts{}, ", members.len(), failed(accounts.len()))
        };
        let kind = scopes.first().map_or("scope", |s| s.kind);
        format!(
            "{}: {members}{} {kind}s{}, {} API calls, {} resources, {:.1}s",
            self.provider,
            scopes.len(),
            failed(scopes.iter().filter(|s| s.error.is_some()).count()),
            self.api_calls,
            crate::verdict::thousands(self.resources as u128),
            self.seconds
        )
    }
}
