//! A Proxmox VE 8 custom CPU model (`/etc/pve/virtual-guest/cpu-models.conf`), following
//! `PVE/QemuServer/CPUConfig.pm` (qemu-server): a section `cpu-model: NAME` (a `pve-configid`:
//! a letter, then letters, digits, `-` or `_`), `flags` as `+FLAG;-FLAG` with QEMU's flag names
//! (Proxmox appends them to `-cpu reported-model`), and `reported-model`, which must be one of
//! Proxmox's built-in models (`$cpu_vendor_list`).
//!
//! Proxmox starts QEMU with `-cpu REPORTED,FLAGS…` (`get_cpu_options`): the flags of the custom
//! model after Proxmox's own defaults for the reported model (`get_pve_cpu_flags`: `-rdtscp` on
//! `Opteron*`, `+lahf_lm` and `+sep` on `kvm64`/`kvm32`), a custom flag overriding a default.
//!
//! The reported model is the CPU's own model when Proxmox knows it: then the flags are the CPU's
//! listed features as the QEMU driver passes them (`+` for force/require, `-` for
//! disable/forbid, in order), so `-cpu` is libvirt's own (QEMU's definition of the model plus the
//! same changes), with Proxmox's defaults countered where the CPU says otherwise. Given the CPU as
//! the QEMU driver starts it (removed features disabled, a model QEMU has), that is the `-cpu`
//! libvirt would run. Otherwise the reported model is the richest 64-bit Proxmox model of the map
//! whose features the CPU all has (never a 32-bit one such as `coreduo` or `athlon` for a CPU
//! with `lm`: Proxmox refuses those with UEFI firmware), the flags the CPU's expanded features
//! minus the model's (`+`) and the model's features the CPU lacks (`-`), computed against
//! libvirt's definition of that model, with a warning that QEMU's may differ.

use crate::error::ExportError;
use crate::names::NameTable;
use cpufleet_engine::{CpuDef, CpuMap, FeatureSet};

/// `reported-model` values of Proxmox VE 8 (`$cpu_vendor_list` of `src/PVE/QemuServer/CPUConfig.pm`,
/// qemu-server branch stable-bookworm, 8.4.10; same order), without `host` and `max` (no fixed
/// model to report) and the `Icelake-Client` models QEMU 7.1 removed.
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

/// Proxmox's own flags for a reported model (`get_pve_cpu_flags`, x86_64 KVM): (the flag as
/// Proxmox spells it, on).
pub fn proxmox_default_flags(model: &str) -> Vec<(&'static str, bool)> {
    let mut out = Vec::new();
    if model.starts_with("Opteron") {
        out.push(("rdtscp", false));
    }
    if model == "kvm64" || model == "kvm32" {
        out.push(("lahf_lm", true));
        out.push(("sep", true));
    }
    out
}

