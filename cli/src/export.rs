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

use crate::error::{CliError, CliResult};
use crate::hypervisor::{command_line_names, load_hypervisor, HypervisorArgs};
use crate::inputs::{self, first_cpu, op_error, CpuRef, Loaded};
use crate::inventory::Grouping;
use crate::{json, limits, mapload, Common, Format, Outcome, View};
use clap::Args;
use cpufleet_engine::domain::DomainFeatures;
use cpufleet_engine::hypervisor::{ErrorCode, Hypervisor, LibvirtError, StartKind};
use cpufleet_engine::ops::{self, Arch};
use cpufleet_engine::x86;
use cpufleet_engine::xml::{self, CpuDocument, CpuSpan, DocKind, Limits, TypeHint};
use cpufleet_engine::{CpuDef, CpuError, CpuMap};
use cpufleet_export::cpuinfo::{host_from_cpuinfo, looks_like_cpuinfo, MSR_WARNING};
use cpufleet_export::kubevirt::{self, HostCpuFacts, DEFAULT_OBSOLETE_CPU_MODELS};
use cpufleet_export::{export, Export, ExportError, ExportFormat, NameTables, Takes};
use cpufleet_io::{gather_inputs, not_xml, print_stdout, read_file, read_input_any, Input, NOT_XML};
use cpufleet_sim::kvm_view::KvmView;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub common: Common,
    /// What to write: qemu-cpu, kubevirt-cpu, nova, proxmox (a guest CPU each); kubevirt-labels,
    /// nova-traits (per host CPU).
    #[arg(value_name = "FORMAT", value_parser = crate::closed::parser::<ExportFormat>())]
    pub target: ExportFormat,
    /// Text (what the consuming project reads) or JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Guest formats: export the baseline of the inputs' host CPUs: what guests get on all of them
    /// (`hypervisor-baseline` of their QEMU/KVM host-models), or with --view raw `cpufleet baseline`.
    #[arg(long)]
    pub baseline: bool,
    /// With --baseline or --inventory: drop features that block migration (virsh --migratable;
    /// what pool-baseline guests are configured with).
    #[arg(long)]
    pub migratable: bool,
    /// Guest formats: the host the guest starts on (a host CPU, `virsh capabilities`, or its
    /// `virsh domcapabilities`): the export is the CPU as libvirt's QEMU driver starts it there
    /// (the KVM view of a raw host CPU; with --domcaps, the full host CPU KVM checks against).
    #[arg(long, value_name = "FILE")]
    pub host: Option<PathBuf>,
    /// Guest formats: `virsh domcapabilities --virttype kvm|qemu` of the hypervisor the guest
    /// runs on (as the hypervisor commands take it): the guest is started there, a baseline is
    /// `hypervisor-cpu-baseline` against it.
    #[arg(long, value_name = "FILE")]
    pub domcaps: Option<PathBuf>,
    /// With --domcaps: libvirt's QEMU capabilities cache of the same QEMU binary (QEMU's
    /// blockers and exact feature names).
    #[arg(long, value_name = "FILE", requires = "domcaps")]
    pub qemu_caps: Option<PathBuf>,
    /// `virsh capabilities` of the host: with --domcaps the full host CPU a KVM start checks
    /// against; for kubevirt-labels the TSC (`cpu-timer` labels) beside a domcapabilities input.
    #[arg(long, value_name = "FILE")]
    pub caps: Option<PathBuf>,
    /// Which view of the hosts answers: guest (what QEMU/KVM gives guests: --domcaps, the
    /// inventory's HOST.domcaps.xml, else the KVM view of the host CPU) or raw (the host CPUs as
    /// `virsh capabilities` reports them, host-only features included, with a warning).
    #[arg(long, value_enum, default_value_t = View::Guest)]
    pub view: View,
    /// A fleet inventory (DIR/POOL/HOST.xml): every host (per-host formats, named POOL/HOST) or
    /// each pool's baseline (guest formats, named POOL; a pool without one is a note). Each host
    /// is computed by the libvirt release its HOST.meta.toml names (without: --libvirt), a pool
    /// whose hosts run several by the oldest of them (a note names it).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["inputs", "baseline"])]
    pub inventory: Option<PathBuf>,
    /// Name of the export (the Proxmox model, the KubeVirt node); several get -1, -2, … Default:
    /// the input's file name, POOL/HOST or POOL with --inventory, `baseline` with --baseline.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// CPU documents, directories (every *.xml inside), - (standard input), or /proc/cpuinfo or
    /// lscpu text (host CPUs).
    #[arg(value_name = "INPUT", required_unless_present = "inventory")]
    pub inputs: Vec<PathBuf>,
}

