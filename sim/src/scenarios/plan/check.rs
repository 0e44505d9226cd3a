//! The plan scenario's checks: every host class of a domain runs the domain's baseline.

use crate::check::{host_label, offered, Acc, Invariant};
use crate::scenarios::pools::started_baseline;
use crate::scenarios::Sim;
use cpufleet_reference::view::{naive_compare, naive_cpu};

/// 4. Plan: every host class of a domain runs the domain's baseline.
pub(crate) fn check_plan(sim: &Sim, domains: &[crate::scenarios::plan::DomainCheck]) -> Acc {
    let (map, fleet) = (&sim.map.x86, &sim.fleet);
    let mut acc = Acc::new();
    for (d, (base, classes)) in domains.iter().enumerate() {
        match base {
            Err(e) => acc.check(false, Invariant::Plan, || format!("domain {}: no baseline: {e}", d + 1)),
            Ok(b) => {
                let sets = started_baseline(map, b);
                for &c in classes {
                    let h = fleet.classes.get(c);
                    let ok = sets.as_ref().is_some_and(|s| s.allows(h));
                    let naive = naive_compare(map, &offered(map, h), &naive_cpu(b));
                    acc.check(ok && naive.is_compatible(), Invariant::Plan, || {
                        format!(
                            "domain {}: {} cannot run the domain baseline {}",
                            d + 1,
                            host_label(sim, h),
                            b.model.as_deref().unwrap_or("?")
                        )
                    });
                }
            }
        }
    }

    acc
}
