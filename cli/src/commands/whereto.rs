//! `cpufleet compare --inventory DIR GUEST [--on POOL/HOST] [--view guest|raw]`: where can this
//! VM go? Answered per pool, once per distinct host CPU.
//!
//! The guest view (the default) is the simulator's rule (`simulate --inventory`'s GUESTS), one
//! implementation: each host is what its QEMU/KVM offers guests (its `HOST.domcaps.xml`, else
//! the KVM view of its CPU); without `--on` the guest is started on each host as the QEMU driver
//! starts it; with `--on` it is started on its home host and the started CPU is what every
//! destination checks on an incoming migration. The raw view compares the CPU (started on the
//! home host's own CPU with `--on`, as `cpufleet update` does) with each host's own CPU, as
//! `virsh cpu-compare` does.

use super::compare::verdict_fields;
use super::start_on;
use crate::args::{Common, Format, Outcome, View};
use crate::error::{CliError, CliResult};
use crate::inputs::{first_cpu, load, op_error, unknown_name};
use crate::{json, mapload};
use cpufleet_engine::ops::{self, Arch};
use cpufleet_engine::suggest::closest;
use cpufleet_engine::x86::{Comparison, Reason, Verdict};
use cpufleet_engine::xml::TypeHint;
use cpufleet_engine::{CpuDef, CpuMap, FeatureSet};
use cpufleet_inventory::Inventory;
use cpufleet_io::{gather_inputs, print_stdout};
use cpufleet_sim::report::count;
use cpufleet_sim::scenarios::guests::{entries, start_guest};
use cpufleet_sim::scenarios::migrate::BlockerKind;
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
pub fn whereto(
    common: &Common,
    dir: &Path,
    args: &[PathBuf],
    on: Option<&str>,
    view: View,
    format: Format,
) -> CliResult<Outcome> {
    let map = mapload::load(common)?;
    let mut inputs = gather_inputs(args)?;
    if inputs.len() != 1 {
        return Err(CliError::new("with --inventory, give only the guest (a domain XML or a <cpu>)"));
    }
    let inv = crate::inventory::read(common, dir, false)?;
    if view == View::Guest {
        return guest_view(common, &map, &inv, dir, inputs.remove(0), on, format);
    }
    let doc = load(inputs.remove(0), common, &map, TypeHint::Auto)?;
    let guest_ref = first_cpu(&doc)?;
    let guest = match on {
        None => Guest { cpu: guest_ref.cpu().clone(), label: guest_ref.label(), on: None },
        Some(name) => {
            let (_, home) = find_host(&inv, dir, name)?;
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

/// The inventory's host `POOL/HOST`: its index in inventory order (pools, then their hosts: the
/// simulator's fleet order) and its CPU, or an error with the closest host name.
fn find_host<'a>(inv: &'a Inventory, dir: &Path, name: &str) -> CliResult<(usize, &'a CpuDef)> {
    let all = inv.pools.iter().flat_map(|p| p.hosts.iter().map(move |h| (p, h)));
    if let Some((i, (_, h))) = all.enumerate().find(|(_, (p, h))| name.split_once('/') == Some((&p.name, &h.name))) {
        return Ok((i, &inv.cpus[h.cpu.index()]));
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
        "libvirt {}, raw view (the hosts' own CPUs): {} from {}{started}\n{ok} of {} of inventory {} can run it\n",
        inv.libvirt,
        guest.cpu.model.as_deref().unwrap_or(guest.cpu.mode.as_str()),
        guest.label,
        count(hosts as u64, "host"),
        dir.display(),
    )
}

/// The text table: per pool, a count line, then host, verdict and blocking features.
fn text(map: &CpuMap, inv: &Inventory, dir: &Path, guest: &Guest, results: &[Comparison]) -> String {
    let mut o = header(inv, dir, guest, results);
    for p in &inv.pools {
        let ok = p.hosts.iter().filter(|h| can_run(&results[h.cpu.index()])).count();
        let _ = writeln!(o, "\npool {}: {ok} of {} can run it", p.name, count(p.hosts.len() as u64, "host"));
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
            "view": View::Raw.as_str(),
            "cpu": cpu,
            "on": guest.on,
            "can_run": ok,
            "total": inv.n_hosts(),
            "pools": pools,
        }),
    )
}

