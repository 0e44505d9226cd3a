//! `cpufleet fleet show --inventory DIR`: reads a real fleet inventory (`cpufleet_inventory`)
//! and summarises it per pool: hosts, distinct CPUs, host CPU models with counts, vendors,
//! guests and skipped files.

use crate::args::{limits, Common, Format, Outcome};
use crate::error::{CliError, CliResult};
use crate::mapload;
use clap::Args;
use cpufleet_inventory::{Inventory, ReadOpts};
use cpufleet_io::print_stdout;
use cpufleet_sim::report::count;
use serde_json::{json, Value};
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub common: Common,
    /// The inventory: DIR/POOL/HOST.xml (virsh capabilities, domcapabilities, a host <cpu> or a
    /// <cpudata> dump) and optionally DIR/POOL/HOST/*.xml guest domains (virsh dumpxml).
    #[arg(long, value_name = "DIR")]
    pub inventory: PathBuf,
    /// Skip bad files with a warning (counted in the report) instead of stopping at the first.
    #[arg(long)]
    pub keep_going: bool,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Reads the inventory of `dir` with the command line's map and limits; warnings and notes go
/// to stderr.
pub fn read(common: &Common, dir: &std::path::Path, keep_going: bool) -> CliResult<Inventory> {
    read_with(&mapload::load(common)?, common, dir, keep_going)
}

/// [`read`] with a map already loaded.
pub fn read_with(
    map: &cpufleet_engine::CpuMap,
    common: &Common,
    dir: &std::path::Path,
    keep_going: bool,
) -> CliResult<Inventory> {
    let opts = ReadOpts { keep_going, max_input_bytes: common.max_input_bytes, limits: limits(common) };
    let inv = Inventory::read(dir, map, &opts).map_err(|e| CliError::new(e.to_string()))?;
    for i in &inv.ignored {
        eprintln!("cpufleet: note: {i}");
    }
    for s in &inv.skipped {
        eprintln!("cpufleet: warning: {s} (skipped)");
    }
    if !inv.skipped.is_empty() {
        eprintln!("cpufleet: warning: {} file(s) skipped", inv.skipped.len());
    }
    Ok(inv)
}

pub fn run_show(args: &ShowArgs) -> CliResult<Outcome> {
    let inv = read(&args.common, &args.inventory, args.keep_going)?;
    let out = match args.format {
        Format::Text => text(&inv, &args.inventory),
        Format::Json => format!("{}\n", json(&inv, &args.inventory)),
    };
    print_stdout(&out)?;
    Ok(Outcome::Ok)
}

fn skipped_in(inv: &Inventory, pool: &str) -> usize {
    inv.skipped.iter().filter(|s| s.pool == pool).count()
}

fn text(inv: &Inventory, dir: &std::path::Path) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "libvirt {}: inventory {}: {}, {}, {}, {}, {} skipped",
        inv.libvirt,
        dir.display(),
        count(inv.pools.len() as u64, "pool"),
        count(inv.n_hosts() as u64, "host"),
        count(inv.cpus.len() as u64, "distinct CPU"),
        count(inv.n_guests() as u64, "guest"),
        inv.skipped.len()
    );
    let (with_meta, releases) = inv.host_releases();
    if with_meta > 0 {
        let r: Vec<String> = releases.iter().map(|(v, n)| format!("{v} ({n} hosts)")).collect();
        let _ = writeln!(
            o,
            "host libvirt releases (HOST.meta.toml): {}; {} hosts without metadata",
            r.join(", "),
            inv.n_hosts() - with_meta
        );
    }
    for p in &inv.pools {
        let s = inv.summary(p);
        let _ = writeln!(
            o,
            "\npool {}: {}, {}, {}, {} skipped; vendors: {}",
            p.name,
            count(p.hosts.len() as u64, "host"),
            count(s.distinct_cpus as u64, "distinct CPU"),
            count(p.guests.len() as u64, "guest"),
            skipped_in(inv, &p.name),
            s.vendors.join(", ")
        );
        for (model, n) in &s.models {
            let _ = writeln!(o, "  {n:>6}  {model}");
        }
    }
    o
}

fn json(inv: &Inventory, dir: &std::path::Path) -> Value {
    let pools: Vec<Value> = inv
        .pools
        .iter()
        .map(|p| {
            let s = inv.summary(p);
            let hosts: Vec<Value> = p
                .hosts
                .iter()
                .map(|h| json!({ "name": h.name, "cpu": h.cpu.0, "libvirt": h.libvirt.map(|v| v.as_str()) }))
                .collect();
            let guests: Vec<Value> = p
                .guests
                .iter()
                .map(|g| {
                    let cpu = g.cpu.as_ref().map(|c| json!({ "mode": c.mode.as_str(), "model": c.model }));
                    json!({ "name": g.name, "host": p.hosts[g.host].name, "cpu": cpu })
                })
                .collect();
            let models: Vec<Value> = s.models.iter().map(|(m, n)| json!({ "model": m, "hosts": n })).collect();
            json!({
                "name": p.name,
                "distinct_cpus": s.distinct_cpus,
                "models": models,
                "vendors": s.vendors,
                "skipped": skipped_in(inv, &p.name),
                "hosts": hosts,
                "guests": guests,
            })
        })
        .collect();
    let cpus: Vec<Value> = inv
        .cpus
        .iter()
        .enumerate()
        .map(|(i, c)| json!({ "id": i, "model": c.model, "vendor": c.vendor, "arch": c.arch }))
        .collect();
    let skipped: Vec<Value> = inv
        .skipped
        .iter()
        .map(|s| json!({ "path": s.path.display().to_string(), "pool": s.pool, "reason": s.problem.to_string() }))
        .collect();
    json!({
        "libvirt": inv.libvirt.as_str(),
        "inventory": dir.display().to_string(),
        "totals": {
            "pools": inv.pools.len(),
            "hosts": inv.n_hosts(),
            "distinct_cpus": inv.cpus.len(),
            "guests": inv.n_guests(),
            "skipped": inv.skipped.len(),
        },
        "pools": pools,
        "cpus": cpus,
        "skipped": skipped,
    })
}
