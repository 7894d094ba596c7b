//! Command-line interface: argument parsing and the subcommands.
//!
//! Exit codes: 0 when the command ran (whatever the findings), 1 when a scan failed a gate
//! (`--fail-on`, `--min-score`; [`crate::gate::EXIT_GATE_FAILED`]), 2 on bad input or usage, 3
//! when live collection missed some regions or subscriptions ([`crate::cloud::EXIT_INCOMPLETE`]);
//! `fix plan` adds 4 (nothing to do) and 5 (only skipped findings), see [`fix`].
//! Every line on standard error shows control and bidi characters of file and cloud names as
//! escapes ([`crate::output::escape`]).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

mod fix;
mod history;
mod jit;
mod source;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::baseline::Baseline;
use crate::cloud;
use crate::exemptions::Exemptions;
use crate::explain;
use crate::gate::{self, Gate};
use crate::load;
use crate::model::Snapshot;
use crate::output::escape::visible;
use crate::output::{self, Report};
use crate::policy::{self, Policy, Severity};
use crate::scan;
use crate::synthetic;
use source::{SourceArgs, incomplete_exit};

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Finds management ports open to the internet on cloud VMs, exactly."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Judge every VM against the policy and print findings and the secure score.
    Scan(ScanArgs),
    /// Convert exported cloud data into one portcullis snapshot file.
    Snapshot(SnapshotArgs),
    /// List, validate or explain policy rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Write a synthetic estate of any size, for benchmarks and tests.
    Generate(GenerateArgs),
    /// Scan as `scan` does and record the run in the audit store (docs/audits.md).
    Audit(history::AuditArgs),
    /// Read the audit store: runs, one run, what changed, the trend and the open findings.
    #[command(subcommand)]
    History(history::HistoryCommand),
    /// Plan the remediation of management-port findings, and show a plan (docs/remediation.md).
    #[command(subcommand)]
    Fix(fix::FixCommand),
    /// Just-in-time access: open a VM's ports to one source for a limited time (docs/jit.md).
    #[command(subcommand)]
    Jit(jit::JitCommand),
}

#[derive(Debug, Args)]
struct PolicyArgs {
    /// A folder of rule files (YAML) that overrides or extends the built-in policy. Repeatable.
    #[arg(long = "rules", value_name = "DIR")]
    rules: Vec<PathBuf>,
    /// Use only the rules given with --rules, not the built-in ones.
    #[arg(long)]
    no_builtin_rules: bool,
}

impl PolicyArgs {
    fn load(&self) -> Result<Policy, String> {
        Policy::load(&self.rules, !self.no_builtin_rules).map_err(|e| e.to_string())
    }
}

#[derive(Debug, Args)]
struct ScanArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the output to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also write SARIF 2.1.0 (for GitHub code scanning) to FILE.
    #[arg(long, value_name = "FILE")]
    output_sarif: Option<PathBuf>,
    /// Also write the HTML posture report to FILE.
    #[arg(long, value_name = "FILE")]
    output_html: Option<PathBuf>,
    /// Also write the JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    output_json: Option<PathBuf>,
    /// Exit with status 1 when an unhealthy finding of this severity or higher (low, medium,
    /// high, critical) remains that is not exempt and, with --baseline, is new.
    #[arg(long, value_name = "SEVERITY", value_parser = str::parse::<Severity>)]
    fail_on: Option<Severity>,
    /// Exit with status 1 when the secure score is below N percent.
    #[arg(long, value_name = "N", value_parser = gate::parse_min_score)]
    min_score: Option<f64>,
    /// An earlier JSON or SARIF output: findings already in it do not count for --fail-on, and
    /// outputs mark findings new or unchanged and list the fixed ones.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// A YAML file of accepted findings, each with a justification, an owner and an expiry date
    /// (see docs/reports.md).
    #[arg(long, value_name = "FILE")]
    exemptions: Option<PathBuf>,
    /// Print how long loading, evaluation and judging took to standard error.
    #[arg(long)]
    timings: bool,
    /// Accept an estate with no VM at all (it then passes every gate); without it, such a scan
    /// is an error (exit 2), since an empty folder or unrecognised files judge nothing.
    #[arg(long)]
    allow_empty: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
    /// A self-contained HTML page.
    Html,
}

