//! cpufleet-export: cpufleet's CPU answers in the formats operators run. Pure functions from
//! engine values ([`CpuDef`], [`CpuMap`]) to strings and JSON values; no I/O.
//!
//! - [`qemu`]: the `-cpu` argument libvirt's QEMU driver builds for a guest CPU;
//! - [`kubevirt`]: KubeVirt node-labeller labels per host, and the `cpuModel` / `domain.cpu` stanza;
//! - [`nova`]: the `nova.conf` `[libvirt]` CPU settings and the `HW_CPU_X86_*` traits;
//! - [`proxmox`]: a `cpu-models.conf` entry;
//! - [`cpuinfo`]: `/proc/cpuinfo` and `lscpu` text as a host CPU;
//! - [`names`]: the name tables (`data/names/`) between libvirt's feature names and QEMU's, Linux's
//!   and os-traits'.
//!
//! [`export_cpu`] is the entry point for one guest CPU (a plan domain's or pool's baseline).
#![forbid(unsafe_code)]

pub mod cpuinfo;
pub mod error;
pub mod kubevirt;
pub mod names;
pub mod nova;
pub mod proxmox;
pub mod qemu;

use cpufleet_engine::{CpuDef, CpuMap};
pub use error::ExportError;
pub use names::{NameTable, NameTables, Vocabulary};
use std::fmt;

/// An export target (`cpufleet export FORMAT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExportFormat {
    QemuCpu,
    KubevirtLabels,
    Nova,
    Proxmox,
}

impl ExportFormat {
    pub const ALL: &'static [ExportFormat] =
        &[ExportFormat::QemuCpu, ExportFormat::KubevirtLabels, ExportFormat::Nova, ExportFormat::Proxmox];
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::QemuCpu => "qemu-cpu",
            ExportFormat::KubevirtLabels => "kubevirt-labels",
            ExportFormat::Nova => "nova",
            ExportFormat::Proxmox => "proxmox",
        }
    }
    pub fn parse(s: &str) -> Option<ExportFormat> {
        ExportFormat::ALL.iter().copied().find(|f| f.as_str() == s)
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One export of one CPU: the text an operator pastes, the same as JSON, and warnings (features
/// the target cannot express).
#[derive(Clone, Debug, PartialEq)]
pub struct Export {
    pub text: String,
    pub json: serde_json::Value,
    pub warnings: Vec<String>,
}

/// The export of a guest CPU (a baseline, or a plan domain's CPU) named `name`, in `format`:
/// the `-cpu` argument, the KubeVirt per-VM `domain.cpu` stanza, the Nova `[libvirt]` section, or
/// the Proxmox `cpu-models.conf` entry. `name` names the Proxmox model (and is ignored elsewhere).
pub fn export_cpu(
    format: ExportFormat,
    map: &CpuMap,
    tables: &NameTables,
    cpu: &CpuDef,
    name: &str,
) -> Result<Export, ExportError> {
    match format {
        ExportFormat::QemuCpu => {
            let q = qemu::qemu_cpu_arg(cpu, &tables.qemu)?;
            let json = serde_json::json!({ "arg": q.arg });
            Ok(Export { text: format!("{}\n", q.arg), json, warnings: q.warnings })
        }
        ExportFormat::KubevirtLabels => {
            let s = kubevirt::CpuStanza::of_cpu(cpu)?;
            Ok(Export { text: s.yaml(), json: s.json(), warnings: s.warnings.clone() })
        }
        ExportFormat::Nova => {
            let s = nova::LibvirtSection::of_cpu(cpu)?;
            Ok(Export { text: s.ini(), json: s.json(), warnings: s.warnings.clone() })
        }
        ExportFormat::Proxmox => {
            let e = proxmox::CpuModelEntry::of_cpu(map, &tables.qemu, cpu, name)?;
            Ok(Export { text: e.conf(), json: e.json(), warnings: e.warnings.clone() })
        }
    }
}

/// The features `cpu` enables once expanded to its full list (`virsh cpu-baseline --features`):
/// its model's features and the listed ones with policy force or require (host CPUs' features
/// count as require), in the expanded order.
pub fn enabled_features(map: &CpuMap, cpu: &CpuDef) -> Result<Vec<String>, ExportError> {
    use cpufleet_engine::ops::{self, Arch};
    use cpufleet_engine::Policy;
    let mut full = cpu.clone();
    if full.mode != cpufleet_engine::CpuMode::Custom {
        full.mode = cpufleet_engine::CpuMode::Custom;
    }
    let arch = Arch::of_cpu(map, &full)?;
    ops::expand_features(map, arch, &mut full)?;
    Ok(full
        .features
        .into_iter()
        .filter(|f| matches!(f.effective_policy(), Policy::Force | Policy::Require))
        .map(|f| f.name)
        .collect())
}
