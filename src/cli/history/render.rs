//! The `history` commands' text and Markdown outputs (JSON is their data serialised): one
//! function per command, each building [`Grid`]s and rendering them as aligned text or as
//! Markdown for a pull-request comment.

use std::collections::{BTreeMap, BTreeSet};

use crate::audit::diff::{Changed, Diff};
use crate::audit::open::{OpenReport, human};
use crate::audit::record::{Observation, Observed};
use crate::audit::trend::Point;
use crate::output::escape::visible;
use crate::output::grid::{Grid, markdown_cell};
use crate::store::{RunDetail, RunSummary};

/// Text for a terminal, or Markdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Style {
    Text,
    Markdown,
}

impl Style {
    fn grid(self, grid: &Grid) -> String {
        match self {
            Style::Text => grid.text(),
            Style::Markdown => grid.markdown(),
        }
    }

    /// A section heading: `title:` in text, `#### title` in Markdown.
    fn heading(self, title: &str) -> String {
        match self {
            Style::Text => format!("\n{}:\n", visible(title)),
            Style::Markdown => format!("\n#### {}\n\n", markdown_cell(title)),
        }
    }

    /// `name: value`, a bullet in Markdown.
    fn fact(self, name: &str, value: &str) -> String {
        match self {
            Style::Text => format!("{name}: {}\n", visible(value)),
            Style::Markdown => format!("- **{name}**: {}\n", markdown_cell(value)),
        }
    }
}

fn percent(value: f64) -> String {
    format!("{value:.1}%")
}

pub(super) fn runs(runs: &[RunSummary], style: Style) -> String {
    let mut grid = Grid::new(&["RUN", "TIME", "SCORE", "SOURCES"]);
    for run in runs {
        let missing = match run.scopes_missing {
            0 => String::new(),
            n => format!(" ({n} scopes not read)"),
        };
        grid.push(vec![
            run.id.to_string(),
            run.time.clone(),
            percent(run.score),
            format!("{}{missing}", run.sources.join(", ")),
        ]);
    }
    style.grid(&grid)
}

/// Unhealthy, exempt and not assessed findings are listed; healthy and not applicable ones
/// counted.
pub(super) fn show(
    run: &RunDetail,
    scopes: &BTreeMap<String, f64>,
    findings: &[Observation],
    style: Style,
) -> String {
    let summary = &run.summary;
    let mut out = match style {
        Style::Text => format!("run {} at {}\n", summary.id, summary.time),
        Style::Markdown => format!("### Audit run {} at {}\n\n", summary.id, summary.time),
    };
    out += &style.fact("score", &percent(summary.score));
    out += &style.fact("sources", &summary.sources.join(", "));
    out += &style.fact("policy digest", &run.policy_digest);
    out += &style.fact("scopes read", &summary.scopes_read.join(", "));
    for missing in &run.scopes_missing {
        out += &style.fact("not read", &missing.to_string());
    }
    let mut grid = Grid::new(&["SCOPE", "SCORE"]);
    for (scope, score) in scopes {
        grid.push(vec![scope.clone(), percent(*score)]);
    }
    out += &style.heading("score per scope");
    out += &style.grid(&grid);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for o in findings {
        *counts.entry(o.status.as_str()).or_default() += 1;
    }
    let counts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    out += &style.heading(&format!("findings ({})", counts.join(", ")));
    let mut grid = Grid::new(&["STATUS", "RULE", "RESOURCE"]);
    for o in findings.iter().filter(|o| {
        matches!(
            o.status,
            Observed::Unhealthy | Observed::Exempt | Observed::NotAssessed
        )
    }) {
        grid.push(vec![
            o.status.to_string(),
            o.subject.rule.clone(),
            o.subject.resource.clone(),
        ]);
    }
    out += &style.grid(&grid);
    out
}

pub(super) fn trend(points: &[Point], style: Style) -> String {
    let rules: BTreeSet<&str> = points
        .iter()
        .flat_map(|p| p.unhealthy.keys().map(String::as_str))
        .collect();
    let mut header = vec!["RUN", "TIME", "SCORE"];
    header.extend(&rules);
    let mut grid = Grid::new(&header);
    for p in points {
        let mut row = vec![p.run.to_string(), p.time.clone(), percent(p.score)];
        row.extend(
            rules
                .iter()
                .map(|r| p.unhealthy.get(*r).copied().unwrap_or(0).to_string()),
        );
        grid.push(row);
    }
    let mut out = style.heading("score and unhealthy findings per recommendation");
    out += &style.grid(&grid);

    let scopes: BTreeSet<&str> = points
        .iter()
        .flat_map(|p| p.scopes.keys().map(String::as_str))
        .collect();
    let mut header = vec!["RUN"];
    header.extend(&scopes);
    let mut grid = Grid::new(&header);
    for p in points {
        let mut row = vec![p.run.to_string()];
        row.extend(
            scopes
                .iter()
                .map(|s| p.scopes.get(*s).map_or("-".to_owned(), |v| percent(*v))),
        );
        grid.push(row);
    }
    out += &style.heading("score per scope");
    out += &style.grid(&grid);
    out.trim_start().to_owned()
}

