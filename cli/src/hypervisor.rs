//! The QEMU driver's hypervisor commands: `hypervisor-compare` and `hypervisor-baseline`
//! (byte-identical to `virsh hypervisor-cpu-compare` / `hypervisor-cpu-baseline` of the
//! hypervisor whose `virsh domcapabilities` is given). The engine holds the rules
//! (`cpufleet_engine::hypervisor`); this file reads the files and prints.
//!
//! Output: stdout is virsh's (its text, then the extra newline virsh ends with, also after an
//! error); a libvirt error is printed on stderr as virsh prints it (`error: ...` lines). Exit
//! codes: 0 compatible / a result; 1 a negative answer (incompatible, `--error`'s
//! incompatibility, baseline vendors or CPUs that do not match), as virsh; 2 bad input (unknown
//! model or feature, unreadable or malformed files, an unsupported hypervisor), where virsh
//! says 1.

use crate::{inputs, json, limits, mapload, Common, Format, Outcome};
use clap::Args;
use cpufleet_engine::hypervisor::{Accel, ErrorCode, Hypervisor, LibvirtError, StartKind};
use cpufleet_engine::x86::Verdict;
use cpufleet_engine::xml::{self, CpuDocument, DocKind, TypeHint};
use cpufleet_engine::XmlErrorKind;
use cpufleet_engine::{CpuDef, CpuMap, CpuType};
use cpufleet_export::qemu::qemu_cpu_arg;
use cpufleet_export::{NameTable, Vocabulary};
use cpufleet_io::{print_stdout, read_file, CliError, CliResult, Input};
use std::path::{Path, PathBuf};

/// The hypervisor every hypervisor command works against.
#[derive(Args, Clone)]
pub struct HypervisorArgs {
    /// `virsh domcapabilities [--virttype kvm|qemu]` of the hypervisor.
    #[arg(long, value_name = "FILE")]
    pub domcaps: PathBuf,
    /// libvirt's QEMU capabilities cache of the same QEMU binary
    /// (/var/cache/libvirt/qemu/capabilities/*.xml): QEMU's blockers, which libvirt 9.0.0's
    /// domcapabilities lack, and its exact feature-name list.
    #[arg(long, value_name = "FILE")]
    pub qemu_caps: Option<PathBuf>,
}

/// `hypervisor-compare` arguments.
#[derive(Args, Clone)]
pub struct CompareArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub hv: HypervisorArgs,
    /// `virsh capabilities` of the host (the full host CPU; read, not needed by compare).
    #[arg(long, value_name = "FILE")]
    pub caps: Option<PathBuf>,
    /// An incompatible CPU is an error naming why (virsh --error).
    #[arg(long)]
    pub error: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// A <cpu>, domain, capabilities or domcapabilities document (its first CPU is compared).
    pub cpu: PathBuf,
}

/// `hypervisor-baseline` arguments.
#[derive(Args, Clone)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub hv: HypervisorArgs,
    /// Expand the result to its full feature list (virsh --features).
    #[arg(long)]
    pub features: bool,
    /// Drop what QEMU marks non-migratable (virsh --migratable).
    #[arg(long)]
    pub migratable: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Documents holding the CPUs (all of them are used; domcapabilities may be concatenated).
    pub file: PathBuf,
}

/// Reads the hypervisor view: domcapabilities, plus the QEMU cache and capabilities if given.
pub fn load_hypervisor(
    common: &Common,
    map: &CpuMap,
    hv: &HypervisorArgs,
    caps: Option<&Path>,
) -> CliResult<Hypervisor> {
    let max = common.max_input_bytes;
    let bytes = read_file(&hv.domcaps, max)?;
    let mut h = Hypervisor::from_domcaps(map, &bytes, limits(common)).map_err(|e| CliError::file(&hv.domcaps, e))?;
    if let Some(p) = &hv.qemu_caps {
        let bytes = read_file(p, max)?;
        h = h.with_qemu_caps(map, &bytes, limits(common)).map_err(|e| CliError::file(p, e))?;
    }
    if let Some(p) = caps {
        let bytes = read_file(p, max)?;
        h = h.with_capabilities(map, &bytes, limits(common)).map_err(|e| CliError::file(p, e))?;
    }
    Ok(h)
}

