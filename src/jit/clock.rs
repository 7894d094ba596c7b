//! The time a `jit` command runs at, and the durations and instants it reads and writes.
//!
//! Instants are RFC 3339 in UTC, to the second. [`now`] is the system clock, unless a test clock
//! is set: [`TEST_NOW_VARIABLE`] names a fixed instant (one-shot commands; the tests move time
//! forward from one command to the next instead of sleeping), or [`TEST_CLOCK_FILE_VARIABLE`]
//! names a file holding one, read again at every [`now`].
//!
//! # The test seam of `jit sweep --watch`
//!
//! The watcher never sleeps for the whole wait: it sleeps at most [`recheck`] at a time, then
//! reads [`now`] again and compares it with the instant it is waiting for (the next expiry, or
//! the end of `--interval`). On the system clock the slice is [`SYSTEM_RECHECK`], so a clock
//! that jumps (a suspended machine, an NTP step) is noticed within a minute; on a test clock it
//! is [`TEST_RECHECK`] of real time. A test runs the watcher as a child process with
//! [`TEST_CLOCK_FILE_VARIABLE`], rewrites the file to move its time, and waits (bounded) for the
//! effect in the cloud: the watcher's own arithmetic decides when it sweeps, exactly as with the
//! system clock, and no test sleeps for timing.

use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The tests' fixed clock: an RFC 3339 instant that [`now`] returns instead of the system clock.
pub const TEST_NOW_VARIABLE: &str = "PORTCULLIS_TEST_NOW";
/// The tests' movable clock: a file holding an RFC 3339 instant that [`now`] reads each time.
pub const TEST_CLOCK_FILE_VARIABLE: &str = "PORTCULLIS_TEST_CLOCK_FILE";
/// The longest a waiter sleeps on the system clock before reading it again.
pub const SYSTEM_RECHECK: Duration = Duration::from_secs(60);
/// The longest a waiter sleeps (real time) on a test clock before reading it again.
pub const TEST_RECHECK: Duration = Duration::from_millis(20);

/// The shortest grant.
pub const MIN_DURATION: Duration = Duration::from_secs(60);
/// The longest grant any policy may allow.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// A grant's duration when the request names none.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(3 * 3600);

/// Now, to the second: the test clock when one is set ([`TEST_CLOCK_FILE_VARIABLE`], else
/// [`TEST_NOW_VARIABLE`]), else the system clock.
pub fn now() -> Result<OffsetDateTime, String> {
    let now = match test_clock() {
        Some(TestClock::File(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "{TEST_CLOCK_FILE_VARIABLE}: cannot read {}: {e}",
                    path.display()
                )
            })?;
            parse_instant(&text)
                .map_err(|e| format!("{TEST_CLOCK_FILE_VARIABLE} {}: {e}", path.display()))?
        }
        Some(TestClock::Fixed(text)) => {
            parse_instant(&text).map_err(|e| format!("{TEST_NOW_VARIABLE}: {e}"))?
        }
        None => OffsetDateTime::now_utc(),
    };
    Ok(now.replace_nanosecond(0).expect("0 is a valid nanosecond"))
}

/// How long a waiter may sleep before reading [`now`] again: [`TEST_RECHECK`] on a test clock,
/// else [`SYSTEM_RECHECK`].
pub fn recheck() -> Duration {
    match test_clock() {
        Some(_) => TEST_RECHECK,
        None => SYSTEM_RECHECK,
    }
}

/// A test clock the environment sets.
enum TestClock {
    File(PathBuf),
    Fixed(String),
}

fn test_clock() -> Option<TestClock> {
    let set = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(path) = set(TEST_CLOCK_FILE_VARIABLE) {
        return Some(TestClock::File(path.into()));
    }
    set(TEST_NOW_VARIABLE).map(|text| TestClock::Fixed(text.to_string_lossy().into_owned()))
}

/// An RFC 3339 instant, e.g. `2026-12-03T08:00:00Z`.
pub fn parse_instant(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text.trim(), &Rfc3339)
        .map(|t| t.to_offset(time::UtcOffset::UTC))
        .map_err(|e| format!("{text:?} is not an RFC 3339 time such as 2026-12-03T08:00:00Z: {e}"))
}

/// `2026-12-03T08:00:00Z`.
pub fn format_instant(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .expect("a UTC time formats as RFC 3339")
}

/// A grant's duration: `90m`, `2h`, `1h30m`, `45s` is refused (at least a minute), up to 24 h.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration such as 30m, 2h or 1h30m");
    let mut total = 0u64;
    let mut digits = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = total.saturating_add(n.saturating_mul(unit));
        digits.clear();
    }
    if !digits.is_empty() || total == 0 {
        return Err(bad());
    }
    let duration = Duration::from_secs(total);
    if !(MIN_DURATION..=MAX_DURATION).contains(&duration) {
        return Err(format!(
            "{text:?}: a grant lasts from 1 minute to 24 hours; ask for a duration in between"
        ));
    }
    Ok(duration)
}

/// `2h`, `1h30m`, `5m`.
pub fn show_duration(duration: Duration) -> String {
    let (h, m) = (duration.as_secs() / 3600, duration.as_secs() % 3600 / 60);
    match (h, m) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_within_a_minute_and_a_day() {
        for (text, secs) in [("2h", 7200), ("90m", 5400), ("1h30m", 5400), ("24h", 86400)] {
            assert_eq!(parse_duration(text).unwrap().as_secs(), secs, "{text}");
        }
        for bad in ["", "2", "h", "59s", "25h", "1d", "-1h", "1h 2m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(show_duration(Duration::from_secs(5400)), "1h30m");
    }

    #[test]
    fn instants_round_trip_in_utc() {
        let at = parse_instant("2026-12-03T09:00:00+01:00").unwrap();
        assert_eq!(format_instant(at), "2026-12-03T08:00:00Z");
        assert!(parse_instant("yesterday").is_err());
    }
}
