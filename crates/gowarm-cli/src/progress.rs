//! Progress bars on a terminal.

use std::sync::Mutex;

use gowarm::{Phase, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Draws one bar per warm phase on stderr (phases run at the same time).
#[derive(Default)]
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<Vec<(Phase, ProgressBar)>>,
}

impl Bars {
    fn with(&self, phase: Phase, f: impl FnOnce(&ProgressBar)) {
        if let Ok(bars) = self.bars.lock() {
            if let Some((_, bar)) = bars.iter().find(|(p, _)| *p == phase) {
                f(bar);
            }
        }
    }
}

impl Progress for Bars {
    fn begin(&self, phase: Phase, items: u64, _bytes: u64) {
        let label = match phase {
            Phase::Modules => "modules",
            Phase::Entries => "build cache",
        };
        let style =
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        let bar = self.multi.add(ProgressBar::new(items));
        bar.set_style(style);
        bar.set_prefix(label);
        if let Ok(mut bars) = self.bars.lock() {
            bars.push((phase, bar));
        }
    }

    fn advance(&self, phase: Phase, bytes: u64) {
        self.with(phase, |bar| {
            bar.inc(1);
            if bytes > 0 {
                bar.set_message(gowarm::report::human_bytes(bytes));
            }
        });
    }

    fn end(&self, phase: Phase) {
        self.with(phase, ProgressBar::finish_and_clear);
    }
}
