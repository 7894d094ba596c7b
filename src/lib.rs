//! portcullis: finds management ports open to the internet on cloud VMs, exactly.
//!
//! Data flows one way: loaders ([`load`]) → [`model::Snapshot`] → exposure [`engine`] →
//! [`verdict`]s of the [`policy`]'s recommendations → [`finding`]s (their evidence naming rules
//! by typed [`rule_ref`]s) → [`score`] → [`output`].
//! [`scan`] runs the whole pipeline; [`cli`] is the command line. [`remediate`] writes the
//! commands that fix a finding; [`fix`] plans the fix of an estate, rule by rule;
//! [`exemptions`], [`baseline`] and [`gate`] serve CI gating.
//! [`explain`] documents a recommendation, scanning its example estates.
//! [`synthetic`] makes estates of any size for benchmarks and tests.

pub mod addrset;
pub mod audit;
mod aws_mapping;
pub mod azure_rule;
pub mod baseline;
pub mod cli;
pub mod cloud;
pub mod engine;
pub mod exemptions;
pub mod explain;
pub mod finding;
pub mod fingerprint;
pub mod fix;
pub mod gate;
pub mod input_file;
pub mod jit;
pub mod limits;
pub mod load;
pub mod model;
pub mod output;
pub mod policy;
pub mod remediate;
pub mod rule_ref;
pub mod scan;
pub mod score;
pub mod state_dir;
pub mod store;
pub mod synthetic;
pub mod verdict;
