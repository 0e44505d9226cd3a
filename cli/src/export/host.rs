//! The guest view: the hypervisor a guest CPU starts on (`--domcaps`, `--host`, the KVM view of
//! a raw host CPU), the QEMU driver's start of an item there, the raw view's host-only warning,
//! and libvirt's update on a raw `--host`.

use super::args::ExportArgs;
use super::item::Item;
use super::read::read_inputs;
use crate::args::{limits, Outcome};
use crate::error::{CliError, CliResult};
use crate::hypervisor::{load_hypervisor, HypervisorArgs};
use crate::inputs::{self, first_cpu, op_error, CpuRef, Loaded};
use cpufleet_engine::hypervisor::{ErrorCode, Hypervisor, LibvirtError, StartKind};
use cpufleet_engine::ops::{self, Arch};
use cpufleet_engine::x86;
use cpufleet_engine::xml::{DocKind, Limits, TypeHint};
use cpufleet_engine::{CpuDef, CpuError, CpuMap};
use cpufleet_sim::KvmView;
use std::path::Path;

/// The one line an export without a host or hypervisor says about what it assumed.
pub(super) const NO_HOST: &str = "no --host, --domcaps or --inventory: the CPU is exported as written, not as libvirt's QEMU driver would start it on a host (optional features, removed features' =off, match='minimum', model translation and QEMU's feature filter need the host)";

/// The hypervisor the command line names for guest formats: `--domcaps` (with `--qemu-caps`,
/// and `--caps` or `--host` as the full host CPU), or `--host`'s own (its domcapabilities, or the
/// KVM view of its CPU).
pub(super) fn given_hypervisor(a: &ExportArgs, map: &CpuMap, kvm: &KvmView) -> CliResult<Option<Hypervisor>> {
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
pub(super) fn doc_hypervisor(
    map: &CpuMap,
    kvm: &KvmView,
    l: &Loaded,
    path: &Path,
    lim: Limits,
) -> CliResult<Hypervisor> {
    if l.doc.kinds.contains(&DocKind::DomainCapabilities) {
        return Hypervisor::from_domcaps(map, &l.bytes, lim).map_err(|e| CliError::file(path, e));
    }
    kvm_hypervisor(map, kvm, first_cpu(l)?.cpu(), path)
}

/// The KVM view of a raw host CPU (what QEMU/KVM offers guests on it, `data/kvm_view.toml`, as
/// the simulator derives each host's QEMU/KVM): a KVM hypervisor with that host-model and the
/// raw CPU as the full host CPU, its QEMU the one the release ships with.
pub(super) fn kvm_hypervisor(map: &CpuMap, kvm: &KvmView, host: &CpuDef, path: &Path) -> CliResult<Hypervisor> {
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
    let reported = cpufleet_sim::host_model(x, kvm, &md.features, vendor, signature).map_err(err)?;
    Hypervisor::kvm_with_host_model(x, reported, Some(host)).map_err(err)
}

/// The guest CPU as the QEMU driver starts it on `hv` (a fresh start): `optional` resolved,
/// models translated, removed features disabled, the filtered features gone. The formats that
/// describe what QEMU runs (qemu-cpu, proxmox) take the command line's CPU; those handed to
/// libvirt as a definition (nova, kubevirt-cpu) take the guest's started definition, or for a
/// computed baseline the baseline itself (`hypervisor-cpu-baseline`'s answer, which the start
/// checks: the driver must accept it).
pub(super) fn start_item(map: &CpuMap, hv: &Hypervisor, item: &mut Item) -> Result<(), LibvirtError> {
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
pub(super) fn start_refused(map: &CpuMap, item: &Item, e: &LibvirtError) -> CliResult<Outcome> {
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
pub(super) fn host_only(map: &CpuMap, raw: &CpuDef, guest: &CpuDef) -> Vec<String> {
    let (Ok(r), Ok(g)) = (cpufleet_export::enabled_features(map, raw), cpufleet_export::enabled_features(map, guest))
    else {
        return Vec::new();
    };
    r.into_iter().filter(|f| !g.contains(f)).collect()
}

/// The raw view's warning naming the host-only features (None: no guest view to compare with).
pub(super) fn raw_warning(features: Option<&[String]>) -> String {
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
pub(super) fn all_x86<'c>(map: &CpuMap, mut cpus: impl Iterator<Item = &'c CpuDef>) -> bool {
    cpus.all(|c| matches!(Arch::of_cpu(map, c), Ok(Arch::X86)))
}

/// The warning of a guest-view answer that is the raw one because the hosts are not x86.
pub(super) const NOT_X86: &str = "not x86 hosts: cpufleet has no QEMU/KVM view of them; answered as in --view raw";

/// libvirt's guest start on `host`: optional features become require or disable, host-model
/// becomes a copy of the host (`cpufleet update`).
pub(super) fn update_on(map: &CpuMap, host: CpuRef, item: &mut Item) -> CliResult<()> {
    let arch = Arch::of_cpu(map, host.cpu()).map_err(|e| CliError::file(host.path(), e))?;
    let mig = ops::copy_migratable(map, arch, host.cpu());
    let refs: Vec<CpuRef> = item.at.into_iter().chain([host]).collect();
    ops::update(map, arch, &mut item.cpu, Some(&mig)).map_err(|e| op_error(map, &refs, &e, &item.path))
}
