//! The CPU operation commands: fmt, baseline, compare, decode, update, expand, host. Each reads
//! its inputs with [`crate::inputs`] and answers in text or JSON ([`crate::json`]).

mod baseline;
mod compare;
mod explain;
mod whereto;

pub use baseline::{baseline, baseline_docs, BaselineOpts};
pub use compare::compare;
pub use whereto::whereto;

use crate::args::{limits, Common, Format, Outcome};
use crate::error::{CliError, CliResult};
use crate::inputs::{first_cpu, load, load_all, op_error, split_last, CpuRef, Loaded};
use crate::{json, mapload};
use cpufleet_engine::ops::{self, Arch};
use cpufleet_engine::x86::{self, X86Data};
use cpufleet_engine::xml::{self, TypeHint};
use cpufleet_engine::{CpuDef, CpuError, CpuMap};
use cpufleet_io::{gather_inputs, print_stdout, read_input};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Whether a CPU operation error is a negative answer (exit 1) or bad input (exit 2).
/// A baseline's CPU error under `driver`: through the QEMU driver (`--driver qemu`, whose answers
/// follow `virsh cpu-baseline` on `qemu:///system` byte for byte) a negative answer is what virsh
/// prints, its closing newline on stdout and libvirt's `error:` line (`cpus`: the inputs, for the
/// model a vendor mismatch names); otherwise [`cpu_error`].
pub fn baseline_cpu_error(
    path: &Path,
    e: CpuError,
    driver: crate::args::Driver,
    cpus: &[CpuDef],
) -> CliResult<Outcome> {
    let negative = matches!(
        e,
        CpuError::IncompatibleCpus(_) | CpuError::VendorsMismatch { .. } | CpuError::ModelVendorMismatch { .. }
    );
    if driver == crate::args::Driver::Qemu && negative {
        print_stdout("\n")?;
        eprintln!("error: {}", cpufleet_engine::hypervisor::LibvirtError::from_cpu(e, cpus));
        return Ok(Outcome::Negative);
    }
    cpu_error(path, e)
}

pub fn cpu_error(path: &Path, e: CpuError) -> CliResult<Outcome> {
    match e {
        CpuError::IncompatibleCpus(_) | CpuError::VendorsMismatch { .. } | CpuError::ModelVendorMismatch { .. } => {
            eprintln!("cpufleet: {}: {e}", path.display());
            Ok(Outcome::Negative)
        }
        other => Err(CliError::file(path, other)),
    }
}

/// CPUs answered by a command: each with the label of where it comes from. Text: the CPUs' XML
/// one after the other (with `labels`, each after an XML comment naming its source); JSON:
/// `{"libvirt", "cpus": [{"source", …the CPU…}]}`.
fn answer_cpus(map: &CpuMap, cpus: &[(String, CpuDef)], format: Format, labels: bool) -> CliResult<Outcome> {
    match format {
        Format::Text => {
            let mut out = String::new();
            for (label, cpu) in cpus {
                if labels {
                    out.push_str(&format!("<!-- {} -->\n", label.replace("--", "-\u{2010}")));
                }
                out.push_str(&xml::format_cpu(cpu));
            }
            print_stdout(&out)?;
        }
        Format::Json => {
            let list: Vec<Value> = cpus
                .iter()
                .map(|(label, cpu)| {
                    let mut v = json::cpu(cpu);
                    v["source"] = Value::from(label.as_str());
                    v
                })
                .collect();
            json::print(&json::answer(map, serde_json::json!({ "cpus": list })))?;
        }
    }
    Ok(Outcome::Ok)
}

/// `cpufleet fmt FILE…`: every CPU of the inputs as libvirt formats it. Host CPUs are read in
/// custom mode, so they are written the way `virsh capabilities` shows them (model, vendor,
/// signature), not as libvirt's passthrough placeholder.
pub fn fmt(common: &Common, args: &[PathBuf], format: Format) -> CliResult<Outcome> {
    let map = mapload::load(common)?;
    let docs = load_all(args, common, &map, TypeHint::Auto)?;
    let cpus: Vec<(String, CpuDef)> =
        docs.iter().flat_map(Loaded::cpu_refs).map(|r| (r.label(), r.cpu().clone())).collect();
    answer_cpus(&map, &cpus, format, false)
}

