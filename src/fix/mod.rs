//! Remediation that changes the cloud: `portcullis fix` plans, applies, verifies and undoes.

pub mod journal;
