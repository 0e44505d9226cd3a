//! `cpufleet simulate` and `cpufleet fleet gen`: their arguments, and the glue that loads the map
//! and the spec, runs the simulator (`cpufleet_sim`) and writes its reports.

use crate::args::{Common, Format, Outcome};
use crate::error::{CliError, CliResult};
use crate::mapload;
use crate::progress::Bar;
use clap::{Args, Subcommand};
use cpufleet_engine::{CpuMap, LibvirtVersion};
use cpufleet_io::{print_stdout, write_atomic};
use cpufleet_sim as sim;
use sim::{Config, Fault, Observer, Report, Scenario, Silent};
use std::path::{Path, PathBuf};

#[derive(Args, Clone)]
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
    #[arg(long = "scenario", value_name = "NAME", value_enum)]
    pub scenarios: Vec<ScenarioChoice>,
    /// Simulate a real fleet instead of a generated one: DIR/POOL/HOST.xml (virsh
    /// capabilities, domcapabilities, a host <cpu> or a <cpudata> dump), and optionally the
    /// guests running on each host as DIR/POOL/HOST/*.xml (virsh dumpxml). The spec still gives
    /// the guest configurations (when the inventory has no guests) and the plan settings. Hosts
    /// with a HOST.meta.toml run the release it names in MIXED FLEET and libvirt-upgrade.
    #[arg(long, value_name = "DIR", conflicts_with = "hosts")]
    pub inventory: Option<PathBuf>,
    /// With --inventory: skip bad files with a warning (counted in the report) instead of
    /// stopping at the first.
    #[arg(long, requires = "inventory")]
    pub keep_going: bool,
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
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
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
    /// The plan: at most K migration domains (default: the spec's `[plan] k`).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u16).range(1..=sim::PLAN_K_MAX as i64))]
    pub plan_k: Option<u16>,
    /// The plan may put hosts of different vendors in one domain (libvirt cannot baseline
    /// across vendors; the domain then gets a vendor-neutral CPU of the common features).
    #[arg(long)]
    pub allow_cross_vendor: bool,
    /// The plan's domains are unions of whole pools.
    #[arg(long)]
    pub keep_pools_whole: bool,
    /// Every plan domain has at least N hosts (small domains join their vendor's best partner).
    #[arg(long, value_name = "N")]
    pub min_domain_hosts: Option<u64>,
    /// Write each plan domain's guest CPU (its `virsh hypervisor-cpu-baseline --migratable`)
    /// to DIR/domain-N.xml, N as in the report. `--plan-out` is the old name.
    #[arg(long = "plan-output", visible_alias = "plan-out", value_name = "DIR")]
    pub plan_out: Option<PathBuf>,
    /// With --plan-output: also write each domain's CPU in this guest format as
    /// DIR/domain-N.FORMAT (the help lists the guest formats: `export_help`).
    #[arg(long, value_name = "FORMAT", value_parser = crate::closed::parser::<cpufleet_export::ExportFormat>(), requires = "plan_out", help = export_help())]
    pub export: Option<cpufleet_export::ExportFormat>,
    /// Swarm testing: run N members (seeds SEED, SEED+1, …), each over its own variant of the
    /// spec drawn from its seed (host variation, guest and generation mixes, mixed-release pools,
    /// forbidden features; 400 hosts) and its own run (the libvirt release unless --libvirt or
    /// --cpu-map fixes it, a subset of the --scenario values, the libvirt-upgrade rollout), with
    /// every check on. Prints one line per member and the command that reproduces a failure.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000),
          conflicts_with_all = ["inventory", "html", "plan_out", "hosts", "guests", "migrations"])]
    pub swarm: Option<u32>,
    /// Test-only: inject a fault the invariant checkers must catch.
    #[arg(long, value_parser = crate::closed::parser::<Fault>(), hide = true)]
    pub inject_fault: Option<Fault>,
    /// libvirt-upgrade: the steps the rollout takes.
    #[arg(long, value_name = "T", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub upgrade_steps: u32,
    /// libvirt-upgrade: which hosts move first.
    #[arg(long, value_parser = crate::closed::parser::<sim::Order>(), default_value_t = sim::Order::Pool)]
    pub upgrade_order: sim::Order,
    /// libvirt-upgrade: the release the fleet starts on (9.0.0, 11.3.0 or 12.9.0; on an
    /// inventory, the hosts without metadata: the others start on their own).
    #[arg(long, value_name = "VERSION", default_value_t = LibvirtVersion::V9_0_0)]
    pub upgrade_from: LibvirtVersion,
    /// libvirt-upgrade: the release the hosts move to (older than --upgrade-from: a downgrade).
    #[arg(long, value_name = "VERSION", default_value_t = LibvirtVersion::V11_3_0)]
    pub upgrade_to: LibvirtVersion,
    /// libvirt-upgrade: roll back instead (from --upgrade-to to --upgrade-from).
    #[arg(long)]
    pub reverse: bool,
}

