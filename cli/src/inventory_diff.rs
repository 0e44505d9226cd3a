//! `cpufleet inventory diff OLD NEW`: what changed between two collections of a fleet, per
//! host: CPU model and features gained or lost (the host CPU's full feature list, so a
//! microcode update that drops TSX shows even when the model name changes with it), libvirt and
//! QEMU versions (from the metadata `cpufleet collect` writes), guests added or removed, and
//! which guests can no longer migrate to a host that accepted them before: each guest started
//! on its own host and compared with every other host, as `compare --inventory --on` does, in
//! both inventories. Under the release every host's metadata names, when that is one (as
//! `simulate --inventory`), else `--libvirt`. Exit 0: no change, 1: changes, 2: bad input.

use crate::args::{Common, Format, Outcome};
use crate::commands::start_on;
use crate::error::CliResult;
use crate::{json, mapload};
use clap::{Args, Subcommand};
use cpufleet_engine::ops::{self, Arch};
use cpufleet_engine::x86::Verdict;
use cpufleet_engine::{CpuDef, CpuMap, LibvirtVersion, Policy};
use cpufleet_inventory::{Inventory, Pool};
use cpufleet_io::print_stdout;
use rayon::prelude::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum InventoryCmd {
    /// What changed between two inventories (two `cpufleet collect` runs): per host, CPU model
    /// and features gained or lost, libvirt and QEMU versions, guests added or removed, and the
    /// guests that can no longer migrate to a host that accepted them before; under the
    /// release every host's metadata names when that is one, else --libvirt. Exit 0: no
    /// change, 1: changes, 2: bad input.
    Diff(DiffArgs),
}

#[derive(Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub common: Common,
    /// The earlier inventory (DIR/POOL/HOST.xml …).
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The later inventory.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// Text, or JSON (keys sorted, with "libvirt").
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(cmd: InventoryCmd) -> CliResult<Outcome> {
    let InventoryCmd::Diff(args) = cmd;
    let mut map = mapload::load(&args.common)?;
    let mut old = crate::inventory::read_with(&map, &args.common, &args.old, false)?;
    let mut new = crate::inventory::read_with(&map, &args.common, &args.new, false)?;
    // Every host's metadata, in both, names one release and no --libvirt or --cpu-map says
    // otherwise: compared with that release's rules (as `simulate --inventory` does).
    let mut releases: Vec<LibvirtVersion> =
        [&old, &new].iter().flat_map(|inv| inv.host_releases().1).map(|(v, _)| v).collect();
    releases.sort();
    releases.dedup();
    if let [v] = releases[..] {
        if v != map.version() && args.common.libvirt.is_none() && args.common.cpu_map.is_none() {
            map = mapload::load(&Common { libvirt: Some(v), ..args.common.clone() })?;
            old = crate::inventory::read_with(&map, &args.common, &args.old, false)?;
            new = crate::inventory::read_with(&map, &args.common, &args.new, false)?;
        }
    }
    let d = diff(&map, &old, &new);
    let changed = !d.hosts.is_empty() || !d.added.is_empty() || !d.removed.is_empty();
    match args.format {
        Format::Text => print_stdout(&text(&map, &args, &d))?,
        Format::Json => json::print(&to_json(&map, &args, &d))?,
    }
    Ok(if changed { Outcome::Negative } else { Outcome::Ok })
}

/// One side of a host: what the diff compares.
struct Side<'a> {
    cpu: &'a CpuDef,
    /// The full feature list (the model's features and the listed ones), without disabled ones.
    features: BTreeSet<String>,
    libvirt: Option<&'a str>,
    qemu: Option<String>,
    guests: BTreeSet<&'a str>,
}

/// A host in both inventories, with what changed.
#[derive(Default)]
struct HostDiff {
    model: Option<(String, String)>,
    vendor: Option<(String, String)>,
    gained: Vec<String>,
    lost: Vec<String>,
    libvirt: Option<(String, String)>,
    qemu: Option<(String, String)>,
    guests_added: Vec<String>,
    guests_removed: Vec<String>,
    /// Guest name → the hosts (POOL/HOST) that accepted it before and refuse it now; or the
    /// reason it no longer starts on its own host.
    no_longer: BTreeMap<String, Result<Vec<String>, String>>,
}

impl HostDiff {
    fn is_empty(&self) -> bool {
        self.model.is_none()
            && self.vendor.is_none()
            && self.gained.is_empty()
            && self.lost.is_empty()
            && self.libvirt.is_none()
            && self.qemu.is_none()
            && self.guests_added.is_empty()
            && self.guests_removed.is_empty()
            && self.no_longer.is_empty()
    }
}

struct Diff {
    /// In both inventories: "POOL/HOST" → changes (only hosts with a change).
    hosts: BTreeMap<String, HostDiff>,
    added: Vec<String>,
    removed: Vec<String>,
    common: usize,
}

