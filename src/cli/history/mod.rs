//! The audit command family: `audit` (scan and record the run in the store) and `history`
//! (`runs`, `show`, `diff`, `trend`, `open`), which read the store back; [`render`] writes
//! their text and Markdown.

mod render;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};

use super::{PolicyArgs, ScanArgs, Scanned, Then, run_scan, write_text, writes_html};
use crate::audit::diff::{self, Diff};
use crate::audit::record::{self, Life, NewRun, Observation};
use crate::audit::schedule::Schedule;
use crate::audit::{metrics, notify, open, trend};
use crate::finding::Status;
use crate::jit::ledger::Ledger;
use crate::limits;
use crate::output;
use crate::output::escape::visible;
use crate::store::{self, RunDetail, Store, StoreUrl};
use render::Style;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `--store`, which `audit`, `history`, `jit` and `fix` share.
#[derive(Clone, Debug, Args)]
pub(in crate::cli) struct StoreArg {
    /// The store of the audit history and the JIT ledger: sqlite:PATH or postgres://…; default
    /// sqlite: at audit.db in the state directory ($PORTCULLIS_STATE_DIR, else
    /// $XDG_STATE_HOME/portcullis, else ~/.local/state/portcullis).
    #[arg(long, value_name = "URL")]
    store: Option<String>,
}

impl StoreArg {
    fn open(&self) -> Result<Box<dyn Store>, String> {
        self.url()
            .and_then(|url| store::open(&url))
            .map_err(|e| e.to_string())
    }

    /// The JIT ledger the store holds.
    pub(in crate::cli) fn ledger(&self) -> Result<Box<dyn Ledger>, String> {
        self.url()
            .and_then(|url| store::open_ledger(&url))
            .map_err(|e| e.to_string())
    }

    fn url(&self) -> Result<StoreUrl, store::StoreError> {
        StoreUrl::from_arg(self.store.as_deref())
    }
}

#[derive(Debug, Args)]
pub(super) struct AuditArgs {
    #[command(flatten)]
    scan: ScanArgs,
    #[command(flatten)]
    store: StoreArg,
    /// After each run, replace FILE with the run's metrics in Prometheus's text format (for
    /// node_exporter's textfile collector; name it *.prom).
    #[arg(long, value_name = "FILE")]
    metrics_file: Option<PathBuf>,
    /// Send a webhook message when a run finds new or reopened unhealthy findings or its score
    /// falls below --min-score (and one baseline summary on a store's first run): a plain
    /// http(s) URL gets generic JSON, slack:URL a Slack incoming webhook's, teams:URL a Teams
    /// Workflows Adaptive Card. Repeatable. A failing webhook is retried, then reported; it
    /// never fails the audit.
    #[arg(long, value_name = "URL", value_parser = notify::Target::parse)]
    notify: Vec<notify::Target>,
    /// Audit again and again, one run starting each DURATION (e.g. 8h), until SIGTERM or
    /// SIGINT, which stop it between runs: a run under way is finished and recorded first.
    #[arg(long, value_name = "DURATION", value_parser = limits::parse_duration)]
    every: Option<Duration>,
}

