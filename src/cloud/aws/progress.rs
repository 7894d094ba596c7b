//! Progress while regions are read, on standard error: one bar per region counting the lists
//! read and the items received; or, in an organisation scan, one bar for all the accounts'
//! regions, counting their lists, the regions done and failed, and the items. Drawn only on a
//! terminal, and never with `--quiet`.

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
    /// The regions' count, when the bar is every region's.
    shared: Option<Arc<Regions>>,
}

/// The regions of a bar shared by all.
#[derive(Default)]
struct Regions {
    total: usize,
    done: AtomicUsize,
    failed: AtomicUsize,
}

fn target(visible: bool) -> ProgressDrawTarget {
    if visible {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

impl Progress {
    /// Bars for `regions`, waiting; invisible unless `visible` and standard error is a terminal.
    pub(super) fn new(visible: bool, regions: &[String]) -> Self {
        let multi = MultiProgress::with_draw_target(target(visible));
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
                    shared: None,
                }
            })
            .collect();
        Self { bars }
    }

    /// One bar for `regions` regions (of all the accounts); invisible unless `visible` and
    /// standard error is a terminal.
    pub(super) fn combined(visible: bool, regions: usize) -> Self {
        let bar = ProgressBar::with_draw_target(Some(LISTS * regions as u64), target(visible));
        bar.set_style(style("[{bar:24}] {pos}/{len} lists, {msg}"));
        let shared = RegionBar {
            bar,
            items: Arc::default(),
            shared: Some(Arc::new(Regions {
                total: regions,
                ..Regions::default()
            })),
        };
        shared.show_tally();
        Self {
            bars: vec![shared; regions],
        }
    }

    /// The bar of the `index`th region (a detached, invisible one if there is none).
    pub(super) fn bar(&self, index: usize) -> RegionBar {
        self.bars.get(index).cloned().unwrap_or_else(|| RegionBar {
            bar: ProgressBar::hidden(),
            items: Arc::default(),
            shared: None,
        })
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl RegionBar {
    pub(super) fn start(&self) {
        if self.shared.is_some() {
            return;
        }
        self.bar
            .set_style(style("{prefix} [{bar:24}] {pos}/{len} lists, {msg}"));
        self.bar.set_message("0 items");
        self.bar.tick();
    }

    /// A page of `items` arrived.
    pub(super) fn page(&self, items: usize) {
        self.items.fetch_add(items, Ordering::Relaxed);
        self.show_tally();
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
        let Some(regions) = &self.shared else {
            self.bar.set_style(style("{prefix} {msg}"));
            self.bar.finish_with_message(match result {
                Ok(part) => format!("{} resources, {calls} API calls", part.resource_count()),
                Err(error) => format!("FAILED: {error}"),
            });
            return;
        };
        if result.is_err() {
            regions.failed.fetch_add(1, Ordering::Relaxed);
        }
        let done = regions.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.show_tally();
        if done == regions.total {
            self.bar.finish();
        }
    }

    /// `1,204 items` on a region's bar; `3/8 regions (1 failed), 1,204 items` on a shared one.
    fn show_tally(&self) {
        let items = crate::verdict::thousands(self.items.load(Ordering::Relaxed) as u128);
        self.bar.set_message(match &self.shared {
            None => format!("{items} items"),
            Some(regions) => {
                let failed = regions.failed.load(Ordering::Relaxed);
                let failed = if failed > 0 {
                    format!(" ({failed} failed)")
                } else {
                    String::new()
                };
                format!(
                    "{}/{} regions{failed}, {items} items",
                    regions.done.load(Ordering::Relaxed),
                    regions.total
                )
            }
        });
    }
}
