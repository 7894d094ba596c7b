//! Where a scan's estate comes from: exported files (`--input`), live clouds (`--aws`,
//! `--azure`), or several, merged into one snapshot; and the exit status of an estate that is
//! known to be incomplete.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args};

use crate::cloud::aws::{
    self as live_aws, Accounts, AwsOptions, Organization, Regions, RoleName, parse_external_id,
};
use crate::cloud::{self, CollectionReport, azure};
use crate::fix::clouds::Connect;
use crate::limits::{self, Limits};
use crate::load::{self, Loaded};
use crate::model::{Provider, Snapshot};
use crate::output::escape::visible;

/// Where the estate comes from: exported files, live clouds, or both. At least one is needed.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).multiple(true)))]
pub struct SourceArgs {
    /// An exported file or a folder of them (Azure ARM or az CLI JSON, AWS CLI JSON, portcullis
    /// snapshots). Repeatable.
    #[arg(long = "input", short = 'i', value_name = "PATH", group = "source")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    azure: AzureArgs,
    #[command(flatten)]
    limits: LimitArgs,
    /// Draw no progress bars and print no collection summary on standard error.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// Reading the estate live from AWS.
#[derive(Debug, Args)]
struct AwsArgs {
    /// Read the estate from the AWS EC2 API, with the credentials the AWS CLI would use
    /// (environment, profiles, SSO, instance roles).
    #[arg(long, group = "source")]
    aws: bool,
    /// With --aws: regions to read: `all` (every region enabled for the account) or a list such
    /// as us-east-1,eu-west-1. Default: the region of your AWS configuration.
    #[arg(long, value_name = "all|REGION,…", requires = "aws", value_parser = Regions::parse)]
    regions: Option<Regions>,
    /// With --aws: the profile of ~/.aws/config to use (else AWS_PROFILE, else the default).
    #[arg(long, value_name = "NAME", requires = "aws")]
    profile: Option<String>,
    /// With --aws: send the AWS calls (EC2, and STS and Organizations with --accounts) to this
    /// endpoint instead of AWS's (AWS_ENDPOINT_URL_EC2 and AWS_ENDPOINT_URL are also honoured).
    #[arg(long, value_name = "URL", requires = "aws")]
    endpoint_url: Option<String>,
    /// With --aws and --role-name: read these accounts of the organisation: `all` (every ACTIVE
    /// account, as Organizations ListAccounts lists them from the management or a
    /// delegated-administrator account) or account ids, comma-separated.
    #[arg(
        long,
        value_name = "all|ID,ID",
        requires_all = ["aws", "role_name"],
        value_parser = Accounts::parse
    )]
    accounts: Option<Accounts>,
    /// With --accounts: the role each member account holds for portcullis, assumed as
    /// arn:aws:iam::ACCOUNT:role/NAME (your own account is read with your own credentials).
    #[arg(long, value_name = "NAME", requires = "accounts", value_parser = RoleName::parse)]
    role_name: Option<RoleName>,
    /// With --role-name: the external id the member role's trust policy asks for.
    #[arg(long, value_name = "ID", requires = "role_name", value_parser = parse_external_id)]
    external_id: Option<String>,
    /// With --aws: how many regions to read at the same time.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
}

impl AwsArgs {
    /// The organisation to read, with --accounts (which clap lets through only with --role-name).
    fn organization(&self) -> Option<Organization> {
        Some(Organization {
            accounts: self.accounts.clone()?,
            role_name: self.role_name.clone()?,
            external_id: self.external_id.clone(),
        })
    }
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

/// Bounds on live calls and input files (docs/limits.md).
#[derive(Debug, Args)]
pub(super) struct LimitArgs {
    /// Give up on a connection not established within this time (e.g. 10s).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = limits::parse_duration)]
    connect_timeout: std::time::Duration,
    /// Give up on a response that stays silent this long: no headers, or no more bytes.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = limits::parse_duration)]
    read_timeout: std::time::Duration,
    /// Fail a region or subscription not read within this time, retries included; the others go
    /// on, and the exit status is 3.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = limits::parse_duration)]
    scope_deadline: std::time::Duration,
    /// Obey a throttling answer's Retry-After up to this long; a longer one is cut to it.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = limits::parse_duration)]
    max_retry_after: std::time::Duration,
    /// Refuse an API response body larger than this (e.g. 256MiB).
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = limits::parse_size)]
    max_response_size: u64,
    /// Refuse an input file larger than this (e.g. 2GiB).
    #[arg(long, value_name = "SIZE", default_value = "2GiB", value_parser = limits::parse_size)]
    max_input_size: u64,
}

