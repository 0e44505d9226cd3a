//! `cpufleet export FORMAT [INPUT…]`: CPUs in the formats other projects read (the rules are in
//! `cpufleet_export`). Per-host formats answer for every host CPU of the inputs, or of every
//! host of `--inventory DIR`; guest formats export each guest CPU of the inputs, or the baseline
//! of the inputs' host CPUs (`--baseline`), or each pool's baseline (`--inventory DIR`).
//! `/proc/cpuinfo` and `lscpu` text are host inputs too, with a warning.

use crate::inputs::{self, first_cpu, op_error, CpuRef, Loaded};
use crate::{json, limits, mapload, Common, Format, Outcome};
use clap::Args;
use cpufleet_engine::ops::{self, Arch};
use cpufleet_engine::xml::{CpuDocument, CpuSpan, DocKind, TypeHint};
use cpufleet_engine::{CpuDef, CpuError, CpuMap};
use cpufleet_export::cpuinfo::{host_from_cpuinfo, looks_like_cpuinfo, MSR_WARNING};
use cpufleet_export::kubevirt::{self, HostCpuFacts, DEFAULT_OBSOLETE_CPU_MODELS};
use cpufleet_export::{export, Export, ExportError, ExportFormat, NameTables, Takes};
use cpufleet_io::{
    gather_inputs, not_xml, print_stdout, read_file, read_input_any, CliError, CliResult, Input, NOT_XML,
};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub common: Common,
    /// What to write: qemu-cpu, kubevirt-cpu, nova, proxmox (a guest CPU each); kubevirt-labels,
    /// nova-traits (per host CPU).
    #[arg(value_enum, value_name = "FORMAT")]
    pub target: ExportFormat,
    /// Text (what the consuming project reads) or JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Guest formats: export the baseline of the inputs' host CPUs (as `cpufleet baseline`).
    #[arg(long)]
    pub baseline: bool,
    /// With --baseline or --inventory: drop features that block migration (virsh --migratable).
    #[arg(long)]
    pub migratable: bool,
    /// Guest formats: first update the guest CPU on this host (libvirt's guest start).
    #[arg(long, value_name = "FILE")]
    pub host: Option<PathBuf>,
    /// A fleet inventory (DIR/POOL/HOST.xml): every host (per-host formats, named POOL/HOST) or
    /// each pool's baseline (guest formats, named POOL).
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
}

/// `cpufleet export`.
pub fn run(a: &ExportArgs) -> CliResult<Outcome> {
    let per_host = a.target.takes() == Takes::HostCpu;
    if per_host && (a.baseline || a.host.is_some() || a.migratable) {
        return Err(CliError::new(format!(
            "{} answers per host CPU: --baseline, --migratable and --host apply to guest formats only",
            a.target
        )));
    }
    if a.migratable && !a.baseline && a.inventory.is_none() {
        return Err(CliError::new("--migratable applies with --baseline or --inventory"));
    }
    let map = mapload::load(&a.common)?;
    let tables = NameTables::embedded().map_err(|e| CliError::new(e.to_string()))?;
    let hint = if per_host || a.baseline { TypeHint::Host } else { TypeHint::Auto };
    let docs = match &a.inventory {
        Some(_) => Vec::new(),
        None => read_inputs(&a.inputs, &a.common, &map, hint)?,
    };
    let items = match &a.inventory {
        Some(dir) => inventory_items(a, &map, dir)?,
        None if a.baseline => match baseline_item(a, &map, &docs)? {
            Ok(item) => vec![item],
            Err(outcome) => return outcome,
        },
        None => input_items(a, &map, &docs)?,
    };
    let host = a.host.as_ref().map(|h| read_inputs(std::slice::from_ref(h), &a.common, &map, TypeHint::Host));
    let host = host.transpose()?;
    let host = host.as_ref().map(|h| first_cpu(&h[0])).transpose()?;
    let names = names(a, &items);
    let mut out = Vec::new();
    for (mut item, name) in items.into_iter().zip(names) {
        if let Some(h) = host {
            update_on(&map, h, &mut item)?;
        }
        let e = export_item(a.target, &item, &name, &map, &tables)?;
        for w in item.warnings.iter().chain(&e.warnings) {
            eprintln!("cpufleet: warning: {}: {w}", item.source);
        }
        out.push((item, name, e));
    }
    print(a, &map, &out)?;
    Ok(Outcome::Ok)
}

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
        for r in l.cpu_refs() {
            if let Some(e) = inputs::unknown_name(map, &[r], None) {
                return Err(e);
            }
            let name = if several { format!("{stem}-{}", r.index + 1) } else { stem.clone() };
            let (facts, warnings) = (facts.clone(), warnings.clone());
            let (source, path, cpu) = (r.label(), r.path().to_path_buf(), r.cpu().clone());
            items.push(Item { name, source, path, cpu, at: Some(r), facts, warnings });
        }
    }
    Ok(items)
}

