//! Command-line interface: argument parsing and the subcommands.
//!
//! Exit codes: 0 when the command ran (whatever the findings), 2 on bad input or usage, 3 when
//! live collection missed some regions or subscriptions ([`crate::collect::EXIT_INCOMPLETE`]),
//! or a snapshot scanned records that its collection did; the output is written first.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

use crate::collect::aws::{self as live_aws, AwsOptions, Regions};
use crate::collect::{CollectionReport, EXIT_INCOMPLETE};
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

/// Reading the estate live from AWS.
#[derive(Debug, Args)]
struct AwsArgs {
    /// Read the estate from the AWS EC2 API, with the credentials the AWS CLI would use
    /// (environment, profiles, SSO, instance roles).
    #[arg(long)]
    aws: bool,
    /// Regions to read: `all` (every region enabled for the account) or a list such as
    /// us-east-1,eu-west-1. Default: the region of your AWS configuration.
    #[arg(long, value_name = "all|REGION,…", requires = "aws", value_parser = Regions::parse)]
    regions: Option<Regions>,
    /// The profile of ~/.aws/config to use (else AWS_PROFILE, else the default profile).
    #[arg(long, value_name = "NAME", requires = "aws")]
    profile: Option<String>,
    /// Send EC2 calls to this endpoint instead of AWS's (AWS_ENDPOINT_URL_EC2 and
    /// AWS_ENDPOINT_URL are also honoured).
    #[arg(long, value_name = "URL", requires = "aws")]
    endpoint_url: Option<String>,
    /// How many regions to read at the same time.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
}

impl AwsArgs {
    fn options(&self, quiet: bool) -> Option<AwsOptions> {
        self.aws.then(|| AwsOptions {
            regions: self.regions.clone().unwrap_or(Regions::Configured),
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
            concurrency: usize::from(self.concurrency),
            progress: !quiet,
        })
    }
}

/// The estate from files and live sources, and how the live reading went.
struct Estate {
    loaded: Loaded,
    collection: Vec<CollectionReport>,
}

impl Estate {
    /// Loads `inputs` and reads the live sources asked for; prints each collection's summary
    /// (and, with `timings`, when each region was read) to standard error.
    fn gather(
        inputs: &[PathBuf],
        aws: &AwsArgs,
        quiet: bool,
        timings: bool,
    ) -> Result<Self, String> {
        let mut loaded = if inputs.is_empty() {
            Loaded {
                snapshot: Snapshot::new(),
                ..Loaded::default()
            }
        } else {
            load::load_inputs(inputs).map_err(|e| e.to_string())?
        };
        let mut collection = Vec::new();
        if let Some(options) = aws.options(quiet) {
            let live = live_aws::collect(&options).map_err(|e| e.to_string())?;
            eprintln!("{}", live.collected.report.one_line());
            for scope in live.collected.report.failures() {
                eprintln!(
                    "  {} {} not read: {}",
                    scope.kind,
                    scope.name,
                    scope.error.as_deref().unwrap_or_default()
                );
            }
            if timings {
                for span in &live.spans {
                    eprintln!(
                        "timings: aws {} read from {:.3}s to {:.3}s",
                        span.region, span.started, span.finished
                    );
                }
            }
            loaded.snapshot.merge(live.collected.snapshot);
            collection.push(live.collected.report);
        }
        Ok(Self { loaded, collection })
    }

    /// Exit status 3 when part of the estate could not be read, now or when a snapshot scanned
    /// here was collected.
    fn exit_code(&self) -> ExitCode {
        if self.loaded.snapshot.missing_scopes.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_INCOMPLETE)
        }
    }
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).multiple(true).args(["inputs", "aws"])))]
struct ScanArgs {
    /// An exported file or a folder of them (Azure ARM or az CLI JSON, AWS CLI JSON, portcullis
    /// snapshots). Repeatable.
    #[arg(long = "input", short = 'i', value_name = "PATH")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    aws: AwsArgs,
    /// No progress bars.
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the output to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print how long loading (and reading each region), evaluation and judging took to
    /// standard error.
    #[arg(long)]
    timings: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).multiple(true).args(["inputs", "aws"])))]
struct SnapshotArgs {
    /// An exported file or a folder of them. Repeatable.
    #[arg(long = "input", short = 'i', value_name = "PATH")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    aws: AwsArgs,
    /// No progress bars.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Print when each region was read to standard error.
    #[arg(long)]
    timings: bool,
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
        Ok(code) => code,
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
    let estate = Estate::gather(&args.inputs, &args.aws, args.quiet, args.timings)?;
    let load_time = started.elapsed();
    let exit_code = estate.exit_code();
    let (mut report, timings) = scan::scan(&estate.loaded, &policy);
    report.collection = estate.collection;
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
    Ok(exit_code)
}

fn run_snapshot(args: SnapshotArgs) -> Result<ExitCode, String> {
    let estate = Estate::gather(&args.inputs, &args.aws, args.quiet, args.timings)?;
    let loaded = &estate.loaded;
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
        if estate.collection.is_empty() {
            ""
        } else {
            " and live collection"
        }
    );
    Ok(estate.exit_code())
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
