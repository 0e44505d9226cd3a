//! `cpufleet fleet show --inventory DIR`: reads a real fleet inventory (`cpufleet_inventory`)
//! and summarises it per pool: hosts, distinct CPUs, host CPU models with counts, vendors,
//! guests and skipped files.

use crate::args::{limits, Common, Format, Outcome};
use crate::error::{CliError, CliResult};
use crate::mapload;
use clap::Args;
use cpufleet_inventory::{Inventory, ReadOpts};
use cpufleet_io::print_stdout;
use cpufleet_sim::count;
use serde_json::{json, Value};
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub common: Common,
    /// The inventory: DIR/POOL/HOST.xml (virsh capabilities, domcapabilities, a host <cpu> or a
    /// <cpudata> dump) and optionally DIR/POOL/HOST/*.xml guest domains (virsh dumpxml). Each
    /// host is read by the libvirt release its HOST.meta.toml names (without: --libvirt).
    #[arg(long, value_name = "DIR")]
    pub inventory: PathBuf,
    /// Skip bad files with a warning (counted in the report) instead of stopping at the first.
    #[arg(long)]
    pub keep_going: bool,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Reads the inventory of `dir` with `map` (every host under its rules, as `simulate --inventory`
/// reads its main inventory); warnings and notes go to stderr.
pub fn read_with(
    map: &cpufleet_engine::CpuMap,
    common: &Common,
    dir: &std::path::Path,
    keep_going: bool,
) -> CliResult<Inventory> {
    let opts = ReadOpts { keep_going, max_input_bytes: common.max_input_bytes, limits: limits(common) };
    let inv = Inventory::read(dir, map, &opts).map_err(|e| CliError::new(e.to_string()))?;
    report(&inv, true);
    Ok(inv)
}

/// One release's share of an inventory ([`read_by_release`]): that release's map and the
/// inventory restricted to the hosts it reads.
pub struct Part {
    /// The release's map: the run's (`--libvirt`, `--cpu-map`) for its own release, else the
    /// release's embedded one.
    pub map: cpufleet_engine::CpuMap,
    /// The hosts (and their guests) this release reads; pools without such a host left out.
    pub inv: Inventory,
}

/// An inventory as its hosts' libvirt releases read it.
pub struct Releases {
    /// One part per release involved, oldest first; exactly one when every host runs one.
    pub parts: Vec<Part>,
    /// What the reading chose, for the command's output (also printed on stderr).
    pub notes: Vec<String>,
    /// The run's release (`--libvirt`): the one hosts without metadata run.
    pub run: cpufleet_engine::LibvirtVersion,
}

impl Releases {
    /// The notes on stderr.
    pub fn say(&self) {
        for n in &self.notes {
            eprintln!("cpufleet: note: {n}");
        }
    }
}

/// Which release reads a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    /// Each host by its own release (a question asked of each host: compare, fleet show, the
    /// per-host export formats).
    Host,
    /// Every host of a pool by the oldest release among the pool's hosts (a question asked of
    /// the pool: its baseline, the guest CPU every host's libvirt must define).
    Pool,
}

