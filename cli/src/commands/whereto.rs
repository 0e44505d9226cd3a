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
use crate::inputs::{first_cpu, op_error, parse, parse_guest, unknown_name};
use crate::inventory::{Grouping, Part};
use crate::json;
use cpufleet_engine::closest;
use cpufleet_engine::domain::DomainFeatures;
use cpufleet_engine::ops::{self, Arch};
use cpufleet_engine::x86::{Comparison, Reason, Verdict};
use cpufleet_engine::xml::TypeHint;
use cpufleet_engine::{CpuDef, CpuMap, CpuMode, FeatureSet};
use cpufleet_inventory::Inventory;
use cpufleet_io::{gather_inputs, print_stdout, read_input};
use cpufleet_sim::{blocker_entries as entries, count, start_def, start_guest, BlockerKind, Incoming, Refusal};
use rayon::prelude::*;
use serde_json::{json, Value};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// One host's answer, ready to print.
struct Row {
    pool: String,
    host: String,
    runs: bool,
    /// The VERDICT cell.
    verdict: &'static str,
    /// The BLOCKING cell.
    blocking: String,
    /// The host's JSON object (the view's fields).
    json: Value,
}

/// The inventory's host `POOL/HOST`: its part, its index in the part's inventory order (pools,
/// then their hosts: the simulator's fleet order) and its CPU, or an error with the closest
/// host name.
fn find_host<'a>(parts: &'a [Part], dir: &Path, name: &str) -> CliResult<(usize, usize, &'a CpuDef)> {
    for (k, part) in parts.iter().enumerate() {
        let inv = &part.inv;
        let all = inv.pools.iter().flat_map(|p| p.hosts.iter().map(move |h| (p, h)));
        if let Some((i, (_, h))) = all.enumerate().find(|(_, (p, h))| name.split_once('/') == Some((&p.name, &h.name)))
        {
            return Ok((k, i, &inv.cpus[h.cpu.index()]));
        }
    }
    let all: Vec<String> = parts
        .iter()
        .flat_map(|part| {
            part.inv.pools.iter().flat_map(|p| p.hosts.iter().map(move |h| format!("{}/{}", p.name, h.name)))
        })
        .collect();
    let hint =
        closest(name, all.iter().map(String::as_str)).map(|s| format!("; did you mean {s}?")).unwrap_or_default();
    Err(CliError::file(dir, format!("--on {name}: no such host (POOL/HOST) in the inventory{hint}")))
}

