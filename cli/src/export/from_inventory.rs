//! The items of `--inventory DIR`: every host (per-host formats) or each pool's baseline (guest
//! formats), a pool without a common CPU a note.

use super::args::ExportArgs;
use super::host::{all_x86, host_only, kvm_hypervisor, raw_warning, NOT_X86};
use super::item::{computed, Item};
use crate::args::{limits, View};
use crate::error::{CliError, CliResult};
use crate::inventory::Grouping;
use cpufleet_engine::hypervisor::Hypervisor;
use cpufleet_engine::ops::{self};
use cpufleet_engine::{CpuDef, CpuMap};
use cpufleet_export::kubevirt::HostCpuFacts;
use cpufleet_export::{ExportFormat, Takes};
use cpufleet_io::read_file;
use cpufleet_sim::KvmView;
use std::collections::HashMap;
use std::path::Path;

/// Why a pool has no common CPU, and what to do: the one-line note for it.
pub(super) fn pool_note(name: &str, cpus: &[&CpuDef], e: &str) -> String {
    let mut vendors: Vec<&str> = Vec::new();
    for c in cpus {
        let v = c.vendor.as_deref().unwrap_or("unknown-vendor");
        if !vendors.contains(&v) {
            vendors.push(v);
        }
    }
    match vendors.len() {
        n if n > 1 => {
            let (last, rest) = vendors.split_last().expect("two or more");
            format!("{name} mixes {} and {last} hosts: no common CPU; split it", rest.join(", "))
        }
        _ if e.starts_with("no guest view") => {
            format!("{name}: {e}; give its hosts' HOST.domcaps.xml, or use --view raw")
        }
        _ => format!("{name}: no common CPU ({e}); split it or check its hosts"),
    }
}

/// An inventory's hosts (per-host formats) or pool baselines (guest formats; in the guest view
/// `hypervisor-cpu-baseline` of the hosts' QEMU/KVM host-models, asked of the first host's).
/// A pool without a common CPU is a note, not an error.
/// Each host is computed by its own libvirt release, each pool by the oldest of its hosts'
/// (`crate::inventory::read_by_release`); the choices are notes.
pub(super) fn inventory_items(a: &ExportArgs, dir: &Path, notes: &mut Vec<String>) -> CliResult<Vec<Item<'static>>> {
    let by = if a.target.takes() == Takes::GuestCpu { Grouping::Pool } else { Grouping::Host };
    let rel = crate::inventory::read_by_release(&a.common, dir, false, by)?;
    notes.extend(rel.notes);
    let mut items = Vec::new();
    for part in rel.parts {
        let kvm = KvmView::embedded(&part.map.x86).map_err(|e| CliError::new(e.to_string()))?;
        let map = std::sync::Arc::new(part.map);
        let mut mine = release_items(a, &map, &kvm, &part.inv, notes)?;
        for item in &mut mine {
            item.map = Some(map.clone());
        }
        items.extend(mine);
    }
    // Inventory order: pools, then hosts, by name (the parts are by release).
    items.sort_by(|x, y| {
        let key = |n: &str| n.split_once('/').map_or((n.to_string(), String::new()), |(p, h)| (p.into(), h.into()));
        key(&x.name).cmp(&key(&y.name))
    });
    Ok(items)
}

