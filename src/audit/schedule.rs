//! `audit --every DURATION`: runs on a fixed cadence until SIGTERM or SIGINT. The signals are
//! caught from the start, so one that arrives during a run waits for the run to finish (its
//! outputs written and its recording committed); the audit then stops instead of sleeping.
//! [`Stopper`] is the signal-aware wait on its own, which `jit sweep --watch` uses too.

use std::time::{Duration, Instant};

use async_signal::{Signal, Signals};
use futures::StreamExt;
use tokio::runtime::Runtime;

/// SIGTERM and SIGINT, caught from creation on, and waits that they cut short.
pub struct Stopper {
    runtime: Runtime,
    /// SIGTERM and SIGINT, queued from creation on.
    signals: Signals,
}

impl Stopper {
    /// Catches SIGTERM and SIGINT from now on.
    pub fn new() -> Result<Self, String> {
        let fail = |e: std::io::Error| format!("cannot catch SIGTERM and SIGINT: {e}");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(fail)?;
        let signals = Signals::new([Signal::Term, Signal::Int]).map_err(fail)?;
        Ok(Stopper { runtime, signals })
    }

    /// Waits until `until`, or returns the name of the signal that came first (at once if one
    /// came since the last wait).
    pub fn wait(&mut self, until: Instant) -> Result<Option<&'static str>, String> {
        let Stopper { runtime, signals } = self;
        runtime.block_on(async {
            tokio::select! {
                biased;
                signal = signals.next() => match signal {
                    Some(Ok(Signal::Int)) => Ok(Some("SIGINT")),
                    Some(Ok(_)) => Ok(Some("SIGTERM")),
                    Some(Err(e)) => Err(format!("cannot wait for SIGTERM and SIGINT: {e}")),
                    None => Err("cannot wait for SIGTERM and SIGINT any more".to_owned()),
                },
                () = tokio::time::sleep_until(until.into()) => Ok(None),
            }
        })
    }
}

/// The cadence, and the signals that end it.
pub struct Schedule {
    every: Duration,
    stopper: Stopper,
}

impl Schedule {
    /// Catches SIGTERM and SIGINT from now on.
    pub fn new(every: Duration) -> Result<Self, String> {
        Ok(Schedule {
            every,
            stopper: Stopper::new()?,
        })
    }

    /// When the run that started at `started` should be followed by the next.
    pub fn next(&self, started: Instant) -> Instant {
        started + self.every
    }

    /// Waits until `next`, or returns the name of the signal that came first (at once if one
    /// came during the run).
    pub fn wait(&mut self, next: Instant) -> Result<Option<&'static str>, String> {
        self.stopper.wait(next)
    }
}
