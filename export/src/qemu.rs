//! The `-cpu` argument libvirt's QEMU driver builds for a guest CPU (`qemuBuildCpuModelArgStr`,
//! libvirt `src/qemu/qemu_command.c`): `host` / `max` for host-passthrough / maximum (with
//! `migratable=on|off`; host-passthrough's is on by default), else the model; `vendor=` for a
//! `vendor_id`; then each feature in the definition's order as `NAME=on` (force, require) or
//! `NAME=off` (disable, forbid) with QEMU's name (`data/names/qemu.tsv`); then the properties
//! `qemuBuildCpuCommandLine` appends (the engine's
//! [`cpufleet_engine::hypervisor::cpu_properties`]: a domain's timers, Hyper-V and KVM settings,
//! `pmu`, and the CPU's `<cache>` and `<maxphysaddr>`). `optional` features are resolved when the
//! guest starts (`update`), so libvirt never writes them; a CPU given as written keeps them out
//! and says so.

use crate::error::ExportError;
use crate::names::NameTable;
use cpufleet_engine::hypervisor::CpuProperty;
use cpufleet_engine::{CpuDef, CpuMode, Policy};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuCpu {
    /// What follows `-cpu`.
    pub arg: String,
    pub warnings: Vec<String>,
}

/// The `-cpu` argument of `cpu` (a guest CPU, best after `update` on its host) followed by
/// `properties` (what the engine's `cpu_properties` gives for it and its domain).
pub fn qemu_cpu_arg(cpu: &CpuDef, properties: &[CpuProperty], qemu: &NameTable) -> Result<QemuCpu, ExportError> {
    let mut warnings = Vec::new();
    let mut arg = match cpu.mode {
        // libvirt's post-parse sets host-passthrough's migratable='on' when absent; maximum's
        // stays unset, and then `-cpu max` says nothing about it.
        CpuMode::HostPassthrough => {
            format!("host,migratable={}", if cpu.migratable == Some(false) { "off" } else { "on" })
        }
        CpuMode::Maximum => match cpu.migratable {
            None => "max".to_string(),
            Some(m) => format!("max,migratable={}", if m { "on" } else { "off" }),
        },
        CpuMode::HostModel => return Err(ExportError::HostModelNeedsHost),
        CpuMode::Custom => cpu.model.clone().ok_or(ExportError::NoModel)?,
    };
    if let Some(v) = &cpu.vendor_id {
        arg.push_str(&format!(",vendor={v}"));
    }
    for f in &cpu.features {
        let value = match f.effective_policy() {
            Policy::Force | Policy::Require => "on",
            Policy::Disable | Policy::Forbid => "off",
            Policy::Optional => {
                warnings.push(format!(
                    "feature '{}' is optional: libvirt decides it when the guest starts (give --host)",
                    f.name
                ));
                continue;
            }
        };
        match qemu.foreign(&f.name) {
            Some(name) => {
                arg.push(',');
                arg.push_str(name);
                arg.push('=');
                arg.push_str(value);
            }
            None => warnings.push(format!("feature '{}' has no QEMU name: libvirt does not pass it", f.name)),
        }
    }
    for p in properties {
        arg.push(',');
        arg.push_str(&p.to_string());
    }
    Ok(QemuCpu { arg, warnings })
}

/// One `NAME=on|off` of a `-cpu` argument, back in libvirt's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuFeature {
    pub name: String,
    pub on: bool,
}

/// Reads a `-cpu` argument back: the model (`host`/`max` included) and the features with
/// libvirt's names. Properties that are not features (`migratable=…`, `vendor=…`, the
/// physical-address ones) are passed over; a
/// feature QEMU's table does not know is an error.
pub fn parse_qemu_cpu_arg(arg: &str, qemu: &NameTable) -> Result<(String, Vec<QemuFeature>), String> {
    let mut parts = arg.split(',');
    let model = parts.next().filter(|m| !m.is_empty()).ok_or("empty -cpu argument")?.to_string();
    let mut features = Vec::new();
    for p in parts {
        let (name, value) = p.split_once('=').ok_or_else(|| format!("'{p}' is not NAME=on|off"))?;
        if matches!(name, "migratable" | "vendor" | "host-phys-bits" | "host-phys-bits-limit" | "phys-bits") {
            continue;
        }
        let on = match value {
            "on" => true,
            "off" => false,
            _ => return Err(format!("'{p}': expected on or off")),
        };
        let libvirt = qemu.libvirt(name).ok_or_else(|| format!("'{name}' is not a QEMU feature name of the table"))?;
        features.push(QemuFeature { name: libvirt.to_string(), on });
    }
    Ok((model, features))
}
