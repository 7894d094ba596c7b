//! `--format json`: the report as one JSON document.
//!
//! Top level: `tool`, `summary`, `findings`, `score`, `warnings`. IPv4 counts are integers; IPv6
//! counts are decimal strings, because they exceed what JSON numbers carry exactly.

use std::io::{self, Write};

use super::Report;

/// Writes the report as pretty JSON ending with a newline, as it is serialised: a large estate's
/// report is hundreds of megabytes, which are never held in memory as one text.
pub fn write(report: &Report, mut out: impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut out, report)?;
    out.write_all(b"\n")
}