/// A libvirt error as virsh reports it: the lines on stderr, virsh's closing newline on
/// stdout; exit 1 for a negative answer, 2 for bad input.
fn libvirt_failure(lines: &[String], e: &LibvirtError, json: bool) -> CliResult<Outcome> {
    if !json {
        print_stdout("\n")?;
    }
    for l in lines {
        eprintln!("error: {l}");
    }
    eprintln!("error: {e}");
    if e.is_negative() {
        Ok(Outcome::Negative)
    } else {
        Err(CliError::new(format!("the QEMU driver would refuse this: {e}")))
    }
}

/// `cpufleet hypervisor-compare`.
pub fn compare(a: &CompareArgs) -> CliResult<Outcome> {
    let map = mapload::load(&a.common)?;
    let hv = load_hypervisor(&a.common, &map, &a.hv, a.caps.as_deref())?;
    let doc = inputs::load(Input::File(a.cpu.clone()), &a.common, &map, TypeHint::Auto)?.doc;
    let cpu = doc.cpus.first().ok_or_else(|| CliError::file(&a.cpu, "no CPU definition found"))?;
    let f = a.cpu.display();
    let json = a.format == Format::Json;
    let result = match hv.compare(&map, cpu, a.error) {
        Ok(r) => r,
        Err(e) => return libvirt_failure(&[format!("Failed to compare hypervisor CPU with {f}")], &e, json),
    };
    if json {
        let v = serde_json::json!({
            "libvirt": map.version().as_str(),
            "virttype": hv.accel.virttype(),
            "verdict": result.verdict.as_str(),
            "reason": result.message,
        });
        print_stdout(&format!("{v}\n"))?;
    } else {
        let line = match result.verdict {
            Verdict::Identical => {
                format!("CPU described in {f} is identical to the CPU provided by hypervisor on the host\n")
            }
            Verdict::Superset => {
                format!("The CPU provided by hypervisor on the host is a superset of CPU described in {f}\n")
            }
            _ => format!("CPU described in {f} is incompatible with the CPU provided by hypervisor on the host\n"),
        };
        print_stdout(&format!("{line}\n"))?;
    }
    Ok(if result.verdict.is_compatible() { Outcome::Ok } else { Outcome::Negative })
}

/// `cpufleet hypervisor-baseline`.
pub fn baseline(a: &BaselineArgs) -> CliResult<Outcome> {
    let map = mapload::load(&a.common)?;
    let hv = load_hypervisor(&a.common, &map, &a.hv, None)?;
    let doc = inputs::load(Input::File(a.file.clone()), &a.common, &map, TypeHint::Auto)?.doc;
    let json = a.format == Format::Json;
    if !hv.baseline_is_exact() && a.hv.qemu_caps.is_none() {
        eprintln!(
            "cpufleet: warning: libvirt {}'s domcapabilities have no QEMU blockers; give --qemu-caps for an exact answer",
            map.version()
        );
    }
    let cpu = match hv.baseline(&map, &doc.cpus, a.features, a.migratable) {
        Ok(c) => c,
        Err(e) => return libvirt_failure(&[], &e, json),
    };
    let text = xml::format_cpu(&cpu);
    if json {
        let v = serde_json::json!({
            "libvirt": map.version().as_str(),
            "virttype": hv.accel.virttype(),
            "exact": hv.baseline_is_exact(),
            "cpu": text,
        });
        print_stdout(&format!("{v}\n"))?;
    } else {
        print_stdout(&format!("{text}\n"))?;
    }
    Ok(Outcome::Ok)
}

