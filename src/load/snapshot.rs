//! portcullis's own snapshot files: recognising, checking and writing them.
//!
//! A snapshot is the model serialised as JSON with `"portcullis_snapshot": VERSION` as its first
//! key. Loading one keeps its `sources`, so findings still point at the files it was made from.
//! Snapshots are parsed as a stream: a large estate's snapshot is hundreds of megabytes, and only
//! the estate it holds is kept in memory, never its text.

use std::io::{self, BufReader, Read, Write};

use serde_json::value::RawValue;

use super::json::{JsonFile, describe};
use super::{LoadError, Loaded};
use crate::model::{Origin, SNAPSHOT_VERSION, Snapshot};

/// How much of a file to read to recognise a snapshot and check its version.
pub(super) const HEAD: usize = 4096;

/// Whether the JSON object in `text` opens with the `portcullis_snapshot` key.
pub(super) fn starts_with_version_key(text: &str) -> bool {
    after_version_key(text).is_some()
}

/// The text after `{"portcullis_snapshot":`.
fn after_version_key(text: &str) -> Option<&str> {
    text.trim_start()
        .strip_prefix('{')?
        .trim_start()
        .strip_prefix("\"portcullis_snapshot\"")?
        .trim_start()
        .strip_prefix(':')
}

/// Loads a snapshot file whose first bytes, `head` (at least [`HEAD`] of them, or the whole file),
/// were read already; `rest` reads the others. Its version is checked before anything else so that
/// a newer format is reported as such rather than as an unknown field.
pub(super) fn load(label: &str, head: &[u8], rest: impl Read) -> Result<Loaded, LoadError> {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    // The head may end inside a character; the version key is well before that.
    let valid = std::str::from_utf8(head).map_or_else(|e| e.valid_up_to(), str::len);
    let head_file = JsonFile::new(label, &head[..valid])?;
    // A version that is not even JSON is left to the parser below to report.
    let version_text = after_version_key(head_file.text()).unwrap_or_default();
    let raw_version = serde_json::Deserializer::from_str(version_text)
        .into_iter::<&RawValue>()
        .next()
        .and_then(Result::ok);
    if let Some(raw_version) = raw_version {
        let version: u64 = head_file.parse_raw(raw_version)?;
        if version != u64::from(SNAPSHOT_VERSION) {
            return Err(head_file.error_at(
                raw_version.get(),
                format!(
                    "snapshot version {version} is not supported (this portcullis reads version \
                     {SNAPSHOT_VERSION}); write the snapshot again with this version of portcullis"
                ),
            ));
        }
    }
    let reader = BufReader::with_capacity(1 << 16, head.chain(rest));
    let mut snapshot: Snapshot =
        serde_json::from_reader(reader).map_err(|err| stream_error(label, err))?;
    if snapshot.sources.is_empty() {
        snapshot.sources.push(label.to_string());
    }
    let sources = snapshot.sources.len();
    if let Some(bad) = origins(&snapshot).find(|o| o.file as usize >= sources) {
        return Err(head_file.error_at(
            head_file.text(),
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

/// An error of the streaming parser, at the line and column it gives.
fn stream_error(label: &str, err: serde_json::Error) -> LoadError {
    if err.is_io() {
        return LoadError::Io {
            path: label.to_string(),
            source: io::Error::from(err),
        };
    }
    LoadError::Invalid {
        file: label.to_string(),
        line: u32::try_from(err.line()).unwrap_or(u32::MAX),
        column: u32::try_from(err.column()).unwrap_or(u32::MAX),
        message: describe(&err),
    }
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

#[cfg(test)]
mod tests {
    use super::super::{load_file_bytes, load_inputs};
    use super::*;

    /// A valid snapshot with `vms` VMs, long enough to be read in several pieces when asked.
    fn snapshot_text(vms: usize) -> String {
        let vm = |i| {
            format!(
                r#"{{"id": "vm-{i}", "name": "vm-{i}", "provider": "aws", "scope": "1",
                    "origin": {{"file": 0, "line": {i}}}}}"#
            )
        };
        let vms: Vec<String> = (0..vms).map(vm).collect();
        format!(
            "{{\n  \"portcullis_snapshot\": 1,\n  \"sources\": [\"a.json\"],\n  \"vms\": [{}]\n}}\n",
            vms.join(",\n")
        )
    }

    /// Loads `text` both ways: from memory, and from a file read as a stream.
    fn load_both(text: &str) -> [Result<Loaded, LoadError>; 2] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(&path, text).unwrap();
        [
            load_file_bytes("s.json", text.as_bytes()),
            load_inputs(&[path]).map(|mut l| {
                // The file's own name is a temporary path; compare only the content.
                l.snapshot.sources = vec!["a.json".to_string()];
                l
            }),
        ]
    }

    #[test]
    fn loads_from_memory_and_from_a_stream_alike() {
        for vms in [1, 200] {
            let text = snapshot_text(vms);
            assert!(vms == 1 || text.len() > HEAD);
            for loaded in load_both(&text) {
                let loaded = loaded.unwrap();
                assert_eq!(loaded.snapshot.vms.len(), vms);
                assert_eq!(loaded.snapshot.sources, ["a.json"]);
            }
        }
        let with_bom = format!("\u{feff}{}", snapshot_text(3));
        for loaded in load_both(&with_bom) {
            assert_eq!(loaded.unwrap().snapshot.vms.len(), 3);
        }
    }

    #[test]
    fn bad_snapshots_are_errors_with_positions() {
        let long = snapshot_text(200);
        // (case, text, line, column, words of the message)
        let cases: &[(&str, String, u32, u32, &str)] = &[
            (
                "a newer version, with fields this version does not know",
                "{\"portcullis_snapshot\": 2, \"future\": true}".to_string(),
                1,
                25,
                "snapshot version 2 is not supported",
            ),
            (
                "a version that is no number",
                "{\"portcullis_snapshot\": \"1\"}".to_string(),
                1,
                27,
                "invalid type",
            ),
            (
                "a syntax error far into the file",
                long.replace("\"vm-150\", \"provider\"", "\"vm-150\" \"provider\""),
                // Each VM takes two lines, from line 4.
                304,
                35,
                "expected",
            ),
            (
                "an origin beyond the sources",
                long.replace("\"line\": 7}", "\"file\": 3, \"line\": 7}")
                    .replace("{\"file\": 0, \"file\": 3", "{\"file\": 3"),
                1,
                1,
                "refers to source 3",
            ),
        ];
        for (case, text, line, column, words) in cases {
            for result in load_both(text) {
                match result {
                    Err(LoadError::Invalid {
                        line: l,
                        column: c,
                        message,
                        ..
                    }) => {
                        assert_eq!((l, c), (*line, *column), "{case}: {message}");
                        assert!(message.contains(words), "{case}: {message}");
                    }
                    other => panic!("{case}: {other:?}"),
                }
            }
        }
    }
}
