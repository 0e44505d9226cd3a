//! A Proxmox VE 8 custom CPU model (`/etc/pve/virtual-guest/cpu-models.conf`), following
//! `PVE/QemuServer/CPUConfig.pm` (qemu-server): a section `cpu-model: NAME` (a `pve-configid`:
//! a letter, then letters, digits, `-` or `_`), `flags` as `+FLAG;-FLAG` with QEMU's flag names
//! (Proxmox appends them to `-cpu reported-model`), and `reported-model`, which must be one of
//! Proxmox's built-in models (`$cpu_vendor_list`).
//!
//! The reported model is the CPU's own model when Proxmox knows it, else the richest
//! Proxmox-known model of the map whose features the CPU all has; the flags are then the CPU's
//! expanded features minus the reported model's (`+`) and the model's features the CPU lacks (`-`).

use crate::error::ExportError;
use crate::names::NameTable;
use cpufleet_engine::{CpuDef, CpuMap, FeatureSet};

/// `reported-model` values of Proxmox VE 8 (`$cpu_vendor_list` of `PVE/QemuServer/CPUConfig.pm`,
/// without `host` and `max`, which a custom model cannot report).
pub const PROXMOX_MODELS: &[&str] = &[
    "486",
    "pentium",
    "pentium2",
    "pentium3",
    "coreduo",
    "core2duo",
    "Conroe",
    "Penryn",
    "Nehalem",
    "Nehalem-IBRS",
    "Westmere",
    "Westmere-IBRS",
    "SandyBridge",
    "SandyBridge-IBRS",
    "IvyBridge",
    "IvyBridge-IBRS",
    "Haswell",
    "Haswell-IBRS",
    "Haswell-noTSX",
    "Haswell-noTSX-IBRS",
    "Broadwell",
    "Broadwell-IBRS",
    "Broadwell-noTSX",
    "Broadwell-noTSX-IBRS",
    "Skylake-Client",
    "Skylake-Client-IBRS",
    "Skylake-Client-noTSX-IBRS",
    "Skylake-Client-v4",
    "Skylake-Server",
    "Skylake-Server-IBRS",
    "Skylake-Server-noTSX-IBRS",
    "Skylake-Server-v4",
    "Skylake-Server-v5",
    "Cascadelake-Server",
    "Cascadelake-Server-v2",
    "Cascadelake-Server-noTSX",
    "Cascadelake-Server-v4",
    "Cascadelake-Server-v5",
    "Cooperlake",
    "Cooperlake-v2",
    "KnightsMill",
    "Icelake-Server",
    "Icelake-Server-noTSX",
    "Icelake-Server-v3",
    "Icelake-Server-v4",
    "Icelake-Server-v5",
    "Icelake-Server-v6",
    "SapphireRapids",
    "SapphireRapids-v2",
    "GraniteRapids",
    "athlon",
    "phenom",
    "Opteron_G1",
    "Opteron_G2",
    "Opteron_G3",
    "Opteron_G4",
    "Opteron_G5",
    "EPYC",
    "EPYC-IBPB",
    "EPYC-v3",
    "EPYC-v4",
    "EPYC-Rome",
    "EPYC-Rome-v2",
    "EPYC-Rome-v3",
    "EPYC-Rome-v4",
    "EPYC-Milan",
    "EPYC-Milan-v2",
    "EPYC-Genoa",
    "kvm32",
    "kvm64",
    "qemu32",
    "qemu64",
];

/// One `cpu-models.conf` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuModelEntry {
    pub name: String,
    pub reported_model: String,
    /// `+flag` / `-flag`, QEMU names.
    pub flags: Vec<String>,
    pub warnings: Vec<String>,
}

/// `pve-configid` (`PVE::JSONSchema::pve_verify_configid`): `^[a-z][a-z0-9_-]+$`, any case.
pub fn check_name(name: &str) -> Result<(), ExportError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = name.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(ExportError::InvalidName {
            name: name.to_string(),
            rule: "a Proxmox CPU model name is a letter followed by letters, digits, '-' or '_'",
        })
    }
}

impl CpuModelEntry {
    pub fn of_cpu(map: &CpuMap, qemu: &NameTable, cpu: &CpuDef, name: &str) -> Result<CpuModelEntry, ExportError> {
        check_name(name)?;
        let x = &map.x86;
        let mut have = FeatureSet::new();
        for f in crate::enabled_features(map, cpu)? {
            if let Some(id) = x.feature_id(&f) {
                have.insert(id);
            }
        }
        let own = cpu.model.as_deref().filter(|m| PROXMOX_MODELS.contains(m) && x.model(m).is_some());
        let reported = match own {
            Some(m) => m.to_string(),
            None => PROXMOX_MODELS
                .iter()
                .filter_map(|m| x.model(m).map(|model| (*m, model)))
                .filter(|(_, model)| model.features.is_subset(&have))
                .max_by_key(|(_, model)| model.features.count())
                .map_or("qemu64", |(m, _)| m)
                .to_string(),
        };
        let base = x.model(&reported).map(|m| m.features).unwrap_or_default();
        let mut entry =
            CpuModelEntry { name: name.to_string(), reported_model: reported, flags: Vec::new(), warnings: Vec::new() };
        for (set, sign) in [(have.difference(&base), '+'), (base.difference(&have), '-')] {
            for id in set.iter() {
                let f = x.feature_name(id);
                match qemu.foreign(f) {
                    Some(q) => entry.flags.push(format!("{sign}{q}")),
                    None => entry.warnings.push(format!("feature '{f}' has no QEMU name: left out of flags")),
                }
            }
        }
        Ok(entry)
    }

    /// The section as `cpu-models.conf` holds it.
    pub fn conf(&self) -> String {
        let mut o = format!("cpu-model: {}\n", self.name);
        if !self.flags.is_empty() {
            o.push_str(&format!("    flags {}\n", self.flags.join(";")));
        }
        o.push_str(&format!("    reported-model {}\n\n", self.reported_model));
        o
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({ "cpu-model": self.name, "flags": self.flags, "reported-model": self.reported_model })
    }
}