/// One CPU to export: its name, where it comes from, and what the target is told.
struct Item<'a> {
    name: String,
    source: String,
    path: PathBuf,
    cpu: CpuDef,
    /// The CPU in its input, to locate errors (None for computed CPUs).
    at: Option<CpuRef<'a>>,
    /// kubevirt-labels of a domcapabilities document: the node-labeller's exact view.
    facts: Option<HostCpuFacts>,
    warnings: Vec<String>,
    /// The domain settings that reach `-cpu` (a domain input's `<features>`, `<clock>`, …).
    domain: DomainFeatures,
    /// The hypervisor the guest starts on (guest view), when known.
    hv: Option<Hypervisor>,
    /// After the QEMU driver's start: the CPU `-cpu` is built from and what `-cpu` has after it.
    started: Option<(CpuDef, Vec<cpufleet_engine::hypervisor::CpuProperty>)>,
    /// The release it is computed by, when not the run's (an inventory host's or pool's own).
    map: Option<std::sync::Arc<CpuMap>>,
}

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

/// The one line an export without a host or hypervisor says about what it assumed.
const NO_HOST: &str = "no --host, --domcaps or --inventory: the CPU is exported as written, not as libvirt's QEMU driver would start it on a host (optional features, removed features' =off, match='minimum', model translation and QEMU's feature filter need the host)";

/// The hypervisor the command line names for guest formats: `--domcaps` (with `--qemu-caps`,
/// and `--caps` or `--host` as the full host CPU), or `--host`'s own (its domcapabilities, or the
/// KVM view of its CPU).
fn given_hypervisor(a: &ExportArgs, map: &CpuMap, kvm: &KvmView) -> CliResult<Option<Hypervisor>> {
    let host = match &a.host {
        Some(h) => Some((h, read_inputs(std::slice::from_ref(h), &a.common, map, TypeHint::Host)?)),
        None => None,
    };
    if let Some(domcaps) = &a.domcaps {
        let args = HypervisorArgs { domcaps: domcaps.clone(), qemu_caps: a.qemu_caps.clone() };
        let mut hv = load_hypervisor(&a.common, map, &args, a.caps.as_deref())?;
        if let (Some((path, docs)), None) = (&host, &a.caps) {
            let r = first_cpu(&docs[0])?;
            hv = hv.with_host_cpu(&map.x86, r.cpu()).map_err(|e| CliError::file(path, e))?;
        }
        return Ok(Some(hv));
    }
    match host {
        Some((path, docs)) => Ok(Some(doc_hypervisor(map, kvm, &docs[0], path, limits(&a.common))?)),
        None => Ok(None),
    }
}

/// The hypervisor of one host document: its own when it is a domcapabilities document, else the
/// KVM view of its (first) CPU.
fn doc_hypervisor(map: &CpuMap, kvm: &KvmView, l: &Loaded, path: &Path, lim: Limits) -> CliResult<Hypervisor> {
    if l.doc.kinds.contains(&DocKind::DomainCapabilities) {
        return Hypervisor::from_domcaps(map, &l.bytes, lim).map_err(|e| CliError::file(path, e));
    }
    kvm_hypervisor(map, kvm, first_cpu(l)?.cpu(), path)
}

/// The KVM view of a raw host CPU (what QEMU/KVM offers guests on it, `data/kvm_view.toml`, as
/// the simulator derives each host's QEMU/KVM): a KVM hypervisor with that host-model and the
/// raw CPU as the full host CPU, its QEMU the one the release ships with.
fn kvm_hypervisor(map: &CpuMap, kvm: &KvmView, host: &CpuDef, path: &Path) -> CliResult<Hypervisor> {
    let x = &map.x86;
    let err = |e: CpuError| CliError::file(path, format!("the KVM view of the host CPU: {e}"));
    let vendor = host.vendor.as_deref().and_then(|v| x.vendor_index(v)).ok_or_else(|| {
        CliError::file(
            path,
            "the host CPU names no vendor libvirt knows, which its KVM view needs (give the host's domcapabilities with --domcaps, or --view raw)",
        )
    })?;
    let md = x86::model_from_cpu(x, host, x86::Sel::All).map_err(err)?;
    let signature = host.signature.map_or(0, |s| x86::model::make_signature(s.family, s.model, s.stepping));
    let reported = cpufleet_sim::fleet::host_model(x, kvm, &md.features, vendor, signature).map_err(err)?;
    Hypervisor::kvm_with_host_model(x, reported, Some(host)).map_err(err)
}

