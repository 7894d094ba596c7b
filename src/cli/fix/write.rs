//! `fix apply`, `fix undo` and `fix recover`: the commands that write to the clouds. Each takes
//! the apply lock, reconciles what an earlier `fix` left half-done, then runs its stages
//! ([`crate::fix::apply`], [`crate::fix::undo`], [`crate::fix::verify`]) and prints what each
//! write did; an apply ends with a new scan of the touched scopes.

use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;

use crate::cloud::aws::write::Mode;
use crate::fix::apply::{self, ChangeOutcome, RefusedError};
use crate::fix::clouds::{Clouds, StepError, Wrote};
use crate::fix::journal::{ApplyLock, Journals, PlanId, TornTail};
use crate::fix::recover::{self, RecoverResult, Recovered};
use crate::fix::undo::{self, UndoResult};
use crate::fix::{Plan, verify};
use crate::output::escape::visible;

use super::{ApplyArgs, ConnectArgs, EXIT_NOTHING_TO_DO, EXIT_PARTIAL, EXIT_STALE, WriteArgs};

/// `fix apply`.
pub(super) fn run_apply(
    ApplyArgs {
        write: args,
        policy,
    }: ApplyArgs,
) -> Result<ExitCode, String> {
    let plan = load_plan(&args.plan)?;
    let policy = policy.load()?;
    apply::refuse(&plan, &policy.digest()).map_err(|e| e.to_string())?;
    if plan.changes.is_empty() {
        eprintln!("plan {} has no changes: nothing to apply", plan.id);
        return Ok(ExitCode::from(EXIT_NOTHING_TO_DO));
    }
    let swept = sweep_first(&plan, &args)?;
    let mut clouds = args.connect.clouds()?;
    let journals = Journals::in_state_dir().map_err(|e| e.to_string())?;
    let lock = journals.lock().map_err(|e| e.to_string())?;
    let recovered = recover_first(&journals, &lock, &mut clouds)?;
    let checked = match apply::check(&plan, &mut clouds) {
        Ok(checked) => checked,
        Err(error @ RefusedError::Stale { .. }) => {
            eprintln!("error: {}", visible(&error.to_string()));
            return Ok(ExitCode::from(EXIT_STALE));
        }
        Err(error) => return Err(error.to_string()),
    };
    let todo: Vec<_> = checked.iter().filter_map(|c| c.todo.as_ref()).collect();
    let mode = args.mode();
    let mut outcomes = Vec::new();
    if todo.is_empty() {
        println!(
            "every change of plan {} is in place already: nothing to write",
            plan.id
        );
    } else {
        print!("{}", crate::fix::show::render(&plan));
        let affected = plan.affected_vms();
        let question = format!(
            "{} {} write(s) ({} already in place), affecting {} VM(s)?",
            if args.dry_run { "Check" } else { "Make" },
            todo.len(),
            checked.len() - todo.len(),
            affected.len()
        );
        if !confirm(args.yes, &question)? {
            eprintln!("not applied: nothing was written");
            return Ok(ExitCode::FAILURE);
        }
        let plan_id = PlanId::new(&plan.id).map_err(|e| e.to_string())?;
        let mut journal = match mode {
            Mode::Apply => {
                let opened = journals.open(&lock, &plan_id).map_err(|e| e.to_string())?;
                warn(&opened.warnings);
                Some(opened.value)
            }
            Mode::DryRun => None,
        };
        outcomes = apply::write(checked, clouds.connect(), journal.as_mut(), mode)
            .map_err(|e| e.to_string())?;
        for outcome in &outcomes {
            print_write(outcome.verb, &outcome.target, &outcome.result);
        }
    }
    let failed = outcomes.iter().any(|o| o.result.is_err()) || !recovered || !swept;
    if mode == Mode::DryRun {
        println!("dry run: nothing was written");
        return Ok(exit(failed));
    }
    let verified = verify_applied(&plan, &policy, &clouds, &outcomes)?;
    Ok(exit(failed || !verified))
}