/// What one destination host class says of the guest, in the guest view.
struct Dest {
    runs: bool,
    /// What blocks it: (kind, feature) pairs, the simulator's blockers.
    blockers: Vec<(BlockerKind, Option<String>)>,
    /// The QEMU driver's refusal, when the guest was started there (no `--on`).
    reason: Option<String>,
}

/// The guest view: the simulator's hosts and start path (see the module's comment).
fn guest_view(
    common: &Common,
    map: &CpuMap,
    inv: &Inventory,
    dir: &Path,
    input: cpufleet_io::Input,
    on: Option<&str>,
    format: Format,
) -> CliResult<Outcome> {
    let (loaded, _, features) = crate::inputs::load_guest(input, common, map)?;
    let refs: Vec<_> = loaded.cpu_refs().take(1).collect();
    if let Some(bad) = unknown_name(map, &refs, None) {
        return Err(bad);
    }
    let cpu = refs.first().map(|r| r.cpu().clone());
    let label = refs.first().map_or_else(|| loaded.input.path().display().to_string(), |r| r.label());
    let spec = cpufleet_sim::spec::load(&map.x86, None, common.max_input_bytes)?;
    let fleet = cpufleet_sim::real::from_inventory(&map.x86, &spec, inv)?.fleet;
    let classes = &fleet.classes.list;
    let x86 = &map.x86;
    let dests: Vec<Dest> = match on {
        None => classes
            .par_iter()
            .map(|c| match start_guest(x86, cpu.as_ref(), &features, c, None) {
                Ok(_) => Dest { runs: true, blockers: Vec::new(), reason: None },
                Err(e) => Dest {
                    runs: false,
                    blockers: e.blocker.as_deref().map_or_else(Vec::new, |b| entries(x86, b)),
                    reason: Some(e.reason),
                },
            })
            .collect(),
        Some(name) => {
            let (h, _) = find_host(inv, dir, name)?;
            let home = fleet.classes.get(fleet.host_class[h]);
            let sets = match start_guest(x86, cpu.as_ref(), &features, home, None) {
                Ok(s) => s,
                Err(e) => return home_refused(map, dir, &cpu, &label, name, &e.reason, format),
            };
            classes
                .par_iter()
                .map(|c| {
                    let blockers = sets.as_ref().and_then(|s| s.blocker(c)).map_or_else(Vec::new, |b| entries(x86, &b));
                    Dest { runs: blockers.is_empty(), blockers, reason: None }
                })
                .collect()
        }
    };
    // Fleet order is the inventory's pool and host order.
    let per_host: Vec<&Dest> = fleet.host_class.iter().map(|&c| &dests[c as usize]).collect();
    let model = cpu.as_ref().map_or("(no <cpu>: QEMU's default CPU)".to_string(), |c| {
        c.model.clone().unwrap_or_else(|| c.mode.as_str().to_string())
    });
    let ok = per_host.iter().filter(|d| d.runs).count();
    match format {
        Format::Text => {
            let started = on.map(|h| format!(", started on {h}")).unwrap_or_default();
            let hosts = inv.n_hosts();
            let mut o = format!(
                "libvirt {}, guest view (what each host's QEMU/KVM offers guests): {model} from {label}{started}\n\
                 {ok} of {} of inventory {} can run it\n",
                inv.libvirt,
                count(hosts as u64, "host"),
                dir.display(),
            );
            let mut h = 0;
            for p in &inv.pools {
                let d = &per_host[h..h + p.hosts.len()];
                h += p.hosts.len();
                let ok = d.iter().filter(|d| d.runs).count();
                let _ = writeln!(o, "\npool {}: {ok} of {} can run it", p.name, count(p.hosts.len() as u64, "host"));
                let w = p.hosts.iter().map(|h| h.name.len()).max().unwrap_or(0).max(4);
                let _ = writeln!(o, "  {:<w$}  {:<8}  BLOCKING", "HOST", "VERDICT");
                for (host, d) in p.hosts.iter().zip(d) {
                    let verdict = if d.runs { "runs" } else { "refused" };
                    let line = format!("  {:<w$}  {verdict:<8}  {}", host.name, dest_blocking(d));
                    let _ = writeln!(o, "{}", line.trim_end());
                }
            }
            print_stdout(&o)?;
        }
        Format::Json => {
            let mut h = 0;
            let pools: Vec<Value> = inv
                .pools
                .iter()
                .map(|p| {
                    let d = &per_host[h..h + p.hosts.len()];
                    h += p.hosts.len();
                    let hosts: Vec<Value> = p
                        .hosts
                        .iter()
                        .zip(d)
                        .map(|(host, d)| {
                            let blockers: Vec<Value> =
                                d.blockers.iter().map(|(k, f)| json!({ "kind": k.as_str(), "feature": f })).collect();
                            json!({
                                "name": host.name,
                                "model": inv.cpus[host.cpu.index()].model,
                                "runs": d.runs,
                                "blockers": blockers,
                                "reason": d.reason,
                            })
                        })
                        .collect();
                    let ok = d.iter().filter(|d| d.runs).count();
                    json!({ "name": p.name, "hosts": hosts, "can_run": ok, "total": p.hosts.len() })
                })
                .collect();
            json::print(&json::answer(
                map,
                json!({
                    "inventory": dir.display().to_string(),
                    "view": View::Guest.as_str(),
                    "cpu": guest_json(&cpu, &label),
                    "on": on,
                    "start_error": null,
                    "can_run": ok,
                    "total": inv.n_hosts(),
                    "pools": pools,
                }),
            ))?;
        }
    }
    Ok(if ok == per_host.len() { Outcome::Ok } else { Outcome::Negative })
}

