//! `portcullis rules explain ID`: a recommendation's documentation, read from the policy, with
//! its example estates scanned by the engine so that what the documentation shows is what the
//! engine does. A flagged example must make the recommendation unhealthy for some VM; a
//! not-flagged one must leave it healthy or not applicable for every VM.

use std::fmt::{self, Write};

use crate::finding::Status;
use crate::load;
use crate::model::PortSpec;
use crate::policy::{Example, ExampleVerdict, Policy, Recommendation};
use crate::scan;
use crate::verdict::port_list;

/// One example of a recommendation and what the engine made of it.
#[derive(Debug)]
pub struct ExampleCheck<'a> {
    pub verdict: ExampleVerdict,
    pub example: &'a Example,
    /// The name the estate is loaded under, which load errors cite.
    pub label: String,
    pub outcome: Outcome,
}

/// What scanning an example estate gave.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// The estate was judged the way the example says, with these verdicts per VM.
    Holds(Vec<VmVerdict>),
    /// The estate was judged the other way.
    Contradicted(Vec<VmVerdict>),
    /// No VM of the estate was judged against the recommendation.
    NoVm,
    /// The estate is not an input portcullis reads.
    Unreadable(String),
}

/// The recommendation's status on one VM of an example estate.
#[derive(Debug, PartialEq)]
pub struct VmVerdict {
    pub vm: String,
    pub status: Status,
    /// The ports the finding lists (open, or reached outside JIT).
    pub ports: Vec<PortSpec>,
}

impl ExampleCheck<'_> {
    pub fn holds(&self) -> bool {
        matches!(self.outcome, Outcome::Holds(_))
    }
}

/// Scans every example of `recommendation` against `policy`.
pub fn check_examples<'a>(
    policy: &Policy,
    recommendation: &'a Recommendation,
) -> Vec<ExampleCheck<'a>> {
    let examples = &recommendation.examples;
    [
        (ExampleVerdict::Flagged, &examples.flagged),
        (ExampleVerdict::NotFlagged, &examples.not_flagged),
    ]
    .into_iter()
    .flat_map(|(verdict, list)| {
        list.iter()
            .enumerate()
            .map(move |(i, example)| (verdict, i + 1, example))
    })
    .map(|(verdict, number, example)| {
        let label = format!("{}: {verdict} example {number}", recommendation.id);
        let outcome = scan_example(policy, &recommendation.id, verdict, example, &label);
        ExampleCheck {
            verdict,
            example,
            label,
            outcome,
        }
    })
    .collect()
}

fn scan_example(
    policy: &Policy,
    recommendation: &str,
    verdict: ExampleVerdict,
    example: &Example,
    label: &str,
) -> Outcome {
    let loaded = match load::load_file_bytes(label, example.estate.as_bytes()) {
        Ok(loaded) if loaded.skipped.contains_key(load::UNRECOGNISED_FILE) => {
            return Outcome::Unreadable(format!(
                "{label}: not an export portcullis reads (a JSON array of Azure resources, or AWS \
                 describe-* outputs merged into one JSON object)"
            ));
        }
        Ok(loaded) => loaded,
        Err(e) => return Outcome::Unreadable(e.to_string()),
    };
    let (report, _) = scan::scan(&loaded, policy);
    let vms: Vec<VmVerdict> = report
        .findings
        .iter()
        .filter(|f| f.rule == recommendation)
        .map(|f| VmVerdict {
            vm: f.resource_name.clone(),
            status: f.status,
            ports: f.ports.clone(),
        })
        .collect();
    if vms.is_empty() {
        return Outcome::NoVm;
    }
    let flagged = vms.iter().any(|v| v.status == Status::Unhealthy);
    if flagged == (verdict == ExampleVerdict::Flagged) {
        Outcome::Holds(vms)
    } else {
        Outcome::Contradicted(vms)
    }
}