/// A `--scenario` value: one scenario, or `all` of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScenarioChoice {
    One(Scenario),
    All,
}

impl clap::ValueEnum for ScenarioChoice {
    fn value_variants<'a>() -> &'a [Self] {
        static CHOICES: std::sync::OnceLock<Vec<ScenarioChoice>> = std::sync::OnceLock::new();
        CHOICES
            .get_or_init(|| Scenario::all().into_iter().map(ScenarioChoice::One).chain([ScenarioChoice::All]).collect())
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        match self {
            ScenarioChoice::One(s) => Some(crate::closed::possible_value(*s)),
            ScenarioChoice::All => Some(clap::builder::PossibleValue::new("all")),
        }
    }
}

impl ScenarioChoice {
    /// The scenarios `choices` select, in run order (every one when none or `all` is given).
    fn select(choices: &[ScenarioChoice]) -> Vec<Scenario> {
        let all = choices.is_empty() || choices.contains(&ScenarioChoice::All);
        Scenario::all().into_iter().filter(|&s| all || choices.contains(&ScenarioChoice::One(s))).collect()
    }
}

impl std::fmt::Display for ScenarioChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScenarioChoice::One(s) => s.fmt(f),
            ScenarioChoice::All => f.write_str("all"),
        }
    }
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
        /// The seed the fleet is drawn from (the same seed gives the same hosts as `simulate --seed`).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Scale the spec's pools to N hosts in all.
        #[arg(long, value_name = "N")]
        hosts: Option<u64>,
        /// Output directory (created if missing). `--out` is the old name.
        #[arg(short, long = "output", visible_alias = "out", value_name = "DIR")]
        out: PathBuf,
    },
    /// Summarise a real fleet inventory (DIR/POOL/HOST.xml, guests in DIR/POOL/HOST/*.xml) per
    /// pool: hosts, distinct CPUs, host CPU models, vendors, guests, skipped files.
    Show(crate::inventory::ShowArgs),
}

