//! Reading rules: the embedded built-in files and the user's directories, parsed and merged in
//! order. Built-ins come first, then each directory; a later source replaces a whole section,
//! and replaces controls and recommendations by id. One source may define each thing once.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use ipnetwork::IpNetwork;
use serde_saphyr::Spanned;

use super::error::{Place, Problem};
use super::schema::{ControlDef, OpenWhenBroaderThan, RecommendationDef, RulesFile, SlaDuration};
use super::{InternetRanges, Override, Policy, PolicyError, Severity, resolve};
use crate::input_file;
use crate::limits::Limits;
use crate::model::PortSpec;

/// The built-in rules, embedded so the binary works from any folder.
pub(super) const BUILTIN_FILES: [(&str, &str); 3] = [
    (
        "builtin:rules/internet.yaml",
        include_str!("../../rules/internet.yaml"),
    ),
    (
        "builtin:rules/management-ports.yaml",
        include_str!("../../rules/management-ports.yaml"),
    ),
    (
        "builtin:rules/secure-management-ports.yaml",
        include_str!("../../rules/secure-management-ports.yaml"),
    ),
];

/// A loaded policy with what `rules validate` reports about it.
pub(super) struct Loaded {
    pub policy: Policy,
    /// The files read from the user's directories.
    pub user_files: Vec<String>,
    pub overrides: Vec<Override>,
}

/// A definition and where it came from.
pub(super) struct Defined<T> {
    pub value: T,
    pub place: Place,
    /// Which source (the built-ins or one directory) defined it.
    source: usize,
}

/// Every source merged: the last definition of each section and id.
#[derive(Default)]
pub(super) struct Merged {
    pub internet: Option<Defined<InternetRanges>>,
    pub service_tags: Option<Defined<BTreeMap<String, Vec<IpNetwork>>>>,
    pub management_ports: Option<Defined<Vec<PortSpec>>>,
    pub thresholds: Option<Defined<OpenWhenBroaderThan>>,
    pub jit_rule_prefixes: Option<Defined<Vec<String>>>,
    pub sla: Option<Defined<BTreeMap<Severity, SlaDuration>>>,
    pub controls: Vec<Defined<ControlDef>>,
    pub recommendations: Vec<Defined<RecommendationDef>>,
}