/// The one rule of every `--inventory` command (simulate's MIXED FLEET and libvirt-upgrade
/// read hosts the same way): each host is read under the libvirt release its `HOST.meta.toml`
/// names; a host without metadata under the run's release (`--libvirt`, said once in a note).
/// With [`Grouping::Pool`] a pool whose hosts disagree is read, all of it, by its oldest
/// release (named in a note): the guest CPU of a pool must be one every host's libvirt can
/// define, and an older release knows fewer names. Warnings go to stderr; the notes are the
/// caller's to print ([`Releases::say`]) or carry in its output.
pub fn read_by_release(common: &Common, dir: &std::path::Path, keep_going: bool, by: Grouping) -> CliResult<Releases> {
    use cpufleet_engine::LibvirtVersion;
    let map = mapload::load(common)?;
    let run = map.version();
    let opts = ReadOpts { keep_going, max_input_bytes: common.max_input_bytes, limits: limits(common) };
    let list = Inventory::host_release_list(dir, &opts).map_err(|e| CliError::new(e.to_string()))?;
    let mut notes = Vec::new();
    let (hosts, without) =
        list.iter().flat_map(|p| &p.1).fold((0, 0), |(n, w), h| (n + 1, w + usize::from(h.1.is_none())));
    // The release that reads each host (same order as `list`).
    let reader = |pool: &[Option<LibvirtVersion>]| -> Vec<LibvirtVersion> {
        let own: Vec<LibvirtVersion> = pool.iter().map(|v| v.unwrap_or(run)).collect();
        match (by, own.iter().min()) {
            (Grouping::Pool, Some(&oldest)) => vec![oldest; own.len()],
            _ => own,
        }
    };
    let mut involved: Vec<LibvirtVersion> = Vec::new();
    for (pool, hs) in &list {
        let rels: Vec<Option<LibvirtVersion>> = hs.iter().map(|h| h.1).collect();
        let r = reader(&rels);
        let mut own: Vec<LibvirtVersion> = rels.iter().map(|v| v.unwrap_or(run)).collect();
        own.sort();
        own.dedup();
        if by == Grouping::Pool && own.len() > 1 {
            let names: Vec<String> = own.iter().map(|v| v.to_string()).collect();
            notes.push(format!(
                "pool {pool}: its hosts run libvirt {}; the pool is computed by libvirt {}, its oldest (the \
                 release every host's libvirt can define its guest CPU in)",
                names.join(", "),
                r[0]
            ));
        }
        involved.extend(r);
    }
    involved.sort();
    involved.dedup();
    notes.extend(no_metadata_note(without, hosts, run));
    if involved.len() > 1 || involved.first().is_some_and(|&v| v != run) {
        let names: Vec<String> = involved.iter().map(|v| v.to_string()).collect();
        notes.push(format!(
            "each host is read by the libvirt release its metadata (HOST.meta.toml) names ({}), not by the \
             run's {run} (--libvirt)",
            names.join(", ")
        ));
    }
    if involved == [run] {
        let inv = read_with(&map, common, dir, keep_going)?;
        return Ok(Releases { parts: vec![Part { map, inv }], notes, run });
    }
    let mut parts = Vec::new();
    for (i, &v) in involved.iter().enumerate() {
        let m = if v == run {
            map.clone()
        } else {
            cpufleet_engine::CpuMap::embedded(v)
                .map_err(|e| CliError::new(format!("libvirt {v}'s embedded CPU map: {e}")))?
        };
        let select = |_: &str, rels: &[Option<LibvirtVersion>]| reader(rels).iter().map(|&r| r == v).collect();
        let inv = Inventory::read_selected(dir, &m, &opts, &select)
            .map_err(|e| CliError::new(format!("{e} (read as libvirt {v}, the release its host runs)")))?;
        report(&inv, i == 0);
        parts.push(Part { map: m, inv });
    }
    Ok(Releases { parts, notes, run })
}

/// The skipped files of `inv` on stderr, and the entries passed over when `ignored`.
fn report(inv: &Inventory, ignored: bool) {
    if ignored {
        for i in &inv.ignored {
            eprintln!("cpufleet: note: {i}");
        }
    }
    for s in &inv.skipped {
        eprintln!("cpufleet: warning: {s} (skipped)");
    }
    if !inv.skipped.is_empty() {
        eprintln!("cpufleet: warning: {} file(s) skipped", inv.skipped.len());
    }
}

pub fn run_show(args: &ShowArgs) -> CliResult<Outcome> {
    let r = read_by_release(&args.common, &args.inventory, args.keep_going, Grouping::Host)?;
    r.say();
    let libvirt = if let [one] = &r.parts[..] { one.map.version() } else { r.run };
    let inv = Inventory::merge(libvirt, r.parts.into_iter().map(|p| p.inv).collect());
    let out = match args.format {
        Format::Text => text(&inv, &args.inventory),
        Format::Json => {
            let mut v = json(&inv, &args.inventory);
            v["notes"] = json!(r.notes);
            format!("{v}\n")
        }
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

/// The note for an inventory where some hosts, but not all, have no metadata: they run the run's
/// release (`--libvirt`). The one wording `compare`, `export`, `fleet show` and `simulate` give.
pub(crate) fn no_metadata_note(without: usize, hosts: usize, run: cpufleet_engine::LibvirtVersion) -> Option<String> {
    (without > 0 && without < hosts).then(|| {
        format!(
            "{without} of {hosts} hosts have no metadata (HOST.meta.toml, written by cpufleet collect): they run \
             libvirt {run} (--libvirt)"
        )
    })
}
