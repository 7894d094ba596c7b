//! Command-line interface: argument parsing and the subcommands.
//!
//! Exit codes: 0 when the command ran (whatever the findings), 2 on bad input or usage, 3 when
//! live collection missed some regions or subscriptions ([`crate::collect::EXIT_INCOMPLETE`]).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::load;
use crate::model::Snapshot;
use crate::output;
use crate::policy::{self, Policy};
use crate::scan;
use crate::synthetic;

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
    /// Write a synthetic estate of any size, for benchmarks and tests.
    Generate(GenerateArgs),
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
    /// An exported file or a folder of them (Azure ARM or az CLI JSON, AWS CLI JSON, portcullis
    /// snapshots). Repeatable.
    #[arg(long = "input", short = 'i', value_name = "PATH", required = true)]
    inputs: Vec<PathBuf>,
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
    /// An exported file or a folder of them. Repeatable.
    #[arg(long = "input", short = 'i', value_name = "PATH", required = true)]
    inputs: Vec<PathBuf>,
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
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Scan(args) => run_scan(args),
        Command::Snapshot(args) => run_snapshot(args),
        Command::Generate(args) => run_generate(args),
        Command::Rules(RulesCommand::List(args)) => {
            let policy = args.load()?;
            write_text(None, &policy::render_rules_list(&policy))
        }
        Command::Rules(RulesCommand::Validate { dir }) => {
            let report = Policy::validate_dir(&dir).map_err(|e| e.to_string())?;
            write_text(None, &report.render())
        }
    }
}

fn run_scan(args: ScanArgs) -> Result<(), String> {
    let policy = args.policy.load()?;
    let started = Instant::now();
    let loaded = load::load_inputs(&args.inputs).map_err(|e| e.to_string())?;
    let load_time = started.elapsed();
    let (report, timings) = scan::scan(&loaded, &policy);
    // The estate is no longer needed; freeing it before writing keeps peak memory down.
    drop(loaded);
    match args.format {
        Format::Table => write_text(args.output.as_deref(), &output::render_table(&report))?,
        Format::Json => write_output(args.output.as_deref(), |out| {
            output::write_json(&report, out)
        })?,
    }
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
    Ok(())
}

fn run_snapshot(args: SnapshotArgs) -> Result<(), String> {
    let loaded = load::load_inputs(&args.inputs).map_err(|e| e.to_string())?;
    write_snapshot_file(&loaded.snapshot, &args.output)?;
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    eprintln!(
        "wrote {} ({} VMs, {} resources from {} files)",
        args.output.display(),
        loaded.snapshot.vms.len(),
        loaded.snapshot.resource_count(),
        loaded.files
    );
    Ok(())
}

fn write_snapshot_file(snapshot: &Snapshot, path: &Path) -> Result<(), String> {
    write_output(Some(path), |out| load::write_snapshot(snapshot, out))
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
        args.output.display(),
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
