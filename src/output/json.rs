//! `--format json`: the report as one JSON document.
//!
//! Top level: `tool`, `summary`, `findings`, `score`, `warnings`. IPv4 counts are integers; IPv6
//! counts are decimal strings, because they exceed what JSON numbers carry exactly.
//!
//! The document is exactly what `serde_json::to_writer_pretty` makes of the [`Report`], written
//! as it is rendered: a large estate's report is hundreds of megabytes, never held in memory as
//! one text. Findings, nearly all of it, are rendered a window at a time in parallel and written
//! in order.

use std::io::{self, Write};

use rayon::prelude::*;
use serde::Serialize;
use serde_json::ser::Formatter;

use super::Report;
use crate::finding::Finding;

/// Findings rendered at once: enough to keep every core busy, few enough to bound memory.
const WINDOW: usize = 2048;
/// Findings rendered by one task of a window.
const CHUNK: usize = 64;

/// Writes the report as pretty JSON ending with a newline.
pub fn write(report: &Report, mut out: impl Write) -> io::Result<()> {
    let mut first = true;
    let mut field = |out: &mut dyn Write, name: &str| -> io::Result<()> {
        out.write_all(if first { b"{\n  \"" } else { b",\n  \"" })?;
        first = false;
        out.write_all(name.as_bytes())?;
        out.write_all(b"\": ")
    };
    field(&mut out, "tool")?;
    value(&mut out, &report.tool, 1)?;
    field(&mut out, "summary")?;
    value(&mut out, &report.summary, 1)?;
    field(&mut out, "findings")?;
    findings(&mut out, &report.findings)?;
    field(&mut out, "score")?;
    value(&mut out, &report.score, 1)?;
    if !report.collection.is_empty() {
        field(&mut out, "collection")?;
        value(&mut out, &report.collection, 1)?;
    }
    field(&mut out, "warnings")?;
    value(&mut out, &report.warnings, 1)?;
    if let Some(baseline) = &report.baseline {
        field(&mut out, "baseline")?;
        value(&mut out, baseline, 1)?;
    }
    if let Some(gate) = &report.gate {
        field(&mut out, "gate")?;
        value(&mut out, gate, 1)?;
    }
    out.write_all(b"\n}\n")
}

/// Writes `item` laid out as it would be `depth` levels into the document.
fn value(out: &mut (impl Write + ?Sized), item: &impl Serialize, depth: usize) -> io::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(out, Pretty::at(depth));
    item.serialize(&mut serializer).map_err(io::Error::from)
}

/// The findings array, one level in.
fn findings(out: &mut impl Write, findings: &[Finding]) -> io::Result<()> {
    if findings.is_empty() {
        return out.write_all(b"[]");
    }
    out.write_all(b"[")?;
    let mut separator: &[u8] = b"\n    ";
    for window in findings.chunks(WINDOW) {
        let rendered: Vec<Vec<u8>> = window
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut text = Vec::new();
                for finding in chunk {
                    text.extend_from_slice(b",\n    ");
                    value(&mut text, finding, 2)?;
                }
                Ok(text)
            })
            .collect::<io::Result<_>>()?;
        for text in rendered {
            // Each finding was rendered after a separator; the array's first has no comma.
            let rest = text.get(b",\n    ".len()..).unwrap_or_default();
            out.write_all(separator)?;
            out.write_all(rest)?;
            separator = b",\n    ";
        }
    }
    out.write_all(b"\n  ]")
}

/// serde_json's pretty layout (two spaces per level), starting some levels into a document, so
/// that its parts can be rendered apart and written in order.
struct Pretty {
    depth: usize,
    has_value: bool,
}

impl Pretty {
    fn at(depth: usize) -> Self {
        Pretty {
            depth,
            has_value: false,
        }
    }

    fn indent<W: ?Sized + Write>(&self, writer: &mut W) -> io::Result<()> {
        for _ in 0..self.depth {
            writer.write_all(b"  ")?;
        }
        Ok(())
    }

    fn open<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            writer.write_all(b"\n")?;
            self.indent(writer)?;
        }
        writer.write_all(bracket)
    }

    fn item<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        writer.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(writer)
    }
}

impl Formatter for Pretty {
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(writer, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Loaded;
    use crate::policy::Policy;
    use crate::synthetic::{self, Clouds, Params};

    /// What serde_json's own pretty writer makes of the whole report.
    fn reference(report: &Report) -> String {
        let mut text = serde_json::to_string_pretty(report).unwrap();
        text.push('\n');
        text
    }

    fn written(report: &Report) -> String {
        let mut out = Vec::new();
        write(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_document_is_serde_jsons_pretty_layout_byte_for_byte() {
        let policy = Policy::builtin();
        // Findings enough for several windows and a partial last chunk, and none at all.
        for (vms, clouds) in [(1500, Clouds::Mixed), (7, Clouds::Aws), (0, Clouds::Azure)] {
            let snapshot = synthetic::generate(&Params {
                vms,
                nsgs: 3,
                rules_per_nsg: 4,
                clouds,
                seed: 7,
            });
            let loaded = Loaded {
                snapshot,
                ..Loaded::default()
            };
            let (mut report, _) = crate::scan::scan(&loaded, &policy);
            assert_eq!(report.findings.len() > WINDOW, vms == 1500);
            assert_eq!(written(&report), reference(&report), "{vms} VMs");
            report.warnings.push("a \"quoted\"\nwarning".to_string());
            report.gate = Some(crate::gate::GateOutcome {
                passed: false,
                fail_on: None,
                min_score: Some(9.5),
                failing_findings: 2,
                failures: vec!["score below 9.5".to_string()],
            });
            assert_eq!(
                written(&report),
                reference(&report),
                "{vms} VMs, with a gate"
            );
        }
    }
}