/// `cpufleet expand FILE…`: every CPU of the inputs with its full feature list.
pub fn expand(common: &Common, args: &[PathBuf], format: Format) -> CliResult<Outcome> {
    let map = mapload::load(common)?;
    let docs = load_all(args, common, &map, TypeHint::Auto)?;
    let mut cpus = Vec::new();
    for r in docs.iter().flat_map(Loaded::cpu_refs) {
        let mut cpu = r.cpu().clone();
        Arch::of_cpu(&map, &cpu)
            .and_then(|arch| ops::expand_features(&map, arch, &mut cpu))
            .map_err(|e| op_error(&map, &[r], &e, r.path()))?;
        cpus.push((r.label(), cpu));
    }
    answer_cpus(&map, &cpus, format, false)
}

/// `cpufleet decode [--guest] CPUID_FILE…`: each `<cpudata>` dump decoded to a CPU.
pub fn decode(common: &Common, args: &[PathBuf], guest: bool, format: Format) -> CliResult<Outcome> {
    let map = mapload::load(common)?;
    let mut cpus = Vec::new();
    for input in gather_inputs(args)? {
        let path = input.path();
        let bytes = read_input(&input, common.max_input_bytes)?;
        let data = xml::parse_cpuid_data(&bytes, limits(common)).map_err(|e| CliError::file(path, e))?;
        let data = X86Data::from_cpuid(&map.x86, &data);
        let cpu = if guest { x86::decode_guest(&map.x86, &data) } else { x86::decode_host(&map.x86, &data) };
        cpus.push((path.display().to_string(), cpu.map_err(|e| CliError::file(path, e))?));
    }
    answer_cpus(&map, &cpus, format, false)
}

/// `cpufleet update HOST… GUEST`: the guest CPU after it starts on each host CPU (libvirt
/// updates it against the host's migratable CPU: optional features become require or disable).
pub fn update(common: &Common, args: &[PathBuf], format: Format) -> CliResult<Outcome> {
    let map = mapload::load(common)?;
    let (host_inputs, guest_input) = split_last(args, "guest CPU")?;
    let hosts: Vec<Loaded> =
        host_inputs.into_iter().map(|i| load(i, common, &map, TypeHint::Auto)).collect::<CliResult<_>>()?;
    let guest_doc = load(guest_input, common, &map, TypeHint::Guest)?;
    let guest = first_cpu(&guest_doc)?;
    let mut cpus = Vec::new();
    for l in &hosts {
        first_cpu(l)?;
        for h in l.cpu_refs() {
            cpus.push((h.label(), update_one(&map, h, guest)?));
        }
    }
    let several = cpus.len() > 1;
    answer_cpus(&map, &cpus, format, several)
}

fn update_one(map: &CpuMap, host: CpuRef, guest: CpuRef) -> CliResult<CpuDef> {
    let arch = Arch::of_cpu(map, host.cpu()).map_err(|e| CliError::file(host.path(), e))?;
    start_on(map, arch, host.cpu(), guest.cpu()).map_err(|e| op_error(map, &[guest, host], &e, guest.path()))
}

/// The guest CPU as it is after it starts on `host` (of `arch`): libvirt updates it against the
/// host's migratable CPU (`virCPUCopyMigratable`, then `virCPUUpdate`).
pub(crate) fn start_on(map: &CpuMap, arch: Arch, host: &CpuDef, guest: &CpuDef) -> Result<CpuDef, CpuError> {
    let mig = ops::copy_migratable(map, arch, host);
    let mut cpu = guest.clone();
    ops::update(map, arch, &mut cpu, Some(&mig))?;
    Ok(cpu)
}

/// `cpufleet host [--dump]`: this machine's CPU, read with the CPUID instruction.
pub fn host(common: &Common, dump: bool, format: Format) -> CliResult<Outcome> {
    let data = crate::hostcpu::read_cpuid()
        .ok_or_else(|| CliError::new("cpufleet host needs an x86_64 machine (the CPUID instruction)"))?;
    if dump && format == Format::Text {
        print_stdout(&xml::format_cpuid_data(&data))?;
        return Ok(Outcome::Ok);
    }
    let map = mapload::load(common)?;
    if dump {
        let v = json::answer(&map, serde_json::json!({ "xml": xml::format_cpuid_data(&data) }));
        return json::print(&v).map(|_| Outcome::Ok);
    }
    let cpu = x86::decode_host(&map.x86, &X86Data::from_cpuid(&map.x86, &data))
        .map_err(|e| CliError::new(format!("this host's CPUID: {e}")))?;
    answer_cpus(&map, &[("this host".to_string(), cpu)], format, false)
}
