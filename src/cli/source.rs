//! Where a scan's estate comes from: exported files (`--input`), live clouds (`--azure`), or
//! both, merged into one snapshot; and the exit status of an incomplete live collection.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args};

use crate::collect::{self, CollectionReport, azure};
use crate::load::{self, Loaded};
use crate::model::Snapshot;

/// Where the estate comes from: exported files, live clouds, or both. At least one is needed.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).multiple(true)))]
pub struct SourceArgs {
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
    pub fn gather(&self) -> Result<(Loaded, Vec<CollectionReport>), String> {
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

/// [`collect::EXIT_INCOMPLETE`] when a collection missed some of the estate.
pub fn collection_exit(collection: &[CollectionReport]) -> Option<ExitCode> {
    (!collection.iter().all(|c| c.complete)).then(|| ExitCode::from(collect::EXIT_INCOMPLETE))
}
