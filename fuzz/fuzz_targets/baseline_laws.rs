//! Structured input (`arbitrary`): a pool of x86 CPUs built from the real map, a permutation and
//! a split point; the baseline laws (features = intersection, every input runs the result,
//! order independence, monotonicity, associativity, idempotence) must hold.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|spec: cpufleet_fuzz::PoolSpec| {
    for map in cpufleet_fuzz::maps() {
        if let Err(v) = cpufleet_reference::laws::baseline_laws(map, &spec.to_pool(map)) {
            panic!("libvirt {}: {v}\n{spec:?}", map.version());
        }
    }
});