pub(super) fn open(report: &OpenReport, style: Style) -> String {
    let mut grid = Grid::new(&[
        "SEVERITY", "AGE", "SINCE", "SLA", "OVERDUE", "RULE", "RESOURCE",
    ]);
    for o in &report.open {
        grid.push(vec![
            o.severity.map_or("unknown".to_owned(), |s| s.to_string()),
            human(o.age_seconds),
            o.unhealthy_since.clone(),
            o.sla_seconds.map_or("-".to_owned(), human),
            match (o.overdue, o.exempt) {
                (true, _) => "OVERDUE".to_owned(),
                (false, true) => "exempt".to_owned(),
                (false, false) => String::new(),
            },
            o.rule.clone(),
            o.resource.clone(),
        ]);
    }
    let overdue = report.open.iter().filter(|o| o.overdue).count();
    let mut out = style.heading(&format!(
        "open findings as of {}: {}, {overdue} overdue",
        report.now,
        report.open.len()
    ));
    out += &style.grid(&grid);
    let mut grid = Grid::new(&["SEVERITY", "FIXED", "MEDIAN", "P90"]);
    for t in &report.time_to_fix {
        grid.push(vec![
            t.severity.map_or("unknown".to_owned(), |s| s.to_string()),
            t.fixed.to_string(),
            human(t.median_seconds),
            human(t.p90_seconds),
        ]);
    }
    out += &style.heading("time to fix, over the findings fixed now");
    out += &style.grid(&grid);
    out.trim_start().to_owned()
}

/// The sections of a diff in the order a reader wants them.
fn sections(diff: &Diff) -> [(&'static str, &[Changed]); 6] {
    [
        ("new", &diff.new),
        ("reopened", &diff.reopened),
        ("fixed", &diff.fixed),
        ("still open", &diff.open),
        ("exempt", &diff.exempt),
        ("not assessed", &diff.not_assessed),
    ]
}

pub(super) fn diff_text(diff: &Diff) -> String {
    let mut out = String::new();
    for (title, findings) in sections(diff) {
        out += &format!("{title}: {}\n", findings.len());
        for f in findings {
            out += &format!("  {}  {}\n", f.rule, visible(&f.resource));
        }
    }
    out
}

/// For a pull-request comment: a summary line, then what needs a reader's eye (new, reopened,
/// fixed) as tables, and the rest folded away.
pub(super) fn diff_markdown(diff: &Diff, from: i64, to: i64) -> String {
    let mut out = format!("### portcullis: audit run {to} compared with run {from}\n\n");
    let counts: Vec<String> = sections(diff)
        .iter()
        .map(|(title, findings)| format!("**{}** {title}", findings.len()))
        .collect();
    out += &counts.join(" · ");
    out.push('\n');
    for (i, (title, findings)) in sections(diff).into_iter().enumerate() {
        if findings.is_empty() {
            continue;
        }
        let mut grid = Grid::new(&["Recommendation", "Resource", "Scope"]);
        for f in findings {
            grid.push(vec![f.rule.clone(), f.resource.clone(), f.scope.clone()]);
        }
        let title = format!("{} ({})", capitalised(title), findings.len());
        if i < 3 {
            out += &format!("\n#### {title}\n\n{}", grid.markdown());
        } else {
            out += &format!(
                "\n<details><summary>{title}</summary>\n\n{}\n</details>\n",
                grid.markdown()
            );
        }
    }
    out
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::diff::changed;

    #[test]
    fn a_diff_as_a_pull_request_comment() {
        let diff = Diff {
            new: vec![changed("vm|1")],
            open: vec![changed("vm2")],
            ..Diff::default()
        };
        let text = diff_markdown(&diff, 3, 4);
        assert_eq!(
            text,
            "### portcullis: audit run 4 compared with run 3\n\n\
             **1** new · **0** reopened · **0** fixed · **1** still open · **0** exempt · \
             **0** not assessed\n\
             \n#### New (1)\n\n\
             | Recommendation | Resource | Scope |\n| --- | --- | --- |\n\
             | management-ports-closed | vm\\|1 | s1 |\n\
             \n<details><summary>Still open (1)</summary>\n\n\
             | Recommendation | Resource | Scope |\n| --- | --- | --- |\n\
             | management-ports-closed | vm2 | s1 |\n\n</details>\n"
        );
    }
}
