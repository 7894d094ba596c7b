//! Writes a snapshot as the clouds' own export files, the way users collect them: Azure resources
//! as ARM REST list pages (`{"value": […]}`, up to 1,000 resources a page) under `azure/`, AWS
//! resources as AWS CLI `describe-*` output under `aws/`.
//!
//! It writes the kinds of resources the generator makes, with the fields the loaders read and a few
//! that real exports always carry (sizes, images, states), so that files have a realistic size.
//! Loading the folder gives back the snapshot, up to origins and the order of lists.
//! Files are written element by element: no JSON tree of a whole file is ever built.

mod aws;
mod azure;

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde_json::Value;

use crate::model::{Provider, Snapshot};

/// Writes `snapshot`'s resources under `dir`, which must be empty or absent.
pub fn write(snapshot: &Snapshot, dir: &Path) -> io::Result<()> {
    if fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the folder is not empty; give a new or empty one, so that no old file is loaded with \
             the new ones",
        ));
    }
    let has = |provider| {
        snapshot.vms.iter().any(|v| v.provider == provider)
            || snapshot.subnets.iter().any(|s| s.provider == provider)
    };
    if has(Provider::Azure) || !snapshot.nsgs.is_empty() {
        azure::write(snapshot, &dir.join("azure"))?;
    }
    if has(Provider::Aws) || !snapshot.security_groups.is_empty() {
        aws::write(snapshot, &dir.join("aws"))?;
    }
    Ok(())
}

/// How one file is laid out.
#[derive(Clone, Copy)]
enum Layout {
    /// One element per line, as compact as the REST API sends it.
    Compact,
    /// Indented, as the AWS CLI prints it.
    Pretty,
}

/// Writes `{"<key>": [<items>]}` to `path`.
fn write_list(
    path: &Path,
    key: &str,
    items: impl Iterator<Item = Value>,
    layout: Layout,
) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    write!(out, "{{\n  {}: [", Value::from(key))?;
    for (i, item) in items.enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        match layout {
            Layout::Compact => serde_json::to_writer(&mut out, &item)?,
            Layout::Pretty => serde_json::to_writer_pretty(&mut out, &item)?,
        }
    }
    out.write_all(b"\n  ]\n}\n")?;
    out.flush()
}
