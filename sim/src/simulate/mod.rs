//! The fleet simulator (`cpufleet simulate`, `cpufleet fleet gen`).
//!
//! One seed in: every random stream is derived from it (per host, guest, migration chain, upgrade
//! step, microcode event) before any parallel fan-out, and parallel work runs over indexed
//! iterators, so the JSON report is byte-identical whatever the thread count.

pub mod check;
pub mod fleet;
pub mod guest;
pub mod html;
pub mod profiles;
pub mod progress;
pub mod report;
pub mod rng;
pub mod scenarios;
pub mod spec;

use crate::io::{print_stdout, write_atomic, CliError, CliResult};
use crate::{mapload, Common, Outcome};
use clap::{Args, Subcommand};
use guest::{Compat, Fault};
use progress::Progress;
use report::{ConfigRow, FleetBaselines, Migrations, Report};
use scenarios::{microcode, migrate, plan, pools, upgrade, Sim, SCENARIOS};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub common: Common,
    /// Fleet spec (TOML); default: the embedded data/fleet.toml (10,000 hosts in 20 pools).
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// The seed every random choice derives from.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run only these scenarios (repeatable; default: all).
    #[arg(long = "scenario", value_name = "NAME", value_parser = ["pools", "migrate", "upgrade", "microcode", "plan", "all"])]
    pub scenarios: Vec<String>,
    /// Scale the spec's pools to N hosts in all.
    #[arg(long, value_name = "N")]
    pub hosts: Option<u64>,
    /// Number of guests (default: the spec's).
    #[arg(long, value_name = "N")]
    pub guests: Option<u64>,
    /// Number of live migrations (default: the spec's).
    #[arg(long, value_name = "N")]
    pub migrations: Option<u64>,
    /// Output format on stdout.
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    pub format: String,
    /// Also write a self-contained HTML report with charts to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Check every start, migration and compare pair against the reference model (default: a
    /// deterministic sample).
    #[arg(long)]
    pub check_all: bool,
    /// Worker threads (default: all cores). The output does not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Test-only: inject a fault the invariant checkers must catch.
    #[arg(long, value_enum, hide = true)]
    pub inject_fault: Option<Fault>,
}

#[derive(Subcommand)]
pub enum FleetCmd {
    /// Generate a fleet's hosts as capabilities <cpu> XML, one pool per file (DIR/POOL.xml),
    /// ready for `cpufleet baseline` or `virsh cpu-baseline`.
    Gen {
        #[command(flatten)]
        common: Common,
        /// Fleet spec (TOML); default: the embedded data/fleet.toml.
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Scale the spec's pools to N hosts in all.
        #[arg(long, value_name = "N")]
        hosts: Option<u64>,
        /// Output directory (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// Shell-quotes an argument when needed.
fn quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The command line that reproduces this run (every input that changes the result).
fn reproduce(a: &SimulateArgs) -> String {
    let mut v = vec!["cpufleet".to_string(), "simulate".to_string()];
    if let Some(l) = a.common.libvirt {
        v.push(format!("--libvirt {l}"));
    }
    if let Some(d) = &a.common.cpu_map {
        v.push(format!("--cpu-map {}", quote(&d.display().to_string())));
    }
    if let Some(s) = &a.spec {
        v.push(format!("--spec {}", quote(&s.display().to_string())));
    }
    v.push(format!("--seed {}", a.seed));
    for (flag, val) in [("--hosts", a.hosts), ("--guests", a.guests), ("--migrations", a.migrations)] {
        if let Some(n) = val {
            v.push(format!("{flag} {n}"));
        }
    }
    for s in &a.scenarios {
        v.push(format!("--scenario {s}"));
    }
    if a.check_all {
        v.push("--check-all".into());
    }
    if let Some(f) = a.inject_fault {
        v.push(format!("--inject-fault {}", f.as_str()));
    }
    v.join(" ")
}

fn thread_pool(threads: Option<u16>) -> CliResult<Option<rayon::ThreadPool>> {
    threads
        .map(|n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n as usize)
                .build()
                .map_err(|e| CliError::new(format!("--threads {n}: {e}")))
        })
        .transpose()
}

