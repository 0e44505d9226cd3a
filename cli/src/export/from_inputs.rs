//! The items of the command line's inputs: each CPU, or their baseline (`--baseline`) in the
//! guest view (`hypervisor-cpu-baseline`) or the raw view.

use super::args::ExportArgs;
use super::host::{doc_hypervisor, host_only, kvm_hypervisor, raw_warning};
use super::item::{computed, Answer, Item};
use super::read::{caps_tsc, is_cpuinfo};
use crate::args::{limits, Outcome};
use crate::error::{CliError, CliResult};
use crate::inputs::{self, Loaded};
use cpufleet_engine::domain::DomainFeatures;
use cpufleet_engine::hypervisor::Hypervisor;
use cpufleet_engine::xml::{self, DocKind};
use cpufleet_engine::CpuMap;
use cpufleet_export::cpuinfo::MSR_WARNING;
use cpufleet_export::kubevirt::HostCpuFacts;
use cpufleet_export::ExportFormat;
use cpufleet_io::Input;
use cpufleet_sim::KvmView;

/// Every CPU of the inputs, each an item; kubevirt-labels reads domcapabilities exactly.
pub(super) fn input_items<'a>(a: &ExportArgs, map: &CpuMap, docs: &'a [Loaded]) -> CliResult<Vec<Item<'a>>> {
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

/// The warning about inputs read as cpuinfo text, if any.
pub(super) fn cpuinfo_warnings(docs: &[Loaded]) -> Vec<String> {
    let cpuinfo: Vec<String> =
        docs.iter().filter(|l| is_cpuinfo(l)).map(|l| l.input.path().display().to_string()).collect();
    match cpuinfo.is_empty() {
        true => Vec::new(),
        false => vec![format!("{} read as cpuinfo text: {MSR_WARNING}", cpuinfo.join(", "))],
    }
}

/// The raw view's baseline of every CPU of the inputs, as `cpufleet baseline` computes it, with
/// the warning naming what of it is host-only.
pub(super) fn raw_baseline_item<'a>(
    a: &ExportArgs,
    map: &CpuMap,
    kvm: &KvmView,
    docs: &'a [Loaded],
) -> CliResult<Answer<'a>> {
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
pub(super) fn hv_baseline_item<'a>(
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