impl LimitArgs {
    pub(super) fn limits(&self) -> Limits {
        Limits {
            connect_timeout: self.connect_timeout,
            read_timeout: self.read_timeout,
            scope_deadline: self.scope_deadline,
            max_retry_after: self.max_retry_after,
            max_response_bytes: self.max_response_size,
            max_input_bytes: self.max_input_size,
        }
    }
}

impl SourceArgs {
    /// What the estate was read from, for the audit store: each input path, then `aws` and
    /// `azure` for live collection.
    pub fn describe(&self) -> Vec<String> {
        let mut sources: Vec<String> = self
            .inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        sources.extend(self.aws.aws.then(|| "aws".to_owned()));
        sources.extend(self.azure.azure.then(|| "azure".to_owned()));
        sources
    }

    /// Whether any `--input` was given: the estate then is (partly) files, not the live state.
    pub fn has_inputs(&self) -> bool {
        !self.inputs.is_empty()
    }

    /// The Resource Manager endpoint when the estate is read live from Azure (`--azure`).
    pub fn azure_endpoint(&self) -> Option<&str> {
        self.azure.azure.then_some(self.azure.arm_endpoint.as_str())
    }

    /// The clouds the estate is read from live (`--azure`, `--aws`).
    pub fn live_clouds(&self) -> Vec<Provider> {
        let azure = self.azure_endpoint().map(|_| Provider::Azure);
        let aws = self.reads_aws().then_some(Provider::Aws);
        azure.into_iter().chain(aws).collect()
    }

    /// Whether member accounts of an AWS organisation are read (`--accounts`).
    pub fn reads_organization(&self) -> bool {
        self.aws.accounts.is_some()
    }

    /// Whether the estate is read live from AWS (`--aws`).
    pub fn reads_aws(&self) -> bool {
        self.aws.aws
    }

    /// How `fix`'s writers reach the clouds given here (`--profile`, `--endpoint-url`,
    /// `--arm-endpoint`, the limits).
    pub fn connect(&self) -> Connect {
        Connect {
            aws_profile: self.aws.profile.clone(),
            aws_endpoint: self.aws.endpoint_url.clone(),
            arm_endpoint: self.azure.arm_endpoint.clone(),
            limits: self.limits(),
        }
    }

    /// The bounds this command's reading runs under.
    pub fn limits(&self) -> Limits {
        self.limits.limits()
    }

    /// The estate from every source given, and how each live collection went. Collection
    /// failures of some subscriptions or regions are reported on standard error here.
    pub fn gather(&self, timings: bool) -> Result<(Loaded, Vec<CollectionReport>), String> {
        let mut loaded = if self.inputs.is_empty() {
            Loaded {
                snapshot: Snapshot::new(),
                ..Loaded::default()
            }
        } else {
            load::load_inputs_within(&self.inputs, &self.limits()).map_err(|e| e.to_string())?
        };
        let mut collection = Vec::new();
        if self.aws.aws {
            let live = live_aws::collect(&AwsOptions {
                regions: self.aws.regions.clone().unwrap_or(Regions::Configured),
                profile: self.aws.profile.clone(),
                endpoint_url: self.aws.endpoint_url.clone(),
                concurrency: usize::from(self.aws.concurrency),
                progress: !self.quiet,
                limits: self.limits(),
                organization: self.aws.organization(),
            })
            .map_err(|e| e.to_string())?;
            if timings {
                for span in &live.spans {
                    let account = span
                        .account
                        .as_ref()
                        .map(|a| format!("{a} "))
                        .unwrap_or_default();
                    eprintln!(
                        "timings: aws {account}{} read from {:.3}s to {:.3}s",
                        span.region, span.started, span.finished
                    );
                }
            }
            loaded.snapshot.merge(live.collected.snapshot);
            collection.push(live.collected.report);
        }
        if self.azure.azure {
            let collected = azure::collect(&azure::AzureOptions {
                subscriptions: azure::Subscriptions::parse(&self.azure.subscriptions)?,
                arm_endpoint: self.azure.arm_endpoint.clone(),
                credential: azure::Credential::from_env(),
                progress: !self.quiet,
                limits: self.limits(),
            })?;
            loaded.snapshot.merge(collected.snapshot);
            collection.push(collected.report);
        }
        for report in &collection {
            if !self.quiet {
                eprintln!("{}", visible(&report.one_line()));
            }
            for failed in report.failures() {
                let error = failed.error.as_deref().unwrap_or_default();
                eprintln!("error: {}: {}", visible(&failed.label()), visible(error));
            }
        }
        Ok((loaded, collection))
    }
}

/// [`cloud::EXIT_INCOMPLETE`] when part of the estate could not be read, now or when a
/// snapshot scanned here was collected.
pub fn incomplete_exit(snapshot: &Snapshot) -> Option<ExitCode> {
    (!snapshot.missing_scopes.is_empty()).then(|| ExitCode::from(cloud::EXIT_INCOMPLETE))
}
