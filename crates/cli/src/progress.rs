//! The progress bar: rows, bytes, rate and ETA on a terminal; nothing otherwise.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};
use pairscope_model::Progress;

use crate::args::GlobalArgs;

pub struct Bar {
    bar: ProgressBar,
    rows: AtomicU64,
}

impl Bar {
    /// A bar on stderr when it is a terminal and `--quiet` is off; hidden otherwise.
    #[expect(clippy::expect_used, reason = "the template is a constant; every run on a terminal parses it")]
    pub fn new(global: &GlobalArgs, label: &'static str) -> Bar {
        let bar = if global.quiet || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(8));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} · {msg} · ETA {eta}",
                )
                .expect("valid template"),
            );
            bar.set_prefix(label);
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        };
        Bar { bar, rows: AtomicU64::new(0) }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn set_total_bytes(&self, bytes: u64) {
        self.bar.set_length(bytes);
    }

    fn advance(&self, rows: u64, bytes: u64) {
        let total = self.rows.fetch_add(rows, Ordering::Relaxed) + rows;
        self.bar.inc(bytes);
        if !self.bar.is_hidden() {
            let rate = total as f64 / self.bar.elapsed().as_secs_f64().max(1e-3);
            self.bar.set_message(format!("{} rows, {} rows/s", HumanCount(total), HumanCount(rate as u64)));
        }
    }
}
