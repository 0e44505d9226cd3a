//! `virCPUx86Update` on a guest CPU (pack README 4.5).

use crate::names::{all, Names};
use cpufleet_engine::map::X86Map;
use cpufleet_engine::{CpuDef, CpuMatch, CpuMode, Feature, Policy};

/// Whether the update is relative to the host: host-model, or custom with match `minimum` or an
/// `optional` feature. (Passthrough and maximum CPUs are never updated.)
fn relative(g: &CpuDef) -> bool {
    match g.mode {
        CpuMode::HostPassthrough | CpuMode::Maximum => false,
        CpuMode::HostModel => true,
        CpuMode::Custom => {
            g.match_ == CpuMatch::Minimum || g.features.iter().any(|f| f.policy == Some(Policy::Optional))
        }
    }
}

/// Each `optional` feature becomes `require` when the host provides it, else `disable`. Err: an
/// unknown optional feature.
fn resolve_optional(map: &X86Map, g: &mut CpuDef, host_all: &Names) -> Result<(), String> {
    for f in g.features.iter_mut().filter(|f| f.policy == Some(Policy::Optional)) {
        if map.feature_id(&f.name).is_none() {
            return Err(format!("unknown feature {}", f.name));
        }
        f.policy = Some(if host_all.contains(&f.name) { Policy::Require } else { Policy::Disable });
    }
    Ok(())
}

/// `x86UpdateHostModel`: the guest becomes a custom, match-exact copy of the host's model and
/// features (as `require`), its own features overriding in place or appended; a host-model
/// guest also takes the host's vendor (and vendor id, unless it states one).
fn copy_host_model(g: &mut CpuDef, host: &CpuDef) {
    let mut features: Vec<Feature> =
        host.features.iter().map(|f| Feature::new(f.name.clone(), Some(f.effective_policy()))).collect();
    for f in &g.features {
        match features.iter_mut().find(|h| h.name == f.name) {
            Some(h) => h.policy = f.policy,
            None => features.push(f.clone()),
        }
    }
    if g.mode == CpuMode::HostModel {
        g.vendor = host.vendor.clone();
        g.vendor_id = g.vendor_id.clone().or_else(|| host.vendor_id.clone());
    }
    g.model = host.model.clone();
    g.features = features;
    g.mode = CpuMode::Custom;
    g.match_ = CpuMatch::Exact;
}

/// The update of `guest` against `host` (libvirt passes the host's migratable copy at start):
/// passthrough and maximum CPUs unchanged; when relative (`relative`), optional features resolved
/// against the host's ALL set and, for host-model or match `minimum`, the host-model copy; then
/// every feature the model lists as removed is added as `disable` unless the CPU names it.
/// Err: libvirt fails (no model, unknown names).
pub fn update(map: &X86Map, guest: &CpuDef, host: &CpuDef) -> Result<CpuDef, String> {
    let mut g = guest.clone();
    if matches!(g.mode, CpuMode::HostPassthrough | CpuMode::Maximum) {
        return Ok(g);
    }
    if relative(&g) {
        resolve_optional(map, &mut g, &all(map, host)?)?;
        if g.mode == CpuMode::HostModel || g.match_ == CpuMatch::Minimum {
            copy_host_model(&mut g, host);
        }
    }
    let name = g.model.clone().ok_or("guest has no model")?;
    let m = map.model(&name).ok_or_else(|| format!("unknown model {name}"))?;
    for &id in &m.removed {
        let n = map.feature_name(id);
        if !g.features.iter().any(|f| f.name == n) {
            g.features.push(Feature::new(n, Some(Policy::Disable)));
        }
    }
    Ok(g)
}