pub fn run_simulate(args: SimulateArgs) -> CliResult<Outcome> {
    let start = std::time::Instant::now();
    let pool = thread_pool(args.threads)?;
    let result = match &pool {
        Some(p) => p.install(|| simulate(&args)),
        None => simulate(&args),
    };
    let report = result?;
    let out = if args.format == "json" { report::json(&report) } else { report::text(&report) };
    print_stdout(&out)?;
    if let Some(path) = &args.html {
        write_atomic(path, html::render(&report).as_bytes())?;
    }
    if !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!("cpufleet: simulated in {:.2} s", start.elapsed().as_secs_f64());
    }
    if report.checks.violation_count > 0 {
        eprintln!(
            "cpufleet: {} invariant violation(s); reproduce with: {}",
            report.checks.violation_count, report.reproduce
        );
        return Ok(Outcome::Negative);
    }
    Ok(Outcome::Ok)
}

/// Runs the selected scenarios and builds the report.
pub fn simulate(args: &SimulateArgs) -> CliResult<Report> {
    let map = mapload::load(&args.common)?;
    let mut spec = spec::load(&map.x86, args.spec.as_deref(), args.common.max_input_bytes)?;
    if let Some(n) = args.hosts {
        spec.scale_hosts(n)?;
    }
    if let Some(n) = args.guests {
        if n > spec::MAX_GUESTS {
            return Err(CliError::new(format!("--guests {n}: at most {}", spec::MAX_GUESTS)));
        }
        spec.guests = n;
    }
    if let Some(n) = args.migrations {
        if n > spec::MAX_MIGRATIONS {
            return Err(CliError::new(format!("--migrations {n}: at most {}", spec::MAX_MIGRATIONS)));
        }
        spec.migrations = n;
    }
    let selected: Vec<&'static str> = if args.scenarios.is_empty() || args.scenarios.iter().any(|s| s == "all") {
        SCENARIOS.to_vec()
    } else {
        SCENARIOS.iter().copied().filter(|s| args.scenarios.iter().any(|a| a == s)).collect()
    };
    let has = |s: &str| selected.contains(&s);
    let progress = Progress::new(!args.quiet);
    progress.phase("fleet", 0);
    let mut sim = Sim::new(&map, &spec, args.seed, args.inject_fault)?;
    let up_plan = if has("upgrade") { Some(upgrade::prepare(&mut sim)?) } else { None };
    let events = if has("microcode") { Some(microcode::prepare(&mut sim)?) } else { None };
    let need_guests = has("migrate") || has("upgrade") || has("microcode");
    progress.phase("guests", 0);
    let guests = if need_guests { migrate::start_guests(&mut sim, spec.guests) } else { Vec::new() };
    let mut compat = Compat::build(&sim.starter.classes, &sim.fleet.classes);
    progress.phase("pools", 0);
    let pools_report = pools::run(&sim);
    let mig = has("migrate").then(|| migrate::run(&sim, &guests, &compat, spec.migrations, &progress));
    let up = up_plan.map(|p| upgrade::run(&mut sim, &p, &guests, &mut compat, &progress));
    progress.phase("microcode", 0);
    let mc = events.map(|e| microcode::run(&mut sim, &e, &guests, &compat));
    progress.phase("plan", 0);
    let (plan_report, domains) = if has("plan") {
        let (r, d) = plan::run(&sim);
        (Some(r), d)
    } else {
        (None, Vec::new())
    };
    progress.phase("check", 0);
    let checks = check::run(&sim, mig.as_ref(), &domains, args.check_all);
    drop(progress);

    // Per configuration: guests, starts, and migrations.
    let mut configurations: Vec<ConfigRow> = spec
        .templates
        .iter()
        .map(|t| ConfigRow {
            name: t.name.clone(),
            cpu: t.describe(),
            guests: 0,
            started: 0,
            start_failures: 0,
            top_start_failure: None,
            migrations_attempted: 0,
            migrations_succeeded: 0,
        })
        .collect();
    let mut reasons: Vec<std::collections::BTreeMap<String, u64>> = vec![Default::default(); spec.templates.len()];
    for g in &guests {
        let c = &mut configurations[g.template as usize];
        c.guests += 1;
        if g.class != fleet::NO {
            c.started += 1;
        } else {
            c.start_failures += 1;
            if let Err(f) = &sim.starter.combos[g.combo as usize].outcome {
                *reasons[g.template as usize].entry(f.reason.clone()).or_insert(0) += 1;
            }
        }
    }
    for (c, r) in configurations.iter_mut().zip(&reasons) {
        c.top_start_failure = r.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(k, _)| k.clone());
    }
    let mut migrations = Migrations::default();
    let mut blockers = Vec::new();
    if let Some(m) = &mig {
        let s = &m.stats;
        migrations = Migrations {
            requested: if guests.iter().any(|g| g.class != fleet::NO) { spec.migrations } else { 0 },
            attempted: s.attempted,
            succeeded: s.succeeded,
            refused: s.refused,
            cross_pool_attempted: s.cross_pool_attempted,
            cross_pool_succeeded: s.cross_pool_succeeded,
            passthrough_unsafe_naive: s.unsafe_naive,
            passthrough_unsafe_losing_features: s.unsafe_naive_losing,
        };
        for (c, &(a, ok)) in configurations.iter_mut().zip(&s.per_template) {
            c.migrations_attempted = a;
            c.migrations_succeeded = ok;
        }
        blockers = migrate::blocker_rows(&sim, s);
    }
    let mut gens: Vec<usize> = (0..sim.fleet.n_hosts()).map(|h| sim.fleet.profile_of(h)).collect();
    gens.sort_unstable();
    gens.dedup();
    let reproduce = reproduce(args);
    let host_cpus = sim.fleet.classes_in(0..sim.fleet.n_hosts(), &sim.fleet.host_class).len();
    Ok(Report {
        libvirt: map.version().as_str(),
        seed: args.seed,
        spec: spec.label.clone(),
        scenarios: selected.clone(),
        hosts: sim.fleet.n_hosts() as u64,
        pool_count: sim.fleet.pools.len(),
        generations: gens.len(),
        host_cpus,
        guests: guests.len() as u64,
        guests_started: guests.iter().filter(|g| g.class != fleet::NO).count() as u64,
        migrations,
        configurations,
        blockers,
        pools: pools_report.pools,
        fleet_baselines: FleetBaselines {
            by_vendor: pools_report.fleet_by_vendor,
            all_vendors: pools_report.fleet_all_vendors,
        },
        compatibility_matrix: pools_report.matrix,
        upgrade: up,
        microcode: mc,
        plan: plan_report,
        invariant_violations: Report::violations(&checks, &reproduce),
        checks,
        reproduce,
    })
}

/// File name of a pool's XML (pool names are validated to be file-safe).
fn pool_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.xml"))
}

pub fn run_fleet(cmd: FleetCmd) -> CliResult<Outcome> {
    match cmd {
        FleetCmd::Gen { common, spec: spec_path, seed, hosts, out } => {
            let map = mapload::load(&common)?;
            let mut spec = spec::load(&map.x86, spec_path.as_deref(), common.max_input_bytes)?;
            if let Some(n) = hosts {
                spec.scale_hosts(n)?;
            }
            let fleet = fleet::Fleet::generate(&map.x86, &spec, seed)?;
            std::fs::create_dir_all(&out).map_err(|e| CliError::file(&out, crate::io::io_reason(&e)))?;
            let xml: Vec<String> =
                fleet.classes.list.iter().map(|c| cpufleet_engine::xml::format_cpu(&c.cpu)).collect();
            for p in &fleet.pools {
                let mut text = String::with_capacity(p.len * 1500);
                for h in p.range() {
                    text.push_str(&xml[fleet.host_class[h] as usize]);
                }
                write_atomic(&pool_file(&out, &p.name), text.as_bytes())?;
            }
            Ok(Outcome::Ok)
        }
    }
}
