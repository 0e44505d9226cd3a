//! The QEMU driver's feature-name rules: QEMU's spellings of libvirt's feature names
//! (`virQEMUCapsCPUFeatureFromQEMU`/`ToQEMU`), the features it never passes on
//! (`virQEMUCapsCPUFilterFeatures`), each row with the first release it holds in, and the plain
//! `cpu-baseline` through the QEMU driver that applies the filter.

use crate::cpu::CpuDef;
use crate::error::CpuError;
use crate::map::CpuMap;
use crate::ops::{self, Arch};
use crate::version::LibvirtVersion;

/// `virQEMUCapsCPUFeaturesX86`: QEMU spelling, libvirt spelling, first release with the pair.
const QEMU_NAMES: &[(&str, &str, LibvirtVersion)] = &[
    ("cmp-legacy", "cmp_legacy", LibvirtVersion::V9_0_0),
    ("ds-cpl", "ds_cpl", LibvirtVersion::V9_0_0),
    ("fxsr-opt", "fxsr_opt", LibvirtVersion::V9_0_0),
    ("kvm-pv-eoi", "kvm_pv_eoi", LibvirtVersion::V9_0_0),
    ("kvm-pv-unhalt", "kvm_pv_unhalt", LibvirtVersion::V9_0_0),
    ("lahf-lm", "lahf_lm", LibvirtVersion::V9_0_0),
    ("nodeid-msr", "nodeid_msr", LibvirtVersion::V9_0_0),
    ("pclmulqdq", "pclmuldq", LibvirtVersion::V9_0_0),
    ("perfctr-core", "perfctr_core", LibvirtVersion::V9_0_0),
    ("perfctr-nb", "perfctr_nb", LibvirtVersion::V9_0_0),
    ("tsc-adjust", "tsc_adjust", LibvirtVersion::V9_0_0),
    ("vmx-invept-single-context-noglobals", "vmx-invvpid-single-context-noglobals", LibvirtVersion::V11_3_0),
    ("hv-vendor-id", "hv-vendor_id", LibvirtVersion::V11_3_0),
    ("hv-emsr-bitmap", "hv-emsr_bitmap", LibvirtVersion::V11_3_0),
    ("hv-xmm-input", "hv-xmm_input", LibvirtVersion::V11_3_0),
];

/// `virQEMUCapsCPUFeatureFromQEMU`: a QEMU property name in libvirt's spelling.
pub fn from_qemu(version: LibvirtVersion, name: &str) -> &str {
    QEMU_NAMES.iter().find(|&&(q, _, since)| q == name && since <= version).map_or(name, |&(_, l, _)| l)
}

/// `virQEMUCapsCPUFeatureToQEMU`: a libvirt feature name in QEMU's spelling.
pub fn to_qemu(version: LibvirtVersion, name: &str) -> &str {
    QEMU_NAMES.iter().find(|&&(_, l, since)| l == name && since <= version).map_or(name, |&(q, _, _)| q)
}

/// `virQEMUCapsCPUFilterFeatures`: features the QEMU driver never passes on (§3.5, §4.3).
const FILTERED: &[(&str, LibvirtVersion)] = &[
    ("cmt", LibvirtVersion::V9_0_0),
    ("mbm_total", LibvirtVersion::V9_0_0),
    ("mbm_local", LibvirtVersion::V9_0_0),
    ("osxsave", LibvirtVersion::V9_0_0),
    ("ospke", LibvirtVersion::V9_0_0),
    ("vmx-ept-uc", LibvirtVersion::V11_3_0),
    ("vmx-ept-wb", LibvirtVersion::V11_3_0),
    ("vmx-invvpid-single-context", LibvirtVersion::V11_3_0),
    // libvirt 12.9.0's QEMU driver also drops the topology bits (CPUID 1 EDX HTT, 0x80000001
    // ECX CmpLegacy), which QEMU sets from the guest's topology: its plain `cpu-baseline` and the
    // start path leave them out, where 11.3.0 keeps them (found by the differentials: `ht` and
    // `cmp_legacy` in every baseline of a host that has them, `ht=on|off` on the command line).
    ("ht", LibvirtVersion::V12_9_0),
    ("cmp_legacy", LibvirtVersion::V12_9_0),
];

/// Whether the QEMU driver of `version` drops feature `name` (`virQEMUCapsCPUFilterFeatures`).
pub fn is_filtered(version: LibvirtVersion, name: &str) -> bool {
    FILTERED.iter().any(|&(n, since)| n == name && since <= version)
}

/// The QEMU driver's plain `virConnectBaselineCPU` (`virsh cpu-baseline` through
/// `qemu:///system`, §3.5): libvirt's baseline of host CPUs, then the features
/// `virQEMUCapsCPUFilterFeatures` rejects dropped, then the expansion for `--features`.
pub fn qemu_driver_baseline(map: &CpuMap, cpus: &[CpuDef], expand: bool, migratable: bool) -> Result<CpuDef, CpuError> {
    let mut out = ops::baseline(map, cpus, None, migratable)?;
    qemu_driver_baseline_finish(map, &mut out, expand)?;
    Ok(out)
}

/// The QEMU driver's steps after libvirt's own baseline `cpu` (computed without `--features`):
/// the filtered features dropped, then the expansion when `expand`. What `cpufleet baseline
/// --driver qemu` applies to the test driver's answer.
pub fn qemu_driver_baseline_finish(map: &CpuMap, cpu: &mut CpuDef, expand: bool) -> Result<(), CpuError> {
    qemu_filter_features(map.version(), cpu);
    if expand {
        let arch = Arch::of_cpu(map, cpu)?;
        ops::expand_features(map, arch, cpu)?;
    }
    Ok(())
}

/// Drops the features the QEMU driver of `version` filters (`virQEMUCapsCPUFilterFeatures`).
pub fn qemu_filter_features(version: LibvirtVersion, cpu: &mut CpuDef) {
    cpu.features.retain(|f| !is_filtered(version, &f.name));
}
