//! The streaming baseline's host scanner on arbitrary bytes: whenever it answers with a CPU, the
//! full reader gives the same CPU (same baseline input) from the same bytes, under every map.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for (map, scanner) in cpufleet_fuzz::maps().iter().zip(cpufleet_fuzz::scanners()) {
        if let Err(v) = cpufleet_reference::laws::host_scanner(map, scanner, data) {
            panic!("libvirt {}: {v}", map.version());
        }
    }
});
