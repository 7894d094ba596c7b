//! portcullis: finds management ports open to the internet on cloud VMs, exactly.
//!
//! Data flows one way: loaders ([`load`]) → [`model::Snapshot`] → exposure [`engine`] →
//! [`verdict`]s of the [`policy`]'s recommendations → [`finding`]s → [`score`] → [`output`].
//! [`scan`] runs the whole pipeline; [`cli`] is the command line.

pub mod addrset;
mod aws_mapping;
pub mod cli;
pub mod collect;
pub mod engine;
pub mod finding;
pub mod load;
pub mod model;
pub mod output;
pub mod policy;
pub mod scan;
pub mod score;
pub mod verdict;