/// The command line that reproduces this run (every input that changes the result; `--swarm 1`
/// for a swarm member).
fn reproduce(a: &SimulateArgs, swarm_member: bool) -> String {
    sim::Reproduce {
        swarm_member,
        libvirt: a.common.libvirt,
        cpu_map: a.common.cpu_map.clone(),
        spec: a.spec.clone(),
        inventory: a.inventory.clone(),
        keep_going: a.keep_going,
        seed: a.seed,
        hosts: a.hosts,
        guests: a.guests,
        migrations: a.migrations,
        scenarios: a.scenarios.iter().map(ToString::to_string).collect(),
        plan_k: a.plan_k,
        allow_cross_vendor: a.allow_cross_vendor,
        keep_pools_whole: a.keep_pools_whole,
        min_domain_hosts: a.min_domain_hosts,
        check_all: a.check_all,
        fault: a.inject_fault,
        upgrade_steps: a.upgrade_steps,
        upgrade_order: a.upgrade_order,
        upgrade_from: a.upgrade_from,
        upgrade_to: a.upgrade_to,
        reverse: a.reverse,
    }
    .line()
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
    if args.upgrade_from == args.upgrade_to {
        return Err(CliError::new(format!(
            "--upgrade-from and --upgrade-to are both {}: a rollout moves between two releases",
            args.upgrade_from
        )));
    }
    if let Some(n) = args.swarm {
        return run_swarm(&args, n);
    }
    if let Some(path) = &args.html {
        cpufleet_io::check_output_path(path)?;
    }
    if let Some(dir) = &args.plan_out {
        if !ScenarioChoice::select(&args.scenarios).contains(&Scenario::Plan) {
            return Err(CliError::new("--plan-output needs the plan scenario (--scenario plan)"));
        }
        cpufleet_io::check_output_dir(dir)?;
    }
    if let Some(f) = args.export {
        if f.takes() != cpufleet_export::Takes::GuestCpu {
            return Err(CliError::new(format!(
                "--export {}: a per-host format; a plan domain's CPU is a guest CPU ({})",
                f.as_str(),
                crate::export::format_list(cpufleet_export::Takes::GuestCpu)
            )));
        }
    }
    let start = std::time::Instant::now();
    let pool = thread_pool(args.threads)?;
    let result = match &pool {
        Some(p) => p.install(|| simulate(&args)),
        None => simulate(&args),
    };
    let report = result?;
    if args.format == Format::Json {
        cpufleet_io::write_stdout(|out| sim::write_report_json(&report, out))?;
    } else {
        print_stdout(&sim::report_text(&report))?;
    }
    if let Some(path) = &args.html {
        write_atomic(path, sim::render_html(&report).as_bytes())?;
    }
    if let Some(dir) = &args.plan_out {
        write_plan(dir, &report, &args)?;
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

/// The spec with the command line's overrides.
fn prepare_spec(args: &SimulateArgs, map: &CpuMap) -> CliResult<sim::Spec> {
    let mut spec = sim::load_spec(&map.x86, args.spec.as_deref(), args.common.max_input_bytes)?;
    if let Some(n) = args.hosts {
        spec.scale_hosts(n)?;
    }
    if let Some(n) = args.guests {
        spec.set_guests(n)?;
    }
    if let Some(n) = args.migrations {
        spec.set_migrations(n)?;
    }
    if let Some(k) = args.plan_k {
        spec.plan.k = k as usize;
    }
    spec.plan.allow_cross_vendor |= args.allow_cross_vendor;
    spec.plan.keep_pools_whole |= args.keep_pools_whole;
    if let Some(n) = args.min_domain_hosts {
        spec.plan.min_domain_hosts = n;
    }
    Ok(spec)
}

/// The run's configuration from the command line.
fn config<'a>(
    args: &SimulateArgs,
    seed: u64,
    check_all: bool,
    reproduce: String,
    progress: &'a dyn Observer,
) -> Config<'a> {
    Config {
        seed,
        scenarios: ScenarioChoice::select(&args.scenarios),
        check_all,
        fault: args.inject_fault,
        reproduce,
        progress,
        rollout: sim::Rollout {
            steps: args.upgrade_steps,
            order: args.upgrade_order,
            from: if args.reverse { args.upgrade_to } else { args.upgrade_from },
            to: if args.reverse { args.upgrade_from } else { args.upgrade_to },
        },
    }
}

/// "pools+migrate": a member's scenarios.
fn scenario_list(s: &[sim::Scenario]) -> String {
    s.iter().map(ToString::to_string).collect::<Vec<_>>().join("+")
}

/// "9.0.0->12.9.0 random 3 steps": a member's rollout.
fn rollout_text(r: &sim::Rollout) -> String {
    format!("{}->{} {} {}", r.from, r.to, r.order, sim::count(r.steps as u64, "step"))
}