#[derive(Debug, Subcommand)]
pub(super) enum HistoryCommand {
    /// List the recorded runs, oldest first.
    Runs {
        #[command(flatten)]
        store: StoreArg,
        #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
        format: ReportFormat,
    },
    /// One run: its sources, scopes, score per scope and the findings it saw.
    Show {
        /// The run's id (`history runs` lists them).
        run: i64,
        #[command(flatten)]
        store: StoreArg,
        #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
        format: ReportFormat,
    },
    /// What changed between two runs (default: the last two).
    Diff {
        /// The earlier run's id (default: the run before TO).
        from: Option<i64>,
        /// The later run's id (default: the last run).
        to: Option<i64>,
        #[command(flatten)]
        store: StoreArg,
        /// The policy whose recommendations SARIF results refer to.
        #[command(flatten)]
        policy: PolicyArgs,
        #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
        format: DiffFormat,
    },
    /// The score per run, overall and per scope, and unhealthy findings per recommendation.
    Trend {
        #[command(flatten)]
        store: StoreArg,
        #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
        format: ReportFormat,
    },
    /// The findings open now with their age, overdue ones past the policy's `sla`, and the
    /// time fixed findings took to fix per severity.
    Open {
        #[command(flatten)]
        store: StoreArg,
        /// The policy that gives severities and the `sla` (docs/audits.md).
        #[command(flatten)]
        policy: PolicyArgs,
        #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
        format: ReportFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum ReportFormat {
    Table,
    Json,
    /// GitHub-flavoured Markdown, for a pull-request comment or a job summary.
    Markdown,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum DiffFormat {
    Table,
    Json,
    /// GitHub-flavoured Markdown, for a pull-request comment.
    Markdown,
    /// SARIF 2.1.0 whose results carry `baselineState`.
    Sarif,
}

impl ReportFormat {
    /// `json` of `value`, else the text or Markdown `render` makes.
    fn render<T: serde::Serialize>(
        self,
        value: &T,
        render: impl FnOnce(&T, Style) -> String,
    ) -> Result<String, String> {
        match self {
            ReportFormat::Json => json(value),
            ReportFormat::Table => Ok(render(value, Style::Text)),
            ReportFormat::Markdown => Ok(render(value, Style::Markdown)),
        }
    }
}

pub(super) fn run_audit(args: AuditArgs) -> Result<ExitCode, String> {
    let Some(every) = args.every else {
        return audit_once(&args, Then::Exit);
    };
    let mut schedule = Schedule::new(every)?;
    eprintln!(
        "auditing every {}; SIGTERM or SIGINT stops it between runs",
        humanised(every)
    );
    loop {
        let started = Instant::now();
        // A failed run is reported, and the next one tried: the cause may pass.
        if let Err(message) = audit_once(&args, Then::ScanAgain) {
            eprintln!("error: {}", visible(&message));
        }
        let next = schedule.next(started);
        let at = OffsetDateTime::now_utc() + next.saturating_duration_since(Instant::now());
        eprintln!(
            "next audit run at {}",
            at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
        );
        if let Some(signal) = schedule.wait(next)? {
            eprintln!("{signal}: stopped between runs");
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// `8h`, `90m`, `45s`: a cadence as the user would write it.
fn humanised(every: Duration) -> String {
    let seconds = every.as_secs();
    match seconds {
        0 => format!("{}ms", every.as_millis()),
        s if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        s if s.is_multiple_of(60) => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// One audit: scan, write the outputs, record the run, then write metrics and notify.
fn audit_once(args: &AuditArgs, then: Then) -> Result<ExitCode, String> {
    let started = Instant::now();
    // Opened first: a store that cannot be used fails the audit before the scan's work.
    let store = RefCell::new(args.store.open()?);
    // The run, made once the scan is judged and recorded once its outputs are written.
    let pending: RefCell<Option<(NewRun, OffsetDateTime)>> = RefCell::new(None);
    let prepare = |scanned: Scanned| {
        let now = OffsetDateTime::now_utc();
        let run = NewRun::new(
            now.format(&Rfc3339)
                .map_err(|e| format!("cannot format the run's time: {e}"))?,
            scanned.sources.clone(),
            &scanned.report.findings,
            scanned.missing.to_vec(),
            scanned.policy.digest(),
            &scanned.report.score,
        );
        let history = if writes_html(&args.scan) {
            Some(history_of(store.borrow_mut().as_mut(), &run)?)
        } else {
            None
        };
        *pending.borrow_mut() = Some((run, now));
        Ok(history)
    };
    run_scan(&args.scan, then, prepare, |scanned: Scanned| {
        let (run, now) = pending
            .borrow_mut()
            .take()
            .expect("the run is made before it is recorded");
        let mut store = store.borrow_mut();
        let id = store.record(&run).map_err(|e| e.to_string())?;
        eprintln!("recorded audit run {id}");
        if let Some(path) = &args.metrics_file {
            let facts = metrics::RunFacts {
                id,
                time: epoch_seconds(now),
                duration: started.elapsed(),
                last_success: last_success(store.as_mut())?,
                scopes_missing: run.scopes_missing.len(),
            };
            metrics::write_atomically(
                path,
                &metrics::render(scanned.report, scanned.policy, &facts),
            )?;
        }
        if !args.notify.is_empty()
            && let Err(why) = notify_run(store.as_mut(), id, &run, &scanned, &args.notify)
        {
            eprintln!(
                "warning: no notification sent for run {id}: {}",
                visible(&why)
            );
        }
        Ok(())
    })
}

/// What the HTML report of `run`, not yet recorded, shows of the store: every run's score, and
/// what is new (or reopened) and fixed since the last run.
fn history_of(store: &mut dyn Store, run: &NewRun) -> Result<output::History, String> {
    let err = |e: store::StoreError| e.to_string();
    let runs = store.runs().map_err(err)?;
    let mut lives: BTreeMap<String, Life> = store
        .lives()
        .map_err(err)?
        .into_iter()
        .map(|life| (life.subject.fingerprint.clone(), life))
        .collect();
    // As recording will see it, not-assessed findings of unread scopes included.
    let observed = record::advance(&mut lives, run);
    let mut history = output::History {
        scores: runs
            .iter()
            .map(|r| (Some(r.id), r.time.clone(), r.score))
            .chain(std::iter::once((None, run.time.clone(), run.score)))
            .collect(),
        ..output::History::default()
    };
    if let Some(previous) = runs.last() {
        let before = store.observations(previous.id).map_err(err)?;
        let ever = store.unhealthy_up_to(previous.id).map_err(err)?;
        let diff = diff::diff(&before, &observed, &ever);
        history.previous_run = Some(previous.id);
        history.new = diff.new.into_iter().chain(diff.reopened).collect();
        history.fixed = diff.fixed;
    }
    Ok(history)
}

/// Sends run `id`'s message, if it calls for one, and reports each webhook's outcome.
fn notify_run(
    store: &mut dyn Store,
    id: i64,
    run: &NewRun,
    scanned: &Scanned,
    targets: &[notify::Target],
) -> Result<(), String> {
    let runs = store.runs().map_err(|e| e.to_string())?;
    let previous = runs.iter().rev().find(|r| r.id < id);
    let diff = match previous {
        Some(previous) => Some(diff_runs(store, Some(previous.id), Some(id))?.2),
        None => None,
    };
    let mut unhealthy: BTreeMap<String, usize> = scanned
        .policy
        .recommendations
        .iter()
        .map(|r| (r.id.clone(), 0))
        .collect();
    for f in &scanned.report.findings {
        if f.status == Status::Unhealthy && !f.is_exempt() {
            *unhealthy.entry(f.rule.clone()).or_default() += 1;
        }
    }
    let recorded = notify::Recorded {
        run: notify::RunFacts {
            id,
            time: run.time.clone(),
            score: run.score,
            sources: run.sources.clone(),
            previous_run: previous.map(|p| p.id),
            previous_score: previous.map(|p| p.score),
        },
        diff: diff.as_ref(),
        min_score: scanned.report.gate.as_ref().and_then(|g| g.min_score),
        unhealthy,
    };
    let Some(message) = notify::message(recorded, scanned.policy) else {
        return Ok(());
    };
    for delivery in notify::deliver(targets, &message) {
        match delivery.outcome {
            Ok(_) => eprintln!("notified {} of run {id}", delivery.target),
            Err(why) => eprintln!(
                "warning: could not notify {} of run {id}: {}; the run is recorded",
                delivery.target,
                visible(&why)
            ),
        }
    }
    Ok(())
}

fn epoch_seconds(time: OffsetDateTime) -> f64 {
    time.unix_timestamp_nanos() as f64 / 1e9
}

/// When the last run that read every scope ran, from the store.
fn last_success(store: &mut dyn Store) -> Result<Option<f64>, String> {
    let runs = store.runs().map_err(|e| e.to_string())?;
    let Some(run) = runs.iter().rev().find(|r| r.scopes_missing == 0) else {
        return Ok(None);
    };
    OffsetDateTime::parse(&run.time, &Rfc3339)
        .map(|time| Some(epoch_seconds(time)))
        .map_err(|e| {
            format!(
                "run {} in the audit store has a bad time {}: {e}",
                run.id, run.time
            )
        })
}

pub(super) fn run_history(command: HistoryCommand) -> Result<ExitCode, String> {
    let err = |e: store::StoreError| e.to_string();
    let text = match command {
        HistoryCommand::Runs { store, format } => {
            let runs = store.open()?.runs().map_err(err)?;
            format.render(&runs, |runs, style| render::runs(runs, style))?
        }
        HistoryCommand::Show { run, store, format } => {
            let mut store = store.open()?;
            let detail = store
                .run_details()
                .map_err(err)?
                .into_iter()
                .find(|r| r.summary.id == run)
                .ok_or_else(|| unknown_run(run))?;
            let shown = Shown {
                scopes: trend::scope_scores(&detail)?,
                findings: store.observations(run).map_err(err)?,
                detail,
            };
            format.render(&shown, |s, style| {
                render::show(&s.detail, &s.scopes, &s.findings, style)
            })?
        }
        HistoryCommand::Diff {
            from,
            to,
            store,
            policy,
            format,
        } => {
            let mut store = store.open()?;
            let (from, to, diff) = diff_runs(store.as_mut(), from, to)?;
            match format {
                DiffFormat::Json => json(&diff)?,
                DiffFormat::Table => render::diff_text(&diff),
                DiffFormat::Markdown => render::diff_markdown(&diff, from, to),
                DiffFormat::Sarif => output::render_history_sarif(&diff, from, to, &policy.load()?),
            }
        }
        HistoryCommand::Trend { store, format } => {
            let mut store = store.open()?;
            let runs = store.run_details().map_err(err)?;
            let points = trend::trend(&runs, &store.status_counts().map_err(err)?)?;
            format.render(&points, |points, style| render::trend(points, style))?
        }
        HistoryCommand::Open {
            store,
            policy,
            format,
        } => {
            let policy = policy.load()?;
            let lives = store.open()?.lives().map_err(err)?;
            let report = open::open(&lives, &policy, OffsetDateTime::now_utc())?;
            format.render(&report, render::open)?
        }
    };
    write_text(None, &text)?;
    Ok(ExitCode::SUCCESS)
}

/// `history show`'s data, as `--format json` writes it.
struct Shown {
    detail: RunDetail,
    scopes: BTreeMap<String, f64>,
    findings: Vec<Observation>,
}

impl serde::Serialize for Shown {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let run = &self.detail.summary;
        let findings: Vec<serde_json::Value> = self
            .findings
            .iter()
            .map(|o| {
                serde_json::json!({
                    "rule": o.subject.rule,
                    "resource": o.subject.resource,
                    "scope": o.subject.scope,
                    "fingerprint": o.subject.fingerprint,
                    "status": o.status.as_str(),
                })
            })
            .collect();
        serde_json::json!({
            "id": run.id,
            "time": run.time,
            "sources": run.sources,
            "score": run.score,
            "scopes_read": run.scopes_read,
            "scopes_missing": self.detail.scopes_missing,
            "policy_digest": self.detail.policy_digest,
            "scopes": self.scopes,
            "findings": findings,
        })
        .serialize(serializer)
    }
}

fn json(value: &impl serde::Serialize) -> Result<String, String> {
    serde_json::to_string_pretty(value)
        .map(|text| text + "\n")
        .map_err(|e| format!("cannot write JSON: {e}"))
}

fn unknown_run(id: i64) -> String {
    format!("no run {id} in the audit store (`portcullis history runs` lists them)")
}

/// The diff of runs FROM and TO, defaulting to the last two; returns their ids with it.
fn diff_runs(
    store: &mut dyn Store,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<(i64, i64, Diff), String> {
    let runs = store.runs().map_err(|e| e.to_string())?;
    let ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
    let known = |id: i64| {
        if ids.contains(&id) {
            Ok(id)
        } else {
            Err(unknown_run(id))
        }
    };
    let to = match to {
        Some(id) => known(id)?,
        None => *ids
            .last()
            .ok_or("the audit store has no runs yet; record one with `portcullis audit`")?,
    };
    let from = match from {
        Some(id) => known(id)?,
        None => ids
            .iter()
            .rev()
            .copied()
            .find(|&id| id < to)
            .ok_or_else(|| {
                format!(
                    "run {to} is the first in the audit store; there is nothing to compare it with"
                )
            })?,
    };
    let err = |e: store::StoreError| e.to_string();
    let before = store.observations(from).map_err(err)?;
    let after = store.observations(to).map_err(err)?;
    let ever = store.unhealthy_up_to(from).map_err(err)?;
    Ok((from, to, diff::diff(&before, &after, &ever)))
}