/// The text `rules explain` prints, given the checks of the recommendation's examples.
pub fn render(policy: &Policy, r: &Recommendation, checks: &[ExampleCheck]) -> String {
    let mut out = format!("{}: {}\n\n", r.id, r.title.trim());
    let control = policy.control(&r.control).map_or_else(
        || r.control.clone(),
        |c| format!("{} ({}, {} points)", c.id, c.title, c.max_points),
    );
    let _ = writeln!(out, "  control:   {control}");
    let _ = writeln!(out, "  kind:      {}", r.kind);
    let _ = writeln!(out, "  severity:  {}", r.severity);
    if r.kind.watches_ports() {
        let ports: Vec<String> = r.ports.iter().map(ToString::to_string).collect();
        let _ = writeln!(out, "  ports:     {}", ports.join(", "));
        let _ = writeln!(
            out,
            "  open when: more than {} IPv4 or {} IPv6 internet addresses reach a port",
            r.thresholds.ipv4_addresses,
            Power2(r.thresholds.ipv6_addresses)
        );
    }
    section(&mut out, "What it flags", &r.description);
    if r.explanation.trim().is_empty() {
        section(
            &mut out,
            "Why",
            "Not documented: this recommendation's rules file has no `explanation`.",
        );
    } else {
        section(&mut out, "Why", &r.explanation);
    }
    if checks.is_empty() {
        section(
            &mut out,
            "Examples",
            "Not documented: this recommendation's rules file has no `examples` (see \
             rules/README.md for how to add a flagged and a not-flagged estate).",
        );
    }
    for (verdict, heading) in [
        (ExampleVerdict::Flagged, "Flagged"),
        (ExampleVerdict::NotFlagged, "Not flagged"),
    ] {
        let mut checks = checks.iter().filter(|c| c.verdict == verdict).peekable();
        if checks.peek().is_none() {
            continue;
        }
        let _ = writeln!(out, "\n{heading}");
        for check in checks {
            let _ = writeln!(out);
            indented(&mut out, "  ", check.example.description.trim());
            indented(&mut out, "      ", check.example.estate.trim_end());
            let _ = writeln!(out, "    {}", Scanned(check));
        }
    }
    section(&mut out, "Remediation", &r.remediation);
    out
}

fn section(out: &mut String, heading: &str, text: &str) {
    let _ = writeln!(out, "\n{heading}\n");
    indented(out, "  ", text.trim_end());
}

fn indented(out: &mut String, indent: &str, text: &str) {
    for line in text.lines() {
        if line.trim().is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{indent}{line}");
        }
    }
}

/// The verdict line under an example: what the engine said and whether the example holds.
struct Scanned<'a, 'b>(&'a ExampleCheck<'b>);

impl fmt::Display for Scanned<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let check = self.0;
        match &check.outcome {
            Outcome::Holds(vms) => write!(f, "scanned: {}", Verdicts(vms)),
            Outcome::Contradicted(vms) => write!(
                f,
                "scanned: {} -- this example does NOT hold: it is documented as {}; fix the \
                 example or the recommendation",
                Verdicts(vms),
                check.verdict
            ),
            Outcome::NoVm => f.write_str(
                "scanned: no VM judged -- this example does NOT hold: its estate needs a VM",
            ),
            Outcome::Unreadable(error) => write!(
                f,
                "scanned: cannot read the estate -- this example does NOT hold: {error}"
            ),
        }
    }
}

struct Verdicts<'a>(&'a [VmVerdict]);

impl fmt::Display for Verdicts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, vm) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} {}", vm.vm, vm.status)?;
            if !vm.ports.is_empty() {
                write!(f, " ({})", port_list(&vm.ports))?;
            }
        }
        Ok(())
    }
}

/// An address count, as 2^N when it is a power of two above 2^32 (IPv6 thresholds).
struct Power2(u128);

impl fmt::Display for Power2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_power_of_two() && self.0 > 1 << 32 {
            write!(f, "2^{}", self.0.trailing_zeros())
        } else {
            write!(f, "{}", self.0)
        }
    }
}
