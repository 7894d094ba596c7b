//! One resource, one verdict: folds the copies of a resource that several inputs hold (`-i X -i
//! X`, an export taken twice, Azure ids that differ only in case) into one, so the engine judges
//! and scores it once.
//!
//! Copies that are equal (ignoring where they were read from and the case of an Azure id) are
//! merged with a warning naming both places; copies that differ are an error naming both, since
//! which one is right cannot be told from the data. Azure resource ids (they start with `/`) are
//! case-insensitive, as Resource Manager treats them; AWS ids are compared exactly.

use std::collections::{BTreeMap, HashMap};

use crate::model::{
    AppSecurityGroup, JitPolicy, NetworkAcl, Nic, Nsg, Origin, PublicIp, RouteTable, SecurityGroup,
    Snapshot, Subnet, Vm,
};

use super::{LoadError, place};

/// Merges equal copies of every resource in `snapshot`, warning for each, or fails on the first
/// resource whose copies differ.
pub(super) fn fold_duplicates(
    snapshot: &mut Snapshot,
    warnings: &mut Vec<String>,
) -> Result<(), LoadError> {
    let sources = snapshot.sources.clone();
    let mut fold = Fold {
        sources: &sources,
        merged: BTreeMap::new(),
    };
    fold.list(&mut snapshot.vms)?;
    fold.list(&mut snapshot.nics)?;
    fold.list(&mut snapshot.public_ips)?;
    fold.list(&mut snapshot.subnets)?;
    fold.list(&mut snapshot.nsgs)?;
    fold.list(&mut snapshot.app_security_groups)?;
    fold.list(&mut snapshot.security_groups)?;
    fold.list(&mut snapshot.network_acls)?;
    fold.list(&mut snapshot.route_tables)?;
    fold.list(&mut snapshot.jit_policies)?;
    warnings.extend(fold.warnings());
    Ok(())
}

/// A resource kind that may be read twice.
trait Resource: Clone + PartialEq {
    /// The kind as messages name it.
    const KIND: &'static str;
    fn id(&self) -> &str;
    fn set_id(&mut self, id: String);
    /// Where the resource was read from, when the loader recorded it.
    fn origin(&self) -> Option<Origin> {
        None
    }
    /// Clears every origin in the resource, so that copies read from different places compare
    /// by content.
    fn clear_origins(&mut self) {}
}

/// The key two copies of one resource share.
fn key(id: &str) -> String {
    if id.starts_with('/') {
        id.to_ascii_lowercase()
    } else {
        id.to_string()
    }
}

struct Fold<'a> {
    sources: &'a [String],
    /// Equal copies merged, by the pair of places they were read from: how many, and one of them.
    merged: BTreeMap<(String, String), (usize, String)>,
}

impl Fold<'_> {
    fn list<T: Resource>(&mut self, list: &mut Vec<T>) -> Result<(), LoadError> {
        let mut index_of: HashMap<String, usize> = HashMap::with_capacity(list.len());
        let mut kept: Vec<T> = Vec::with_capacity(list.len());
        for item in list.drain(..) {
            let Some(first) = index_of.get(&key(item.id())).and_then(|&i| kept.get(i)) else {
                index_of.insert(key(item.id()), kept.len());
                kept.push(item);
                continue;
            };
            if !same(first, &item) {
                return Err(LoadError::Conflict {
                    kind: T::KIND,
                    id: item.id().to_string(),
                    first: self.place(first.origin(), true),
                    second: self.place(item.origin(), true),
                });
            }
            let files = (
                self.place(first.origin(), false),
                self.place(item.origin(), false),
            );
            let entry = self
                .merged
                .entry(files)
                .or_insert_with(|| (0, format!("{} {}", T::KIND, item.id())));
            entry.0 += 1;
        }
        *list = kept;
        Ok(())
    }

    /// [`place`] in this snapshot's sources.
    fn place(&self, origin: Option<Origin>, line: bool) -> String {
        place(self.sources, origin, line)
    }

    /// One warning per pair of places that held equal copies.
    fn warnings(self) -> impl Iterator<Item = String> {
        self.merged
            .into_iter()
            .map(|((first, second), (count, example))| {
                format!(
                    "{count} resource(s) read twice, in {first} and in {second} (first: \
                     {example}); the copies are equal, so each is judged once"
                )
            })
    }
}

/// Whether two copies hold the same content, wherever and under whichever id case they were read.
fn same<T: Resource>(first: &T, second: &T) -> bool {
    let (mut a, mut b) = (first.clone(), second.clone());
    a.clear_origins();
    b.clear_origins();
    b.set_id(a.id().to_string());
    a == b
}

/// Resources whose loaders record no origin.
macro_rules! without_origin {
    ($($type:ty => $kind:literal),* $(,)?) => {$(
        impl Resource for $type {
            const KIND: &'static str = $kind;
            fn id(&self) -> &str {
                &self.id
            }
            fn set_id(&mut self, id: String) {
                self.id = id;
            }
        }
    )*};
}

without_origin! {
    PublicIp => "public IP",
    Subnet => "subnet",
    AppSecurityGroup => "application security group",
    RouteTable => "route table",
    JitPolicy => "JIT policy",
}

/// Resources with an origin of their own and, for rule containers, on each rule.
macro_rules! with_origin {
    ($($type:ty => $kind:literal $(, $rules:ident)*);* $(;)?) => {$(
        impl Resource for $type {
            const KIND: &'static str = $kind;
            fn id(&self) -> &str {
                &self.id
            }
            fn set_id(&mut self, id: String) {
                self.id = id;
            }
            fn origin(&self) -> Option<Origin> {
                self.origin
            }
            fn clear_origins(&mut self) {
                self.origin = None;
                $(self.$rules.iter_mut().for_each(|rule| rule.origin = None);)*
            }
        }
    )*};
}

with_origin! {
    Vm => "VM";
    Nic => "network interface";
    Nsg => "NSG", rules, default_rules;
    SecurityGroup => "security group", inbound;
    NetworkAcl => "network ACL", entries;
}

#[cfg(test)]
mod tests;
