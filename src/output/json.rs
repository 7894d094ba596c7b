//! `--format json`: the report as one JSON document.
//!
//! Top level: `tool`, `summary`, `findings`, `score`, `warnings`. IPv4 counts are integers; IPv6
//! counts are decimal strings, because they exceed what JSON numbers carry exactly.

use super::Report;

pub fn render(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("a report always serialises");
    text.push('\n');
    text
}