/// The files of one source (the built-ins or one directory): name and text.
pub(super) type Source = Vec<(String, Cow<'static, str>)>;

pub(super) fn load(user_dirs: &[PathBuf], include_builtin: bool) -> Result<Loaded, PolicyError> {
    let mut problems = Vec::new();
    let mut sources = Vec::new();
    if include_builtin {
        sources.push(
            BUILTIN_FILES
                .iter()
                .map(|&(name, text)| (name.to_owned(), Cow::Borrowed(text)))
                .collect(),
        );
    }
    let mut user_files = Vec::new();
    for dir in user_dirs {
        let mut files = Source::new();
        match rules_files(dir) {
            Ok(paths) => {
                for path in paths {
                    let name = path.display().to_string();
                    match input_file::read_text(&path, Limits::DEFAULT_MAX_INPUT_BYTES) {
                        Ok(text) => files.push((name.clone(), Cow::Owned(text))),
                        Err(e) => problems.push(Problem::in_file(
                            &name,
                            format!("cannot read this rules file: {e}"),
                        )),
                    }
                    user_files.push(name);
                }
            }
            Err(problem) => problems.push(problem),
        }
        sources.push(files);
    }
    let (policy, overrides) = merge_sources(sources, include_builtin, problems)?;
    Ok(Loaded {
        policy,
        user_files,
        overrides,
    })
}

/// Parses and merges sources in order, then checks the result. With `first_is_builtin`, the
/// first source is the built-in rules: replacing its definitions is an override.
/// `problems` are those found while reading, reported with the rest.
pub(super) fn merge_sources(
    sources: Vec<Source>,
    first_is_builtin: bool,
    mut problems: Vec<Problem>,
) -> Result<(Policy, Vec<Override>), PolicyError> {
    let mut merger = Merger::default();
    merger.log.builtin_source = first_is_builtin.then_some(0);
    for (source, files) in sources.into_iter().enumerate() {
        for (name, text) in files {
            match parse(&name, &text) {
                Ok(file) => merger.add(source, &name, file),
                Err(problem) => problems.push(problem),
            }
        }
    }
    problems.append(&mut merger.log.problems);
    // Checking the merged policy after a file failed would report that file's sections as
    // missing: fix the files first.
    if !problems.is_empty() {
        return Err(PolicyError { problems });
    }
    let policy = resolve::resolve(merger.merged, first_is_builtin)
        .map_err(|problems| PolicyError { problems })?;
    Ok((policy, merger.log.overrides))
}

/// The rules files of a directory, sorted by name so that load order does not depend on the
/// file system.
fn rules_files(dir: &Path) -> Result<Vec<PathBuf>, Problem> {
    let name = dir.display().to_string();
    let entries = fs::read_dir(dir).map_err(|e| {
        Problem::in_file(
            &name,
            format!("cannot read this rules directory: {e}; check the path given to --rules"),
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.is_file()
                && path
                    .extension()
                    .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    if files.is_empty() {
        return Err(Problem::in_file(
            &name,
            "this rules directory has no .yaml or .yml files; rules files must end in .yaml or .yml",
        ));
    }
    files.sort();
    Ok(files)
}

fn parse(name: &str, text: &str) -> Result<RulesFile, Problem> {
    // A file of comments only is an empty policy fragment, not an error.
    if text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---"
    }) {
        return Ok(RulesFile::default());
    }
    serde_saphyr::from_str::<RulesFile>(text).map_err(|err| Problem::from_yaml(name, &err))
}

/// Merges files source by source into `merged`; `log` notes what clashes or overrides.
#[derive(Default)]
struct Merger {
    merged: Merged,
    log: MergeLog,
}

impl Merger {
    fn add(&mut self, source: usize, file: &str, rules: RulesFile) {
        let (merged, log) = (&mut self.merged, &mut self.log);
        log.section(
            &mut merged.internet,
            "internet",
            rules.internet,
            source,
            file,
        );
        log.section(
            &mut merged.service_tags,
            "service_tags",
            rules.service_tags,
            source,
            file,
        );
        log.section(
            &mut merged.management_ports,
            "management_ports",
            rules.management_ports,
            source,
            file,
        );
        log.section(
            &mut merged.thresholds,
            "open_when_broader_than",
            rules.open_when_broader_than,
            source,
            file,
        );
        log.section(
            &mut merged.jit_rule_prefixes,
            "jit_rule_prefixes",
            rules.jit_rule_prefixes,
            source,
            file,
        );
        log.section(&mut merged.sla, "sla", rules.sla, source, file);
        for control in rules.controls {
            let incoming = Defined {
                place: Place::of(file, &control.id),
                value: control,
                source,
            };
            log.by_id("control", &mut merged.controls, |c| &c.id.value, incoming);
        }
        for recommendation in rules.recommendations {
            let incoming = Defined {
                place: Place::of(file, &recommendation.id),
                value: recommendation,
                source,
            };
            log.by_id(
                "recommendation",
                &mut merged.recommendations,
                |r| &r.id.value,
                incoming,
            );
        }
    }
}

/// Duplicates within one source (problems) and replacements of the built-ins (overrides).
#[derive(Default)]
struct MergeLog {
    problems: Vec<Problem>,
    overrides: Vec<Override>,
    builtin_source: Option<usize>,
}

impl MergeLog {
    fn section<T>(
        &mut self,
        slot: &mut Option<Defined<T>>,
        name: &'static str,
        incoming: Option<Spanned<T>>,
        source: usize,
        file: &str,
    ) {
        let Some(spanned) = incoming else { return };
        let incoming = Defined {
            place: Place::of(file, &spanned),
            value: spanned.value,
            source,
        };
        match slot {
            Some(current) => self.replace("section", name, current, incoming),
            None => *slot = Some(incoming),
        }
    }

    fn by_id<T>(
        &mut self,
        what: &'static str,
        list: &mut Vec<Defined<T>>,
        id_of: impl Fn(&T) -> &String,
        incoming: Defined<T>,
    ) {
        let id = id_of(&incoming.value).clone();
        match list.iter_mut().find(|d| *id_of(&d.value) == id) {
            Some(current) => self.replace(what, &id, current, incoming),
            None => list.push(incoming),
        }
    }

    fn replace<T>(
        &mut self,
        what: &'static str,
        name: &str,
        current: &mut Defined<T>,
        incoming: Defined<T>,
    ) {
        if current.source == incoming.source {
            self.problems.push(Problem::at(
                &incoming.place,
                format!(
                    "{what} `{name}` is also defined at {}; one rules directory may define it \
                     only once: remove or rename one of them",
                    current.place
                ),
            ));
            return;
        }
        if Some(current.source) == self.builtin_source {
            self.overrides.push(Override {
                what,
                name: name.to_owned(),
                by: incoming.place.to_string(),
            });
        }
        *current = incoming;
    }
}
