//! `cpufleet export FORMAT [INPUT…]`: CPUs in the formats other projects read (the rules are in
//! `cpufleet_export`). Per-host formats answer for every host CPU of the inputs, or of every
//! host of `--inventory DIR`; guest formats export each guest CPU of the inputs, or the baseline
//! of the inputs' host CPUs (`--baseline`), or each pool's baseline (`--inventory DIR`).
//! `/proc/cpuinfo` and `lscpu` text are host inputs too, with a warning.
//!
//! Guest formats answer in the guest view by default: the CPU as libvirt's QEMU driver starts it
//! on the hypervisor it is for (`--domcaps`, `--host`'s domcapabilities or the KVM view of its
//! CPU, an inventory host's `HOST.domcaps.xml` or KVM view), baselines computed as
//! `hypervisor-cpu-baseline`; one path for every format (`start_item`). `--view raw` keeps the
//! raw host CPUs, with a warning naming the host-only features.

mod args;
mod from_inputs;
mod from_inventory;
mod host;
mod item;
mod read;
mod write;

pub use args::{format_list, ExportArgs};

use crate::args::{Outcome, View};
use crate::error::{CliError, CliResult};
use crate::inputs::first_cpu;
use crate::mapload;
use cpufleet_engine::xml::TypeHint;
use cpufleet_export::{ExportFormat, NameTables, Takes};
use cpufleet_sim::KvmView;
use from_inputs::{hv_baseline_item, input_items, raw_baseline_item};
use from_inventory::inventory_items;
use host::{all_x86, given_hypervisor, start_item, start_refused, update_on, NOT_X86, NO_HOST};
use item::Item;
use read::read_inputs;
use write::{export_item, print};

/// `cpufleet export`.
pub fn run(a: &ExportArgs) -> CliResult<Outcome> {
    let per_host = a.target.takes() == Takes::HostCpu;
    if per_host && (a.baseline || a.host.is_some() || a.migratable || a.domcaps.is_some()) {
        return Err(CliError::new(format!(
            "{} answers per host CPU: --baseline, --migratable, --host and --domcaps apply to guest formats only",
            a.target
        )));
    }
    if per_host && a.view == View::Raw {
        return Err(CliError::new(format!(
            "{} answers per host CPU as its document shows it: --view applies to guest formats",
            a.target
        )));
    }
    if a.caps.is_some() && a.domcaps.is_none() && a.target != ExportFormat::KubevirtLabels {
        return Err(CliError::new("--caps applies with --domcaps (guest formats) or to kubevirt-labels"));
    }
    if a.view == View::Raw && a.domcaps.is_some() {
        return Err(CliError::new(
            "--domcaps is the hypervisor (guest) view; --view raw reads the raw host CPUs instead",
        ));
    }
    if a.inventory.is_some() && a.view == View::Guest && (a.host.is_some() || a.domcaps.is_some()) {
        return Err(CliError::new(
            "--inventory starts each pool's CPU on the pool's own hosts: --host and --domcaps name one host (use them without --inventory)",
        ));
    }
    if a.migratable && !a.baseline && a.inventory.is_none() {
        return Err(CliError::new("--migratable applies with --baseline or --inventory"));
    }
    let map = mapload::load(&a.common)?;
    let tables = NameTables::embedded().map_err(|e| CliError::new(e.to_string()))?;
    let kvm = KvmView::embedded(&map.x86).map_err(|e| CliError::new(e.to_string()))?;
    let hint = if per_host || a.baseline { TypeHint::Host } else { TypeHint::Auto };
    let docs = match &a.inventory {
        Some(_) => Vec::new(),
        None => read_inputs(&a.inputs, &a.common, &map, hint)?,
    };
    let guest_view = a.view == View::Guest && !per_host;
    let hv = if guest_view { given_hypervisor(a, &map, &kvm)? } else { None };
    let mut notes = Vec::new();
    let mut items = match &a.inventory {
        Some(dir) => inventory_items(a, dir, &mut notes)?,
        None if a.baseline => {
            let x86 = all_x86(&map, docs.iter().flat_map(|l| l.doc.cpus.iter()));
            let item = match a.view {
                // Against --domcaps as `hypervisor-baseline`; else of the inputs' own host-models
                // (then started on --host when given).
                View::Guest if x86 || hv.is_some() => {
                    let against = hv.as_ref().filter(|_| a.domcaps.is_some());
                    hv_baseline_item(a, &map, &kvm, &docs, against)?
                }
                View::Guest => raw_baseline_item(a, &map, &kvm, &docs)?.map(|mut item| {
                    item.warnings = vec![NOT_X86.to_string()];
                    item
                }),
                View::Raw => raw_baseline_item(a, &map, &kvm, &docs)?,
            };
            match item {
                Ok(item) => vec![item],
                Err(outcome) => return outcome,
            }
        }
        None => input_items(a, &map, &docs)?,
    };
    let raw_host = match (a.view, &a.host) {
        (View::Raw, Some(h)) => Some(read_inputs(std::slice::from_ref(h), &a.common, &map, TypeHint::Host)?),
        _ => None,
    };
    let raw_host = raw_host.as_ref().map(|h| first_cpu(&h[0])).transpose()?;
    let names = names(a, &items);
    let mut assumed = false;
    let mut out = Vec::new();
    for (item, name) in items.iter_mut().zip(names) {
        let own_map = item.map.clone();
        let map = own_map.as_deref().unwrap_or(&map);
        if !per_host && item.started.is_none() {
            // The host named on the command line, else the item's own (a pool's first host, the
            // first input host of a baseline).
            let own = item.hv.take();
            match (a.view, hv.as_ref().or(own.as_ref()), raw_host) {
                (View::Guest, Some(h), _) => {
                    if let Err(e) = start_item(map, h, item) {
                        return start_refused(map, item, &e);
                    }
                }
                (View::Guest, None, _) => assumed |= item.at.is_some(),
                (View::Raw, _, Some(h)) => update_on(map, h, item)?,
                (View::Raw, _, None) => {}
            }
        }
        let e = export_item(a.target, item, &name, map, &tables)?;
        for w in item.warnings.iter().chain(&e.warnings) {
            eprintln!("cpufleet: warning: {}: {w}", item.source);
        }
        out.push((name, e));
    }
    if assumed {
        eprintln!("cpufleet: warning: {NO_HOST}");
    }
    for n in &notes {
        eprintln!("cpufleet: note: {n}");
    }
    print(a, &map, &items, &out, &notes)?;
    Ok(Outcome::Ok)
}

/// The names the exports get: the items' own, or `--name` (numbered when several).
fn names(a: &ExportArgs, items: &[Item]) -> Vec<String> {
    match &a.name {
        Some(n) if items.len() == 1 => vec![n.clone()],
        Some(n) => (1..=items.len()).map(|i| format!("{n}-{i}")).collect(),
        None => items.iter().map(|i| i.name.clone()).collect(),
    }
}