/// [`inventory_items`] of the hosts one release reads.
fn release_items(
    a: &ExportArgs,
    map: &CpuMap,
    kvm: &KvmView,
    inv: &cpufleet_inventory::Inventory,
    notes: &mut Vec<String>,
) -> CliResult<Vec<Item<'static>>> {
    let mut items = Vec::new();
    if a.target.takes() == Takes::GuestCpu {
        let mut hv_of: HashMap<usize, Result<Hypervisor, String>> = HashMap::new();
        for p in &inv.pools {
            let cpus: Vec<&CpuDef> = p.hosts.iter().map(|h| &inv.cpus[h.cpu.index()]).collect();
            for h in &p.hosts {
                let i = h.cpu.index();
                if let std::collections::hash_map::Entry::Vacant(slot) = hv_of.entry(i) {
                    slot.insert(match inv.hypervisors.get(i).cloned().flatten() {
                        Some(b) => Ok(*b),
                        None => kvm_hypervisor(map, kvm, &inv.cpus[i], &h.path).map_err(|e| e.to_string()),
                    });
                }
            }
            let hvs: Result<Vec<&Hypervisor>, String> =
                p.hosts.iter().map(|h| hv_of[&h.cpu.index()].as_ref().map_err(Clone::clone)).collect();
            let guest = match &hvs {
                Err(e) => Err(format!("no guest view of a host: {e}")),
                Ok(hvs) => match hvs.iter().map(|h| h.reported.clone()).collect::<Option<Vec<CpuDef>>>() {
                    Some(r) => hvs[0].baseline(&map.x86, &r, false, a.migratable).map_err(|e| e.to_string()),
                    None => Err("a host's domcapabilities reports no host-model CPU".to_string()),
                },
            };
            let source = format!("pool {} ({} hosts)", p.name, p.hosts.len());
            let x86 = all_x86(map, cpus.iter().copied());
            let view = if x86 { a.view } else { View::Raw };
            let item = match view {
                View::Guest => guest.map(|cpu| {
                    let mut item = computed(p.name.clone(), source, p.path.clone(), cpu, vec![]);
                    item.hv = hvs.as_ref().ok().map(|h| h[0].clone());
                    item
                }),
                View::Raw => {
                    let owned: Vec<CpuDef> = cpus.iter().map(|&c| c.clone()).collect();
                    ops::baseline(map, &owned, None, a.migratable).map_err(|e| e.to_string()).map(|cpu| {
                        let only = guest.as_ref().ok().map(|g| host_only(map, &cpu, g));
                        let w = if x86 { raw_warning(only.as_deref()) } else { NOT_X86.to_string() };
                        computed(p.name.clone(), source, p.path.clone(), cpu, vec![w])
                    })
                }
            };
            match item {
                Ok(item) => items.push(item),
                Err(e) => notes.push(pool_note(&p.name, &cpus, &e)),
            }
        }
        return Ok(items);
    }
    let mut from_cpu: HashMap<usize, HostCpuFacts> = HashMap::new();
    for p in &inv.pools {
        for h in &p.hosts {
            let cpu = inv.cpus[h.cpu.index()].clone();
            let (mut facts, mut warnings) = (None, Vec::new());
            if a.target == ExportFormat::KubevirtLabels {
                // The node-labeller's view: the host's domcapabilities (its file, or the
                // HOST.domcaps.xml beside it), with the TSC of its capabilities.
                let file = h.domcaps.as_ref().unwrap_or(&h.path);
                let bytes = read_file(file, a.common.max_input_bytes)?;
                if bytes.windows(19).any(|w| w == b"<domainCapabilities") {
                    let read = HostCpuFacts::from_domcaps(map, &bytes, limits(&a.common));
                    if let Some((mut f, w)) = read.map_err(|e| CliError::file(file, e))? {
                        if h.domcaps.is_some() {
                            f.tsc = cpu.tsc.map(|t| (t.frequency, t.scaling == Some(true)));
                        }
                        (facts, warnings) = (Some(f), w);
                    }
                }
                if facts.is_none() {
                    let f = match from_cpu.get(&h.cpu.index()) {
                        Some(f) => f.clone(),
                        None => HostCpuFacts::from_host_cpu(map, &cpu).map_err(|e| CliError::file(&h.path, e))?,
                    };
                    from_cpu.insert(h.cpu.index(), f.clone());
                    facts = Some(f);
                }
            }
            let name = format!("{}/{}", p.name, h.name);
            let source = h.path.display().to_string();
            let mut item = computed(name, source, h.path.clone(), cpu, warnings);
            item.facts = facts;
            items.push(item);
        }
    }
    Ok(items)
}
