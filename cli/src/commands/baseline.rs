//! `cpufleet baseline FILE…`: what `virsh cpu-baseline` prints for the inputs concatenated,
//! through libvirt's test driver (the default: libvirt's own CPU rules) or its QEMU driver
//! (`--driver qemu`: the same baseline, then the features the QEMU driver filters dropped).

use super::baseline_cpu_error;
use crate::args::{limits, Common, Driver, Format, Outcome};
use crate::error::{CliError, CliResult};
use crate::inputs::{guest_for_baseline, load, op_error, CpuRef, Loaded};
use crate::{json, mapload};
use cpufleet_engine::hypervisor::qemu_driver_baseline_finish;
use cpufleet_engine::ops::{self, Arch};
use cpufleet_engine::xml::{self, TypeHint};
use cpufleet_engine::{CpuDef, CpuError, CpuMap};
use cpufleet_io::{gather_inputs, not_xml, print_stdout, read_file, Input, NOT_XML};
use cpufleet_stream::{baseline_concat, baseline_file, Failure, StreamOpts};
use std::path::{Path, PathBuf};

/// The options of `baseline`.
#[derive(Clone, Copy)]
pub struct BaselineOpts {
    pub features: bool,
    pub migratable: bool,
    pub format: Format,
    /// Explain the result (`super::explain`).
    pub explain: bool,
    pub driver: Driver,
}

/// `cpufleet baseline FILE…`.
pub fn baseline(common: &Common, args: &[PathBuf], opts: &BaselineOpts) -> CliResult<Outcome> {
    let map = mapload::load(common)?;
    let inputs = gather_inputs(args)?;
    let first_path = inputs.first().map(|i| i.path().to_path_buf()).unwrap_or_default();
    // The QEMU driver filters libvirt's baseline before expanding it.
    let qemu = opts.driver == Driver::Qemu;
    let own = BaselineOpts { features: opts.features && !qemu, ..*opts };
    // The documents read one by one, kept for --explain (standard input is read only once).
    let mut docs: Vec<Loaded> = Vec::new();
    // --explain reads host files as the inventory does (CPUID dumps, domcapabilities).
    if opts.explain {
        docs = super::explain::host_files(&map, common, &inputs)?.unwrap_or_default();
    }
    let result = match inputs.as_slice() {
        _ if !docs.is_empty() => of_docs(&map, &docs, &own)?,
        [Input::File(path)] => one_file(&map, common, path, &own)?,
        _ => match streamed(&map, common, &inputs, &own) {
            Some(cpu) => Ok(cpu),
            None => {
                docs = load_docs(&map, common, inputs.clone())?;
                of_docs(&map, &docs, &own)?
            }
        },
    };
    let mut cpu = match result {
        Ok(cpu) => cpu,
        Err(outcome) => return outcome,
    };
    if qemu {
        if let Err(e) = qemu_driver_baseline_finish(&map, &mut cpu, opts.features) {
            return baseline_cpu_error(&first_path, e, opts.driver, &[]);
        }
    }
    let explained = match opts.explain {
        true => Some(super::explain::explain(&map, common, (&inputs, &docs), &cpu, opts)?),
        false => None,
    };
    match opts.format {
        // virsh prints the formatted CPU followed by one more newline.
        Format::Text => {
            print_stdout(&format!("{}\n", xml::format_cpu(&cpu)))?;
            if let Some(e) = &explained {
                print_stdout(&e.text(&map))?;
            }
        }
        Format::Json => {
            let mut v = json::answer(&map, json::cpu(&cpu));
            v["abi_level"] = json::abi(&map, &cpu);
            if let Some(e) = &explained {
                v["explain"] = e.json(&map);
            }
            json::print(&v)?;
        }
    }
    Ok(Outcome::Ok)
}

pub type Answer = Result<CpuDef, CliResult<Outcome>>;

/// One file: streamed in parallel with flat memory; a document that is not a plain pool of host
/// <cpu> elements is read whole. Same output and errors either way (see `cpufleet_stream`).
fn one_file(map: &CpuMap, common: &Common, path: &Path, opts: &BaselineOpts) -> CliResult<Answer> {
    let limits = limits(common);
    let s = StreamOpts::default();
    let r = baseline_file(map, path, common.max_input_bytes, limits, opts.features, opts.migratable, s)?;
    let failure = match r {
        Ok(cpu) => return Ok(Ok(cpu)),
        Err(f) => f,
    };
    // Errors are rare: the file is read again to say more about them.
    let reread = || read_file(path, common.max_input_bytes);
    Ok(Err(match failure {
        Failure::Cpu(e @ (CpuError::UnknownModel(_) | CpuError::UnknownFeature(_))) => {
            match load(Input::File(path.to_path_buf()), common, map, TypeHint::Host) {
                Ok(l) => Err(op_error(map, &l.cpu_refs().collect::<Vec<_>>(), &e, path)),
                Err(_) => Err(CliError::file(path, e)),
            }
        }
        Failure::Cpu(e @ CpuError::ModelVendorMismatch { .. }) if opts.driver == Driver::Qemu => {
            // The message names the model of the input CPU: read the file to know it.
            let cpus = load(Input::File(path.to_path_buf()), common, map, TypeHint::Host)
                .map(|l| l.doc.cpus)
                .unwrap_or_default();
            baseline_cpu_error(path, e, opts.driver, &cpus)
        }
        Failure::Cpu(e) => baseline_cpu_error(path, e, opts.driver, &[]),
        Failure::Xml(e) => {
            let bytes = reread()?;
            Err(xml_failure(path, &bytes, map, common).unwrap_or_else(|| CliError::file(path, e)))
        }
        other => Err(CliError::file(path, other)),
    }))
}

