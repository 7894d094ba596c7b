//! Progress while regions are read: one bar per region on standard error, counting the lists
//! read and the items received. Drawn only on a terminal, and never with `--quiet`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::fetch::LISTS;
use crate::model::Snapshot;

/// The bars of all regions.
pub(super) struct Progress {
    bars: Vec<RegionBar>,
}

/// One region's bar; clones update the same bar.
#[derive(Clone)]
pub(super) struct RegionBar {
    bar: ProgressBar,
    items: Arc<AtomicUsize>,
}

impl Progress {
    /// Bars for `regions`, waiting; invisible unless `visible` and standard error is a terminal.
    pub(super) fn new(visible: bool, regions: &[String]) -> Self {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let width = regions.iter().map(String::len).max().unwrap_or(0);
        let bars = regions
            .iter()
            .map(|region| {
                let bar = multi.add(ProgressBar::new(LISTS));
                bar.set_style(style("{prefix} waiting"));
                bar.set_prefix(format!("{region:>width$}"));
                RegionBar {
                    bar,
                    items: Arc::default(),
                }
            })
            .collect();
        Self { bars }
    }

    /// The bar of the `index`th region (a detached, invisible one if there is none).
    pub(super) fn bar(&self, index: usize) -> RegionBar {
        self.bars.get(index).cloned().unwrap_or_else(|| RegionBar {
            bar: ProgressBar::hidden(),
            items: Arc::default(),
        })
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl RegionBar {
    pub(super) fn start(&self) {
        self.bar
            .set_style(style("{prefix} [{bar:24}] {pos}/{len} lists, {msg}"));
        self.bar.set_message("0 items");
        self.bar.tick();
    }

    /// A page of `items` arrived.
    pub(super) fn page(&self, items: usize) {
        let total = self.items.fetch_add(items, Ordering::Relaxed) + items;
        self.bar.set_message(format!("{total} items"));
    }

    /// A list was read to its last page.
    pub(super) fn list_done(&self) {
        self.bar.inc(1);
    }

    /// `count` more lists to read (the prefix lists the security groups name).
    pub(super) fn more_lists(&self, count: u64) {
        self.bar.inc_length(count);
    }

    pub(super) fn finish(&self, result: &Result<Snapshot, String>, calls: u64) {
        self.bar.set_style(style("{prefix} {msg}"));
        self.bar.finish_with_message(match result {
            Ok(part) => format!("{} resources, {calls} API calls", part.resource_count()),
            Err(error) => format!("FAILED: {error}"),
        });
    }
}