/// `--swarm N`: members seed, seed+1, …, each over its own variant of the spec
/// (`cpufleet_sim::swarm`) with every check on; per member its verdict, then its draws (the
/// rollout only where it runs libvirt-upgrade) within 100 columns, and for a failure the command
/// that reproduces it (one line, whatever its width) and its first violations; exit 1 if any failed.
fn run_swarm(args: &SimulateArgs, n: u32) -> CliResult<Outcome> {
    let map = mapload::load(&args.common)?;
    let base = prepare_spec(args, &map)?;
    let config_of = |seed| config(args, seed, true, reproduce(&SimulateArgs { seed, ..args.clone() }, true), &Silent);
    let fixed = args.common.libvirt.is_some() || args.common.cpu_map.is_some();
    let members = sim::run_swarm(&map, &base, args.seed, n, fixed, config_of, |m, report| -> CliResult<()> {
        if args.format == Format::Text {
            let verdict = if m.violations == 0 {
                format!("all invariants hold ({})", sim::count(m.checks, "check"))
            } else {
                format!("FAILED, {} ({})", sim::count(m.violations, "violation"), sim::count(m.checks, "check"))
            };
            let draws = [
                format!("libvirt {}", m.draws.libvirt),
                sim::count(m.hosts, "host"),
                sim::count(m.guests, "guest"),
                sim::count(m.mixed_pools, "mixed-release pool"),
            ];
            let mut runs = vec![format!("scenarios {}", scenario_list(&m.draws.scenarios))];
            if m.draws.scenarios.contains(&sim::Scenario::LibvirtUpgrade) {
                runs.push(format!("rollout {}", rollout_text(&m.draws.rollout)));
            }
            let mut text = format!("swarm member seed {}: {verdict}\n", m.seed);
            sim::wrap_prose(&mut text, &format!("  {}", draws.join(", ")));
            sim::wrap_prose(&mut text, &format!("  {}", runs.join(", ")));
            if m.violations > 0 {
                // The command stays on one line, whatever its width, so that it can be pasted.
                text.push_str(&format!("  reproduce with: {}\n", m.reproduce));
            }
            // What failed, so that CI's log says it without a rerun (the first three).
            for v in report.invariant_violations.iter().take(3) {
                sim::wrap_prose(&mut text, &format!("  violated: {}: {}", v.invariant.sentence(), v.detail));
            }
            print_stdout(&text)?;
        }
        Ok(())
    })?;
    let failed: Vec<&str> = members.iter().filter(|m| m.violations > 0).map(|m| m.reproduce.as_str()).collect();
    let members: Vec<serde_json::Value> = members
        .iter()
        .map(|m| {
            let r = &m.draws.rollout;
            serde_json::json!({
                "seed": m.seed, "hosts": m.hosts, "guests": m.guests, "checks": m.checks,
                "violations": m.violations, "reproduce": m.reproduce,
                "libvirt": m.draws.libvirt.as_str(), "mixed_pools": m.mixed_pools,
                "scenarios": m.draws.scenarios.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "rollout": { "from": r.from.as_str(), "to": r.to.as_str(), "order": r.order.to_string(), "steps": r.steps },
            })
        })
        .collect();
    match args.format {
        Format::Text => print_stdout(&format!("swarm: {n} members, {} failed\n", failed.len()))?,
        Format::Json => print_stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({"members": members, "failed": failed.len()}))
                .expect("JSON values serialise")
        ))?,
    }
    Ok(if failed.is_empty() { Outcome::Ok } else { Outcome::Negative })
}