/// `cpufleet compare --inventory DIR GUEST [--on POOL/HOST]`: exit 0 if every host can run the
/// guest, 1 if any cannot, 2 on bad input (before anything is printed). Each host answers
/// under its own libvirt release (`crate::inventory::read_by_release`): the guest is read by
/// each release (a name a release does not know refuses its hosts; unknown to every release, it
/// is bad input), and with `--on` it starts on its home host under the home host's release and
/// every other release reads the started CPU as an incoming migration.
pub fn whereto(
    common: &Common,
    dir: &Path,
    args: &[PathBuf],
    on: Option<&str>,
    view: View,
    format: Format,
) -> CliResult<Outcome> {
    let mut inputs = gather_inputs(args)?;
    if inputs.len() != 1 {
        return Err(CliError::new("with --inventory, give only the guest (a domain XML or a <cpu>)"));
    }
    let input = inputs.remove(0);
    let rel = crate::inventory::read_by_release(common, dir, false, Grouping::Host)?;
    rel.say();
    let parts = &rel.parts;
    let home = on.map(|name| find_host(parts, dir, name).map(|(k, i, cpu)| (name, k, i, cpu))).transpose()?;
    let bytes = read_input(&input, common.max_input_bytes)?;
    let answer = match view {
        View::Raw => raw_rows(common, parts, &input, &bytes, home)?,
        View::Guest => match guest_rows(common, parts, dir, &input, &bytes, home, format)? {
            Ok(a) => a,
            Err(outcome) => return Ok(outcome),
        },
    };
    let Answer { mut rows, model, label, cpu } = answer;
    rows.sort_by(|a, b| (&a.pool, &a.host).cmp(&(&b.pool, &b.host)));
    let ok = rows.iter().filter(|r| r.runs).count();
    let libvirt = match &parts[..] {
        [one] => one.map.version().to_string(),
        _ => {
            let each: Vec<String> = parts
                .iter()
                .map(|p| format!("{} ({})", p.map.version(), count(p.inv.n_hosts() as u64, "host")))
                .collect();
            format!("{} (each host its own)", each.join(", "))
        }
    };
    let started = on.map(|h| format!(", started on {h}")).unwrap_or_default();
    match format {
        Format::Text => {
            let (what, w_verdict) = match view {
                View::Raw => ("raw view (the hosts' own CPUs)", 12),
                View::Guest => ("guest view (what each host's QEMU/KVM offers guests)", 8),
            };
            let mut o = format!(
                "libvirt {libvirt}, {what}: {model} from {label}{started}\n{ok} of {} of inventory {} can run it\n",
                count(rows.len() as u64, "host"),
                dir.display(),
            );
            for pool in rows.chunk_by(|a, b| a.pool == b.pool) {
                let ok = pool.iter().filter(|r| r.runs).count();
                let n = count(pool.len() as u64, "host");
                let _ = writeln!(o, "\npool {}: {ok} of {n} can run it", pool[0].pool);
                let w = pool.iter().map(|r| r.host.len()).max().unwrap_or(0).max(4);
                let _ = writeln!(o, "  {:<w$}  {:<w_verdict$}  BLOCKING", "HOST", "VERDICT");
                for r in pool {
                    let line = format!("  {:<w$}  {:<w_verdict$}  {}", r.host, r.verdict, r.blocking);
                    let _ = writeln!(o, "{}", line.trim_end());
                }
            }
            print_stdout(&o)?;
        }
        Format::Json => {
            let total = rows.len();
            let pools: Vec<Value> = rows
                .chunk_by(|a, b| a.pool == b.pool)
                .map(|pool| {
                    let ok = pool.iter().filter(|r| r.runs).count();
                    let hosts: Vec<Value> = pool.iter().map(|r| r.json.clone()).collect();
                    json!({ "name": pool[0].pool, "hosts": hosts, "can_run": ok, "total": pool.len() })
                })
                .collect();
            let mut v = json::answer(
                &parts[0].map,
                json!({
                    "inventory": dir.display().to_string(),
                    "view": view.as_str(),
                    "cpu": cpu,
                    "on": on,
                    "can_run": ok,
                    "total": total,
                    "pools": pools,
                    "notes": rel.notes,
                }),
            );
            if view == View::Guest {
                v["start_error"] = Value::Null;
            }
            if parts.len() > 1 {
                v["libvirt"] = Value::from(rel.run.as_str());
                v["releases"] = parts
                    .iter()
                    .map(|p| json!({ "libvirt": p.map.version().as_str(), "hosts": p.inv.n_hosts() }))
                    .collect();
            }
            json::print(&v)?;
        }
    }
    Ok(if ok == rows.len() { Outcome::Ok } else { Outcome::Negative })
}
/// The answer of every host, and the guest as the header names it.
struct Answer {
    rows: Vec<Row>,
    /// The guest CPU's model (or mode).
    model: String,
    /// Where the guest was read.
    label: String,
    /// The guest CPU in the JSON answer.
    cpu: Value,
}

