//! The pools scenario's checks: each pool's hosts run its baseline, which starts and migrates there.

use crate::check::{host_label, offered, Acc, Invariant};
use crate::guest::GuestSets;
use crate::scenarios::pools::started_baseline;
use crate::scenarios::Sim;
use crate::spec::{ModelRef, Template};
use cpufleet_engine::x86::Verdict;
use cpufleet_engine::{CpuMatch, CpuMode};
use cpufleet_reference::view::{naive_compare, naive_cpu};
use rayon::prelude::*;

/// 1. Pools: every host class of a pool runs the baseline (engine and reference model); the
///    baseline guest starts on and migrates to every host class of its pool; and each pool's
///    baseline starts as a guest CPU.
pub(crate) fn check_pools(sim: &Sim) -> Acc {
    let fleet = &sim.fleet;
    let baseline_tmpl = Template {
        name: "pool-baseline (check)".into(),
        weight: 1.0,
        mode: CpuMode::Custom,
        model: Some(ModelRef::PoolBaseline),
        match_: CpuMatch::Exact,
        features: Vec::new(),
        pinned_in: None,
    };
    let mut acc = (0..fleet.pools.len())
        .into_par_iter()
        .map(|pi| check_pool(sim, pi, &baseline_tmpl))
        .reduce(Acc::new, Acc::merge);
    // Also check the started baseline of each pool against the reference update.
    for pi in 0..fleet.pools.len() {
        if let Ok(base) = &sim.starter.ctxs[sim.pool_ctx[pi]].baseline {
            acc.check(started_baseline(&sim.map.x86, base).is_some(), Invariant::Pool, || {
                format!("pool {}: its baseline does not start as a guest CPU", fleet.pools[pi].name)
            });
        }
    }
    acc
}

/// Pool `pi`: its hosts run its baseline, on which `baseline_tmpl` starts and migrates.
fn check_pool(sim: &Sim, pi: usize, baseline_tmpl: &Template) -> Acc {
    let (map, fleet) = (&sim.map.x86, &sim.fleet);
    let mut a = Acc::new();
    let p = &fleet.pools[pi];
    let ctx = &sim.starter.ctxs[sim.pool_ctx[pi]];
    let Ok(base) = &ctx.baseline else {
        // Hosts of several vendors in one pool (an inventory's folder) have no common CPU in
        // libvirt: a fact of the data, reported as the pool's problem, not a cpufleet failure.
        if crate::scenarios::pools::pool_problem(sim, pi).is_some() {
            return a;
        }
        a.check(false, Invariant::Pool, || {
            format!("pool {}: no baseline: {}", p.name, ctx.baseline.as_ref().unwrap_err())
        });
        return a;
    };
    let nb = naive_cpu(base);
    let ids = fleet.classes_in(p.range(), &fleet.host_class);
    let started: Vec<Option<GuestSets>> = ids
        .iter()
        .map(|&c| {
            let h = fleet.classes.get(c);
            crate::guest::start_on(map, baseline_tmpl, Some(ctx), h, None)
                .ok()
                .and_then(|d| GuestSets::of_custom(map, &d).ok())
        })
        .collect();
    for (i, &c) in ids.iter().enumerate() {
        let h = fleet.classes.get(c);
        // `virsh hypervisor-cpu-compare` on the host, and the reference compare with the CPU
        // its QEMU/KVM offers.
        let v = h.hv.compare(sim.map, base, false).map_or(Verdict::Incompatible, |c| c.verdict);
        let naive = naive_compare(map, &offered(map, h), &nb);
        a.check(v.is_compatible() && naive.is_compatible(), Invariant::Pool, || {
            format!(
                "pool {}: {} is {} / reference {} to the pool baseline",
                p.name,
                host_label(sim, h),
                v.as_str(),
                naive.as_str()
            )
        });
        let Some(sets) = &started[i] else {
            a.check(false, Invariant::Pool, || {
                format!("pool {}: the baseline guest cannot start on {}", p.name, host_label(sim, h))
            });
            continue;
        };
        for &d in &ids {
            let dh = fleet.classes.get(d);
            a.check(sets.allows(dh), Invariant::Pool, || {
                format!(
                    "pool {}: the baseline guest started on {} cannot migrate to {}",
                    p.name,
                    host_label(sim, h),
                    host_label(sim, dh)
                )
            });
        }
    }
    a
}
