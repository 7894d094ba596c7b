//! `portcullis fix plan` and `fix show`: plan the remediation of an estate read as `scan` reads
//! it, write the plan, and print it as a readable diff.
//!
//! Exit codes of `fix plan`: 0 when the plan has changes, [`EXIT_NOTHING_TO_DO`] when every
//! selected finding is healthy, [`EXIT_ONLY_SKIPPED`] when findings are unhealthy but nothing can
//! be planned for them (the plan lists why), 3 when part of the estate could not be read (the
//! plan is still written), 2 on bad input. `fix show` exits 0, or 2 when the file is no plan.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::exemptions::VmSelector;
use crate::fix::{self, Plan, PlanOptions, PlanSource, Strategy};
use crate::output::escape::visible;

use super::source::{SourceArgs, incomplete_exit};
use super::{PolicyArgs, write_output, write_text};

/// `fix plan`: nothing to change, every selected finding is healthy.
pub const EXIT_NOTHING_TO_DO: u8 = 4;
/// `fix plan`: findings are unhealthy, but every one is skipped.
pub const EXIT_ONLY_SKIPPED: u8 = 5;

#[derive(Debug, Subcommand)]
pub(super) enum FixCommand {
    /// Plan the fix of the management-port findings and write it (JSON) for `fix apply`.
    Plan(Box<PlanArgs>),
    /// Print a plan file as a readable diff, with the equivalent commands for an offline plan.
    Show {
        /// The plan file `fix plan` wrote.
        plan: PathBuf,
    },
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
    /// management-ports-jit for jit.
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
}

pub(super) fn run(command: FixCommand) -> Result<ExitCode, String> {
    match command {
        FixCommand::Plan(args) => run_plan(*args),
        FixCommand::Show { plan } => {
            let plan = Plan::load(&plan, crate::limits::Limits::default().max_input_bytes)
                .map_err(|e| e.to_string())?;
            write_text(None, &fix::show::render(&plan)).map(|()| ExitCode::SUCCESS)
        }
    }
}

fn run_plan(args: PlanArgs) -> Result<ExitCode, String> {
    let policy = args.policy.load()?;
    let (loaded, _) = args.source.gather(false)?;
    let snapshot = &loaded.snapshot;
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
        (false, _) => ExitCode::SUCCESS,
        (true, true) => ExitCode::from(EXIT_NOTHING_TO_DO),
        (true, false) => ExitCode::from(EXIT_ONLY_SKIPPED),
    };
    Ok(incomplete_exit(snapshot).unwrap_or(code))
}
