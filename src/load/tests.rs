use std::fs;
use std::path::{Path, PathBuf};

use super::*;
use crate::model::{Origin, SNAPSHOT_VERSION};

fn error(text: &[u8]) -> String {
    match load_file_bytes("in/x.json", text) {
        Ok(_) => panic!("loaded without error"),
        Err(err) => err.to_string(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&path, text).unwrap();
    path
}

const NSG: &str = r#"{"id": "/subscriptions/s/nsg", "name": "nsg",
 "type": "Microsoft.Network/networkSecurityGroups",
 "properties": {"securityRules": [
   {"name": "r", "properties": {"protocol": "Tcp", "priority": 100, "direction": "Inbound",
    "access": "Allow", "sourceAddressPrefix": "*", "destinationPortRange": "22"}}]}}"#;

#[test]
fn malformed_json_is_an_error_with_line_and_column() {
    assert_eq!(
        error(b"{\n  \"value\": [\n    {\"id\": 1,}\n  ]\n}"),
        "in/x.json:3:14: key must be a string"
    );
    assert_eq!(
        error(b"{\"value\": []} extra"),
        "in/x.json:1:15: trailing characters"
    );
    // Files that open with neither `{` nor `[` are still checked before they are skipped.
    assert_eq!(
        error(b"\"a string\" extra"),
        "in/x.json:1:12: trailing characters"
    );
    assert_eq!(error(b"nope"), "in/x.json:1:2: expected ident");
}

#[test]
fn unreadable_content_is_an_error() {
    assert!(error(b"").starts_with("in/x.json:1:1: the file is empty"));
    assert!(error(b"[1, \xc3\x28]").starts_with("in/x.json:1:5: the file is not UTF-8"));
    assert_eq!(
        error(b"[1]"),
        "in/x.json:1:2: invalid type: integer `1`, expected struct Resource"
    );
}

#[test]
fn json_of_no_known_shape_is_skipped_with_a_warning() {
    for text in [
        r#"{"name": "app", "type": "module"}"#,
        r#"{"value": 3}"#,
        r#"{"value": -3.5e2, "next": 1}"#,
        r#"{"value": "a \" string"}"#,
        r#"{"value": null}"#,
        r#"{"value": true}"#,
        r#"{"value": {"nested": [1, {"type": "Microsoft.Network/networkSecurityGroups"}]}}"#,
        r#""just a string""#,
        "42",
    ] {
        let loaded = load_file_bytes("in/x.json", text.as_bytes()).unwrap();
        assert_eq!(loaded.skipped.get(UNRECOGNISED_FILE), Some(&1), "{text}");
        assert_eq!(loaded.warnings.len(), 1, "{text}");
        assert!(loaded.warnings[0].starts_with("in/x.json: not an export"));
        assert_eq!(loaded.snapshot.resource_count(), 0);
    }
}

