//! portcullis's own snapshot files: recognising, checking and writing them.
//!
//! A snapshot is the model serialised as JSON with `"portcullis_snapshot": VERSION` as its first
//! key. Loading one keeps its `sources`, so findings still point at the files it was made from.

use std::io::{self, Write};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::json::JsonFile;
use super::{LoadError, Loaded};
use crate::model::{Origin, SNAPSHOT_VERSION, Snapshot};

/// Whether the JSON object in `text` opens with the `portcullis_snapshot` key.
pub(super) fn starts_with_version_key(text: &str) -> bool {
    text.trim_start()
        .strip_prefix('{')
        .is_some_and(|rest| rest.trim_start().starts_with("\"portcullis_snapshot\""))
}

#[derive(Deserialize)]
struct VersionProbe<'a> {
    #[serde(borrow)]
    portcullis_snapshot: &'a RawValue,
}

/// Loads a snapshot file. Its version is checked before anything else so that a newer format is
/// reported as such rather than as an unknown field.
pub(super) fn load(file: &JsonFile) -> Result<Loaded, LoadError> {
    let probe: VersionProbe = file.parse(file.text())?;
    let version: u64 = file.parse_raw(probe.portcullis_snapshot)?;
    if version != u64::from(SNAPSHOT_VERSION) {
        return Err(file.error_at(
            probe.portcullis_snapshot.get(),
            format!(
                "snapshot version {version} is not supported (this portcullis reads version \
                 {SNAPSHOT_VERSION}); write the snapshot again with this version of portcullis"
            ),
        ));
    }
    let mut snapshot: Snapshot = file.parse(file.text())?;
    if snapshot.sources.is_empty() {
        snapshot.sources.push(file.label().to_string());
    }
    let sources = snapshot.sources.len();
    if let Some(bad) = origins(&snapshot).find(|o| o.file as usize >= sources) {
        return Err(file.error_at(
            file.text(),
            format!(
                "an origin refers to source {} but the snapshot lists only {sources} sources; \
                 the file was edited or truncated, write it again with portcullis",
                bad.file
            ),
        ));
    }
    Ok(Loaded {
        snapshot,
        files: 1,
        ..Loaded::default()
    })
}

/// Every origin recorded in a snapshot.
fn origins(snapshot: &Snapshot) -> impl Iterator<Item = &Origin> {
    let vms = snapshot.vms.iter().filter_map(|v| v.origin.as_ref());
    let nics = snapshot.nics.iter().filter_map(|n| n.origin.as_ref());
    let nsgs = snapshot.nsgs.iter().flat_map(|nsg| {
        nsg.origin.iter().chain(
            nsg.rules
                .iter()
                .chain(&nsg.default_rules)
                .filter_map(|r| r.origin.as_ref()),
        )
    });
    let groups = snapshot.security_groups.iter().flat_map(|sg| {
        sg.origin
            .iter()
            .chain(sg.inbound.iter().filter_map(|p| p.origin.as_ref()))
    });
    let acls = snapshot.network_acls.iter().flat_map(|acl| {
        acl.origin
            .iter()
            .chain(acl.entries.iter().filter_map(|e| e.origin.as_ref()))
    });
    vms.chain(nics).chain(nsgs).chain(groups).chain(acls)
}

/// Writes `snapshot` as pretty JSON, `portcullis_snapshot` first, ending with a newline.
pub fn write_snapshot(snapshot: &Snapshot, mut w: impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut w, snapshot)?;
    w.write_all(b"\n")
}
