//! A minimal progress bar on stderr: drawn only when stderr is a terminal, not with `--quiet`, and
//! only once a run has lasted a second.

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

pub struct Progress {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// A progress bar (a no-op one unless `enabled` and stderr is a terminal).
    pub fn new(enabled: bool) -> Progress {
        let inner = Arc::new(Inner {
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            phase: Mutex::new("start"),
            stop: AtomicBool::new(false),
        });
        let thread = (enabled && std::io::stderr().is_terminal()).then(|| {
            let inner = Arc::clone(&inner);
            std::thread::spawn(move || draw_loop(&inner))
        });
        Progress { inner, thread }
    }

    /// A no-op progress bar.
    pub fn hidden() -> Progress {
        Progress::new(false)
    }

    /// Starts a phase of `total` units.
    pub fn phase(&self, name: &'static str, total: u64) {
        *self.inner.phase.lock().unwrap_or_else(|e| e.into_inner()) = name;
        self.inner.done.store(0, Ordering::Relaxed);
        self.inner.total.store(total, Ordering::Relaxed);
    }

    pub fn add(&self, n: u64) {
        self.inner.done.fetch_add(n, Ordering::Relaxed);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
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