#[test]
fn folders_are_walked_recursively_in_sorted_order() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "b/nsg.json", NSG);
    write(
        dir.path(),
        "a.json",
        r#"{"PrefixLists": [{"PrefixListId": "pl-1", "PrefixListName": "office"}]}"#,
    );
    write(
        dir.path(),
        "c/pl.JSON",
        r#"{"PrefixListId": "pl-1", "Entries": [{"Cidr": "198.51.100.0/24"}]}"#,
    );
    write(dir.path(), "notes.txt", "not json");
    write(dir.path(), "d/package.json", r#"{"name": "tooling"}"#);
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let nsg_again = dir.path().join("b/nsg.json");

    let loaded = load_inputs(&[dir.path().to_path_buf(), empty.clone(), nsg_again]).unwrap();

    let relative: Vec<String> = loaded
        .snapshot
        .sources
        .iter()
        .map(|s| {
            s.strip_prefix(&*dir.path().to_string_lossy())
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        relative,
        [
            "/a.json",
            "/b/nsg.json",
            "/c/pl.JSON",
            "/d/package.json",
            "/b/nsg.json"
        ]
    );
    assert_eq!(loaded.files, 5);
    assert_eq!(loaded.skipped.get(UNRECOGNISED_FILE), Some(&1));
    assert_eq!(loaded.warnings.len(), 3, "{:?}", loaded.warnings);
    assert!(loaded.warnings[1].ends_with("empty: no .json files in this folder"));
    // b/nsg.json, given again after its folder, is read twice and judged once.
    assert!(
        loaded.warnings[2].contains("read twice"),
        "{}",
        loaded.warnings[2]
    );

    // Origins point at the file each resource came from: the first copy read is kept.
    let origins: Vec<Option<Origin>> = loaded.snapshot.nsgs.iter().map(|n| n.origin).collect();
    assert_eq!(origins, [Some(Origin { file: 1, line: 1 })]);
    assert_eq!(
        loaded.snapshot.nsgs[0].rules[0].origin,
        Some(Origin { file: 1, line: 4 })
    );

    // The described list and its entries fold into one resolved list.
    assert_eq!(loaded.snapshot.prefix_lists.len(), 1);
    let list = &loaded.snapshot.prefix_lists[0];
    assert_eq!(list.name, "office");
    assert_eq!(list.entries, Some(vec!["198.51.100.0/24".parse().unwrap()]));
}

#[test]
fn missing_path_is_an_io_error_naming_it() {
    let err = load_inputs(&[PathBuf::from("no/such/dir")]).unwrap_err();
    assert!(err.to_string().starts_with("no/such/dir: "), "{err}");
}

#[test]
fn prefix_lists_keep_entries_whatever_the_order() {
    let described = |id: &str| PrefixList {
        id: id.into(),
        name: "office".into(),
        entries: None,
    };
    let resolved = |id: &str, cidr: &str| PrefixList {
        id: id.into(),
        name: String::new(),
        entries: Some(vec![cidr.parse().unwrap()]),
    };
    let mut lists = vec![
        resolved("pl-1", "198.51.100.0/24"),
        described("pl-2"),
        described("pl-1"),
        resolved("pl-1", "203.0.113.0/24"),
        resolved("pl-1", "198.51.100.0/24"),
    ];
    merge_prefix_lists(&mut lists);
    assert_eq!(
        lists,
        [
            PrefixList {
                id: "pl-1".into(),
                name: "office".into(),
                entries: Some(vec![
                    "198.51.100.0/24".parse().unwrap(),
                    "203.0.113.0/24".parse().unwrap()
                ]),
            },
            described("pl-2"),
        ]
    );
}

#[test]
fn snapshots_round_trip_and_keep_their_sources() {
    let mut original = load_file_bytes("exports/nsg.json", NSG.as_bytes())
        .unwrap()
        .snapshot;
    original.merge(
        load_file_bytes("exports/nsg2.json", NSG.as_bytes())
            .unwrap()
            .snapshot,
    );
    let mut written = Vec::new();
    write_snapshot(&original, &mut written).unwrap();
    let text = String::from_utf8(written).unwrap();
    assert!(
        text.starts_with("{\n  \"portcullis_snapshot\": 1,"),
        "{text}"
    );

    let reloaded = load_file_bytes("snap.json", text.as_bytes()).unwrap();
    assert_eq!(reloaded.snapshot, original);
    assert_eq!(reloaded.files, 1);

    // Merged after another file, the snapshot's origins follow its own sources.
    let mut all = load_file_bytes("first.json", NSG.as_bytes()).unwrap();
    all.merge(reloaded);
    assert_eq!(
        all.snapshot.sources,
        ["first.json", "exports/nsg.json", "exports/nsg2.json"]
    );
    assert_eq!(
        all.snapshot.nsgs[2].origin,
        Some(Origin { file: 2, line: 1 })
    );
}

#[test]
fn snapshot_problems_are_errors() {
    let future = format!(
        "{{\"portcullis_snapshot\": {}, \"vms\": []}}",
        SNAPSHOT_VERSION + 1
    );
    assert!(
        error(future.as_bytes()).starts_with("in/x.json:1:25: snapshot version 2 is not supported"),
    );
    assert!(
        error(br#"{"vms": [], "portcullis_snapshot": 1}"#)
            .contains("must be the first key of a snapshot file")
    );
    assert!(error(br#"{"portcullis_snapshot": 1, "vmz": []}"#).contains("unknown field `vmz`"));
    let dangling = br#"{"portcullis_snapshot": 1, "sources": ["a.json"], "vms": [
      {"id": "i-1", "name": "i-1", "provider": "aws", "scope": "1", "origin": {"file": 3, "line": 1}}]}"#;
    assert!(error(dangling).contains("refers to source 3"));
    let no_sources = load_file_bytes("snap.json", br#"{"portcullis_snapshot": 1}"#).unwrap();
    assert_eq!(no_sources.snapshot.sources, ["snap.json"]);
}

/// One resource per line or all on one line, with multi-byte text before it or not: resources
/// and rules know their line, and a bad value is reported at its line and column (in
/// characters).
#[test]
fn positions_are_right_in_one_line_and_indented_exports() {
    let one_line = |prefix: &str, port: &str| {
        format!(
            r#"{{{prefix}"value": [{{"id": "/subscriptions/s/nsg", "name": "nsg", "type": "Microsoft.Network/networkSecurityGroups", "properties": {{"securityRules": [{{"name": "r", "properties": {{"protocol": "Tcp", "priority": 100, "direction": "Inbound", "access": "Allow", "sourceAddressPrefix": "*", "destinationPortRange": {port}}}}}]}}}}]}}"#
        )
    };
    let indented = format!("{{\"note\": \"ü\",\n\"value\": [\n{NSG}\n]}}");
    for (text, nsg_line, rule_line) in [
        (one_line("", "\"22\""), 1, 1),
        (one_line(r#""note": "ünïcødé ☃", "#, "\"22\""), 1, 1),
        (indented, 3, 6),
    ] {
        let loaded = load_file_bytes("in/x.json", text.as_bytes()).unwrap();
        let nsg = &loaded.snapshot.nsgs[0];
        assert_eq!(nsg.origin.map(|o| o.line), Some(nsg_line), "{text}");
        assert_eq!(
            nsg.rules[0].origin.map(|o| o.line),
            Some(rule_line),
            "{text}"
        );
    }
    // The port value's column, counted in characters: 6 of the prefix's are two-byte or more.
    let plain = one_line("", "\"99999\"");
    let column = plain.find("\"99999\"").unwrap() + 1;
    for (text, want) in [
        (plain.clone(), format!("in/x.json:1:{column}: ")),
        (
            one_line(r#""note": "ünïcødé ☃", "#, "\"99999\""),
            format!("in/x.json:1:{}: ", column + 21),
        ),
    ] {
        let err = error(text.as_bytes());
        assert!(err.starts_with(&want), "{want} / {err}");
        assert!(err.contains("99999"), "{err}");
    }
}

#[cfg(unix)]
#[test]
fn symbolic_links_are_followed_once_and_special_files_skipped() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let real = tempfile::tempdir().unwrap();
    write(real.path(), "nsg.json", NSG);
    symlink(real.path(), dir.path().join("linked")).unwrap();
    // A cycle: a link inside the folder back to the folder itself.
    symlink(dir.path(), dir.path().join("loop")).unwrap();
    symlink(dir.path().join("gone"), dir.path().join("dangling.json")).unwrap();
    let fifo = dir.path().join("pipe.json");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );

    let loaded = load_inputs(&[
        dir.path().to_path_buf(),
        PathBuf::from("/dev/zero"),
        fifo.clone(),
    ])
    .unwrap();
    assert_eq!(loaded.files, 1, "{:?}", loaded.snapshot.sources);
    assert!(loaded.snapshot.sources[0].ends_with("linked/nsg.json"));
    assert_eq!(loaded.snapshot.nsgs.len(), 1);
    let warnings = loaded.warnings.join("\n");
    for want in [
        "dangling.json: skipped, a symbolic link to nothing",
        "loop: skipped, this folder was read already",
        "pipe.json: skipped, not a regular file (a FIFO)",
        "/dev/zero: skipped, not a regular file (a character device)",
    ] {
        assert!(warnings.contains(want), "{want}\n{warnings}");
    }
    assert_eq!(loaded.warnings.len(), 5, "{warnings}");
}

#[test]
fn files_over_the_size_limit_are_refused_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "nsg.json", NSG);
    let limits = |max_input_bytes| Limits {
        max_input_bytes,
        ..Limits::default()
    };
    let size = NSG.len() as u64;
    assert!(load_inputs_within(std::slice::from_ref(&path), &limits(size)).is_ok());
    let err = load_inputs_within(std::slice::from_ref(&path), &limits(size - 1)).unwrap_err();
    let err = err.to_string();
    assert!(err.starts_with(&*path.to_string_lossy()), "{err}");
    assert!(err.contains("--max-input-size"), "{err}");
}
