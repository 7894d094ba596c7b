//! Progress on standard error while subscriptions are read: one bar for the collection and a
//! line per subscription being read. Hidden when standard error is not a terminal, or on request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::verdict::thousands;

/// The collection's bars.
pub struct Progress {
    multi: MultiProgress,
    overall: ProgressBar,
}

impl Progress {
    pub fn new(visible: bool, subscriptions: usize) -> Self {
        // indicatif draws nothing on a stderr that is not a terminal.
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(subscriptions as u64));
        overall.set_style(style("{bar:30} {pos}/{len} subscriptions  {elapsed}"));
        overall.tick();
        Progress { multi, overall }
    }

    /// A line for a subscription being read, until [`SubscriptionProgress::done`].
    pub fn subscription(&self, id: &str) -> SubscriptionProgress {
        let bar = self
            .multi
            .insert_before(&self.overall, ProgressBar::new_spinner());
        bar.set_style(style("{spinner} {prefix}  {msg}"));
        bar.set_prefix(id.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        SubscriptionProgress {
            bar,
            overall: self.overall.clone(),
            pages: AtomicU64::new(0),
            resources: AtomicU64::new(0),
        }
    }

    pub fn finish(&self) {
        self.overall.finish_and_clear();
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// One subscription's line.
pub struct SubscriptionProgress {
    bar: ProgressBar,
    overall: ProgressBar,
    pages: AtomicU64,
    resources: AtomicU64,
}

impl SubscriptionProgress {
    /// Counts a page read and the resources it held.
    pub fn page(&self, resources: usize) {
        let pages = self.pages.fetch_add(1, Ordering::Relaxed) + 1;
        let resources = self
            .resources
            .fetch_add(resources as u64, Ordering::Relaxed)
            + resources as u64;
        self.bar.set_message(format!(
            "{} pages, {} resources",
            thousands(u128::from(pages)),
            thousands(u128::from(resources))
        ));
    }

    pub fn done(self) {
        self.bar.finish_and_clear();
        self.overall.inc(1);
    }
}
