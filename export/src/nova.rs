//! OpenStack Nova's libvirt driver: the `nova.conf` `[libvirt]` CPU settings that reproduce a
//! guest CPU (`cpu_mode`, `cpu_models`, `cpu_model_extra_flags`: Nova's `nova/conf/libvirt.py`;
//! extra flags are libvirt feature names, `-name` disables one), and the `HW_CPU_X86_*` traits
//! Nova reports for a host (`_get_cpu_feature_traits` in `nova/virt/libvirt/driver.py` maps the
//! host CPU's expanded libvirt features through `CPU_TRAITS_MAPPING`, `nova/virt/libvirt/utils.py`;
//! our copy is `data/names/os-traits.tsv`).

use crate::error::ExportError;
use crate::names::NameTable;
use cpufleet_engine::{CpuDef, CpuMap, CpuMode, Policy};
use std::collections::BTreeSet;

/// The `[libvirt]` CPU settings of one guest CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibvirtSection {
    pub cpu_mode: CpuMode,
    pub cpu_models: Vec<String>,
    pub cpu_model_extra_flags: Vec<String>,
    pub warnings: Vec<String>,
}

impl LibvirtSection {
    pub fn of_cpu(cpu: &CpuDef) -> Result<LibvirtSection, ExportError> {
        if cpu.mode == CpuMode::Maximum {
            // Nova's cpu_mode choices: host-model, host-passthrough, custom, none.
            return Err(ExportError::Unsupported { format: "nova", what: "Nova has no cpu_mode = maximum".into() });
        }
        let mut s = LibvirtSection {
            cpu_mode: cpu.mode,
            cpu_models: Vec::new(),
            cpu_model_extra_flags: Vec::new(),
            warnings: Vec::new(),
        };
        if cpu.mode == CpuMode::Custom {
            s.cpu_models.push(cpu.model.clone().ok_or(ExportError::NoModel)?);
        }
        for f in &cpu.features {
            match f.effective_policy() {
                Policy::Force | Policy::Require => s.cpu_model_extra_flags.push(f.name.clone()),
                Policy::Disable | Policy::Forbid => s.cpu_model_extra_flags.push(format!("-{}", f.name)),
                Policy::Optional => s
                    .warnings
                    .push(format!("feature '{}' is optional: Nova has no optional flags, it is left out", f.name)),
            }
        }
        Ok(s)
    }

    /// The section as it goes into `nova.conf`.
    pub fn ini(&self) -> String {
        let mut o = format!("[libvirt]\ncpu_mode = {}\n", self.cpu_mode);
        if !self.cpu_models.is_empty() {
            o.push_str(&format!("cpu_models = {}\n", self.cpu_models.join(", ")));
        }
        if !self.cpu_model_extra_flags.is_empty() {
            o.push_str(&format!("cpu_model_extra_flags = {}\n", self.cpu_model_extra_flags.join(", ")));
        }
        o
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "cpu_mode": self.cpu_mode.as_str(),
            "cpu_models": self.cpu_models,
            "cpu_model_extra_flags": self.cpu_model_extra_flags,
        })
    }
}

/// The `HW_CPU_X86_*` traits Nova reports for `host`, sorted. Nova's default `cpu_mode` on x86
/// KVM is host-model, and then `_get_cpu_feature_traits` maps the host CPU's features as
/// `Host.get_capabilities` expands them (`baselineCPU` with `VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES`).
pub fn host_traits(map: &CpuMap, host: &CpuDef, traits: &NameTable) -> Result<Vec<String>, ExportError> {
    Ok(traits_of(crate::answer::enabled_features(map, host)?.iter().map(String::as_str), traits))
}

/// The traits of a set of libvirt feature names (`cpu_features_to_traits`,
/// `nova/virt/libvirt/utils.py`: each mapped feature present sets its traits), sorted.
pub fn traits_of<'a>(features: impl Iterator<Item = &'a str>, traits: &NameTable) -> Vec<String> {
    let mut out = BTreeSet::new();
    for f in features {
        for t in traits.lookup(f).unwrap_or(&[]) {
            out.insert(format!("HW_CPU_X86_{t}"));
        }
    }
    out.into_iter().collect()
}

/// Reads a `cpu_model_extra_flags` value back as Nova does (`_get_guest_cpu_model_config` and
/// `_prepare_cpu_flag`, `nova/virt/libvirt/driver.py`): a comma-separated list, lowercased; a
/// leading `-` disables the flag, `+` or nothing enables it (policy require). Sorted by name, as
/// Nova keeps a set.
pub fn parse_extra_flags(value: &str) -> Vec<(String, Policy)> {
    let mut flags = BTreeSet::new();
    for flag in value.split(',').map(|f| f.trim().to_lowercase()).filter(|f| !f.is_empty()) {
        if let Some(name) = flag.strip_prefix('-') {
            flags.insert((name.trim_start_matches('-').to_string(), Policy::Disable));
        } else {
            flags.insert((flag.trim_start_matches('+').to_string(), Policy::Require));
        }
    }
    flags.into_iter().collect()
}
