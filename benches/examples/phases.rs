//! Time and bytes per phase of `cpufleet simulate --scenario migrate` (issue 24): the phases the
//! simulator runs, called one after the other as `cpufleet_sim::simulate` calls them, each timed
//! and its heap traffic counted by a counting allocator (bytes allocated during the phase, the
//! phase's peak of live bytes above what was live when it started, live bytes after it). Then the
//! whole run (`cpufleet_sim::simulate`, every phase again plus the report rows) and the JSON
//! report written to a sink.
//!
//! ```sh
//! cargo build --release -p cpufleet-benches --example phases
//! target/release/examples/phases [--no-count] [VERSION [HOSTS GUESTS MIGRATIONS]]   # default 11.3.0 1000000 100000 10000000
//! ```
//!
//! Counting costs time where a phase allocates often from several threads (the counters are
//! shared atomics): take the times from a `--no-count` run (bytes then read 0) and the bytes
//! from a counting one.
//!
//! Rayon's default pool (every core) runs the parallel phases, as `cpufleet simulate` without
//! `--threads` does.

use cpufleet_engine::{CpuMap, LibvirtVersion};
use cpufleet_sim::phases::{self, Compat, Sim};
use cpufleet_sim::{load_spec, simulate, write_report_json, Config, Fleet, Rollout, Scenario, Silent};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

/// The system allocator, counting: live bytes, their peak, bytes allocated in all.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static TOTAL: AtomicUsize = AtomicUsize::new(0);
/// Whether to count at all (`--no-count` clears it before the first phase).
static COUNT: AtomicBool = AtomicBool::new(true);

fn grew(n: usize) {
    if !COUNT.load(Relaxed) {
        return;
    }
    let live = LIVE.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(live, Relaxed);
    TOTAL.fetch_add(n, Relaxed);
}

fn shrank(n: usize) {
    if COUNT.load(Relaxed) {
        LIVE.fetch_sub(n, Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        grew(l.size());
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        grew(l.size());
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        shrank(l.size());
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new >= l.size() {
            grew(new - l.size());
        } else {
            shrank(l.size() - new);
        }
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` as phase `name` and prints its line.
fn phase<T>(name: &str, f: impl FnOnce() -> T) -> T {
    let (live0, total0) = (LIVE.load(Relaxed), TOTAL.load(Relaxed));
    PEAK.store(live0, Relaxed);
    let t = Instant::now();
    let out = f();
    let secs = t.elapsed().as_secs_f64();
    let mb = |b: usize| b as f64 / 1e6;
    println!(
        "| {name} | {:.3} | {:.1} | {:.1} | {:.1} |",
        secs,
        mb(TOTAL.load(Relaxed) - total0),
        mb(PEAK.load(Relaxed) - live0),
        mb(LIVE.load(Relaxed))
    );
    out
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--no-count") {
        args.remove(0);
        COUNT.store(false, Relaxed);
    }
    let version = args.first().map_or("11.3.0", String::as_str);
    let v =
        LibvirtVersion::ALL.into_iter().find(|v| v.to_string() == version).expect("VERSION: 9.0.0, 11.3.0 or 12.9.0");
    let num = |i: usize, d: u64| args.get(i).map_or(d, |s| s.parse().expect("a number"));
    let (hosts, guests, migrations) = (num(1, 1_000_000), num(2, 100_000), num(3, 10_000_000));
    println!("libvirt {v}, {hosts} hosts, {guests} guests, {migrations} migrations, migrate scenario");
    println!();
    println!("| phase | s | MB allocated | MB peak above start | MB live after |");
    println!("|---|---:|---:|---:|---:|");
    let map = phase("map load (`CpuMap::embedded`)", || CpuMap::embedded(v).expect("embedded map"));
    let spec = phase("spec (`spec::load`, scaled)", || {
        let mut s = load_spec(&map.x86, None, 1 << 20).expect("embedded spec");
        s.scale_hosts(hosts).expect("hosts");
        s.set_guests(guests).expect("guests");
        s.set_migrations(migrations).expect("migrations");
        s
    });
    let fleet = phase("fleet generation and host models (`Fleet::generate`)", || {
        Fleet::generate(&map.x86, &spec, 1).expect("fleet")
    });
    let mut sim = phase("pool baselines (`Sim::with_fleet`)", || Sim::with_fleet(&map, &spec, 1, None, fleet));
    let started = phase("guest starts (`migrate::start_guests`)", || phases::start_guests(&mut sim, spec.guests));
    let compat = phase("destination checks as bits (`Compat::build`)", || {
        Compat::build(&sim.starter.classes, &sim.fleet.classes)
    });
    phase("pools report (`pools::run`)", || black_box(phases::pools(&sim)));
    let mig =
        phase("migration loop (`migrate::run`)", || phases::migrate(&sim, &started, &compat, spec.migrations, &Silent));
    phase("checks (`check::run`)", || black_box(phases::check(&sim, Some(&mig), false)));
    drop((sim, started, compat, mig));
    let config = Config {
        seed: 1,
        scenarios: vec![Scenario::Migrate],
        check_all: false,
        fault: None,
        reproduce: String::new(),
        progress: &Silent,
        rollout: Rollout::default(),
    };
    let r = phase("whole run again (`cpufleet_sim::simulate`)", || simulate(&map, &spec, &config).expect("simulate"));
    phase("JSON report to a sink (`report::write_json`)", || {
        write_report_json(&r, std::io::sink()).expect("a sink takes everything")
    });
}
