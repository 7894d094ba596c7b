//! `portcullis fix`: `plan` the remediation of an estate read as `scan` reads it and write the
//! plan; `show` it as a readable diff; `apply` it (recover, refuse offline or stale plans, ask,
//! write journaled, verify by a new scan); `undo` what an apply wrote; `recover` after a crash.
//!
//! Exit codes of `fix plan`: 0 when the plan has changes, [`EXIT_NOTHING_TO_DO`] when every
//! selected finding is healthy, [`EXIT_ONLY_SKIPPED`] when findings are unhealthy but nothing can
//! be planned for them (the plan lists why), [`EXIT_PARTIAL`] when closing an expired JIT grant
//! or recovering an earlier write first failed, 3 when part of the estate could not be read (the
//! plan is still written), 2 on bad input. `fix show` exits 0, or 2 when the file is no plan.
//! `fix apply` and `fix undo`: 0 when done and verified (also when there was nothing left to
//! write), [`EXIT_NOTHING_TO_DO`] for a plan without changes, [`EXIT_PARTIAL`] when some writes
//! were blocked, failed, or did not verify, [`EXIT_STALE`] when the plan was refused as stale
//! (nothing written), 2 when refused otherwise. `fix recover`: 0, or [`EXIT_PARTIAL`] when an
//! intent could not be reconciled.

mod write;

pub(super) use write::report_recovered;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::cloud::aws::write::Mode;
use crate::exemptions::VmSelector;
use crate::fix::clouds::{Clouds, Connect};
use crate::fix::journal::{JournalError, Journals};
use crate::fix::{self, Plan, PlanOptions, PlanSource, Strategy};
use crate::model::Snapshot;
use crate::output::escape::visible;

use super::history::StoreArg;
use super::source::{LimitArgs, SourceArgs, incomplete_exit};
use super::{PolicyArgs, write_output, write_text};

/// `fix plan`: nothing to change, every selected finding is healthy.
pub const EXIT_NOTHING_TO_DO: u8 = 4;
/// `fix plan`: findings are unhealthy, but every one is skipped.
pub const EXIT_ONLY_SKIPPED: u8 = 5;
/// `fix apply`, `undo`, `recover`: some writes were blocked, failed or did not verify.
pub const EXIT_PARTIAL: u8 = 6;
/// `fix apply`: the live state has moved past the plan; nothing was written.
pub const EXIT_STALE: u8 = 7;

#[derive(Debug, Subcommand)]
pub(super) enum FixCommand {
    /// Plan the fix of the management-port findings and write it (JSON) for `fix apply`.
    Plan(Box<PlanArgs>),
    /// Print a plan file as a readable diff, with the equivalent commands for an offline plan.
    Show {
        /// The plan file `fix plan` wrote.
        plan: PathBuf,
    },
    /// Apply a plan: re-read every target, refuse a stale plan, ask, write one rule at a time
    /// (journaled), and verify by scanning the touched scopes again.
    Apply(Box<ApplyArgs>),
    /// Take back what `fix apply` wrote for a plan, where the targets still hold what it wrote.
    Undo(Box<WriteArgs>),
    /// Reconcile the writes a `fix` that ended half-way left without an outcome.
    Recover(Box<ConnectArgs>),
}

/// How to reach the clouds to write.
#[derive(Debug, Args)]
pub(super) struct ConnectArgs {
    /// The AWS profile of ~/.aws/config to use (else AWS_PROFILE, else the default).
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Send the EC2 calls to this endpoint instead of AWS's (AWS_ENDPOINT_URL_EC2 and
    /// AWS_ENDPOINT_URL are also honoured).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// The Resource Manager endpoint (sovereign clouds).
    #[arg(
        long,
        value_name = "URL",
        env = "PORTCULLIS_ARM_ENDPOINT",
        default_value = crate::cloud::azure::PUBLIC_CLOUD
    )]
    arm_endpoint: String,
    #[command(flatten)]
    limits: LimitArgs,
}

impl ConnectArgs {
    fn connect(&self) -> Connect {
        Connect {
            aws_profile: self.profile.clone(),
            aws_endpoint: self.endpoint_url.clone(),
            arm_endpoint: self.arm_endpoint.clone(),
            limits: self.limits.limits(),
        }
    }

    fn clouds(&self) -> Result<Clouds, String> {
        Clouds::new(self.connect())
    }
}

/// What `fix apply` and `fix undo` take: the plan, how to reach the clouds, whether to ask.
#[derive(Debug, Args)]
pub(super) struct WriteArgs {
    /// The plan file `fix plan` wrote.
    plan: PathBuf,
    #[command(flatten)]
    connect: ConnectArgs,
    /// Go ahead without asking (for automation); without it, fix asks on a terminal and refuses
    /// elsewhere.
    #[arg(long)]
    yes: bool,
    /// Check everything and ask the clouds whether the writes would be allowed (EC2 DryRun),
    /// writing nothing (expired JIT grants are not closed either).
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    store: StoreArg,
}

impl WriteArgs {
    fn mode(&self) -> Mode {
        if self.dry_run {
            Mode::DryRun
        } else {
            Mode::Apply
        }
    }
}

#[derive(Debug, Args)]
pub(super) struct ApplyArgs {
    #[command(flatten)]
    write: WriteArgs,
    /// The policy the plan was made with (the same --rules as `fix plan`).
    #[command(flatten)]
    policy: PolicyArgs,
}

