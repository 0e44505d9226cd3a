//! `cpufleet compare HOST… CPU`: `virsh cpu-compare` of CPU against every host CPU given.

use crate::args::{Common, Format, Outcome};
use crate::error::{CliError, CliResult};
use crate::inputs::{first_cpu, load, load_as_sent, split_last, unknown_name, CpuRef, Loaded};
use crate::{json, mapload};
use cpufleet_engine::ops::{self, Arch};
use cpufleet_engine::x86::{Comparison, Reason, Verdict};
use cpufleet_engine::xml::TypeHint;
use cpufleet_engine::{CpuMap, FeatureSet};
use cpufleet_io::print_stdout;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// `cpufleet compare HOST… CPU`: one verdict per host CPU; exit 0 only if every host can run
/// the CPU, 1 if any cannot, 2 on error (before any verdict is printed). With `error`
/// (`virsh cpu-compare --error`), one host CPU and virsh's output byte for byte.
pub fn compare(common: &Common, args: &[PathBuf], format: Format, error: bool) -> CliResult<Outcome> {
    let map = mapload::load(common)?;
    let (host_inputs, cpu_input) = split_last(args, "CPU")?;
    let hosts: Vec<Loaded> =
        host_inputs.into_iter().map(|i| load(i, common, &map, TypeHint::Auto)).collect::<CliResult<_>>()?;
    let guest = load_as_sent(cpu_input, common, &map, false)?;
    let cpu = first_cpu(&guest)?;
    let host_refs: Vec<CpuRef> = hosts.iter().flat_map(Loaded::cpu_refs).collect();
    if host_refs.is_empty() {
        return Err(CliError::file(hosts[0].input.path(), "no host CPU found"));
    }
    let mut results = Vec::with_capacity(host_refs.len());
    for h in &host_refs {
        let r = ops::compare(&map, h.cpu(), cpu.cpu());
        if r.verdict == Verdict::Error {
            let reason = r.explain(&map.x86);
            // An x86 comparison fails on a name the map does not know: say which, and where.
            let named = match Arch::of_cpu(&map, h.cpu()) {
                Ok(Arch::X86) => unknown_name(&map, &[*h, cpu], None),
                _ => None,
            };
            return Err(named.unwrap_or_else(|| CliError::file(cpu.path(), reason)));
        }
        results.push(r);
    }
    let cpu_path = cpu.path();
    if error {
        let ([_], [r]) = (host_refs.as_slice(), results.as_slice()) else {
            return Err(CliError::new(format!(
                "--error answers as virsh cpu-compare does, for one host CPU; {} given",
                host_refs.len()
            )));
        };
        return virsh_error_answer(&map, r, cpu_path);
    }
    match format {
        Format::Text => print_stdout(&text(&map, &host_refs, &results, cpu_path))?,
        Format::Json => {
            let mut all: Vec<Value> =
                host_refs.iter().zip(&results).map(|(h, r)| verdict_json(&map, h, r, cpu_path)).collect();
            json::print(&if all.len() == 1 { all.remove(0) } else { Value::Array(all) })?;
        }
    }
    if results.iter().all(|r| matches!(r.verdict, Verdict::Identical | Verdict::Superset)) {
        Ok(Outcome::Ok)
    } else {
        Ok(Outcome::Negative)
    }
}

/// `virsh cpu-compare --error`: a compatible CPU's line and virsh's closing newline; for an
/// incompatible one, virsh's closing newline on stdout, its two error lines on stderr, exit 1.
fn virsh_error_answer(map: &CpuMap, r: &Comparison, cpu_path: &Path) -> CliResult<Outcome> {
    let f = cpu_path.display();
    match r.libvirt_message(&map.x86) {
        None => {
            print_stdout(&format!("{}\n\n", verdict_line(r.verdict, &f)))?;
            Ok(Outcome::Ok)
        }
        Some(msg) => {
            print_stdout("\n")?;
            eprintln!("error: Failed to compare host CPU with {f}");
            eprintln!("error: the CPU is incompatible with host CPU: {msg}");
            Ok(Outcome::Negative)
        }
    }
}

/// virsh's line for a verdict.
fn verdict_line(v: Verdict, f: &std::path::Display) -> String {
    match v {
        Verdict::Identical => format!("CPU described in {f} is identical to host CPU"),
        Verdict::Superset => format!("Host CPU is a superset of CPU described in {f}"),
        Verdict::Incompatible | Verdict::Error => format!("CPU described in {f} is incompatible with host CPU"),
    }
}

/// The text answer: with one host CPU, virsh's wording (and a reason line); with several, one
/// verdict per host CPU named by file and position, and a summary.
fn text(map: &CpuMap, hosts: &[CpuRef], results: &[Comparison], cpu_path: &Path) -> String {
    let f = cpu_path.display();
    let mut out = String::new();
    let several = hosts.len() > 1;
    for (h, r) in hosts.iter().zip(results) {
        let reason = r.explain(&map.x86);
        if several {
            out.push_str(&format!("{}: ", h.label()));
        }
        out.push_str(&verdict_line(r.verdict, &f));
        out.push('\n');
        if !reason.is_empty() {
            out.push_str(if several { "  reason: " } else { "reason: " });
            out.push_str(&reason);
            out.push('\n');
        }
    }
    if several {
        let ok = results.iter().filter(|r| r.verdict != Verdict::Incompatible).count();
        out.push_str(&format!("{ok} of {} host CPUs can run the CPU described in {f}\n", results.len()));
    }
    out
}

/// One verdict as JSON: the host (file, 1-based index in it, line and column), the verdict, its
/// features as arrays of names, the mismatches as booleans, and the one-line reason.
fn verdict_json(map: &CpuMap, h: &CpuRef, r: &Comparison, cpu_path: &Path) -> Value {
    let pos = h.pos();
    let mut v = json::answer(
        map,
        json!({
            "host": {
                "file": h.path().display().to_string(),
                "index": h.index + 1,
                "line": pos.line,
                "column": pos.col,
                "label": h.label(),
                "model": h.cpu().model,
            },
            "cpu": cpu_path.display().to_string(),
        }),
    );
    if let (Value::Object(o), Value::Object(f)) = (&mut v, verdict_fields(map, r)) {
        o.extend(f);
    }
    v
}

/// The fields of a verdict, shared by every JSON answer that gives one: `verdict`, its features
/// as arrays of names (`missing`, `forbidden`, `extra_strict`), the mismatches as booleans, and
/// the one-line `reason`.
pub fn verdict_fields(map: &CpuMap, r: &Comparison) -> Value {
    let names = |s: &FeatureSet| -> Vec<&str> { s.iter().map(|id| map.x86.feature_name(id)).collect() };
    let set = |want: fn(&Reason) -> Option<&FeatureSet>| want(&r.reason).map_or_else(Vec::new, names);
    json!({
        "verdict": r.verdict.as_str(),
        "missing": set(|r| if let Reason::Missing(s) = r { Some(s) } else { None }),
        "forbidden": set(|r| if let Reason::Forbidden(s) = r { Some(s) } else { None }),
        "extra_strict": set(|r| if let Reason::Extra(s) = r { Some(s) } else { None }),
        "vendor_mismatch": matches!(r.reason, Reason::Vendor { .. }),
        "arch_mismatch": matches!(r.reason, Reason::Arch(_)),
        "reason": r.explain(&map.x86),
    })
}
