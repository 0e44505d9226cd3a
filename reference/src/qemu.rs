//! The QEMU driver's start path and a migration destination's checks on a KVM host
//! (`../shared/specs/qemu-driver-cpu.md` §4.1-§4.5), restated on names for the simulator's
//! checkers: a guest CPU as a [`NaiveCpu`], the host as its three CPUs ([`NaiveKvm`]), and the
//! rules as the spec words them, on top of this crate's [`compare`] and [`update`].

use crate::compare::compare;
use crate::names::{all, Names};
use crate::update::update;
use crate::view::{naive_cpu, with, NaiveCpu};
use cpufleet_engine::map::X86Map;
use cpufleet_engine::{CpuDef, CpuMode, LibvirtVersion, Policy};

/// A KVM host as the QEMU driver sees it (spec §1.2).
#[derive(Clone, Debug)]
pub struct NaiveKvm {
    /// MIGRATABLE: the host-model CPU (a guest CPU) without non-migratable features; the
    /// update copies it and resolves `optional` features against it.
    pub migratable: CpuDef,
    /// What QEMU/KVM can enable: the names REPORTED (the host-model CPU) provides.
    pub qemu: Names,
    /// FULL: the CPU the forbidden-feature check (by name) and `check='partial'` use.
    pub full: CpuDef,
}

impl NaiveKvm {
    /// From REPORTED (domcapabilities' host-model CPU as a guest CPU) and FULL. MIGRATABLE is
    /// REPORTED without `invtsc`, the only feature QEMU marks non-migratable (§1.3).
    pub fn new(map: &X86Map, reported: &CpuDef, full: CpuDef) -> NaiveKvm {
        let mut migratable = reported.clone();
        migratable.features.retain(|f| f.name != "invtsc");
        NaiveKvm { migratable, qemu: all(map, reported).unwrap_or_default(), full }
    }
}

/// A fresh start (`virsh start`) or an incoming live migration (the destination's side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    Fresh,
    Incoming,
}

/// `virQEMUCapsCPUFilterFeatures` (§4.3): names the QEMU driver drops from every started CPU,
/// each with the first release that drops it (12.9.0's `ht` and `cmp_legacy` were found by the
/// differential against its driver).
const FILTERED: &[(&str, LibvirtVersion)] = &[
    ("cmt", LibvirtVersion::V9_0_0),
    ("mbm_total", LibvirtVersion::V9_0_0),
    ("mbm_local", LibvirtVersion::V9_0_0),
    ("osxsave", LibvirtVersion::V9_0_0),
    ("ospke", LibvirtVersion::V9_0_0),
    ("vmx-ept-uc", LibvirtVersion::V11_3_0),
    ("vmx-ept-wb", LibvirtVersion::V11_3_0),
    ("vmx-invvpid-single-context", LibvirtVersion::V11_3_0),
    ("ht", LibvirtVersion::V12_9_0),
    ("cmp_legacy", LibvirtVersion::V12_9_0),
];

/// The names of [`FILTERED`] that `map`'s release drops.
fn filtered(map: &X86Map) -> impl Iterator<Item = &'static str> + '_ {
    FILTERED.iter().filter(move |&&(_, since)| since <= map.version()).map(|&(n, _)| n)
}

/// §1.3: the map features QEMU 7.2 has no property for; 9.0.0 drops disabled ones (§4.3).
const NOT_IN_QEMU: &[&str] = &["osxsave", "cmt", "ospke", "pconfig", "mbm_total", "mbm_local", "cvt16"];

