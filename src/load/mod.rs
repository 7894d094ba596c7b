//! Loading input files into one [`Snapshot`]: walking the paths given, recognising each file's
//! format, and merging the results.
//!
//! A path is a file or a folder; folders are searched recursively for `*.json`, in sorted order so
//! that a run is deterministic. Every file becomes one entry of [`Snapshot::sources`], named as
//! given (`fixtures/azure-demo/nsgs.json`). JSON that is no known export is skipped with a
//! warning, because folders often hold other JSON; JSON that is malformed, or a known export with
//! a bad value in it, is an error naming the file, line and column.

mod aws;
pub(crate) mod azure;
mod dedup;
mod json;
mod rejected;
mod snapshot;

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::input_file;
use crate::limits::Limits;
use crate::model::{Origin, PrefixList, Snapshot};
use json::JsonFile;

pub use azure::{Unreadable, load_arm_page};
pub use snapshot::write_snapshot;

/// What loading produced.
#[derive(Debug, Default, PartialEq)]
pub struct Loaded {
    pub snapshot: Snapshot,
    pub warnings: Vec<String>,
    /// Resources or files not loaded, by Azure resource type or `unrecognised file`, with counts.
    pub skipped: BTreeMap<String, usize>,
    /// Number of files read.
    pub files: usize,
}

/// Skipped-count key for JSON files of no known shape.
pub const UNRECOGNISED_FILE: &str = "unrecognised file";

/// Why inputs could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: input_file::InputFileError,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: String,
        line: u32,
        column: u32,
        message: String,
    },
    #[error(
        "{kind} {id} is read twice with different content, at {first} and at {second}; give only \
         one copy (the newer export) as input"
    )]
    Conflict {
        kind: &'static str,
        id: String,
        first: String,
        second: String,
    },
}

impl Loaded {
    fn from_file(label: &str) -> Self {
        let mut snapshot = Snapshot::new();
        snapshot.sources.push(label.to_string());
        Self {
            snapshot,
            files: 1,
            ..Self::default()
        }
    }

    fn skip(&mut self, what: &str) {
        *self.skipped.entry(what.to_string()).or_default() += 1;
    }

    fn merge(&mut self, other: Loaded) {
        self.snapshot.merge(other.snapshot);
        self.warnings.extend(other.warnings);
        for (what, count) in other.skipped {
            *self.skipped.entry(what).or_default() += count;
        }
        self.files += other.files;
    }
}

/// Loads every file under `paths` and merges them into one snapshot, under the default
/// [`Limits`].
pub fn load_inputs(paths: &[PathBuf]) -> Result<Loaded, LoadError> {
    load_inputs_within(paths, &Limits::default())
}

/// Loads every file under `paths` and merges them into one snapshot, reading no file larger
/// than `limits.max_input_bytes`.
pub fn load_inputs_within(paths: &[PathBuf], limits: &Limits) -> Result<Loaded, LoadError> {
    let mut loaded = Loaded {
        snapshot: Snapshot::new(),
        ..Loaded::default()
    };
    for path in paths {
        let mut walk = Walk::default();
        walk.visit(path, true)?;
        if walk.files.is_empty() && walk.warnings.is_empty() {
            loaded
                .warnings
                .push(format!("{}: no .json files in this folder", path.display()));
        }
        loaded.warnings.append(&mut walk.warnings);
        // A path's files are parsed in parallel and merged in order, so the snapshot, its
        // warnings and the first error reported are those of loading them one after another.
        let results: Vec<Result<Loaded, LoadError>> = walk
            .files
            .par_iter()
            .map(|file| load_file(file, limits.max_input_bytes))
            .collect();
        for result in results {
            loaded.merge(result?);
        }
    }
    merge_prefix_lists(&mut loaded.snapshot.prefix_lists);
    dedup::fold_duplicates(&mut loaded.snapshot, &mut loaded.warnings)?;
    rejected::drop_refused_nsg_rules(&mut loaded.snapshot, &mut loaded.warnings);
    Ok(loaded)
}

/// Where a resource or rule was read, for messages: its file among `sources`, with the line if
/// `line`.
pub(super) fn place(sources: &[String], origin: Option<Origin>, line: bool) -> String {
    origin
        .and_then(|o| {
            let file = sources.get(usize::try_from(o.file).ok()?)?;
            Some(if line {
                format!("{file}:{}", o.line)
            } else {
                file.clone()
            })
        })
        .unwrap_or_else(|| "an input that records no line".to_string())
}

