//! Audits with history: a scan recorded in a [`crate::store`], so later runs can say what is new,
//! fixed or reopened and how long a finding has stayed unhealthy.

pub mod diff;
pub mod metrics;
pub mod notify;
pub mod open;
pub mod record;
pub mod schedule;
pub mod trend;
