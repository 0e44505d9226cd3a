//! ppc64 CPU operations, mirroring libvirt 9.0.0's `cpu_ppc64.c`: models are compared by name
//! (processor version, not feature bits), host-model carries a compatibility mode.

use crate::cpu::{CpuDef, CpuMatch, CpuMode, CpuType, Fallback};
use crate::error::CpuError;
use crate::map::Ppc64Map;
use crate::x86::{Comparison, Reason, Verdict};

/// `virCPUppc64ConvertLegacy`: `POWER7_v2.1`-style names cut to `POWER7` / `POWER8`.
pub(crate) fn convert_legacy(cpu: &mut CpuDef) {
    if let Some(m) = &mut cpu.model {
        if matches!(m.as_str(), "POWER7_v2.1" | "POWER7_v2.3" | "POWER7+_v2.1" | "POWER8_v1.0") {
            m.truncate("POWERx".len());
        }
    }
}

/// `virStrToLong_i(s, NULL, 10)`: strtol rules (leading white space, a sign), whole string.
fn strtol_whole(s: &str) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = digits.parse().ok().filter(|v: &i64| *v <= i32::MAX as i64 + 1)?;
    let v = if neg { -v } else { v };
    (i32::MIN as i64..=i32::MAX as i64).contains(&v).then_some(v)
}

/// `ppc64CheckCompatibilityMode(host_model, compat_mode)`.
pub(crate) fn check_compat_mode(host_model: &str, compat: Option<&str>) -> Result<Verdict, CpuError> {
    let Some(compat) = compat else { return Ok(Verdict::Identical) };
    let host = host_model.strip_prefix("POWER").and_then(strtol_whole).filter(|n| (6..=10).contains(n));
    let host = host.ok_or_else(|| CpuError::Unsupported("Host CPU does not support compatibility modes".into()))?;
    let mode = compat.strip_prefix("power").and_then(strtol_whole).filter(|n| (6..=10).contains(n));
    let mode = mode.ok_or_else(|| CpuError::Invalid(format!("Unknown compatibility mode {compat}")))?;
    Ok(if mode > host { Verdict::Incompatible } else { Verdict::Identical })
}

fn model_from_cpu<'m>(map: &'m Ppc64Map, cpu: &CpuDef) -> Result<&'m str, CpuError> {
    let name = cpu.model.as_deref().ok_or(CpuError::NoModel("ppc64 CPU"))?;
    map.model(name).map(|m| m.name.as_str()).ok_or_else(|| CpuError::UnknownModel(name.to_string()))
}

fn verdict(v: Verdict, reason: Reason) -> Comparison {
    Comparison { verdict: v, reason }
}

/// `virCPUppc64Compare(host, cpu, failIncompatible=false)`, `ppc64Compute`.
pub(crate) fn compare(map: &Ppc64Map, host: &CpuDef, other: &CpuDef) -> Comparison {
    if host.model.is_none() {
        return verdict(Verdict::Incompatible, Reason::UnknownHost);
    }
    let mut cpu = other.clone();
    convert_legacy(&mut cpu);
    if let Some(a) = &cpu.arch {
        if a != "ppc64" && a != "ppc64le" {
            return verdict(Verdict::Incompatible, Reason::Arch(a.clone()));
        }
    }
    if let Some(v) = &cpu.vendor {
        if host.vendor.as_deref() != Some(v.as_str()) {
            return verdict(Verdict::Incompatible, Reason::Vendor { required: v.clone(), host: host.vendor.clone() });
        }
    }
    let err = |e: CpuError| verdict(Verdict::Error, Reason::Error(e.to_string()));
    let host_model = match model_from_cpu(map, host) {
        Ok(m) => m,
        Err(e) => return err(e),
    };
    let guest_model = if cpu.cpu_type == CpuType::Guest {
        match cpu.mode {
            CpuMode::HostModel => match check_compat_mode(host_model, cpu.model.as_deref()) {
                Ok(Verdict::Identical) => host_model,
                Ok(v) => {
                    return verdict(
                        v,
                        Reason::Error(format!(
                            "host CPU {host_model} cannot run compatibility mode {}",
                            cpu.model.as_deref().unwrap_or("")
                        )),
                    )
                }
                Err(e) => return err(e),
            },
            CpuMode::HostPassthrough | CpuMode::Maximum => host_model,
            CpuMode::Custom => match model_from_cpu(map, &cpu) {
                Ok(m) => m,
                Err(e) => return err(e),
            },
        }
    } else {
        match model_from_cpu(map, &cpu) {
            Ok(m) => m,
            Err(e) => return err(e),
        }
    };
    if guest_model != host_model {
        return verdict(
            Verdict::Incompatible,
            Reason::Error(format!("host CPU model {host_model} does not match required CPU model {guest_model}")),
        );
    }
    verdict(Verdict::Identical, Reason::None)
}

/// `virCPUppc64Update`: custom mode gets `match='exact'`; nothing else changes.
pub(crate) fn update(guest: &mut CpuDef) {
    if guest.mode == CpuMode::Custom {
        guest.match_ = CpuMatch::Exact;
    }
}

/// `virCPUppc64Baseline`: only identical models; POWER results carry no vendor.
pub(crate) fn baseline(map: &Ppc64Map, cpus: &[CpuDef]) -> Result<CpuDef, CpuError> {
    let first = cpus.first().ok_or(CpuError::NoCpus)?;
    let base_name = first.model.as_deref().ok_or(CpuError::NoModelAt(0))?;
    let base = map.model(base_name).ok_or_else(|| CpuError::UnknownModel(base_name.to_string()))?;
    let mut vendor: Option<usize> = None;
    for cpu in cpus {
        if cpu.model.as_deref() != Some(base.name.as_str()) {
            return Err(CpuError::IncompatibleCpus(format!(
                "CPU model {} differs from {}",
                cpu.model.as_deref().unwrap_or("(none)"),
                base.name
            )));
        }
        let Some(v) = &cpu.vendor else { continue };
        let idx = map.vendors.iter().position(|x| x == v).ok_or_else(|| CpuError::UnknownVendor(v.clone()))?;
        if let Some(mv) = base.vendor {
            if mv != idx {
                return Err(CpuError::Invalid(format!(
                    "CPU vendor {v} of model {} differs from {}",
                    base.name, map.vendors[mv]
                )));
            }
        } else if let Some(w) = vendor {
            if w != idx {
                return Err(CpuError::VendorsMismatch { expected: map.vendors[w].clone(), found: v.clone() });
            }
        } else {
            vendor = Some(idx);
        }
    }
    let mut out = CpuDef::new(CpuType::Guest);
    out.model = Some(base.name.clone());
    out.vendor = vendor.map(|v| map.vendors[v].clone());
    out.match_ = CpuMatch::Exact;
    out.fallback = Fallback::Forbid;
    Ok(out)
}