/// Loads one file. A snapshot is parsed as it is read; any other file is read whole first.
fn load_file(path: &Path, max_bytes: u64) -> Result<Loaded, LoadError> {
    let label = path.to_string_lossy();
    let read_error = |source| LoadError::Read {
        path: label.to_string(),
        source,
    };
    let mut file = input_file::open(path, max_bytes).map_err(read_error)?;
    let mut bytes = Vec::with_capacity(snapshot::HEAD);
    (&mut file)
        .take(snapshot::HEAD as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(input_file::into_input_error(e)))?;
    let head = String::from_utf8_lossy(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes));
    if snapshot::starts_with_version_key(&head) {
        return snapshot::load(&label, &bytes, file);
    }
    bytes.reserve_exact(
        usize::try_from(fs::metadata(path).map_or(0, |m| m.len()))
            .unwrap_or(0)
            .saturating_sub(bytes.len()),
    );
    file.read_to_end(&mut bytes)
        .map_err(|e| read_error(input_file::into_input_error(e)))?;
    load_file_bytes(&label, &bytes)
}

/// The files found under the paths given, in order, and what was skipped on the way.
#[derive(Default)]
struct Walk {
    files: Vec<PathBuf>,
    warnings: Vec<String>,
    /// Canonical paths of the folders entered, so that a symbolic link back up cannot loop.
    folders: HashSet<PathBuf>,
}

impl Walk {
    /// Adds `path` itself when it is a regular file and `named` (the user gave it, so whatever
    /// its extension), else the `*.json` regular files below it, sorted. Symbolic links are
    /// followed; a folder reached twice (a link cycle, or two links to one folder) is read once.
    /// FIFOs, devices and sockets are skipped with a warning, without being opened.
    fn visit(&mut self, path: &Path, named: bool) -> Result<(), LoadError> {
        let io_error = |source| LoadError::Io {
            path: path.display().to_string(),
            source,
        };
        let metadata = match fs::metadata(path) {
            Err(err) if !named && err.kind() == io::ErrorKind::NotFound => {
                self.warnings.push(format!(
                    "{}: skipped, a symbolic link to nothing",
                    path.display()
                ));
                return Ok(());
            }
            other => other.map_err(io_error)?,
        };
        if let Some(kind) = input_file::special_kind(metadata.file_type()) {
            self.warnings.push(format!(
                "{}: skipped, not a regular file ({kind})",
                path.display()
            ));
            return Ok(());
        }
        if !metadata.is_dir() {
            let is_json = path
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
            if named || is_json {
                self.files.push(path.to_path_buf());
            }
            return Ok(());
        }
        if !self
            .folders
            .insert(fs::canonicalize(path).map_err(io_error)?)
        {
            self.warnings.push(format!(
                "{}: skipped, this folder was read already (a symbolic link leads to it)",
                path.display()
            ));
            return Ok(());
        }
        let mut entries: Vec<_> = fs::read_dir(path)
            .map_err(io_error)?
            .collect::<Result<_, _>>()
            .map_err(io_error)?;
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            self.visit(&entry.path(), false)?;
        }
        Ok(())
    }
}

/// The top-level keys that identify a file's format. Other keys are ignored.
#[derive(Deserialize)]
struct TopLevelKeys<'a> {
    #[serde(borrow)]
    portcullis_snapshot: Option<&'a RawValue>,
    /// An Azure list page.
    #[serde(borrow, default)]
    value: ListValue<'a>,
    /// A single Azure resource.
    #[serde(borrow, rename = "type")]
    resource_type: Option<&'a RawValue>,
    #[serde(borrow, rename = "Reservations")]
    reservations: Option<&'a RawValue>,
    #[serde(borrow, rename = "SecurityGroups")]
    security_groups: Option<&'a RawValue>,
    #[serde(borrow, rename = "NetworkAcls")]
    network_acls: Option<&'a RawValue>,
    #[serde(borrow, rename = "RouteTables")]
    route_tables: Option<&'a RawValue>,
    #[serde(borrow, rename = "Subnets")]
    subnets: Option<&'a RawValue>,
    #[serde(borrow, rename = "PrefixLists")]
    prefix_lists: Option<&'a RawValue>,
    /// Entries of one prefix list (get-managed-prefix-list-entries).
    #[serde(borrow, rename = "Entries")]
    prefix_list_entries: Option<&'a RawValue>,
    #[serde(borrow, rename = "PrefixListId")]
    prefix_list_id: Option<&'a RawValue>,
}