/// Loads the map and the spec, applies the command line's overrides, and runs the simulator.
pub fn simulate(args: &SimulateArgs) -> CliResult<Report> {
    let map = mapload::load(&args.common)?;
    let spec = prepare_spec(args, &map)?;
    let bar = Bar::new(!args.quiet && args.swarm.is_none());
    let config = config(args, args.seed, args.check_all, reproduce(args, false), &bar);
    match &args.inventory {
        None => Ok(sim::simulate(&map, &spec, &config)?),
        Some(dir) => {
            let mut inv = crate::inventory::read_with(&map, &args.common, dir, args.keep_going)?;
            let (mut map, mut spec) = (map, spec);
            let (with_meta, releases) = inv.host_releases();
            let mut notes = Vec::new();
            // Every host's metadata names one release and no --libvirt or --cpu-map says
            // otherwise: the inventory is simulated with that release's rules.
            if let [(v, _)] = releases[..] {
                if v != map.version() && args.common.libvirt.is_none() && args.common.cpu_map.is_none() {
                    map = mapload::load(&Common { libvirt: Some(v), ..args.common.clone() })?;
                    spec = prepare_spec(args, &map)?;
                    inv = crate::inventory::read_with(&map, &args.common, dir, args.keep_going)?;
                    notes.push(format!(
                        "libvirt {v}: the release every host's metadata (HOST.meta.toml) names; --libvirt overrides"
                    ));
                }
            }
            let others: Vec<String> =
                releases.iter().filter(|r| r.0 != map.version()).map(|(v, n)| format!("{v} ({n} hosts)")).collect();
            if !others.is_empty() {
                notes.push(format!(
                    "hosts whose metadata names another libvirt than {}: {}; each runs its own release in MIXED \
                     FLEET and libvirt-upgrade, the other sections read every host under {}",
                    map.version(),
                    others.join(", "),
                    map.version()
                ));
            }
            notes.extend(crate::inventory::no_metadata_note(inv.n_hosts() - with_meta, inv.n_hosts(), map.version()));
            let mut real = sim::from_inventory(&map.x86, &spec, &inv)?;
            real.spec.label = format!("inventory {}", dir.display());
            let mut base = spec.clone();
            base.label = real.spec.label.clone();
            let reads = release_reads(args, &map, &inv, dir, &config)?;
            let releases = sim::InventoryReleases { base: &base, primary: &inv, reads: &reads };
            let mut report = sim::simulate_inventory(&map, real, Some(&releases), &config)?;
            report.notes.splice(0..0, notes);
            report.inventory = Some(sim::InventoryInfo {
                dir: dir.display().to_string(),
                host_files: inv.n_hosts() as u64,
                guest_files: inv.n_guests() as u64,
                skipped: inv.skipped.iter().map(|s| s.to_string()).collect(),
                ignored: inv.ignored.len() as u64,
            });
            Ok(report)
        }
    }
}

/// The inventory read by each release the multi-release scenarios may involve (the run's own
/// read for its release, the embedded map of each other): the releases the hosts' metadata
/// names and the run's, when the migrate scenario runs and they are several, and the rollout's
/// two when libvirt-upgrade runs. Empty when neither applies.
fn release_reads(
    args: &SimulateArgs,
    map: &CpuMap,
    inv: &cpufleet_inventory::Inventory,
    dir: &Path,
    config: &Config,
) -> CliResult<Vec<sim::ReleaseRead>> {
    let mut need: Vec<LibvirtVersion> = Vec::new();
    if config.scenarios.contains(&Scenario::Migrate) {
        need.extend(sim::mixed_releases(inv, map.version()).unwrap_or_default());
    }
    if config.scenarios.contains(&Scenario::LibvirtUpgrade) {
        need.extend(sim::rollout_releases(inv, &config.rollout));
    }
    need.sort();
    need.dedup();
    let opts = cpufleet_inventory::ReadOpts {
        keep_going: true,
        max_input_bytes: args.common.max_input_bytes,
        limits: crate::args::limits(&args.common),
    };
    need.into_iter()
        .map(|v| {
            if v == map.version() {
                return Ok(sim::ReleaseRead { map: map.clone(), inventory: inv.clone() });
            }
            let m = CpuMap::embedded(v).map_err(|e| CliError::new(format!("libvirt {v}'s embedded CPU map: {e}")))?;
            let inventory = cpufleet_inventory::Inventory::read_by_release(dir, &m, &opts)
                .map_err(|e| CliError::new(format!("reading the inventory as libvirt {v}: {e}")))?;
            Ok(sim::ReleaseRead { map: m, inventory })
        })
        .collect()
}