/// The guest CPU as the QEMU driver starts it on `hv` (a fresh start): `optional` resolved,
/// models translated, removed features disabled, the filtered features gone. The formats that
/// describe what QEMU runs (qemu-cpu, proxmox) take the command line's CPU; those handed to
/// libvirt as a definition (nova, kubevirt-cpu) take the guest's started definition, or for a
/// computed baseline the baseline itself (`hypervisor-cpu-baseline`'s answer, which the start
/// checks: the driver must accept it).
fn start_item(map: &CpuMap, hv: &Hypervisor, item: &mut Item) -> Result<(), LibvirtError> {
    let s = hv.start(&map.x86, &item.cpu, &item.domain, StartKind::Fresh)?;
    if let Some(why) = &s.needs_cache {
        item.warnings.push(format!("{why}; give --qemu-caps for an exact answer"));
    }
    if item.at.is_some() {
        item.cpu = s.cpu;
    }
    item.started = Some((s.command_line, s.properties));
    Ok(())
}

/// The QEMU driver refuses the guest on its host: libvirt's error (exit 1 for a negative answer,
/// as `cpufleet start`; exit 2 for bad input).
fn start_refused(map: &CpuMap, item: &Item, e: &LibvirtError) -> CliResult<Outcome> {
    if let Some(r) = item.at {
        if let Some(bad) = inputs::unknown_name(map, &[r], None) {
            return Err(bad);
        }
    }
    eprintln!("error: {e}");
    match e.code {
        ErrorCode::CpuIncompatible | ErrorCode::ConfigUnsupported | ErrorCode::OperationFailed => Ok(Outcome::Negative),
        _ => Err(CliError::file(&item.path, format!("{}: the QEMU driver would refuse this: {e}", item.source))),
    }
}

/// The features of `raw` (a raw-view answer) that `guest` (the same answer in the guest view)
/// does not enable: what the raw view asks of guests that QEMU/KVM never gives them.
fn host_only(map: &CpuMap, raw: &CpuDef, guest: &CpuDef) -> Vec<String> {
    let (Ok(r), Ok(g)) = (cpufleet_export::enabled_features(map, raw), cpufleet_export::enabled_features(map, guest))
    else {
        return Vec::new();
    };
    r.into_iter().filter(|f| !g.contains(f)).collect()
}

/// The raw view's warning naming the host-only features (None: no guest view to compare with).
fn raw_warning(features: Option<&[String]>) -> String {
    match features {
        None => {
            "--view raw: the raw host CPUs (no guest view of these hosts to name the host-only features)".to_string()
        }
        Some([]) => "--view raw: the raw host CPUs; here no feature beyond what QEMU/KVM gives guests".to_string(),
        Some(f) => format!(
            "--view raw: the raw host CPUs; these features are host-only (QEMU/KVM never gives them to a guest): {}",
            f.join(" ")
        ),
    }
}

/// Whether every CPU is an x86 one (the guest view, a QEMU/KVM view, is x86's; ppc64 CPUs are
/// compared by model name and answer in the raw view, with a warning).
fn all_x86<'c>(map: &CpuMap, mut cpus: impl Iterator<Item = &'c CpuDef>) -> bool {
    cpus.all(|c| matches!(Arch::of_cpu(map, c), Ok(Arch::X86)))
}

/// The warning of a guest-view answer that is the raw one because the hosts are not x86.
const NOT_X86: &str = "not x86 hosts: cpufleet has no QEMU/KVM view of them; answered as in --view raw";