#[derive(Debug, Args)]
pub(super) struct PlanArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    /// quick-fix: remove the internet's broad access to management ports and nothing else;
    /// jit: lock the ports down with deny rules (Azure) or revokes (AWS) and record JIT policies.
    #[arg(long, value_enum, default_value_t = Strategy::QuickFix)]
    strategy: Strategy,
    /// A recommendation to fix (repeatable). Default: management-ports-closed for quick-fix,
    /// management-ports-jit for jit. internet-facing-vm-nsg (opt-in) gives each Azure NIC with
    /// no NSG a new one, which ends all its inbound internet access.
    #[arg(long = "rule", value_name = "ID")]
    recommendations: Vec<String>,
    /// Fix only these VMs: a glob on the VM's name or id, or tag:KEY / tag:KEY=VALUE
    /// (repeatable; a VM matching any is fixed).
    #[arg(long = "resource", value_name = "GLOB", value_parser = VmSelector::parse)]
    resources: Vec<VmSelector>,
    /// Narrow rules that allow every protocol to TCP and UDP on the other ports plus ICMP
    /// (other protocols lose access); without it such rules are skipped.
    #[arg(long)]
    allow_protocol_narrowing: bool,
    /// Where to write the plan.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: PathBuf,
    #[command(flatten)]
    store: StoreArg,
}

pub(super) fn run(command: FixCommand) -> Result<ExitCode, String> {
    match command {
        FixCommand::Plan(args) => run_plan(*args),
        FixCommand::Show { plan } => {
            let plan = Plan::load(&plan, crate::limits::Limits::default().max_input_bytes)
                .map_err(|e| e.to_string())?;
            write_text(None, &fix::show::render(&plan)).map(|()| ExitCode::SUCCESS)
        }
        FixCommand::Apply(args) => write::run_apply(*args),
        FixCommand::Undo(args) => write::run_undo(*args),
        FixCommand::Recover(args) => write::run_recover(&args),
    }
}

/// Says so when an earlier `fix` left writes without an outcome: the estate read from files may
/// be half-way through a plan. Planning from files writes nothing, so it goes on.
fn warn_pending() {
    let Ok(journals) = Journals::in_state_dir() else {
        return;
    };
    if let Ok(pending) = journals.pending()
        && !pending.value.is_empty()
    {
        eprintln!(
            "warning: {} write(s) of an earlier `portcullis fix` have no recorded outcome (it \
             ended half-way); run `portcullis fix recover` (`fix apply` does it first)",
            pending.value.len()
        );
    }
}

/// The estate to plan for, and whether a write failed. Read live, it is read as every live
/// `fix` and `jit` command reads it: after finishing the writes an earlier command left without
/// an outcome and closing the expired JIT grants ([`super::jit::sweep_first`]). Read from files,
/// or from an AWS organisation's member accounts (through roles `jit` does not write with), it
/// is read as it is; so it is while another `fix` or `jit` writes, as planning does not wait.
fn read_estate(source: &SourceArgs, store: &StoreArg) -> Result<(Snapshot, bool), String> {
    let read = || Ok(source.gather(false)?.0.snapshot);
    let clouds = source.live_clouds();
    if source.has_inputs() || clouds.is_empty() || source.reads_organization() {
        warn_pending();
        return Ok((read()?, false));
    }
    let journals = Journals::in_state_dir().map_err(|e| e.to_string())?;
    if let Err(JournalError::Locked { holder, .. }) = journals.lock() {
        eprintln!(
            "warning: another portcullis (pid {holder}) is writing to the clouds: the estate is \
             read as it is, without closing expired JIT grants first"
        );
        return Ok((read()?, false));
    }
    let swept = super::jit::sweep_first(source.connect(), &clouds, store, read)?;
    let snapshot = match swept.changed {
        true => read()?,
        false => swept.snapshot,
    };
    Ok((snapshot, swept.failed))
}

fn run_plan(args: PlanArgs) -> Result<ExitCode, String> {
    let policy = args.policy.load()?;
    let (snapshot, failed) = read_estate(&args.source, &args.store)?;
    let snapshot = &snapshot;
    if snapshot.vms.is_empty() && snapshot.missing_scopes.is_empty() {
        return Err(
            "no VM in what was read: nothing to plan; check the inputs and the scopes".to_owned(),
        );
    }
    let source = if args.source.has_inputs() {
        PlanSource::Offline {
            files: args.source.describe(),
        }
    } else {
        PlanSource::Live {
            scopes: snapshot.read_scopes.clone(),
        }
    };
    let created = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("cannot format the plan's time: {e}"))?;
    let options = PlanOptions {
        strategy: args.strategy,
        recommendations: args.recommendations,
        resources: args.resources,
        allow_protocol_narrowing: args.allow_protocol_narrowing,
    };
    let plan =
        fix::plan(snapshot, &policy, &options, source, created).map_err(|e| e.to_string())?;
    write_output(Some(&args.output), |out| {
        serde_json::to_writer_pretty(&mut *out, &plan)?;
        out.write_all(b"\n")
    })?;
    write_text(None, &fix::show::render(&plan))?;
    eprintln!(
        "wrote {} ({} change(s), {} skipped)",
        visible(&args.output.display().to_string()),
        plan.changes.len(),
        plan.skipped.len()
    );
    let code = match (plan.changes.is_empty(), plan.skipped.is_empty()) {
        _ if failed => ExitCode::from(EXIT_PARTIAL),
        (false, _) => ExitCode::SUCCESS,
        (true, true) => ExitCode::from(EXIT_NOTHING_TO_DO),
        (true, false) => ExitCode::from(EXIT_ONLY_SKIPPED),
    };
    Ok(incomplete_exit(snapshot).unwrap_or(code))
}
