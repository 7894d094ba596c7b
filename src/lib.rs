//! portcullis: finds management ports open to the internet on cloud VMs, exactly.
//!
//! Data flows one way: loaders → [`model::Snapshot`] → exposure engine → policy → findings →
//! score → outputs.

pub mod addrset;
pub mod finding;
pub mod load;
pub mod model;
pub mod policy;