/// Reads every input: CPU documents, or `/proc/cpuinfo` / `lscpu` text as one host CPU.
fn read_inputs(args: &[PathBuf], common: &Common, map: &CpuMap, hint: TypeHint) -> CliResult<Vec<Loaded>> {
    let tables = NameTables::embedded().map_err(|e| CliError::new(e.to_string()))?;
    let mut docs = Vec::new();
    for input in gather_inputs(args)? {
        let bytes = read_input_any(&input, common.max_input_bytes)?;
        let Some((line, col)) = not_xml(&bytes) else {
            // A domcapabilities excerpt without <arch> does not read as host CPUs; its host-model
            // CPU still tells the node-labeller's facts.
            let retry = (hint == TypeHint::Host).then(|| (input.clone(), bytes.clone()));
            let loaded = match (inputs::parse(input, bytes, common, map, hint), retry) {
                (Ok(l), _) => l,
                (Err(e), Some((input, bytes))) => match inputs::parse(input, bytes, common, map, TypeHint::Auto) {
                    Ok(l) if l.doc.kinds == [DocKind::DomainCapabilities] => l,
                    _ => return Err(e),
                },
                (Err(e), None) => return Err(e),
            };
            docs.push(loaded);
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        if !looks_like_cpuinfo(&text) {
            let what = format!("{line}:{col}: {NOT_XML}, or /proc/cpuinfo or lscpu text (no 'flags' line)");
            return Err(CliError::file(input.path(), what));
        }
        let host = host_from_cpuinfo(map, &text, &tables.linux).map_err(|e| CliError::file(input.path(), e))?;
        let span = CpuSpan::default();
        let doc =
            CpuDocument { kinds: Vec::new(), cpus: vec![host.cpu], spans: vec![span], models: None, domcaps: None };
        docs.push(Loaded { input, bytes, doc });
    }
    for l in &docs {
        first_cpu(l)?;
    }
    Ok(docs)
}

/// Whether a loaded input was cpuinfo text (no XML document kind).
fn is_cpuinfo(l: &Loaded) -> bool {
    l.doc.kinds.is_empty()
}

/// Every CPU of the inputs, each an item; kubevirt-labels reads domcapabilities exactly.
fn input_items<'a>(a: &ExportArgs, map: &CpuMap, docs: &'a [Loaded]) -> CliResult<Vec<Item<'a>>> {
    let mut items = Vec::new();
    for l in docs {
        let stem = match &l.input {
            Input::Stdin => "stdin".to_string(),
            Input::File(p) => p.file_stem().map_or("cpu".into(), |s| s.to_string_lossy().into_owned()),
        };
        let several = l.doc.cpus.len() > 1;
        let mut facts = None;
        let mut warnings = Vec::new();
        if a.target == ExportFormat::KubevirtLabels && l.doc.kinds.contains(&DocKind::DomainCapabilities) {
            let read = HostCpuFacts::from_domcaps(map, &l.bytes, limits(&a.common));
            if let Some((f, w)) = read.map_err(|e| CliError::file(l.input.path(), e))? {
                facts = Some(f);
                warnings = w;
            }
        }
        if is_cpuinfo(l) {
            warnings.push(MSR_WARNING.to_string());
        }
        if let (Some(f), Some(caps)) = (facts.as_mut(), &a.caps) {
            f.tsc = caps_tsc(a, map, caps)?;
        }
        // Nova's traits of a domcapabilities document: its host-model CPU as the host (what
        // QEMU/KVM offers guests, as an inventory reads such a file).
        let as_host = match a.target == ExportFormat::NovaTraits && l.doc.kinds.contains(&DocKind::DomainCapabilities) {
            true => {
                let hv = Hypervisor::from_domcaps(map, &l.bytes, limits(&a.common))
                    .map_err(|e| CliError::file(l.input.path(), e))?;
                let host = hv.host_model_as_host(map).map_err(|e| CliError::file(l.input.path(), e))?;
                Some(host.ok_or_else(|| {
                    CliError::file(l.input.path(), "the domcapabilities document has no host-model CPU")
                })?)
            }
            false => None,
        };
        // A domain's settings that reach -cpu (its <features>, <clock>, <devices>' Hyper-V panic).
        let domain = match l.doc.kinds.as_slice() {
            [DocKind::Domain] => {
                xml::read_domain(&l.bytes, map.version(), limits(&a.common))
                    .map_err(|e| CliError::file(l.input.path(), e))?
                    .domain
                    .features
            }
            _ => DomainFeatures::default(),
        };
        for r in l.cpu_refs() {
            if let Some(e) = inputs::unknown_name(map, &[r], None) {
                return Err(e);
            }
            let name = if several { format!("{stem}-{}", r.index + 1) } else { stem.clone() };
            let (facts, warnings) = (facts.clone(), warnings.clone());
            let (source, path) = (r.label(), r.path().to_path_buf());
            let cpu = as_host.clone().unwrap_or_else(|| r.cpu().clone());
            let domain = domain.clone();
            items.push(Item {
                name,
                source,
                path,
                cpu,
                at: Some(r),
                facts,
                warnings,
                domain,
                hv: None,
                started: None,
                map: None,
            });
        }
    }
    Ok(items)
}

