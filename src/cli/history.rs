//! The audit command family: `audit` (scan and record the run in the store) and `history`
//! (`runs`, `diff`), which read the store back.

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

use super::{ScanArgs, Scanned, run_scan, write_text};
use crate::audit::diff::{self, Changed, Diff};
use crate::audit::record::NewRun;
use crate::store::{self, RunSummary, Store, StoreUrl};

#[derive(Debug, Args)]
pub(super) struct StoreArg {
    /// The audit store: sqlite:PATH or postgres://…; default sqlite: at audit.db in the state
    /// directory ($PORTCULLIS_STATE_DIR, else $XDG_STATE_HOME/portcullis, else
    /// ~/.local/state/portcullis).
    #[arg(long, value_name = "URL")]
    store: Option<String>,
}

impl StoreArg {
    fn open(&self) -> Result<Box<dyn Store>, String> {
        StoreUrl::from_arg(self.store.as_deref())
            .and_then(|url| store::open(&url))
            .map_err(|e| e.to_string())
    }
}

#[derive(Debug, Args)]
pub(super) struct AuditArgs {
    #[command(flatten)]
    scan: ScanArgs,
    #[command(flatten)]
    store: StoreArg,
}

#[derive(Debug, Subcommand)]
pub(super) enum HistoryCommand {
    /// List the recorded runs, oldest first.
    Runs {
        #[command(flatten)]
        store: StoreArg,
        #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
        format: HistoryFormat,
    },
    /// What changed between two runs (default: the last two).
    Diff {
        /// The earlier run's id (default: the run before TO).
        from: Option<i64>,
        /// The later run's id (default: the last run).
        to: Option<i64>,
        #[command(flatten)]
        store: StoreArg,
        #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
        format: HistoryFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum HistoryFormat {
    Table,
    Json,
}

pub(super) fn run_audit(args: AuditArgs) -> Result<ExitCode, String> {
    // Opened first: a store that cannot be used fails the audit before the scan's work.
    let mut store = args.store.open()?;
    run_scan(args.scan, |scanned: Scanned| {
        let run = NewRun::new(
            time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .map_err(|e| format!("cannot format the run's time: {e}"))?,
            scanned.sources,
            &scanned.report.findings,
            scanned.missing.to_vec(),
            scanned.policy.digest(),
            &scanned.report.score,
        );
        let id = store.record(&run).map_err(|e| e.to_string())?;
        eprintln!("recorded audit run {id}");
        Ok(())
    })
}

pub(super) fn run_history(command: HistoryCommand) -> Result<ExitCode, String> {
    match command {
        HistoryCommand::Runs { store, format } => {
            let runs = store.open()?.runs().map_err(|e| e.to_string())?;
            let text = match format {
                HistoryFormat::Json => json(&runs)?,
                HistoryFormat::Table => runs_table(&runs),
            };
            write_text(None, &text)?;
        }
        HistoryCommand::Diff {
            from,
            to,
            store,
            format,
        } => {
            let mut store = store.open()?;
            let diff = diff_runs(store.as_mut(), from, to)?;
            let text = match format {
                HistoryFormat::Json => json(&diff)?,
                HistoryFormat::Table => diff_table(&diff),
            };
            write_text(None, &text)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn json(value: &impl serde::Serialize) -> Result<String, String> {
    serde_json::to_string_pretty(value)
        .map(|text| text + "\n")
        .map_err(|e| format!("cannot write JSON: {e}"))
}

/// The diff of runs FROM and TO, defaulting to the last two.
fn diff_runs(store: &mut dyn Store, from: Option<i64>, to: Option<i64>) -> Result<Diff, String> {
    let runs = store.runs().map_err(|e| e.to_string())?;
    let ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
    let known = |id: i64| {
        if ids.contains(&id) {
            Ok(id)
        } else {
            Err(format!(
                "no run {id} in the audit store (`portcullis history runs` lists them)"
            ))
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
    Ok(diff::diff(&before, &after, &ever))
}

fn runs_table(runs: &[RunSummary]) -> String {
    let mut out = format!("{:>5}  {:<25}  {:>7}  SOURCES\n", "RUN", "TIME", "SCORE");
    for run in runs {
        let missing = match run.scopes_missing {
            0 => String::new(),
            n => format!(" ({n} scopes not read)"),
        };
        out += &format!(
            "{:>5}  {:<25}  {:>6.1}%  {}{missing}\n",
            run.id,
            run.time,
            run.score,
            crate::output::escape::visible(&run.sources.join(", "))
        );
    }
    out
}

fn diff_table(diff: &Diff) -> String {
    let sections: [(&str, &[Changed]); 6] = [
        ("new", &diff.new),
        ("reopened", &diff.reopened),
        ("fixed", &diff.fixed),
        ("still open", &diff.open),
        ("exempt", &diff.exempt),
        ("not assessed", &diff.not_assessed),
    ];
    let mut out = String::new();
    for (title, findings) in sections {
        out += &format!("{title}: {}\n", findings.len());
        for f in findings {
            out += &format!(
                "  {}  {}\n",
                f.rule,
                crate::output::escape::visible(&f.resource)
            );
        }
    }
    out
}