/// What a document that does not read as host CPUs is told, when more can be said than the
/// reader's error: it is not XML at all, or it holds guest CPUs.
fn xml_failure(path: &Path, bytes: &[u8], map: &CpuMap, common: &Common) -> Option<CliError> {
    if let Some((line, col)) = not_xml(bytes) {
        return Some(CliError::file(path, format!("{line}:{col}: {NOT_XML}")));
    }
    guest_for_baseline(path, bytes, map, common)
}

/// Several files: streamed as their concatenation (flat memory, parallel), when that answers.
fn streamed(map: &CpuMap, common: &Common, inputs: &[Input], opts: &BaselineOpts) -> Option<CpuDef> {
    let paths: Vec<PathBuf> = inputs
        .iter()
        .map(|i| match i {
            Input::File(p) => Some(p.clone()),
            Input::Stdin => None,
        })
        .collect::<Option<_>>()?;
    let (max, limits) = (common.max_input_bytes, limits(common));
    baseline_concat(map, &paths, max, limits, opts.features, opts.migratable, StreamOpts::default()).ok().flatten()
}

/// Several inputs, read one by one (standard input, documents the streaming path does not take,
/// and every failure, so that errors name their file and position): each read and parsed in
/// turn as host CPUs ([`load_docs`]), then one baseline of all their CPUs in order, exactly as of
/// the inputs concatenated ([`of_docs`]).
fn load_docs(map: &CpuMap, common: &Common, inputs: Vec<Input>) -> CliResult<Vec<Loaded>> {
    let mut docs: Vec<Loaded> = Vec::with_capacity(inputs.len());
    for input in inputs {
        let path = input.path().to_path_buf();
        match load(input, common, map, TypeHint::Host) {
            Ok(l) => docs.push(l),
            Err(e) => {
                let bytes = match &path {
                    p if p.as_os_str() == "-" => return Err(e),
                    p => read_file(p, common.max_input_bytes)?,
                };
                return Err(xml_failure(&path, &bytes, map, common).unwrap_or(e));
            }
        }
    }
    Ok(docs)
}

/// The baseline of every CPU of `docs`, in order (see [`load_docs`]).
fn of_docs(map: &CpuMap, docs: &[Loaded], opts: &BaselineOpts) -> CliResult<Answer> {
    baseline_docs_under(map, docs, opts.migratable, opts.features, opts.driver)
}

/// `cpu-baseline` of every CPU of `docs`, in order, as `cpufleet baseline` answers it: an
/// unknown name is a located input error (exit 2), libvirt's own failures are its answer
/// (`Err(outcome)`), each naming the file of the CPU it concerns.
pub fn baseline_docs(map: &CpuMap, docs: &[Loaded], migratable: bool, features: bool) -> CliResult<Answer> {
    baseline_docs_under(map, docs, migratable, features, Driver::Test)
}

/// [`baseline_docs`], its negative answers printed as `driver`'s virsh prints them.
fn baseline_docs_under(
    map: &CpuMap,
    docs: &[Loaded],
    migratable: bool,
    features: bool,
    driver: Driver,
) -> CliResult<Answer> {
    let refs: Vec<CpuRef> = docs.iter().flat_map(Loaded::cpu_refs).collect();
    let cpus: Vec<CpuDef> = refs.iter().map(|r| r.cpu().clone()).collect();
    let path_of = |index: usize| refs.get(index).map_or(docs[0].input.path(), |r| r.path());
    let err_path = |e: &CpuError| match e {
        CpuError::NoModelAt(i) | CpuError::ModelVendorMismatch { index: i, .. } => path_of(*i),
        _ => docs[0].input.path(),
    };
    let mut cpu = match ops::baseline(map, &cpus, None, migratable) {
        Ok(cpu) => cpu,
        Err(e @ (CpuError::UnknownModel(_) | CpuError::UnknownFeature(_))) => {
            return Err(op_error(map, &refs, &e, err_path(&e)))
        }
        Err(e) => return Ok(Err(baseline_cpu_error(err_path(&e), e, driver, &cpus))),
    };
    if features {
        let expanded = Arch::of_cpu(map, &cpus[0]).and_then(|arch| ops::expand_features(map, arch, &mut cpu));
        if let Err(e) = expanded {
            return Ok(Err(baseline_cpu_error(err_path(&e), e, driver, &cpus)));
        }
    }
    Ok(Ok(cpu))
}