/// `start` arguments.
#[derive(Args, Clone)]
pub struct StartArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub hv: HypervisorArgs,
    /// `virsh capabilities` of the host: the full host CPU a KVM start checks forbidden features
    /// and `check='partial'` against (without it, the host-model CPU stands in, with a warning).
    #[arg(long, value_name = "FILE")]
    pub caps: Option<PathBuf>,
    /// The guest arrives by live migration (or a restore): removed features are kept as
    /// `require` (libvirt 11.3.0) and a host-model CPU naming a model is taken as custom.
    #[arg(long)]
    pub incoming: bool,
    /// Print the `-cpu` argument QEMU gets instead of the CPU's XML.
    #[arg(long)]
    pub qemu_argv: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The guest: a <cpu> or a domain XML (a domain without <cpu> gets QEMU's default CPU); a
    /// file or -.
    pub guest: PathBuf,
}

/// `cpufleet start`: the guest CPU after the QEMU driver's start path, or the error the driver
/// gives (`error: ...` on stderr as virsh prints it; exit 1 when the driver refuses the guest,
/// 2 when the input is bad: names the map does not know, malformed files).
pub fn start(a: &StartArgs) -> CliResult<Outcome> {
    let map = mapload::load(&a.common)?;
    let hv = load_hypervisor(&a.common, &map, &a.hv, a.caps.as_deref())?;
    let input = cpufleet_io::gather_inputs(std::slice::from_ref(&a.guest))?;
    let [input] = <[Input; 1]>::try_from(input).map_err(|_| CliError::file(&a.guest, "expected one guest file"))?;
    let bytes = cpufleet_io::read_input(&input, a.common.max_input_bytes)?;
    let doc = match xml::read_cpu_document(&bytes, TypeHint::Guest, map.version(), limits(&a.common)) {
        Ok(doc) => doc,
        // A domain without <cpu>: QEMU's default CPU (the engine's start path supplies it).
        Err(e) if e.element == "domain" && e.kind == XmlErrorKind::MissingElement("cpu") => {
            CpuDocument { kinds: vec![DocKind::Domain], cpus: vec![], spans: vec![], models: None, domcaps: None }
        }
        Err(e) => return Err(CliError::file(input.path(), e)),
    };
    let loaded = inputs::Loaded { input, bytes, doc };
    let guest = loaded.doc.cpus.first().cloned().unwrap_or_else(|| CpuDef::new(CpuType::Guest));
    if hv.accel == Accel::Kvm && hv.full.is_none() {
        eprintln!(
            "cpufleet: warning: without --caps the host-model CPU stands in for the full host CPU KVM checks against"
        );
    }
    if !hv.baseline_is_exact() {
        eprintln!(
            "cpufleet: warning: libvirt {}'s domcapabilities have no QEMU blockers; give --qemu-caps for an exact translation",
            map.version()
        );
    }
    let kind = if a.incoming { StartKind::Incoming } else { StartKind::Fresh };
    let started = match hv.start(&map, &guest, kind) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            let refs: Vec<inputs::CpuRef> = loaded.cpu_refs().take(1).collect();
            if let Some(bad) = inputs::unknown_name(&map, &refs, None) {
                return Err(bad);
            }
            return match e.code {
                ErrorCode::CpuIncompatible | ErrorCode::ConfigUnsupported | ErrorCode::OperationFailed => {
                    Ok(Outcome::Negative)
                }
                _ => Err(CliError::new(format!("the QEMU driver would refuse this: {e}"))),
            };
        }
    };
    let tables = NameTable::embedded(Vocabulary::Qemu).map_err(|e| CliError::new(e.to_string()))?;
    let argv = qemu_cpu_arg(&started.command_line, &tables).map_err(|e| CliError::new(e.to_string()))?;
    match a.format {
        Format::Text if a.qemu_argv => print_stdout(&format!("{}\n", argv.arg))?,
        Format::Text => print_stdout(&xml::format_cpu(&started.cpu))?,
        Format::Json => {
            let mut v = json::answer(&map, json::cpu(&started.cpu));
            v["virttype"] = hv.accel.virttype().into();
            v["incoming"] = a.incoming.into();
            v["check"] = started.cpu.check.map(|c| c.as_str()).into();
            v["qemu_cpu"] = argv.arg.into();
            json::print(&v)?;
        }
    }
    Ok(Outcome::Ok)
}
