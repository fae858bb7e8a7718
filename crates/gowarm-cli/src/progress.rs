//! Progress bars on a terminal.

use std::sync::Mutex;

use gowarm::{Phase, Progress};
use indicatif::{ProgressBar, ProgressStyle};

/// Draws one bar per warm phase on stderr.
#[derive(Default)]
pub struct Bars {
    bar: Mutex<Option<ProgressBar>>,
}

impl Progress for Bars {
    fn begin(&self, phase: Phase, items: u64, _bytes: u64) {
        let label = match phase {
            Phase::Modules => "modules",
            Phase::Entries => "build cache",
        };
        let bar = ProgressBar::new(items);
        let style =
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(label);
        if let Ok(mut b) = self.bar.lock() {
            *b = Some(bar);
        }
    }

    fn advance(&self, bytes: u64) {
        if let Ok(b) = self.bar.lock() {
            if let Some(bar) = b.as_ref() {
                bar.inc(1);
                if bytes > 0 {
                    bar.set_message(gowarm::report::human_bytes(bytes));
                }
            }
        }
    }

    fn end(&self) {
        if let Ok(mut b) = self.bar.lock() {
            if let Some(bar) = b.take() {
                bar.finish_and_clear();
            }
        }
    }
}
