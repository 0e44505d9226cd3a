//! `cpufleet compare --inventory DIR GUEST [--on POOL/HOST]`: where can this VM go? The guest
//! CPU (started on its home host first, with `--on`) compared with every host of an inventory,
//! once per distinct host CPU, answered per pool.

use super::compare::verdict_fields;
use super::start_on;
use crate::inputs::{first_cpu, load, op_error, unknown_name};
use crate::{json, mapload, Common, Format, Outcome};
use cpufleet_engine::ops::{self, Arch};
use cpufleet_engine::suggest::closest;
use cpufleet_engine::x86::{Comparison, Reason, Verdict};
use cpufleet_engine::xml::TypeHint;
use cpufleet_engine::{CpuDef, CpuMap, FeatureSet};
use cpufleet_inventory::Inventory;
use cpufleet_io::{gather_inputs, print_stdout, CliError, CliResult};
use rayon::prelude::*;
use serde_json::{json, Value};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The guest as compared: its CPU, where it was read, and the home host it was started on.
struct Guest {
    cpu: CpuDef,
    label: String,
    on: Option<String>,
}

/// `cpufleet compare --inventory DIR GUEST [--on POOL/HOST]`: exit 0 if every host can run the
/// guest, 1 if any cannot, 2 on bad input (before anything is printed).
pub fn whereto(common: &Common, dir: &Path, args: &[PathBuf], on: Option<&str>, format: Format) -> CliResult<Outcome> {
    let map = mapload::load(common)?;
    let mut inputs = gather_inputs(args)?;
    if inputs.len() != 1 {
        return Err(CliError::new("with --inventory, give only the guest (a domain XML or a <cpu>)"));
    }
    let inv = crate::inventory::read(common, dir, false)?;
    let doc = load(inputs.remove(0), common, &map, TypeHint::Auto)?;
    let guest_ref = first_cpu(&doc)?;
    let guest = match on {
        None => Guest { cpu: guest_ref.cpu().clone(), label: guest_ref.label(), on: None },
        Some(name) => {
            let home = home_cpu(&inv, dir, name)?;
            let arch = Arch::of_cpu(&map, home).map_err(|e| CliError::new(format!("{name}: {e}")))?;
            let cpu = start_on(&map, arch, home, guest_ref.cpu())
                .map_err(|e| op_error(&map, &[guest_ref], &e, guest_ref.path()))?;
            Guest { cpu, label: guest_ref.label(), on: Some(name.to_string()) }
        }
    };
    // One comparison per distinct host CPU, not per host.
    let results: Vec<Comparison> = inv.cpus.par_iter().map(|h| ops::compare(&map, h, &guest.cpu)).collect();
    if let Some(i) = results.iter().position(|r| r.verdict == Verdict::Error) {
        let host = inv.pools.iter().flat_map(|p| &p.hosts).find(|h| h.cpu.index() == i).expect("every CPU has a host");
        let reason = results[i].explain(&map.x86);
        return Err(unknown_name(&map, &[guest_ref], None)
            .unwrap_or_else(|| CliError::file(&host.path, format!("cannot compare {}: {reason}", guest.label))));
    }
    match format {
        Format::Text => print_stdout(&text(&map, &inv, dir, &guest, &results))?,
        Format::Json => json::print(&answer(&map, &inv, dir, &guest, &results))?,
    }
    let runs = |r: &Comparison| matches!(r.verdict, Verdict::Identical | Verdict::Superset);
    Ok(if results.iter().all(runs) { Outcome::Ok } else { Outcome::Negative })
}

/// The CPU of the inventory's host `POOL/HOST`, or an error with the closest host name.
fn home_cpu<'a>(inv: &'a Inventory, dir: &Path, name: &str) -> CliResult<&'a CpuDef> {
    let found = name.split_once('/').and_then(|(pool, host)| {
        let p = inv.pools.iter().find(|p| p.name == pool)?;
        p.hosts.iter().find(|h| h.name == host)
    });
    if let Some(h) = found {
        return Ok(&inv.cpus[h.cpu.index()]);
    }
    let all: Vec<String> =
        inv.pools.iter().flat_map(|p| p.hosts.iter().map(move |h| format!("{}/{}", p.name, h.name))).collect();
    let hint =
        closest(name, all.iter().map(String::as_str)).map(|s| format!("; did you mean {s}?")).unwrap_or_default();
    Err(CliError::file(dir, format!("--on {name}: no such host (POOL/HOST) in the inventory{hint}")))
}

