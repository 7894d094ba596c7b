//! Bounds on everything portcullis reads: live API calls (timeouts, a deadline per scope,
//! the longest `Retry-After` obeyed, the largest response body) and input files (the largest
//! file read). A scheduled audit or CI gate must end, and must not exhaust memory, whatever an
//! endpoint or a file does. The defaults are documented in docs/limits.md and each has a flag.

use std::time::Duration;

/// The bounds one command runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How long to wait for a TCP (and TLS) connection to be established.
    pub connect_timeout: Duration,
    /// How long a response may stay silent: no headers, or no further bytes of its body.
    pub read_timeout: Duration,
    /// How long one scope (an AWS region or account-region, an Azure subscription) may take in
    /// all, retries included; past it the scope fails and the others go on.
    pub scope_deadline: Duration,
    /// The longest `Retry-After` (or backoff) obeyed; a longer one is cut to this.
    pub max_retry_after: Duration,
    /// The largest response body read from an API, in bytes.
    pub max_response_bytes: u64,
    /// The largest input file read (`--input`, `--baseline`, `--exemptions`, rules), in bytes.
    pub max_input_bytes: u64,
}

impl Limits {
    /// Connection established within 10 s.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// No response silent for more than 30 s.
    pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
    /// Each scope read within 5 minutes.
    pub const DEFAULT_SCOPE_DEADLINE: Duration = Duration::from_secs(300);
    /// `Retry-After` obeyed up to 60 s.
    pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
    /// Response bodies up to 256 MiB (an ARM page is a few MB at most).
    pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 256 << 20;
    /// Input files up to 2 GiB (a 100,000-VM export is well under 1 GiB).
    pub const DEFAULT_MAX_INPUT_BYTES: u64 = 2 << 30;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            read_timeout: Self::DEFAULT_READ_TIMEOUT,
            scope_deadline: Self::DEFAULT_SCOPE_DEADLINE,
            max_retry_after: Self::DEFAULT_MAX_RETRY_AFTER,
            max_response_bytes: Self::DEFAULT_MAX_RESPONSE_BYTES,
            max_input_bytes: Self::DEFAULT_MAX_INPUT_BYTES,
        }
    }
}

/// Parses a duration flag: `30` (seconds), `500ms`, `30s`, `5m` or `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = number_and_unit(text)
        .ok_or_else(|| format!("{text:?} is not a duration; give e.g. 30s, 500ms, 5m or 1h"))?;
    let duration = match unit {
        "" | "s" => Duration::from_secs(number),
        "ms" => Duration::from_millis(number),
        "m" => Duration::from_secs(number.saturating_mul(60)),
        "h" => Duration::from_secs(number.saturating_mul(3600)),
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?}; use ms, s, m or h"
            ));
        }
    };
    if duration.is_zero() {
        return Err(format!("{text:?}: a duration must be more than zero"));
    }
    Ok(duration)
}

/// Parses a size flag: `1048576` (bytes), `64KiB`, `256MiB` or `2GiB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = number_and_unit(text)
        .ok_or_else(|| format!("{text:?} is not a size; give e.g. 64KiB, 256MiB or 2GiB"))?;
    let shift = match unit {
        "" | "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?}; use B, KiB, MiB or GiB"
            ));
        }
    };
    number
        .checked_mul(1 << shift)
        .filter(|&bytes| bytes > 0)
        .ok_or_else(|| format!("{text:?}: a size must be more than zero and under 16 EiB"))
}

/// `"30ms"` as `(30, "ms")`: the leading digits as a number and the rest as its unit.
fn number_and_unit(text: &str) -> Option<(u64, &str)> {
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    Some((number.parse().ok()?, unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (text, want) in [
            ("30", Ok(Duration::from_secs(30))),
            ("30s", Ok(Duration::from_secs(30))),
            ("500ms", Ok(Duration::from_millis(500))),
            ("5m", Ok(Duration::from_secs(300))),
            ("1h", Ok(Duration::from_secs(3600))),
        ] {
            assert_eq!(parse_duration(text), want, "{text}");
        }
        for bad in ["", "0", "0s", "s", "1d", "-1", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        for (text, want) in [
            ("1", 1),
            ("64KiB", 64 << 10),
            ("256MiB", 256 << 20),
            ("2GiB", 2 << 30),
        ] {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
        for bad in ["", "0", "0MiB", "1MB", "1 GiB", "99999999999GiB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