/// `--plan-output DIR`: each plan domain's guest CPU as DIR/domain-N.xml (N as in the report).
/// With `--export FORMAT`, also DIR/domain-N.FORMAT: the domain's CPU (read back from the XML
/// just written, as any other input would be) in that format.
fn write_plan(dir: &Path, report: &Report, args: &SimulateArgs) -> CliResult<()> {
    let Some(plan) = &report.parts.plan.plan else {
        return Err(CliError::new("--plan-output: the plan scenario did not run (add --scenario plan)"));
    };
    std::fs::create_dir_all(dir).map_err(|e| CliError::file(dir, cpufleet_io::io_reason(&e)))?;
    let export = match args.export {
        Some(f) => Some((
            f,
            mapload::load(&args.common)?,
            cpufleet_export::NameTables::embedded().map_err(|e| CliError::new(e.to_string()))?,
        )),
        None => None,
    };
    for (i, d) in plan.domains.iter().enumerate() {
        let name = format!("domain-{}", i + 1);
        if let Some(e) = &d.baseline.error {
            eprintln!("cpufleet: warning: {name} has no baseline CPU ({e}); nothing written");
            continue;
        }
        let path = dir.join(format!("{name}.xml"));
        write_atomic(&path, d.baseline.cpu_xml.as_bytes())?;
        if let Some((format, map, tables)) = &export {
            let doc = cpufleet_engine::xml::read_cpu_document(
                d.baseline.cpu_xml.as_bytes(),
                cpufleet_engine::xml::TypeHint::Guest,
                map.version(),
                crate::args::limits(&args.common),
            )
            .map_err(|e| CliError::file(&path, e))?;
            let cpu = doc.cpus.first().ok_or_else(|| CliError::file(&path, "no CPU definition found"))?;
            let out =
                cpufleet_export::export(*format, cpu, &name, map, tables).map_err(|e| CliError::file(&path, e))?;
            for w in &out.warnings {
                eprintln!("cpufleet: warning: {name}: {w}");
            }
            write_atomic(&dir.join(format!("{name}.{}", format.as_str())), out.text.as_bytes())?;
        }
    }
    Ok(())
}

/// File name of a pool's XML (pool names are validated to be file-safe).
fn pool_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.xml"))
}

pub fn run_fleet(cmd: FleetCmd) -> CliResult<Outcome> {
    match cmd {
        FleetCmd::Gen { common, spec: spec_path, seed, hosts, out } => {
            cpufleet_io::check_output_dir(&out)?;
            let map = mapload::load(&common)?;
            let mut spec = sim::load_spec(&map.x86, spec_path.as_deref(), common.max_input_bytes)?;
            if let Some(n) = hosts {
                spec.scale_hosts(n)?;
            }
            let fleet = sim::Fleet::generate(&map.x86, &spec, seed)?;
            std::fs::create_dir_all(&out).map_err(|e| CliError::file(&out, cpufleet_io::io_reason(&e)))?;
            let xml: Vec<String> =
                fleet.classes.list.iter().map(|c| cpufleet_engine::xml::format_cpu(&c.cpu)).collect();
            for p in &fleet.pools {
                let mut text = String::with_capacity(p.len * 1500);
                for h in p.range() {
                    // The host's name as a comment before its CPU: readers of CPU documents
                    // (cpufleet, virsh cpu-baseline) pass comments over.
                    text.push_str(&format!("<!-- host {} -->\n", fleet.host_name(h)));
                    text.push_str(&xml[fleet.class_index(h)]);
                }
                write_atomic(&pool_file(&out, &p.name), text.as_bytes())?;
            }
            Ok(Outcome::Ok)
        }
        FleetCmd::Show(args) => crate::inventory::run_show(&args),
    }
}

/// `--export`'s help: the guest formats, from `ExportFormat`.
fn export_help() -> String {
    format!(
        "With --plan-output: also write each domain's CPU in this guest format as DIR/domain-N.FORMAT ({}; see `cpufleet export`)",
        crate::export::format_list(cpufleet_export::Takes::GuestCpu)
    )
}
