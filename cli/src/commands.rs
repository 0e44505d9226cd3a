//! The CPU operation commands: baseline, compare, decode, update, expand, host.

use crate::{limits, mapload, read_cpus, Common, Outcome};
use cpufleet_engine::ops::{self, Arch};
use cpufleet_engine::x86::{self, Verdict, X86Data};
use cpufleet_engine::xml::{self, TypeHint};
use cpufleet_engine::{CpuDef, CpuError, CpuMap};
use cpufleet_io::{print_stdout, read_file, CliError, CliResult};
use std::path::Path;

/// Whether a CPU operation error is a negative answer (exit 1) or bad input (exit 2).
pub fn cpu_error(path: &Path, e: CpuError) -> CliResult<Outcome> {
    match e {
        CpuError::IncompatibleCpus(_) | CpuError::VendorsMismatch { .. } | CpuError::ModelVendorMismatch { .. } => {
            eprintln!("cpufleet: {}: {e}", path.display());
            Ok(Outcome::Negative)
        }
        other => Err(CliError::file(path, other)),
    }
}

/// `cpufleet baseline`: what `virsh cpu-baseline` prints for FILE.
pub fn baseline(common: &Common, file: &Path, features: bool, migratable: bool) -> CliResult<Outcome> {
    use cpufleet_stream::{baseline_file, Failure, StreamOpts};
    let map = mapload::load(common)?;
    // Streamed in parallel with flat memory; a document that is not a plain pool of host <cpu>
    // elements is read whole. Same output and errors either way (see `cpufleet_stream`).
    let limits = limits(common);
    let opts = StreamOpts::default();
    match baseline_file(&map, file, common.max_input_bytes, limits, features, migratable, opts)? {
        Ok(cpu) => {
            // virsh prints the formatted CPU followed by one more newline.
            print_stdout(&format!("{}\n", xml::format_cpu(&cpu)))?;
            Ok(Outcome::Ok)
        }
        Err(Failure::Cpu(e)) => cpu_error(file, e),
        Err(other) => Err(CliError::file(file, other)),
    }
}

/// Reads exactly one CPU from a document (the first one).
fn one_cpu(path: &Path, common: &Common, map: &CpuMap, hint: TypeHint) -> CliResult<CpuDef> {
    let doc = read_cpus(path, common, map, hint)?;
    doc.cpus.into_iter().next().ok_or_else(|| CliError::file(path, "no CPU definition found"))
}

/// `cpufleet compare HOST CPU`: `virsh cpu-compare` against a given host.
pub fn compare(common: &Common, host_path: &Path, cpu_path: &Path, json: bool) -> CliResult<Outcome> {
    let map = mapload::load(common)?;
    let host = one_cpu(host_path, common, &map, TypeHint::Auto)?;
    let cpu = one_cpu(cpu_path, common, &map, TypeHint::Auto)?;
    let result = ops::compare(&map, &host, &cpu);
    let reason = result.explain(&map.x86);
    let f = cpu_path.display();
    if json {
        let v = serde_json::json!({ "libvirt": map.version().as_str(), "verdict": result.verdict.as_str(), "reason": reason });
        print_stdout(&format!("{v}\n"))?;
    } else {
        let line = match result.verdict {
            Verdict::Identical => format!("CPU described in {f} is identical to host CPU\n"),
            Verdict::Superset => format!("Host CPU is a superset of CPU described in {f}\n"),
            Verdict::Incompatible => format!("CPU described in {f} is incompatible with host CPU\n"),
            Verdict::Error => String::new(),
        };
        let mut out = line;
        if !reason.is_empty() && result.verdict != Verdict::Error {
            out.push_str(&format!("reason: {reason}\n"));
        }
        print_stdout(&out)?;
    }
    match result.verdict {
        Verdict::Identical | Verdict::Superset => Ok(Outcome::Ok),
        Verdict::Incompatible => Ok(Outcome::Negative),
        Verdict::Error => Err(CliError::file(cpu_path, reason)),
    }
}

fn read_cpuid(map: &CpuMap, path: &Path, common: &Common) -> CliResult<X86Data> {
    let bytes = read_file(path, common.max_input_bytes)?;
    let data = xml::parse_cpuid_data(&bytes, limits(common)).map_err(|e| CliError::file(path, e))?;
    Ok(X86Data::from_cpuid(&map.x86, &data))
}

/// `cpufleet decode [--guest] CPUID_FILE`.
pub fn decode(common: &Common, file: &Path, guest: bool) -> CliResult<Outcome> {
    let map = mapload::load(common)?;
    let data = read_cpuid(&map, file, common)?;
    let cpu = if guest { x86::decode_guest(&map.x86, &data) } else { x86::decode_host(&map.x86, &data) };
    let cpu = cpu.map_err(|e| CliError::file(file, e))?;
    print_stdout(&xml::format_cpu(&cpu))?;
    Ok(Outcome::Ok)
}

/// `cpufleet update HOST GUEST`: the guest CPU after it starts on HOST (libvirt updates it
/// against the host's migratable CPU: optional features become require or disable).
pub fn update(common: &Common, host_path: &Path, guest_path: &Path) -> CliResult<Outcome> {
    let map = mapload::load(common)?;
    let host = one_cpu(host_path, common, &map, TypeHint::Auto)?;
    let mut guest = one_cpu(guest_path, common, &map, TypeHint::Guest)?;
    let arch = Arch::of_cpu(&map, &host).map_err(|e| CliError::file(host_path, e))?;
    let mig = ops::copy_migratable(&map, arch, &host);
    ops::update(&map, arch, &mut guest, Some(&mig)).map_err(|e| CliError::file(guest_path, e))?;
    print_stdout(&xml::format_cpu(&guest))?;
    Ok(Outcome::Ok)
}

/// `cpufleet expand FILE`: every CPU of FILE with its full feature list.
pub fn expand(common: &Common, file: &Path) -> CliResult<Outcome> {
    let map = mapload::load(common)?;
    let doc = read_cpus(file, common, &map, TypeHint::Auto)?;
    let mut out = String::new();
    for cpu in &doc.cpus {
        let mut cpu = cpu.clone();
        let arch = Arch::of_cpu(&map, &cpu).map_err(|e| CliError::file(file, e))?;
        ops::expand_features(&map, arch, &mut cpu).map_err(|e| CliError::file(file, e))?;
        out.push_str(&xml::format_cpu(&cpu));
    }
    print_stdout(&out)?;
    Ok(Outcome::Ok)
}

/// `cpufleet host [--dump]`: this machine's CPU, read with the CPUID instruction.
pub fn host(common: &Common, dump: bool) -> CliResult<Outcome> {
    let data = crate::hostcpu::read_cpuid()
        .ok_or_else(|| CliError::new("cpufleet host needs an x86_64 machine (the CPUID instruction)"))?;
    if dump {
        print_stdout(&xml::format_cpuid_data(&data))?;
        return Ok(Outcome::Ok);
    }
    let map = mapload::load(common)?;
    let cpu = x86::decode_host(&map.x86, &X86Data::from_cpuid(&map.x86, &data))
        .map_err(|e| CliError::new(format!("this host's CPUID: {e}")))?;
    print_stdout(&xml::format_cpu(&cpu))?;
    Ok(Outcome::Ok)
}
