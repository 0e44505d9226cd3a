//! The progress bar on stderr, drawn by indicatif: only when stderr is a terminal and not with
//! `--quiet`, and only once a run has lasted a second (a short run draws nothing). The
//! simulator's and collect's [`Observer`]: the library tells, the command line draws.

use cpufleet_sim::Observer;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long a run goes undrawn.
const QUIET_FOR: Duration = Duration::from_secs(1);

/// The progress bar: an [`Observer`] that draws.
pub struct Bar {
    bar: ProgressBar,
    /// Whether to draw at all (enabled, stderr a terminal).
    draw: bool,
    /// Whether the bar is on the terminal yet.
    shown: AtomicBool,
    start: Instant,
}

impl Bar {
    /// A progress bar (a no-op one unless `enabled` and stderr is a terminal).
    pub fn new(enabled: bool) -> Bar {
        Bar {
            bar: ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()),
            draw: enabled && std::io::stderr().is_terminal(),
            shown: AtomicBool::new(false),
            start: Instant::now(),
        }
    }

    /// Puts the bar on stderr once the run has lasted [`QUIET_FOR`] (indicatif's own tick then
    /// redraws it, so a long phase without news still shows its time).
    fn show_when_due(&self) {
        if self.draw && !self.shown.load(Ordering::Relaxed) && self.start.elapsed() >= QUIET_FOR {
            self.shown.store(true, Ordering::Relaxed);
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.bar.enable_steady_tick(Duration::from_millis(100));
        }
    }
}

impl Observer for Bar {
    /// Starts a phase of `total` units (0: its name and the time only).
    fn phase(&self, name: &'static str, total: u64) {
        let template = if total == 0 {
            "{msg:<10} {spinner} {elapsed_precise}"
        } else {
            "{msg:<10} [{bar:30}] {percent:>3}%  {elapsed_precise}"
        };
        let style = ProgressStyle::with_template(template).expect("a valid template").progress_chars("#>-");
        self.bar.set_style(style);
        self.bar.set_length(total);
        self.bar.set_position(0);
        self.bar.set_message(name);
        self.show_when_due();
    }

    fn add(&self, n: u64) {
        self.bar.inc(n);
        self.show_when_due();
    }

    /// Clears the line (later calls do nothing).
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