type Answer<'a> = Result<Item<'a>, CliResult<Outcome>>;

/// The baseline of every CPU of the inputs, as `cpufleet baseline` computes it.
fn baseline_item<'a>(a: &ExportArgs, map: &CpuMap, docs: &'a [Loaded]) -> CliResult<Answer<'a>> {
    let cpu = match crate::commands::baseline_docs(map, docs, a.migratable, false)? {
        Ok(cpu) => cpu,
        Err(outcome) => return Ok(Err(outcome)),
    };
    let n_cpus: usize = docs.iter().map(|l| l.doc.cpus.len()).sum();
    let cpuinfo: Vec<String> =
        docs.iter().filter(|l| is_cpuinfo(l)).map(|l| l.input.path().display().to_string()).collect();
    let warnings = match cpuinfo.is_empty() {
        true => Vec::new(),
        false => vec![format!("{} read as cpuinfo text: {MSR_WARNING}", cpuinfo.join(", "))],
    };
    let source = format!("baseline of {n_cpus} host CPU(s)");
    let path = docs[0].input.path().to_path_buf();
    Ok(Ok(Item { name: "baseline".into(), source, path, cpu, at: None, facts: None, warnings }))
}

/// An inventory's hosts (per-host formats) or pool baselines (guest formats).
fn inventory_items(a: &ExportArgs, map: &CpuMap, dir: &Path) -> CliResult<Vec<Item<'static>>> {
    let inv = crate::inventory::read(&a.common, dir, false)?;
    let mut items = Vec::new();
    if a.target.takes() == Takes::GuestCpu {
        for p in &inv.pools {
            let cpus: Vec<CpuDef> = p.hosts.iter().map(|h| inv.cpus[h.cpu.index()].clone()).collect();
            let cpu = ops::baseline(map, &cpus, None, a.migratable).map_err(|e| {
                let negative = matches!(e, CpuError::IncompatibleCpus(_) | CpuError::VendorsMismatch { .. });
                let hint = if negative { " (its hosts have no common CPU)" } else { "" };
                CliError::file(&p.path, format!("pool baseline: {e}{hint}"))
            })?;
            let source = format!("pool {} ({} hosts)", p.name, p.hosts.len());
            items.push(Item {
                name: p.name.clone(),
                source,
                path: p.path.clone(),
                cpu,
                at: None,
                facts: None,
                warnings: vec![],
            });
        }
        return Ok(items);
    }
    let mut from_cpu: HashMap<usize, HostCpuFacts> = HashMap::new();
    for p in &inv.pools {
        for h in &p.hosts {
            let cpu = inv.cpus[h.cpu.index()].clone();
            let (mut facts, mut warnings) = (None, Vec::new());
            if a.target == ExportFormat::KubevirtLabels {
                let bytes = read_file(&h.path, a.common.max_input_bytes)?;
                if bytes.windows(19).any(|w| w == b"<domainCapabilities") {
                    let read = HostCpuFacts::from_domcaps(map, &bytes, limits(&a.common));
                    if let Some((f, w)) = read.map_err(|e| CliError::file(&h.path, e))? {
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
            items.push(Item { name, source, path: h.path.clone(), cpu, at: None, facts, warnings });
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
    let result = match &item.facts {
        Some(facts) => Ok(kubevirt::labels_export(name, facts, DEFAULT_OBSOLETE_CPU_MODELS)),
        None => export(format, &item.cpu, name, map, tables),
    };
    result.map_err(|e| match (&e, item.at) {
        (ExportError::Cpu(ce), Some(r)) => op_error(map, &[r], ce, r.path()),
        (_, Some(r)) => CliError::file(r.path(), format!("{}: {e}", r.pos())),
        (_, None) => CliError::file(&item.path, format!("{}: {e}", item.source)),
    })
}

/// Prints the exports: text one after the other (each after a `# NAME: SOURCE` comment when
/// several, except where the format names its items itself), or one JSON answer.
fn print(a: &ExportArgs, map: &CpuMap, out: &[(Item, String, Export)]) -> CliResult<()> {
    if a.format == Format::Json {
        let list: Vec<Value> = out
            .iter()
            .map(|(item, name, e)| {
                let mut v = e.json.clone();
                v["name"] = Value::from(name.as_str());
                v["source"] = Value::from(item.source.as_str());
                let warnings: Vec<&String> = item.warnings.iter().chain(&e.warnings).collect();
                v["warnings"] = serde_json::json!(warnings);
                v
            })
            .collect();
        return json::print(&json::answer(map, serde_json::json!({ "format": a.target.as_str(), "exports": list })));
    }
    let headers = out.len() > 1 && !matches!(a.target, ExportFormat::KubevirtLabels | ExportFormat::Proxmox);
    let mut text = String::new();
    for (i, (item, name, e)) in out.iter().enumerate() {
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
    print_stdout(&text)
}