type Answer<'a> = Result<Item<'a>, CliResult<Outcome>>;

/// The warning about inputs read as cpuinfo text, if any.
fn cpuinfo_warnings(docs: &[Loaded]) -> Vec<String> {
    let cpuinfo: Vec<String> =
        docs.iter().filter(|l| is_cpuinfo(l)).map(|l| l.input.path().display().to_string()).collect();
    match cpuinfo.is_empty() {
        true => Vec::new(),
        false => vec![format!("{} read as cpuinfo text: {MSR_WARNING}", cpuinfo.join(", "))],
    }
}

/// An item for a computed CPU (no input CPU to point at).
fn computed(name: String, source: String, path: PathBuf, cpu: CpuDef, warnings: Vec<String>) -> Item<'static> {
    Item {
        name,
        source,
        path,
        cpu,
        at: None,
        facts: None,
        warnings,
        domain: DomainFeatures::default(),
        hv: None,
        started: None,
        map: None,
    }
}

/// The raw view's baseline of every CPU of the inputs, as `cpufleet baseline` computes it, with
/// the warning naming what of it is host-only.
fn raw_baseline_item<'a>(a: &ExportArgs, map: &CpuMap, kvm: &KvmView, docs: &'a [Loaded]) -> CliResult<Answer<'a>> {
    let cpu = match crate::commands::baseline_docs(map, docs, a.migratable, false)? {
        Ok(cpu) => cpu,
        Err(outcome) => return Ok(Err(outcome)),
    };
    let n_cpus: usize = docs.iter().map(|l| l.doc.cpus.len()).sum();
    let mut warnings = cpuinfo_warnings(docs);
    let guest = hv_baseline_item(a, map, kvm, docs, None).ok().and_then(Result::ok);
    warnings.push(raw_warning(guest.map(|g| host_only(map, &cpu, &g.cpu)).as_deref()));
    let source = format!("baseline of {n_cpus} host CPU(s)");
    Ok(Ok(computed("baseline".into(), source, docs[0].input.path().to_path_buf(), cpu, warnings)))
}

/// The guest view's baseline of the inputs: `hypervisor-cpu-baseline` against `--domcaps` (of
/// the CPUs as given, as `cpufleet hypervisor-baseline`), else of each input host's QEMU/KVM
/// host-model (a domcapabilities input's own, the KVM view of any other host CPU) asked of the
/// first input's hypervisor.
fn hv_baseline_item<'a>(
    a: &ExportArgs,
    map: &CpuMap,
    kvm: &KvmView,
    docs: &'a [Loaded],
    given: Option<&Hypervisor>,
) -> CliResult<Answer<'a>> {
    let n_cpus: usize = docs.iter().map(|l| l.doc.cpus.len()).sum();
    let (hv, cpus, source) = match given {
        Some(hv) => {
            // A domcapabilities input is its host-model CPU (as the inventory reads such a file).
            let mut cpus = Vec::new();
            for l in docs {
                match l.doc.kinds.contains(&DocKind::DomainCapabilities) {
                    true => cpus.extend(doc_hypervisor(map, kvm, l, l.input.path(), limits(&a.common))?.reported),
                    false => cpus.extend(l.doc.cpus.iter().cloned()),
                }
            }
            (hv.clone(), cpus, format!("hypervisor baseline of {n_cpus} CPU(s)"))
        }
        None => {
            let mut hvs = Vec::new();
            for l in docs {
                if l.doc.kinds.contains(&DocKind::DomainCapabilities) {
                    hvs.push(doc_hypervisor(map, kvm, l, l.input.path(), limits(&a.common))?);
                    continue;
                }
                for r in l.cpu_refs() {
                    hvs.push(kvm_hypervisor(map, kvm, r.cpu(), r.path())?);
                }
            }
            let mut cpus = Vec::new();
            for (h, l) in hvs.iter().zip(docs.iter().cycle()) {
                let r = h.reported.clone().ok_or_else(|| {
                    CliError::file(l.input.path(), "the hypervisor reports no host-model CPU (give --view raw)")
                })?;
                cpus.push(r);
            }
            let first = hvs.into_iter().next().ok_or_else(|| CliError::new("no host CPU to baseline"))?;
            (first, cpus, format!("hypervisor baseline of {n_cpus} host CPU(s)"))
        }
    };
    let cpu = match hv.baseline(&map.x86, &cpus, false, a.migratable) {
        Ok(cpu) => cpu,
        Err(e) => {
            eprintln!("error: {e}");
            let outcome = match e.is_negative() {
                true => Ok(Outcome::Negative),
                false => Err(CliError::file(docs[0].input.path(), format!("hypervisor baseline: {e}"))),
            };
            return Ok(Err(outcome));
        }
    };
    let mut item = computed("baseline".into(), source, docs[0].input.path().to_path_buf(), cpu, cpuinfo_warnings(docs));
    item.hv = Some(hv);
    Ok(Ok(item))
}

