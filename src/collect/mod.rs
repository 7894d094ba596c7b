//! Live collectors: read an estate straight from a cloud's API into a [`Snapshot`].
//!
//! Each provider's collector lives in its own submodule and is the only code that touches that
//! cloud's SDK. A collector never presents a partial estate as complete: every region or
//! subscription it tried is listed in the [`CollectionReport`], with the error when it failed,
//! and the CLI exits with [`EXIT_INCOMPLETE`] when any failed.

pub mod aws;
pub mod azure;

use serde::Serialize;

use crate::model::{MissingScope, Provider, Snapshot};

/// Exit status of a scan or snapshot whose collection missed some regions or subscriptions.
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
    /// Every region (AWS) or subscription (Azure) tried, in a stable order.
    pub scopes: Vec<ScopeStatus>,
    pub api_calls: u64,
    pub resources: usize,
    pub seconds: f64,
}

/// One region or subscription.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScopeStatus {
    /// Region name or subscription id.
    pub name: String,
    /// `region` or `subscription`.
    pub kind: &'static str,
    /// Why it could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub api_calls: u64,
    pub resources: usize,
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
                error: scope.error.clone().unwrap_or_default(),
            })
            .collect()
    }

    /// `aws: 3 regions (1 failed), 412 API calls, 5,120 resources, 2.4s`
    pub fn one_line(&self) -> String {
        let kind = self.scopes.first().map_or("scope", |s| s.kind);
        let failed = self.failures().count();
        let failed = if failed > 0 {
            format!(" ({failed} failed)")
        } else {
            String::new()
        };
        format!(
            "{}: {} {kind}s{failed}, {} API calls, {} resources, {:.1}s",
            self.provider,
            self.scopes.len(),
            self.api_calls,
            crate::verdict::thousands(self.resources as u128),
            self.seconds
        )
    }
}