/// The hosts of `inv` (inventory order) with their answers.
fn rows_of(inv: &Inventory, answers: impl IntoIterator<Item = (bool, &'static str, String, Value)>) -> Vec<Row> {
    let hosts = inv.pools.iter().flat_map(|p| p.hosts.iter().map(move |h| (p, h)));
    hosts
        .zip(answers)
        .map(|((p, h), (runs, verdict, blocking, mut json))| {
            json["name"] = Value::from(h.name.as_str());
            json["model"] = inv.cpus[h.cpu.index()].model.clone().into();
            json["libvirt"] = Value::from(inv.libvirt.as_str());
            Row { pool: p.name.clone(), host: h.name.clone(), runs, verdict, blocking, json }
        })
        .collect()
}

/// A part that cannot read the guest (with several releases): each of its hosts refuses it.
fn unreadable(inv: &Inventory, e: &CliError, guest: bool) -> Vec<Row> {
    let reason = format!("libvirt {} cannot read the guest: {e}", inv.libvirt);
    let answers = (0..inv.n_hosts()).map(|_| {
        let json = match guest {
            true => json!({ "runs": false, "blockers": [], "reason": reason }),
            false => json!({ "verdict": "error", "missing": [], "forbidden": [], "extra_strict": [],
                             "vendor_mismatch": false, "arch_mismatch": false, "reason": reason }),
        };
        (false, if guest { "refused" } else { "error" }, reason.clone(), json)
    });
    rows_of(inv, answers.collect::<Vec<_>>())
}

/// The raw view: the guest (started on its home host's own CPU with `--on`) compared with
/// every host's own CPU, by the host's release.
fn raw_rows(
    common: &Common,
    parts: &[Part],
    input: &cpufleet_io::Input,
    bytes: &[u8],
    home: Option<(&str, usize, usize, &CpuDef)>,
) -> CliResult<Answer> {
    let multi = parts.len() > 1;
    let read = |part: &Part| parse(input.clone(), bytes.to_vec(), common, &part.map, TypeHint::Auto);
    // The guest as each part compares it (Err: that release cannot read it).
    let mut guests: Vec<CliResult<(CpuDef, String)>> = Vec::new();
    let mut header: Option<(CpuDef, String)> = None;
    match home {
        Some((name, k, _, home_cpu)) => {
            let map = &parts[k].map;
            let doc = read(&parts[k])?;
            let guest_ref = first_cpu(&doc)?;
            let arch = Arch::of_cpu(map, home_cpu).map_err(|e| CliError::new(format!("{name}: {e}")))?;
            let cpu = start_on(map, arch, home_cpu, guest_ref.cpu())
                .map_err(|e| op_error(map, &[guest_ref], &e, guest_ref.path()))?;
            header = Some((cpu.clone(), guest_ref.label()));
            guests.extend(parts.iter().map(|_| Ok((cpu.clone(), guest_ref.label()))));
        }
        None => {
            for part in parts {
                let g = read(part).and_then(|doc| {
                    let r = first_cpu(&doc)?;
                    let cpu = r.cpu().clone();
                    let results: Vec<Comparison> =
                        part.inv.cpus.par_iter().map(|h| ops::compare(&part.map, h, &cpu)).collect();
                    match results.iter().position(|r| r.verdict == Verdict::Error) {
                        // A name the release does not know: bad input with one release; with
                        // several, what that release's hosts answer (unless no release knows it).
                        Some(i) if !multi || unknown_name(&part.map, &[r], None).is_none() => {
                            let host = part
                                .inv
                                .pools
                                .iter()
                                .flat_map(|p| &p.hosts)
                                .find(|h| h.cpu.index() == i)
                                .expect("every CPU has a host");
                            let reason = results[i].explain(&part.map.x86);
                            Err(unknown_name(&part.map, &[r], None).unwrap_or_else(|| {
                                CliError::file(&host.path, format!("cannot compare {}: {reason}", r.label()))
                            }))
                        }
                        _ => Ok((cpu, r.label())),
                    }
                });
                if header.is_none() {
                    header = g.as_ref().ok().cloned();
                }
                guests.push(g);
            }
        }
    }
    let Some((cpu, label)) = header else {
        // No release reads the guest: the newest one's error.
        return Err(guests.pop().expect("one part at least").expect_err("no part read the guest"));
    };
    let mut rows = Vec::new();
    for (part, g) in parts.iter().zip(guests) {
        let (map, inv) = (&part.map, &part.inv);
        let g = match g {
            Ok((g, _)) => g,
            Err(e) if multi => {
                rows.extend(unreadable(inv, &e, false));
                continue;
            }
            Err(e) => return Err(e),
        };
        // One comparison per distinct host CPU, not per host.
        let results: Vec<Comparison> = inv.cpus.par_iter().map(|h| ops::compare(map, h, &g)).collect();
        let answers = inv.pools.iter().flat_map(|p| &p.hosts).map(|h| {
            let r = &results[h.cpu.index()];
            (can_run(r), r.verdict.as_str(), blockers(map, r), verdict_fields(map, r))
        });
        rows.extend(rows_of(inv, answers.collect::<Vec<_>>()));
    }
    let mut json_cpu = json::cpu(&cpu);
    json_cpu["source"] = Value::from(label.as_str());
    let model = cpu.model.clone().unwrap_or_else(|| cpu.mode.as_str().to_string());
    Ok(Answer { rows, model, label, cpu: json_cpu })
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

/// What one destination host class says of the guest, in the guest view.
struct Dest {
    runs: bool,
    /// What blocks it: (kind, feature) pairs, the simulator's blockers.
    blockers: Vec<(BlockerKind, Option<String>)>,
    /// The QEMU driver's refusal, when the guest was started there (no `--on`), or why another
    /// release refuses the started CPU.
    reason: Option<String>,
}

impl Dest {
    fn answer(&self) -> (bool, &'static str, String, Value) {
        let blockers: Vec<Value> =
            self.blockers.iter().map(|(k, f)| json!({ "kind": k.as_str(), "feature": f })).collect();
        let json = json!({ "runs": self.runs, "blockers": blockers, "reason": self.reason });
        (self.runs, if self.runs { "runs" } else { "refused" }, dest_blocking(self), json)
    }
}

/// The guest view: the simulator's hosts and start path (see the module's comment), each
/// part's hosts under their release; `Err(outcome)` when the guest cannot start on its home.
fn guest_rows(
    common: &Common,
    parts: &[Part],
    dir: &Path,
    input: &cpufleet_io::Input,
    bytes: &[u8],
    home: Option<(&str, usize, usize, &CpuDef)>,
    format: Format,
) -> CliResult<Result<Answer, Outcome>> {
    let multi = parts.len() > 1;
    type Loaded = (Option<CpuDef>, DomainFeatures, String);
    let read = |part: &Part| -> CliResult<Loaded> {
        let (loaded, _, features) = parse_guest(input.clone(), bytes.to_vec(), common, &part.map)?;
        let refs: Vec<_> = loaded.cpu_refs().take(1).collect();
        if let Some(bad) = unknown_name(&part.map, &refs, None) {
            return Err(bad);
        }
        let label = refs.first().map_or_else(|| loaded.input.path().display().to_string(), |r| r.label());
        Ok((refs.first().map(|r| r.cpu().clone()), features, label))
    };
    let fleet_of = |part: &Part| -> CliResult<cpufleet_sim::Fleet> {
        let spec = cpufleet_sim::load_spec(&part.map.x86, None, common.max_input_bytes)?;
        Ok(cpufleet_sim::from_inventory(&part.map.x86, &spec, &part.inv)?.fleet)
    };
    let fleets: Vec<cpufleet_sim::Fleet> = parts.iter().map(fleet_of).collect::<CliResult<_>>()?;
    // Per part: each fleet host's answer (Err: the release cannot read the guest).
    let mut dests: Vec<CliResult<Vec<Dest>>> = Vec::new();
    let header: Option<Loaded>;
    match home {
        Some((name, k, h, home_cpu)) => {
            let (cpu, features, label) = read(&parts[k])?;
            let x86 = &parts[k].map.x86;
            let home_fleet = &fleets[k];
            let home_class = home_fleet.class_of(h);
            let sets = match start_guest(x86, cpu.as_ref(), &features, home_class, None) {
                Ok(s) => s,
                Err(e) => return home_refused(&parts[k].map, dir, &cpu, &label, name, &e.reason, format).map(Err),
            };
            let started = match &cpu {
                Some(def) => Some(
                    start_def(x86, def.clone(), &features, home_class, None).map_err(|e| CliError::new(e.reason))?,
                ),
                None => None,
            };
            let passthrough =
                cpu.as_ref().is_some_and(|d| matches!(d.mode, CpuMode::HostPassthrough | CpuMode::Maximum));
            for (d, (part, fleet)) in parts.iter().zip(&fleets).enumerate() {
                let v = part.map.version();
                let classes = &fleet.classes.list;
                let per_class: Vec<Dest> = if d == k {
                    classes
                        .par_iter()
                        .map(|c| {
                            let blockers =
                                sets.as_ref().and_then(|s| s.blocker(c)).map_or_else(Vec::new, |b| entries(x86, &b));
                            Dest { runs: blockers.is_empty(), blockers, reason: None }
                        })
                        .collect()
                } else {
                    let incoming = started.as_ref().filter(|_| !passthrough).map(|g| Incoming::read(&part.map.x86, g));
                    classes
                        .par_iter()
                        .map(|c| match (&started, &incoming) {
                            // QEMU's default CPU: every release's hosts take it.
                            (None, _) => Dest { runs: true, blockers: Vec::new(), reason: None },
                            // host-passthrough onto another release: only the same CPU.
                            (Some(_), None) => {
                                let runs = c.cpu == *home_cpu;
                                let reason = (!runs).then(|| format!("host-passthrough from {name} onto another CPU"));
                                Dest { runs, blockers: Vec::new(), reason }
                            }
                            (Some(_), Some(inc)) => match inc.refusal(c) {
                                None => Dest { runs: true, blockers: Vec::new(), reason: None },
                                Some(why) => {
                                    let blockers = match &inc.read {
                                        Ok(s) if !why.is_unknown_name() && why != Refusal::Vendor => {
                                            s.blocker(c).map_or_else(Vec::new, |b| entries(&part.map.x86, &b))
                                        }
                                        _ => Vec::new(),
                                    };
                                    let reason = match &inc.read {
                                        Err(u) => u.message(v),
                                        Ok(_) => {
                                            format!("libvirt {v} refuses the CPU started on {name}: {}", why.as_str())
                                        }
                                    };
                                    Dest { runs: false, blockers, reason: Some(reason) }
                                }
                            },
                        })
                        .collect()
                };
                dests.push(Ok(fleet.class_indices().map(|c| clone_dest(&per_class[c])).collect()));
            }
            header = Some((cpu, features, label));
        }
        None => {
            let mut first: Option<Loaded> = None;
            for (part, fleet) in parts.iter().zip(&fleets) {
                let x86 = &part.map.x86;
                let r = read(part).map(|(cpu, features, label)| {
                    let per_class: Vec<Dest> = fleet
                        .classes
                        .list
                        .par_iter()
                        .map(|c| match start_guest(x86, cpu.as_ref(), &features, c, None) {
                            Ok(_) => Dest { runs: true, blockers: Vec::new(), reason: None },
                            Err(e) => Dest {
                                runs: false,
                                blockers: e.blocker.as_deref().map_or_else(Vec::new, |b| entries(x86, b)),
                                reason: Some(e.reason),
                            },
                        })
                        .collect();
                    if first.is_none() {
                        first = Some((cpu, features, label));
                    }
                    fleet.class_indices().map(|c| clone_dest(&per_class[c])).collect()
                });
                dests.push(r);
            }
            header = first;
        }
    }
    let Some((cpu, _, label)) = header else {
        return Err(dests.pop().expect("one part at least").err().expect("no part read the guest"));
    };
    let mut rows = Vec::new();
    for (part, d) in parts.iter().zip(dests) {
        match d {
            Ok(d) => rows.extend(rows_of(&part.inv, d.iter().map(Dest::answer).collect::<Vec<_>>())),
            Err(e) if multi => rows.extend(unreadable(&part.inv, &e, true)),
            Err(e) => return Err(e),
        }
    }
    let model = cpu.as_ref().map_or("(no <cpu>: QEMU's default CPU)".to_string(), |c| {
        c.model.clone().unwrap_or_else(|| c.mode.as_str().to_string())
    });
    let cpu_json = guest_json(&cpu, &label);
    Ok(Ok(Answer { rows, model, label, cpu: cpu_json }))
}

fn clone_dest(d: &Dest) -> Dest {
    Dest { runs: d.runs, blockers: d.blockers.clone(), reason: d.reason.clone() }
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
