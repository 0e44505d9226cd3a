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

use crate::args::{limits, Common, Format, Outcome};
use crate::error::{CliError, CliResult};
use crate::{inputs, json, mapload};
use clap::Args;
use cpufleet_engine::hypervisor::{
    host_input_warning, to_qemu, Accel, ErrorCode, HvComparison, Hypervisor, LibvirtError, NeedsCache, StartKind,
};
use cpufleet_engine::x86::Verdict;
use cpufleet_engine::xml;
use cpufleet_engine::{CpuDef, CpuMap};
use cpufleet_export::qemu::qemu_cpu_arg;
use cpufleet_export::{NameTable, Vocabulary};
use cpufleet_io::{print_stdout, read_file, Input};
use std::path::{Path, PathBuf};

/// The hypervisor every hypervisor command works against.
#[derive(Args, Clone)]
pub struct HypervisorArgs {
    /// `virsh domcapabilities [--virttype kvm|qemu]` of the hypervisor.
    #[arg(long, value_name = "FILE")]
    pub domcaps: PathBuf,
    /// libvirt's QEMU capabilities cache of the same QEMU binary: the one file under
    /// /var/cache/libvirt/qemu/capabilities/ whose <emulator> is the domcapabilities' <path>
    /// (`grep -l qemu-system-x86_64 /var/cache/libvirt/qemu/capabilities/*.xml`; the folder also
    /// holds other binaries' caches, refused at their <arch>). QEMU's blockers, which libvirt
    /// 9.0.0's domcapabilities lack, and its exact feature-name list.
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
    /// Text (what virsh prints, where virsh has the command) or JSON (one line, keys sorted,
    /// with `"libvirt"`: the shapes are in the README's JSON output section).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// <cpu>, domain, capabilities or domcapabilities documents: files, directories (every
    /// *.xml inside, sorted by name) or -. Every CPU of them is compared.
    #[arg(required = true, value_name = "CPU")]
    pub cpus: Vec<PathBuf>,
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
    /// Text (what virsh prints, where virsh has the command) or JSON (one line, keys sorted,
    /// with `"libvirt"`: the shapes are in the README's JSON output section).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Documents holding the CPUs, all of them used as if concatenated (domcapabilities too):
    /// files, directories (every *.xml inside, sorted by name) or -.
    #[arg(required = true, value_name = "CPUS")]
    pub files: Vec<PathBuf>,
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

/// Says on stderr that an answer computed from domcapabilities alone rests on what only QEMU's
/// capabilities cache has (`why`), naming the flag that makes it exact.
fn warn_needs_cache(why: &NeedsCache) {
    eprintln!(
        "cpufleet: warning: {why}; give --qemu-caps (libvirt's QEMU capabilities cache of this QEMU) for an exact answer"
    );
}

/// virsh's warning about host CPU definitions given to hypervisor-cpu-compare/-baseline, once
/// per CPU of the inputs it applies to (libvirt 11.3.0's virsh prints it as an `error:` line,
/// 12.9.0's as a `warning:` line, and goes on).
fn warn_host_inputs(map: &CpuMap, docs: &[inputs::Loaded]) {
    for span in docs.iter().flat_map(|d| d.doc.spans.iter()) {
        if let Some(line) = host_input_warning(map.version(), span) {
            eprintln!("{line}");
        }
    }
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

/// virsh's line for a hypervisor compare verdict about the CPU described in `f`.
fn verdict_line(v: Verdict, f: &str) -> String {
    match v {
        Verdict::Identical => {
            format!("CPU described in {f} is identical to the CPU provided by hypervisor on the host")
        }
        Verdict::Superset => {
            format!("The CPU provided by hypervisor on the host is a superset of CPU described in {f}")
        }
        _ => format!("CPU described in {f} is incompatible with the CPU provided by hypervisor on the host"),
    }
}

/// `cpufleet hypervisor-compare CPU…`: every CPU of the inputs against the hypervisor. One CPU:
/// virsh's answer byte for byte. Several (several files, or a file with several CPUs, where
/// virsh would take the first): one verdict per CPU named by file and position, the reason
/// under an incompatible one, and a summary, as `compare` prints them. The first CPU libvirt
/// refuses to compare (or an incompatible one with `--error`) ends the command with virsh's
/// error.
pub fn compare(a: &CompareArgs) -> CliResult<Outcome> {
    let map = mapload::load(&a.common)?;
    let hv = load_hypervisor(&a.common, &map, &a.hv, a.caps.as_deref())?;
    let docs: Vec<inputs::Loaded> = cpufleet_io::gather_inputs(&a.cpus)?
        .into_iter()
        .map(|i| inputs::load_as_sent(i, &a.common, &map, true))
        .collect::<CliResult<_>>()?;
    let refs: Vec<inputs::CpuRef> = docs.iter().flat_map(inputs::Loaded::cpu_refs).collect();
    if refs.is_empty() {
        return Err(CliError::file(docs[0].input.path(), "no CPU definition found"));
    }
    warn_host_inputs(&map, &docs);
    let json = a.format == Format::Json;
    let mut results = Vec::with_capacity(refs.len());
    for r in &refs {
        match hv.compare(&map, r.cpu(), a.error) {
            Ok(c) => {
                // The reason is printed only for several CPUs (or in JSON).
                let shown = refs.len() > 1 || json;
                if let Some(why) = c.needs_cache.as_ref().filter(|w| !w.only_text() || shown) {
                    warn_needs_cache(why);
                }
                results.push(c)
            }
            Err(e) => {
                if let Some(why) = &e.needs_cache {
                    warn_needs_cache(why);
                }
                let f = if refs.len() == 1 { r.path().display().to_string() } else { r.label() };
                return libvirt_failure(&[format!("Failed to compare hypervisor CPU with {f}")], &e, json);
            }
        }
    }
    let answer = |r: &inputs::CpuRef, c: &HvComparison| {
        let pos = r.pos();
        serde_json::json!({
            "libvirt": map.version().as_str(),
            "virttype": hv.accel.virttype(),
            "cpu": { "file": r.path().display().to_string(), "index": r.index + 1, "line": pos.line, "column": pos.col, "label": r.label() },
            "verdict": c.verdict.as_str(),
            "reason": c.message,
        })
    };
    if json {
        let mut all: Vec<serde_json::Value> = refs.iter().zip(&results).map(|(r, c)| answer(r, c)).collect();
        json::print(&if all.len() == 1 { all.remove(0) } else { serde_json::Value::Array(all) })?;
    } else if let ([r], [c]) = (refs.as_slice(), results.as_slice()) {
        // virsh prints the line, then one more newline.
        print_stdout(&format!("{}\n\n", verdict_line(c.verdict, &r.path().display().to_string())))?;
    } else {
        let mut out = String::new();
        for (r, c) in refs.iter().zip(&results) {
            out.push_str(&format!("{}: {}\n", r.label(), verdict_line(c.verdict, &r.path().display().to_string())));
            if let Some(m) = &c.message {
                out.push_str(&format!("  reason: {m}\n"));
            }
        }
        let ok = results.iter().filter(|c| c.verdict.is_compatible()).count();
        out.push_str(&format!(
            "{ok} of {} CPUs can run on the CPU provided by hypervisor on the host\n",
            results.len()
        ));
        print_stdout(&out)?;
    }
    Ok(if results.iter().all(|c| c.verdict.is_compatible()) { Outcome::Ok } else { Outcome::Negative })
}

/// `cpufleet hypervisor-baseline`.
pub fn baseline(a: &BaselineArgs) -> CliResult<Outcome> {
    let map = mapload::load(&a.common)?;
    let hv = load_hypervisor(&a.common, &map, &a.hv, None)?;
    let docs: Vec<inputs::Loaded> = cpufleet_io::gather_inputs(&a.files)?
        .into_iter()
        .map(|i| inputs::load_as_sent(i, &a.common, &map, true))
        .collect::<CliResult<_>>()?;
    let cpus: Vec<CpuDef> = docs.iter().flat_map(|d| d.doc.cpus.iter().cloned()).collect();
    warn_host_inputs(&map, &docs);
    let json = a.format == Format::Json;
    if let Some(why) = hv.qemu_inexact.as_ref().filter(|_| a.hv.qemu_caps.is_none()) {
        warn_needs_cache(why);
    }
    let (cpu, needs_cache) = match hv.baseline_checked(&map.x86, &cpus, a.features, a.migratable, true) {
        Ok(c) => c,
        Err(e) => {
            if let Some(why) = &e.needs_cache {
                warn_needs_cache(why);
            }
            return libvirt_failure(&[], &e, json);
        }
    };
    if let Some(why) = &needs_cache {
        warn_needs_cache(why);
    }
    let text = xml::format_cpu(&cpu);
    if json {
        let v = serde_json::json!({
            "libvirt": map.version().as_str(),
            "virttype": hv.accel.virttype(),
            "exact": needs_cache.is_none() && hv.qemu_inexact.is_none(),
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
    /// Text (what virsh prints, where virsh has the command) or JSON (one line, keys sorted,
    /// with `"libvirt"`: the shapes are in the README's JSON output section).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The guest: a domain XML (its <cpu>, or QEMU's default CPU without one, and the domain
    /// settings libvirt writes into -cpu: Hyper-V, KVM, pmu, pvspinlock, apic eoi, the kvmclock and
    /// hypervclock timers, a Hyper-V panic device) or a bare <cpu>; a file or -.
    pub guest: PathBuf,
}

/// The names the QEMU driver of the map's release writes on the command line
/// (`virQEMUCapsCPUFeatureToQEMU`): the export's QEMU table, completed with every map feature it
/// lacks (a release newer than the table's maps) under the engine's translation.
pub(crate) fn command_line_names(map: &CpuMap) -> CliResult<NameTable> {
    let err = |e: cpufleet_export::ExportError| CliError::new(e.to_string());
    let table = NameTable::embedded(Vocabulary::Qemu).map_err(err)?;
    let mut text = Vocabulary::Qemu.embedded_text().to_string();
    for f in map.x86.features.iter().filter(|f| table.lookup(&f.name).is_none()) {
        text.push_str(&format!("{}\t{}\n", f.name, to_qemu(map.version(), &f.name)));
    }
    NameTable::parse(Vocabulary::Qemu, &text).map_err(err)
}

/// `cpufleet start`: the guest CPU after the QEMU driver's start path, or the error the driver
/// gives (`error: ...` on stderr as virsh prints it; exit 1 when the driver refuses the guest,
/// 2 when the input is bad: names the map does not know, malformed files).
pub fn start(a: &StartArgs) -> CliResult<Outcome> {
    let map = mapload::load(&a.common)?;
    let hv = load_hypervisor(&a.common, &map, &a.hv, a.caps.as_deref())?;
    let input = cpufleet_io::gather_inputs(std::slice::from_ref(&a.guest))?;
    let [input] = <[Input; 1]>::try_from(input).map_err(|_| CliError::file(&a.guest, "expected one guest file"))?;
    let (loaded, guest, features) = inputs::load_guest(input, &a.common, &map)?;
    if hv.accel == Accel::Kvm && hv.full.is_none() {
        eprintln!(
            "cpufleet: warning: without --caps the host-model CPU stands in for the full host CPU KVM checks against"
        );
    }
    if let Some(why) = hv.qemu_inexact.as_ref().filter(|_| a.hv.qemu_caps.is_none()) {
        warn_needs_cache(why);
    }
    let kind = if a.incoming { StartKind::Incoming } else { StartKind::Fresh };
    let started = match hv.start(&map.x86, &guest, &features, kind) {
        Ok(s) => s,
        Err(e) => {
            if let Some(why) = &e.needs_cache {
                warn_needs_cache(why);
            }
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
    if let Some(why) = &started.needs_cache {
        warn_needs_cache(why);
    }
    let tables = command_line_names(&map)?;
    let argv =
        qemu_cpu_arg(&started.command_line, &started.properties, &tables).map_err(|e| CliError::new(e.to_string()))?;
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