impl CpuModelEntry {
    /// The entry for `cpu` (best the CPU as the QEMU driver starts it: `cpufleet export
    /// --domcaps`/`--host`), named `name`.
    pub fn of_cpu(map: &CpuMap, qemu: &NameTable, cpu: &CpuDef, name: &str) -> Result<CpuModelEntry, ExportError> {
        use cpufleet_engine::Policy;
        check_name(name)?;
        let x = &map.x86;
        let mut have = FeatureSet::new();
        for f in crate::answer::enabled_features(map, cpu)? {
            if let Some(id) = x.feature_id(&f) {
                have.insert(id);
            }
        }
        let own = cpu.model.as_deref().filter(|m| PROXMOX_MODELS.contains(m) && x.model(m).is_some());
        let mut entry = CpuModelEntry {
            name: name.to_string(),
            reported_model: String::new(),
            flags: Vec::new(),
            warnings: Vec::new(),
        };
        let qemu_name = |f: &str, entry: &mut CpuModelEntry| -> Option<String> {
            let q = qemu.foreign(f).map(str::to_string);
            if q.is_none() {
                entry.warnings.push(format!("feature '{f}' has no QEMU name: left out of flags"));
            }
            q
        };
        let mut listed: Vec<String> = Vec::new();
        match own {
            Some(m) => {
                entry.reported_model = m.to_string();
                for f in &cpu.features {
                    let sign = match f.effective_policy() {
                        Policy::Force | Policy::Require => '+',
                        Policy::Disable | Policy::Forbid => '-',
                        Policy::Optional => {
                            entry.warnings.push(format!(
                                "feature '{}' is optional: libvirt decides it when the guest starts (give --host or --domcaps)",
                                f.name
                            ));
                            continue;
                        }
                    };
                    if let Some(q) = qemu_name(&f.name, &mut entry) {
                        entry.flags.push(format!("{sign}{q}"));
                        listed.push(q);
                    }
                }
            }
            None => {
                let lm = x.feature_id("lm").is_some_and(|id| have.contains(id));
                let reported = PROXMOX_MODELS
                    .iter()
                    .filter_map(|m| x.model(m).map(|model| (*m, model)))
                    .filter(|(_, model)| model.features.is_subset(&have))
                    .filter(|(_, model)| !lm || x.feature_id("lm").is_some_and(|id| model.features.contains(id)))
                    .max_by_key(|(_, model)| model.features.count())
                    .map_or("qemu64", |(m, _)| m)
                    .to_string();
                entry.warnings.push(format!(
                    "model {} is not a Proxmox built-in: flags are computed against libvirt's definition of {reported}, which QEMU's may differ from",
                    cpu.model.as_deref().unwrap_or("(none)")
                ));
                entry.reported_model = reported;
                let base = x.model(&entry.reported_model).map(|m| m.features).unwrap_or_default();
                for (set, sign) in [(have.difference(&base), '+'), (base.difference(&have), '-')] {
                    for id in set.iter() {
                        if let Some(q) = qemu_name(x.feature_name(id), &mut entry) {
                            entry.flags.push(format!("{sign}{q}"));
                            listed.push(q);
                        }
                    }
                }
            }
        }
        // Counter Proxmox's own defaults where the CPU says otherwise (a custom flag wins).
        // QEMU reads `_` and `-` in feature names alike (`lahf_lm` is `lahf-lm`).
        let norm = |f: &str| f.replace('_', "-");
        for (flag, on) in proxmox_default_flags(&entry.reported_model) {
            if listed.iter().any(|l| norm(l) == norm(flag)) {
                continue;
            }
            let q = norm(flag);
            let libvirt = qemu.libvirt(&q).unwrap_or(flag);
            let enabled = x.feature_id(libvirt).is_some_and(|id| have.contains(id));
            if enabled != on {
                entry.flags.push(format!("{}{flag}", if enabled { '+' } else { '-' }));
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

/// One section of a `cpu-models.conf` as Proxmox reads it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedEntry {
    pub name: String,
    pub reported_model: Option<String>,
    /// (`+` → true, `-` → false, flag name), in the file's order.
    pub flags: Vec<(bool, String)>,
}

/// Whether `flag` matches `$cpu_flag_any_re` = `([+-])([a-zA-Z0-9\-_\.]+)` (CPUConfig.pm).
fn parse_flag(flag: &str) -> Option<(bool, String)> {
    let (on, name) = match flag.split_at_checked(1)? {
        ("+", n) => (true, n),
        ("-", n) => (false, n),
        _ => return None,
    };
    let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    ok.then(|| (on, name.to_string()))
}

/// Reads a `cpu-models.conf` text with Proxmox's rules (`PVE::SectionConfig::parse_config` and
/// the `pve-qm-custom-cpu-model` schema of CPUConfig.pm): `#` comment and blank lines; a header
/// `cpu-model: NAME` (NAME a `pve-configid`); then indented `KEY VALUE` lines, of which `flags`
/// must match `FLAG(;FLAG)*` and `reported-model` must be one of [`PROXMOX_MODELS`]. Errors name
/// the line.
pub fn parse_conf(text: &str) -> Result<Vec<ParsedEntry>, String> {
    let mut out: Vec<ParsedEntry> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |what: String| format!("line {}: {what}", i + 1);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            let (kind, name) = line.split_once(':').ok_or_else(|| err("expected 'cpu-model: NAME'".into()))?;
            if kind != "cpu-model" {
                return Err(err(format!("section type '{kind}', expected cpu-model")));
            }
            let name = name.trim();
            check_name(name).map_err(|e| err(e.to_string()))?;
            out.push(ParsedEntry { name: name.to_string(), reported_model: None, flags: Vec::new() });
            continue;
        }
        let entry = out.last_mut().ok_or_else(|| err("property before any section".into()))?;
        let (key, value) =
            line.trim().split_once(char::is_whitespace).ok_or_else(|| err("expected 'KEY VALUE'".into()))?;
        let value = value.trim();
        match key {
            "flags" => {
                let flags: Option<Vec<_>> = value.split(';').map(parse_flag).collect();
                entry.flags = flags.ok_or_else(|| err(format!("flags '{value}' do not match +FLAG[;-FLAG...]")))?;
            }
            "reported-model" if PROXMOX_MODELS.contains(&value) => entry.reported_model = Some(value.to_string()),
            "reported-model" => return Err(err(format!("reported-model '{value}' is not a Proxmox VE 8 model"))),
            _ => return Err(err(format!("unexpected property '{key}'"))),
        }
    }
    Ok(out)
}
