//! Architecture dispatch (`cpu.c`): the generic entry points the command line and the
//! conformance harness call.

pub use crate::arch::Arch;
use crate::cpu::CpuDef;
use crate::error::CpuError;
use crate::map::CpuMap;
use crate::ppc64;
use crate::x86::{self, Comparison, Reason, Verdict};
use crate::xml::ModelListEntry;

impl Arch {
    /// The CPU's `<arch>`, or, when it has none (guest CPUs), the map its model belongs to:
    /// a ppc64 model or legacy POWER name means ppc64, anything else x86.
    pub fn of_cpu(map: &CpuMap, cpu: &CpuDef) -> Result<Arch, CpuError> {
        if let Some(a) = &cpu.arch {
            return Arch::from_name(a);
        }
        let mut probe = cpu.clone();
        ppc64::convert_legacy(&mut probe);
        match probe.model.as_deref() {
            Some(m)
                if map.ppc64.model(m).is_some()
                    || (m.starts_with("power") && cpu.mode == crate::CpuMode::HostModel) =>
            {
                Ok(Arch::Ppc64)
            }
            _ => Ok(Arch::X86),
        }
    }
}

/// `virCPUCompare(host->arch, host, cpu, false)`.
pub fn compare(map: &CpuMap, host: &CpuDef, cpu: &CpuDef) -> Comparison {
    match Arch::of_cpu(map, host) {
        Ok(Arch::X86) => x86::compare(&map.x86, host, cpu),
        Ok(Arch::Ppc64) => ppc64::compare(&map.ppc64, host, cpu),
        Err(e) => Comparison { verdict: Verdict::Error, reason: Reason::Error(e.to_string()) },
    }
}

/// `virCPUBaseline(arch, cpus, NULL, NULL, migratable)`; `arch` None = the first CPU's.
pub fn baseline(map: &CpuMap, cpus: &[CpuDef], arch: Option<Arch>, migratable: bool) -> Result<CpuDef, CpuError> {
    let first = cpus.first().ok_or(CpuError::NoCpus)?;
    if let Some(i) = cpus.iter().position(|c| c.model.is_none()) {
        return Err(CpuError::NoModelAt(i));
    }
    let arch = match arch {
        Some(a) => a,
        None => Arch::of_cpu(map, first)?,
    };
    match arch {
        Arch::X86 => x86::baseline(&map.x86, cpus, migratable),
        Arch::Ppc64 => ppc64::baseline(&map.ppc64, cpus),
    }
}

/// `virCPUUpdate(arch, guest, host)`: the guest CPU as it starts on `host`.
pub fn update(map: &CpuMap, arch: Arch, guest: &mut CpuDef, host: Option<&CpuDef>) -> Result<(), CpuError> {
    match arch {
        Arch::X86 => x86::update(&map.x86, guest, host),
        Arch::Ppc64 => {
            if matches!(guest.mode, crate::CpuMode::HostPassthrough | crate::CpuMode::Maximum) {
                return Ok(());
            }
            ppc64::update(guest);
            Ok(())
        }
    }
}

/// `virCPUTranslate(arch, cpu, models)`.
pub fn translate(
    map: &CpuMap,
    arch: Arch,
    cpu: &mut CpuDef,
    models: Option<&[ModelListEntry]>,
) -> Result<(), CpuError> {
    match arch {
        Arch::X86 => x86::translate(&map.x86, cpu, models),
        Arch::Ppc64 => {
            if matches!(cpu.mode, crate::CpuMode::HostModel | crate::CpuMode::HostPassthrough | crate::CpuMode::Maximum)
            {
                return Ok(());
            }
            let Some(list) = models else { return Ok(()) };
            if cpu.model.as_ref().is_some_and(|m| list.iter().any(|e| e.name == *m)) {
                return Ok(());
            }
            let name = cpu.model.as_deref().unwrap_or("(none)");
            if cpu.fallback != crate::Fallback::Allow {
                return Err(CpuError::Unsupported(format!("CPU model {name} is not supported by hypervisor")));
            }
            Err(CpuError::Unsupported(format!("cannot translate CPU model {name} to a supported model")))
        }
    }
}

/// `virCPUExpandFeatures(arch, cpu)`: x86 expands; every arch sorts by name.
pub fn expand_features(map: &CpuMap, arch: Arch, cpu: &mut CpuDef) -> Result<(), CpuError> {
    match arch {
        Arch::X86 => x86::expand_features(&map.x86, cpu),
        Arch::Ppc64 => {
            cpu.features.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
            Ok(())
        }
    }
}

/// `virCPUCopyMigratable(arch, cpu)`.
pub fn copy_migratable(map: &CpuMap, arch: Arch, cpu: &CpuDef) -> CpuDef {
    match arch {
        Arch::X86 => x86::copy_migratable(&map.x86, cpu),
        Arch::Ppc64 => cpu.clone(),
    }
}

/// `virCPUConvertLegacy(arch, cpu)`.
pub fn convert_legacy(arch: Arch, cpu: &mut CpuDef) {
    if arch == Arch::Ppc64 {
        ppc64::convert_legacy(cpu);
    }
}
