//! Command-line interface: argument parsing and the subcommands.
//!
//! Exit codes: 0 when the command ran (whatever the findings), 2 on bad input or usage, 3 when
//! live collection missed some regions or subscriptions ([`crate::collect::EXIT_INCOMPLETE`]),
//! after the output is written.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

use crate::collect::{self, CollectionReport, azure};
use crate::load::{self, Loaded};
use crate::model::Snapshot;
use crate::output;
use crate::policy::{self, Policy};
use crate::scan;

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
    /// List or validate policy rules.
    #[command(subcommand)]
    Rules(RulesCommand),
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

/// Where the estate comes from: exported files, live clouds, or both. At least one is needed.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).multiple(true)))]
struct SourceArgs {
    /// An exported file or a folder of them (Azure ARM or az CLI JSON, AWS CLI JSON, portcullis
    /// snapshots). Repeatable.
    #[arg(long = "input", short = 'i', value_name = "PATH", group = "source")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    azure: AzureArgs,
    /// Draw no progress bars and print no collection summary on standard error.
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(Debug, Args)]
struct AzureArgs {
    /// Read the estate live from Azure Resource Manager, as the identity in AZURE_ACCESS_TOKEN
    /// (a bearer token), else the environment's service principal or workload identity, a
    /// managed identity, or the Azure CLI's login.
    #[arg(long, group = "source")]
    azure: bool,
    /// With --azure: `all` (every subscription the identity can read) or subscription ids,
    /// comma-separated.
    #[arg(
        long,
        value_name = "all|ID,ID",
        value_delimiter = ',',
        default_value = "all",
        requires = "azure"
    )]
    subscriptions: Vec<String>,
    /// With --azure: the Resource Manager endpoint (sovereign clouds).
    #[arg(
        long,
        value_name = "URL",
        env = "PORTCULLIS_ARM_ENDPOINT",
        default_value = azure::PUBLIC_CLOUD
    )]
    arm_endpoint: String,
}

impl SourceArgs {
    /// The estate from every source given, and how each live collection went. Collection
    /// failures of some subscriptions or regions are reported on standard error here.
    fn gather(&self) -> Result<(Loaded, Vec<CollectionReport>), String> {
        let mut loaded = if self.inputs.is_empty() {
            Loaded {
                snapshot: Snapshot::new(),
                ..Loaded::default()
            }
        } else {
            load::load_inputs(&self.inputs).map_err(|e| e.to_string())?
        };
        let mut collection = Vec::new();
        if self.azure.azure {
            let collected = azure::collect(&azure::AzureOptions {
                subscriptions: azure::Subscriptions::parse(&self.azure.subscriptions)?,
                arm_endpoint: self.azure.arm_endpoint.clone(),
                credential: azure::Credential::from_env(),
                progress: !self.quiet,
            })?;
            loaded.snapshot.merge(collected.snapshot);
            collection.push(collected.report);
        }
        for report in &collection {
            if !self.quiet {
                eprintln!("{}", report.one_line());
            }
            for failed in report.failures() {
                let error = failed.error.as_deref().unwrap_or_default();
                eprintln!("error: {} {}: {error}", failed.kind, failed.name);
            }
        }
        Ok((loaded, collection))
    }
}

/// Success, or [`collect::EXIT_INCOMPLETE`] when a collection missed some of the estate.
fn exit_status(collection: &[CollectionReport]) -> ExitCode {
    if collection.iter().all(|c| c.complete) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(collect::EXIT_INCOMPLETE)
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
    /// Print how long loading, evaluation and judging took to standard error.
    #[arg(long)]
    timings: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
struct SnapshotArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Where to write the snapshot.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: PathBuf,
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
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(status) => status,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Scan(args) => run_scan(args),
        Command::Snapshot(args) => run_snapshot(args),
        Command::Rules(RulesCommand::List(args)) => {
            let policy = args.load()?;
            write_output(None, &policy::render_rules_list(&policy))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules(RulesCommand::Validate { dir }) => {
            let report = Policy::validate_dir(&dir).map_err(|e| e.to_string())?;
            write_output(None, &report.render())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run_scan(args: ScanArgs) -> Result<ExitCode, String> {
    let policy = args.policy.load()?;
    let started = Instant::now();
    let (loaded, collection) = args.source.gather()?;
    let load_time = started.elapsed();
    let (mut report, timings) = scan::scan(&loaded, &policy);
    report.collection = collection;
    let text = match args.format {
        Format::Table => output::render_table(&report),
        Format::Json => output::render_json(&report),
    };
    write_output(args.output.as_deref(), &text)?;
    if args.timings {
        eprintln!(
            "timings: load {:.3}s ({} files, {} resources), evaluate {:.3}s ({} VMs), judge+score {:.3}s",
            load_time.as_secs_f64(),
            report.summary.files,
            report.summary.resources,
            timings.evaluate.as_secs_f64(),
            report.summary.vms,
            timings.judge.as_secs_f64(),
        );
    }
    Ok(exit_status(&report.collection))
}

fn run_snapshot(args: SnapshotArgs) -> Result<ExitCode, String> {
    let (loaded, collection) = args.source.gather()?;
    let file = fs::File::create(&args.output)
        .map_err(|e| format!("cannot create {}: {e}", args.output.display()))?;
    let mut writer = io::BufWriter::new(file);
    load::write_snapshot(&loaded.snapshot, &mut writer)
        .and_then(|()| writer.flush())
        .map_err(|e| format!("cannot write {}: {e}", args.output.display()))?;
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    eprintln!(
        "wrote {} ({} VMs, {} resources from {} files{})",
        args.output.display(),
        loaded.snapshot.vms.len(),
        loaded.snapshot.resource_count(),
        loaded.files,
        collection
            .iter()
            .map(|c| format!(" and {}", c.provider))
            .collect::<String>()
    );
    Ok(exit_status(&collection))
}

fn write_output(path: Option<&Path>, text: &str) -> Result<(), String> {
    match path {
        Some(path) => {
            fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        None => {
            let mut stdout = io::stdout().lock();
            match stdout.write_all(text.as_bytes()) {
                // A closed pipe (`| head`) is not an error worth reporting.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                other => other.map_err(|e| format!("cannot write to standard output: {e}")),
            }
        }
    }
}