/// The TSC of `--caps` (a `virsh capabilities` document), for the KubeVirt `cpu-timer` labels.
fn caps_tsc(a: &ExportArgs, map: &CpuMap, caps: &Path) -> CliResult<Option<(u64, bool)>> {
    let docs = read_inputs(std::slice::from_ref(&caps.to_path_buf()), &a.common, map, TypeHint::Host)?;
    if docs[0].doc.kinds != [DocKind::Capabilities] {
        return Err(CliError::file(caps, "--caps: expected a virsh capabilities document"));
    }
    Ok(first_cpu(&docs[0])?.cpu().tsc.map(|t| (t.frequency, t.scaling == Some(true))))
}

/// Why a pool has no common CPU, and what to do: the one-line note for it.
fn pool_note(name: &str, cpus: &[&CpuDef], e: &str) -> String {
    let mut vendors: Vec<&str> = Vec::new();
    for c in cpus {
        let v = c.vendor.as_deref().unwrap_or("unknown-vendor");
        if !vendors.contains(&v) {
            vendors.push(v);
        }
    }
    match vendors.len() {
        n if n > 1 => {
            let (last, rest) = vendors.split_last().expect("two or more");
            format!("{name} mixes {} and {last} hosts: no common CPU; split it", rest.join(", "))
        }
        _ if e.starts_with("no guest view") => {
            format!("{name}: {e}; give its hosts' HOST.domcaps.xml, or use --view raw")
        }
        _ => format!("{name}: no common CPU ({e}); split it or check its hosts"),
    }
}

/// An inventory's hosts (per-host formats) or pool baselines (guest formats; in the guest view
/// `hypervisor-cpu-baseline` of the hosts' QEMU/KVM host-models, asked of the first host's).
/// A pool without a common CPU is a note, not an error.
/// Each host is computed by its own libvirt release, each pool by the oldest of its hosts'
/// (`crate::inventory::read_by_release`); the choices are notes.
fn inventory_items(a: &ExportArgs, dir: &Path, notes: &mut Vec<String>) -> CliResult<Vec<Item<'static>>> {
    let by = if a.target.takes() == Takes::GuestCpu { Grouping::Pool } else { Grouping::Host };
    let rel = crate::inventory::read_by_release(&a.common, dir, false, by)?;
    notes.extend(rel.notes);
    let mut items = Vec::new();
    for part in rel.parts {
        let kvm = KvmView::embedded(&part.map.x86).map_err(|e| CliError::new(e.to_string()))?;
        let map = std::sync::Arc::new(part.map);
        let mut mine = release_items(a, &map, &kvm, &part.inv, notes)?;
        for item in &mut mine {
            item.map = Some(map.clone());
        }
        items.extend(mine);
    }
    // Inventory order: pools, then hosts, by name (the parts are by release).
    items.sort_by(|x, y| {
        let key = |n: &str| n.split_once('/').map_or((n.to_string(), String::new()), |(p, h)| (p.into(), h.into()));
        key(&x.name).cmp(&key(&y.name))
    });
    Ok(items)
}