#[derive(Debug, Args)]
struct SnapshotArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Print when each region was read to standard error.
    #[arg(long)]
    timings: bool,
    /// Where to write the snapshot.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: PathBuf,
}

#[derive(Debug, Args)]
struct GenerateArgs {
    /// Number of VMs (Azure VMs or EC2 instances).
    #[arg(long)]
    vms: usize,
    /// Number of Azure NSGs or AWS security groups.
    #[arg(long)]
    nsgs: usize,
    /// Custom rules per NSG (for AWS: rules, one source each, per security group).
    #[arg(long)]
    rules_per_nsg: usize,
    /// Which cloud; `mixed` puts half the VMs and NSGs in each.
    #[arg(long, value_enum, default_value_t = synthetic::Clouds::Azure)]
    provider: synthetic::Clouds,
    /// Seed of the generator: the same seed gives the same estate.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// One snapshot file, or a folder of the clouds' own export files.
    #[arg(long, value_enum, default_value_t = EstateFormat::Snapshot)]
    format: EstateFormat,
    /// The snapshot file, or the folder (new or empty) for export files.
    #[arg(long, short = 'o', value_name = "PATH")]
    output: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum EstateFormat {
    Snapshot,
    Export,
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Print every control and recommendation of the policy.
    List(PolicyArgs),
    /// Check a folder of rule files and say what it defines and overrides.
    Validate {
        /// The folder to check.
        dir: PathBuf,
    },
    /// Print a recommendation's documentation: what it flags and why, examples scanned now, and
    /// the remediation.
    Explain {
        /// The recommendation id (`portcullis rules list` shows them).
        id: String,
        #[command(flatten)]
        policy: PolicyArgs,
    },
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {}", visible(&message));
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Scan(args) => run_scan(&args, Then::Exit, |_| Ok(None), |_| Ok(())),
        Command::Audit(args) => history::run_audit(args),
        Command::History(command) => history::run_history(command),
        Command::Fix(command) => fix::run(command),
        Command::Jit(command) => jit::run(command),
        Command::Snapshot(args) => run_snapshot(args),
        Command::Generate(args) => run_generate(args).map(|()| ExitCode::SUCCESS),
        Command::Rules(RulesCommand::List(args)) => {
            let policy = args.load()?;
            write_text(None, &policy::render_rules_list(&policy)).map(|()| ExitCode::SUCCESS)
        }
        Command::Rules(RulesCommand::Validate { dir }) => {
            let report = Policy::validate_dir(&dir).map_err(|e| e.to_string())?;
            write_text(None, &report.render()).map(|()| ExitCode::SUCCESS)
        }
        Command::Rules(RulesCommand::Explain { id, policy }) => run_explain(&id, &policy),
    }
}

