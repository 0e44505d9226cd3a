//! A minimal progress bar on stderr: drawn only when stderr is a terminal, not with `--quiet`, and
//! only once a run has lasted a second. The simulator's [`Observer`]: the library tells, the
//! command line draws (a thread of its own, started by the first phase as the run starts, stopped
//! and the line cleared by `finish` or drop).

use cpufleet_sim::Observer;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

struct Inner {
    done: AtomicU64,
    total: AtomicU64,
    phase: Mutex<&'static str>,
    stop: AtomicBool,
}

/// The progress bar: an [`Observer`] that draws.
pub struct Bar {
    inner: Arc<Inner>,
    /// Whether to draw at all (enabled, stderr a terminal).
    draw: bool,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Bar {
    /// A progress bar (a no-op one unless `enabled` and stderr is a terminal).
    pub fn new(enabled: bool) -> Bar {
        let inner = Arc::new(Inner {
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            phase: Mutex::new("start"),
            stop: AtomicBool::new(false),
        });
        Bar { inner, draw: enabled && std::io::stderr().is_terminal(), thread: Mutex::new(None) }
    }
}

impl Observer for Bar {
    /// Starts a phase of `total` units (the first one starts the drawing thread).
    fn phase(&self, name: &'static str, total: u64) {
        *self.inner.phase.lock().unwrap_or_else(|e| e.into_inner()) = name;
        self.inner.done.store(0, Ordering::Relaxed);
        self.inner.total.store(total, Ordering::Relaxed);
        if self.draw && !self.inner.stop.load(Ordering::Relaxed) {
            let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
            if thread.is_none() {
                let inner = Arc::clone(&self.inner);
                *thread = Some(std::thread::spawn(move || draw_loop(&inner)));
            }
        }
    }

    fn add(&self, n: u64) {
        self.inner.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Stops the drawing thread and clears the line (once; later calls do nothing).
    fn finish(&self) {
        self.inner.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}

fn draw_loop(inner: &Inner) {
    let start = Instant::now();
    let mut drawn = false;
    while !inner.stop.load(Ordering::Relaxed) {
        std::thread::park_timeout(Duration::from_millis(100));
        if start.elapsed() < Duration::from_secs(1) || inner.stop.load(Ordering::Relaxed) {
            continue;
        }
        let phase = *inner.phase.lock().unwrap_or_else(|e| e.into_inner());
        let (done, total) = (inner.done.load(Ordering::Relaxed), inner.total.load(Ordering::Relaxed));
        let width = 30;
        let line = if total == 0 {
            // A phase without a known size: its name and the time only.
            format!("{phase:<10} [{:<width$}]       {:.1}s ", "working…", start.elapsed().as_secs_f64())
        } else {
            let frac = (done as f64 / total as f64).min(1.0);
            let filled = (frac * width as f64) as usize;
            let bar: String = "#".repeat(filled) + &"-".repeat(width - filled);
            format!("{phase:<10} [{bar}] {:>3.0}%  {:.1}s ", frac * 100.0, start.elapsed().as_secs_f64())
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}");
        let _ = err.flush();
        drawn = true;
    }
    if drawn {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    }
}