/// A top-level `value`: the elements of an Azure list page when it is an array, else nothing
/// (another format's `value`). Read in the same pass as the other keys, so that a list page's
/// elements are not skipped over twice.
#[derive(Default)]
struct ListValue<'a>(Option<Vec<&'a RawValue>>);

impl<'de: 'a, 'a> Deserialize<'de> for ListValue<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ListValueVisitor(std::marker::PhantomData))
    }
}

struct ListValueVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> serde::de::Visitor<'de> for ListValueVisitor<'a> {
    type Value = ListValue<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut elements = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(element) = seq.next_element()? {
            elements.push(element);
        }
        Ok(ListValue(Some(elements)))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(ListValue(None))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(ListValue(None))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(ListValue(None))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(ListValue(None))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(ListValue(None))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(ListValue(None))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(ListValue(None))
    }
}

/// Loads one file's content; `path_label` names it in sources, origins and errors.
pub fn load_file_bytes(path_label: &str, bytes: &[u8]) -> Result<Loaded, LoadError> {
    let mut loaded = load_content(path_label, bytes)?;
    // Freed now, the spare capacity serves the next files instead of staying allocated.
    loaded.snapshot.shrink_to_fit();
    Ok(loaded)
}

/// Loads one file's content, recognising its format.
fn load_content(path_label: &str, bytes: &[u8]) -> Result<Loaded, LoadError> {
    let file = JsonFile::new(path_label, bytes)?;
    let text = file.text();
    let mut loaded = Loaded::from_file(path_label);
    let first_byte = text.trim_start().as_bytes().first().copied();
    if first_byte == Some(b'[') {
        let elements: Vec<&RawValue> = file.parse(text)?;
        azure::load_resources(&file, &elements, &mut loaded)?;
        return Ok(loaded);
    }
    if first_byte != Some(b'{') {
        // Valid JSON of no known shape is skipped; malformed JSON is still an error.
        file.parse::<&RawValue>(text)?;
        unrecognised(&mut loaded, path_label);
        return Ok(loaded);
    }
    if snapshot::starts_with_version_key(text) {
        return snapshot::load(path_label, bytes, io::empty());
    }
    // Parsed straight from the text: a whole-file pass fewer than parsing it as a value first.
    let keys: TopLevelKeys = file.parse(text)?;
    if let Some(version) = keys.portcullis_snapshot {
        return Err(file.error_at(
            version.get(),
            "\"portcullis_snapshot\" must be the first key of a snapshot file; write snapshots \
             with portcullis"
                .to_string(),
        ));
    }
    let recognised = if let ListValue(Some(elements)) = &keys.value {
        azure::load_resources(&file, elements, &mut loaded)?;
        true
    } else if keys.resource_type.is_some_and(azure::is_resource_type) {
        azure::load_resources(&file, &[file.parse(text)?], &mut loaded)?;
        true
    } else {
        aws::load(&file, &keys, &mut loaded)?
    };
    if !recognised {
        unrecognised(&mut loaded, path_label);
    }
    Ok(loaded)
}

fn unrecognised(loaded: &mut Loaded, label: &str) {
    loaded.warnings.push(format!(
        "{label}: not an export portcullis reads (Azure resources from az or the REST API, AWS CLI \
         describe-* output, or a portcullis snapshot); skipped"
    ));
    loaded.skip(UNRECOGNISED_FILE);
}

/// Folds prefix lists with the same id into one. A list is typically loaded twice: described
/// (name, no entries) by describe-managed-prefix-lists and with its entries from
/// get-managed-prefix-list-entries. The merged list keeps the first name and every entry, so the
/// engine never sees a described copy as unresolved while the entries were loaded.
fn merge_prefix_lists(lists: &mut Vec<PrefixList>) {
    let mut merged: Vec<PrefixList> = Vec::with_capacity(lists.len());
    let mut index_of: BTreeMap<String, usize> = BTreeMap::new();
    for list in lists.drain(..) {
        let Some(&i) = index_of.get(&list.id) else {
            index_of.insert(list.id.clone(), merged.len());
            merged.push(list);
            continue;
        };
        let Some(kept) = merged.get_mut(i) else {
            continue;
        };
        if kept.name.is_empty() {
            kept.name = list.name;
        }
        if let Some(entries) = list.entries {
            let kept_entries = kept.entries.get_or_insert_with(Vec::new);
            for entry in entries {
                if !kept_entries.contains(&entry) {
                    kept_entries.push(entry);
                }
            }
        }
    }
    *lists = merged;
}

#[cfg(test)]
mod tests;