/// What the QEMU driver makes of guest CPU `g` on `host`, then QEMU's vCPU checked by libvirt
/// (§4.4): the CPU it runs with, or why it refuses. A fresh custom or host-model CPU has
/// `check='partial'`; a migrated one arrives with `check='full'` (its source's live CPU).
pub fn start(map: &X86Map, g: &NaiveCpu, host: &NaiveKvm, arrival: Arrival) -> Result<NaiveCpu, String> {
    if matches!(g.mode, CpuMode::HostPassthrough | CpuMode::Maximum) {
        return Ok(g.clone());
    }
    if arrival == Arrival::Incoming && g.vendor.is_some() && g.vendor != host.migratable.vendor {
        return Err("the guest CPU's vendor is not the host's".into());
    }
    for n in with(g, Policy::Forbid) {
        if host.full.features.iter().any(|f| f.name == n && f.effective_policy() != Policy::Disable) {
            return Err(format!("Host CPU provides forbidden feature '{n}'"));
        }
    }
    if arrival == Arrival::Fresh {
        partial_check(map, g, host)?;
    }
    let mut g = g.clone();
    if arrival == Arrival::Incoming && map.version().at_least_11_3() {
        // 11.3.0's update of an incoming CPU adds the model's removed features as `require`
        // (§4.5 step 4); 9.0.0's, like a fresh start's, as `disable` (what `update` does).
        let removed = g.model.as_deref().and_then(|m| map.model(m)).map(|m| m.removed.clone()).unwrap_or_default();
        for id in removed {
            g.features.entry(map.feature_name(id).to_string()).or_insert(Policy::Require);
        }
    }
    let mut cpu = naive_cpu(&update(map, &g.to_def(), &host.migratable)?);
    for n in filtered(map) {
        cpu.features.remove(n);
    }
    if !map.version().at_least_11_3() {
        cpu.features
            .retain(|n, p| !(matches!(p, Policy::Disable | Policy::Forbid) && NOT_IN_QEMU.contains(&n.as_str())));
    }
    if cpu.mode == CpuMode::Custom {
        live(map, &mut cpu, host, arrival)?;
    }
    Ok(cpu)
}

/// Whether `check='partial'` compares `g` with FULL (so that `match='strict'` and the vendor
/// count): always under 9.0.0; under 11.3.0 unless its model's map entry has no compat check
/// (the `-vN` models, Denverton, KnightsMill), which is checked by QEMU's blockers instead.
pub fn partial_compares_with_full(map: &X86Map, g: &NaiveCpu) -> bool {
    let no_compat = g.model.as_deref().and_then(|m| map.model(m)).is_some_and(|m| !m.compat_check);
    !(map.version().at_least_11_3() && no_compat)
}

/// `check='partial'` before the update (§4.3): 9.0.0 compares with FULL; 11.3.0 does too, but
/// for a model whose map entry has no compat check, where only the explicitly required
/// features must be in REPORTED (QEMU's blockers unknown: none).
fn partial_check(map: &X86Map, g: &NaiveCpu, host: &NaiveKvm) -> Result<(), String> {
    if !partial_compares_with_full(map, g) {
        let missing: Vec<String> = with(g, Policy::Require).difference(&host.qemu).cloned().collect();
        return match missing.is_empty() {
            true => Ok(()),
            false => Err(format!("Host CPU does not provide required features: {}", missing.join(", "))),
        };
    }
    match compare(map, &host.full, &g.to_def()).is_compatible() {
        true => Ok(()),
        false => Err("the host's FULL CPU cannot run it".into()),
    }
}

/// `virCPUUpdateLive` (§4.4) with QEMU enabling what the CPU provides and KVM can give: the rest
/// is an error with `check='full'` (an incoming CPU; 11.3.0 passes over the model's `added`
/// features the CPU does not name), else set to `disable`.
fn live(map: &X86Map, cpu: &mut NaiveCpu, host: &NaiveKvm, arrival: Arrival) -> Result<(), String> {
    let provided = all(map, &cpu.to_def())?;
    let added: Names = match cpu.model.as_deref().and_then(|m| map.model(m)) {
        Some(m) if map.version().at_least_11_3() => {
            m.added.iter().map(|&id| map.feature_name(id).to_string()).collect()
        }
        _ => Names::new(),
    };
    let mut missing = Vec::new();
    for n in provided.difference(&host.qemu) {
        let passed_over = added.contains(n) && !cpu.features.contains_key(n);
        if arrival == Arrival::Incoming && !passed_over {
            missing.push(n.clone());
        } else {
            cpu.features.insert(n.clone(), Policy::Disable);
        }
    }
    match missing.is_empty() {
        true => Ok(()),
        false => Err(format!("guest CPU doesn't match specification: missing features: {}", missing.join(","))),
    }
}