/// `rules explain`: exit 0 when every example holds, 1 when one does not (so CI can run it over
/// a rules directory), 2 for an unknown id.
fn run_explain(id: &str, args: &PolicyArgs) -> Result<ExitCode, String> {
    let policy = args.load()?;
    let Some(recommendation) = policy.recommendation(id) else {
        let known: Vec<&str> = policy
            .recommendations
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        return Err(format!(
            "no recommendation `{id}` in the policy; known ids: {} (`portcullis rules list` \
             describes them)",
            known.join(", ")
        ));
    };
    let checks = explain::check_examples(&policy, recommendation);
    write_text(None, &explain::render(&policy, recommendation, &checks))?;
    let failed = checks.iter().filter(|c| !c.holds()).count();
    if failed > 0 {
        eprintln!("error: {failed} of {} examples do not hold", checks.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// What a scan produced, for a caller that records it (`audit`).
struct Scanned<'a> {
    report: &'a Report,
    policy: &'a Policy,
    sources: Vec<String>,
    missing: &'a [crate::model::MissingScope],
}

/// Whether the process ends after a scan (`scan`, a single `audit`) or scans again (`audit
/// --every`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    Exit,
    ScanAgain,
}

/// Whether a scan writes the HTML report.
fn writes_html(args: &ScanArgs) -> bool {
    args.output_html.is_some() || matches!(args.format, Format::Html)
}

/// Runs `scan`; `prepare` may add an audit's history to the report, which is then written;
/// `after` is called before working out the exit status.
fn run_scan(
    args: &ScanArgs,
    then: Then,
    prepare: impl FnOnce(Scanned) -> Result<Option<output::History>, String>,
    after: impl FnOnce(Scanned) -> Result<(), String>,
) -> Result<ExitCode, String> {
    let policy = args.policy.load()?;
    let max_input = args.source.limits().max_input_bytes;
    let exemptions = args
        .exemptions
        .as_deref()
        .map(|path| Exemptions::load(path, &policy, max_input).map_err(|e| e.to_string()))
        .transpose()?;
    let baseline = args
        .baseline
        .as_deref()
        .map(|path| Baseline::load(path, max_input))
        .transpose()?;
    let started = Instant::now();
    let (loaded, collection) = args.source.gather(args.timings)?;
    let load_time = started.elapsed();
    // With a scope unread the run is partial (exit 3) and says so: no VM may be why.
    let nothing_missing = loaded.snapshot.missing_scopes.is_empty();
    if loaded.snapshot.vms.is_empty() && nothing_missing && !args.allow_empty {
        return Err(empty_estate(&loaded, &collection));
    }
    let incomplete = incomplete_exit(&loaded.snapshot);
    let today = time::OffsetDateTime::now_utc().date();
    let (mut report, timings) =
        scan::scan_with(&loaded, &policy, exemptions.as_ref().map(|e| (e, today)));
    let missing = loaded.snapshot.missing_scopes.clone();
    // The estate is no longer needed: it is freed on another thread while the outputs are
    // written, which keeps peak memory down without making the writing wait for it. The thread
    // is not waited for: what it has not freed when the process ends, the exit reclaims.
    std::thread::spawn(move || drop(loaded));
    report.collection = collection;
    if let Some(baseline) = &baseline {
        report.baseline = Some(baseline.compare(&mut report.findings));
    }
    let gate = Gate {
        fail_on: args.fail_on,
        min_score: args.min_score,
    };
    if gate.is_set() {
        report.gate = Some(gate.check(&report));
    }
    report.history = prepare(Scanned {
        report: &report,
        policy: &policy,
        sources: args.source.describe(),
        missing: &missing,
    })?;
    let base =
        std::env::current_dir().map_err(|e| format!("cannot read the working directory: {e}"))?;
    // Each output is written as it is rendered; JSON is streamed, since a large estate's report
    // is hundreds of megabytes.
    let write = |path: Option<&Path>, format: Format| match format {
        Format::Json => write_output(path, |out| output::write_json(&report, out)),
        Format::Table => write_text(path, &output::render_table(&report, &policy)),
        Format::Sarif => write_text(path, &output::render_sarif(&report, &policy, &base)),
        Format::Html => write_text(path, &output::render_html(&report, &policy)),
    };
    for (path, format) in [
        (&args.output_sarif, Format::Sarif),
        (&args.output_html, Format::Html),
        (&args.output_json, Format::Json),
    ] {
        if let Some(path) = path {
            write(Some(path), format)?;
        }
    }
    write(args.output.as_deref(), args.format)?;
    if args.output_sarif.is_some() || matches!(args.format, Format::Sarif) {
        for notice in output::sarif_notices(&report) {
            eprintln!("warning: SARIF {}", visible(&notice));
        }
    }
    if args.timings {
        eprintln!(
            "timings: load {:.3}s ({} files, {} resources), evaluate {:.3}s ({} VMs), judge+score {:.3}s + remediation commands {:.3}s",
            load_time.as_secs_f64(),
            report.summary.files,
            report.summary.resources,
            timings.evaluate.as_secs_f64(),
            report.summary.vms,
            timings.judge.as_secs_f64(),
            timings.remediate.as_secs_f64(),
        );
    }
    after(Scanned {
        report: &report,
        policy: &policy,
        sources: args.source.describe(),
        missing: &missing,
    })?;
    // An incomplete collection outranks a failed gate: the findings cover part of the estate.
    let gate = gate_exit(&report);
    // When the process ends now, the report's many small allocations are left to the operating
    // system rather than freed one by one (a tenth of a large scan's time); a process that scans
    // again frees them, on another thread as the estate's.
    match then {
        Then::Exit => std::mem::forget(report),
        Then::ScanAgain => {
            std::thread::spawn(move || drop(report));
        }
    }
    Ok(incomplete.unwrap_or(gate))
}

/// The error for an estate with no VM: what was read, and what to do.
fn empty_estate(loaded: &load::Loaded, collection: &[cloud::CollectionReport]) -> String {
    const SHOWN: usize = 5;
    let sources = &loaded.snapshot.sources;
    let mut read = match sources.len() {
        0 => std::iter::once("no input file".to_string())
            .chain(loaded.warnings.iter().take(SHOWN).cloned())
            .collect(),
        n => {
            let mut files: Vec<&str> = sources.iter().take(SHOWN).map(String::as_str).collect();
            if n > SHOWN {
                files.push("…");
            }
            vec![format!("{n} file(s): {}", files.join(", "))]
        }
    };
    read.extend(collection.iter().map(|c| c.one_line()));
    let skipped: Vec<String> = loaded
        .skipped
        .iter()
        .map(|(what, count)| format!("{count} {what}"))
        .collect();
    let skipped = if skipped.is_empty() {
        String::new()
    } else {
        format!(" (skipped: {})", skipped.join(", "))
    };
    format!(
        "no VM to judge in what was read: {}{skipped}; a scan of nothing passes every gate, so \
         this is refused. Check the inputs and the scopes, or pass --allow-empty if the estate \
         may have no VM",
        read.join("; ")
    )
}

/// Exit status 1 and the reasons on standard error when a gate failed.
fn gate_exit(report: &Report) -> ExitCode {
    match &report.gate {
        Some(outcome) if !outcome.passed => {
            for failure in &outcome.failures {
                eprintln!("gate failed: {}", visible(failure));
            }
            ExitCode::from(gate::EXIT_GATE_FAILED)
        }
        _ => ExitCode::SUCCESS,
    }
}

fn run_snapshot(args: SnapshotArgs) -> Result<ExitCode, String> {
    let (loaded, collection) = args.source.gather(args.timings)?;
    write_snapshot_file(&loaded.snapshot, &args.output)?;
    for warning in &loaded.warnings {
        eprintln!("warning: {}", visible(warning));
    }
    eprintln!(
        "wrote {} ({} VMs, {} resources from {} files{})",
        visible(&args.output.display().to_string()),
        loaded.snapshot.vms.len(),
        loaded.snapshot.resource_count(),
        loaded.files,
        collection
            .iter()
            .map(|c| format!(" and {}", c.provider))
            .collect::<String>()
    );
    Ok(incomplete_exit(&loaded.snapshot).unwrap_or(ExitCode::SUCCESS))
}

fn write_snapshot_file(snapshot: &Snapshot, path: &Path) -> Result<(), String> {
    let file =
        fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let mut writer = io::BufWriter::new(file);
    load::write_snapshot(snapshot, &mut writer)
        .and_then(|()| writer.flush())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn run_generate(args: GenerateArgs) -> Result<(), String> {
    let snapshot = synthetic::generate(&synthetic::Params {
        vms: args.vms,
        nsgs: args.nsgs,
        rules_per_nsg: args.rules_per_nsg,
        clouds: args.provider,
        seed: args.seed,
    });
    match args.format {
        EstateFormat::Snapshot => write_snapshot_file(&snapshot, &args.output)?,
        EstateFormat::Export => synthetic::export::write(&snapshot, &args.output)
            .map_err(|e| format!("cannot write {}: {e}", args.output.display()))?,
    }
    eprintln!(
        "wrote {} ({} VMs, {} resources)",
        visible(&args.output.display().to_string()),
        snapshot.vms.len(),
        snapshot.resource_count()
    );
    Ok(())
}

fn write_text(path: Option<&Path>, text: &str) -> Result<(), String> {
    write_output(path, |out| out.write_all(text.as_bytes()))
}

/// Runs `write` on FILE, or on standard output when there is none, buffered.
fn write_output(
    path: Option<&Path>,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), String> {
    match path {
        Some(path) => {
            let file = fs::File::create(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            let mut out = io::BufWriter::new(file);
            write(&mut out)
                .and_then(|()| out.flush())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        None => {
            let mut out = io::BufWriter::new(io::stdout().lock());
            match write(&mut out).and_then(|()| out.flush()) {
                // A closed pipe (`| head`) is not an error worth reporting.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                other => other.map_err(|e| format!("cannot write to standard output: {e}")),
            }
        }
    }
}