/// Scans the touched scopes again and says which findings the writes fixed.
fn verify_applied(
    plan: &Plan,
    policy: &crate::policy::Policy,
    clouds: &Clouds,
    outcomes: &[ChangeOutcome],
) -> Result<bool, String> {
    let snapshot = verify::reread(plan, clouds.connect())
        .map_err(|e| format!("the writes were made, but the estate cannot be read again: {e}"))?;
    let verification = verify::verify(plan, &snapshot, policy);
    for finding in &verification.healthy {
        println!(
            "verified: {} is healthy for {}",
            visible(&finding.resource_name),
            finding.rule
        );
    }
    for finding in &verification.skipped {
        println!(
            "skipped as planned: {} is still unhealthy for {} ({})",
            visible(&finding.resource_name),
            finding.rule,
            crate::verdict::port_list(&finding.ports)
        );
    }
    for finding in &verification.not_fixed {
        println!(
            "NOT FIXED: {} is still unhealthy for {} ({}): {}",
            visible(&finding.resource_name),
            finding.rule,
            crate::verdict::port_list(&finding.ports),
            visible(&finding.evidence.summary)
        );
    }
    for scope in &verification.unread {
        println!("NOT VERIFIED: {} could not be read again", visible(scope));
    }
    let written = outcomes.iter().filter(|o| o.result.is_ok()).count();
    println!(
        "{written} write(s) made, {} finding(s) verified healthy, {} not fixed",
        verification.healthy.len(),
        verification.not_fixed.len()
    );
    Ok(verification.complete())
}

/// `fix undo`.
pub(super) fn run_undo(args: WriteArgs) -> Result<ExitCode, String> {
    let plan = load_plan(&args.plan)?;
    let plan_id = PlanId::new(&plan.id).map_err(|e| e.to_string())?;
    let swept = sweep_first(&plan, &args)?;
    let mut clouds = args.connect.clouds()?;
    let journals = Journals::in_state_dir().map_err(|e| e.to_string())?;
    let lock = journals.lock().map_err(|e| e.to_string())?;
    let recovered = recover_first(&journals, &lock, &mut clouds)? && swept;
    let records = journals.read(&plan_id).map_err(|e| e.to_string())?;
    warn(&records.warnings);
    let writes = undo::in_effect(&records.value)
        .map_err(|e| format!("fix journal {}: {e}", journals.path(&plan_id).display()))?;
    if writes.is_empty() {
        println!(
            "nothing to undo: the journal of plan {} holds no write in effect",
            plan.id
        );
        return Ok(exit(!recovered));
    }
    let question = format!(
        "{} {} write(s) of plan {}?",
        if args.dry_run {
            "Check undoing"
        } else {
            "Undo"
        },
        writes.len(),
        plan.id
    );
    if !confirm(args.yes, &question)? {
        eprintln!("not undone: nothing was written");
        return Ok(ExitCode::FAILURE);
    }
    let mode = args.mode();
    let mut journal = match mode {
        Mode::Apply => Some(
            journals
                .open(&lock, &plan_id)
                .map_err(|e| e.to_string())?
                .value,
        ),
        Mode::DryRun => None,
    };
    let undone =
        undo::undo(writes, &mut clouds, journal.as_mut(), mode).map_err(|e| e.to_string())?;
    for one in &undone {
        match &one.result {
            UndoResult::Written(result) => print_write(one.verb, &one.target, result),
            UndoResult::AlreadyUndone => {
                println!("already undone: {}", visible(&one.target));
            }
            UndoResult::Differs(holds) => println!(
                "NOT UNDONE: {}: {}; changed since apply, so nothing was written there",
                visible(&one.target),
                visible(holds)
            ),
            UndoResult::Unread(error) => println!(
                "NOT UNDONE: {}: cannot read it: {}",
                visible(&one.target),
                visible(&error.to_string())
            ),
        }
    }
    if mode == Mode::DryRun {
        println!("dry run: nothing was written");
    }
    Ok(exit(!recovered || undone.iter().any(|u| !u.result.is_ok())))
}

