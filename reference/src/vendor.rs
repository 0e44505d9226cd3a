//! Vendors: a model's vendor and the pools on which vendor rules never fail (README 4.4 steps 2
//! and 4).

use cpufleet_engine::map::X86Map;
use cpufleet_engine::CpuDef;

/// The vendor of a CPU's map model (`None`: no model, not a map model, or a vendorless model).
pub fn model_vendor<'m>(map: &'m X86Map, cpu: &CpuDef) -> Option<&'m str> {
    let m = map.model(cpu.model.as_deref()?)?;
    m.vendor.map(|v| map.vendors[v].name.as_str())
}

/// Every CPU's stated vendor is a map vendor that agrees with its model's vendor, and all
/// "effective" vendors (stated, else the model's) are one and the same. On such pools libvirt's
/// baseline fails only for an empty intersection, whatever the order.
pub fn vendor_consistent(map: &X86Map, cpus: &[CpuDef]) -> bool {
    let mut seen: Option<&str> = None;
    for c in cpus {
        let mv = model_vendor(map, c);
        if let Some(v) = c.vendor.as_deref() {
            if map.vendor(v).is_none() || mv.is_some_and(|m| m != v) {
                return false;
            }
        }
        if let Some(v) = c.vendor.as_deref().or(mv) {
            if *seen.get_or_insert(v) != v {
                return false;
            }
        }
    }
    true
}