/// The guest's CPU in JSON (null for a domain without `<cpu>`), with where it was read.
fn guest_json(cpu: &Option<CpuDef>, label: &str) -> Value {
    let mut v = cpu.as_ref().map_or(json!({}), json::cpu);
    v["source"] = Value::from(label);
    v
}

/// The guest cannot start on its home host: said, exit 1 (nothing can migrate what never ran).
fn home_refused(
    map: &CpuMap,
    dir: &Path,
    cpu: &Option<CpuDef>,
    label: &str,
    on: &str,
    reason: &str,
    format: Format,
) -> CliResult<Outcome> {
    match format {
        Format::Text => print_stdout(&format!(
            "libvirt {} (guest view): {label} cannot start on its home host {on}: {reason}\n",
            map.version()
        ))?,
        Format::Json => json::print(&json::answer(
            map,
            json!({
                "inventory": dir.display().to_string(),
                "view": View::Guest.as_str(),
                "cpu": guest_json(cpu, label),
                "on": on,
                "start_error": reason,
                "can_run": 0,
                "pools": [],
            }),
        ))?,
    }
    Ok(Outcome::Negative)
}

/// A destination's blocking cell: the simulator's blockers by kind, else the driver's reason.
fn dest_blocking(d: &Dest) -> String {
    if d.runs {
        return String::new();
    }
    let mut parts: Vec<String> = Vec::new();
    for (kind, feature) in &d.blockers {
        let head = format!("{}:", kind.as_str());
        match (parts.last_mut(), feature) {
            (Some(last), Some(f)) if last.starts_with(&head) => {
                last.push(' ');
                last.push_str(f);
            }
            (_, Some(f)) => parts.push(format!("{head} {f}")),
            (_, None) => parts.push(kind.as_str().to_string()),
        }
    }
    match (&d.reason, parts.is_empty()) {
        (Some(r), true) => r.clone(),
        _ => parts.join("; "),
    }
}