fn none_str(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| cpufleet_inventory::NONE.to_string())
}

/// Each distinct CPU's full feature set.
fn expanded(map: &CpuMap, inv: &Inventory) -> Vec<BTreeSet<String>> {
    inv.cpus
        .par_iter()
        .map(|c| {
            let mut cpu = c.clone();
            // A CPU the map cannot expand (no model, ppc64) keeps its listed features.
            let _ = Arch::of_cpu(map, &cpu).and_then(|arch| ops::expand_features(map, arch, &mut cpu));
            cpu.features.iter().filter(|f| f.policy != Some(Policy::Disable)).map(|f| f.name.clone()).collect()
        })
        .collect()
}

/// POOL/HOST → (pool, host index).
fn index(inv: &Inventory) -> BTreeMap<String, (&Pool, usize)> {
    inv.pools
        .iter()
        .flat_map(|p| (0..p.hosts.len()).map(move |h| (format!("{}/{}", p.name, p.hosts[h].name), (p, h))))
        .collect()
}

fn side<'a>(inv: &'a Inventory, feats: &[BTreeSet<String>], p: &'a Pool, h: usize) -> Side<'a> {
    let host = &p.hosts[h];
    let meta = host.meta.as_deref();
    Side {
        cpu: &inv.cpus[host.cpu.index()],
        features: feats[host.cpu.index()].clone(),
        libvirt: meta.map(|m| m.libvirt.as_str()),
        qemu: meta.map(|m| format!("{} {}", m.hypervisor, m.hypervisor_version)),
        guests: p.guests.iter().filter(|g| g.host == h).map(|g| g.name.as_str()).collect(),
    }
}

/// Per guest of `inv` (by POOL/HOST and name): the other hosts that accept it once started on
/// its own host, or why it does not start there. Compared once per distinct host CPU.
fn destinations(map: &CpuMap, inv: &Inventory) -> BTreeMap<(String, String), Result<BTreeSet<String>, String>> {
    let hosts: Vec<(String, usize)> = inv
        .pools
        .iter()
        .flat_map(|p| p.hosts.iter().map(move |h| (format!("{}/{}", p.name, h.name), h.cpu.index())))
        .collect();
    let guests: Vec<(String, &str, &CpuDef, &CpuDef)> = inv
        .pools
        .iter()
        .flat_map(|p| {
            p.guests.iter().filter_map(move |g| {
                let home = &p.hosts[g.host];
                g.cpu
                    .as_ref()
                    .map(|c| (format!("{}/{}", p.name, home.name), g.name.as_str(), &inv.cpus[home.cpu.index()], c))
            })
        })
        .collect();
    guests
        .par_iter()
        .map(|(home, name, home_cpu, cpu)| {
            let started = Arch::of_cpu(map, home_cpu).and_then(|arch| start_on(map, arch, home_cpu, cpu));
            let r = match started {
                Err(e) => Err(format!("no longer starts on {home}: {e}")),
                Ok(started) => {
                    let ok: Vec<bool> = inv
                        .cpus
                        .iter()
                        .map(|h| {
                            matches!(ops::compare(map, h, &started).verdict, Verdict::Identical | Verdict::Superset)
                        })
                        .collect();
                    Ok(hosts.iter().filter(|(n, c)| ok[*c] && n != home).map(|(n, _)| n.clone()).collect())
                }
            };
            ((home.clone(), name.to_string()), r)
        })
        .collect()
}