fn can_run(r: &Comparison) -> bool {
    matches!(r.verdict, Verdict::Identical | Verdict::Superset)
}

/// What keeps a host from running the guest, in a table cell: the features, else the reason.
fn blockers(map: &CpuMap, r: &Comparison) -> String {
    let list = |what: &str, s: &FeatureSet| {
        let names: Vec<&str> = s.iter().map(|id| map.x86.feature_name(id)).collect();
        format!("{what}: {}", names.join(" "))
    };
    match &r.reason {
        _ if can_run(r) => String::new(),
        Reason::Missing(s) => list("missing", s),
        Reason::Forbidden(s) => list("forbidden", s),
        Reason::Extra(s) => list("extra (strict match)", s),
        _ => r.explain(&map.x86),
    }
}

fn header(inv: &Inventory, dir: &Path, guest: &Guest, results: &[Comparison]) -> String {
    let hosts = inv.n_hosts();
    let ok = inv.pools.iter().flat_map(|p| &p.hosts).filter(|h| can_run(&results[h.cpu.index()])).count();
    let started = guest.on.as_ref().map(|h| format!(", started on {h}")).unwrap_or_default();
    format!(
        "libvirt {}: {} from {}{started}: {ok} of {hosts} host{} of inventory {} can run it\n",
        inv.libvirt,
        guest.cpu.model.as_deref().unwrap_or(guest.cpu.mode.as_str()),
        guest.label,
        if hosts == 1 { "" } else { "s" },
        dir.display(),
    )
}

/// The text table: per pool, a count line, then host, verdict and blocking features.
fn text(map: &CpuMap, inv: &Inventory, dir: &Path, guest: &Guest, results: &[Comparison]) -> String {
    let mut o = header(inv, dir, guest, results);
    for p in &inv.pools {
        let ok = p.hosts.iter().filter(|h| can_run(&results[h.cpu.index()])).count();
        let _ = writeln!(o, "\npool {}: {ok} of {} hosts can run it", p.name, p.hosts.len());
        let w = p.hosts.iter().map(|h| h.name.len()).max().unwrap_or(0).max(4);
        let _ = writeln!(o, "  {:<w$}  {:<12}  BLOCKING", "HOST", "VERDICT");
        for h in &p.hosts {
            let r = &results[h.cpu.index()];
            let line = format!("  {:<w$}  {:<12}  {}", h.name, r.verdict.as_str(), blockers(map, r));
            let _ = writeln!(o, "{}", line.trim_end());
        }
    }
    o
}

/// The JSON answer: the guest CPU compared, the totals, and per pool its hosts with the verdict
/// fields of `compare --format json`.
fn answer(map: &CpuMap, inv: &Inventory, dir: &Path, guest: &Guest, results: &[Comparison]) -> Value {
    let pools: Vec<Value> = inv
        .pools
        .iter()
        .map(|p| {
            let hosts: Vec<Value> = p
                .hosts
                .iter()
                .map(|h| {
                    let mut v = verdict_fields(map, &results[h.cpu.index()]);
                    v["name"] = Value::from(h.name.as_str());
                    v["model"] = inv.cpus[h.cpu.index()].model.clone().into();
                    v
                })
                .collect();
            let ok = p.hosts.iter().filter(|h| can_run(&results[h.cpu.index()])).count();
            json!({ "name": p.name, "hosts": hosts, "can_run": ok, "total": p.hosts.len() })
        })
        .collect();
    let mut cpu = json::cpu(&guest.cpu);
    cpu["source"] = Value::from(guest.label.as_str());
    let ok = inv.pools.iter().flat_map(|p| &p.hosts).filter(|h| can_run(&results[h.cpu.index()])).count();
    json::answer(
        map,
        json!({
            "inventory": dir.display().to_string(),
            "cpu": cpu,
            "on": guest.on,
            "can_run": ok,
            "total": inv.n_hosts(),
            "pools": pools,
        }),
    )
}