/// Closes the expired JIT grants in the plan's scopes before the plan's own writes, as every
/// live `fix` and `jit` command does ([`super::super::jit::sweep_first`]); false when a write
/// failed. A dry run writes nothing, so it does not sweep.
fn sweep_first(plan: &Plan, args: &WriteArgs) -> Result<bool, String> {
    if args.dry_run || plan.source.is_offline() {
        return Ok(true);
    }
    let connect = args.connect.connect();
    let read = || verify::reread(plan, &connect);
    let swept = super::super::jit::sweep_first(connect.clone(), &plan.clouds(), &args.store, read)?;
    Ok(!swept.failed)
}

/// `fix recover`.
pub(super) fn run_recover(args: &ConnectArgs) -> Result<ExitCode, String> {
    let mut clouds = args.clouds()?;
    let journals = Journals::in_state_dir().map_err(|e| e.to_string())?;
    let lock = journals.lock().map_err(|e| e.to_string())?;
    let complete = recover_first(&journals, &lock, &mut clouds)?;
    Ok(exit(!complete))
}

/// Reconciles the intents an earlier `fix` left without outcome, printing each; false when
/// one could not be reconciled.
fn recover_first(
    journals: &Journals,
    lock: &ApplyLock,
    clouds: &mut Clouds,
) -> Result<bool, String> {
    let (recovered, warnings) =
        recover::recover(journals, lock, clouds).map_err(|e| e.to_string())?;
    Ok(report_recovered(&recovered, &warnings))
}

/// Prints what recovery found and did (`fix` and `jit` alike), after the journal's warnings;
/// false when an intent could not be reconciled.
pub(in crate::cli) fn report_recovered(recovered: &[Recovered], warnings: &[TornTail]) -> bool {
    warn(warnings);
    let mut complete = true;
    for one in recovered {
        let what = format!("{} {} (plan {})", one.verb, visible(&one.target), one.plan);
        match &one.result {
            RecoverResult::FoundWritten => println!("recovered: {what}: it had been written"),
            RecoverResult::Replayed(Ok(_)) => {
                println!("recovered: {what}: it had not been written, and is now");
            }
            RecoverResult::Replayed(Err(error)) => {
                complete = false;
                println!(
                    "NOT RECOVERED: {what}: written again, it failed: {}",
                    visible(&error.to_string())
                );
            }
            RecoverResult::Differs(holds) => {
                complete = false;
                println!(
                    "NOT RECOVERED: {what}: {}; changed by someone else, left alone: check it \
                     against the plan",
                    visible(holds)
                );
            }
            RecoverResult::Unread(error) => {
                complete = false;
                println!(
                    "NOT RECOVERED: {what}: cannot read it ({}); run `portcullis fix recover` \
                     again",
                    visible(&error.to_string())
                );
            }
        }
    }
    complete
}

fn print_write(verb: &str, target: &str, result: &Result<Wrote, StepError>) {
    let target = visible(target);
    match result {
        Ok(Wrote::Changed) => println!("done: {verb} {target}"),
        Ok(Wrote::AlreadyThere) => println!("already in place: {verb} {target}"),
        Ok(Wrote::WouldSucceed) => println!("would be allowed: {verb} {target}"),
        Ok(Wrote::NotChecked) => println!(
            "checked the target only: {verb} {target} (Resource Manager has no dry run for rule \
             writes)"
        ),
        Err(error) if error.is_blocked() => {
            println!("BLOCKED: {verb} {target}: {}", visible(&error.to_string()));
        }
        Err(error) => println!("FAILED: {verb} {target}: {}", visible(&error.to_string())),
    }
}

fn warn(warnings: &[TornTail]) {
    for warning in warnings {
        eprintln!("warning: {}", visible(&warning.to_string()));
    }
}

fn load_plan(path: &Path) -> Result<Plan, String> {
    Plan::load(path, crate::limits::Limits::default().max_input_bytes).map_err(|e| e.to_string())
}

/// Asks on a terminal; without one, only `--yes` lets a write go ahead.
fn confirm(yes: bool, question: &str) -> Result<bool, String> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(
            "standard input is not a terminal, so fix cannot ask: pass --yes to go ahead \
             without asking"
                .to_owned(),
        );
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

fn exit(partial: bool) -> ExitCode {
    if partial {
        ExitCode::from(EXIT_PARTIAL)
    } else {
        ExitCode::SUCCESS
    }
}
