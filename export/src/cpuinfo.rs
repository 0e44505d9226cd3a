//! `/proc/cpuinfo` and `lscpu` text as a host CPU: the flags go through the Linux table
//! (`data/names/linux.tsv`) to libvirt features, `vendor_id`, `cpu family`, `model` and
//! `stepping` give the vendor and signature, and the engine decodes the result as libvirt decodes
//! CPUID data (`decode_host`).
//!
//! The kernel shows CPUID bits, not MSRs: features libvirt reads from MSRs (the
//! `IA32_ARCH_CAPABILITIES` bits such as `rdctl-no`, `mds-no`, `pschange-mc-no`, and every
//! `vmx-*` capability) never appear, so a host read this way lacks them ([`MSR_WARNING`]).

use crate::error::ExportError;
use crate::names::NameTable;
use cpufleet_engine::x86::{self, X86Data};
use cpufleet_engine::{CpuDef, CpuMap, FeatureSet, Pos};

/// The warning every cpuinfo-derived host carries.
pub const MSR_WARNING: &str = "flags from /proc/cpuinfo or lscpu cannot show MSR-based features \
(IA32_ARCH_CAPABILITIES bits such as rdctl-no, mds-no, taa-no, pschange-mc-no, and the vmx-* \
capabilities): this host CPU lacks them, so its model and baselines may be poorer than libvirt's";

/// A host CPU read from cpuinfo text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuinfoHost {
    pub cpu: CpuDef,
    /// Flags the Linux table does not map to a libvirt feature (kernel-synthesised ones, …).
    pub unmapped_flags: Vec<String>,
}

/// The first value of each key the reader needs, with its byte offset.
#[derive(Default)]
struct Fields<'a> {
    flags: Option<(&'a str, usize)>,
    vendor: Option<(&'a str, usize)>,
    family: Option<(&'a str, usize)>,
    model: Option<(&'a str, usize)>,
    stepping: Option<(&'a str, usize)>,
}

fn fields(text: &str) -> Fields<'_> {
    let mut f = Fields::default();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some((key, value)) = line.split_once(':') {
            let value_at = offset + key.len() + 1;
            let value = value.trim();
            let slot = match key.trim() {
                "flags" | "Flags" => &mut f.flags,
                "vendor_id" | "Vendor ID" => &mut f.vendor,
                "cpu family" | "CPU family" => &mut f.family,
                "model" | "Model" => &mut f.model,
                "stepping" | "Stepping" => &mut f.stepping,
                _ => {
                    offset += line.len();
                    continue;
                }
            };
            slot.get_or_insert((value, value_at));
        }
        offset += line.len();
    }
    f
}

/// Whether `text` looks like cpuinfo or lscpu output (a `flags` / `Flags` line).
pub fn looks_like_cpuinfo(text: &str) -> bool {
    fields(text).flags.is_some()
}

/// Reads cpuinfo or lscpu text as a host CPU of `map`. Errors carry line:column.
pub fn host_from_cpuinfo(map: &CpuMap, text: &str, linux: &NameTable) -> Result<CpuinfoHost, ExportError> {
    let err =
        |offset: usize, problem: String| ExportError::Cpuinfo { pos: Pos::locate(text.as_bytes(), offset), problem };
    let f = fields(text);
    let (flags, _) = f.flags.ok_or_else(|| err(0, "no 'flags' (cpuinfo) or 'Flags' (lscpu) line".into()))?;
    let x = &map.x86;
    let mut set = FeatureSet::new();
    let mut unmapped_flags = Vec::new();
    for flag in flags.split_whitespace() {
        match linux.libvirt(flag).and_then(|name| x.feature_id(name)) {
            Some(id) => set.insert(id),
            None => unmapped_flags.push(flag.to_string()),
        }
    }
    let vendor = match f.vendor {
        Some((v, at)) => Some(
            x.vendors
                .iter()
                .position(|vendor| vendor.string == v)
                .ok_or_else(|| err(at, format!("vendor '{v}' is not a vendor of the CPU map")))?,
        ),
        None => None,
    };
    let number = |field: Option<(&str, usize)>, what: &str| -> Result<u32, ExportError> {
        match field {
            Some((v, at)) => v.parse::<u32>().map_err(|_| err(at, format!("{what} '{v}' is not a number"))),
            None => Ok(0),
        }
    };
    let family = number(f.family, "cpu family")?;
    let model = number(f.model, "model")?;
    let stepping = number(f.stepping, "stepping")?;
    let signature = if f.family.is_some() { x86::model::make_signature(family, model, stepping) } else { 0 };
    let data = X86Data { features: set, vendor, signature };
    let cpu = x86::decode_host(x, &data)?;
    Ok(CpuinfoHost { cpu, unmapped_flags })
}