/// [`inventory_items`] of the hosts one release reads.
fn release_items(
    a: &ExportArgs,
    map: &CpuMap,
    kvm: &KvmView,
    inv: &cpufleet_inventory::Inventory,
    notes: &mut Vec<String>,
) -> CliResult<Vec<Item<'static>>> {
    let mut items = Vec::new();
    if a.target.takes() == Takes::GuestCpu {
        let mut hv_of: HashMap<usize, Result<Hypervisor, String>> = HashMap::new();
        for p in &inv.pools {
            let cpus: Vec<&CpuDef> = p.hosts.iter().map(|h| &inv.cpus[h.cpu.index()]).collect();
            for h in &p.hosts {
                let i = h.cpu.index();
                if let std::collections::hash_map::Entry::Vacant(slot) = hv_of.entry(i) {
                    slot.insert(match inv.hypervisors.get(i).cloned().flatten() {
                        Some(b) => Ok(*b),
                        None => kvm_hypervisor(map, kvm, &inv.cpus[i], &h.path).map_err(|e| e.to_string()),
                    });
                }
            }
            let hvs: Result<Vec<&Hypervisor>, String> =
                p.hosts.iter().map(|h| hv_of[&h.cpu.index()].as_ref().map_err(Clone::clone)).collect();
            let guest = match &hvs {
                Err(e) => Err(format!("no guest view of a host: {e}")),
                Ok(hvs) => match hvs.iter().map(|h| h.reported.clone()).collect::<Option<Vec<CpuDef>>>() {
                    Some(r) => hvs[0].baseline(&map.x86, &r, false, a.migratable).map_err(|e| e.to_string()),
                    None => Err("a host's domcapabilities reports no host-model CPU".to_string()),
                },
            };
            let source = format!("pool {} ({} hosts)", p.name, p.hosts.len());
            let x86 = all_x86(map, cpus.iter().copied());
            let view = if x86 { a.view } else { View::Raw };
            let item = match view {
                View::Guest => guest.map(|cpu| {
                    let mut item = computed(p.name.clone(), source, p.path.clone(), cpu, vec![]);
                    item.hv = hvs.as_ref().ok().map(|h| h[0].clone());
                    item
                }),
                View::Raw => {
                    let owned: Vec<CpuDef> = cpus.iter().map(|&c| c.clone()).collect();
                    ops::baseline(map, &owned, None, a.migratable).map_err(|e| e.to_string()).map(|cpu| {
                        let only = guest.as_ref().ok().map(|g| host_only(map, &cpu, g));
                        let w = if x86 { raw_warning(only.as_deref()) } else { NOT_X86.to_string() };
                        computed(p.name.clone(), source, p.path.clone(), cpu, vec![w])
                    })
                }
            };
            match item {
                Ok(item) => items.push(item),
                Err(e) => notes.push(pool_note(&p.name, &cpus, &e)),
            }
        }
        return Ok(items);
    }
    let mut from_cpu: HashMap<usize, HostCpuFacts> = HashMap::new();
    for p in &inv.pools {
        for h in &p.hosts {
            let cpu = inv.cpus[h.cpu.index()].clone();
            let (mut facts, mut warnings) = (None, Vec::new());
            if a.target == ExportFormat::KubevirtLabels {
                // The node-labeller's view: the host's domcapabilities (its file, or the
                // HOST.domcaps.xml beside it), with the TSC of its capabilities.
                let file = h.domcaps.as_ref().unwrap_or(&h.path);
                let bytes = read_file(file, a.common.max_input_bytes)?;
                if bytes.windows(19).any(|w| w == b"<domainCapabilities") {
                    let read = HostCpuFacts::from_domcaps(map, &bytes, limits(&a.common));
                    if let Some((mut f, w)) = read.map_err(|e| CliError::file(file, e))? {
                        if h.domcaps.is_some() {
                            f.tsc = cpu.tsc.map(|t| (t.frequency, t.scaling == Some(true)));
                        }
                        (facts, warnings) = (Some(f), w);
                    }
                }
                if facts.is_none() {
                    let f = match from_cpu.get(&h.cpu.index()) {
                        Some(f) => f.clone(),
                        None => HostCpuFacts::from_host_cpu(map, &cpu).map_err(|e| CliError::file(&h.path, e))?,
                    };
                    from_cpu.insert(h.cpu.index(), f.clone());
                    facts = Some(f);
                }
            }
            let name = format!("{}/{}", p.name, h.name);
            let source = h.path.display().to_string();
            let mut item = computed(name, source, h.path.clone(), cpu, warnings);
            item.facts = facts;
            items.push(item);
        }
    }
    Ok(items)
}

