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
//! [`export`] is the entry point for one CPU in one [`ExportFormat`].
#![forbid(unsafe_code)]

mod answer;
pub mod cpuinfo;
pub mod error;
pub mod kubevirt;
pub mod names;
pub mod nova;
pub mod proxmox;
pub mod qemu;
mod vocabulary;

pub use answer::{enabled_features, Export};
use cpufleet_engine::{CpuDef, CpuMap, CpuType};
pub use error::ExportError;
pub use names::{NameTable, NameTables};
pub use vocabulary::Vocabulary;

cpufleet_engine::closed_set! {
    /// An export target (`cpufleet export FORMAT`). Formats are split by what they describe: the
    /// per-host ones ([`Takes::HostCpu`]) say what a consuming project reads off one host; the
    /// others ([`Takes::GuestCpu`]) pin one guest CPU (a baseline, or a plan domain's CPU).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum ExportFormat: "export format" {
        /// The `-cpu` argument libvirt's QEMU driver passes for a guest CPU.
        QemuCpu = "qemu-cpu",
        /// Per host: the CPU labels KubeVirt's node-labeller puts on the node.
        KubevirtLabels = "kubevirt-labels",
        /// The KubeVirt `spec.configuration.cpuModel` and VM `domain.cpu` (model, features) stanza.
        KubevirtCpu = "kubevirt-cpu",
        /// The `nova.conf` `[libvirt]` CPU settings (`cpu_mode`, `cpu_models`, `cpu_model_extra_flags`).
        Nova = "nova",
        /// Per host: the `HW_CPU_X86_*` traits Nova's libvirt driver reports to placement.
        NovaTraits = "nova-traits",
        /// A Proxmox VE 8 `cpu-models.conf` entry (`cpu-model`, `flags`, `reported-model`).
        Proxmox = "proxmox",
    }
}

/// What a format exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Takes {
    HostCpu,
    GuestCpu,
}

impl ExportFormat {
    pub fn takes(self) -> Takes {
        match self {
            ExportFormat::KubevirtLabels | ExportFormat::NovaTraits => Takes::HostCpu,
            _ => Takes::GuestCpu,
        }
    }
}

/// The export of one CPU named `name` in `format`. Guest formats ([`Takes::GuestCpu`]) take a
/// guest CPU (a baseline, a plan domain's CPU): the `-cpu` argument, the KubeVirt stanza, the
/// Nova `[libvirt]` section, or the Proxmox entry (`name` names the Proxmox model). Per-host
/// formats take a host CPU (`name` names the KubeVirt node): its node labels (from the CPU alone;
/// [`kubevirt::HostCpuFacts::from_domcaps`] reads a domcapabilities document exactly) or its
/// Nova traits. A CPU of the other type is [`ExportError::WrongCpuType`].
pub fn export(
    format: ExportFormat,
    cpu: &CpuDef,
    name: &str,
    map: &CpuMap,
    tables: &NameTables,
) -> Result<Export, ExportError> {
    let expected = match format.takes() {
        Takes::HostCpu => CpuType::Host,
        Takes::GuestCpu => CpuType::Guest,
    };
    if cpu.cpu_type != expected {
        return Err(ExportError::WrongCpuType { format: format.as_str(), expected });
    }
    match format {
        ExportFormat::QemuCpu => {
            let props = cpufleet_engine::hypervisor::cpu_properties(map.version(), cpu, &Default::default());
            let q = qemu::qemu_cpu_arg(cpu, &props, &tables.qemu)?;
            let json = serde_json::json!({ "arg": q.arg });
            Ok(Export { text: format!("{}\n", q.arg), json, warnings: q.warnings })
        }
        ExportFormat::KubevirtLabels => {
            let facts = kubevirt::HostCpuFacts::from_host_cpu(map, cpu)?;
            Ok(kubevirt::labels_export(name, &facts, kubevirt::DEFAULT_OBSOLETE_CPU_MODELS))
        }
        ExportFormat::KubevirtCpu => {
            let s = kubevirt::CpuStanza::of_cpu(cpu)?;
            Ok(Export { text: s.yaml(), json: s.json(), warnings: s.warnings.clone() })
        }
        ExportFormat::Nova => {
            let s = nova::LibvirtSection::of_cpu(cpu)?;
            Ok(Export { text: s.ini(), json: s.json(), warnings: s.warnings.clone() })
        }
        ExportFormat::NovaTraits => {
            let traits = nova::host_traits(map, cpu, &tables.os_traits)?;
            let text = traits.iter().map(|t| format!("{t}\n")).collect();
            Ok(Export { text, json: serde_json::json!({ "traits": traits }), warnings: Vec::new() })
        }
        ExportFormat::Proxmox => {
            let e = proxmox::CpuModelEntry::of_cpu(map, &tables.qemu, cpu, name)?;
            Ok(Export { text: e.conf(), json: e.json(), warnings: e.warnings.clone() })
        }
    }
}
