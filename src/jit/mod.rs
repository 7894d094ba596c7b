//! `portcullis jit`: just-in-time access on request, with an expiry that holds through crashes.
//!
//! A grant opens exactly the requested ports from the requested source to one VM, for a limited
//! time: on Azure an allow rule `portcullis-jit-<grant>` in each NSG that filters the VM's
//! interfaces, destination the VM's private addresses, at a free priority that beats the denies
//! (the lock-down of `fix plan --strategy jit`) matching it. The expiry travels in the rule
//! itself ([`grant`]: its description), so [`sweep`] closes expired grants from cloud state alone,
//! with no ledger. The stages of a request are in [`request`]; who may ask for what is
//! [`policy`]; every request, grant and close is recorded in the [`ledger`] (in the store the
//! audit history uses); writes go through `fix`'s journal and its one journaled-write helper
//! ([`write`]).

pub mod aws;
pub mod clock;
pub mod grant;
pub mod identity;
pub mod ledger;
pub mod my_ip;
pub mod policy;
pub mod request;
pub mod sweep;
pub mod verify;
pub mod write;

/// The name prefix of the rules that hold grants.
pub const PREFIX: &str = "portcullis-jit-";

#[cfg(test)]
mod tests;