/// The names the exports get: the items' own, or `--name` (numbered when several).
fn names(a: &ExportArgs, items: &[Item]) -> Vec<String> {
    match &a.name {
        Some(n) if items.len() == 1 => vec![n.clone()],
        Some(n) => (1..=items.len()).map(|i| format!("{n}-{i}")).collect(),
        None => items.iter().map(|i| i.name.clone()).collect(),
    }
}

/// libvirt's guest start on `host`: optional features become require or disable, host-model
/// becomes a copy of the host (`cpufleet update`).
fn update_on(map: &CpuMap, host: CpuRef, item: &mut Item) -> CliResult<()> {
    let arch = Arch::of_cpu(map, host.cpu()).map_err(|e| CliError::file(host.path(), e))?;
    let mig = ops::copy_migratable(map, arch, host.cpu());
    let refs: Vec<CpuRef> = item.at.into_iter().chain([host]).collect();
    ops::update(map, arch, &mut item.cpu, Some(&mig)).map_err(|e| op_error(map, &refs, &e, &item.path))
}

/// One item's export, with errors located at its CPU.
fn export_item(format: ExportFormat, item: &Item, name: &str, map: &CpuMap, tables: &NameTables) -> CliResult<Export> {
    let result = match (&item.facts, &item.started) {
        (Some(facts), _) => Ok(kubevirt::labels_export(name, facts, DEFAULT_OBSOLETE_CPU_MODELS)),
        // The started CPU's -cpu: what `cpufleet start --qemu-argv` prints, the same names.
        (None, Some((cpu, props))) if format == ExportFormat::QemuCpu => {
            let names = command_line_names(map)?;
            cpufleet_export::qemu::qemu_cpu_arg(cpu, props, &names).map(|q| Export {
                text: format!("{}\n", q.arg),
                json: serde_json::json!({ "arg": q.arg }),
                warnings: q.warnings,
            })
        }
        (None, Some((cpu, props))) if format == ExportFormat::Proxmox => export(format, cpu, name, map, tables).map(|mut e| {
            if !props.is_empty() {
                let list: Vec<String> = props.iter().map(|p| p.to_string()).collect();
                e.warnings.push(format!(
                    "libvirt's -cpu also has {}, which is not part of a Proxmox CPU model (set what Proxmox has an option for, such as phys-bits, in the VM's cpu setting)",
                    list.join(",")
                ));
            }
            e
        }),
        (None, _) => export(format, &item.cpu, name, map, tables),
    };
    result.map_err(|e| match (&e, item.at) {
        (ExportError::Cpu(ce), Some(r)) => op_error(map, &[r], ce, r.path()),
        (_, Some(r)) => CliError::file(r.path(), format!("{}: {e}", r.pos())),
        (_, None) => CliError::file(&item.path, format!("{}: {e}", item.source)),
    })
}

/// Prints the exports: text one after the other (each after a `# NAME: SOURCE` comment when
/// several, except where the format names its items itself), or one JSON answer.
fn print(a: &ExportArgs, map: &CpuMap, items: &[Item], out: &[(String, Export)], notes: &[String]) -> CliResult<()> {
    if a.format == Format::Json {
        let list: Vec<Value> = items
            .iter()
            .zip(out)
            .map(|(item, (name, e))| {
                let mut v = e.json.clone();
                v["name"] = Value::from(name.as_str());
                v["source"] = Value::from(item.source.as_str());
                let warnings: Vec<&String> = item.warnings.iter().chain(&e.warnings).collect();
                v["warnings"] = serde_json::json!(warnings);
                v
            })
            .collect();
        let v = serde_json::json!({ "format": a.target.as_str(), "exports": list, "notes": notes, "view": match a.view { View::Guest => "guest", View::Raw => "raw" } });
        return json::print(&json::answer(map, v));
    }
    let headers = out.len() > 1 && !matches!(a.target, ExportFormat::KubevirtLabels | ExportFormat::Proxmox);
    let mut text = String::new();
    for (i, (item, (name, e))) in items.iter().zip(out).enumerate() {
        if headers {
            let sep = match (i, a.target) {
                (0, _) => "",
                (_, ExportFormat::KubevirtCpu) => "---\n",
                _ => "\n",
            };
            text.push_str(&format!("{sep}# {name}: {}\n", item.source));
        }
        text.push_str(&e.text);
    }
    Ok(print_stdout(&text)?)
}