fn diff(map: &CpuMap, old: &Inventory, new: &Inventory) -> Diff {
    let (fo, fn_) = (expanded(map, old), expanded(map, new));
    let (io, in_) = (index(old), index(new));
    let added: Vec<String> = in_.keys().filter(|k| !io.contains_key(*k)).cloned().collect();
    let removed: Vec<String> = io.keys().filter(|k| !in_.contains_key(*k)).cloned().collect();
    let (d_old, d_new) = (destinations(map, old), destinations(map, new));
    let mut hosts = BTreeMap::new();
    let mut common = 0;
    for (key, &(po, ho)) in &io {
        let Some(&(pn, hn)) = in_.get(key) else { continue };
        common += 1;
        let (a, b) = (side(old, &fo, po, ho), side(new, &fn_, pn, hn));
        let mut d = HostDiff::default();
        if a.cpu.model != b.cpu.model {
            d.model = Some((none_str(&a.cpu.model), none_str(&b.cpu.model)));
        }
        if a.cpu.vendor != b.cpu.vendor {
            d.vendor = Some((none_str(&a.cpu.vendor), none_str(&b.cpu.vendor)));
        }
        d.gained = b.features.difference(&a.features).cloned().collect();
        d.lost = a.features.difference(&b.features).cloned().collect();
        let unknown = || "(no metadata)".to_string();
        if a.libvirt != b.libvirt {
            d.libvirt =
                Some((a.libvirt.map_or_else(unknown, str::to_string), b.libvirt.map_or_else(unknown, str::to_string)));
        }
        if a.qemu != b.qemu {
            d.qemu = Some((a.qemu.clone().unwrap_or_else(unknown), b.qemu.clone().unwrap_or_else(unknown)));
        }
        d.guests_added = b.guests.difference(&a.guests).map(|s| s.to_string()).collect();
        d.guests_removed = a.guests.difference(&b.guests).map(|s| s.to_string()).collect();
        for g in a.guests.intersection(&b.guests) {
            let k = (key.clone(), g.to_string());
            let (Some(Ok(before)), Some(after)) = (d_old.get(&k), d_new.get(&k)) else { continue };
            match after {
                Err(why) => {
                    d.no_longer.insert(g.to_string(), Err(why.clone()));
                }
                Ok(after) => {
                    let lost: Vec<String> =
                        before.iter().filter(|h| in_.contains_key(*h) && !after.contains(*h)).cloned().collect();
                    if !lost.is_empty() {
                        d.no_longer.insert(g.to_string(), Ok(lost));
                    }
                }
            }
        }
        if !d.is_empty() {
            hosts.insert(key.clone(), d);
        }
    }
    Diff { hosts, added, removed, common }
}

fn text(map: &CpuMap, args: &DiffArgs, d: &Diff) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "libvirt {}: inventory diff {} -> {}: {} in both, {} added, {} removed, {} changed",
        map.version(),
        args.old.display(),
        args.new.display(),
        cpufleet_sim::count(d.common as u64, "host"),
        d.added.len(),
        d.removed.len(),
        d.hosts.len()
    );
    for h in &d.added {
        let _ = writeln!(o, "host added: {h}");
    }
    for h in &d.removed {
        let _ = writeln!(o, "host removed: {h}");
    }
    for (name, h) in &d.hosts {
        let _ = writeln!(o, "\nhost {name}:");
        if let Some((a, b)) = &h.model {
            let _ = writeln!(o, "  CPU model: {a} -> {b}");
        }
        if let Some((a, b)) = &h.vendor {
            let _ = writeln!(o, "  CPU vendor: {a} -> {b}");
        }
        if !h.lost.is_empty() {
            let _ = writeln!(o, "  features lost: {}", h.lost.join(", "));
        }
        if !h.gained.is_empty() {
            let _ = writeln!(o, "  features gained: {}", h.gained.join(", "));
        }
        if let Some((a, b)) = &h.libvirt {
            let _ = writeln!(o, "  libvirt: {a} -> {b}");
        }
        if let Some((a, b)) = &h.qemu {
            let _ = writeln!(o, "  hypervisor: {a} -> {b}");
        }
        if !h.guests_added.is_empty() {
            let _ = writeln!(o, "  guests added: {}", h.guests_added.join(", "));
        }
        if !h.guests_removed.is_empty() {
            let _ = writeln!(o, "  guests removed: {}", h.guests_removed.join(", "));
        }
        for (g, r) in &h.no_longer {
            match r {
                Ok(hosts) => {
                    let _ = writeln!(o, "  guest {g} can no longer migrate to: {}", hosts.join(", "));
                }
                Err(why) => {
                    let _ = writeln!(o, "  guest {g} {why}");
                }
            }
        }
    }
    o
}

fn pair(p: &Option<(String, String)>) -> Value {
    p.as_ref().map_or(Value::Null, |(a, b)| json!({ "old": a, "new": b }))
}

fn to_json(map: &CpuMap, args: &DiffArgs, d: &Diff) -> Value {
    let hosts: Vec<Value> = d
        .hosts
        .iter()
        .map(|(name, h)| {
            let no_longer: Vec<Value> = h
                .no_longer
                .iter()
                .map(|(g, r)| match r {
                    Ok(hosts) => json!({ "guest": g, "hosts": hosts, "reason": null }),
                    Err(why) => json!({ "guest": g, "hosts": [], "reason": why }),
                })
                .collect();
            json!({
                "host": name,
                "model": pair(&h.model),
                "vendor": pair(&h.vendor),
                "features_gained": h.gained,
                "features_lost": h.lost,
                "libvirt": pair(&h.libvirt),
                "hypervisor": pair(&h.qemu),
                "guests_added": h.guests_added,
                "guests_removed": h.guests_removed,
                "no_longer_migrate": no_longer,
            })
        })
        .collect();
    json::answer(
        map,
        json!({
            "old": args.old.display().to_string(),
            "new": args.new.display().to_string(),
            "hosts_in_both": d.common,
            "hosts_added": d.added,
            "hosts_removed": d.removed,
            "hosts_changed": hosts,
        }),
    )
}
